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
    runbook's ordered phases, the operator's O(start_at), O(stop_after) and O(resume), the runbook's
    own O(skips), O(guards) and O(policy), and the receipts already in the execution's directory.
  - Settles the execution. Its id is O(run_id), else the one the receipts in an explicit
    O(receipt_dir) record, else a new one; its directory is O(receipt_dir), else
    C(<receipt_root>/<execution id>); phase receipts are in O(phase_dir) below it.
  - With O(resume=true) every phase whose receipt says C(success) is skipped and its recorded
    outputs are returned in RV(outputs.handoff) so later phases get the same handoff as in the
    original run; the first phase that did not succeed runs again.
  - Refuses (C(phase_unknown), C(phase_order_invalid), C(plan_invalid), C(nothing_to_run),
    C(run_id_mismatch) and the O(policy)'s own tokens) before anything runs. A refusal still returns
    RV(outputs.execution_id), RV(outputs.receipt_dir) and RV(outputs.existing) so the engine can record it.
  - Reads only local files; the same in check mode.
options:
  start_at:
    description: Start at this phase; earlier phases are skipped and keep their receipts.
    type: str
  stop_after:
    description: Stop after this phase; later phases are skipped.
    type: str
  resume:
    description: Skip the phases the receipts record as successful and start at the first that is not.
    type: bool
    default: false
  check_mode_skips:
    description: Phase -> why it cannot run in check mode (it needs what an earlier phase would create).
    type: dict
    default: {}
  skips:
    description:
      - Phase -> why the runbook's inputs leave it out (C(teardown=false)); skipped wherever it falls
        between start_at and stop_after.
    type: dict
    default: {}
  guards:
    description:
      - Phases that check before anything changes. They run whenever another phase runs (also on
        resume and after start_at) and are not targets of start_at or stop_after.
    type: list
    elements: str
    default: []
  receipt_dir:
    description:
      - The execution's directory, to continue an earlier execution (its receipts name the id). Empty
        for C(<receipt_root>/<execution id>).
    type: path
    required: false
  receipt_root:
    description: Where the directory of a new execution goes (needed without O(receipt_dir)).
    type: path
  phase_dir:
    description: Subdirectory of the execution's directory that holds the phase receipts (empty for the directory itself).
    type: str
    default: ""
  run_id:
    description: The execution id the operator gave (empty to take it from O(receipt_dir) or make a new one).
    type: str
  policy:
    description:
      - The runbook's own planning rules (in C(plugins/module_utils/runbooks/)), which turn
        O(policy_inputs) into start_at/stop_after, skips, refusals, the id form and facts for the phases.
      - C(dr_drill) is the DR drill's (validate_only, teardown, allow_full_drill, auto_promote, retries).
      - C(dr_failback) is the DR failback's (teardown, dry_run).
    type: str
    choices: [dr_drill, dr_failback]
  policy_inputs:
    description: The runbook's inputs the O(policy) reads.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: Read-only; phases listed in O(check_mode_skips) are planned as skipped.
extends_documentation_fragment: [signalcraft.ops.receipt, signalcraft.ops.read_only, signalcraft.ops.runbook]
"""

EXAMPLES = r"""
- name: Plan the daily run
  signalcraft.ops.runbook_plan:
    runbook: daily
    phases: [verify, deploy, run_once, publish, verify_ops, provenance]
    stop_after: run_once
    receipt_root: "{{ signalcraft_receipt_root }}"
    run_id: "{{ signalcraft_execution_id }}"

- name: Plan a restore-only iteration of the DR drill in an earlier drill's directory
  signalcraft.ops.runbook_plan:
    runbook: dr_drill
    phases: [guards, bringup, restore, validate, promote, teardown]
    guards: [guards]
    start_at: restore
    stop_after: restore
    receipt_dir: /var/lib/signalcraft/receipts/dr-20260101t000000z
    phase_dir: phases
    policy: dr_drill
    policy_inputs: {teardown: false}
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
      description: "C({phase, action: run|skip, reason, keep_receipt, guard}) per phase, in order (empty when refused)."
      type: list
      elements: dict
    handoff:
      description:
        - "For phases skipped on resume or start_at, C({phase: {status, outputs, receipt_path}}) from their
          receipts; the action plugin merges it into the fact C(signalcraft_results)."
      type: dict
    execution_id:
      description: The execution id (null when the id itself was refused).
      type: str
    execution_id_source:
      description: C(given), C(receipt_dir) or C(generated).
      type: str
      returned: success
    receipt_dir:
      description: The execution's directory.
      type: str
    phase_dir:
      description: Where the phase receipts are.
      type: str
    existing:
      description: Phase -> status of the receipts already there.
      type: dict
    start_at:
      description: The first phase the plan starts at (after the O(policy)), or null.
      type: str
      returned: success
    stop_after:
      description: The last phase, or null for all.
      type: str
      returned: success
    policy:
      description: The O(policy)'s facts for the phases (the drill's C(full_drill), C(validate_retries)).
      type: dict
"""

import os

from ansible_collections.signalcraft.ops.plugins.module_utils.core import phases as engine
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import failback as dr_failback
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import phases as dr_phases

# A runbook's own planning rules, named explicitly by the runbook (option policy): its refusals,
# its skips and the facts its phases read. The engine consumes their data; it knows no runbook.
POLICIES = {"dr_drill": dr_phases.ENGINE, "dr_failback": dr_failback.ENGINE}

ARGUMENT_SPEC = dict(
    runbook=dict(type="str", required=True),
    phases=dict(type="list", elements="str", required=True),
    start_at=dict(type="str"),
    stop_after=dict(type="str"),
    resume=dict(type="bool", default=False),
    check_mode_skips=dict(type="dict", default={}),
    skips=dict(type="dict", default={}),
    guards=dict(type="list", elements="str", default=[]),
    receipt_dir=dict(type="path"),
    receipt_root=dict(type="path"),
    phase_dir=dict(type="str", default=""),
    run_id=dict(type="str"),
    policy=dict(type="str", choices=sorted(POLICIES)),
    policy_inputs=dict(type="dict", default={}),
)


def run(ops):
    params = ops.params
    policy = POLICIES.get(params["policy"]) or {}
    if not params["receipt_dir"] and not params["receipt_root"]:
        raise OpsError("plan_invalid", "neither a receipt directory nor a receipt root is set; set -e receipt_dir or "
                                       "signalcraft_receipt_root.")
    # An explicit receipt directory may hold an earlier run of this execution: its receipts name the id.
    given_dir = params["receipt_dir"]
    recorded = engine.read_receipts(os.path.join(given_dir, params["phase_dir"]), params["phases"]) if given_dir else {}
    now = receipts.utc_now()
    generated = policy["new_execution_id"](now) if policy else "%s-%s" % (params["runbook"], now.strftime("%Y%m%dT%H%M%SZ"))
    resolve = policy.get("resolve_execution_id") or engine.resolve_execution_id
    refused = dict(execution_id=None, receipt_dir=given_dir, phase_dir=None, phases=[], handoff={},
                   existing={name: receipt.get("status") for name, receipt in recorded.items()}, policy={})
    try:
        execution_id, source = resolve(params["run_id"], [r.get("execution_id") for r in recorded.values()], generated)
    except OpsError as exc:
        # `existing` tells the engine the directory already holds a run, whose receipts a refusal must not overwrite.
        exc.details.update(refused)
        raise
    run_dir = given_dir or os.path.join(params["receipt_root"], execution_id)
    phase_dir = os.path.join(run_dir, params["phase_dir"]) if params["phase_dir"] else run_dir
    if not given_dir:
        recorded = engine.read_receipts(phase_dir, params["phases"])
    existing = {name: receipt.get("status") for name, receipt in recorded.items()}
    refused.update(execution_id=execution_id, receipt_dir=run_dir, phase_dir=phase_dir, existing=existing)
    start_at, stop_after, skips, facts = params["start_at"] or None, params["stop_after"] or None, dict(params["skips"]), {}
    try:
        if policy:
            ruled = policy["rules"](params["policy_inputs"], start_at, stop_after)
            start_at, stop_after, facts = ruled["start_at"], ruled["stop_after"], ruled["facts"]
            skips.update(ruled["skips"])
        entries = engine.plan(params["phases"], start_at, stop_after, params["resume"], existing,
                              params["check_mode_skips"], ops.check_mode, skips=skips, guards=params["guards"])
    except OpsError as exc:
        exc.details.update(refused, line=[("run_id", execution_id)])
        raise
    results = {}
    for entry in entries:
        receipt = recorded.get(entry["phase"])
        # Only a receipt that exists is kept; a phase never run before gets its skipped receipt.
        entry["keep_receipt"] = bool(entry["keep_receipt"] and receipt is not None)
        if entry["keep_receipt"] and receipt.get("status") == "success":
            results[entry["phase"]] = {"status": "ok", "outputs": receipt.get("outputs") or {},
                                       "receipt_path": os.path.join(phase_dir, "%s.json" % entry["phase"])}
    runs = [e["phase"] for e in entries if e["action"] == "run"]
    skipped = [e["phase"] for e in entries if e["action"] == "skip"]
    line = [("run", ",".join(runs))] + ([("skip", ",".join(skipped))] if skipped else []) + [("run_id", execution_id)]
    return dict(outputs=dict(refused, phases=entries, handoff=results, execution_id_source=source, start_at=start_at,
                             stop_after=stop_after, policy=facts), line=line)


def main():
    OpsModule(ARGUMENT_SPEC, operation="runbook", phase="plan").run(run)


if __name__ == "__main__":
    main()
