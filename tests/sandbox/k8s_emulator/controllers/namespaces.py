"""Namespace lifecycle: a Terminating namespace loses all its content, then disappears."""

from ..resources import BY_PLURAL, RESOURCE_TYPES


class NamespaceController:
    """Finishes namespace deletions; keeps ``default`` ServiceAccount and ``kube-root-ca.crt`` in active namespaces."""

    def __init__(self, cluster):
        self.cluster = cluster

    def tick(self):
        """One reconcile pass."""
        store, api = self.cluster.store, self.cluster.api
        for namespace in store.list("namespaces"):
            name = namespace["metadata"]["name"]
            if not namespace["metadata"].get("deletionTimestamp"):
                api.ensure_namespace_defaults(name)
                continue
            with store.lock:
                for rtype in RESOURCE_TYPES:
                    if rtype.namespaced:
                        for obj in store.list(rtype.plural, name):
                            store.remove(rtype.plural, name, obj["metadata"]["name"])
                # As the real API: an object with metadata.finalizers stays (Terminating) until they are removed.
                if not namespace["metadata"].get("finalizers"):
                    store.remove(BY_PLURAL["namespaces"].plural, "", name)
