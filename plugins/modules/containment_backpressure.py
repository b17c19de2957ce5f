#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: containment_backpressure
version_added: "0.2.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Turn the ingestion gateway's backpressure on or off behind a typed confirmation, or roll it back
description:
  - Incident containment (queue saturation) - the runbook's "enable backpressure via the ingestion gateway toggle".
  - The toggle is the SSM Parameter Store C(String) parameter O(parameter) that the gateway reads, holding
    O(on_value) or O(off_value). It must exist (it is provisioned with the gateway; C(parameter_not_found)
    otherwise) and hold one of the two values (C(parameter_value_unexpected) otherwise), both checked before any write.
  - Refuses to change anything unless O(confirm) is exactly O(parameter) (checked before any AWS call).
  - Writes one new version (PutParameter with Overwrite, sending only the name, the value and the type C(String);
    never a description, pattern, tier or policy) and reads exactly that version back. A parameter already at the wanted value is C(changed=false) and gets
    no new version (Parameter Store would add one for every write, even of the same value).
  - With O(rollback_of), restores the value the run of that execution id found, from its receipt.
  - Returns C(backpressure status=ok action=<apply|rollback> value=<now> previous=<before> version=<n> execution_id=<id>),
    the diff and a receipt (operation C(containment), phase C(backpressure)). Check mode returns C(status=planned)
    and writes nothing.
options:
  parameter:
    description: The SSM parameter the gateway reads (e.g. C(/author/prod/ingestion/backpressure)).
    type: str
    required: true
  state:
    description: C(enabled) writes O(on_value), C(disabled) writes O(off_value). Default C(enabled) unless O(rollback_of) is given.
    type: str
    choices: [enabled, disabled]
  on_value:
    description: The value that turns backpressure on for the gateway.
    type: str
    default: "on"
  off_value:
    description: The value that turns backpressure off for the gateway.
    type: str
    default: "off"
attributes:
  check_mode:
    support: full
    description: Reads the parameter (and a rollback's receipt) and returns the plan and diff; writes nothing and needs no confirmation.
  diff_mode:
    support: full
    description: The parameter's value before and after.
seealso:
  - module: signalcraft.ops.containment_queue
  - module: signalcraft.ops.containment_model_pin
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.containment_toggle]
"""

EXAMPLES = r"""
- name: Enable backpressure (the operator confirms with the parameter's name)
  signalcraft.ops.containment_backpressure:
    parameter: /author/prod/ingestion/backpressure
    state: enabled
    confirm: "{{ containment_confirm }}"
  register: backpressure

- name: Roll it back to what it was before execution incident-42 enabled it
  signalcraft.ops.containment_backpressure:
    parameter: /author/prod/ingestion/backpressure
    rollback_of: incident-42
    receipt_root: "{{ signalcraft_receipt_root }}"
    receipt_bucket: "{{ signalcraft_receipt_bucket }}"
    confirm: "{{ containment_confirm }}"
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: The parameter before and after.
  returned: always
  type: dict
  contains:
    action:
      description: C(apply) or C(rollback).
      returned: when the parameter was read
      type: str
    parameter:
      description: The parameter's name.
      returned: when the parameter was read
      type: str
    value:
      description: The value after the run (the planned value in check mode).
      returned: when the parameter was read
      type: str
    version:
      description: The parameter's version after the run (null in check mode).
      returned: when the parameter was read
      type: int
    previous_value:
      description: The value the run found; a rollback of this run restores it.
      returned: when the parameter was read
      type: str
    previous_version:
      description: The version the run found.
      returned: when the parameter was read
      type: int
    rolled_back_from:
      description: The execution id whose change a rollback undid (and where its receipt was read).
      returned: for a rollback
      type: dict
diff:
  description: The parameter's value before and after.
  returned: when the parameter was read
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.containment import backpressure, rollback
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import containment
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ssm as ssm_service
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    **rollback.argument_spec(),
    parameter=dict(type="str", required=True),
    state=dict(type="str", choices=list(backpressure.STATES)),
    on_value=dict(type="str", default="on"),
    off_value=dict(type="str", default="off"),
)
VARIABLE = "containment_backpressure_parameter"


def run(ops):
    params = ops.params
    name = ssm_service.validate_name(params["parameter"], VARIABLE)
    if not rollback.check_request(params, ops.execution_id, ("state", "containment_backpressure_state")):
        backpressure.validate_values(params["on_value"], params["off_value"])
    containment.require_confirmed(ops, name)
    ssm = ops.client("ssm")
    current = ssm_service.get_parameter(ssm, name, VARIABLE)
    outputs = {"parameter": name, "arn": current["arn"], "previous_value": current["value"], "previous_version": current["version"]}
    if params["rollback_of"]:
        recorded, outputs["rolled_back_from"] = rollback.recorded_for(ops, backpressure.PHASE, {"parameter": name})
        plan = backpressure.plan_rollback(current, recorded)
    else:
        plan = backpressure.plan_apply(current, params["state"] or "enabled", params["on_value"], params["off_value"])
        outputs["state"] = params["state"] or "enabled"
    outputs.update(action=plan["action"], value=plan["value"])
    diff = {"before": plan["before"], "after": plan["after"]}
    if ops.check_mode:
        outputs.update(version=None, would_change=plan["changed"])
        return dict(changed=plan["changed"], status="planned", outputs=outputs, diff=diff, line=rollback.parameter_line(outputs))
    after = backpressure.apply(ssm, current, plan["value"]) if plan["changed"] else current
    outputs.update(value=after["value"], version=after["version"])
    return dict(changed=plan["changed"], outputs=outputs, diff=diff, line=rollback.parameter_line(outputs, ops.execution_id))


def main():
    OpsModule(ARGUMENT_SPEC, operation="containment", phase=backpressure.PHASE, connections=[AwsConnection],
              receipt_inputs=["parameter", "state", "on_value", "off_value", "rollback_of", "region"]).run(run)


if __name__ == "__main__":
    main()
