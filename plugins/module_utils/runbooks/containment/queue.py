# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drain or throttle the ingestion queue (runbook 003: "drain the queue, or throttle ingestion").

The queue is SQS; its consumers are the worker ECS service (the one ``pnpm worker:scale`` scales),
which polls the queue itself. So the lever from outside is the service's desired count, set through
the same ECS scaling code as scale_workers (``runbooks/storage/containment.py``):

- ``report``: the backlog (visible, in flight, delayed) and the consumers' desired/running counts;
- ``stop``: desired count 0 -- ECS stops each task (SIGTERM, then SIGKILL after the container's stop
  timeout); a message a stopped worker had received but not deleted becomes visible again when its
  visibility timeout ends, so nothing is lost, it waits;
- ``throttle``: a lower desired count (never higher: scaling up is scale_workers.yml);
- ``purge``: PurgeQueue, destructive and not undoable, behind its own second confirmation.

Not a Lambda event source mapping's ``MaximumConcurrency``/``Enabled``: that lever exists only when
Lambda polls the queue for a function, and these workers are ECS tasks polling it themselves.

When Application Auto Scaling manages the service's desired count (e.g. target tracking on queue
depth), stop and throttle also suspend its dynamic and scheduled scaling -- otherwise it would scale
the consumers back out on the very backlog the stop lets grow -- and record the state they found, so
the rollback restores the desired count first and then that state.

``plan_*`` are pure; the functions below them write.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.containment import rollback
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import containment
from ansible_collections.signalcraft.ops.plugins.module_utils.services import app_autoscaling

PHASE = "queue"
ACTIONS = ("report", "stop", "throttle", "purge")
CONSUMER_ACTIONS = ("stop", "throttle")
PURGE_PREFIX = "PURGE-"


def purge_phrase(queue):
    """The second confirmation a purge needs: ``PURGE-<queue>``."""
    return PURGE_PREFIX + queue


def expected_confirmation(action, queue, service):
    """What ``containment_confirm`` must be: the service for consumer moves and rollbacks, the queue for a purge."""
    if action == "purge":
        return queue
    if action in CONSUMER_ACTIONS + (rollback.ROLLBACK,):
        return service
    return None


def _autoscaling_plan(target, suspend):
    """``(plan or None, warning or None)`` for the service's scalable target when the consumers are stopped/throttled."""
    if target is None:
        return None, None
    before = target["suspended"]
    if before == app_autoscaling.ALL_SUSPENDED:
        return {"resource_id": target["resource_id"], "before": before, "after": before, "changed": False}, None
    if not suspend:
        return None, ("Application Auto Scaling manages %s and its scaling is not suspended; it may scale the consumers "
                      "back out (containment_queue_suspend_autoscaling=false)." % target["resource_id"])
    after = dict(app_autoscaling.ALL_SUSPENDED)
    return {"resource_id": target["resource_id"], "before": before, "after": after, "changed": True}, None


def plan_consumers(action, service, desired_count=None, max_desired_count=None, target=None, suspend_autoscaling=True):
    """Stop (desired 0) or throttle (a lower desired count) the consumer service.

    Returns ``{"action", "changed", "desired_count", "previous_desired_count", "autoscaling", "warning",
    "before", "after"}``; ``service`` is ``containment.describe_service``'s state, ``target``
    ``app_autoscaling.scalable_target``'s (or None).
    """
    current = service["desired_count"]
    if action == "stop":
        desired = 0
    elif action == "throttle":
        if desired_count is None:
            raise OpsError("invalid_input", "throttle needs the lower desired count: -e containment_queue_desired_count=<n> "
                           "(below the current %d; 0 stops the consumers)." % current)
        desired = int(desired_count)
        if desired > current:
            raise OpsError("throttle_not_lower", "containment_queue_desired_count %d is above the consumers' current desired "
                           "count %d: a throttle only lowers it; scale up with scale_workers.yml." % (desired, current))
    else:
        raise OpsError("invalid_input", "plan_consumers takes stop or throttle, not %r." % action)
    scale = containment.plan_scale(service, desired, max_desired_count)
    autoscaling, warning = _autoscaling_plan(target, suspend_autoscaling)
    changed = scale["changed"] or bool(autoscaling and autoscaling["changed"])
    before, after = dict(scale["before"]), dict(scale["after"])
    if autoscaling:
        before["autoscaling_suspended"], after["autoscaling_suspended"] = autoscaling["before"], autoscaling["after"]
    return {"action": action, "changed": changed, "scale_changed": scale["changed"], "desired_count": desired,
            "previous_desired_count": current, "autoscaling": autoscaling, "warning": warning, "before": before, "after": after}


def plan_rollback(service, target, recorded, max_desired_count=None):
    """Restore the recorded desired count (and the recorded auto scaling state) if nothing changed them since."""
    decision = rollback.decide(service["desired_count"], recorded["previous_desired_count"], recorded["desired_count"],
                               "the desired count of ECS service %s" % service["service_name"])
    desired = recorded["previous_desired_count"]
    scale = containment.plan_scale(service, desired, max_desired_count) if decision == "restore" else {"changed": False}
    autoscaling = None
    recorded_as = recorded.get("autoscaling") or None
    if recorded_as and recorded_as.get("changed"):
        if target is None:
            raise OpsError("rollback_drifted", "the run suspended the auto scaling of %s, which no longer exists; nothing to resume "
                           "(check the service's scaling in the console)." % recorded_as["resource_id"])
        as_decision = rollback.decide(target["suspended"], recorded_as["before"], recorded_as["after"],
                                      "the suspended state of %s" % recorded_as["resource_id"])
        autoscaling = {"resource_id": recorded_as["resource_id"], "before": target["suspended"], "after": recorded_as["before"],
                       "changed": as_decision == "restore"}
    changed = scale["changed"] or bool(autoscaling and autoscaling["changed"])
    before, after = {"desired_count": service["desired_count"]}, {"desired_count": desired}
    if autoscaling:
        before["autoscaling_suspended"], after["autoscaling_suspended"] = autoscaling["before"], autoscaling["after"]
    return {"action": rollback.ROLLBACK, "changed": changed, "scale_changed": scale["changed"], "desired_count": desired,
            "previous_desired_count": service["desired_count"], "autoscaling": autoscaling, "warning": None,
            "before": before, "after": after}


def plan_purge(backlog):
    """Purge only a queue that holds messages: an empty queue has nothing to purge (``changed=false``)."""
    return {"action": "purge", "changed": backlog["total"] > 0, "before": {"messages": backlog["total"]}, "after": {"messages": 0}}


# -- doing -------------------------------------------------------------------------------------

def apply_consumers(ecs, autoscaling_client, cluster, service, plan, wait, wait_timeout, poll_interval):
    """Suspend auto scaling (stop/throttle) before the count changes, resume it (rollback) after; wait for the count.

    Returns the service's state after the run. A failure after a write is marked ``changed_so_far``.
    """
    autoscaling = plan.get("autoscaling") or {}
    wrote = False
    try:
        if autoscaling.get("changed") and plan["action"] != rollback.ROLLBACK:
            app_autoscaling.set_suspended(autoscaling_client, autoscaling["resource_id"], autoscaling["after"])
            wrote = True
        state = None
        if plan["scale_changed"]:
            state = containment.scale_service(ecs, cluster, service, plan["desired_count"])
            wrote = True
        if wait:
            state = containment.wait_for_running(ecs, cluster, service, plan["desired_count"], wait_timeout, poll_interval)
        if autoscaling.get("changed") and plan["action"] == rollback.ROLLBACK:
            app_autoscaling.set_suspended(autoscaling_client, autoscaling["resource_id"], autoscaling["after"])
            wrote = True
    except OpsError as exc:
        exc.changed_so_far = exc.changed_so_far or wrote
        raise
    return state
