"""HTTPS front end: authentication, URL routing, content negotiation, watch streaming, control endpoints."""

import hmac
import json
import socket
import ssl
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import yaml

from . import authz, control, errors, openapi, protobuf, proxy, resources, tables
from .api import strip_for_list
from .controllers.kubelet import container_log
from .patching import APPLY_PATCH, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, apply_patch, PatchError
from .selectors import Selector, label_selector_string
from .watch import stream_watch

WATCH_CAP_SECONDS = 60
_HEALTH_PATHS = ("/healthz", "/livez", "/readyz")


def manager_from_user_agent(agent):
    """The default field manager: the User-Agent's product prefix, as the real apiserver derives it."""
    prefix = (agent or "").split("/", 1)[0]
    prefix = "".join(ch for ch in prefix if ch.isprintable())[:128]
    return prefix or "unknown"


def _watch_list_options(params):
    """``sendInitialEvents`` of a watch (None when absent), validated as apimachinery's validateWatchOptions does
    with the WatchList feature on: it needs ``resourceVersionMatch=NotOlderThan``, which needs it in turn."""
    raw = params.get("sendInitialEvents")
    send_initial_events = None if raw is None else raw in ("true", "1", "True", "TRUE", "t", "T")
    match = params.get("resourceVersionMatch") or ""
    problems = []
    if send_initial_events is not None and match != "NotOlderThan":
        problems.append(errors.FieldError("forbidden", "resourceVersionMatch",
                                          detail="sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
    if match:
        if send_initial_events is None:
            problems.append(errors.FieldError("forbidden", "resourceVersionMatch",
                                              detail="resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"))
        if match != "NotOlderThan":
            problems.append(errors.FieldError("not_supported", "resourceVersionMatch", match, 'supported values: "NotOlderThan"'))
        if params.get("continue"):
            problems.append(errors.FieldError("forbidden", "resourceVersionMatch", detail="resourceVersionMatch is forbidden when continue is provided"))
    if problems:
        raise errors.invalid_options("ListOptions", problems)
    return send_initial_events


class ApiHTTPServer(ThreadingHTTPServer):
    """Threading HTTPS server; the TLS handshake runs in the request thread, not in accept()."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, cluster, token, ssl_context, verbose=False):
        self.cluster = cluster
        self.token = token
        self.ssl_context = ssl_context
        self.verbose = verbose
        super().__init__(address, Handler)

    def get_request(self):
        sock, address = self.socket.accept()
        return self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)


class Request:
    """The parsed parts of an API request."""

    def __init__(self, method, rtype, namespace, name, subresource, params, body, headers):
        self.method = method
        self.rtype = rtype
        self.namespace = namespace
        self.name = name
        self.subresource = subresource
        self.params = params
        self.body = body
        self.headers = headers
        self.user = authz.ADMIN

    @property
    def verb(self):
        """Kubernetes verb of the request (get, list, watch, create, update, patch, delete, deletecollection)."""
        if self.method == "GET":
            if self.name:
                return "get"
            return "watch" if self.params.get("watch") in ("true", "1") else "list"
        if self.method == "DELETE":
            return "delete" if self.name else "deletecollection"
        return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(self.method, self.method.lower())

    @property
    def dry_run(self):
        """``dryRun=All`` (anything else is rejected like the real server does)."""
        value = self.params.get("dryRun")
        if value in (None, ""):
            return False
        if value != "All":
            raise errors.invalid_options("%sOptions" % {"POST": "Create", "PUT": "Update", "PATCH": "Patch", "DELETE": "Delete"}.get(
                self.method, ""), [errors.FieldError("not_supported", "dryRun", value, 'supported values: "All"')])
        return True

    @property
    def manager(self):
        """``fieldManager`` or the User-Agent prefix."""
        return self.params.get("fieldManager") or manager_from_user_agent(self.headers.get("User-Agent"))

    @property
    def wants_table(self):
        """kubectl get asks for server-side printing with ``as=Table``."""
        return "as=Table" in (self.headers.get("Accept") or "")


def parse_path(path):
    """``("discovery", document)`` or ``("resource", (rtype, namespace, name, subresource))``; raises 404."""
    if path in ("/api", "/api/"):
        return "discovery", resources.api_versions()
    if path in ("/apis", "/apis/"):
        return "discovery", resources.api_group_list()
    parts = path.strip("/").split("/")
    if len(parts) < 2 or parts[0] not in ("api", "apis"):
        raise errors.not_found_path()
    if parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) == 2:
            return "discovery", resources.api_group(parts[1])
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        return "discovery", resources.resource_list(group, version)
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] in resources.BY_PLURAL and resources.BY_PLURAL[rest[2]].namespaced:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        raise errors.not_found_path()
    rtype = resources.lookup(group, version, rest[0])
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if (rtype.namespaced and name and namespace is None) or (not rtype.namespaced and namespace is not None):
        raise errors.not_found_path()
    if subresource and not rtype.subresource(subresource):
        raise errors.not_found_path()
    return "resource", (rtype, namespace, name, subresource)


class Handler(BaseHTTPRequestHandler):
    """One connection; dispatches each request."""

    protocol_version = "HTTP/1.1"
    server_version = "sandbox-apiserver"
    sys_version = ""

    def setup(self):
        self.request.settimeout(120)
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            self.request.close()
            raise
        super().setup()

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        if self.server.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), format % args))

    def do_GET(self):  # pylint: disable=invalid-name
        """GET."""
        self._handle("GET")

    def do_POST(self):  # pylint: disable=invalid-name
        """POST."""
        self._handle("POST")

    def do_PUT(self):  # pylint: disable=invalid-name
        """PUT."""
        self._handle("PUT")

    def do_PATCH(self):  # pylint: disable=invalid-name
        """PATCH."""
        self._handle("PATCH")

    def do_DELETE(self):  # pylint: disable=invalid-name
        """DELETE."""
        self._handle("DELETE")

    # ------------------------------------------------------------------ plumbing

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_bytes(self, code, payload, content_type="application/json", headers=None):
        """Send a complete response."""
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def send_json(self, code, obj, headers=None):
        """Send a JSON response."""
        self.send_bytes(code, json.dumps(obj, separators=(",", ":")).encode(), headers=headers)

    def start_chunked(self, content_type="application/json"):
        """Begin a streamed (chunked) 200 response."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

    def send_chunk(self, data):
        """Write one chunk (an empty ``data`` ends the stream)."""
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _handle(self, method):
        url = urlsplit(self.path)
        params = {key: values[-1] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            body = self._read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        try:
            if url.path.startswith("/_sandbox/"):
                self._control(method, url.path, body, params)
                return
            user = self._authenticated()
            self.server.cluster.audit.record(method, url.path, url.query, (user or {}).get("name", "system:anonymous"))
            if user is None:
                raise errors.unauthorized()
            self._api(method, url.path, params, body, user)
        except errors.ApiError as exc:
            self.send_json(exc.code, exc.status(), exc.headers)
        except (BrokenPipeError, ConnectionResetError, socket.timeout, ssl.SSLError):
            self.close_connection = True
        except Exception as exc:  # pylint: disable=broad-except
            traceback.print_exc()
            error = errors.ApiError(500, "InternalError", "Internal error occurred: %s" % exc, {"causes": [{"message": str(exc)}]})
            self.send_json(500, error.status())

    def _authenticated(self):
        """The identity of the bearer token: the admin (the kubeconfig's token), a registered identity, or None."""
        header = self.headers.get("Authorization") or ""
        scheme, dummy, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        if hmac.compare_digest(token.strip().encode(), self.server.token.encode()):
            return authz.ADMIN
        return self.server.cluster.identities.lookup(token.strip())

    def _control(self, method, path, body, params=None):
        try:
            payload = json.loads(body) if body.strip() else None
        except ValueError:
            self.send_json(400, {"error": "body must be JSON"})
            return
        code, answer = control.handle(self.server.cluster, method, path, payload, params)
        self.send_json(code, answer)

    # ------------------------------------------------------------------ API

    def _api(self, method, path, params, body, user):
        if path in _HEALTH_PATHS:
            self.send_bytes(200, b"ok", "text/plain; charset=utf-8")
            return
        if path in ("/version", "/version/"):
            self.send_json(200, resources.SERVER_VERSION)
            return
        if path.rstrip("/") == "/openapi/v3":
            self.send_json(200, openapi.root())
            return
        if path.startswith("/openapi/v3/"):
            self.send_json(200, openapi.group_version(path))
            return
        if path.rstrip("/") == authz.SSAR_PATH:
            # Every authenticated user may ask what it may do (system:basic-user).
            if method != "POST":
                raise errors.method_not_allowed()
            request = Request(method, None, None, None, None, params, body, self.headers)
            self.send_json(201, authz.self_subject_access_review(user, self._decode(request)))
            return
        proxied = proxy.split_path(path)
        if proxied is not None:
            self._service_proxy(method, user, *proxied)
            return
        kind, value = parse_path(path)
        if kind == "discovery":
            if method != "GET":
                raise errors.method_not_allowed()
            self.send_json(200, value)
            return
        rtype, namespace, name, subresource = value
        request = Request(method, rtype, namespace, name, subresource, params, body, self.headers)
        verb = request.verb
        if subresource is None and verb not in rtype.verbs:
            raise errors.method_not_allowed()
        if subresource and verb not in rtype.subresource(subresource).verbs:
            raise errors.method_not_allowed()
        allowed, dummy = authz.allows(user, verb, rtype.group, rtype.plural, subresource or "", namespace or "", name or "")
        if not allowed:
            raise authz.forbidden(user, verb, rtype, namespace, name, subresource)
        request.user = user
        rule = self.server.cluster.faults.decide({"verb": verb, "resource": rtype.plural, "namespace": namespace or "", "name": name or ""})
        if rule is not None:
            if rule.error == "latency":
                time.sleep(rule.latency_ms / 1000.0)
            else:
                raise errors.injected(int(rule.error))
        getattr(self, "_verb_" + verb)(request)

    def _service_proxy(self, method, user, namespace, service_id, subpath):
        """GET through a Service's proxy subresource (RBAC: ``get`` on ``services/proxy``); see proxy.py."""
        services, pods, deployments = (resources.BY_PLURAL[plural] for plural in ("services", "pods", "deployments"))
        if method != "GET":
            raise errors.method_not_allowed()
        allowed, dummy = authz.allows(user, "get", "", "services", "proxy", namespace, service_id)
        if not allowed:
            raise authz.forbidden(user, "get", services, namespace, service_id, "proxy")
        code, payload, content_type = proxy.answer(self.server.cluster.api, services, pods, deployments, namespace, service_id, subpath)
        self.send_bytes(code, payload, content_type)

    def _decode(self, request):
        content_type = (request.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        if content_type == protobuf.CONTENT_TYPE:
            return protobuf.decode(request.body, request.rtype)
        try:
            if content_type in ("application/yaml", "application/x-yaml"):
                return yaml.safe_load(request.body)
            return json.loads(request.body or b"null")
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.bad_request("couldn't get version/kind; json parse error: %s" % exc) from exc

    def _verb_get(self, request):
        api, rtype = self.server.cluster.api, request.rtype
        obj = api.get(rtype, request.namespace, request.name)
        if request.subresource == "log":
            tail = request.params.get("tailLines")
            text = container_log(obj, request.params.get("container"), int(tail) if tail else None)
            self.send_bytes(200, text.encode(), "text/plain")
            return
        if request.subresource == "scale":
            self.send_json(200, scale_of(obj))
            return
        if request.wants_table:
            self.send_json(200, tables.table(rtype, [obj], obj["metadata"]["resourceVersion"], request.params.get("includeObject")))
            return
        self.send_json(200, obj)

    def _verb_list(self, request):
        rtype = request.rtype
        selector = Selector(request.params.get("labelSelector"), request.params.get("fieldSelector"), rtype.plural)
        items, rv = self.server.cluster.api.list(rtype, request.namespace, selector)
        if request.wants_table:
            self.send_json(200, tables.table(rtype, items, rv, request.params.get("includeObject")))
            return
        self.send_json(200, {"kind": rtype.list_kind, "apiVersion": rtype.api_version, "metadata": {"resourceVersion": rv},
                             "items": [strip_for_list(obj) for obj in items]})

    def _verb_watch(self, request):
        selector = Selector(request.params.get("labelSelector"), request.params.get("fieldSelector"), request.rtype.plural)
        try:
            timeout = min(float(request.params.get("timeoutSeconds") or WATCH_CAP_SECONDS), WATCH_CAP_SECONDS)
        except ValueError as exc:
            raise errors.bad_request("invalid timeoutSeconds") from exc
        table_include = request.params.get("includeObject", "") if request.wants_table else None
        send_initial_events = _watch_list_options(request.params)
        stream_watch(self, self.server.cluster, request.rtype, request.namespace, selector, request.params.get("resourceVersion"), timeout,
                     table_include, send_initial_events)

    def _verb_create(self, request):
        if request.name:
            raise errors.method_not_allowed()
        obj = self.server.cluster.api.create(request.rtype, request.namespace, self._decode(request), request.manager, request.dry_run)
        self.send_json(201, obj)

    def _verb_update(self, request):
        api = self.server.cluster.api
        if request.subresource == "scale":
            self.send_json(200, self._scale(request, lambda scale: self._decode(request)))
            return
        body = self._decode(request)
        if request.subresource == "finalize":
            current = api.get(request.rtype, request.namespace, request.name)
            current.setdefault("spec", {})["finalizers"] = ((body or {}).get("spec") or {}).get("finalizers") or []
            body = current
        subresource = "status" if request.subresource == "status" else None
        self.send_json(200, api.update(request.rtype, request.namespace, request.name, body, request.manager, request.dry_run, subresource))

    def _verb_patch(self, request):
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        force = request.params.get("force") in ("true", "1")
        if request.subresource == "scale":
            if content_type not in (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH):
                raise errors.unsupported_media_type()
            self.send_json(200, self._scale(request, lambda scale: apply_patch(content_type, scale, json.loads(request.body), "Scale")))
            return
        api = self.server.cluster.api
        existed = content_type != APPLY_PATCH or api.store.get(request.rtype.plural, request.namespace or "", request.name) is not None
        if not existed and not authz.allows(request.user, "create", request.rtype.group, request.rtype.plural, "", request.namespace or "",
                                            request.name)[0]:
            # An apply that would create the object also needs "create", as the real patch handler checks.
            raise authz.forbidden(request.user, "create", request.rtype, request.namespace, request.name)
        # Apply needs an explicit fieldManager; other writes default it from the User-Agent.
        manager = request.params.get("fieldManager") if content_type == APPLY_PATCH else request.manager
        obj = api.patch(request.rtype, request.namespace, request.name, content_type, request.body, manager, request.dry_run, force,
                        request.subresource)
        self.send_json(200 if existed else 201, obj)

    def _scale(self, request, new_scale):
        """Read-modify-write of ``deployments/<name>/scale``."""
        api = self.server.cluster.api
        with api.store.lock:
            deployment = api.get(request.rtype, request.namespace, request.name)
            try:
                scale = new_scale(scale_of(deployment))
            except (PatchError, ValueError) as exc:
                raise errors.ApiError(422, "Invalid", str(exc)) from exc
            replicas = ((scale or {}).get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                error = errors.FieldError("invalid", "spec.replicas", replicas, "must be greater than or equal to 0")
                raise errors.invalid(request.rtype, request.name, [error])
            wanted = ((scale or {}).get("metadata") or {}).get("resourceVersion")
            if wanted and wanted != deployment["metadata"]["resourceVersion"]:
                raise errors.conflict(request.rtype, request.name)
            deployment["spec"]["replicas"] = replicas
            updated = api.update(request.rtype, request.namespace, request.name, deployment, request.manager, request.dry_run)
        return scale_of(updated)

    def _delete_options(self, request):
        options = {}
        if request.body.strip():
            options = self._decode(request) or {}
        policy = request.params.get("propagationPolicy") or options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        if options.get("dryRun") == ["All"]:
            request.params["dryRun"] = "All"
        return policy, options.get("preconditions")

    def _verb_delete(self, request):
        policy, preconditions = self._delete_options(request)
        body, code = self.server.cluster.api.delete(request.rtype, request.namespace, request.name, policy, request.dry_run, preconditions)
        self.send_json(code, body)

    def _verb_deletecollection(self, request):
        policy, dummy = self._delete_options(request)
        selector = Selector(request.params.get("labelSelector"), request.params.get("fieldSelector"), request.rtype.plural)
        self.send_json(200, self.server.cluster.api.delete_collection(request.rtype, request.namespace, selector, policy, request.dry_run))


def scale_of(deployment):
    """The autoscaling/v1 Scale view of a Deployment."""
    meta = deployment["metadata"]
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta},
            "spec": {"replicas": deployment["spec"].get("replicas", 1)},
            "status": {"replicas": (deployment.get("status") or {}).get("replicas", 0),
                       "selector": label_selector_string(deployment["spec"].get("selector"))}}
