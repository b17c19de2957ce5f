"""core/v1 Events the simulated components record (deduplicated like the client-go recorder)."""

import threading
import time
import uuid

from .util import iso, random_hex

# Re-recording an identical event bumps its count at most this often (limits resourceVersion churn).
_REPEAT_SECONDS = 5.0


class Recorder:
    """Creates Events or bumps ``count``/``lastTimestamp`` of an identical recent one."""

    def __init__(self, store, node_name):
        self.store = store
        self.node_name = node_name
        self._lock = threading.Lock()
        self._seen = {}

    def record(self, involved, event_type, reason, message, component, field_path=None):
        """Record an event about ``involved`` (a stored object) from ``component`` (e.g. ``kubelet``)."""
        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (meta.get("uid"), event_type, reason, message, field_path)
        with self._lock:
            seen = self._seen.get(key)
            if seen and time.monotonic() - seen[1] < _REPEAT_SECONDS:
                return
            self._seen[key] = (seen[0] if seen else None, time.monotonic())
        stamp = iso()
        with self.store.lock:
            existing = self.store.get("events", namespace, seen[0]) if seen and seen[0] else None
            if existing is not None:
                existing["count"] = existing.get("count", 1) + 1
                existing["lastTimestamp"] = stamp
                self.store.put("events", existing)
                return
            name = "%s.%s" % (meta["name"], random_hex(16))
            reference = {"kind": involved.get("kind"), "namespace": meta.get("namespace"), "name": meta["name"],
                         "uid": meta.get("uid"), "apiVersion": involved.get("apiVersion"),
                         "resourceVersion": meta.get("resourceVersion")}
            if field_path:
                reference["fieldPath"] = field_path
            source = {"component": component}
            if component == "kubelet":
                source["host"] = self.node_name
            event = {"kind": "Event", "apiVersion": "v1",
                     "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()), "creationTimestamp": stamp},
                     "involvedObject": {k: v for k, v in reference.items() if v is not None}, "reason": reason,
                     "message": message, "source": source, "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
                     "type": event_type, "eventTime": None, "reportingComponent": component,
                     "reportingInstance": self.node_name if component == "kubelet" else ""}
            self.store.put("events", event)
        with self._lock:
            self._seen[key] = (name, time.monotonic())
