#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: containment_model_pin
version_added: "0.2.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Pin the previous detector model version in SSM Parameter Store behind a typed confirmation, or roll the pin back
description:
  - Incident containment (detector model regressions) - the runbook's "pin previous model version by setting
    DETECTOR_MODEL_VERSION in SSM Parameter Store", the first half; the role then redeploys the workers with
    M(signalcraft.ops.ecs_service_update) (C(force_new_deployment)) when RV(outputs.redeploy_needed) says so.
  - O(parameter) is the SSM C(String) parameter the workers' task definition takes C(DETECTOR_MODEL_VERSION) from (its
    container's C(secrets), resolved by ECS when a task starts). The module checks that the service's current task
    definition references it (RV(outputs.taskdef_reads_parameter); a warning otherwise).
  - The version pinned is O(version) when given (it must be a value the parameter has held, C(model_version_unknown)
    otherwise), else the newest value in the parameter's history (GetParameterHistory) before the current one that
    differs from it (C(no_previous_model_version) when there is none).
  - The version written gets the label O(label), so a second run finds the pin in place and changes nothing; a rollback
    takes the label off again.
  - Acts only when O(confirm) is exactly O(parameter) (checked before any AWS call).
  - With O(rollback_of), re-pins the value that was current before the pin of that execution id (from its receipt).
  - Returns C(model_pin status=ok action=<apply|rollback> value=<pinned> previous=<before> version=<n> redeploy=<bool>
    execution_id=<id>), the diff and a receipt (operation C(containment), phase C(model_pin)). Check mode returns
    C(status=planned) and writes nothing.
options:
  parameter:
    description: The SSM parameter holding the detector model version (C(DETECTOR_MODEL_VERSION) of the workers).
    type: str
    required: true
  version:
    description: The model version to pin. Default the previous version from the parameter's history.
    type: str
  cluster:
    description: The ECS cluster of the worker service.
    type: str
    required: true
  service:
    description: The worker ECS service to be redeployed.
    type: str
    required: true
  label:
    description: The parameter label that marks a version written by a pin.
    type: str
    default: containment-pinned
attributes:
  check_mode:
    support: full
    description: Reads the parameter, its history and the service (and a rollback's receipt) and returns the plan; writes nothing.
  diff_mode:
    support: full
    description: The parameter's value before and after.
seealso:
  - module: signalcraft.ops.ecs_service_update
  - module: signalcraft.ops.containment_backpressure
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.containment_toggle]
"""

EXAMPLES = r"""
- name: Pin the previous detector model (the operator confirms with the parameter's name)
  signalcraft.ops.containment_model_pin:
    parameter: /author/prod/detector/DETECTOR_MODEL_VERSION
    cluster: author
    service: author-workers
    confirm: "{{ containment_confirm }}"
  register: pinned

- name: Redeploy the workers so new tasks read the pinned version
  signalcraft.ops.ecs_service_update:
    cluster: author
    service: author-workers
    task_definition: "{{ pinned.outputs.task_definition }}"
    force_new_deployment: true
  when: pinned.outputs.redeploy_needed
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: The parameter before and after, and what the workers need.
  returned: always
  type: dict
  contains:
    action:
      description: C(apply) or C(rollback).
      returned: when the parameter was read
      type: str
    value:
      description: The model version after the run (the planned one in check mode).
      returned: when the parameter was read
      type: str
    version:
      description: The parameter's version after the run (null in check mode).
      returned: when the parameter was read
      type: int
    previous_value:
      description: The model version that was current before; a rollback of this run re-pins it.
      returned: when the parameter was read
      type: str
    source:
      description: Where the pinned value came from - C(kind) C(explicit), C(history) (with the history C(version)) or C(pinned) (already in place).
      returned: for an apply
      type: dict
    labelled_version:
      description: The version this run labelled (null when it labelled none).
      returned: when the parameter was read
      type: int
    redeploy_needed:
      description: Whether the workers need a new deployment to run the value (the run wrote, or no deployment started after the parameter last changed).
      returned: when the parameter was read
      type: bool
    task_definition:
      description: The worker service's current task definition ARN (what the redeploy rolls out again).
      returned: when the parameter was read
      type: str
    taskdef_reads_parameter:
      description: The C([container, variable]) pairs of that task definition whose secrets come from the parameter.
      returned: when the parameter was read
      type: list
    rolled_back_from:
      description: The execution id whose pin a rollback undid (and where its receipt was read).
      returned: for a rollback
      type: dict
diff:
  description: The parameter's value before and after.
  returned: when the parameter was read
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import require_values
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.containment import model_pin, rollback
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import containment
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecs as ecs_service
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ssm as ssm_service
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    **rollback.argument_spec(),
    parameter=dict(type="str", required=True),
    version=dict(type="str"),
    cluster=dict(type="str", required=True),
    service=dict(type="str", required=True),
    label=dict(type="str", default=model_pin.PIN_LABEL),
)
VARIABLE = "containment_model_parameter"


def _line(outputs, execution_id=None):
    return rollback.parameter_line(outputs, execution_id, [("redeploy", outputs["redeploy_needed"])])


def _plan(ops, current, history, name):
    params = ops.params
    if not params["rollback_of"]:
        return model_pin.plan_apply(current, history, params["version"], params["label"]), None
    recorded, rolled_back_from = rollback.recorded_for(ops, model_pin.PHASE, {"parameter": name})
    return model_pin.plan_rollback(current, history, recorded, params["label"]), rolled_back_from


def run(ops):
    params = ops.params
    name = ssm_service.validate_name(params["parameter"], VARIABLE)
    ssm_service.validate_label(params["label"], "containment_model_label")
    require_values(params, ("cluster", "cluster is empty; set containment_ecs_cluster."),
                   ("service", "service is empty; set containment_model_service (default: containment_workers_service)."))
    rollback.check_request(params, ops.execution_id, ("version", "containment_model_version"))
    containment.require_confirmed(ops, name)

    ssm, ecs = ops.client("ssm"), ops.client("ecs")
    current = ssm_service.get_parameter(ssm, name, VARIABLE)
    history = ssm_service.history(ssm, name, VARIABLE)
    # Describing the service first means a wrong service fails before any write, not after the pin.
    service = ecs_service.describe_service(ecs, params["cluster"], params["service"])
    task_definition, _tags = ecs_service.describe_task_definition(ecs, service["taskDefinition"])
    readers = model_pin.reads_parameter(task_definition, name)
    plan, rolled_back_from = _plan(ops, current, history, name)
    warnings = []
    if not readers:
        warnings.append("the task definition %s takes no secret from %s: a redeploy picks the pinned version up only if the "
                        "worker reads the parameter itself" % (service["taskDefinition"], name))
    outputs = {"parameter": name, "arn": current["arn"], "action": plan["action"], "value": plan["value"],
               "previous_value": current["value"], "previous_version": current["version"], "label": params["label"],
               "labelled_version": None, "cluster": params["cluster"], "service": params["service"],
               "task_definition": service["taskDefinition"], "taskdef_reads_parameter": [list(r) for r in readers]}
    if plan.get("source"):
        outputs["source"] = plan["source"]
    if rolled_back_from:
        outputs["rolled_back_from"] = rolled_back_from
    writes = plan.get("write", plan["changed"])
    diff = {"before": plan["before"], "after": plan["after"]}
    if ops.check_mode:
        outputs.update(version=None, would_change=plan["changed"],
                       redeploy_needed=model_pin.redeploy_needed(writes, current["last_modified"], service))
        return dict(changed=plan["changed"], status="planned", outputs=outputs, diff=diff, line=_line(outputs), warnings=warnings)

    after = current
    if plan["action"] == rollback.APPLY and plan["changed"]:
        after = model_pin.apply(ssm, current, plan, params["label"])
        outputs["labelled_version"] = after["version"]
    elif plan["action"] == rollback.ROLLBACK and plan["changed"]:
        after = model_pin.apply_rollback(ssm, current, plan, params["label"])
    outputs.update(value=after["value"], version=after["version"],
                   redeploy_needed=model_pin.redeploy_needed(writes, after["last_modified"], service))
    return dict(changed=plan["changed"], outputs=outputs, diff=diff, warnings=warnings, line=_line(outputs, ops.execution_id))


def main():
    OpsModule(ARGUMENT_SPEC, operation="containment", phase=model_pin.PHASE, connections=[AwsConnection],
              receipt_inputs=["parameter", "version", "cluster", "service", "label", "rollback_of", "region"]).run(run)


if __name__ == "__main__":
    main()
