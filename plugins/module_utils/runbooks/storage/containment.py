# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Incident containment: scale an ECS service's workers, fail over an RDS (Aurora) cluster.

Replaces ``pnpm worker:scale --replicas N`` and ``aws rds failover-db-cluster``. Both follow the
same shape: describe (fail before any write when the target is missing or not ready) -> plan
(before/after, changed or not) -> confirmation guard -> one write -> wait until the service/cluster
reaches the planned state or the timeout passes. Errors are ``ContainmentError`` with a stable
``reason`` token; waits take an injectable clock and sleep so they are testable without waiting.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.signalcraft.ops.plugins.module_utils.core import status_line
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import require_confirmation
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import error_code

SCALE_KEY = "scale_workers"
FAILOVER_KEY = "db_failover"


class ContainmentError(OpsError):
    """``reason`` is the token of ``<key> status=fail reason=<token>``; ``details`` go into the outputs."""

    def __init__(self, reason, message, **details):
        super(ContainmentError, self).__init__(reason, message, details=details)


def argument_spec():
    """The typed confirmation and the poll interval of the containment modules (doc fragment signalcraft.ops.containment)."""
    return dict(confirm=dict(type="str"), poll_interval=dict(type="float", default=10.0))


def require_confirmed(ops, expected):
    """Record whether the operator typed the target's name (``confirmed``, never what was typed) and, unless in
    check mode (which only plans), refuse to go on without it."""
    ops.record_inputs(confirmed=ops.params["confirm"] == expected)
    if not ops.check_mode:
        require_confirmation(ops.params["confirm"], expected, "containment_confirm")


def _wait(describe, done, timeout, poll_interval, clock, sleep):
    """Call ``describe()`` until ``done(state)`` or ``timeout`` seconds pass; returns (state, reached)."""
    deadline = clock() + max(0.0, float(timeout))
    while True:
        state = describe()
        if done(state):
            return state, True
        if clock() >= deadline:
            return state, False
        sleep(max(0.0, min(float(poll_interval), deadline - clock())))


# -- ECS workers ---------------------------------------------------------------------------------

def service_state(service):
    """The fields of an ECS service a scale decision needs."""
    primary = next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), {})
    return {
        "service_arn": service.get("serviceArn"),
        "service_name": service.get("serviceName"),
        "status": service.get("status"),
        "desired_count": int(service.get("desiredCount", 0)),
        "running_count": int(service.get("runningCount", 0)),
        "pending_count": int(service.get("pendingCount", 0)),
        "rollout_state": primary.get("rolloutState"),
        "deployments": len(service.get("deployments", [])),
    }


def describe_service(ecs, cluster, service):
    """The service's state; ``cluster_not_found``, ``service_not_found`` or ``service_not_active`` otherwise."""
    try:
        response = ecs.describe_services(cluster=cluster, services=[service])
    except Exception as exc:  # botocore ClientError; its class lives on the client
        if error_code(exc) == "ClusterNotFoundException":
            raise ContainmentError("cluster_not_found", "ECS cluster %r does not exist in this account and region; "
                                   "check the cluster name in the inventory." % cluster)
        raise
    services = response.get("services", [])
    if not services:
        raise ContainmentError("service_not_found", "ECS service %r is not in cluster %r; check the service name "
                               "(aws ecs list-services --cluster %s)." % (service, cluster, cluster))
    state = service_state(services[0])
    if state["status"] != "ACTIVE":
        raise ContainmentError("service_not_active", "ECS service %r in cluster %r is %s, not ACTIVE; it cannot be scaled."
                               % (service, cluster, state["status"]))
    return state


def plan_scale(state, desired_count, max_desired_count=None):
    """``{"changed", "before", "after"}``; refuses negative counts and counts above the inventory's ceiling."""
    if desired_count is None or int(desired_count) < 0:
        raise ContainmentError("invalid_desired_count", "desired_count must be 0 or more, got %r." % (desired_count,))
    desired_count = int(desired_count)
    if max_desired_count is not None and desired_count > int(max_desired_count):
        raise ContainmentError("desired_count_above_max",
                               "desired_count %d is above max_desired_count %d; raise the ceiling in the inventory if this "
                               "is really intended." % (desired_count, int(max_desired_count)))
    return {"changed": state["desired_count"] != desired_count,
            "before": {"desired_count": state["desired_count"]}, "after": {"desired_count": desired_count}}


def scale_service(ecs, cluster, service, desired_count):
    """UpdateService with only the desired count (no new deployment, nothing else touched)."""
    return service_state(ecs.update_service(cluster=cluster, service=service, desiredCount=int(desired_count))["service"])


def wait_for_running(ecs, cluster, service, desired_count, timeout, poll_interval=10, clock=time.monotonic, sleep=time.sleep):
    """Wait until the running count equals ``desired_count``; ``scale_timeout`` (with the last state) otherwise."""
    state, reached = _wait(lambda: describe_service(ecs, cluster, service),
                           lambda s: s["desired_count"] == desired_count and s["running_count"] == desired_count,
                           timeout, poll_interval, clock, sleep)
    if not reached:
        raise ContainmentError("scale_timeout",
                               "ECS service %r has %d running of %d desired (%d pending) after %ss; check the service "
                               "events (capacity, image pulls, health checks)." % (service, state["running_count"], desired_count,
                                                                                   state["pending_count"], timeout), state=state)
    return state


def scale_line(status, reason=None, state=None, previous=None, desired=None):
    fields = []
    if desired is not None:
        fields.append(("desired", desired))
    if previous is not None:
        fields.append(("previous", previous))
    if state is not None:
        fields.append(("running", state["running_count"]))
    return status_line.format_line(SCALE_KEY, status, reason, fields)


# -- RDS cluster failover ------------------------------------------------------------------------

def cluster_state(cluster):
    members = [{"instance": m["DBInstanceIdentifier"], "writer": bool(m.get("IsClusterWriter")),
                "promotion_tier": m.get("PromotionTier")} for m in cluster.get("DBClusterMembers", [])]
    writers = [m["instance"] for m in members if m["writer"]]
    # RDS promotes the reader with the lowest promotion tier (15 when unset) first.
    readers = sorted((m for m in members if not m["writer"]),
                     key=lambda m: (m["promotion_tier"] if m["promotion_tier"] is not None else 15, m["instance"]))
    return {
        "cluster_identifier": cluster.get("DBClusterIdentifier"),
        "cluster_arn": cluster.get("DBClusterArn"),
        "status": cluster.get("Status"),
        "writer": writers[0] if writers else None,
        "readers": [m["instance"] for m in readers],
        "members": members,
    }


def describe_cluster(rds, cluster_identifier):
    try:
        clusters = rds.describe_db_clusters(DBClusterIdentifier=cluster_identifier)["DBClusters"]
    except Exception as exc:  # botocore ClientError
        if error_code(exc) == "DBClusterNotFoundFault":
            raise ContainmentError("cluster_not_found", "DB cluster %r does not exist in this account and region; check "
                                   "db_cluster_identifier in the inventory." % cluster_identifier)
        raise
    if not clusters:
        raise ContainmentError("cluster_not_found", "DB cluster %r was not found." % cluster_identifier)
    return cluster_state(clusters[0])


def plan_failover(state, target_instance=None):
    """``{"changed", "before", "after"}``; ``after.writer`` is None when RDS picks the reader (by promotion tier)."""
    if target_instance:
        if target_instance not in [m["instance"] for m in state["members"]]:
            raise ContainmentError("target_not_member", "target_instance %r is not a member of DB cluster %r (members: %s)."
                                   % (target_instance, state["cluster_identifier"], ", ".join(m["instance"] for m in state["members"])))
        if target_instance == state["writer"]:
            return {"changed": False, "before": {"writer": state["writer"]}, "after": {"writer": target_instance},
                    "candidates": []}
    if not state["readers"]:
        raise ContainmentError("no_failover_target", "DB cluster %r has no reader instance to promote; add a reader first."
                               % state["cluster_identifier"])
    if state["status"] != "available":
        raise ContainmentError("cluster_not_available", "DB cluster %r is %r; fail over only an available cluster "
                               "(wait for the current operation to finish)." % (state["cluster_identifier"], state["status"]))
    return {"changed": True, "before": {"writer": state["writer"]}, "after": {"writer": target_instance or None},
            "candidates": [target_instance] if target_instance else list(state["readers"])}


def failover(rds, cluster_identifier, target_instance=None):
    kwargs = {"DBClusterIdentifier": cluster_identifier}
    if target_instance:
        kwargs["TargetDBInstanceIdentifier"] = target_instance
    return cluster_state(rds.failover_db_cluster(**kwargs)["DBCluster"])


def wait_for_failover(rds, cluster_identifier, previous_writer, target_instance=None, timeout=600, poll_interval=10,
                      clock=time.monotonic, sleep=time.sleep):
    """Wait until the cluster is available with a new writer (the target, when one was named)."""
    def done(state):
        if state["status"] != "available" or not state["writer"] or state["writer"] == previous_writer:
            return False
        return not target_instance or state["writer"] == target_instance

    state, reached = _wait(lambda: describe_cluster(rds, cluster_identifier), done, timeout, poll_interval, clock, sleep)
    if not reached:
        raise ContainmentError("failover_timeout",
                               "DB cluster %r is %r with writer %r after %ss (previous writer %r); check the cluster's "
                               "events in the RDS console." % (cluster_identifier, state["status"], state["writer"], timeout,
                                                               previous_writer), state=state)
    return state


def failover_fields(writer=None, previous=None, candidates=None):
    """The status line's fields: the writer, the previous writer and (a plan) the candidates joined with ``+``."""
    fields = []
    if writer:
        fields.append(("writer", writer))
    if previous:
        fields.append(("previous_writer", previous))
    if candidates is not None:
        fields.append(("candidates", "+".join(candidates) if candidates else "none"))
    return fields


def failover_line(status, reason=None, writer=None, previous=None, candidates=None):
    return status_line.format_line(FAILOVER_KEY, status, reason, failover_fields(writer, previous, candidates))
