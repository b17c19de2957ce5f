"""The admission plugins whose effects clients can see: NamespaceLifecycle and ServiceAccount."""

from . import errors
from .resources import BY_PLURAL

PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
_NAMESPACES = BY_PLURAL["namespaces"]
_SERVICEACCOUNTS = BY_PLURAL["serviceaccounts"]


def check_namespace(store, rtype, namespace, name):
    """Namespaced creates need an existing namespace that is not being terminated."""
    if not rtype.namespaced:
        return
    ns = store.get("namespaces", "", namespace)
    if ns is None:
        raise errors.namespace_not_found(namespace)
    if ns["metadata"].get("deletionTimestamp"):
        raise errors.forbidden(rtype, name, "unable to create new content in namespace %s because it is being terminated" % namespace)


def check_namespace_delete(namespace):
    """The system namespaces cannot be deleted."""
    name = namespace["metadata"]["name"]
    if name in PROTECTED_NAMESPACES:
        raise errors.forbidden(_NAMESPACES, name, "this namespace may not be deleted")
    if namespace["metadata"].get("deletionTimestamp"):
        raise errors.conflict(_NAMESPACES, name, "The system is ensuring all content is removed from this namespace.  "
                              "Upon completion, this namespace will automatically be purged by the system.")


def mutate_pod(store, rtype, pod):
    """ServiceAccount admission: default the account, require it to exist, copy its imagePullSecrets."""
    meta, spec = pod["metadata"], pod.setdefault("spec", {})
    account_name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = account_name
    spec["serviceAccount"] = account_name
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    account = store.get("serviceaccounts", meta["namespace"], account_name)
    if account is None:
        raise errors.forbidden(rtype, meta["name"], 'error looking up service account %s/%s: serviceaccount "%s" not found'
                               % (meta["namespace"], account_name, account_name))
    if not spec.get("imagePullSecrets") and account.get("imagePullSecrets"):
        spec["imagePullSecrets"] = [{"name": ref["name"]} for ref in account["imagePullSecrets"] if ref.get("name")]
