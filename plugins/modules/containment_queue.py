#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: containment_queue
version_added: "0.2.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Report the ingestion queue's backlog, stop or throttle its consumers, or purge it behind two confirmations
description:
  - Incident containment (queue saturation) - the runbook's "drain the queue, or throttle ingestion".
  - Always reports the SQS queue's backlog from GetQueueAttributes (C(ApproximateNumberOfMessages) visible,
    C(ApproximateNumberOfMessagesNotVisible) in flight, C(ApproximateNumberOfMessagesDelayed) delayed) and, with
    O(service), the consumers' desired and running counts.
  - O(action=stop) sets the consumer ECS service's desired count to 0, O(action=throttle) to the lower
    O(desired_count) (never higher, C(throttle_not_lower); scaling up is M(signalcraft.ops.ecs_service_scale)); both
    then wait until the running count matches, like scale_workers. The workers poll the queue themselves (they are no
    Lambda event source mapping), so their desired count is the lever; a message a stopped worker had received comes
    back when its visibility timeout ends.
  - When Application Auto Scaling manages the service's desired count and O(suspend_autoscaling) is true, stop and
    throttle first suspend its dynamic and scheduled scaling (it would scale the consumers out again on the backlog)
    and record the state they found.
  - Consumer moves and rollbacks act only when O(confirm) is exactly O(service).
  - O(action=purge) runs PurgeQueue, which deletes every message (in flight ones too) and cannot be undone. It needs
    O(confirm) equal to O(queue) and O(purge_confirm) equal to C(PURGE-<queue>); an empty queue is not purged.
  - With O(rollback_of), restores the desired count (then the auto scaling state) that the stop/throttle run of that
    execution id found.
  - Returns C(queue status=ok action=<action> [desired=<n> previous=<n> running=<n>] visible=<n> in_flight=<n> delayed=<n>),
    the diff and a receipt (operation C(containment), phase C(queue)). Check mode returns C(status=planned) and writes nothing.
options:
  queue:
    description: The SQS queue's name.
    type: str
    required: true
  action:
    description: What to do. Default C(report) unless O(rollback_of) is given.
    type: str
    choices: [report, stop, throttle, purge]
  cluster:
    description: The ECS cluster of the consumer service.
    type: str
  service:
    description: The consumer (worker) ECS service. Needed to stop, throttle or roll back.
    type: str
  desired_count:
    description: The lower desired count of O(action=throttle).
    type: int
  max_desired_count:
    description: Refuse restoring a desired count above this ceiling (the inventory's typo guard).
    type: int
  suspend_autoscaling:
    description: Suspend the service's Application Auto Scaling while the consumers are stopped or throttled.
    type: bool
    default: true
  purge_confirm:
    description: The second confirmation of O(action=purge), exactly C(PURGE-<queue>).
    type: str
  wait:
    description: Wait until the running count equals the desired count.
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
attributes:
  check_mode:
    support: full
    description: Reads the queue, the service and its scaling (and a rollback's receipt) and returns the plan; writes nothing.
  diff_mode:
    support: full
    description: The desired count (and auto scaling's suspended state) before and after; for a purge, the messages.
seealso:
  - module: signalcraft.ops.ecs_service_scale
  - module: signalcraft.ops.containment_backpressure
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.containment_toggle]
"""

EXAMPLES = r"""
- name: Report the backlog and the consumers
  signalcraft.ops.containment_queue:
    queue: author-prod-ingestion
    cluster: author
    service: author-workers

- name: Stop the consumers (the operator confirms with the service's name)
  signalcraft.ops.containment_queue:
    queue: author-prod-ingestion
    action: stop
    cluster: author
    service: author-workers
    confirm: "{{ containment_confirm }}"

- name: Purge the queue - irreversible, two typed confirmations
  signalcraft.ops.containment_queue:
    queue: author-prod-ingestion
    action: purge
    confirm: author-prod-ingestion
    purge_confirm: PURGE-author-prod-ingestion
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: The backlog and the consumers before and after.
  returned: always
  type: dict
  contains:
    action:
      description: C(report), C(stop), C(throttle), C(purge) or C(rollback).
      returned: when the queue was read
      type: str
    backlog:
      description: C(visible), C(in_flight), C(delayed) and C(total) messages when the run started.
      returned: when the queue was read
      type: dict
    backlog_after:
      description: The backlog after the run (a purge takes up to 60 seconds to empty the queue).
      returned: when something was done
      type: dict
    desired_count:
      description: The consumers' desired count after the run (the planned one in check mode).
      returned: with a service
      type: int
    previous_desired_count:
      description: The desired count the run found; a rollback of this run restores it.
      returned: with a service
      type: int
    running_count:
      description: The consumers' running count after the run.
      returned: with a service
      type: int
    autoscaling:
      description: The service's scalable target and its suspended state before and after (null without one).
      returned: with a service
      type: dict
    rolled_back_from:
      description: The execution id whose change a rollback undid (and where its receipt was read).
      returned: for a rollback
      type: dict
diff:
  description: The desired count (and suspended state) before and after, or the messages a purge deletes.
  returned: when something would change
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import require_confirmation
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.containment import queue, rollback
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import containment
from ansible_collections.signalcraft.ops.plugins.module_utils.services import app_autoscaling
from ansible_collections.signalcraft.ops.plugins.module_utils.services import sqs as sqs_service
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    **rollback.argument_spec(),
    queue=dict(type="str", required=True),
    action=dict(type="str", choices=list(queue.ACTIONS)),
    cluster=dict(type="str"),
    service=dict(type="str"),
    desired_count=dict(type="int"),
    max_desired_count=dict(type="int"),
    suspend_autoscaling=dict(type="bool", default=True),
    purge_confirm=dict(type="str"),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=600),
    poll_interval=dict(type="float", default=10.0),
)
NEEDS_SERVICE = queue.CONSUMER_ACTIONS + (rollback.ROLLBACK,)


def _line(outputs, execution_id=None):
    fields = [("action", outputs["action"])]
    if outputs.get("desired_count") is not None:
        fields += [("desired", outputs["desired_count"]), ("previous", outputs["previous_desired_count"])]
        if outputs.get("running_count") is not None:
            fields.append(("running", outputs["running_count"]))
    backlog = outputs.get("backlog_after") or outputs["backlog"]
    fields += [("visible", backlog["visible"]), ("in_flight", backlog["in_flight"]), ("delayed", backlog["delayed"])]
    if execution_id:
        fields.append(("execution_id", execution_id))
    return fields


def _action(params):
    if params["rollback_of"]:
        if params["action"]:
            raise OpsError("invalid_input", "give either containment_queue_action or containment_rollback_of, not both.")
        return rollback.ROLLBACK
    return params["action"] or "report"


def _confirm(ops, action, name):
    params = ops.params
    expected = queue.expected_confirmation(action, name, params["service"])
    if expected is None:
        return
    containment.require_confirmed(ops, expected)
    if action == "purge":
        phrase = queue.purge_phrase(name)
        ops.record_inputs(purge_confirmed=params["purge_confirm"] == phrase)
        if not ops.check_mode:
            require_confirmation(params["purge_confirm"], phrase, "containment_queue_purge_confirm")


def _plan(ops, action, service_state, target, backlog, name):
    params = ops.params
    if action == "report":
        return {"action": "report", "changed": False}, None
    if action == "purge":
        return queue.plan_purge(backlog), None
    if action in queue.CONSUMER_ACTIONS:
        return queue.plan_consumers(action, service_state, params["desired_count"], params["max_desired_count"], target,
                                    params["suspend_autoscaling"]), None
    recorded, rolled_back_from = rollback.recorded_for(ops, queue.PHASE, {"queue": name, "service": params["service"]},
                                                       actions=queue.CONSUMER_ACTIONS)
    return queue.plan_rollback(service_state, target, recorded, params["max_desired_count"]), rolled_back_from


def run(ops):
    params = ops.params
    name = sqs_service.validate_name(params["queue"], "containment_queue_name")
    action = _action(params)
    if action in NEEDS_SERVICE and not ((params["cluster"] or "").strip() and (params["service"] or "").strip()):
        raise OpsError("invalid_input", "%s needs the consumer service: set containment_ecs_cluster and containment_queue_service." % action)
    if action == rollback.ROLLBACK:
        rollback.check_request(params, ops.execution_id)
    _confirm(ops, action, name)

    sqs = ops.client("sqs")
    url = sqs_service.queue_url(sqs, name, "containment_queue_name")
    outputs = {"queue": name, "queue_url": url, "action": action, "backlog": sqs_service.backlog(sqs, url)}
    outputs["queue_arn"] = outputs["backlog"].pop("queue_arn")
    service_state = target = None
    if params["service"] and action != "purge":
        ecs = ops.client("ecs")
        service_state = containment.describe_service(ecs, params["cluster"], params["service"])
        target = app_autoscaling.scalable_target(ops.client("application-autoscaling"), params["cluster"], params["service"])
        outputs.update(cluster=params["cluster"], service=params["service"], desired_count=service_state["desired_count"],
                       previous_desired_count=service_state["desired_count"], running_count=service_state["running_count"],
                       autoscaling=target)
    plan, rolled_back_from = _plan(ops, action, service_state, target, outputs["backlog"], name)
    if rolled_back_from:
        outputs["rolled_back_from"] = rolled_back_from
    if "desired_count" in plan:
        outputs.update(desired_count=plan["desired_count"], previous_desired_count=plan["previous_desired_count"],
                       autoscaling=plan["autoscaling"])
    diff = {"before": plan["before"], "after": plan["after"]} if "before" in plan else None
    warnings = [plan["warning"]] if plan.get("warning") else []
    if ops.check_mode:
        outputs.update(running_count=None, would_change=plan["changed"])
        return dict(changed=plan["changed"], status="planned", outputs=outputs, diff=diff, line=_line(outputs), warnings=warnings)

    if action == "purge" and plan["changed"]:
        sqs_service.purge(sqs, url, name)
        outputs["purged_messages"] = outputs["backlog"]["total"]
    elif action in NEEDS_SERVICE:
        try:
            state = queue.apply_consumers(ops.client("ecs"), ops.client("application-autoscaling"), params["cluster"], params["service"],
                                          plan, params["wait"], params["wait_timeout"], params["poll_interval"])
        except OpsError as exc:
            exc.add_context(outputs)
            raise
        state = state or containment.describe_service(ops.client("ecs"), params["cluster"], params["service"])
        outputs["running_count"] = state["running_count"]
    if action != "report":
        backlog_after = sqs_service.backlog(sqs, url)
        backlog_after.pop("queue_arn")
        outputs["backlog_after"] = backlog_after
    return dict(changed=plan["changed"], outputs=outputs, diff=diff, warnings=warnings,
                line=_line(outputs, ops.execution_id if action != "report" else None))


def main():
    OpsModule(ARGUMENT_SPEC, operation="containment", phase=queue.PHASE, connections=[AwsConnection],
              receipt_inputs=["queue", "action", "cluster", "service", "desired_count", "max_desired_count", "suspend_autoscaling",
                              "rollback_of", "wait", "wait_timeout", "region"],
              required_if=[("action", "throttle", ("desired_count",))]).run(run)


if __name__ == "__main__":
    main()
