"""Garbage collector: objects whose owners are all gone are deleted (background propagation)."""

from ..resources import RESOURCE_TYPES


class GarbageCollector:
    """Deletes dependents of deleted owners."""

    def __init__(self, cluster):
        self.cluster = cluster

    def tick(self):
        """One collection pass."""
        store = self.cluster.store
        with store.lock:
            live = store.uids()
            for rtype in RESOURCE_TYPES:
                if not rtype.namespaced:
                    continue
                for obj in store.list(rtype.plural):
                    refs = obj["metadata"].get("ownerReferences") or []
                    if refs and not any(ref.get("uid") in live for ref in refs):
                        self.cluster.api.remove(rtype, obj, "Background")
