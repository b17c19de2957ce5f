#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pipeline_triage
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: The runbook's triage flowchart over a partition's or a backfill's failed manifests
description:
  - For O(partition) (its newest run) or every failed partition of the backfill O(backfill_id), classifies each
    failed step from its manifest (message and log tail) - network/DNS/TLS, missing input partition (naming the
    upstream step), contract/schema violation, permission denied, port conflict, stale roster snapshot, timeout,
    unknown - and gives its retry category (A same run_id, B new run_id, C do not retry) and the operator's action.
  - Reads only; check mode behaves the same. A partition or backfill without failures reports C(failures=0).
options:
  partition:
    description:
      - The partition (date C(YYYY-MM-DD)) to triage. Exactly one of O(partition) and O(backfill_id).
    type: str
  backfill_id:
    description:
      - The backfill whose failed partitions to triage (its C(summary.json) names them).
    type: str
seealso:
  - module: signalcraft.ops.pipeline_rerun
extends_documentation_fragment: [signalcraft.ops.pipeline, signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.read_only]
"""

EXAMPLES = r"""
- name: Triage a partition
  signalcraft.ops.pipeline_triage:
    manifest_root: /srv/pipeline/manifests
    steps: "{{ pipeline_steps }}"
    partition: "2026-01-03"

- name: Triage a backfill
  signalcraft.ops.pipeline_triage:
    manifest_root: /srv/pipeline/manifests
    steps: "{{ pipeline_steps }}"
    backfill_id: bf-2026-01-01-2026-01-12-pretip
"""

RETURN = r"""
outputs:
  description: One finding per failed step.
  returned: always
  type: dict
  contains:
    findings:
      description: C(partition), C(asset), C(run_id), C(class), C(category), C(category_meaning), C(action),
        C(attempts), C(upstream_asset), C(signature) of each failed step.
      returned: always
      type: list
      elements: dict
    by_class:
      description: Failed steps per class.
      returned: always
      type: dict
    lines:
      description: One human line per finding.
      returned: always
      type: list
      elements: str
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import config, manifest, plan, triage
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(config.argument_spec(), partition=dict(type="str"), backfill_id=dict(type="str"))


def _findings(pipeline, partition, run_id=None):
    runs = pipeline.runs_of(partition)
    if run_id is None:
        run_id, manifests = pipeline.latest_run(partition)
    else:
        manifests = runs.get(run_id, {})
    found = []
    for step in pipeline.steps:
        verdict = triage.of_manifest(manifests.get(step["asset"]))
        if verdict:
            verdict["partition"] = partition
            found.append(verdict)
    return found


def run(ops):
    params = ops.params
    if bool(params.get("partition")) == bool(params.get("backfill_id")):
        raise OpsError("invalid_input", "pass exactly one of -e partition=YYYY-MM-DD and -e backfill_id=<id>.")
    if params.get("partition"):
        plan.parse_date(params["partition"], "partition")
    else:
        manifest.require_name(params["backfill_id"], manifest.RUN_ID_PATTERN, "backfill_id", "backfill_id")
    steps = config.validate(dict(params, data_root=params.get("data_root") or "/"))
    pipeline = config.open_pipeline(ops, steps, run_steps=False)
    if params.get("partition"):
        scope = [("partition", params["partition"])]
        findings = _findings(pipeline, params["partition"])
    else:
        scope = [("backfill_id", params["backfill_id"])]
        summary = manifest.read_summary(pipeline.store, params["backfill_id"])
        if summary is None:
            raise OpsError("manifests_missing", "backfill %s has no summary under %s; check -e backfill_id (the playbook prints it)." % (
                params["backfill_id"], params["manifest_root"]))
        findings = []
        for entry in summary["partitions"]:
            if entry.get("status") == "failed":
                findings.extend(_findings(pipeline, entry["partition"], entry.get("run_id")))
    by_class = {}
    for finding in findings:
        by_class[finding["class"]] = by_class.get(finding["class"], 0) + 1
    lines = ["%s %s run=%s class=%s category=%s (%s) attempts=%s: %s" % (
        f["partition"], f["asset"], f["run_id"], f["class"], f["category"], f["category_meaning"], f["attempts"], f["action"])
        for f in findings]
    outputs = {"findings": findings, "by_class": by_class, "lines": lines}
    line = scope + [("failures", len(findings))]
    if by_class:
        line.append(("classes", ",".join("%s:%d" % item for item in sorted(by_class.items()))))
    return dict(changed=False, outputs=outputs, line=line)


def main():
    OpsModule(ARGUMENT_SPEC, operation="pipeline", phase="triage", status_key="pipeline_triage", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
