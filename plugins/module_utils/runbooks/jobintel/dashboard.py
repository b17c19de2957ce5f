# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dashboard sanity check (seed 000's CI-safe ``make dashboard-sanity``), on a cluster's API only.

Two facts decide it: the dashboard Deployment is Available with enough ready replicas, and its
Service answers the health path through the API server's service proxy
(``/api/v1/namespaces/<ns>/services/<name>:<port>/proxy/<path>``) -- no port-forward, no ingress, so it
works from CI with nothing but a kubeconfig. ``verdict`` is pure; ``probe`` makes the two reads.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2 is not supported by the collection
    from urllib import quote

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError

KEY = "dashboard_sanity"


def proxy_path(namespace, service, port, health_path):
    """The API path of ``GET <health_path>`` on ``service:port`` through the API server's service proxy.

    The real API server matches a named Service port by name only (a numeric one is translated to its
    name first), so ``port`` should be the Service port's name (or number); each path segment is quoted."""
    target = "%s:%s" % (service, port) if port not in (None, "") else service
    segments = [quote(part, safe="") for part in health_path.strip("/").split("/") if part]
    return "/api/v1/namespaces/%s/services/%s/proxy/%s" % (quote(namespace, safe=""), quote(target, safe=":"), "/".join(segments))


def deployment_state(deployment):
    """``{"replicas", "ready", "available", "available_condition"}`` from a Deployment object (dict) or None."""
    if deployment is None:
        return None
    status = deployment.get("status") or {}
    condition = next((c for c in status.get("conditions") or [] if c.get("type") == "Available"), {})
    return {"replicas": (deployment.get("spec") or {}).get("replicas", 1), "ready": status.get("readyReplicas") or 0,
            "available": status.get("availableReplicas") or 0, "available_condition": condition.get("status") or "Unknown",
            "available_message": condition.get("message") or ""}


def verdict(state, health, min_available, cluster, names):
    """``(reason or None, message)`` of the check; pure.

    ``state`` is deployment_state(); ``health`` is ``{"code", "body", "reason", "message"}`` of the proxied
    GET (``reason`` set when the API server answered for the proxy itself: Service missing, no endpoints).
    ``names`` is ``{"namespace", "deployment", "service", "port", "health_path"}`` for the messages."""
    where = "%s cluster, namespace %s" % (cluster, names["namespace"])
    if state is None:
        return "dashboard_unavailable", ("deployment %s does not exist (%s); deploy the dashboard, or set "
                                         "dashboard_sanity_deployment to its name." % (names["deployment"], where))
    if state["available_condition"] != "True" or state["available"] < min_available:
        return "dashboard_unavailable", ("deployment %s has %d available of %d replicas (Available=%s%s; %s); at least %d needed: "
                                         "kubectl describe deployment %s -n %s tells why." % (
                                             names["deployment"], state["available"], state["replicas"], state["available_condition"],
                                             ": " + state["available_message"] if state["available_message"] else "", where,
                                             min_available, names["deployment"], names["namespace"]))
    if health.get("reason"):
        return health["reason"], health["message"]
    if not 200 <= health["code"] < 300:
        return "dashboard_unhealthy", ("GET %s on service %s:%s answered %d (%s); the dashboard is up but says it is not healthy: "
                                       "read its logs." % (names["health_path"], names["service"], names["port"], health["code"],
                                                           (health.get("body") or "").strip()[:120] or "no body"))
    return None, "deployment %s available (%d/%d), %s answered %d" % (names["deployment"], state["available"], state["replicas"],
                                                                      names["health_path"], health["code"])


def _proxy_failure(code, message, names):
    """The reason of an API server answer about the proxy itself (not the dashboard's own answer)."""
    if code == 404 and "services" in message and "not found" in message:
        return {"reason": "dashboard_service_missing",
                "message": "service %s does not exist in namespace %s (%s); create it, or set dashboard_sanity_service." % (
                    names["service"], names["namespace"], message)}
    if code == 503 and ("no endpoints available" in message or "error trying to reach service" in message):
        return {"reason": "dashboard_no_endpoints",
                "message": "service %s:%s has no ready endpoint to answer (%s); check its selector and port name "
                           "(dashboard_sanity_port must be the Service port's name or number) and the pods' readiness." % (
                               names["service"], names["port"], message)}
    return None


def probe(api, names, request_timeout):
    """``(deployment object or None, health)`` read through ``api`` (a kubernetes ApiClient)."""
    from kubernetes.client import AppsV1Api  # pylint: disable=import-outside-toplevel
    from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel

    try:
        deployment = api.sanitize_for_serialization(AppsV1Api(api).read_namespaced_deployment(names["deployment"], names["namespace"]))
    except ApiException as exc:
        if exc.status != 404:
            raise
        deployment = None
    path = proxy_path(names["namespace"], names["service"], names["port"], names["health_path"])
    method, url, headers, dummy_body, dummy_post = api.param_serialize("GET", path, auth_settings=["BearerToken"])
    response = api.call_api(method, url, header_params=headers, _request_timeout=request_timeout)
    body = (response.read() or b"").decode("utf-8", "replace")
    health = {"code": response.status, "body": body[:512]}
    if 200 <= response.status < 300:
        return deployment, health
    message = _status_message(body) or ""
    failure = _proxy_failure(response.status, message, names)
    if failure is None and response.status in (401, 403):
        # RBAC refused services/proxy: the connection's error mapping makes it k8s_forbidden.
        raise ApiException(status=response.status, reason=message or "Forbidden")
    health.update(failure or {})
    return deployment, health


def _status_message(body):
    """The ``message`` of a metav1.Status body, else None (a workload's own error page is not a Status)."""
    import json  # pylint: disable=import-outside-toplevel

    try:
        status = json.loads(body)
    except ValueError:
        return None
    return status.get("message") if isinstance(status, dict) and status.get("kind") == "Status" else None


def check(api, names, min_available=1, timeout=0.0, poll_interval=5.0, request_timeout=10, clock=time.monotonic, sleep=time.sleep):
    """Probe until the verdict is good or ``timeout`` seconds have passed; ``(reason, message, state, health, attempts)``."""
    deadline = clock() + max(timeout, 0)
    attempts = 0
    while True:
        attempts += 1
        deployment, health = probe(api, names, request_timeout)
        state = deployment_state(deployment)
        reason, message = verdict(state, health, min_available, names["cluster"], names)
        if reason is None or clock() + poll_interval > deadline:
            return reason, message, state, health, attempts
        sleep(poll_interval)


def require_inputs(names, kubeconfig):
    """Bad input fails before any request."""
    if not kubeconfig:
        raise OpsError("kubeconfig_invalid", "no kubeconfig for the %s cluster; set dashboard_sanity_kubeconfigs.%s in the inventory "
                                             "(or -e)." % (names["cluster"], names["cluster"]))
    if not names["health_path"].startswith("/"):
        raise OpsError("invalid_input", "dashboard_sanity_health_path %r must start with /." % names["health_path"])
