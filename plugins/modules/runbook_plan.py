#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: runbook_plan
version_added: "0.2.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Plan which phases of a runbook run, from start_at, stop_after, resume and earlier receipts
description:
  - The first step of the phase engine (role C(signalcraft.ops.runbook)). A pure decision from the
    runbook's ordered phases, the operator's O(start_at), O(stop_after) and O(resume), and the
    receipts already in O(receipt_dir).
  - With O(resume=true) every phase whose receipt says C(success) is skipped and its recorded
    outputs are returned in RV(outputs.handoff) so later phases get the same handoff as in the
    original run; the first phase that did not succeed runs again.
  - Refuses (C(phase_unknown), C(phase_order_invalid), C(plan_invalid), C(nothing_to_run)) before
    anything runs. Reads only local files; the same in check mode.
options:
  start_at:
    description: Start at this phase; earlier phases are skipped and keep their receipts.
    type: str
  stop_after:
    description: Stop after this phase; later phases are skipped.
    type: str
  resume:
    description: Skip the phases the receipts in O(receipt_dir) record as successful and start at the first that is not.
    type: bool
    default: false
  check_mode_skips:
    description: Phase -> why it cannot run in check mode (it needs what an earlier phase would create).
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: Read-only; phases listed in O(check_mode_skips) are planned as skipped.
extends_documentation_fragment:
  - signalcraft.ops.receipt
  - signalcraft.ops.read_only
  - signalcraft.ops.runbook
"""

EXAMPLES = r"""
- name: Plan the daily run
  signalcraft.ops.runbook_plan:
    runbook: daily
    phases: [verify, deploy, run_once, publish, verify_ops, provenance]
    stop_after: run_once
    receipt_dir: "{{ signalcraft_receipt_root }}/{{ signalcraft_execution_id }}"
"""

RETURN = r"""
status:
  description: C(ok) or C(fail).
  returned: always
  type: str
outputs:
  description: The plan.
  returned: always
  type: dict
  contains:
    phases:
      description: "C({phase, action: run|skip, reason, keep_receipt}) per phase, in order."
      type: list
      elements: dict
    handoff:
      description:
        - "For phases skipped on resume or start_at, C({phase: {status, outputs, receipt_path}}) from their
          receipts; the action plugin merges it into the fact C(signalcraft_results)."
      type: dict
"""

import os

from ansible_collections.signalcraft.ops.plugins.module_utils.core import phases as engine
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule

ARGUMENT_SPEC = dict(
    runbook=dict(type="str", required=True),
    phases=dict(type="list", elements="str", required=True),
    start_at=dict(type="str"),
    stop_after=dict(type="str"),
    resume=dict(type="bool", default=False),
    check_mode_skips=dict(type="dict", default={}),
    receipt_dir=dict(type="path", required=True),
)


def run(ops):
    params = ops.params
    recorded = engine.read_receipts(params["receipt_dir"], params["phases"])
    entries = engine.plan(params["phases"], params["start_at"] or None, params["stop_after"] or None, params["resume"],
                          {name: receipt.get("status") for name, receipt in recorded.items()},
                          params["check_mode_skips"], ops.check_mode)
    results = {}
    for entry in entries:
        receipt = recorded.get(entry["phase"])
        if entry["keep_receipt"] and receipt is not None and receipt.get("status") == "success":
            results[entry["phase"]] = {"status": "ok", "outputs": receipt.get("outputs") or {},
                                       "receipt_path": os.path.join(params["receipt_dir"], "%s.json" % entry["phase"])}
    runs = [e["phase"] for e in entries if e["action"] == "run"]
    skips = [e["phase"] for e in entries if e["action"] == "skip"]
    line = [("run", ",".join(runs))] + ([("skip", ",".join(skips))] if skips else [])
    return dict(outputs={"phases": entries, "handoff": results}, line=line)


def main():
    OpsModule(ARGUMENT_SPEC, operation="runbook", phase="plan").run(run)


if __name__ == "__main__":
    main()
