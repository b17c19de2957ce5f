#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pipeline_backfill
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Run the pipeline's DAG over every partition from start to end, at most max_parallel at once, resumable
description:
  - Replaces C(pipeline run --start YYYY-MM-DD --end YYYY-MM-DD --as-of-mode pretip --max-parallel 4 --resume).
  - Every partition (date) from O(start) to O(end) gets one run of the same DAG as the daily run, under
    one C(run_id) shared by all its steps; at most O(max_parallel) partitions are in flight. Within a
    partition, steps run in DAG order; a step whose upstream did not succeed is written as C(skipped).
  - Each step writes C(<manifest_root>/<asset>/<partition_key>=<value>/run=<run_id>/manifest.json) - as
    C(running) when it starts, then with its outputs (bytes, sha256, rows), checks, attempts, duration,
    status and, on failure, the failure's class (C(network), C(missing_input), C(contract), C(permission),
    C(port_conflict), C(stale_snapshot), C(timeout), C(unknown)) and retry category (A same run_id,
    B new run_id, C do not retry).
  - Network failures are retried in place with exponential backoff and jitter (the step's C(retries)).
  - When every step of a partition's run succeeded, each asset's current pointer
    C(<manifest_root>/_current/<asset>.json) moves to that run (forward only - an older partition never rewinds
    it - by compare-and-swap); a failed or interrupted run moves none. A step with C(models) records the model
    runs its selectors named (O(pointer_root)) in its manifest.
  - The summary C(<manifest_root>/backfills/<backfill_id>/summary.json) is rewritten after each partition
    (progress - C(status=running), C(pending)) and at the end (planned, succeeded, skipped, failed by
    class, wall time).
  - O(resume=true) skips partitions whose newest run's manifests all show C(success); a run whose failures
    are all category A, or that was interrupted, is retried in place (same C(run_id), only the steps
    without a success manifest); other failures get a new C(run_id) and the failed run stays intact.
    Nothing is ever deleted.
  - Without O(resume), a backfill id that already has a summary is refused (C(backfill_exists)).
  - Refused before anything runs - a malformed or inverted range (C(partition_range_invalid)), an unknown
    asset (C(asset_unknown)), O(max_parallel) below 1 (C(max_parallel_invalid)), a backfill id that is not
    a safe path component (C(pipeline_id_invalid)), a broken DAG (C(steps_invalid)).
  - Fails with C(partition_failed) when a partition failed, after every partition ran; the summary and
    manifests say which step and why. When Prefect stopped answering for longer than
    O(prefect_unreachable_grace_s) while a step's flow run was followed, that step fails with C(prefect_unreachable)
    (never retried in place, so it is never started twice), and so does the backfill; the flow run goes on in
    Prefect, and O(resume=true) follows it (found by its idempotency key) instead of starting a new one.
  - Check mode lists the partitions that would run (with their action and run_id) and writes nothing.
options:
  start:
    description:
      - The first partition, C(YYYY-MM-DD).
    type: str
    required: true
  end:
    description:
      - The last partition, C(YYYY-MM-DD) (inclusive, not before O(start)).
    type: str
    required: true
  as_of_mode:
    description:
      - How each partition's C(run_as_of_ts) is chosen - V(pretip) (the date at O(pretip_utc)), V(end_of_day),
        V(start_of_day), or V(now) (the time the backfill started, as a live run).
    type: str
    choices: [pretip, end_of_day, start_of_day, now]
    default: pretip
  pretip_utc:
    description:
      - The UTC time of day V(pretip) uses, C(HH:MM[:SS]).
    type: str
    default: "23:00:00"
  max_parallel:
    description:
      - How many partitions run at once (1 to 64).
    type: int
    default: 4
  resume:
    description:
      - Continue the backfill O(backfill_id) - skip partitions that succeeded, retry only the failed.
    type: bool
    default: false
  backfill_id:
    description:
      - The id the summary is filed under. Default C(bf-<start>-<end>-<as_of_mode>[-<hash of assets>]), so
        the same command with O(resume=true) continues it.
    type: str
  assets:
    description:
      - Run only these assets (and everything upstream of them). Empty runs every step.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Lists the partitions that would run, skip or retry in place; runs and writes nothing.
  diff_mode:
    support: none
    description: A backfill is not a configuration change.
seealso:
  - module: signalcraft.ops.pipeline_status
extends_documentation_fragment: [signalcraft.ops.pipeline, signalcraft.ops.pipeline.retry, signalcraft.ops.aws, signalcraft.ops.receipt]
"""

EXAMPLES = r"""
- name: Backfill a month, four partitions at a time
  signalcraft.ops.pipeline_backfill:
    manifest_root: /srv/pipeline/manifests
    data_root: /srv/pipeline/data
    steps: "{{ pipeline_steps }}"
    start: "2026-01-01"
    end: "2026-01-31"
    as_of_mode: pretip
    max_parallel: 4
  register: backfill

- name: Resume it (succeeded partitions are skipped, only the failed run again)
  signalcraft.ops.pipeline_backfill:
    manifest_root: s3://pipeline-bucket/manifests
    data_root: /srv/pipeline/data
    steps: "{{ pipeline_steps }}"
    start: "2026-01-01"
    end: "2026-01-31"
    max_parallel: 4
    resume: true
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail) (C(partition_failed) and the refusals).
  returned: always
  type: str
outputs:
  description: The backfill's summary (also at O(manifest_root)C(/backfills/<backfill_id>/summary.json)).
  returned: always
  type: dict
  contains:
    backfill_id:
      description: The id the summary is filed under.
      returned: always
      type: str
      sample: bf-2026-01-01-2026-01-12-pretip
    summary:
      description: Where the summary is (path or s3:// URI).
      returned: always
      type: str
    planned:
      description: Partitions in the range.
      returned: always
      type: int
    to_run:
      description: Partitions that run (or would run) - planned minus skipped.
      returned: always
      type: int
    succeeded:
      description: Partitions whose every step succeeded in this invocation.
      returned: when not in check mode
      type: int
    skipped:
      description: Partitions skipped because they had already succeeded (resume).
      returned: always
      type: int
    failed:
      description: Partitions with a failed step.
      returned: when not in check mode
      type: int
    failed_by_class:
      description: Failed partitions by the failure class of their first failed step.
      returned: when not in check mode
      type: dict
      sample: {network: 1, contract: 2}
    wall_time_s:
      description: Seconds the backfill ran.
      returned: when not in check mode
      type: float
    partitions:
      description: One entry per partition - C(partition), C(action) (C(run), C(retry_in_place), C(skip)), C(run_id),
        C(status), and for a failure C(failed_step), C(failure_class), C(failure_reason) (C(step_failed), or the
        orchestrator's token such as C(prefect_unreachable)), C(category), C(attempts).
      returned: always
      type: list
      elements: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import config, engine, manifest, plan
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    config.argument_spec(),
    start=dict(type="str", required=True),
    end=dict(type="str", required=True),
    as_of_mode=dict(type="str", choices=list(plan.AS_OF_MODES), default="pretip"),
    pretip_utc=dict(type="str", default="23:00:00"),
    max_parallel=dict(type="int", default=4),
    resume=dict(type="bool", default=False),
    backfill_id=dict(type="str"),
    assets=dict(type="list", elements="str", default=[]),
    **config.retry_argument_spec()
)


def _line(outputs, keys):
    return [(k, outputs[k]) for k in keys if outputs.get(k) is not None]


def run(ops):
    params = ops.params
    # Every refusal comes before any client, process or write.
    partitions = plan.partitions(params["start"], params["end"])
    max_parallel = plan.validate_max_parallel(params["max_parallel"])
    backfill_id = plan.backfill_id(params["start"], params["end"], params["as_of_mode"], params["assets"], params.get("backfill_id"))
    plan.validate_time(params["pretip_utc"])
    steps = plan.select_assets(config.validate(params), params["assets"])
    if params["retry_delay_s"] < 0:
        raise OpsError("invalid_input", "retry_delay_s must be >= 0; fix -e pipeline_retry_delay_s.")

    pipeline = config.open_pipeline(ops, steps, backfill_id=backfill_id, retry_delay_s=params["retry_delay_s"])
    summary_uri = pipeline.store.uri(manifest.summary_path(backfill_id))
    previous = manifest.read_summary(pipeline.store, backfill_id)
    if previous is not None and not params["resume"]:
        raise OpsError("backfill_exists", "backfill %s already ran (%s, status=%s); pass -e resume=true to continue it (succeeded "
                                          "partitions are skipped), or a new -e backfill_id to start over." % (
                                              backfill_id, summary_uri, previous.get("status")),
                       details={"backfill_id": backfill_id, "summary": summary_uri})
    decisions = [pipeline.decide(p, params["resume"]) for p in partitions]
    to_run = [d for d in decisions if d["action"] != "skip"]
    outputs = {"backfill_id": backfill_id, "summary": summary_uri, "planned": len(decisions), "to_run": len(to_run),
               "skipped": len(decisions) - len(to_run), "max_parallel": max_parallel, "assets": [s["asset"] for s in steps],
               "partitions": [dict((k, d.get(k)) for k in ("partition", "action", "run_id", "previous_state")) for d in decisions]}
    if ops.check_mode:
        return dict(changed=bool(to_run), status="planned", outputs=outputs,
                    line=_line(outputs, ("backfill_id", "planned", "to_run", "skipped", "max_parallel")))
    if not to_run:
        # Everything already succeeded: a second resume changes nothing (the summary stays as it is).
        outputs.update(succeeded=0, failed=0, failed_by_class={}, wall_time_s=0.0)
        return dict(changed=False, outputs=outputs, line=_line(outputs, ("backfill_id", "planned", "to_run", "skipped")))

    started = receipts.utc_now()
    as_of = {}
    for decision in decisions:
        as_of[decision["partition"]] = plan.run_as_of_ts(decision["partition"], params["as_of_mode"], started, params["pretip_utc"])
    backfill = {"backfill_id": backfill_id, "start": partitions[0], "end": partitions[-1], "as_of_mode": params["as_of_mode"],
                "max_parallel": max_parallel, "resume": params["resume"], "assets": [s["asset"] for s in steps],
                "partition_key": params["partition_key"], "execution_id": ops.execution_id}
    summary = engine.run_backfill(pipeline, backfill, decisions, as_of.get, max_parallel, previous=previous,
                                  on_progress=lambda s: ops.progress(s["to_run"] - s["pending"], s["to_run"], unit="partitions",
                                                                     what="backfill", succeeded=s["succeeded"], failed=s["failed"]))
    outputs.update((k, summary[k]) for k in ("succeeded", "skipped", "failed", "failed_by_class", "wall_time_s", "partitions", "to_run"))
    line = _line(outputs, ("backfill_id", "planned", "to_run", "succeeded", "skipped", "failed", "max_parallel", "wall_time_s"))
    if summary["failed"]:
        classes = ", ".join("%s: %d" % item for item in sorted(summary["failed_by_class"].items()))
        failed = [p for p in summary["partitions"] if p["status"] == "failed"]
        first = failed[0]
        lost = [p for p in failed if p.get("failure_reason") == "prefect_unreachable"]
        if lost:
            # Prefect stopped answering while flow runs were followed: the runs go on there; none was started twice.
            raise OpsError("prefect_unreachable", "Prefect at %s stopped answering while %d partition(s) followed their flow runs (first: %s "
                                                  "step %s); those flow runs go on in Prefect and no step was started a second time. Once "
                                                  "Prefect answers, rerun with -e resume=true: each such step follows its flow run (found "
                                                  "by its idempotency key) instead of starting a new one. %d of %d partitions failed (%s); "
                                                  "see %s." % (params["prefect_api_url"], len(lost), lost[0]["partition"], lost[0]["failed_step"],
                                                               summary["failed"], summary["to_run"], classes, summary_uri),
                           details=dict(outputs, line=line), changed_so_far=True)
        raise OpsError("partition_failed", "%d of %d partitions failed (%s); first: %s step %s (%s, category %s); see %s and the step "
                                           "manifests; fix the cause, then rerun with -e resume=true (succeeded partitions are skipped)." % (
                                               summary["failed"], summary["to_run"], classes, first["partition"], first["failed_step"],
                                               first["failure_class"], first["category"], summary_uri),
                       details=dict(outputs, line=line), changed_so_far=True)
    return dict(changed=True, outputs=outputs, line=line)


def main():
    OpsModule(ARGUMENT_SPEC, operation="pipeline", phase="backfill", status_key="pipeline_backfill", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
