# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Application Auto Scaling of an ECS service's desired count: read and set the suspended state.

Why it matters to containment: a worker service that scales on queue depth (a target tracking or
step policy) would undo "stop the consumers" within minutes, by scaling out on the very backlog the
stop lets grow. Suspending dynamic and scheduled scaling (``RegisterScalableTarget`` with only the
identifying fields and ``SuspendedState``: "any parameters that you don't specify are not changed")
keeps the desired count where containment set it; restoring the recorded state resumes it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

NAMESPACE = "ecs"
DIMENSION = "ecs:service:DesiredCount"
SUSPENDED_KEYS = ("DynamicScalingInSuspended", "DynamicScalingOutSuspended", "ScheduledScalingSuspended")
ALL_SUSPENDED = dict((key, True) for key in SUSPENDED_KEYS)


def resource_id(cluster, service):
    """``service/<cluster name>/<service name>`` (a cluster ARN is reduced to its name)."""
    return "service/%s/%s" % (cluster.split("/")[-1], service.split("/")[-1])


def suspended_state(target):
    """The three flags (absent means false, the API's default)."""
    state = (target or {}).get("SuspendedState") or {}
    return dict((key, bool(state.get(key, False))) for key in SUSPENDED_KEYS)


def scalable_target(client, cluster, service):
    """``{"resource_id", "min_capacity", "max_capacity", "suspended"}`` of the service's scalable target, or None."""
    rid = resource_id(cluster, service)
    targets = client.describe_scalable_targets(ServiceNamespace=NAMESPACE, ResourceIds=[rid],
                                               ScalableDimension=DIMENSION).get("ScalableTargets") or []
    if not targets:
        return None
    target = targets[0]
    return {"resource_id": rid, "min_capacity": target.get("MinCapacity"), "max_capacity": target.get("MaxCapacity"),
            "suspended": suspended_state(target)}


def set_suspended(client, resource, state):
    """RegisterScalableTarget with only the identifying fields and ``SuspendedState`` (nothing else changes)."""
    client.register_scalable_target(ServiceNamespace=NAMESPACE, ResourceId=resource, ScalableDimension=DIMENSION,
                                    SuspendedState=dict((key, bool(state[key])) for key in SUSPENDED_KEYS))
