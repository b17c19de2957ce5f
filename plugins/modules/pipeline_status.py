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
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import config, engine, plan
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
    total, ok = len(found["steps"]), len([s for s in found["steps"] if s["status"] == "success"])
    line = [("partition", partition), ("steps_ok", "%d/%d" % (ok, total))]
    if found["failing"]:
        first = found["failing"][0]
        line += [("failed_step", first["asset"]), ("attempts", first["attempts"]), ("failure_class", first.get("failure_class", "upstream")),
                 ("run_id", first["run_id"])]
        raise OpsError("step_failed", "partition %s: step %s %s after %d attempt(s) in run %s (%s, category %s): %s -- %s" % (
            partition, first["asset"], first["status"], first["attempts"], first["run_id"], first.get("failure_class"),
            first.get("category"), first.get("message") or first.get("status"), first.get("action") or "see its manifest %s" % first["manifest"]),
            details=dict(found, line=line))
    if found["missing"]:
        line.append(("missing", ",".join(found["missing"])))
        raise OpsError("manifests_missing", "partition %s: no manifest for step(s) %s under %s; the run did not reach them or did not run: "
                                            "run pipeline_backfill.yml -e start=%s -e end=%s (-e resume=true to continue a run)." % (
                                                partition, ", ".join(found["missing"]), params["manifest_root"], partition, partition),
                       details=dict(found, line=line))
    if found["running"]:
        line.append(("running", ",".join(s["asset"] for s in found["running"])))
        return dict(status="warn", reason="run_in_progress", outputs=found, line=line)
    line.append(("run_id", ",".join(found["run_ids"])))
    return dict(changed=False, outputs=found, line=line)


def main():
    OpsModule(ARGUMENT_SPEC, operation="pipeline", phase="status", status_key="pipeline_status", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
