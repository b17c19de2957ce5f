#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pipeline_status
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: The pipeline's daily check from run manifests - every configured step of a partition, the failing step and its attempts
description:
  - The runbook's 2-minute checklist, read from run manifests (no orchestrator needed) - for O(partition)
    (default today, UTC), the newest manifest of every configured step; the partition is C(ok) when each
    one shows C(success).
  - Fails with C(step_failed) naming the failing step, its attempts, failure class, retry category and
    the operator's action; with C(manifests_missing) naming the steps that wrote no manifest for the
    partition (the run did not reach them, or did not run at all). A step still C(running) gives
    C(status=warn reason=run_in_progress).
  - When Prefect is configured (O(prefect_api_url)) and steps run on it, the check also reads the partition's
    flow runs from Prefect's REST API - for each C(prefect) step the newest flow run of its deployment tagged
    C(<partition_key>=<partition>) (or with that C(partition) parameter) - and reports the flow run state
    (C(flow_run_state=COMPLETED), C(FAILED), C(RUNNING), C(NONE)), the failing task and its retry count
    (C(failing_task=<task> task_retries=<n>)). A failed flow run fails the check with C(step_failed) even
    when the manifests do not show it; a run still going gives C(run_in_progress); an unreachable server
    C(prefect_unreachable).
  - Every status line ends with C(current=<state>) - whether the current pointers
    (C(<manifest_root>/_current/<asset>.json), moved only when every step of a run succeeded) moved to the
    partition's run - C(moved) (every step's pointer names it), C(superseded) (the run succeeded and the pointers
    have since moved on to a later partition) or C(not_moved).
  - Reads only; check mode behaves the same.
options:
  partition:
    description:
      - The partition (date C(YYYY-MM-DD)) to check. Default today (UTC).
    type: str
seealso:
  - module: signalcraft.ops.pipeline_backfill
extends_documentation_fragment: [signalcraft.ops.pipeline, signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.read_only]
"""

EXAMPLES = r"""
- name: Check today's partition
  signalcraft.ops.pipeline_status:
    manifest_root: /srv/pipeline/manifests
    steps: "{{ pipeline_steps }}"
  register: daily

- name: Check a given day in S3 manifests
  signalcraft.ops.pipeline_status:
    manifest_root: s3://pipeline-bucket/manifests
    steps: "{{ pipeline_steps }}"
    partition: "2026-01-05"
"""

RETURN = r"""
status:
  description: C(ok), C(warn) (a step is still running) or C(fail) (C(step_failed), C(manifests_missing)).
  returned: always
  type: str
outputs:
  description: The partition's steps as their newest manifests show them.
  returned: always
  type: dict
  contains:
    partition:
      description: The partition checked.
      returned: always
      type: str
      sample: "2026-01-05"
    steps:
      description: One entry per configured step - C(asset), C(status) (C(success), C(failed), C(skipped), C(running),
        C(missing)), C(run_id), C(attempts), C(runs) (how many runs it has), C(manifest), and for a failure
        C(failure_class), C(category), C(message), C(action).
      returned: always
      type: list
      elements: dict
    missing:
      description: Steps with no manifest for the partition.
      returned: always
      type: list
      elements: str
    failing:
      description: The failed (or skipped) steps' entries.
      returned: always
      type: list
      elements: dict
    run_ids:
      description: The run ids the newest manifests belong to (one when the partition ran once).
      returned: always
      type: list
      elements: str
    current:
      description: Whether the current pointers moved to the partition's run - C(state) (C(moved), C(superseded),
        C(not_moved)) and C(assets) (per asset its C(state) and the C(partition) and C(run_id) its pointer names).
      returned: always
      type: dict
    prefect:
      description:
        - The partition's flow runs as Prefect records them - C(state) (the partition's flow run state), C(steps) (per
          C(prefect) step - C(asset), C(deployment), C(flow_runs), C(flow_run_id), C(flow_run_name), C(state_type),
          C(state_name), C(message), C(start_time), C(end_time), C(run_id), and for a failed run C(failing_task),
          C(task_retries), C(task_message)), C(failing), C(running), C(missing), C(api_url).
      returned: when Prefect is configured and a step runs on it
      type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import config, engine, flow_runs, plan
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(config.argument_spec(), partition=dict(type="str"))


def run(ops):
    params = ops.params
    partition = params.get("partition") or engine.today()
    plan.parse_date(partition, "partition")
    # Reading manifests needs no data directory and no executor.
    steps = config.validate(dict(params, data_root=params.get("data_root") or "/"))
    pipeline = config.open_pipeline(ops, steps, run_steps=False)
    found = engine.partition_status(pipeline, partition)
    # Last on every line: did the assets' current pointers move to this partition's run (moved, superseded, not_moved)?
    moved = [("current", found["current"]["state"])]
    total, ok = len(found["steps"]), len([s for s in found["steps"] if s["status"] == "success"])
    line = [("partition", partition), ("steps_ok", "%d/%d" % (ok, total))]
    # Today's flow run state from the orchestrator, when the inventory configures Prefect (manifests alone otherwise).
    client = config.prefect_client(params, ops)
    flows = flow_runs.partition_flow_runs(client, steps, params["partition_key"], partition) if client else None
    prefect_line, prefect_note = [], ""
    if flows is not None:
        found["prefect"] = flows
        line.append(("flow_run_state", flows["state"]))
        if flows["failing"]:
            bad = flows["failing"][0]
            prefect_line = [("failing_task", bad.get("failing_task", "none")), ("task_retries", bad.get("task_retries", 0))]
            prefect_note = " Prefect: flow run %s of %s is %s%s." % (
                bad["flow_run_name"], bad["deployment"], bad["state_type"],
                ", failing task %s after %s retries" % (bad["failing_task"], bad["task_retries"]) if bad.get("failing_task") else "")
    if found["failing"]:
        first = found["failing"][0]
        line += [("failed_step", first["asset"]), ("attempts", first["attempts"]), ("failure_class", first.get("failure_class", "upstream")),
                 ("run_id", first["run_id"])] + prefect_line
        raise OpsError("step_failed", "partition %s: step %s %s after %d attempt(s) in run %s (%s, category %s): %s -- %s%s" % (
            partition, first["asset"], first["status"], first["attempts"], first["run_id"], first.get("failure_class"),
            first.get("category"), first.get("message") or first.get("status"), first.get("action") or "see its manifest %s" % first["manifest"],
            prefect_note), details=dict(found, line=line + moved))
    if flows is not None and flows["failing"]:
        bad = flows["failing"][0]
        line += [("failed_step", bad["asset"])] + prefect_line + [("run_id", bad.get("run_id"))]
        raise OpsError("step_failed", "partition %s: step %s's flow run %s (%s) is %s: %s -- read the flow run in Prefect's UI, then rerun "
                                      "(pipeline_rerun.yml -e partition=%s).%s" % (
                                          partition, bad["asset"], bad["flow_run_name"], bad["flow_run_id"], bad["state_type"],
                                          bad.get("message") or bad.get("state_name"), partition, prefect_note),
                       details=dict(found, line=line + moved))
    if found["missing"]:
        line.append(("missing", ",".join(found["missing"])))
        raise OpsError("manifests_missing", "partition %s: no manifest for step(s) %s under %s; the run did not reach them or did not run: "
                                            "run pipeline_backfill.yml -e start=%s -e end=%s (-e resume=true to continue a run)." % (
                                                partition, ", ".join(found["missing"]), params["manifest_root"], partition, partition),
                       details=dict(found, line=line + moved))
    running = [s["asset"] for s in found["running"]]
    running += [s["asset"] for s in (flows or {}).get("running", []) if s["asset"] not in running]
    if running:
        line.append(("running", ",".join(running)))
        return dict(status="warn", reason="run_in_progress", outputs=found, line=line + moved)
    line.append(("run_id", ",".join(found["run_ids"])))
    return dict(changed=False, outputs=found, line=line + moved)


def main():
    OpsModule(ARGUMENT_SPEC, operation="pipeline", phase="status", status_key="pipeline_status", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
