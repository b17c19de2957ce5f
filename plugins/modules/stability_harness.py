#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: stability_harness
short_description: Start, checkpoint and summarize the M21 stability harness (resumable)
version_added: "0.1.0"
description:
  - Replaces C(make m21-stability-harness M21_DURATION_HOURS=... M21_INTERVAL_MINUTES=...).
  - Writes under C(<proof_root>/<run_id>/) the start receipt C(start_receipt.json) (receipt.v1),
    C(checkpoints.jsonl), C(checkpoints/checkpoint-NNNN/checkpoint.json), C(summary.json) and, once
    every checkpoint slot is taken or missed, C(final_receipt.json) (receipt.v1).
  - O(step=start) creates the start receipt, or reads it back when the run id was started before
    (a resume) and refuses other schedule parameters. It returns the checkpoint indexes still to take.
  - O(step=checkpoint) waits until checkpoint O(index) is due, then records what the C(last_success)
    pointers name (the provider/profile pointer first) with that run's C(run_health), and the
    health of the workload in the Kubernetes namespace (nodes, the CronJob, Deployments, recent
    Jobs and pods). A checkpoint already recorded is never taken again. A checkpoint taken after
    its due time records how late it was (C(late_s)).
  - Slots whose window (due time plus O(missed_after)) closed while no harness was running are
    reported missed by O(step=start) and O(step=finish) (a gap in the proof, never a made-up
    checkpoint). O(step=start) returns only the slots still open, so the playbook takes those.
  - O(step=finish) derives C(summary.json) from the files and writes C(final_receipt.json) when the
    harness is complete.
  - With O(proof_bucket), the directory is mirrored to S3 and restored from it, so nothing depends
    on local files surviving between AWX jobs.
  - Each checkpoint is one short module call, so a playbook loop streams progress and AWX job
    timeouts or a killed process lose at most the checkpoint being taken.
author:
  - signalcraft maintainers (@signalcraft)
options:
  step:
    description:
      - Which part of the harness to run.
    type: str
    required: true
    choices: [start, checkpoint, finish]
  run_id:
    description:
      - The harness run; its directory under O(proof_root). Pass the same value to resume.
    type: str
    required: true
  proof_root:
    description:
      - Directory holding one sub-directory per harness run (C(state/proofs/m21)).
    type: path
    required: true
  duration:
    description:
      - How long the harness observes, e.g. V(72h), V(4320m), V(1h30m), V(90s) or a number of seconds.
    type: str
    required: true
  interval:
    description:
      - Time between checkpoints, same format as O(duration). At most O(duration).
    type: str
    required: true
  missed_after:
    description:
      - How long after its due time a checkpoint may still be taken by a (re)started harness; later,
        the slot counts as missed. Same format as O(duration). Defaults to O(interval).
    type: str
  index:
    description:
      - The checkpoint to take (0 is taken at the start). Required with O(step=checkpoint).
    type: int
  wait:
    description:
      - With O(step=checkpoint), sleep until the checkpoint is due. Without it, a checkpoint that is
        not due yet is reported C(upcoming) and nothing is written.
    type: bool
    default: true
  candidate_id:
    description:
      - The candidate whose runs the pipeline produces; a pointer naming another candidate's run is a C(candidate_mismatch).
    type: str
  provider:
    description:
      - Provider of the C(state/<provider>/<profile>/last_success.json) pointer. Needs O(jobintel_profile).
    type: str
  jobintel_profile:
    description:
      - Profile (C(cs)) of the provider/profile pointer. Needs O(provider). (O(profile) is the AWS profile.)
    type: str
  bucket:
    description:
      - The artifact bucket holding the pointers and runs.
    type: str
    required: true
  prefix:
    description:
      - The jobintel key prefix in O(bucket).
    type: str
    default: ""
  proof_bucket:
    description:
      - Also keep a copy of the run's directory in this bucket, under
        C(<proof_prefix>/<run_id>/). O(step=start) restores what the local directory lacks from
        it, so a harness resumes in a fresh container (AWX); checkpoint files are uploaded
        create-only, O(step=finish) uploads whatever the copy lacks.
    type: str
  proof_prefix:
    description:
      - Key prefix of the copy in O(proof_bucket).
    type: str
    default: proofs/m21
  max_pointer_age_hours:
    description:
      - A primary pointer older than this marks a checkpoint C(degraded) (C(pointer_stale)). V(0) does not check age.
    type: float
    default: 0
  namespace:
    description:
      - The workload namespace.
    type: str
    default: jobintel
  cronjob:
    description:
      - The CronJob that runs the daily job.
    type: str
    default: jobintel-daily
  recent_jobs:
    description:
      - How many of the newest Jobs each checkpoint records.
    type: int
    default: 5
extends_documentation_fragment:
  - signalcraft.ops.k8s
  - signalcraft.ops.aws
attributes:
  check_mode:
    support: full
    description: Observes and returns what would be recorded; writes nothing and never sleeps.
  diff_mode:
    support: full
    description: Shows the proof file that is created or replaced.
seealso:
  - module: signalcraft.ops.runs_info
  - module: signalcraft.ops.receipt
"""

EXAMPLES = r"""
- name: Start (or resume) a 72 hour harness
  signalcraft.ops.stability_harness:
    step: start
    run_id: m21-20260301
    proof_root: /var/lib/signalcraft/proofs/m21
    duration: 72h
    interval: 60m
    candidate_id: local
    provider: openai
    jobintel_profile: cs
    bucket: jobintel-prod1
    prefix: jobintel
    context: onprem
  register: harness

- name: Take each pending checkpoint when it is due
  signalcraft.ops.stability_harness:
    step: checkpoint
    index: "{{ item }}"
    run_id: m21-20260301
    proof_root: /var/lib/signalcraft/proofs/m21
    duration: 72h
    interval: 60m
    bucket: jobintel-prod1
    prefix: jobintel
    context: onprem
  loop: "{{ harness.pending }}"
"""

RETURN = r"""
run_id:
  description: The harness run id.
  returned: always
  type: str
proof_dir:
  description: The harness run's directory.
  returned: always
  type: str
schedule:
  description: C(started_at), C(ends_at), C(duration_s), C(interval_s), C(missed_after_s), C(checkpoints_planned).
  returned: always
  type: dict
created:
  description: O(step=start) only. Whether this call created the start receipt (false on a resume).
  returned: when step=start
  type: bool
pending:
  description: O(step=start) only. Checkpoint indexes still to take, in order.
  returned: when step=start
  type: list
  elements: int
taken:
  description: O(step=start) only. Checkpoint indexes already recorded.
  returned: when step=start
  type: list
  elements: int
missed:
  description: O(step=start) only. Checkpoint indexes whose window closed unrecorded.
  returned: when step=start
  type: list
  elements: int
state:
  description: O(step=checkpoint) only. V(taken) (recorded now), V(already_taken) or V(upcoming) (with O(wait=false)).
  returned: when step=checkpoint
  type: str
checkpoint:
  description:
    - O(step=checkpoint) only. The m21_checkpoint.v1 document (C(index), C(name), C(scheduled_at),
      C(taken_at), C(late_s), C(status) ok/degraded/fail, C(problems), C(pipeline), C(cluster)).
  returned: when a checkpoint was taken or already recorded
  type: dict
summary:
  description: O(step=finish) only. The m21_summary.v1 document written to C(summary.json).
  returned: when step=finish
  type: dict
verdict:
  description: O(step=finish) only. V(pass), V(degraded), V(fail), V(incomplete) (slots missed) or V(in_progress).
  returned: when step=finish
  type: str
restored:
  description: O(step=start) only. Files restored from the O(proof_bucket) copy into the local directory.
  returned: when step=start
  type: list
  elements: str
mirrored:
  description: Files uploaded to the O(proof_bucket) copy by this call.
  returned: when proof_bucket is set
  type: list
  elements: str
line:
  description: A one-line status for the log.
  returned: always
  type: str
  sample: m21 status=pass run_id=m21-20260301 checkpoints=73/73 missed=0 ok=73 degraded=0 fail=0
receipt:
  description: The start receipt (O(step=start)), or the final receipt (O(step=finish)) or a progress receipt while checkpoints are pending.
  returned: when step is start or finish
  type: dict
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import harness
from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError


def cluster_client(params):
    try:
        return k8s.api_client(params["kubeconfig"], params["context"])
    except (ValueError, OSError, k8s.k8s_config.ConfigException) as exc:  # bad kubeconfig or unknown context
        raise harness.HarnessError("kube_context_invalid", "cannot load context %r from kubeconfig %s (%s); set kube_context to a "
                                                           "context in that kubeconfig." % (params["context"], params["kubeconfig"] or "(default)", exc))


def mirror_for(values, proof):
    if not values["proof_bucket"]:
        return None
    return harness.ProofMirror(aws.AwsClientFactory.from_params(values).client("s3"), values["proof_bucket"],
                               values["proof_prefix"], proof.run_id)


def run_start(module, values, proof):
    cluster_client(values)  # a wrong context fails before the start receipt exists
    mirror = mirror_for(values, proof)
    restored, mirrored = [], []
    if mirror and not module.check_mode and not os.path.exists(proof.file(harness.START_FILE)):
        restored = mirror.restore(proof)  # a resume in a fresh container
    now = receipts.utc_now()
    receipt, created = harness.start(proof, values, now, check_mode=module.check_mode)
    if mirror and created and not module.check_mode and mirror.upload(proof, harness.START_FILE, create_only=True):
        mirrored.append(harness.START_FILE)
    sched = receipt["outputs"]["schedule"]
    states = harness.slots(sched, now, proof.recorded())
    result = dict(changed=created, created=created, receipt=receipt, schedule=sched, pending=states["pending"],
                  taken=states["taken"], missed=states["missed"], restored=restored)
    if mirror:
        result["mirrored"] = mirrored
    result["line"] = "m21 %s run_id=%s checkpoints=%d every %ss until %s taken=%d missed=%d pending=%d" % (
        "started" if created else "resumed", proof.run_id, sched["checkpoints_planned"], sched["interval_s"], sched["ends_at"],
        len(states["taken"]), len(states["missed"]), len(states["pending"]))
    if restored:
        result["line"] += " restored=%d from %s" % (len(restored), mirror.uri())
    if created and module._diff:
        result["diff"] = {"before": "", "after": receipts.serialize(receipt).decode(), "after_header": proof.file(harness.START_FILE)}
    return result


def start_receipt(module, values, proof):
    receipt = proof.read_json(harness.START_FILE)
    if receipt is None:
        if not module.check_mode:
            raise harness.HarnessError("harness_not_started", "run %s has no %s under %s; run step=start first." % (
                proof.run_id, harness.START_FILE, proof.path))
        receipt, _created = harness.start(proof, values, receipts.utc_now(), check_mode=True)
    return receipt


def run_checkpoint(module, values, proof):
    receipt = start_receipt(module, values, proof)
    sched = receipt["outputs"]["schedule"]
    index = values["index"]
    if index is None or not 0 <= index < sched["checkpoints_planned"]:
        raise harness.HarnessError("invalid_index", "index %s is outside 0..%d for run %s." % (index, sched["checkpoints_planned"] - 1, proof.run_id))
    now = receipts.utc_now()
    recorded = proof.recorded()
    state = harness.slot_state(sched, index, now, recorded)
    result = dict(changed=False, schedule=sched, state=state)
    if state == "taken":
        result.update(state="already_taken", checkpoint=recorded[index], line="%s already recorded" % harness.checkpoint_name(index))
        return result
    if state == "upcoming" and not module.check_mode:
        if not values["wait"]:
            result["line"] = "%s not due until %s" % (harness.checkpoint_name(index), receipts.format_timestamp(harness.due_at(sched, index)))
            return result
        time.sleep(max(0.0, (harness.due_at(sched, index) - receipts.utc_now()).total_seconds()))
    taken_at = receipts.utc_now()
    s3 = aws.AwsClientFactory.from_params(values).client("s3")
    pipeline = harness.observe_pipeline(s3, values["bucket"], values["prefix"], values["candidate_id"], values["provider"],
                                        values["jobintel_profile"], taken_at, values["max_pointer_age_hours"])
    cluster = harness.observe_cluster(cluster_client(values), values["namespace"], values["cronjob"], values["recent_jobs"])
    document = harness.build_checkpoint(proof.run_id, sched, index, taken_at, pipeline, cluster)
    written = True if module.check_mode else proof.add_checkpoint(document)
    mirror = mirror_for(values, proof)
    if mirror and written and not module.check_mode:
        relative = os.path.relpath(proof.checkpoint_path(index), proof.path)
        mirror.upload(proof, relative, create_only=True)
        mirror.upload(proof, harness.JSONL_FILE)
        result["mirrored"] = [relative, harness.JSONL_FILE]
    result.update(changed=written, state="taken" if written else "already_taken", checkpoint=document,
                  line=harness.checkpoint_line(document))
    if written and module._diff:
        result["diff"] = {"before": "", "after": harness.serialize(document).decode(), "after_header": proof.checkpoint_path(index)}
    return result


def run_finish(module, values, proof):
    start = start_receipt(module, values, proof)
    summary = harness.summarize(proof, start, receipts.utc_now())
    changed, diffs = False, []
    files = [(harness.SUMMARY_FILE, harness.serialize(summary))]
    final = harness.final_receipt(start, summary) if summary["complete"] else None
    if final is not None:
        files.append((harness.FINAL_FILE, receipts.serialize(final)))
    for name, data in files:
        before = proof.read_json(name)
        if before is not None and harness.serialize(before) == data:
            continue
        changed = True
        diffs.append({"before": harness.serialize(before).decode() if before is not None else "", "after": data.decode(),
                      "before_header": proof.file(name), "after_header": proof.file(name)})
        if not module.check_mode:
            proof.write_if_changed(name, data)
    receipt = final or receipts.build(harness.OPERATION, "progress", "success", proof.run_id, summary["started_at"],
                                      inputs=start["inputs"], outputs={"verdict": summary["verdict"],
                                                                       "checkpoints_taken": summary["checkpoints_taken"],
                                                                       "checkpoints_pending": summary["checkpoints_pending"]},
                                      module="signalcraft.ops.stability_harness", message=harness.summary_line(summary))
    result = dict(changed=changed, summary=summary, verdict=summary["verdict"], schedule=start["outputs"]["schedule"],
                  receipt=receipt, line=harness.summary_line(summary))
    mirror = mirror_for(values, proof)
    if mirror and not module.check_mode:
        result["mirrored"] = mirror.sync(proof)
        result["changed"] = changed or bool(result["mirrored"])
    if diffs and module._diff:
        result["diff"] = diffs
    return result


def main():
    argument_spec = aws.aws_argument_spec()
    argument_spec.update(k8s.k8s_argument_spec())
    argument_spec.update(
        step=dict(type="str", required=True, choices=["start", "checkpoint", "finish"]),
        run_id=dict(type="str", required=True),
        proof_root=dict(type="path", required=True),
        duration=dict(type="str", required=True),
        interval=dict(type="str", required=True),
        missed_after=dict(type="str"),
        index=dict(type="int"),
        wait=dict(type="bool", default=True),
        candidate_id=dict(type="str"),
        provider=dict(type="str"),
        jobintel_profile=dict(type="str"),
        bucket=dict(type="str", required=True),
        prefix=dict(type="str", default=""),
        proof_bucket=dict(type="str"),
        proof_prefix=dict(type="str", default="proofs/m21"),
        max_pointer_age_hours=dict(type="float", default=0),
        namespace=dict(type="str", default="jobintel"),
        cronjob=dict(type="str", default="jobintel-daily"),
        recent_jobs=dict(type="int", default=5),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[("step", "checkpoint", ["index"])], required_together=[("provider", "jobintel_profile")])
    if not aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(aws.BOTO3_IMPORT_ERROR))
    if not k8s.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(k8s.KUBERNETES_IMPORT_ERROR))
    module.no_log_values.update(k8s.kubeconfig_secret_values(module.params["kubeconfig"]))
    steps = {"start": run_start, "checkpoint": run_checkpoint, "finish": run_finish}
    try:
        values = harness.validate_params(module.params)
        proof = harness.ProofDir(values["proof_root"], values["run_id"])
        result = steps[values["step"]](module, values, proof)
    except (harness.HarnessError, GuardError) as exc:
        module.fail_json(msg="m21 status=fail reason=%s: %s" % (exc.reason, exc.message), reason=exc.reason)
    # pylint: disable-next=catching-non-exception  # a tuple of exception classes pylint cannot infer
    except aws.AWS_ERRORS as exc:
        module.fail_json(msg="m21 status=fail reason=aws_error: %s" % aws.describe_error(exc, "stability harness"), reason="aws_error")
    result.update(run_id=proof.run_id, proof_dir=proof.path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
