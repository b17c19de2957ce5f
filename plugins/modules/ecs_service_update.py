#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ecs_service_update
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Roll an ECS service to a task-definition revision and wait until it is stable
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
options:
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
attributes:
  check_mode:
    support: full
    description: Describes the service and reports whether it would be updated; updates and waits for nothing.
  diff_mode:
    support: full
    description: Shows the service's task definition before and after.
seealso:
  - module: signalcraft.ops.ecs_taskdef_deploy
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.ecs_cluster, signalcraft.ops.wait]
"""

EXAMPLES = r"""
- name: Roll the service to the new revision and wait up to 10 minutes
  signalcraft.ops.ecs_service_update:
    cluster: jobintel
    service: jobintel-dashboard
    task_definition: "{{ deployed.task_definition_arn }}"
    wait_timeout: 600
  register: updated
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: The service's task definition before and after, and how long it took to become stable.
  returned: always
  type: dict
  contains:
    service_arn:
      description: The service's ARN.
      returned: when the service was described
      type: str
    task_definition:
      description: The revision the service runs after this task (what it would run, in check mode).
      returned: when the service was described
      type: str
    previous_task_definition:
      description: The revision the service ran before.
      returned: when the service was described
      type: str
    stable:
      description: Whether the service was seen stable on O(task_definition). Null when not waited for; false after C(wait_timeout).
      returned: when the service was described
      type: bool
    waited_s:
      description: Seconds spent waiting.
      returned: when the service was described
      type: float
    polls:
      description: DescribeServices calls made while waiting.
      returned: when the service was described
      type: int
    service:
      description: The last observed state - counts, deployments (id, status, task definition, counts, rollout state) and recent events.
      returned: when the service was described
      type: dict
diff:
  description: The service's task definition before and after.
  returned: when the service was described
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import require_values
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecs
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    **ecs.cluster_argument_spec(),
    **ecs.wait_argument_spec(),
    service=dict(type="str", required=True),
    task_definition=dict(type="str", required=True),
    force_new_deployment=dict(type="bool", default=False),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=600),
    wait_delay=dict(type="float", default=15),
)


def _line(params, outputs, would=False):
    fields = [("service", params["service"]), ("task_definition", outputs["task_definition"])]
    if would:
        return fields + [("would_update", outputs["would_update"])]
    if outputs["stable"] is not None:
        fields.append(("stable", outputs["stable"]))
    return fields + [("waited_s", outputs["waited_s"])]


def run(ops):
    params = ops.params
    ecs.validate_wait_timeout(params["wait_timeout"], "jobintel_ecs_service_wait_timeout")
    require_values(params, ("cluster", "cluster is empty; set jobintel_ecs_cluster."),
                   ("service", "service is empty; set jobintel_ecs_service."),
                   ("task_definition", "task_definition is empty; set deploy_task_definition_arn."))
    client = ops.client("ecs")
    changed, before, after = ecs.update_service(client, params["cluster"], params["service"], params["task_definition"],
                                                params["force_new_deployment"], ops.check_mode)
    outputs = dict(service_arn=before["service_arn"], previous_task_definition=before["task_definition"],
                   task_definition=after["task_definition"], service=after, stable=None, waited_s=0.0, polls=0)
    diff = {"before": {"task_definition": before["task_definition"]}, "after": {"task_definition": after["task_definition"]}}
    if ops.check_mode:
        outputs["would_update"] = changed
        return dict(changed=changed, status="planned", outputs=outputs, diff=diff, line=_line(params, outputs, would=True))
    if params["wait"]:
        try:
            state, waited, polls = ecs.wait_service_stable(client, params["cluster"], params["service"], after["task_definition"],
                                                           params["wait_timeout"], params["wait_delay"], params["wait_max_delay"])
        except OpsError as exc:  # wait_timeout; service_rollout_failed, service_not_found while waiting
            if isinstance(exc, ecs.EcsWaitTimeout):
                outputs.update(waited_s=exc.waited, service=exc.last or outputs["service"])
            exc.details.update(outputs, stable=False)
            exc.changed_so_far = changed
            raise
        outputs.update(stable=True, waited_s=waited, polls=polls, service=state)
    return dict(changed=changed, outputs=outputs, diff=diff, line=_line(params, outputs))


def main():
    OpsModule(ARGUMENT_SPEC, operation="deploy", phase="service", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
