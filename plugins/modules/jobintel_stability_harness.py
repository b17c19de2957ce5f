#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: jobintel_stability_harness
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Start, checkpoint and summarize the M21 stability harness (resumable)
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
  - Each step returns its status line and a receipt (operation C(stability_harness), phase C(start),
    C(checkpoint-NNNN) or C(final)); give the harness run id as O(execution_id) to file them with the proof's run.
    The finish step fails with C(reason=stability_fail) when a checkpoint failed.
  - Each checkpoint is one short module call, so a playbook loop streams progress and AWX job
    timeouts or a killed process lose at most the checkpoint being taken.
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
      - Time between checkpoints, same format as O(duration) except that a bare number is minutes. At most
        O(duration); under a minute only with O(allow_short_interval).
    type: str
    required: true
  allow_short_interval:
    description:
      - Allow an O(interval) under one minute (smoke runs); refused with C(interval_too_short) otherwise.
    type: bool
    default: false
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
attributes:
  check_mode:
    support: full
    description: Observes and returns what would be recorded; writes nothing and never sleeps.
  diff_mode:
    support: full
    description: Shows the proof file that is created or replaced.
seealso:
  - module: signalcraft.ops.jobintel_runs
  - module: signalcraft.ops.receipt
extends_documentation_fragment: [signalcraft.ops.k8s, signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.s3_location]
"""

EXAMPLES = r"""
- name: Start (or resume) a 72 hour harness
  signalcraft.ops.jobintel_stability_harness:
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
  signalcraft.ops.jobintel_stability_harness:
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
status:
  description:
    - O(step=start) and O(step=checkpoint) return C(ok). O(step=finish) returns the verdict, C(pass), C(degraded),
      C(incomplete) or C(in_progress), and fails with C(status=fail reason=stability_fail) when a checkpoint failed.
  returned: always
  type: str
outputs:
  description: What the step found and wrote.
  returned: always
  type: dict
  contains:
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
    start_receipt:
      description: O(step=start) only. The start receipt (C(start_receipt.json)).
      returned: when step=start
      type: dict
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
    restored:
      description: O(step=start) only. Files restored from the O(proof_bucket) copy into the local directory.
      returned: when step=start
      type: list
      elements: str
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
    final_receipt:
      description: O(step=finish) only. The final receipt (C(final_receipt.json)) once the harness is complete.
      returned: when step=finish and the harness is complete
      type: dict
    mirrored:
      description: Files uploaded to the O(proof_bucket) copy by this call.
      returned: when proof_bucket is set
      type: list
      elements: str
diff:
  description: The proof file created or replaced.
  returned: when a proof file is written
  type: raw
"""

import os
import time

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import harness
from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection
from ansible_collections.signalcraft.ops.plugins.module_utils.services.k8s import K8sConnection
from ansible_collections.signalcraft.ops.plugins.module_utils.services.s3 import location_argument_spec

ARGUMENT_SPEC = dict(
    **location_argument_spec(),
    step=dict(type="str", required=True, choices=["start", "checkpoint", "finish"]),
    run_id=dict(type="str", required=True),
    proof_root=dict(type="path", required=True),
    duration=dict(type="str", required=True),
    interval=dict(type="str", required=True),
    allow_short_interval=dict(type="bool", default=False),
    missed_after=dict(type="str"),
    index=dict(type="int"),
    wait=dict(type="bool", default=True),
    candidate_id=dict(type="str"),
    provider=dict(type="str"),
    jobintel_profile=dict(type="str"),
    proof_bucket=dict(type="str"),
    proof_prefix=dict(type="str", default="proofs/m21"),
    max_pointer_age_hours=dict(type="float", default=0),
    namespace=dict(type="str", default="jobintel"),
    cronjob=dict(type="str", default="jobintel-daily"),
    recent_jobs=dict(type="int", default=5),
)


def cluster_client(params):
    try:
        return k8s.api_client(params["kubeconfig"], params["context"])
    except (ValueError, OSError, k8s.k8s_config.ConfigException) as exc:  # bad kubeconfig or unknown context
        raise harness.HarnessError("kube_context_invalid", "cannot load context %r from kubeconfig %s (%s); set -e kube_context "
                                                           "(m21_kube_context) to a context in that kubeconfig." % (
                                                               params["context"], params["kubeconfig"] or "(default)", exc))


def mirror_for(ops, values, proof):
    if not values["proof_bucket"]:
        return None
    return harness.ProofMirror(ops.client("s3"), values["proof_bucket"], values["proof_prefix"], proof.run_id)


def run_start(ops, values, proof):
    cluster_client(values)  # a wrong context fails before the start receipt exists
    mirror = mirror_for(ops, values, proof)
    restored, mirrored = [], []
    if mirror and not ops.check_mode and not os.path.exists(proof.file(harness.START_FILE)):
        restored = mirror.restore(proof)  # a resume in a fresh container
    now = receipts.utc_now()
    receipt, created = harness.start(proof, values, now, check_mode=ops.check_mode)
    if mirror and created and not ops.check_mode and mirror.upload(proof, harness.START_FILE, create_only=True):
        mirrored.append(harness.START_FILE)
    sched = receipt["outputs"]["schedule"]
    states = harness.slots(sched, now, proof.recorded())
    outputs = dict(created=created, start_receipt=receipt, schedule=sched, pending=states["pending"], taken=states["taken"],
                   missed=states["missed"], restored=restored)
    if mirror:
        outputs["mirrored"] = mirrored
    line = [("step", "start"), ("run_id", proof.run_id), ("start", "new" if created else "resumed"),
            ("checkpoints", sched["checkpoints_planned"]), ("interval_s", sched["interval_s"]), ("ends_at", sched["ends_at"]),
            ("taken", len(states["taken"])), ("missed", len(states["missed"])), ("pending", len(states["pending"]))]
    if restored:
        line += [("restored", len(restored)), ("from", mirror.uri())]
    outcome = dict(changed=created, outputs=outputs, line=line, phase="start")
    if created:
        outcome["diff"] = {"before": "", "after": receipts.serialize(receipt).decode(), "after_header": proof.file(harness.START_FILE)}
    return outcome


def start_receipt(ops, values, proof):
    receipt = proof.read_json(harness.START_FILE)
    if receipt is None:
        if not ops.check_mode:
            raise harness.HarnessError("harness_not_started", "run %s has no %s under %s; run step=start first." % (
                proof.run_id, harness.START_FILE, proof.path))
        receipt, _created = harness.start(proof, values, receipts.utc_now(), check_mode=True)
    return receipt


def run_checkpoint(ops, values, proof):
    receipt = start_receipt(ops, values, proof)
    sched = receipt["outputs"]["schedule"]
    index = values["index"]
    if index is None or not 0 <= index < sched["checkpoints_planned"]:
        raise harness.HarnessError("invalid_index", "index %s is outside 0..%d for run %s." % (index, sched["checkpoints_planned"] - 1, proof.run_id))
    name = harness.checkpoint_name(index)
    now = receipts.utc_now()
    recorded = proof.recorded()
    state = harness.slot_state(sched, index, now, recorded)
    outputs = dict(schedule=sched, state=state)
    line = [("step", "checkpoint"), ("run_id", proof.run_id), ("checkpoint", name)]
    if state == "taken":
        outputs.update(state="already_taken", checkpoint=recorded[index])
        return dict(changed=False, outputs=outputs, line=line + [("state", "already_taken")], phase=name)
    if state == "upcoming" and not ops.check_mode:
        if not values["wait"]:
            return dict(changed=False, outputs=outputs, phase=name, line=line + [
                ("state", "upcoming"), ("due_at", receipts.format_timestamp(harness.due_at(sched, index)))])
        time.sleep(max(0.0, (harness.due_at(sched, index) - receipts.utc_now()).total_seconds()))
    taken_at = receipts.utc_now()
    pipeline = harness.observe_pipeline(ops.client("s3"), values["bucket"], values["prefix"], values["candidate_id"], values["provider"],
                                        values["jobintel_profile"], taken_at, values["max_pointer_age_hours"])
    cluster = harness.observe_cluster(cluster_client(values), values["namespace"], values["cronjob"], values["recent_jobs"])
    document = harness.build_checkpoint(proof.run_id, sched, index, taken_at, pipeline, cluster)
    written = True if ops.check_mode else proof.add_checkpoint(document)
    mirror = mirror_for(ops, values, proof)
    if mirror and written and not ops.check_mode:
        relative = os.path.relpath(proof.checkpoint_path(index), proof.path)
        mirror.upload(proof, relative, create_only=True)
        mirror.upload(proof, harness.JSONL_FILE)
        outputs["mirrored"] = [relative, harness.JSONL_FILE]
    run = document["pipeline"].get("run") or {}
    outputs.update(state="taken" if written else "already_taken", checkpoint=document)
    line += [("state", outputs["state"]), ("observed", document["status"]), ("problems", ",".join(document["problems"]) or "none"),
             ("run", run.get("run_id") or "none"), ("run_status", run.get("status") or "none"), ("late_s", document["late_s"])]
    outcome = dict(changed=written, outputs=outputs, line=line, phase=name)
    if written:
        outcome["diff"] = {"before": "", "after": harness.serialize(document).decode(), "after_header": proof.checkpoint_path(index)}
    return outcome


def _summary_fields(summary):
    counts = summary["status_counts"]
    return [("run_id", summary["run_id"]), ("checkpoints", "%d/%d" % (summary["checkpoints_taken"], summary["checkpoints_planned"])),
            ("missed", len(summary["checkpoints_missed"])), ("ok", counts[harness.OK]), ("degraded", counts[harness.DEGRADED]),
            ("fail", counts[harness.FAIL])]


def run_finish(ops, values, proof):
    start = start_receipt(ops, values, proof)
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
        if not ops.check_mode:
            proof.write_if_changed(name, data)
    outputs = dict(summary=summary, verdict=summary["verdict"], schedule=start["outputs"]["schedule"])
    if final is not None:
        outputs["final_receipt"] = final
    mirror = mirror_for(ops, values, proof)
    if mirror and not ops.check_mode:
        outputs["mirrored"] = mirror.sync(proof)
        changed = changed or bool(outputs["mirrored"])
    outcome = dict(changed=changed, outputs=outputs, line=_summary_fields(summary), phase="final",
                   status=summary["verdict"], message=harness.summary_line(summary))
    if summary["verdict"] == "fail":
        outcome["reason"] = "stability_fail"
        outcome["message"] = "%s; a checkpoint failed, see %s" % (harness.summary_line(summary), proof.file(harness.SUMMARY_FILE))
    if diffs:
        outcome["diff"] = diffs
    return outcome


def run(ops):
    ops.connection("k8s")  # the kubeconfig's credentials join the values never logged
    step = ops.params["step"]
    # The receipt's phase, for a failure too: start, checkpoint-NNNN, final.
    ops.phase = "final" if step == "finish" else harness.checkpoint_name(ops.params["index"] or 0) if step == "checkpoint" else "start"
    values = harness.validate_params(ops.params)
    proof = harness.ProofDir(values["proof_root"], values["run_id"])
    outcome = {"start": run_start, "checkpoint": run_checkpoint, "finish": run_finish}[step](ops, values, proof)
    outcome["outputs"].update(run_id=proof.run_id, proof_dir=proof.path)
    return outcome


def main():
    OpsModule(ARGUMENT_SPEC, operation="stability_harness", phase="harness", status_key="m21",
              connections=[AwsConnection, K8sConnection],
              required_if=[("step", "checkpoint", ["index"])], required_together=[("provider", "jobintel_profile")]).run(run)


if __name__ == "__main__":
    main()
