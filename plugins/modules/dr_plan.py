#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_plan
short_description: Plan the DR drill's phases (run or skip, and why) and settle its run id and receipt directory
version_added: "0.1.0"
description:
  - A pure function of the drill's inputs (C(plugins/module_utils/runbooks/dr/phases.py)); reads the phase receipts already in
    O(receipt_dir) to continue a drill (the cost-discipline sequence reuses one receipt directory).
  - The run id is O(run_id), else the one recorded by earlier phase receipts in O(receipt_dir), else a new
    C(dr-<UTC timestamp>). A run id that differs from the receipts' is refused.
  - Refuses (C(reason) token, nothing has run) a plan that contradicts itself (C(invalid_plan)), a full drill
    without O(allow_full_drill) (C(full_drill_not_allowed)), O(auto_promote) without O(allow_promote_bypass)
    (C(promote_bypass_not_allowed)), a malformed run id (C(run_id_invalid)) and a run id other than the one the
    receipt directory records (C(run_id_mismatch)). A refusal still returns C(outputs.run_id) and
    C(outputs.receipt_dir) so the caller can write its receipt.
  - Returns C(dr_plan status=ok run_id=<id> runs=<phase>+<phase>...).
author:
  - signalcraft maintainers (@signalcraft)
options:
  start_at:
    description: First phase to run.
    type: str
    choices: [bringup, restore, validate, promote, teardown]
  stop_after:
    description: Last phase to run (none = through teardown).
    type: str
    choices: [bringup, restore, validate, promote, teardown]
  validate_only:
    description: Run exactly the validate phase.
    type: bool
    default: false
  teardown:
    description: Run the teardown phase when the plan reaches it.
    type: bool
    default: true
  allow_full_drill:
    description: Allow a full drill (start at bringup, no stop_after, teardown).
    type: bool
    default: false
  auto_promote:
    description: Promote without the manual gate (rehearsals only).
    type: bool
    default: false
  allow_promote_bypass:
    description: Allow O(auto_promote).
    type: bool
    default: false
  run_id:
    description: The drill's run id.
    type: str
  receipt_dir:
    description: The drill's receipt directory. Default C(<receipt_root>/<run_id>).
    type: path
  receipt_root:
    description: Where receipt directories of new drills go.
    type: path
    required: true
  max_attempts:
    description: Caps attempts per phase (validate is still bounded by O(validate_max_retries) + 1).
    type: int
  no_retry:
    description: No retries in any phase.
    type: bool
    default: false
  validate_max_retries:
    description: Extra validate attempts allowed (E(DR_VALIDATE_MAX_RETRIES)).
    type: int
    default: 2
extends_documentation_fragment:
  - signalcraft.ops.receipt
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Nothing changes.
"""

EXAMPLES = r"""
- name: Plan a restore-only iteration in an existing receipt directory
  signalcraft.ops.dr_plan:
    start_at: restore
    stop_after: restore
    teardown: false
    receipt_dir: /var/lib/signalcraft/receipts/dr-20260101t000000z
    receipt_root: /var/lib/signalcraft/receipts
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
      description: Each phase with C(action) (run or skip), C(reason) and C(keep_receipt) (an earlier receipt is kept).
      returned: always
      type: list
      elements: dict
    run_id:
      description: The drill's run id (null when the run id itself was refused).
      returned: always
      type: str
    run_id_source:
      description: C(given), C(receipt_dir) or C(generated).
      returned: success
      type: str
    receipt_dir:
      description: The drill's receipt directory.
      returned: always
      type: str
    kubeconfig:
      description: Where bringup saves (and later phases read) the DR cluster's kubeconfig.
      returned: success
      type: str
    full_drill:
      description: Whether this is a full drill.
      returned: success
      type: bool
    validate_retries:
      description: Extra validate attempts allowed after O(max_attempts) and O(no_retry).
      returned: success
      type: int
    existing:
      description: Phase -> status of the receipts already in the receipt directory.
      returned: always
      type: dict
    start_at:
      description: The first phase of the plan (V(validate) with O(validate_only)).
      returned: success
      type: str
    stop_after:
      description: The last phase of the plan, or null for all phases.
      returned: success
      type: str
"""

import glob
import json
import os

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import phases

CHOICES = list(phases.DRILL_PHASES)

ARGUMENT_SPEC = dict(
    start_at=dict(type="str", choices=CHOICES),
    stop_after=dict(type="str", choices=CHOICES),
    validate_only=dict(type="bool", default=False),
    teardown=dict(type="bool", default=True),
    allow_full_drill=dict(type="bool", default=False),
    auto_promote=dict(type="bool", default=False),
    allow_promote_bypass=dict(type="bool", default=False),
    run_id=dict(type="str"),
    receipt_dir=dict(type="path"),
    receipt_root=dict(type="path", required=True),
    max_attempts=dict(type="int"),
    no_retry=dict(type="bool", default=False),
    validate_max_retries=dict(type="int", default=2),
)


def existing_receipts(receipt_dir):
    found = {}
    for path in sorted(glob.glob(os.path.join(receipt_dir or "", "phases", "*.json"))):
        try:
            with open(path) as handle:
                document = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and document.get("phase"):
            found[document["phase"]] = document
    return found


def run(ops):
    p = ops.params
    existing = existing_receipts(p["receipt_dir"])
    generated = "dr-%s" % receipts.utc_now().strftime("%Y%m%dt%H%M%Sz")
    existing_status = dict((k, v.get("status")) for k, v in existing.items())
    try:
        run_id, source = phases.resolve_run_id(p["run_id"], [r.get("execution_id") for r in existing.values()], generated)
    except OpsError as exc:
        # `existing` tells the drill that receipt_dir already holds a run's receipts, which a refusal must not overwrite.
        exc.details.update(run_id=None, receipt_dir=p["receipt_dir"], phases=[], existing=existing_status)
        raise
    receipt_dir = p["receipt_dir"] or os.path.join(p["receipt_root"], run_id)
    outputs = dict(run_id=run_id, run_id_source=source, receipt_dir=receipt_dir,
                   kubeconfig=os.path.join(receipt_dir, "kubeconfig.yaml"), existing=existing_status, phases=[])
    try:
        plan = phases.plan(p["start_at"], p["stop_after"], p["validate_only"], p["teardown"], p["allow_full_drill"],
                           p["auto_promote"], p["allow_promote_bypass"])
        outputs["validate_retries"] = phases.retry_budget(p["validate_max_retries"], p["max_attempts"], p["no_retry"])
    except OpsError as exc:
        exc.details.update(outputs, line=[("run_id", run_id)])
        raise
    for entry in plan["phases"]:
        entry["keep_receipt"] = phases.skipped_receipt_kept(entry, existing_status.get(entry["phase"]))
    outputs.update(phases=plan["phases"], full_drill=plan["full_drill"], start_at=plan["start_at"], stop_after=plan["stop_after"])
    runs = "+".join(e["phase"] for e in plan["phases"] if e["action"] == "run") or "none"
    return dict(changed=False, outputs=outputs, line=[("run_id", run_id), ("runs", runs)])


def main():
    OpsModule(ARGUMENT_SPEC, operation="dr_drill", phase="plan", status_key="dr_plan").run(run)


if __name__ == "__main__":
    main()
