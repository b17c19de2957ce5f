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
    O(phase_dir) and writes C(<receipt_dir>/<runbook>.summary.json) (or O(summary_file)) - status per
    phase, what was skipped and why, the failed phase and its token, durations. The summary is
    derived, never kept separately, so a resumed run's summary tells the whole execution.
  - With O(derive), the runbook's own summary document is derived from every receipt in O(phase_dir)
    instead (C(dr_drill) - the drill's C(dr_drill_summary.v1) with the promotion, the bundle and the
    runner count after teardown; its line names the C(run_id), and check mode says C(status=planned)).
  - With O(s3_bucket), the summary is also copied to C(s3://<s3_bucket>/<s3_prefix>/<execution_id>/<file>); a drill's
    (O(derive=dr_drill)) also gets its entry in C(<s3_prefix>/index/dr_drill/), which C(dr_status.yml) lists.
  - An identical summary already on disk and in S3 is left alone (C(changed=false)).
  - Fails with the failed phase's token (the summary is written first), so the run ends with that line.
  - A derived summary's C(warnings) (the drill's C(rpo_target_missed), C(rto_target_missed)) make the line
    C(status=warn reason=<first warning>); the task does not fail (the run recovered; it missed a target).
  - Writes nothing in check mode.
  - This module replaces C(signalcraft.ops.dr_summary), which redirects here.
options:
  receipt_dir:
    description: The execution's directory, where the summary is written.
    type: path
    required: true
  phase_dir:
    description: Subdirectory of O(receipt_dir) that holds the phase receipts (empty for O(receipt_dir) itself).
    type: str
    default: ""
  outcomes:
    description:
      - Phase -> C({status, reason}) as the engine saw it, standing in for receipts that were not
        written (check mode writes none).
    type: dict
    default: {}
  summary_file:
    description: The summary's file name (empty for C(<runbook>.summary.json)).
    type: str
    default: ""
  derive:
    description: The runbook whose own summary document is derived (in C(plugins/module_utils/runbooks/)).
      - C(dr_failback) - the failback's C(dr_failback_summary.v1) and, beside it, C(state_transitions.log) (one line per
        gate and per state moved, with its time).
    type: str
    choices: [dr_drill, dr_failback]
  derive_inputs:
    description:
      - Inputs of the O(derive) summary that no receipt holds. For C(dr_drill), the inventory's targets
        C(rpo_target_minutes) and C(rto_target_minutes) (empty or 0 for none); a missed target is a warning.
    type: dict
    default: {}
  s3_bucket:
    description: Receipt bucket for the S3 copy (empty for none).
    type: str
  s3_prefix:
    description: Key prefix of the S3 copy.
    type: str
    default: receipts
attributes:
  check_mode:
    support: full
    description: Builds the summary and returns it; writes no file and no object.
  diff_mode:
    support: none
    description: The summary is a derived record, not managed state.
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.runbook]
"""

EXAMPLES = r"""
- name: Summarize the daily run from its receipts
  signalcraft.ops.runbook_summary:
    runbook: daily
    phases: [verify, deploy, run_once, publish, verify_ops, provenance]
    receipt_dir: "{{ signalcraft_receipt_root }}/{{ signalcraft_execution_id }}"

- name: Summarize a DR drill into drill.summary.json and copy it to the receipt bucket
  signalcraft.ops.runbook_summary:
    runbook: dr_drill
    phases: [guards, bringup, restore, validate, promote, teardown]
    receipt_dir: /var/lib/signalcraft/receipts/dr-20260101t000000z
    phase_dir: phases
    summary_file: drill.summary.json
    derive: dr_drill
    s3_bucket: my-receipts
"""

RETURN = r"""
status:
  description:
    - C(ok) when no phase failed, else C(fail) with the failed phase's token as C(reason) (the task
      fails, so the run ends with that line). With O(derive=dr_drill), C(planned) in check mode, and
      C(warn) (reason C(rpo_target_missed) or C(rto_target_missed)) when the drill missed a target.
  returned: always
  type: str
outputs:
  description: The summary.
  returned: always
  type: dict
  contains:
    summary:
      description: The C(runbook_summary.v1) document (with O(derive), the runbook's own, e.g. C(dr_drill_summary.v1)).
      type: dict
    path:
      description: Where it was written (null in check mode).
      type: str
    files:
      description: Further records the O(derive) keeps beside the summary (C(dr_failback) - C(state_transitions.log)).
      returned: with derive=dr_failback and not check mode
      type: list
      elements: str
    s3_uri:
      description: The S3 copy.
      returned: when s3_bucket and not check mode
      type: str
    index_uri:
      description:
        - The runbook's index entry beside the receipts (C(<s3_prefix>/index/dr_drill/<start>-<run_id>.json) - run id, status,
          recovery point and time; what C(dr_status.yml) lists for the last drills).
      returned: with derive=dr_drill, s3_bucket and not check mode
      type: str
"""

import json
import os

from ansible_collections.signalcraft.ops.plugins.module_utils.core import phases as engine
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import failback as dr_failback
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import phases as dr_phases
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_transfer
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

# Runbooks whose summary document is their own, named explicitly by the runbook (option derive).
DERIVES = {"dr_drill": dr_phases.ENGINE, "dr_failback": dr_failback.ENGINE}

ARGUMENT_SPEC = dict(
    runbook=dict(type="str", required=True),
    phases=dict(type="list", elements="str", required=True),
    receipt_dir=dict(type="path", required=True),
    phase_dir=dict(type="str", default=""),
    outcomes=dict(type="dict", default={}),
    summary_file=dict(type="str", default=""),
    derive=dict(type="str", choices=sorted(DERIVES)),
    derive_inputs=dict(type="dict", default={}),
    s3_bucket=dict(type="str"),
    s3_prefix=dict(type="str", default="receipts"),
)


def _failure(summary, recorded):
    """(failed phase, token, its message) of a summary of either kind."""
    phase = summary.get("failed_phase")
    if not phase:
        return None, None, None
    reason = summary.get("reason", summary.get("failure_code")) or "phase_failed"
    return phase, reason, (recorded.get(phase) or {}).get("message")


def run(ops):
    params = ops.params
    # The run's own line starts with the runbook's name, not with "summary".
    ops.status_key = params["runbook"]
    derive = DERIVES.get(params["derive"]) or {}
    phase_dir = os.path.join(params["receipt_dir"], params["phase_dir"]) if params["phase_dir"] else params["receipt_dir"]
    if derive:
        # Every receipt of the execution, also those of steps outside the plan (an approval, a bootstrap publish).
        recorded = engine.read_receipts(phase_dir, strict=True)
        summary = derive["summarize"](ops.execution_id, recorded, params["receipt_dir"], params["derive_inputs"])
    else:
        recorded = engine.read_receipts(phase_dir, params["phases"])
        summary = engine.summarize(params["runbook"], ops.execution_id, params["phases"], recorded, params["receipt_dir"],
                                   params["outcomes"])
    if ops.check_mode and derive:
        # No receipt was written: the outcomes the engine saw say whether a phase failed.
        failed_phase, reason, message = _failure(engine.summarize(
            params["runbook"], ops.execution_id, params["phases"], {}, None, params["outcomes"]), {})
    else:
        failed_phase, reason, message = _failure(summary, recorded)
    line = [(derive.get("id_field", "execution_id"), ops.execution_id)]
    if not derive:
        line += [("ran", len(summary["ran"])), ("skipped", len(summary["skipped"]))]
    if failed_phase:
        line.append(("failed_phase", failed_phase))
    path = os.path.join(params["receipt_dir"], params["summary_file"] or "%s.summary.json" % params["runbook"])
    outputs = {"summary": summary, "path": None}
    changed = False
    if not ops.check_mode and recorded:
        body = (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode("utf-8")
        changed = receipts.write_if_changed(path, body)
        outputs["path"] = path
        # Further records a derive keeps beside its summary (failback's state_transitions.log), from the same receipts.
        for name, text in sorted((derive.get("files") or (lambda _recorded: {}))(recorded).items()):
            changed = receipts.write_if_changed(os.path.join(params["receipt_dir"], name), text.encode("utf-8")) or changed
            outputs.setdefault("files", []).append(os.path.join(params["receipt_dir"], name))
        line.append(("summary", path))
        if params["s3_bucket"]:
            key = "/".join(x for x in ((params["s3_prefix"] or "").strip("/"), ops.execution_id, os.path.basename(path)) if x)
            outputs["s3_uri"] = "s3://%s/%s" % (params["s3_bucket"], key)
            try:
                changed = s3_transfer.put_if_changed(ops.client("s3"), params["s3_bucket"], key, body) or changed
                # The runbook's index entry (the drill's: what dr_status.yml lists side by side), next to the receipts.
                entry = (derive.get("index") or (lambda _summary: None))(summary)
                if entry:
                    index_key = "/".join(x for x in ((params["s3_prefix"] or "").strip("/"), "index", params["runbook"], entry[0]) if x)
                    index_body = (json.dumps(entry[1], indent=2, sort_keys=True) + "\n").encode("utf-8")
                    changed = s3_transfer.put_if_changed(ops.client("s3"), params["s3_bucket"], index_key, index_body) or changed
                    outputs["index_uri"] = "s3://%s/%s" % (params["s3_bucket"], index_key)
            except OpsError as exc:
                exc.changed_so_far = exc.changed_so_far or changed
                exc.details = dict(outputs, **exc.details)
                raise
    status = "ok"
    if failed_phase:
        status = "fail"
        message = "%s failed: %s (%s); %s" % (failed_phase, reason, message or "no message", (
            "receipts in %s" % phase_dir) if recorded and not ops.check_mode else "check mode wrote no receipts")
    elif ops.check_mode and derive:
        status = "planned"
    elif summary.get("warnings"):
        # A missed objective is reported, not failed: the drill recovered, too slowly or from stale data.
        status, reason = "warn", summary["warnings"][0]["reason"]
        message = "; ".join(w["message"] for w in summary["warnings"])
        return dict(status=status, reason=reason, changed=changed, message=message, outputs=outputs, line=line,
                    warnings=[message])
    return dict(status=status, reason=reason if failed_phase else None, changed=changed, message=message if failed_phase else None,
                outputs=outputs, line=line)


def main():
    OpsModule(ARGUMENT_SPEC, operation="runbook", phase="summary", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
