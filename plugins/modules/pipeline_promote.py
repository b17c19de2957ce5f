#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pipeline_promote
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Promote a candidate model run to current - a smoke scoring first, then the model selector moved atomically
description:
  - The runbook's safe promotion of a model head. The candidate is a trained run's artifact directory,
    O(artifact_dir) or C(<model_root>/<model>/<run_id>), with a C(meta.json) of the expected shape - C(model)
    (this O(model)), C(run_id), C(created_at) (UTC), optional C(metrics)/C(params) objects and C(files) (names
    that must exist next to it). Anything else is refused (C(model_candidate_invalid)) before any write.
  - Then a smoke scoring - the O(smoke) step run through the pipeline's executors (C(local), C(ecs) or C(prefect)) with
    the candidate as its model (E(PIPELINE_MODEL_RUN_ID), E(PIPELINE_MODEL_ARTIFACT_DIR)), publishing disabled
    (E(PIPELINE_PUBLISH=0), E(PIPELINE_SMOKE=1)) - a Prefect flow run gets the same as the parameters C(models)
    (model -> C(run_id), C(artifact_uri)) and C(smoke) (C(publish=false), C(output_dir) or C(output_uri), and C(inputs),
    the upstream runs it reads), tagged C(signalcraft-smoke) so the daily check never counts it - against a recent
    partition (O(smoke_partition), default the newest of the last C(lookback_days) days whose upstream steps succeeded). Its output must have the expected
    shape (C(expect_columns), C(min_rows)). A failing smoke leaves the selector untouched (C(smoke_failed), with why);
    no recent partition with the smoke's inputs is C(smoke_input_missing).
  - Only then the selector C(<pointer_root>/<model>_current_run.json) (schema C(pipeline_model_selector.v1)) is
    written - by compare-and-swap on the version read before the smoke (S3 If-Match / If-None-Match; a local
    file by temp file, fsync and rename after re-reading and comparing it). It names the run, its artifact
    and meta.json hash, who promoted it, when, the execution id, the smoke that passed, and C(history) - the
    previous selector contents, newest first, which M(signalcraft.ops.pipeline_rollback) restores exactly.
    Each move is also recorded in C(<pointer_root>/_history/<model>/).
  - Of two promotions racing, one wins; the other fails with C(pointer_conflict) and writes nothing (rerun it
    to promote on top of the winner).
  - Promoting the run the selector already names (same run, artifact and meta.json) changes nothing and runs
    no smoke. Check mode validates the candidate, finds the smoke's partition and shows the selector before and
    after as the diff; it runs no smoke and writes nothing.
  - The next run of a step that lists the model in its C(models) records the promoted run in its manifest.
options:
  model:
    description:
      - The model whose selector to move (C(minutes) for C(minutes_current_run.json)); lowercase letters, digits, C(_).
    type: str
    required: true
  run_id:
    description:
      - The candidate model run. With O(model_root), its artifact directory is C(<model_root>/<model>/<run_id>); it must
        match C(meta.json)'s C(run_id). Required unless O(artifact_dir) is given.
    type: str
  artifact_dir:
    description:
      - The candidate's artifact directory (absolute path or C(s3://<bucket>/<prefix>)), instead of O(model_root)/O(run_id).
    type: str
  model_root:
    description:
      - Where trained runs live, C(<model_root>/<model>/<run_id>/meta.json) (the inventory's C(signalcraft_pipeline_model_root)).
    type: str
    default: ""
  smoke:
    description:
      - The smoke scoring (the inventory's C(pipeline_promote_smoke)) - C(step) (a configured step to reuse, with its
        executor, command, task definition or deployment, env, parameters and C(depends_on)) or an own C(executor) with
        C(command) / C(task_definition) / C(deployment); C(env), C(parameters), C(timeout_s), C(depends_on) override.
        C(output) is the file a C(local) smoke (or a C(prefect) flow whose worker shares the controller's file system)
        writes in its output directory; C(output_uri) the C(s3://) object an C(ecs) or C(prefect) smoke writes
        (C({model}), C({model_run_id}), C({smoke_run_id}), C({partition}) filled in, and passed as E(PIPELINE_OUTPUT_URI)
        or the flow parameter C(smoke.output_uri)). C(.csv), C(.json) (a list of
        objects) or C(.jsonl). C(expect_columns) (default none), C(min_rows) (default 1), C(lookback_days) (default 7).
    type: dict
    default: {}
  smoke_partition:
    description:
      - The partition (C(YYYY-MM-DD)) to smoke-score; its upstream steps must have succeeded. Default the newest recent one that has.
    type: str
  promoted_by:
    description:
      - Who promotes, recorded in the selector and the change journal. Default the controller's user (AWX - the launching user, from the role).
    type: str
  note:
    description:
      - A free-text note recorded with the promotion (a ticket, the evaluation it rests on).
    type: str
  history_limit:
    description:
      - How many previous selector contents the selector keeps (older ones remain in S3 versions / the change journal).
    type: int
    default: 20
attributes:
  check_mode:
    support: full
    description: Validates the candidate and finds the smoke's partition; runs no smoke and writes nothing.
  diff_mode:
    support: full
    description: The selector before and after.
notes:
  - O(pointer_root) (the shared pipeline option) is required here.
seealso:
  - module: signalcraft.ops.pipeline_rollback
  - module: signalcraft.ops.pipeline_backfill
extends_documentation_fragment: [signalcraft.ops.pipeline, signalcraft.ops.aws, signalcraft.ops.receipt]
"""

EXAMPLES = r"""
- name: Promote a trained minutes model after a smoke scoring of yesterday's partition
  signalcraft.ops.pipeline_promote:
    manifest_root: /srv/pipeline/manifests
    data_root: /srv/pipeline/data
    pointer_root: /srv/projections/config
    model_root: /srv/projections/models
    steps: "{{ pipeline_steps }}"
    model: minutes
    run_id: minutes-20260110T0400Z
    smoke:
      step: scores
      output: scores.csv
      expect_columns: [game_id, score]
      min_rows: 1

- name: Promote from S3, selectors in S3, the smoke on ECS
  signalcraft.ops.pipeline_promote:
    manifest_root: s3://pipeline-bucket/manifests
    pointer_root: s3://pipeline-bucket/config
    artifact_dir: s3://models-bucket/minutes/minutes-20260110T0400Z
    steps: "{{ pipeline_steps }}"
    ecs_cluster: jobintel
    model: minutes
    smoke:
      executor: ecs
      task_definition: projections-score
      depends_on: [features]
      output_uri: s3://pipeline-bucket/smoke/{model}/{model_run_id}/{smoke_run_id}/scores.csv
      expect_columns: [game_id, score]
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail) (C(model_candidate_invalid), C(smoke_failed), C(smoke_input_missing),
    C(pointer_conflict), C(invalid_input)).
  returned: always
  type: str
outputs:
  description: What was promoted.
  returned: always
  type: dict
  contains:
    model:
      description: The model.
      returned: always
      type: str
    run_id:
      description: The candidate model run.
      returned: when the candidate was read
      type: str
    artifact_uri:
      description: The candidate's artifact directory.
      returned: when the candidate was read
      type: str
    selector:
      description: The selector's path or URI.
      returned: when the candidate was read
      type: str
    previous_run_id:
      description: The run the selector named before (null when it did not exist).
      returned: when the candidate was read
      type: str
    action:
      description: C(promoted), C(none) (already current) or C(planned) (check mode).
      returned: when the candidate was read
      type: str
    smoke:
      description: The smoke scoring - C(partition), C(run_id), C(executor), C(ref), C(output), C(rows), C(columns),
        C(inputs) (upstream asset -> run), C(duration_s).
      returned: when the smoke ran
      type: dict
    history:
      description: The run ids of the selector's history after the promotion, newest first.
      returned: when the candidate was read
      type: list
      elements: str
    journal:
      description: The change record written for this move.
      returned: when the selector moved
      type: str
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import config, engine, manifest, plan, pointer_store, promotion
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    config.argument_spec(),
    model=dict(type="str", required=True),
    run_id=dict(type="str"),
    artifact_dir=dict(type="str"),
    model_root=dict(type="str", default=""),
    smoke=dict(type="dict", default={}),
    smoke_partition=dict(type="str"),
    promoted_by=dict(type="str"),
    note=dict(type="str"),
    history_limit=dict(type="int", default=promotion.DEFAULT_HISTORY_LIMIT),
)


def _history(document):
    return [h.get("run_id") for h in (document or {}).get("history") or []]


def run(ops):
    params = ops.params
    # Every refusal that needs no I/O comes first.
    model = promotion.require_model(params["model"])
    if params.get("run_id"):
        manifest.require_name(params["run_id"], manifest.RUN_ID_PATTERN, "run_id", "run_id")
    if not (params.get("pointer_root") or "").strip():
        raise OpsError("invalid_input", "no pointer root holds the model selectors; set signalcraft_pipeline_pointer_root in the inventory "
                                        "(or -e pipeline_pointer_root).")
    if params["history_limit"] < 1:
        raise OpsError("invalid_input", "history_limit must be >= 1; fix -e pipeline_promote_history_limit.")
    if params.get("smoke_partition"):
        plan.parse_date(params["smoke_partition"], "smoke_partition")
    steps = config.validate(params)
    step, expect = config.smoke_step(params, steps)
    if (step["executor"] == "local" or (step["executor"] == "prefect" and not expect.get("output_uri"))) and not params.get("data_root"):
        raise OpsError("invalid_input", "a %s smoke writing pipeline_promote_smoke.output needs a data directory: set "
                                        "signalcraft_pipeline_data_root (or -e pipeline_data_root)." % step["executor"])
    location = promotion.artifact_location(model, params.get("run_id"), params.get("artifact_dir"), params.get("model_root"))

    def s3():
        return ops.client("s3")

    selectors = pointer_store.open_store(params["pointer_root"], s3, "pipeline_pointer_root")
    rel = promotion.selector_path(model)
    candidate = promotion.read_candidate(location, model, params.get("run_id"), s3)
    snapshot = selectors.read(rel)
    before = snapshot["document"] if snapshot else None
    outputs = {"model": model, "run_id": candidate["run_id"], "artifact_uri": candidate["artifact_uri"], "selector": selectors.uri(rel),
               "previous_run_id": (before or {}).get("run_id")}
    line = [("model", model), ("run_id", candidate["run_id"]), ("previous_run_id", outputs["previous_run_id"] or "none")]
    if promotion.same_candidate(before, candidate):
        outputs.update(action="none", history=_history(before))
        return dict(changed=False, outputs=outputs, line=line + [("smoke", "skipped"), ("selector", "unchanged")])

    reader = config.open_pipeline(ops, steps, run_steps=False)
    partitions = [params["smoke_partition"]] if params.get("smoke_partition") else promotion.recent_partitions(engine.today(), expect["lookback_days"])
    partition, upstream = promotion.smoke_inputs(reader.store, params["partition_key"], step["depends_on"], partitions)
    if partition is None:
        raise OpsError("smoke_input_missing", "no partition from %s to %s has successful runs of %s, which the smoke scoring reads; run the "
                                              "daily pipeline for a recent date (pipeline_backfill.yml), or pass -e smoke_partition=<date> of "
                                              "a partition that succeeded." % (partitions[-1], partitions[0], ", ".join(step["depends_on"])),
                       details=dict(outputs, line=line))
    line.append(("smoke_partition", partition))
    by = promotion.who(params.get("promoted_by"))
    if ops.check_mode:
        after = promotion.promoted_document(candidate, {"planned": True, "partition": partition}, before, promotion.now_text(), by,
                                            ops.execution_id, params.get("note"), params["history_limit"], validate=False)
        outputs.update(action="planned", history=_history(after))
        return dict(changed=True, status="planned", outputs=outputs, line=line + [("smoke", "planned"), ("selector", "would_move")],
                    diff=promotion.diff_of(outputs["selector"], before, after))

    runner = config.open_pipeline(ops, [step])
    try:
        smoke = promotion.run_smoke(runner.executors[step["executor"]], reader, step, expect, candidate, partition, upstream, s3)
    except OpsError as exc:
        raise exc.add_context(dict(outputs, line=line + [("smoke", "failed"), ("selector", "unchanged")]))
    outputs["smoke"] = smoke
    moment = receipts.utc_now()
    after = promotion.promoted_document(candidate, smoke, before, receipts.format_timestamp(moment), by, ops.execution_id,
                                        params.get("note"), params["history_limit"])
    try:
        etag = promotion.commit(selectors, model, after, snapshot["etag"] if snapshot else None)
    except OpsError as exc:
        raise exc.add_context(dict(outputs, line=line + [("smoke", "passed"), ("selector", "unchanged")]))
    record = promotion.change_record(model, "promote", outputs["selector"], before, after, snapshot["etag"] if snapshot else None, etag,
                                     after["promoted_at"], by, ops.execution_id, params.get("note"), smoke)
    outputs.update(action="promoted", history=_history(after), journal=promotion.record_change(selectors, model, record, moment))
    return dict(changed=True, outputs=outputs, line=line + [("smoke_rows", smoke["rows"]), ("smoke", "passed"), ("selector", "moved")],
                diff=promotion.diff_of(outputs["selector"], before, after))


def main():
    OpsModule(ARGUMENT_SPEC, operation="pipeline", phase="promote", status_key="pipeline_promote", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
