"""Helpers shared by the controllers: conditions, ownership, env lookups."""

from ..resources import BY_PLURAL
from ..util import iso

PODS = BY_PLURAL["pods"]
JOBS = BY_PLURAL["jobs"]
CRONJOBS = BY_PLURAL["cronjobs"]
DEPLOYMENTS = BY_PLURAL["deployments"]
TERMINAL_PHASES = ("Succeeded", "Failed")


def set_condition(status, ctype, value, reason=None, message=None, probe=False):
    """Insert or update a condition; ``lastTransitionTime`` only moves when ``status`` flips."""
    conditions = status.setdefault("conditions", [])
    stamp = iso()
    for condition in conditions:
        if condition.get("type") == ctype:
            if condition.get("status") != value:
                condition["lastTransitionTime"] = stamp
            condition["status"] = value
            _set_optional(condition, reason, message)
            return condition
    condition = {"type": ctype, "status": value}
    if probe:
        condition["lastProbeTime"] = None
    condition["lastTransitionTime"] = stamp
    _set_optional(condition, reason, message)
    conditions.append(condition)
    return condition


def _set_optional(condition, reason, message):
    for key, value in (("reason", reason), ("message", message)):
        if value:
            condition[key] = value
        else:
            condition.pop(key, None)


def condition_true(obj, ctype):
    """Whether ``status.conditions`` has ``ctype`` with status True."""
    return any(c.get("type") == ctype and c.get("status") == "True" for c in (obj.get("status") or {}).get("conditions") or [])


def owned_by(objects, uid):
    """Objects whose ownerReferences name ``uid``."""
    return [o for o in objects if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])]


def owner_reference(owner, controller=True):
    """An ownerReference to ``owner``."""
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": controller, "blockOwnerDeletion": True}


def object_reference(obj):
    """A core/v1 ObjectReference to ``obj``."""
    meta = obj["metadata"]
    return {"kind": obj.get("kind"), "namespace": meta.get("namespace"), "name": meta["name"], "uid": meta.get("uid"),
            "apiVersion": obj.get("apiVersion"), "resourceVersion": meta.get("resourceVersion")}


def env_value(container, name, default=None):
    """A literal ``env`` value of a container."""
    for env in container.get("env") or []:
        if env.get("name") == name and "value" in env:
            return env["value"]
    return default
