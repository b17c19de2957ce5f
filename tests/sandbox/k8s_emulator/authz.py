"""Authorization: who a bearer token is and what RBAC lets it do, and SelfSubjectAccessReview.

The kubeconfig's own token is the cluster admin (as a k3s kubeconfig is: group ``system:masters``).
Further identities are registered through ``/_sandbox/identities`` with RBAC ``PolicyRule``s
(``apiGroups``, ``resources`` incl. ``<resource>/<subresource>``, ``verbs``, ``resourceNames``, ``*``
wildcards) and optional ``namespaces`` -- the rules as if bound by RoleBindings in those namespaces, or,
without ``namespaces``, by a ClusterRoleBinding. The authorizer follows RBAC's documented semantics:
deny unless a rule allows; a rule with ``resourceNames`` never allows ``list``, ``watch``, ``create`` or
``deletecollection`` (the request has no name); a namespaced grant never allows a cluster-scoped
request. Every authenticated user may read discovery/``/version`` and create SelfSubjectAccessReviews
(``system:basic-user``/``system:discovery``). Role/RoleBinding objects themselves are not served.
"""

import copy
import secrets
import threading

from . import errors

ADMIN = {"name": "sandbox-admin", "groups": ["system:masters", "system:authenticated"], "rules": None}
_RULE_KEYS = ("apiGroups", "resources", "verbs", "resourceNames")
_NAMELESS_VERBS = ("list", "watch", "create", "deletecollection")
SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


class IdentityError(ValueError):
    """A POSTed identity is malformed (HTTP 400)."""


class Identities:
    """Bearer token -> identity. The admin token is fixed at start; the others come and go at run time."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_token = {}

    def register(self, body):
        """Add an identity ``{"name", "rules": [PolicyRule], "namespaces": [..]?}``; returns ``{"name", "token"}``."""
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            raise IdentityError("identity needs a non-empty name")
        rules = body.get("rules")
        if not isinstance(rules, list):
            raise IdentityError("identity needs rules: a list of PolicyRules")
        for rule in rules:
            if not isinstance(rule, dict) or set(rule) - set(_RULE_KEYS) or not all(isinstance(rule.get(k, []), list) for k in _RULE_KEYS):
                raise IdentityError("a rule has only the list fields %s" % ", ".join(_RULE_KEYS))
            if not rule.get("verbs") or "apiGroups" not in rule or not rule.get("resources"):
                raise IdentityError("a resource rule needs apiGroups, resources and verbs")
        namespaces = body.get("namespaces")
        if namespaces is not None and (not isinstance(namespaces, list) or not all(isinstance(n, str) for n in namespaces)):
            raise IdentityError("namespaces must be a list of names")
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.by_token[token] = {"name": body["name"], "groups": ["system:authenticated"], "rules": copy.deepcopy(rules),
                                    "namespaces": list(namespaces) if namespaces is not None else None}
        return {"name": body["name"], "token": token}

    def lookup(self, token):
        """The identity of a registered token, or None."""
        with self.lock:
            return self.by_token.get(token)

    def snapshot(self):
        """Identities without their tokens."""
        with self.lock:
            return [dict(ident) for ident in self.by_token.values()]

    def clear(self):
        """Forget every registered identity (the admin token stays)."""
        with self.lock:
            self.by_token.clear()


def _matches(values, wanted):
    return "*" in values or wanted in values


def allows(user, verb, group, resource, subresource="", namespace="", name=""):
    """RBAC's decision for one request attribute set: ``(allowed, reason)``."""
    if user.get("rules") is None:
        return True, 'RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" to Group "system:masters"'
    if user.get("namespaces") is not None and (not namespace or namespace not in user["namespaces"]):
        return False, ""
    full = "%s/%s" % (resource, subresource) if subresource else resource
    for index, rule in enumerate(user["rules"]):
        if not _matches(rule.get("verbs", []), verb) or not _matches(rule.get("apiGroups", []), group):
            continue
        if not (_matches(rule.get("resources", []), full) or (subresource and "*/%s" % subresource in rule.get("resources", []))):
            continue
        names = rule.get("resourceNames") or []
        if names and (verb in _NAMELESS_VERBS or not name or name not in names):
            continue
        binding = "RoleBinding" if user.get("namespaces") is not None else "ClusterRoleBinding"
        return True, 'RBAC: allowed by %s "sandbox-%s" rule %d to User "%s"' % (binding, user["name"], index, user["name"])
    return False, ""


def forbidden(user, verb, rtype, namespace, name, subresource=None):
    """The 403 the real apiserver answers, worded like RBAC's denial."""
    resource = "%s/%s" % (rtype.plural, subresource) if subresource else rtype.plural
    subject = '%s "%s"' % (rtype.qualified, name) if name else rtype.qualified
    scope = 'in the namespace "%s"' % namespace if namespace else "at the cluster scope"
    message = '%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s" %s' % (
        subject, user["name"], verb, resource, rtype.group, scope)
    details = {"kind": rtype.plural}
    if name:
        details["name"] = name
    if rtype.group:
        details["group"] = rtype.group
    return errors.ApiError(403, "Forbidden", message, details)


def self_subject_access_review(user, body):
    """Answer a SelfSubjectAccessReview create (authorization.k8s.io/v1) as the real server does."""
    if not isinstance(body, dict) or body.get("kind") not in (None, "SelfSubjectAccessReview"):
        raise errors.bad_request("the body must be a SelfSubjectAccessReview")
    spec = body.get("spec") or {}
    attributes, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if bool(attributes) == bool(non_resource):
        error = errors.FieldError("invalid", "spec.resourceAttributes", attributes,
                                  "exactly one of nonResourceAttributes or resourceAttributes must be specified")
        raise errors.ApiError(422, "Invalid", 'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: %s' % error,
                              {"group": "authorization.k8s.io", "kind": "SelfSubjectAccessReview", "causes": [error.cause()]})
    if non_resource:
        # Non-resource URLs (/healthz, /version, /api...) are open to every authenticated user here.
        allowed, reason = True, 'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery"'
    else:
        allowed, reason = allows(user, attributes.get("verb") or "", attributes.get("group") or "", attributes.get("resource") or "",
                                 attributes.get("subresource") or "", attributes.get("namespace") or "", attributes.get("name") or "")
    status = {"allowed": allowed}
    if reason:
        status["reason"] = reason
    return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}
