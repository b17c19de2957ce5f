#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ecs_service_scale
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Scale an ECS service's workers to a desired count behind a typed confirmation
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
options:
  service:
    description: The ECS service name.
    type: str
    required: true
  desired_count:
    description: The number of tasks the service should run.
    type: int
    required: true
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
attributes:
  check_mode:
    support: full
    description: Describes the service and returns the plan and diff; writes nothing and needs no confirmation.
  diff_mode:
    support: full
    description: The desired count before and after.
seealso:
  - module: signalcraft.ops.db_failover
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.ecs_cluster, signalcraft.ops.containment]
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
  register: scaled
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: The service after the change and its desired count before it.
  returned: always
  type: dict
  contains:
    previous_desired_count:
      description: The desired count before this run.
      returned: when the service was described
      type: int
    service:
      description: The service's state after the run (arn, status, desired, running and pending counts, rollout state).
      returned: when the service was described
      type: dict
diff:
  description: The desired count before and after.
  returned: when the service was described
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import containment
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecs
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    **ecs.cluster_argument_spec(),
    **containment.argument_spec(),
    service=dict(type="str", required=True),
    desired_count=dict(type="int", required=True),
    max_desired_count=dict(type="int"),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=600),
)


def _line(state=None, previous=None, desired=None):
    fields = [("desired", desired)] if desired is not None else []
    if previous is not None:
        fields.append(("previous", previous))
    if state is not None:
        fields.append(("running", state["running_count"]))
    return fields


def run(ops):
    params = ops.params
    containment.require_confirmed(ops, params["service"])
    ecs = ops.client("ecs")
    state = containment.describe_service(ecs, params["cluster"], params["service"])
    previous = state["desired_count"]
    plan = containment.plan_scale(state, params["desired_count"], params["max_desired_count"])
    diff = {"before": plan["before"], "after": plan["after"]}
    if ops.check_mode:
        return dict(changed=plan["changed"], status="planned", diff=diff, line=_line(previous=previous, desired=params["desired_count"]),
                    outputs={"previous_desired_count": previous, "service": state})
    if plan["changed"]:
        state = containment.scale_service(ecs, params["cluster"], params["service"], params["desired_count"])
    if params["wait"]:
        try:
            state = containment.wait_for_running(ecs, params["cluster"], params["service"], params["desired_count"],
                                                 params["wait_timeout"], params["poll_interval"])
        except containment.ContainmentError as exc:
            exc.changed_so_far = plan["changed"]
            exc.details.update(previous_desired_count=previous,
                               line=_line(state=exc.details.get("state"), desired=params["desired_count"]))
            raise
    return dict(changed=plan["changed"], diff=diff, outputs={"previous_desired_count": previous, "service": state},
                line=_line(state=state if params["wait"] else None, previous=previous, desired=params["desired_count"]))


def main():
    OpsModule(ARGUMENT_SPEC, operation="containment", phase="scale_workers", connections=[AwsConnection],
              receipt_inputs=["cluster", "service", "desired_count", "max_desired_count", "wait", "wait_timeout", "region"]).run(run)


if __name__ == "__main__":
    main()
