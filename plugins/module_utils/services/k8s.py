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
    import kubernetes_validate
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
        if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            k8s_config.load_incluster_config()
            _CLIENT_CACHE[key] = k8s_client.ApiClient()
        else:
            if kubeconfig and not os.path.exists(kubeconfig):
                raise ValueError("kubeconfig %s does not exist; pass the path of a kubeconfig file." % kubeconfig)
            _CLIENT_CACHE[key] = k8s_config.new_client_from_config(config_file=kubeconfig, context=context)
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
        path = ".".join(str(p) for p in getattr(getattr(exc, "caused_by", None), "path", []) or [])
        raise ValueError("%s does not validate against the Kubernetes %s schema%s: %s" % (
            label, kubernetes_version, " at %s" % path if path else "", str(exc).splitlines()[0]))
    return manifest


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
