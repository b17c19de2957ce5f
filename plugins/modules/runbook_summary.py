#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: runbook_summary
version_added: "0.2.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Derive a runbook execution's summary from its phase receipts
description:
  - The last step of the phase engine (role C(signalcraft.ops.runbook)). Reads the phase receipts in
    O(receipt_dir) and writes C(<receipt_dir>/<runbook>.summary.json) - status per phase, what was
    skipped and why, the failed phase and its token, durations. The summary is derived, never kept
    separately, so a resumed run's summary tells the whole execution.
  - Writes nothing in check mode.
options:
  outcomes:
    description:
      - Phase -> C({status, reason}) as the engine saw it, standing in for receipts that were not
        written (check mode writes none).
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: Builds the summary and returns it; writes no file.
  diff_mode:
    support: none
    description: The summary is a derived record, not managed state.
extends_documentation_fragment:
  - signalcraft.ops.receipt
  - signalcraft.ops.runbook
"""

EXAMPLES = r"""
- name: Summarize the daily run from its receipts
  signalcraft.ops.runbook_summary:
    runbook: daily
    phases: [verify, deploy, run_once, publish, verify_ops, provenance]
    receipt_dir: "{{ signalcraft_receipt_root }}/{{ signalcraft_execution_id }}"
"""

RETURN = r"""
status:
  description:
    - C(ok) when no phase failed, else C(fail) with the failed phase's token as C(reason) (the task
      fails, so the run ends with that line).
  returned: always
  type: str
outputs:
  description: The summary.
  returned: always
  type: dict
  contains:
    summary:
      description: The C(runbook_summary.v1) document.
      type: dict
    path:
      description: Where it was written (null in check mode).
      type: str
"""

import json
import os

from ansible_collections.signalcraft.ops.plugins.module_utils.core import phases as engine
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule

ARGUMENT_SPEC = dict(
    runbook=dict(type="str", required=True),
    phases=dict(type="list", elements="str", required=True),
    receipt_dir=dict(type="path", required=True),
    outcomes=dict(type="dict", default={}),
)


def run(ops):
    params = ops.params
    # The run's own line starts with the runbook's name, not with "summary".
    ops.status_key = params["runbook"]
    recorded = engine.read_receipts(params["receipt_dir"], params["phases"])
    summary = engine.summarize(params["runbook"], ops.execution_id, params["phases"], recorded, params["receipt_dir"],
                               params["outcomes"])
    path = os.path.join(params["receipt_dir"], "%s.summary.json" % params["runbook"])
    changed = False
    if not ops.check_mode and recorded:
        changed = receipts.write_if_changed(path, (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    line = [("execution_id", ops.execution_id), ("ran", len(summary["ran"])), ("skipped", len(summary["skipped"]))]
    if summary["failed_phase"]:
        line.append(("failed_phase", summary["failed_phase"]))
    if not ops.check_mode and recorded:
        line.append(("summary", path))
    message = None
    if summary["failed_phase"]:
        message = "phase %s failed (%s); %s" % (summary["failed_phase"], summary["reason"], (
            "receipts in %s" % params["receipt_dir"]) if recorded else "check mode wrote no receipts")
    return dict(status=summary["status"], reason=summary["reason"], changed=changed, message=message,
                outputs={"summary": summary, "path": path if not ops.check_mode and recorded else None}, line=line)


def main():
    OpsModule(ARGUMENT_SPEC, operation="runbook", phase="summary").run(run)


if __name__ == "__main__":
    main()
