"""The resource types the emulator serves and the discovery documents describing them."""

import hashlib
import base64
from dataclasses import dataclass, field

from . import errors

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS = ("get", "list", "watch")
STATUS_VERBS = ("get", "patch", "update")

# Resources whose main endpoint ignores status changes (they have a status subresource).
STATUS_SUBRESOURCE = "status"


@dataclass(frozen=True)
class Subresource:
    """A ``<resource>/<name>`` subresource entry in discovery."""

    name: str
    kind: str
    verbs: tuple
    group: str = None
    version: str = None


@dataclass(frozen=True)
class ResourceType:
    """One served resource: naming, scope and verbs exactly as discovery reports them."""

    plural: str
    singular: str
    kind: str
    group: str
    version: str
    namespaced: bool
    verbs: tuple = ALL_VERBS
    short_names: tuple = ()
    categories: tuple = ()
    subresources: tuple = field(default_factory=tuple)
    has_status: bool = False

    @property
    def api_version(self):
        """``v1`` or ``<group>/<version>``."""
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def qualified(self):
        """``configmaps`` or ``jobs.batch`` as used in error messages."""
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    @property
    def group_kind(self):
        """``ConfigMap`` or ``Job.batch`` as used in Invalid messages."""
        return "%s.%s" % (self.kind, self.group) if self.group else self.kind

    @property
    def list_kind(self):
        """``ConfigMapList``."""
        return self.kind + "List"

    def subresource(self, name):
        """The :class:`Subresource` called ``name`` or None."""
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None

    def discovery(self):
        """APIResource entries (the resource and its subresources)."""
        digest = base64.b64encode(hashlib.sha256(("%s/%s" % (self.api_version, self.kind)).encode()).digest()[:8]).decode()
        main = {"name": self.plural, "singularName": self.singular, "namespaced": self.namespaced, "kind": self.kind,
                "verbs": list(self.verbs), "storageVersionHash": digest}
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        out = [main]
        for sub in self.subresources:
            entry = {"name": "%s/%s" % (self.plural, sub.name), "singularName": "", "namespaced": self.namespaced,
                     "kind": sub.kind, "verbs": list(sub.verbs)}
            if sub.group is not None:
                entry["group"] = sub.group
                entry["version"] = sub.version
            out.append(entry)
        return out


def _status(kind):
    return Subresource("status", kind, STATUS_VERBS)


RESOURCE_TYPES = (
    ResourceType("namespaces", "namespace", "Namespace", "", "v1", False,
                 verbs=("create", "delete", "get", "list", "patch", "update", "watch"), short_names=("ns",),
                 subresources=(Subresource("finalize", "Namespace", ("update",)), _status("Namespace")), has_status=True),
    ResourceType("nodes", "node", "Node", "", "v1", False, verbs=READ_VERBS, short_names=("no",),
                 subresources=(Subresource("status", "Node", ("get",)),), has_status=True),
    ResourceType("configmaps", "configmap", "ConfigMap", "", "v1", True, short_names=("cm",)),
    ResourceType("secrets", "secret", "Secret", "", "v1", True),
    ResourceType("serviceaccounts", "serviceaccount", "ServiceAccount", "", "v1", True, short_names=("sa",)),
    ResourceType("pods", "pod", "Pod", "", "v1", True, short_names=("po",), categories=("all",),
                 subresources=(Subresource("log", "Pod", ("get",)), _status("Pod")), has_status=True),
    ResourceType("events", "event", "Event", "", "v1", True, short_names=("ev",)),
    # Services: stored, defaulted and validated; their proxy subresource (proxy.py) answers for the
    # emulated workload behind them. No kube-proxy: the cluster IP routes nothing.
    ResourceType("services", "service", "Service", "", "v1", True, short_names=("svc",), categories=("all",),
                 subresources=(Subresource("proxy", "ServiceProxyOptions", ("get",)), _status("Service")), has_status=True),
    ResourceType("deployments", "deployment", "Deployment", "apps", "v1", True, short_names=("deploy",), categories=("all",),
                 subresources=(Subresource("scale", "Scale", STATUS_VERBS, "autoscaling", "v1"), _status("Deployment")),
                 has_status=True),
    ResourceType("jobs", "job", "Job", "batch", "v1", True, categories=("all",), subresources=(_status("Job"),), has_status=True),
    ResourceType("cronjobs", "cronjob", "CronJob", "batch", "v1", True, short_names=("cj",), categories=("all",),
                 subresources=(_status("CronJob"),), has_status=True),
)

BY_PLURAL = {rtype.plural: rtype for rtype in RESOURCE_TYPES}
BY_KIND = {rtype.kind: rtype for rtype in RESOURCE_TYPES}
GROUP_VERSIONS = {("", "v1"), ("apps", "v1"), ("batch", "v1")}

SERVER_VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-sandbox", "gitCommit": "0000000000000000000000000000000000000000",
                  "gitTreeState": "clean", "buildDate": "2024-12-11T00:00:00Z", "goVersion": "go1.23.3", "compiler": "gc",
                  "platform": "linux/amd64"}


def lookup(group, version, plural):
    """The ResourceType served at ``group/version/plural`` or a 404 ApiError."""
    rtype = BY_PLURAL.get(plural)
    if rtype is None or rtype.group != group or rtype.version != version:
        raise errors.not_found_path()
    return rtype


def api_versions():
    """``GET /api``."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}


def _group_entry(group):
    version = {"groupVersion": "%s/v1" % group, "version": "v1"}
    return {"name": group, "versions": [version], "preferredVersion": version}


def api_group_list():
    """``GET /apis``."""
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group_entry(g) for g in ("apps", "batch")]}


def api_group(group):
    """``GET /apis/<group>``."""
    if (group, "v1") not in GROUP_VERSIONS or not group:
        raise errors.not_found_path()
    return dict(_group_entry(group), kind="APIGroup", apiVersion="v1")


def resource_list(group, version):
    """``GET /api/v1`` or ``GET /apis/<group>/<version>``."""
    if (group, version) not in GROUP_VERSIONS:
        raise errors.not_found_path()
    resources = []
    for rtype in RESOURCE_TYPES:
        if rtype.group == group and rtype.version == version:
            resources.extend(rtype.discovery())
    group_version = "%s/%s" % (group, version) if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}
