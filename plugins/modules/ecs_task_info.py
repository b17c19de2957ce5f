#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ecs_task_info
short_description: Report the runtime status of one ECS task
version_added: "0.1.0"
description:
  - Describes one task (DescribeTasks) and returns its last and desired status, stop code and
    reason, and each container's status and exit code. Replaces C(ecs_verify_task.sh).
  - Fails with reason C(task_not_found) when the cluster does not know the task (ECS keeps stopped
    tasks visible for about an hour).
  - Reads only.
author:
  - signalcraft maintainers (@signalcraft)
options:
  cluster:
    description:
      - The cluster name or ARN.
    type: str
    required: true
  task_arn:
    description:
      - The task ARN or id.
    type: str
    required: true
  container_name:
    description:
      - The container whose exit code is reported as RV(exit_code). Default is the first container
        with a non-zero exit code, else the first.
    type: str
extends_documentation_fragment:
  - signalcraft.ops.aws
  - signalcraft.ops.receipt
attributes:
  check_mode:
    support: full
    description: Reads only; runs unchanged in check mode.
  diff_mode:
    support: none
    description: Nothing is changed.
seealso:
  - module: signalcraft.ops.ecs_run_task
"""

EXAMPLES = r"""
- name: Show the status of a task
  signalcraft.ops.ecs_task_info:
    cluster: arn:aws:ecs:us-east-1:111122223333:cluster/jobintel
    task_arn: arn:aws:ecs:us-east-1:111122223333:task/jobintel/0123456789abcdef0123456789abcdef
  register: task
"""

RETURN = r"""
task_arn:
  description: The task's ARN.
  returned: always
  type: str
task_definition_arn:
  description: The revision the task runs.
  returned: on success
  type: str
last_status:
  description: The task's last status (C(PROVISIONING) ... C(RUNNING) ... C(STOPPED)).
  returned: on success
  type: str
desired_status:
  description: The task's desired status.
  returned: on success
  type: str
stopped:
  description: Whether the task is C(STOPPED).
  returned: on success
  type: bool
exit_code:
  description: The reported container's exit code (null while running).
  returned: on success
  type: int
stop_code:
  description: ECS's stopCode.
  returned: on success
  type: str
stopped_reason:
  description: ECS's stoppedReason.
  returned: on success
  type: str
containers:
  description: Each container's name, last status, exit code, reason, image and image digest.
  returned: on success
  type: list
  elements: dict
started_at:
  description: When the task started.
  returned: on success
  type: str
stopped_at:
  description: When the task stopped.
  returned: on success
  type: str
status_line:
  description: One line for operators, C(task status=<last status> exit_code=<code> stop_code=<code>).
  returned: on success
  type: str
reason:
  description: The stable failure token (C(task_not_found), C(aws_error)).
  returned: on failure
  type: str
receipt:
  description: A receipt.v1 document (operation C(verify_task), phase C(verify_task)) for M(signalcraft.ops.receipt).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecs
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError


def main():
    argument_spec = aws.aws_argument_spec()
    argument_spec.update(
        cluster=dict(type="str", required=True),
        task_arn=dict(type="str", required=True),
        container_name=dict(type="str"),
        execution_id=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(aws.BOTO3_IMPORT_ERROR))
    params = module.params
    started = receipts.utc_now()
    factory = aws.AwsClientFactory.from_params(params)
    result = dict(changed=False, task_arn=params["task_arn"])
    status, reason, message = "success", None, None
    try:
        outcome = ecs.task_outcome(ecs.describe_task(factory.client("ecs"), params["cluster"], params["task_arn"]), params["container_name"])
        result.update(outcome)
        result["status_line"] = "task status=%s exit_code=%s stop_code=%s" % (outcome["last_status"], outcome["exit_code"], outcome["stop_code"])
    except GuardError as exc:
        status, reason, message = "failed", exc.reason, "task status=fail reason=%s: %s" % (exc.reason, exc.message)
    except aws.AWS_ERRORS + (ValueError,) as exc:
        status, reason, message = "failed", "aws_error", "task status=fail reason=aws_error: %s" % aws.describe_error(exc, "describe_tasks")
    result["receipt"] = receipts.build(
        "verify_task", "verify_task", status, receipts.execution_id(params["execution_id"], "verify_task", started), started,
        inputs=dict((k, params[k]) for k in ("cluster", "task_arn", "container_name", "region", "endpoint_url")),
        outputs=dict((k, v) for k, v in result.items() if k not in ("changed", "receipt")), failure_code=reason, message=message,
        attempts=1 + factory.retries, module="signalcraft.ops.ecs_task_info")
    if status == "failed":
        module.fail_json(msg=message, reason=reason, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
