"""Namespace lifecycle: a Terminating namespace loses all its content, then disappears."""

from ..resources import BY_PLURAL, RESOURCE_TYPES


class NamespaceController:
    """Finishes namespace deletions and keeps a ``default`` ServiceAccount in every active namespace."""

    def __init__(self, cluster):
        self.cluster = cluster

    def tick(self):
        """One reconcile pass."""
        store, api = self.cluster.store, self.cluster.api
        for namespace in store.list("namespaces"):
            name = namespace["metadata"]["name"]
            if not namespace["metadata"].get("deletionTimestamp"):
                if store.get("serviceaccounts", name, "default") is None:
                    api.ensure_default_service_account(name)
                continue
            with store.lock:
                for rtype in RESOURCE_TYPES:
                    if rtype.namespaced:
                        for obj in store.list(rtype.plural, name):
                            store.remove(rtype.plural, name, obj["metadata"]["name"])
                store.remove(BY_PLURAL["namespaces"].plural, "", name)
