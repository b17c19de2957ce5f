#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ecs_service_update
short_description: Roll an ECS service to a task-definition revision and wait until it is stable
version_added: "0.1.0"
description:
  - Points an existing ECS service at O(task_definition) (UpdateService) unless it already runs that
    revision, then, with O(wait=true), polls until the service is stable as the AWS
    C(services_stable) waiter defines it - exactly one deployment and C(runningCount == desiredCount)
    - and its PRIMARY deployment runs O(task_definition).
  - Polls with exponential backoff from O(wait_delay) up to O(wait_max_delay) seconds and fails
    with reason C(wait_timeout) and the last observed deployments after O(wait_timeout) seconds.
    Fails at once with C(service_rollout_failed) when the deployment circuit breaker marks the
    rollout FAILED, and with C(service_not_found) when the service is missing, DRAINING or INACTIVE.
  - Never creates or deletes services, and changes nothing but the task definition.
author:
  - signalcraft maintainers (@signalcraft)
options:
  cluster:
    description:
      - The cluster name or ARN.
    type: str
    required: true
  service:
    description:
      - The service name or ARN.
    type: str
    required: true
  task_definition:
    description:
      - The revision to run, as C(family:revision) or ARN.
    type: str
    required: true
  force_new_deployment:
    description:
      - Start a new deployment even when the service already runs O(task_definition).
    type: bool
    default: false
  wait:
    description:
      - Wait until the service is stable on O(task_definition).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for stability before failing.
    type: int
    default: 600
  wait_delay:
    description:
      - Seconds between the first polls; grows by half each poll.
    type: float
    default: 15
  wait_max_delay:
    description:
      - Longest pause between polls, in seconds.
    type: float
    default: 30
extends_documentation_fragment:
  - signalcraft.ops.aws
  - signalcraft.ops.receipt
attributes:
  check_mode:
    support: full
    description: Describes the service and reports whether it would be updated; updates and waits for nothing.
  diff_mode:
    support: full
    description: Shows the service's task definition before and after.
seealso:
  - module: signalcraft.ops.ecs_taskdef_deploy
"""

EXAMPLES = r"""
- name: Roll the service to the new revision and wait up to 10 minutes
  signalcraft.ops.ecs_service_update:
    cluster: jobintel
    service: jobintel-dashboard
    task_definition: "{{ deployed.task_definition_arn }}"
    wait_timeout: 600
"""

RETURN = r"""
service_arn:
  description: The service's ARN.
  returned: always
  type: str
task_definition:
  description: The revision the service runs after this task (what it would run, in check mode).
  returned: always
  type: str
previous_task_definition:
  description: The revision the service ran before.
  returned: always
  type: str
stable:
  description: Whether the service was seen stable on O(task_definition). Null when not waited for.
  returned: always
  type: bool
waited_s:
  description: Seconds spent waiting.
  returned: always
  type: float
polls:
  description: DescribeServices calls made while waiting.
  returned: always
  type: int
service:
  description: The last observed state - counts, deployments (id, status, task definition, counts, rollout state) and recent events.
  returned: always
  type: dict
reason:
  description: The stable failure token (C(wait_timeout), C(service_rollout_failed), C(service_not_found), C(aws_error)).
  returned: on failure
  type: str
attempts:
  description: API call attempts beyond the first (throttling retries) plus one.
  returned: always
  type: int
receipt:
  description: A receipt.v1 document (operation C(deploy), phase C(service)) for M(signalcraft.ops.receipt).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecs
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError

_INPUTS = ("cluster", "service", "task_definition", "force_new_deployment", "wait", "wait_timeout", "region", "endpoint_url")


def run(module, client, result):
    params = module.params
    changed, before, after = ecs.update_service(client, params["cluster"], params["service"], params["task_definition"],
                                                params["force_new_deployment"], module.check_mode)
    result.update(changed=changed, service_arn=before["service_arn"], previous_task_definition=before["task_definition"],
                  task_definition=after["task_definition"], service=after)
    if module._diff:
        result["diff"] = {"before": {"task_definition": before["task_definition"]}, "after": {"task_definition": after["task_definition"]}}
    if params["wait"] and not module.check_mode:
        state, waited, polls = ecs.wait_service_stable(client, params["cluster"], params["service"], after["task_definition"],
                                                       params["wait_timeout"], params["wait_delay"], params["wait_max_delay"])
        result.update(stable=True, waited_s=waited, polls=polls, service=state)


def main():
    argument_spec = aws.aws_argument_spec()
    argument_spec.update(
        cluster=dict(type="str", required=True),
        service=dict(type="str", required=True),
        task_definition=dict(type="str", required=True),
        force_new_deployment=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
        wait_delay=dict(type="float", default=15),
        wait_max_delay=dict(type="float", default=30),
        execution_id=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(aws.BOTO3_IMPORT_ERROR))
    params = module.params
    if params["wait_timeout"] <= 0:
        module.fail_json(msg="wait_timeout must be a positive number of seconds, got %d." % params["wait_timeout"])
    started = receipts.utc_now()
    execution_id = receipts.execution_id(params["execution_id"], "deploy", started)
    factory = aws.AwsClientFactory.from_params(params)
    result = dict(changed=False, stable=None, waited_s=0.0, polls=0, service={})
    status, reason, message = "success", None, None
    try:
        run(module, factory.client("ecs"), result)
    except ecs.EcsWaitTimeout as exc:
        status, reason, message = "failed", exc.reason, "service status=fail reason=%s: %s" % (exc.reason, exc.message)
        result.update(stable=False, waited_s=exc.waited, service=exc.last or result["service"])
    except GuardError as exc:
        status, reason, message = "failed", exc.reason, "service status=fail reason=%s: %s" % (exc.reason, exc.message)
    except aws.AWS_ERRORS + (ValueError,) as exc:
        status, reason, message = "failed", "aws_error", "service status=fail reason=aws_error: %s" % aws.describe_error(exc, "update_service")
    result["attempts"] = 1 + factory.retries
    outputs = dict((k, result.get(k)) for k in ("service_arn", "task_definition", "previous_task_definition", "stable", "waited_s", "polls", "service"))
    result["receipt"] = receipts.build(
        "deploy", "service", status, execution_id, started, inputs=dict((k, params[k]) for k in _INPUTS), outputs=outputs,
        failure_code=reason, message=message, attempts=result["attempts"], changed=bool(result["changed"]) and not module.check_mode,
        module="signalcraft.ops.ecs_service_update")
    if status == "failed":
        module.fail_json(msg=message, reason=reason, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
