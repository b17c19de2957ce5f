#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pipeline_rerun
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Rerun a partition's failed or interrupted pipeline run by the runbook's safe-retry rules
description:
  - The runbook's safe-retry rules for one partition's run (O(run_id), default its newest run), decided from
    its manifests' failure categories.
  - Category A (network, missing input, timeout) or an interrupted run (C(running) manifests, missing steps) -
    retried in place under the same C(run_id); the steps that already succeeded in it are kept, the others run
    again and overwrite only their own C(run=<run_id>/) outputs.
  - Category B (stale snapshot, unknown) - a new C(run_id); the failed run stays intact for forensics.
  - Category C (contract, permission, port conflict) - refused with the failure's reason and action
    (C(rerun_refused)) until the cause is fixed and O(confirm_fixed=true) says so; then a new C(run_id).
  - Nothing is ever deleted, and a rerun never needs a cleanup first.
  - A run whose steps all succeeded is left alone (C(changed=false)), except that current pointers it should have
    moved and did not (the run was killed between its last step and its last pointer move) are moved then
    (C(action=none current=moved)). A partition without manifests is refused (C(manifests_missing)); run a backfill for it.
  - Fails with C(step_failed) when the rerun fails again (its manifests say why), or with C(prefect_unreachable) when
    Prefect stopped answering while a step's flow run was followed (the next rerun follows that flow run; it is never
    started twice).
  - Check mode says what would happen and runs nothing.
options:
  partition:
    description:
      - The partition (date C(YYYY-MM-DD)) whose run to rerun.
    type: str
    required: true
  run_id:
    description:
      - The run to rerun. Default the partition's newest run.
    type: str
  confirm_fixed:
    description:
      - Rerun a category C failure (contract, permission, port conflict) after its cause was fixed, under a new C(run_id).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Says whether the run would be retried in place, rerun under a new run_id or refused; runs nothing.
  diff_mode:
    support: none
    description: A rerun is not a configuration change.
seealso:
  - module: signalcraft.ops.pipeline_status
  - module: signalcraft.ops.pipeline_backfill
extends_documentation_fragment: [signalcraft.ops.pipeline, signalcraft.ops.pipeline.retry, signalcraft.ops.aws, signalcraft.ops.receipt]
"""

EXAMPLES = r"""
- name: Rerun the newest run of a partition by its failure category
  signalcraft.ops.pipeline_rerun:
    manifest_root: /srv/pipeline/manifests
    data_root: /srv/pipeline/data
    steps: "{{ pipeline_steps }}"
    partition: "2026-01-03"

- name: After fixing a schema contract, rerun it under a new run_id
  signalcraft.ops.pipeline_rerun:
    manifest_root: /srv/pipeline/manifests
    data_root: /srv/pipeline/data
    steps: "{{ pipeline_steps }}"
    partition: "2026-01-03"
    confirm_fixed: true
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail) (C(rerun_refused), C(step_failed), C(prefect_unreachable), C(manifests_missing)).
  returned: always
  type: str
outputs:
  description: What was rerun and how it ended.
  returned: always
  type: dict
  contains:
    partition:
      description: The partition.
      returned: always
      type: str
    action:
      description: C(none) (already succeeded), C(retry_in_place), C(new_run) or C(refuse).
      returned: always
      type: str
    category:
      description: The retry category of the run's failures (A, B, C; A for an interrupted run).
      returned: when the run failed or was interrupted
      type: str
    previous_run_id:
      description: The run that was rerun.
      returned: always
      type: str
    run_id:
      description: The run id the rerun ran under (the same for C(retry_in_place)).
      returned: when something ran or would run
      type: str
    failures:
      description: The previous run's failed steps (C(asset), C(class), C(category), C(attempts), C(message), C(action)).
      returned: always
      type: list
      elements: dict
    current:
      description: For a run that had succeeded - the current pointers moved now (C(moved), C(held), C(unchanged), C(errors)).
      returned: when a succeeded run's current pointers were moved
      type: dict
    outcome:
      description: The rerun's partition outcome (C(status), C(failed_step), C(failure_class), C(reused_steps), C(current), ...).
      returned: when something ran
      type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import config, engine, manifest, plan
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    config.argument_spec(),
    partition=dict(type="str", required=True),
    run_id=dict(type="str"),
    confirm_fixed=dict(type="bool", default=False),
    **config.retry_argument_spec()
)


def run(ops):
    params = ops.params
    partition = plan.parse_date(params["partition"], "partition").isoformat()
    if params.get("run_id"):
        manifest.require_name(params["run_id"], manifest.RUN_ID_PATTERN, "run_id", "run_id")
    steps = config.validate(params)
    pipeline = config.open_pipeline(ops, steps, retry_delay_s=params["retry_delay_s"])
    decided = pipeline.rerun_plan(partition, params.get("run_id"))
    outputs = {"partition": partition, "action": decided["action"], "category": decided["category"], "previous_run_id": decided["run_id"],
               "failures": decided["failures"]}
    line = [("partition", partition), ("previous_run_id", decided["run_id"])]
    if decided["action"] == "absent":
        raise OpsError("manifests_missing", "partition %s has no run%s under %s; run pipeline_backfill.yml -e start=%s -e end=%s first." % (
            partition, " %s" % params["run_id"] if params.get("run_id") else "", params["manifest_root"], partition, partition),
            details=dict(outputs, line=line))
    if decided["action"] == "none":
        # A run that succeeded but was killed before all its current pointers moved gets them moved now.
        settled = pipeline.settle_current(partition, decided["run_id"]) if not ops.check_mode else None
        if settled and settled["moved"]:
            outputs["current"] = settled
            return dict(changed=True, outputs=outputs, line=line + [("action", "none"), ("current", "moved")])
        return dict(changed=False, outputs=outputs, line=line + [("action", "none")])
    if decided["action"] == "refuse" and not params["confirm_fixed"]:
        first = [f for f in decided["failures"] if f["category"] == "C"][0]
        raise OpsError("rerun_refused", "run %s of %s failed at step %s with a category C failure (%s: %s), which is never retried "
                                        "blindly: %s Then rerun with -e confirm_fixed=true (a new run_id; the failed run stays)." % (
                                            decided["run_id"], partition, first["asset"], first["class"], first["message"], first["action"]),
                       details=dict(outputs, line=line + [("category", "C"), ("failure_class", first["class"])]))
    in_place = decided["action"] == "retry_in_place"
    run_id = decided["run_id"] if in_place else engine.new_run_id()
    outputs.update(action="retry_in_place" if in_place else "new_run", run_id=run_id)
    line += [("action", outputs["action"]), ("category", decided["category"]), ("run_id", run_id)]
    if ops.check_mode:
        if not in_place:
            outputs["run_id"] = None
            line[-1] = ("run_id", "new")
        return dict(changed=True, status="planned", outputs=outputs, line=line)
    outcome = pipeline.run_partition(partition, run_id, decided["run_as_of_ts"], keep=decided["keep"] if in_place else ())
    outputs["outcome"] = outcome
    if outcome["status"] != "success" and outcome.get("failure_reason") == "prefect_unreachable":
        raise OpsError("prefect_unreachable", "Prefect stopped answering while the rerun of %s (run %s) followed step %s's flow run; the "
                                              "flow run goes on in Prefect and was not started twice. Once Prefect answers, rerun: the "
                                              "step follows that flow run (found by its idempotency key)." % (
                                                  partition, run_id, outcome["failed_step"]),
                       details=dict(outputs, line=line + [("failed_step", outcome["failed_step"])]), changed_so_far=True)
    if outcome["status"] != "success":
        raise OpsError("step_failed", "the rerun of %s (run %s) failed again at step %s (%s, category %s) after %s attempt(s); read its "
                                      "manifest; nothing needs cleaning up before the next rerun." % (
                                          partition, run_id, outcome["failed_step"], outcome["failure_class"], outcome["category"],
                                          outcome["attempts"]),
                       details=dict(outputs, line=line + [("failed_step", outcome["failed_step"])]), changed_so_far=True)
    return dict(changed=True, outputs=outputs, line=line + [("reused", ",".join(outcome["reused_steps"]) or "none")])


def main():
    OpsModule(ARGUMENT_SPEC, operation="pipeline", phase="rerun", status_key="pipeline_rerun", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
