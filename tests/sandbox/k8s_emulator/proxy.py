"""The Service proxy subresource: ``GET /api/v1/namespaces/{ns}/services/{[scheme:]name[:port]}/proxy/{path}``.

What the real API server does, and so this: the id splits into scheme, name and port (``:`` separated);
a numeric port is first translated to the name of the Service port with that number; the Service's
endpoints are its selector's *ready* pods (the emulated deployment controller creates no Pods, so a
Deployment with ready replicas whose template labels match stands for its pods), and an endpoint port matches when its name equals the
requested port name -- so a single-port Service whose port is named must be addressed with that name
(``svc:http``), and an empty port matches only an unnamed Service port. No ready endpoint with that
port is 503 ``no endpoints available for service "<name>"``. The request then goes to the pod's IP and
the Service port's ``targetPort`` (a number, or a named container port of the pod).

There is no network here: the pod's answer is the emulated workload's. A container that declares the
target port and runs the jobintel image's ``dashboard`` mode serves ``/healthz`` (``ok``, or the status
``DASHBOARD_HEALTHZ_STATUS`` in its env says, for tests of an unhealthy dashboard) and ``/`` (a page);
other paths are 404. A pod that declares no container on the target port refuses the connection, which
the API server reports as 503 ``error trying to reach service``.
"""

from . import errors
from .selectors import match_labels

PROXY_VERBS = ("GET",)


def split_path(path):
    """``(namespace, id, subpath)`` for a service proxy path, else None."""
    parts = path.split("/")
    # "", "api", "v1", "namespaces", ns, "services", id, "proxy", rest...
    if len(parts) < 8 or parts[1:4] != ["api", "v1", "namespaces"] or parts[5] != "services" or parts[7] != "proxy":
        return None
    return parts[4], parts[6], "/" + "/".join(parts[8:])


def split_id(service_id):
    """``(scheme, name, port)`` as apimachinery's SplitSchemeNamePort; raises 400 on a malformed id."""
    pieces = service_id.split(":")
    if len(pieces) == 1:
        return "", pieces[0], ""
    if len(pieces) == 2:
        return "", pieces[0], pieces[1]
    if len(pieces) == 3 and pieces[0] in ("", "http", "https"):
        return pieces[0], pieces[1], pieces[2]
    raise errors.bad_request("invalid service request %r" % service_id)


def _ready(pod):
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions) and (pod.get("status") or {}).get("podIP")


def _container_on(pod, target):
    """The container of ``pod`` listening on ``target`` (a number or a port name), and the port number."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if target in (port.get("name"), port.get("containerPort")):
                return container, port.get("containerPort")
    return None, target if isinstance(target, int) else None


def _workload_answer(container, subpath):
    """``(code, body, content type)`` of the emulated workload."""
    args = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    if "dashboard" not in args:
        return 404, b"404 page not found\n", "text/plain; charset=utf-8"
    if subpath in ("/healthz", "/healthz/"):
        env = {e.get("name"): e.get("value") for e in container.get("env") or [] if isinstance(e, dict)}
        code = int(env.get("DASHBOARD_HEALTHZ_STATUS") or 200)
        return code, (b"ok\n" if code == 200 else b"unhealthy\n"), "text/plain; charset=utf-8"
    if subpath == "/":
        return 200, b"<!doctype html><title>jobintel dashboard</title>\n", "text/html; charset=utf-8"
    return 404, b"404 page not found\n", "text/plain; charset=utf-8"


def _deployment_pod(deployment):
    """A ready pod of ``deployment`` as its template describes it (the emulated deployment controller
    keeps only status, so its ready replicas stand for pods)."""
    template = (deployment.get("spec") or {}).get("template") or {}
    return {"metadata": {"name": "%s-0" % deployment["metadata"]["name"], "labels": (template.get("metadata") or {}).get("labels") or {}},
            "spec": template.get("spec") or {}, "status": {"podIP": "10.42.0.%d" % (sum(map(ord, deployment["metadata"]["name"])) % 250 + 2)}}


def answer(api, services, pods, deployments, namespace, service_id, subpath):
    """``(code, body, content type)`` for a proxied GET; raises ApiError as the API server answers."""
    dummy, name, port = split_id(service_id)
    service = api.get(services, namespace, name)
    spec = service.get("spec") or {}
    service_ports = spec.get("ports") or []
    if port.isdigit():
        port = next((p.get("name") or "" for p in service_ports if str(p.get("port")) == port), port)
    chosen = next((p for p in service_ports if (p.get("name") or "") == port), None)
    selector = spec.get("selector") or {}
    endpoints = []
    if chosen is not None and selector:
        requirements = [(key, "in", [value]) for key, value in selector.items()]
        items, dummy = api.list(pods, namespace, _AllSelector())
        endpoints = [pod for pod in items if _ready(pod) and match_labels(requirements, (pod.get("metadata") or {}).get("labels") or {})]
        items, dummy = api.list(deployments, namespace, _AllSelector())
        endpoints += [_deployment_pod(d) for d in items if ((d.get("status") or {}).get("readyReplicas") or 0) > 0
                      and match_labels(requirements, ((d.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {})]
    if not endpoints:
        raise errors.ApiError(503, "ServiceUnavailable", 'no endpoints available for service "%s"' % name)
    pod = sorted(endpoints, key=lambda p: p["metadata"]["name"])[0]
    container, number = _container_on(pod, chosen.get("targetPort", chosen.get("port")))
    if container is None:
        raise errors.ApiError(503, "ServiceUnavailable", "error trying to reach service: dial tcp %s:%s: connect: connection refused"
                              % (pod["status"]["podIP"], number if number is not None else chosen.get("targetPort")))
    return _workload_answer(container, subpath)


class _AllSelector:
    """A selector matching every object (the service selector is applied here, with its own semantics)."""

    @staticmethod
    def matches(obj):
        del obj
        return True
