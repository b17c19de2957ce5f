#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ecs_task_info
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Report the runtime status of one ECS task
description:
  - Describes one task (DescribeTasks) and returns its last and desired status, stop code and
    reason, and each container's status and exit code. Replaces C(ecs_verify_task.sh).
  - Fails with reason C(task_not_found) when the cluster does not know the task (ECS keeps stopped
    tasks visible for about an hour).
  - Prints the status line C(task status=<last status> exit_code=<code> stop_code=<code>); its RV(status) is the
    task's last status (C(PROVISIONING) ... C(RUNNING) ... C(STOPPED)), not C(ok), so the line reads as before.
  - Reads only.
options:
  task_arn:
    description:
      - The task ARN or id.
    type: str
    required: true
  container_name:
    description:
      - The container whose exit code is reported as RV(outputs.exit_code). Default is the first container
        with a non-zero exit code, else the first.
    type: str
seealso:
  - module: signalcraft.ops.ecs_run_task
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.read_only, signalcraft.ops.ecs_cluster]
"""

EXAMPLES = r"""
- name: Show the status of a task
  signalcraft.ops.ecs_task_info:
    cluster: arn:aws:ecs:us-east-1:111122223333:cluster/jobintel
    task_arn: arn:aws:ecs:us-east-1:111122223333:task/jobintel/0123456789abcdef0123456789abcdef
  register: task
"""

RETURN = r"""
status:
  description: The task's last status (C(PROVISIONING), C(PENDING), C(RUNNING), C(STOPPED), ...), or C(fail).
  returned: always
  type: str
  sample: STOPPED
outputs:
  description: The task as ECS describes it.
  returned: always
  type: dict
  contains:
    task_arn:
      description: The task's ARN.
      returned: always
      type: str
    cluster_arn:
      description: The task's cluster.
      returned: success
      type: str
    task_definition_arn:
      description: The revision the task runs.
      returned: success
      type: str
    last_status:
      description: The task's last status.
      returned: success
      type: str
    desired_status:
      description: The task's desired status.
      returned: success
      type: str
    stopped:
      description: Whether the task is C(STOPPED).
      returned: success
      type: bool
    exit_code:
      description: The reported container's exit code (null while running).
      returned: success
      type: int
    stop_code:
      description: ECS's stopCode.
      returned: success
      type: str
    stopped_reason:
      description: ECS's stoppedReason.
      returned: success
      type: str
    launch_type:
      description: The task's launch type.
      returned: success
      type: str
    containers:
      description: Each container's name, last status, exit code, reason, image and image digest.
      returned: success
      type: list
      elements: dict
    created_at:
      description: When the task was created.
      returned: success
      type: str
    started_at:
      description: When the task started.
      returned: success
      type: str
    stopped_at:
      description: When the task stopped.
      returned: success
      type: str
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import require_values
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecs
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    **ecs.cluster_argument_spec(),
    task_arn=dict(type="str", required=True),
    container_name=dict(type="str"),
)


def run(ops):
    params = ops.params
    require_values(params, ("task_arn", "no task given; pass -e task_arn=<task arn>."),
                   ("cluster", "no cluster given; set jobintel_ecs_cluster (-e jobintel_ecs_cluster=<cluster arn>)."))
    try:
        outcome = ecs.task_outcome(ecs.describe_task(ops.client("ecs"), params["cluster"], params["task_arn"]), params["container_name"])
    except OpsError as exc:
        exc.details.setdefault("task_arn", params["task_arn"])
        raise
    return dict(changed=False, status=outcome["last_status"] or "unknown", outputs=outcome,
                line=[("exit_code", outcome["exit_code"]), ("stop_code", outcome["stop_code"])])


def main():
    OpsModule(ARGUMENT_SPEC, operation="verify_task", phase="verify_task", status_key="task", connections=[AwsConnection],
              receipt_inputs=["cluster", "task_arn", "container_name", "region", "endpoint_url"]).run(run)


if __name__ == "__main__":
    main()
