"""default-scheduler: binds pending pods to the single node when their requests fit."""

import decimal

from .. import quantity
from .common import PODS, TERMINAL_PHASES, set_condition

_RESOURCES = (("cpu", "node_allocatable_cpu"), ("memory", "node_allocatable_memory"))


def pod_requests(pod):
    """Effective requests: the sum over containers, at least the largest init container's."""
    spec = pod.get("spec") or {}
    totals = {name: decimal.Decimal(0) for name, dummy in _RESOURCES}
    for container in spec.get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        for name in totals:
            totals[name] += quantity.try_parse(requests.get(name, 0))
    for container in spec.get("initContainers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        for name in totals:
            totals[name] = max(totals[name], quantity.try_parse(requests.get(name, 0)))
    return totals


class Scheduler:
    """Schedules or marks Unschedulable (with a FailedScheduling event)."""

    def __init__(self, cluster):
        self.cluster = cluster

    def tick(self):
        """One scheduling pass over pending, unbound pods (oldest first)."""
        cluster = self.cluster
        pods = cluster.store.list("pods")
        allocatable = {name: quantity.parse(getattr(cluster.config, key)) for name, key in _RESOURCES}
        used = {name: decimal.Decimal(0) for name in allocatable}
        for pod in pods:
            if pod["spec"].get("nodeName") and pod.get("status", {}).get("phase") not in TERMINAL_PHASES:
                for name, amount in pod_requests(pod).items():
                    used[name] += amount
        pending = [p for p in pods if not p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp")
                   and p.get("status", {}).get("phase", "Pending") == "Pending"]
        pending.sort(key=lambda p: int(p["metadata"]["resourceVersion"]))
        for pod in pending:
            wanted = pod_requests(pod)
            short = [name for name in sorted(wanted) if used[name] + wanted[name] > allocatable[name]]
            if short:
                self._unschedulable(pod, short)
                continue
            for name, amount in wanted.items():
                used[name] += amount
            self._bind(pod)

    def _bind(self, pod):
        pod["spec"]["nodeName"] = self.cluster.node_name
        set_condition(pod.setdefault("status", {}), "PodScheduled", "True", probe=True)
        if self.cluster.api.write_status(PODS, pod):
            meta = pod["metadata"]
            self.cluster.recorder.record(pod, "Normal", "Scheduled", "Successfully assigned %s/%s to %s"
                                         % (meta["namespace"], meta["name"], self.cluster.node_name), "default-scheduler")

    def _unschedulable(self, pod, short):
        reasons = ", ".join("1 Insufficient %s" % name for name in short)
        message = ("0/1 nodes are available: %s. preemption: 0/1 nodes are available: 1 No preemption victims found for "
                   "incoming pod." % reasons)
        set_condition(pod.setdefault("status", {}), "PodScheduled", "False", "Unschedulable", message, probe=True)
        self.cluster.api.write_status(PODS, pod)
        self.cluster.recorder.record(pod, "Warning", "FailedScheduling", message, "default-scheduler")
