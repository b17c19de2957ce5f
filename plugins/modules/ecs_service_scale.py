#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ecs_service_scale
short_description: Scale an ECS service's workers to a desired count behind a typed confirmation
version_added: "0.1.0"
description:
  - Incident containment (queue saturation) - replaces C(pnpm worker:scale --replicas N).
  - Describes the service (fails with C(cluster_not_found), C(service_not_found) or
    C(service_not_active) before any write), refuses counts above O(max_desired_count), and
    refuses to change anything unless O(confirm) is exactly the service name.
  - Sets only the desired count (no new deployment, nothing else touched), then with O(wait)
    waits until the running count equals it, failing with C(scale_timeout) after O(wait_timeout).
  - Already at the desired count is C(changed=false) and needs no write.
  - Returns C(scale_workers status=ok desired=<n> previous=<n> running=<n>), the before/after
    diff and a receipt.
author:
  - signalcraft maintainers (@signalcraft)
options:
  cluster:
    description: The ECS cluster name or ARN.
    type: str
    required: true
  service:
    description: The ECS service name.
    type: str
    required: true
  desired_count:
    description: The number of tasks the service should run.
    type: int
    required: true
  confirm:
    description:
      - Must be exactly O(service) for anything to change (the operator types the service name).
      - Not needed in check mode, which only plans.
    type: str
  max_desired_count:
    description: Refuse a O(desired_count) above this ceiling (a typo guard from the inventory).
    type: int
  wait:
    description: Wait until the running count equals O(desired_count).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait before failing with C(scale_timeout).
    type: int
    default: 600
  poll_interval:
    description: Seconds between describe calls while waiting.
    type: float
    default: 10
extends_documentation_fragment:
  - signalcraft.ops.aws
  - signalcraft.ops.receipt
attributes:
  check_mode:
    support: full
    description: Describes the service and returns the plan and diff; writes nothing and needs no confirmation.
  diff_mode:
    support: full
    description: The desired count before and after.
seealso:
  - module: signalcraft.ops.rds_failover
"""

EXAMPLES = r"""
- name: Scale the workers to 6 (the operator confirms with the service name)
  signalcraft.ops.ecs_service_scale:
    cluster: jobintel
    service: jobintel-workers
    desired_count: 6
    confirm: "{{ containment_confirm }}"
    max_desired_count: 20
    wait_timeout: 900
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
reason:
  description:
    - The stable reason token, or null. C(confirmation_missing), C(cluster_not_found), C(service_not_found),
      C(service_not_active), C(invalid_desired_count), C(desired_count_above_max), C(scale_timeout), C(aws_error).
  returned: always
  type: str
token_line:
  description: The stable status line.
  returned: always
  type: str
  sample: scale_workers status=ok desired=6 previous=2 running=6
previous_desired_count:
  description: The desired count before this run.
  returned: when the service was described
  type: int
service:
  description: The service's state after the run (arn, status, desired, running and pending counts, rollout state).
  returned: when the service was described
  type: dict
receipt:
  description: A receipt.v1 document (operation C(containment), phase C(scale_workers)).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import containment
from ansible_collections.signalcraft.ops.plugins.module_utils.core import guards
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage.containment import ContainmentError


def run(module, factory):
    params = module.params
    if not module.check_mode:
        guards.require_confirmation(params["confirm"], params["service"], "confirm")
    ecs = factory.client("ecs")
    state = containment.describe_service(ecs, params["cluster"], params["service"])
    plan = containment.plan_scale(state, params["desired_count"], params["max_desired_count"])
    result = {"changed": plan["changed"], "diff": {"before": plan["before"], "after": plan["after"]},
              "previous_desired_count": state["desired_count"], "service": state}
    if module.check_mode:
        result.update(status="planned", reason=None, token_line=containment.scale_line(
            "planned", desired=params["desired_count"], previous=state["desired_count"]))
        return result
    if plan["changed"]:
        state = containment.scale_service(ecs, params["cluster"], params["service"], params["desired_count"])
    if params["wait"]:
        try:
            state = containment.wait_for_running(ecs, params["cluster"], params["service"], params["desired_count"],
                                                 params["wait_timeout"], params["poll_interval"])
        except ContainmentError as exc:
            exc.details.update(changed=plan["changed"], previous=result["previous_desired_count"])
            raise
    result.update(status="ok", reason=None, service=state, token_line=containment.scale_line(
        "ok", state=state if params["wait"] else None, previous=result["previous_desired_count"], desired=params["desired_count"]))
    return result


def main():
    argument_spec = aws.aws_argument_spec()
    argument_spec.update(
        cluster=dict(type="str", required=True),
        service=dict(type="str", required=True),
        desired_count=dict(type="int", required=True),
        confirm=dict(type="str"),
        max_desired_count=dict(type="int"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
        poll_interval=dict(type="float", default=10.0),
        execution_id=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(aws.BOTO3_IMPORT_ERROR))
    params = module.params
    started = receipts.utc_now()
    factory = aws.AwsClientFactory.from_params(params)
    detail, result = None, None
    try:
        result = run(module, factory)
    except (guards.GuardError, ContainmentError) as exc:
        details = getattr(exc, "details", {})
        result = {"status": "fail", "reason": exc.reason, "changed": details.get("changed", False),
                  "token_line": containment.scale_line("fail", exc.reason, state=details.get("state"), desired=params["desired_count"])}
        if "state" in details:
            result.update(service=details["state"], previous_desired_count=details.get("previous"))
        detail = exc.message
    except aws.AWS_ERRORS + (ValueError,) as exc:
        detail = aws.describe_error(exc, "scaling ECS service %s" % params["service"])
        result = {"status": "fail", "reason": "aws_error", "changed": False, "token_line": containment.scale_line("fail", "aws_error")}
    inputs = {k: params[k] for k in ("cluster", "service", "desired_count", "max_desired_count", "wait", "wait_timeout", "region")}
    inputs.update(confirmed=params["confirm"] == params["service"], check_mode=module.check_mode)
    result["receipt"] = receipts.build(
        "containment", "scale_workers", "failed" if result["status"] == "fail" else "success",
        receipts.execution_id(params["execution_id"], "containment", started), started, inputs=inputs,
        outputs={k: v for k, v in result.items() if k not in ("diff", "receipt")}, failure_code=result["reason"],
        message=detail, attempts=1 + factory.retries, changed=result["changed"], module="signalcraft.ops.ecs_service_scale",
    )
    if result["status"] == "fail":
        module.fail_json(msg="%s: %s" % (result["token_line"], detail), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
