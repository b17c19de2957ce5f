"""Server-side printing: the ``meta.k8s.io/v1`` Table that ``kubectl get`` asks for (``as=Table``)."""

from .util import dig, humanize_age, now, parse_iso


def _name(obj):
    return obj["metadata"]["name"]


def _age(obj):
    return humanize_age(obj["metadata"].get("creationTimestamp"))


def _pod_ready(obj):
    statuses = dig(obj, "status", "containerStatuses", default=[]) or []
    total = len(dig(obj, "spec", "containers", default=[]) or [])
    return "%d/%d" % (sum(1 for s in statuses if s.get("ready")), total)


def _pod_status(obj):
    for status in dig(obj, "status", "containerStatuses", default=[]) or []:
        waiting = dig(status, "state", "waiting")
        if waiting and waiting.get("reason"):
            return waiting["reason"]
    for status in dig(obj, "status", "containerStatuses", default=[]) or []:
        terminated = dig(status, "state", "terminated")
        if terminated and obj["status"].get("phase") in ("Succeeded", "Failed"):
            return terminated.get("reason") or obj["status"]["phase"]
    return dig(obj, "status", "phase", default="Unknown")


def _restarts(obj):
    return sum(s.get("restartCount", 0) for s in dig(obj, "status", "containerStatuses", default=[]) or [])


def _job_status(obj):
    for condition in dig(obj, "status", "conditions", default=[]) or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return condition["type"]
    if dig(obj, "spec", "suspend"):
        return "Suspended"
    return "Running"


def _duration(obj):
    start = parse_iso(dig(obj, "status", "startTime"))
    if not start:
        return ""
    end = parse_iso(dig(obj, "status", "completionTime")) or now()
    return "%ds" % int((end - start).total_seconds())


def _last_schedule(obj):
    stamp = dig(obj, "status", "lastScheduleTime")
    return humanize_age(stamp) if stamp else "<none>"


def _event_object(obj):
    involved = obj.get("involvedObject") or {}
    return "%s/%s" % (str(involved.get("kind", "")).lower(), involved.get("name", ""))


def _event_last_seen(obj):
    stamp = obj.get("lastTimestamp") or obj.get("eventTime") or obj["metadata"].get("creationTimestamp")
    return humanize_age(stamp)


_COLUMNS = {
    "pods": (("Name", _name), ("Ready", _pod_ready), ("Status", _pod_status), ("Restarts", _restarts), ("Age", _age)),
    "jobs": (("Name", _name), ("Status", _job_status),
             ("Completions", lambda o: "%s/%s" % (dig(o, "status", "succeeded", default=0), dig(o, "spec", "completions", default=1))),
             ("Duration", _duration), ("Age", _age)),
    "cronjobs": (("Name", _name), ("Schedule", lambda o: dig(o, "spec", "schedule", default="")),
                 ("Suspend", lambda o: str(bool(dig(o, "spec", "suspend"))).capitalize()),
                 ("Active", lambda o: len(dig(o, "status", "active", default=[]) or [])), ("Last Schedule", _last_schedule),
                 ("Age", _age)),
    "deployments": (("Name", _name),
                    ("Ready", lambda o: "%s/%s" % (dig(o, "status", "readyReplicas", default=0), dig(o, "spec", "replicas", default=0))),
                    ("Up-to-date", lambda o: dig(o, "status", "updatedReplicas", default=0)),
                    ("Available", lambda o: dig(o, "status", "availableReplicas", default=0)), ("Age", _age)),
    "configmaps": (("Name", _name), ("Data", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})), ("Age", _age)),
    "secrets": (("Name", _name), ("Type", lambda o: o.get("type", "")), ("Data", lambda o: len(o.get("data") or {})), ("Age", _age)),
    "serviceaccounts": (("Name", _name), ("Secrets", lambda o: len(o.get("secrets") or [])), ("Age", _age)),
    "namespaces": (("Name", _name), ("Status", lambda o: dig(o, "status", "phase", default="")), ("Age", _age)),
    "nodes": (("Name", _name), ("Status", lambda o: "Ready"), ("Roles", lambda o: "<none>"), ("Age", _age),
              ("Version", lambda o: dig(o, "status", "nodeInfo", "kubeletVersion", default=""))),
    "events": (("Last Seen", _event_last_seen), ("Type", lambda o: o.get("type", "")), ("Reason", lambda o: o.get("reason", "")),
               ("Object", _event_object), ("Message", lambda o: o.get("message", ""))),
}
_DEFAULT = (("Name", _name), ("Age", _age))


def _row_object(obj, include, rtype):
    if include == "None":
        return None
    if include == "Object":
        full = dict(obj)
        full.setdefault("kind", rtype.kind)
        full.setdefault("apiVersion", rtype.api_version)
        return full
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(rtype, objects, resource_version, include="PartialObjectMetadata"):
    """A Table for ``objects`` (one row each)."""
    columns = _COLUMNS.get(rtype.plural, _DEFAULT)
    definitions = []
    for title, dummy in columns:
        definition = {"name": title, "type": "integer" if title in ("Restarts", "Data", "Active", "Secrets") else "string",
                      "format": "name" if title == "Name" else "", "description": title, "priority": 0}
        definitions.append(definition)
    rows = []
    for obj in objects:
        row = {"cells": [getter(obj) for dummy, getter in columns]}
        embedded = _row_object(obj, include or "PartialObjectMetadata", rtype)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": definitions, "rows": rows}
