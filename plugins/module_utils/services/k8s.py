# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes access through the official ``kubernetes`` client (never kubectl).

As kubernetes.core does: the client is built once per kubeconfig/context, credentials found in the
kubeconfig are handed to the caller so modules add them to ``no_log_values``, check mode becomes a
server-side dry run (``dryRun=All``) and writes are server-side apply with a named field manager.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import json
import os
import re
import time

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError

try:
    import yaml
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import DynamicApiError, NotFoundError
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc
    ApiException = DynamicApiError = NotFoundError = Exception

try:
    from urllib3.util.retry import Retry
except ImportError:  # pragma: no cover - urllib3 comes with the kubernetes client
    Retry = object

try:
    import kubernetes_validate
    import kubernetes_validate.utils
    HAS_KUBERNETES_VALIDATE = True
except ImportError:  # pragma: no cover - validation is then reported as unavailable
    HAS_KUBERNETES_VALIDATE = False

FIELD_MANAGER = "signalcraft.ops"
# The Kubernetes minor version rendered manifests are validated against (k3s on the DR runner).
DEFAULT_SCHEMA_VERSION = "1.32"
# What modules catch around API calls.
K8S_ERRORS = (ApiException, DynamicApiError)
# Server-populated fields that say nothing about whether the desired state differs.
_VOLATILE_METADATA = ("resourceVersion", "managedFields", "generation", "creationTimestamp", "uid", "selfLink")
_CLIENT_CACHE = {}
# Transient answers of an API server: API priority and fairness rejects with 429 (Retry-After), an overloaded or
# restarting server or its etcd answers 500/502/503/504.
TRANSIENT_STATUSES = (429, 500, 502, 503, 504)


class ApiRetry(Retry):
    """Retries of the API requests that are safe to repeat, inside the client's connection pool.

    Why here and not around every call: every module reads and writes through one ``ApiClient``, and the requests
    it makes are idempotent except POST -- GET/LIST/WATCH read, server-side apply (PATCH) converges to the same
    object, DELETE of a deleted object is a 404 the callers treat as gone. A POST (a create) is retried only on
    429, which API priority and fairness sends before the request is processed; a 5xx on a create may come after
    the object was stored, so the caller decides (``create_once``). Retry-After is honoured (urllib3 does for 429
    and 503); other retries back off exponentially.
    """

    def is_retry(self, method, status_code, has_retry_after=False):
        if (method or "").upper() == "POST":
            return status_code == 429 and bool(self.total if self.total is not None else True)
        return super(ApiRetry, self).is_retry(method, status_code, has_retry_after)


def create_once(create, read_back, attempts=4, sleep=None, backoff=0.5):
    """POST ``create()`` so that a 5xx answered after the server stored the object does not fail the run.

    A create that answered 5xx is repeated; if the repeat says AlreadyExists (409), the first one was stored after
    all, and ``read_back()`` returns it. Callers use names nobody else creates (a Job per run and attempt).
    """
    sleep = sleep or time.sleep
    for attempt in range(1, attempts + 1):
        try:
            return create()
        # pylint: disable-next=catching-non-exception  # a tuple of exception classes pylint cannot infer
        except K8S_ERRORS as exc:
            status = getattr(exc, "status", None)
            if status == 409 and attempt > 1:
                found = read_back()
                if found is not None:
                    return found
            if status not in TRANSIENT_STATUSES or attempt == attempts:
                raise
            sleep(backoff * (2 ** (attempt - 1)))
    return None  # pragma: no cover - the loop returns or raises


def api_retries(total=6, backoff_factor=0.5):
    """The retry policy every client built here uses (see ApiRetry)."""
    if Retry is object:
        return None
    return ApiRetry(total=total, connect=total, read=2, status=total, backoff_factor=backoff_factor, status_forcelist=TRANSIENT_STATUSES,
                    allowed_methods=frozenset(("GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS")), raise_on_status=False,
                    respect_retry_after_header=True)


def retry_transient(call, attempts=4, sleep=None, backoff=0.5):
    """``call()``, repeated on a transient API status for requests the transport does not retry (a POST that creates
    nothing, such as an access review). Returns its result; the last error when every attempt failed."""
    sleep = sleep or time.sleep
    for attempt in range(1, attempts + 1):
        try:
            return call()
        # pylint: disable-next=catching-non-exception  # a tuple of exception classes pylint cannot infer
        except K8S_ERRORS as exc:
            if getattr(exc, "status", None) not in TRANSIENT_STATUSES or attempt == attempts:
                raise
            sleep(backoff * (2 ** (attempt - 1)))
    return None  # pragma: no cover - the loop returns or raises


def k8s_argument_spec():
    """Connection options shared by every Kubernetes-facing module."""
    from ansible.module_utils.basic import env_fallback

    return dict(
        kubeconfig=dict(type="path", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG", "KUBECONFIG"])),
        context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
    )


def namespace_argument_spec():
    """``create_namespace`` of the Kubernetes-writing modules (documented by doc fragment signalcraft.ops.k8s_namespace)."""
    return dict(create_namespace=dict(type="bool", default=True))


def apply_argument_spec():
    """``force_conflicts`` of the modules that server-side apply manifests (doc fragment signalcraft.ops.k8s_apply)."""
    return dict(force_conflicts=dict(type="bool", default=False))


def kubeconfig_secret_values(kubeconfig):
    """Every credential in a kubeconfig file (tokens, passwords, key data) so callers can no_log them."""
    if not kubeconfig or not os.path.exists(kubeconfig):
        return []
    with open(kubeconfig) as handle:
        document = yaml.safe_load(handle) or {}
    values = []
    for entry in document.get("users") or []:
        user = entry.get("user") or {}
        for name in ("token", "password", "client-key-data"):
            if user.get(name):
                values.append(str(user[name]))
        if user.get("client-key-data"):
            try:
                values.append(base64.b64decode(user["client-key-data"]).decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                pass
    return values


def api_client(kubeconfig=None, context=None):
    """A cached ``ApiClient`` for the kubeconfig/context (in-cluster config when neither is given)."""
    key = (os.path.abspath(kubeconfig) if kubeconfig else None, context)
    if key not in _CLIENT_CACHE:
        if not HAS_KUBERNETES:
            raise RuntimeError("the kubernetes Python client is required: %s" % KUBERNETES_IMPORT_ERROR)
        configuration = k8s_client.Configuration()
        if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            k8s_config.load_incluster_config(client_configuration=configuration)
        else:
            if kubeconfig and not os.path.exists(kubeconfig):
                raise ValueError("kubeconfig %s does not exist; pass the path of a kubeconfig file." % kubeconfig)
            k8s_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration, persist_config=False)
        # Read by the client when it builds its connection pool, so it must be set before ApiClient exists.
        configuration.retries = api_retries()
        _CLIENT_CACHE[key] = k8s_client.ApiClient(configuration=configuration)
    return _CLIENT_CACHE[key]


def dynamic_client(kubeconfig=None, context=None):
    return DynamicClient(api_client(kubeconfig, context))


def api_error(exc):
    """``{"code", "reason", "message"}`` from an API error's Status body."""
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    try:
        parsed = json.loads(body) if isinstance(body, (str, bytes)) else {}
    except ValueError:
        parsed = {}
    return {"code": status, "reason": parsed.get("reason") or getattr(exc, "reason", None),
            "message": parsed.get("message") or str(exc)}


def resource_for(dyn, manifest):
    return dyn.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])


def get_object(dyn, api_version, kind, name, namespace=None):
    """The object as a dict, or None when it does not exist."""
    resource = dyn.resources.get(api_version=api_version, kind=kind)
    try:
        return resource.get(name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def comparable(obj):
    """An object without server-populated metadata and status, for "would this change anything"."""
    if obj is None:
        return None
    result = copy.deepcopy(obj)
    result.pop("status", None)
    metadata = result.get("metadata", {})
    for name in _VOLATILE_METADATA:
        metadata.pop(name, None)
    return result


def apply(dyn, manifest, field_manager=FIELD_MANAGER, force=False, dry_run=False):
    """Server-side apply ``manifest``; returns ``{"changed", "before", "after", "result"}``.

    ``dry_run`` sends ``dryRun=All``: the server validates and answers with what it would store, and
    nothing is persisted -- this is how check mode works, so check mode and a real run agree.
    """
    resource = resource_for(dyn, manifest)
    metadata = manifest.get("metadata", {})
    namespace = metadata.get("namespace") if resource.namespaced else None
    before = get_object(dyn, manifest["apiVersion"], manifest["kind"], metadata["name"], namespace)
    kwargs = {"body": manifest, "name": metadata["name"], "namespace": namespace,
              "field_manager": field_manager, "force_conflicts": force}
    if dry_run:
        kwargs["dry_run"] = "All"
    after = resource.server_side_apply(**kwargs).to_dict()
    if dry_run:
        changed = comparable(before) != comparable(after)
    else:
        changed = before is None or before["metadata"].get("resourceVersion") != after["metadata"].get("resourceVersion")
    return {"changed": changed, "before": comparable(before), "after": comparable(after), "result": after}


def validate_manifest(manifest, kubernetes_version=DEFAULT_SCHEMA_VERSION):
    """Validate a rendered manifest against the published Kubernetes schemas, offline.

    Strict: unknown fields are errors, as a real API server with field validation would report.
    Raises ValueError naming the object and the offending field.
    """
    if not HAS_KUBERNETES_VALIDATE:
        raise RuntimeError("kubernetes-validate is required to validate rendered manifests (pip install kubernetes-validate).")
    label = "%s/%s" % (manifest.get("kind", "?"), (manifest.get("metadata") or {}).get("name", "?"))
    try:
        kubernetes_validate.validate(manifest, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        # kubernetes-validate copies the jsonschema error's attributes: ``path`` is the offending field.
        path = ".".join(str(p) for p in (getattr(exc, "path", None) or getattr(getattr(exc, "caused_by", None), "path", None) or []))
        raise ValueError("%s does not validate against the Kubernetes %s schema%s: %s" % (
            label, kubernetes_version, " at %s" % path if path else "", str(exc).splitlines()[0]))
    return manifest


def _version_tuple(text):
    match = re.match(r"^v?([0-9]+)\.([0-9]+)", str(text or ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


def server_version(api):
    """The cluster's ``/version`` (``major``, ``minor``, ``git_version``), one GET."""
    return k8s_client.VersionApi(api).get_code().to_dict()


def schema_version(version_info=None):
    """The kubernetes-validate schema version (``"1.32"``) for a cluster's ``/version``.

    Managed clusters report ``minor: "32+"`` or only a ``gitVersion``; both are read. A cluster newer
    than the newest bundled schema is checked against the newest one, one older than the oldest against
    the oldest (fields rarely disappear between adjacent minors); an unreadable version falls back to
    DEFAULT_SCHEMA_VERSION (k3s on the DR runner).
    """
    info = version_info or {}
    wanted = None
    if str(info.get("major") or "").isdigit() and re.match(r"^[0-9]+", str(info.get("minor") or "")):
        wanted = (int(info["major"]), int(re.match(r"^[0-9]+", str(info["minor"])).group(0)))
    wanted = wanted or _version_tuple(info.get("git_version") or info.get("gitVersion"))
    if wanted is None:
        return DEFAULT_SCHEMA_VERSION
    available = sorted({_version_tuple(v) for v in kubernetes_validate.utils.all_versions()}) if HAS_KUBERNETES_VALIDATE else []
    if available:
        wanted = min(max(wanted, available[0]), available[-1])
    return "%d.%d" % wanted


def manifest_label(manifest):
    """``Kind/namespace/name`` (``Kind/name`` for a cluster-scoped object) as messages name an object."""
    metadata = manifest.get("metadata") or {}
    parts = [manifest.get("kind") or "?"] + ([metadata["namespace"]] if metadata.get("namespace") else []) + [metadata.get("name") or "?"]
    return "/".join(parts)


def validate_manifests(manifests, kubernetes_version, option=None):
    """Validate every manifest offline, before the first write of the caller (restore, bundle apply, validate Job, failback).

    Raises OpsError ``k8s_manifest_invalid`` naming the object and the schema error, so nothing is written
    when one object of a list is bad. A kind without a bundled schema (a custom resource) cannot be checked
    offline: it is listed in ``unchecked`` and left to the server. ``option`` names the operator's input
    the manifests come from. Returns ``{"schema_version", "validated", "unchecked"}``.
    """
    if not HAS_KUBERNETES_VALIDATE:
        raise OpsError("missing_dependency", "kubernetes-validate is required to validate manifests before they are applied; install "
                                             "the collection's requirements (pip install -r requirements.txt, or meta/ee-requirements.txt in "
                                             "the execution environment). Nothing was written.")
    unchecked = []
    for manifest in manifests:
        try:
            validate_manifest(manifest, kubernetes_version)
        except ValueError as exc:
            where = " (from %s)" % option if option else ""
            raise OpsError("k8s_manifest_invalid", "%s%s; nothing was written. Fix the object at its source (the backup, the bundle "
                                                   "or the rendered template) and rerun." % (exc, where),
                           details={"object": manifest_label(manifest), "schema_version": kubernetes_version, "error": str(exc)})
        except kubernetes_validate.SchemaNotFoundError:
            unchecked.append(manifest_label(manifest))
    return {"schema_version": kubernetes_version, "validated": len(manifests) - len(unchecked), "unchecked": unchecked}


def _requirement_label(requirement):
    resource = requirement["resource"] + ("/%s" % requirement["subresource"] if requirement.get("subresource") else "")
    if requirement.get("group"):
        resource = "%s.%s" % (resource, requirement["group"])
    scope = "namespace %s" % requirement["namespace"] if requirement.get("namespace") else "the cluster scope"
    return "%s %s in %s" % (requirement["verb"], resource, scope)


def access_review(api, requirement):
    """One SelfSubjectAccessReview (authorization.k8s.io/v1): may the kubeconfig's identity do ``requirement``?

    ``requirement`` is ``{"verb", "resource", "group", "namespace", "subresource", "name"}`` (RBAC's resource
    attributes). Nothing is stored by the server; check mode asks the same question.
    """
    attributes = {k: requirement[k] for k in ("verb", "resource", "group", "namespace", "subresource", "name") if requirement.get(k)}
    attributes.setdefault("group", "")
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": attributes}}
    # A review stores nothing, so a 5xx answer is repeated here (the transport repeats only a POST's 429).
    status = retry_transient(lambda: k8s_client.AuthorizationV1Api(api).create_self_subject_access_review(body)).status
    return {"allowed": bool(status.allowed), "denied": bool(getattr(status, "denied", None)), "reason": status.reason or None,
            "evaluation_error": status.evaluation_error or None}


def check_access(api, requirements, cluster="dr", option=None):
    """Ask for every requirement before anything acts; OpsError ``k8s_forbidden`` naming each verb, resource and namespace refused.

    Returns the requirements with ``allowed`` and ``label``. ``cluster`` (``dr``/``primary``) names the cluster in
    the message and the line, ``option`` the operator's input that chose the kubeconfig.
    """
    answered = []
    for requirement in requirements:
        answer = access_review(api, requirement)
        answered.append(dict(requirement, allowed=answer["allowed"], label=_requirement_label(requirement)))
    denied = [a for a in answered if not a["allowed"]]
    if denied:
        which = "the DR cluster" if cluster == "dr" else "the %s cluster" % cluster
        refused = "; ".join("%s (%s)" % (d["label"], d["phase"]) if d.get("phase") else d["label"] for d in denied)
        where = " (%s)" % option if option else ""
        message = ("the kubeconfig's identity on %s may not %s; grant it (a Role and RoleBinding in the namespace) or use a "
                   "kubeconfig that has it%s. Nothing ran." % (which, refused, where))
        line = [("cluster", cluster), ("denied", len(denied)), ("verb", denied[0]["verb"]), ("resource", denied[0]["resource"]),
                ("namespace", denied[0].get("namespace") or "cluster")]
        raise OpsError("k8s_forbidden", message, details={"checked": answered, "denied": [d["label"] for d in denied], "line": line})
    return answered


def to_ops_error(exc, action=None):
    """``k8s_forbidden`` for a 403 (RBAC), else ``k8s_error``; the message keeps the API's own words."""
    info = api_error(exc)
    reason = "k8s_forbidden" if info["code"] == 403 else "k8s_error"
    prefix = "%s failed: " % action if action else ""
    return OpsError(reason, "%s%s %s: %s" % (prefix, info["code"], info["reason"], info["message"]))


class K8sConnection:
    """The Kubernetes connection of an OpsModule: options, dependency check, cached clients, errors.

    As kubernetes.core does, the kubeconfig's credentials join the values Ansible never logs.
    """

    name = "k8s"
    requirement = "kubernetes"
    error_types = K8S_ERRORS
    retries = 0

    def __init__(self, ops):
        self.kubeconfig = ops.params.get("kubeconfig")
        self.context = ops.params.get("context")
        ops.add_secret(*kubeconfig_secret_values(self.kubeconfig))
        self._dynamic = None
        self._schema_version = None

    @staticmethod
    def argument_spec():
        return k8s_argument_spec()

    @staticmethod
    def import_error():
        return None if HAS_KUBERNETES else KUBERNETES_IMPORT_ERROR

    @staticmethod
    def to_error(exc):
        return to_ops_error(exc)

    def api(self):
        try:
            return api_client(self.kubeconfig, self.context)
        except (ValueError, RuntimeError) as exc:
            raise OpsError("kubeconfig_invalid", str(exc))

    def dynamic(self):
        if self._dynamic is None:
            self._dynamic = DynamicClient(self.api())
        return self._dynamic

    def schema_version(self):
        """The schema version for this cluster (its ``/version``, read once)."""
        if self._schema_version is None:
            self._schema_version = schema_version(server_version(self.api()))
        return self._schema_version

    def validate_manifests(self, manifests, option=None):
        """validate_manifests() against this cluster's schema version: the one check every writer calls before its first write."""
        return validate_manifests(manifests, self.schema_version(), option=option)
