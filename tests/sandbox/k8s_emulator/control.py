"""``/_sandbox/*`` control endpoints (JSON, no authentication; the server only listens on loopback)."""

import re

from . import errors
from .authz import IdentityError
from .cluster import ConfigError
from .controllers.cronjobs import TriggerRefused
from .faults import FaultConfigError

_TRIGGER = re.compile(r"^/_sandbox/cronjobs/([^/]+)/([^/]+)/trigger/?$")


def handle(cluster, method, path, body, query=None):
    """Run one control request; returns ``(http_status, json_payload)``."""
    path = path.rstrip("/") or path
    if path == "/_sandbox/health" and method == "GET":
        return 200, {"ok": True, "name": cluster.name, "objects": cluster.store.count(), "resourceVersion": str(cluster.store.resource_version)}
    if path == "/_sandbox/faults":
        return _faults(cluster, method, body)
    if path == "/_sandbox/config":
        return _config(cluster, method, body)
    if path == "/_sandbox/identities":
        return _identities(cluster, method, body)
    if path == "/_sandbox/audit" and method == "GET":
        return _audit(cluster, query)
    if path == "/_sandbox/reset" and method == "POST":
        cluster.reset()
        return 200, {"ok": True}
    match = _TRIGGER.match(path)
    if match and method == "POST":
        return _trigger(cluster, match.group(1), match.group(2))
    return 404, {"error": "unknown control endpoint %s %s" % (method, path)}


def _audit(cluster, query):
    """``GET /_sandbox/audit?since=N&limit=M``: the client requests after sequence ``N`` (see audit.py)."""
    try:
        since = int((query or {}).get("since", 0))
        limit = int((query or {}).get("limit", 5000))
    except ValueError:
        return 400, {"error": "since and limit must be integers"}
    return 200, {"last_seq": cluster.audit.last_seq(), "items": cluster.audit.since(since, limit)}


def _faults(cluster, method, body):
    if method == "GET":
        return 200, cluster.faults.snapshot()
    if method == "DELETE":
        cluster.faults.clear()
        return 200, cluster.faults.snapshot()
    if method == "POST":
        try:
            cluster.faults.configure(body if body is not None else {})
        except FaultConfigError as exc:
            return 400, {"error": str(exc)}
        return 200, cluster.faults.snapshot()
    return 405, {"error": "method not allowed"}


def _identities(cluster, method, body):
    if method == "GET":
        return 200, cluster.identities.snapshot()
    if method == "DELETE":
        cluster.identities.clear()
        return 200, []
    if method == "POST":
        try:
            return 201, cluster.identities.register(body)
        except IdentityError as exc:
            return 400, {"error": str(exc)}
    return 405, {"error": "method not allowed"}


def _config(cluster, method, body):
    if method == "POST":
        try:
            cluster.config.update(body if body is not None else {})
        except ConfigError as exc:
            return 400, {"error": str(exc)}
        cluster.sync_node()
    elif method != "GET":
        return 405, {"error": "method not allowed"}
    return 200, cluster.config.to_dict()


def _trigger(cluster, namespace, name):
    controller = cluster.controllers.by_name["CronJobController"]
    try:
        job = controller.trigger(namespace, name)
    except TriggerRefused as exc:
        return 409, {"error": exc.reason}
    except errors.ApiError as exc:
        return exc.code, {"error": exc.message}
    return 201, {"job": job["metadata"]["name"], "namespace": namespace}
