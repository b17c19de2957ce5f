"""One emulated cluster: store, API verbs, faults, run-time config, node and controllers wired together."""

import os
import threading

from . import quantity
from .api import Api
from .audit import AuditLog
from .authz import Identities
from .controllers import ControllerManager
from .events import Recorder
from .faults import FaultInjector
from .images import PullChecker
from .resources import BY_PLURAL
from .store import Store
from .util import iso

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class ConfigError(ValueError):
    """A POSTed ``/_sandbox/config`` value is invalid (HTTP 400)."""


class RuntimeConfig:
    """Knobs changeable at run time through ``/_sandbox/config``."""

    FIELDS = ("node_allocatable_memory", "node_allocatable_cpu", "pod_run_seconds")

    def __init__(self, memory="4Gi", cpu="2", run_seconds=1.0):
        self.node_allocatable_memory = memory
        self.node_allocatable_cpu = cpu
        self.pod_run_seconds = run_seconds

    def update(self, data):
        """Validate and apply a partial config; raises :class:`ConfigError`."""
        if not isinstance(data, dict) or set(data) - set(self.FIELDS):
            raise ConfigError("config accepts only %s" % ", ".join(self.FIELDS))
        for key in ("node_allocatable_memory", "node_allocatable_cpu"):
            if key in data:
                try:
                    quantity.parse(str(data[key]))
                except quantity.QuantityError as exc:
                    raise ConfigError("%s: %s" % (key, exc)) from exc
        if "pod_run_seconds" in data:
            try:
                run = float(data["pod_run_seconds"])
            except (TypeError, ValueError) as exc:
                raise ConfigError("pod_run_seconds must be a number") from exc
            if run < 0:
                raise ConfigError("pod_run_seconds must be >= 0")
            self.pod_run_seconds = run
        for key in ("node_allocatable_memory", "node_allocatable_cpu"):
            if key in data:
                setattr(self, key, str(data[key]))

    def to_dict(self):
        """JSON form."""
        return {key: getattr(self, key) for key in self.FIELDS}


class Cluster:
    """Everything one emulator process serves."""

    def __init__(self, name, aws_endpoint_url=None, region="us-east-1", account_id=None, memory="4Gi", state_dir=None,
                 tick_seconds=0.2, root_ca=None):
        self.name = name
        self.node_name = "sandbox-%s-node-1" % name
        self.store = Store()
        self.api = Api(self.store, root_ca)
        self.faults = FaultInjector()
        self.identities = Identities()
        self.audit = AuditLog()
        self.config = RuntimeConfig(memory=memory)
        self.recorder = Recorder(self.store, self.node_name)
        self.pulls = PullChecker(self.store, self.faults, aws_endpoint_url, region, account_id)
        self.state_path = os.path.join(state_dir, "k8s-%s-state.json" % name) if state_dir else None
        self.controllers = ControllerManager(self, tick_seconds)
        self.stopping = threading.Event()

    def bootstrap(self):
        """Load saved state or create the system namespaces and the node."""
        if self.state_path and self.store.load(self.state_path):
            self.sync_node()
            return
        for namespace in SYSTEM_NAMESPACES:
            if self.store.get("namespaces", "", namespace) is None:
                self.api.create(BY_PLURAL["namespaces"], "", {"metadata": {"name": namespace}}, "kube-apiserver")
        self.sync_node()

    def node_object(self, existing=None):
        """The single Node with allocatable/capacity from the run-time config."""
        resources = {"cpu": self.config.node_allocatable_cpu, "memory": self.config.node_allocatable_memory, "pods": "110",
                     "ephemeral-storage": "20Gi"}
        stamp = iso()
        meta = (existing or {}).get("metadata") or {"name": self.node_name, "uid": "00000000-0000-4000-8000-000000000001",
                                                    "creationTimestamp": stamp}
        meta["labels"] = {"kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                          "node-role.kubernetes.io/control-plane": "", "sandbox.signalcraft.io/cluster": self.name}
        ready_since = (existing or {}).get("status", {}).get("conditions", [{}])[-1].get("lastTransitionTime", stamp)
        return {"kind": "Node", "apiVersion": "v1", "metadata": meta, "spec": {"podCIDR": "10.244.0.0/24"},
                "status": {"capacity": dict(resources), "allocatable": dict(resources),
                           "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                           "message": "kubelet is posting ready status", "lastHeartbeatTime": ready_since,
                                           "lastTransitionTime": ready_since}],
                           "addresses": [{"type": "InternalIP", "address": "10.0.0.10"}, {"type": "Hostname", "address": self.node_name}],
                           "nodeInfo": {"kubeletVersion": "v1.32.0-sandbox", "containerRuntimeVersion": "containerd://1.7.24",
                                        "operatingSystem": "linux", "architecture": "amd64", "osImage": "sandbox",
                                        "kernelVersion": "6.1.0", "kubeProxyVersion": "", "machineID": "", "systemUUID": "",
                                        "bootID": ""}}}

    def sync_node(self):
        """Write the node object when the config changed it."""
        with self.store.lock:
            existing = self.store.get("nodes", "", self.node_name)
            wanted = self.node_object(existing)
            if existing is None or {k: existing.get(k) for k in ("spec", "status")} != {k: wanted.get(k) for k in ("spec", "status")} \
                    or existing["metadata"].get("labels") != wanted["metadata"]["labels"]:
                self.store.put("nodes", wanted)

    def reset(self):
        """Drop every object, fault and registered identity, then bootstrap again."""
        self.faults.clear()
        self.identities.clear()
        self.store.clear()
        self.bootstrap()

    def start(self):
        """Start the controllers."""
        self.controllers.start()

    def stop(self):
        """Stop the controllers and save state (when a state dir was given)."""
        self.stopping.set()
        self.controllers.stop()
        self.store.wake()
        self.save()

    def save(self):
        """Persist the store if a state dir was given and something changed."""
        if self.state_path and self.store.dirty:
            self.store.save(self.state_path)
