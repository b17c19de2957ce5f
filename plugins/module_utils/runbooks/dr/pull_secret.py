# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ECR image-pull Secret of the DR namespace and its link to a ServiceAccount.

ECR hands out a new 12-hour token on every GetAuthorizationToken call, so "is the Secret up to
date" cannot compare passwords (that would rewrite it on every run). The Secret records when it
was written and for which registry and user; it is rewritten when it is missing, when those
differ, when it is older than ``max_age_hours`` (default 6, half a token's life), or when the
caller asks (``refresh=always``, e.g. before retrying a pod stuck in ImagePullBackOff).

The ServiceAccount link appends to ``imagePullSecrets`` with a JSON patch guarded by a ``test`` on
the resourceVersion: other entries are never dropped and a concurrent writer makes the patch fail
instead of being overwritten.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import re

from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError, validate_k8s_name

SECRET_TYPE = "kubernetes.io/dockerconfigjson"
DATA_KEY = ".dockerconfigjson"
ANNOTATION_REFRESHED = "signalcraft.ops/refreshed-at"
ANNOTATION_REGISTRY = "signalcraft.ops/registry"
ANNOTATION_EXPIRES = "signalcraft.ops/token-expires-at"
# Its own field manager, so the restore's apply of the ServiceAccount never prunes the link.
FIELD_MANAGER = "signalcraft.ops/ecr-pull-secret"
DEFAULT_MAX_AGE_HOURS = 6.0


def validate_registry_id(registry_id):
    if not re.match(r"^[0-9]{12}$", str(registry_id or "")):
        raise GuardError("invalid_registry_id", "registry_id %r is not a 12-digit AWS account id." % (registry_id,))
    return registry_id


def _parse_time(text):
    if not text:
        return None
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def format_time(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def secret_manifest(name, namespace, dockerconfigjson, registry, refreshed_at, expires_at=None):
    annotations = {ANNOTATION_REFRESHED: refreshed_at, ANNOTATION_REGISTRY: registry}
    if expires_at:
        annotations[ANNOTATION_EXPIRES] = str(expires_at)
    return {
        "apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations,
                     "labels": {"app.kubernetes.io/managed-by": "signalcraft.ops"}},
        "data": {DATA_KEY: base64.b64encode(dockerconfigjson.encode("utf-8")).decode("ascii")},
    }


def refresh_reason(existing, registry, now, max_age_hours=DEFAULT_MAX_AGE_HOURS, refresh="auto"):
    """Why the Secret must be (re)written, or None when it is current."""
    if refresh == "always":
        return "refresh=always"
    if existing is None:
        return "missing"
    if existing.get("type") != SECRET_TYPE or DATA_KEY not in (existing.get("data") or {}):
        return "not a %s secret" % SECRET_TYPE
    annotations = (existing.get("metadata") or {}).get("annotations") or {}
    if annotations.get(ANNOTATION_REGISTRY) != registry:
        return "registry changed"
    refreshed = _parse_time(annotations.get(ANNOTATION_REFRESHED))
    if refreshed is None:
        return "no refresh time recorded"
    if (now - refreshed).total_seconds() > max_age_hours * 3600 or refreshed > now + datetime.timedelta(minutes=5):
        return "older than %s hours" % max_age_hours
    return None


def ensure_secret(dyn, namespace, name, credentials_loader, dockerconfigjson_builder, now, dry_run=False,
                  refresh="auto", max_age_hours=DEFAULT_MAX_AGE_HOURS, registry_hint=None, namespace_exists=True):
    """Create or refresh the pull Secret. ``credentials_loader()`` is called only when a write is due.

    Returns ``{"changed", "reason", "registry", "expires_at", "secret_values"}``; ``secret_values``
    (the password and the encoded document) are for the caller's no_log_values, never to return.
    """
    validate_k8s_name(name, kind="Secret")
    existing = k8s.get_object(dyn, "v1", "Secret", name, namespace) if namespace_exists else None
    annotations = ((existing or {}).get("metadata") or {}).get("annotations") or {}
    registry = registry_hint or annotations.get(ANNOTATION_REGISTRY)
    reason = refresh_reason(existing, registry, now, max_age_hours, refresh) if registry else "missing registry"
    if reason is None:
        return {"changed": False, "reason": None, "registry": registry, "expires_at": annotations.get(ANNOTATION_EXPIRES),
                "secret_values": []}
    credentials = credentials_loader()
    document = dockerconfigjson_builder(credentials)
    secrets = [credentials["password"], document, base64.b64encode(document.encode("utf-8")).decode("ascii")]
    if registry and credentials["registry"] != registry:
        reason = "registry changed"
    manifest = secret_manifest(name, namespace, document, credentials["registry"], format_time(now), credentials.get("expires_at"))
    if existing is not None and existing.get("type") != SECRET_TYPE:
        # A Secret's type is immutable (422 on update): replace it. The precondition refuses a Secret changed meanwhile;
        # the dry-run delete is as far as check mode can go (an apply after it would be judged against the old type).
        resource = dyn.resources.get(api_version="v1", kind="Secret")
        resource.delete(name=name, namespace=namespace, body={"preconditions": {"resourceVersion": existing["metadata"]["resourceVersion"]}},
                        **({"dry_run": "All"} if dry_run else {}))
        reason = "type %s is immutable; replaced" % (existing.get("type") or "Opaque")
        if dry_run:
            return {"changed": True, "reason": reason, "registry": credentials["registry"], "expires_at": credentials.get("expires_at"),
                    "secret_values": secrets}
    if not (dry_run and not namespace_exists):
        k8s.apply(dyn, manifest, field_manager=FIELD_MANAGER, force=True, dry_run=dry_run)
    return {"changed": True, "reason": reason, "registry": credentials["registry"], "expires_at": credentials.get("expires_at"),
            "secret_values": secrets}


def link_service_account(dyn, namespace, service_account, secret_name, dry_run=False, create_missing=True, namespace_exists=True):
    """Make ``secret_name`` one of the ServiceAccount's ``imagePullSecrets``, keeping the others.

    Returns ``{"changed", "created", "before", "after"}`` with the imagePullSecrets names.
    """
    validate_k8s_name(service_account, kind="ServiceAccount")
    current = k8s.get_object(dyn, "v1", "ServiceAccount", service_account, namespace) if namespace_exists else None
    if current is None:
        if not create_missing:
            raise GuardError("service_account_missing", "ServiceAccount %s/%s does not exist; create it first or set create_service_account." % (
                namespace, service_account))
        manifest = {"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": service_account, "namespace": namespace},
                    "imagePullSecrets": [{"name": secret_name}]}
        if not (dry_run and not namespace_exists):
            k8s.apply(dyn, manifest, field_manager=FIELD_MANAGER, dry_run=dry_run)
        return {"changed": True, "created": True, "before": None, "after": [secret_name]}
    entries = current.get("imagePullSecrets") or []
    names = [e.get("name") for e in entries]
    if secret_name in names:
        return {"changed": False, "created": False, "before": names, "after": names}
    version = current["metadata"]["resourceVersion"]
    operations = [{"op": "test", "path": "/metadata/resourceVersion", "value": version}]
    if "imagePullSecrets" in current and isinstance(current["imagePullSecrets"], list):
        operations.append({"op": "add", "path": "/imagePullSecrets/-", "value": {"name": secret_name}})
    else:
        operations.append({"op": "add", "path": "/imagePullSecrets", "value": [{"name": secret_name}]})
    resource = dyn.resources.get(api_version="v1", kind="ServiceAccount")
    kwargs = {"body": operations, "name": service_account, "namespace": namespace,
              "content_type": "application/json-patch+json", "field_manager": FIELD_MANAGER}
    if dry_run:
        kwargs["dry_run"] = "All"
    resource.patch(**kwargs)
    return {"changed": True, "created": False, "before": names, "after": names + [secret_name]}
