"""Just enough schema knowledge for merging: which lists are keyed maps, sets or atomic.

Both the strategic-merge patch and server-side apply need to know, for a list at a given field path,
whether items are merged by a key (``containers`` by ``name``), treated as a set of scalars
(``finalizers``) or replaced as a whole (everything else, e.g. ``args``). Paths are tuples of field
names with list indices left out.
"""

import json

POD_SPEC_PREFIX = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}

_CONTAINER_LISTS = {
    "env": ("name",),
    "ports": ("containerPort",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
}
_POD_SPEC_LISTS = {
    ("volumes",): ("name",),
    ("imagePullSecrets",): ("name",),
    ("hostAliases",): ("ip",),
    ("resourceClaims",): ("name",),
}
for _containers in ("containers", "initContainers", "ephemeralContainers"):
    _POD_SPEC_LISTS[(_containers,)] = ("name",)
    for _name, _keys in _CONTAINER_LISTS.items():
        _POD_SPEC_LISTS[(_containers, _name)] = _keys

_GLOBAL_LISTS = {
    ("metadata", "ownerReferences"): ("uid",),
    ("metadata", "finalizers"): "set",
    ("status", "conditions"): ("type",),
    ("spec", "finalizers"): "set",
}
_KIND_LISTS = {
    "ServiceAccount": {("secrets",): ("name",)},
}

ATOMIC = "atomic"
SET = "set"


def list_type(kind, path):
    """``ATOMIC``, ``SET`` or a tuple of key field names for the list at ``path`` in a ``kind`` object."""
    path = tuple(path)
    if path in _GLOBAL_LISTS:
        return _GLOBAL_LISTS[path]
    extra = _KIND_LISTS.get(kind, {})
    if path in extra:
        return extra[path]
    prefix = POD_SPEC_PREFIX.get(kind)
    if prefix and path[:len(prefix)] == prefix:
        return _POD_SPEC_LISTS.get(path[len(prefix):], ATOMIC)
    return ATOMIC


def item_key(item, keys):
    """The key values of a keyed-list item as a dict (missing keys are left out)."""
    if not isinstance(item, dict):
        return None
    return {key: item[key] for key in keys if key in item}


def key_element(item, keys):
    """The managedFields path element for a keyed-list item: ``k:{"name":"c"}``."""
    return "k:" + json.dumps(item_key(item, keys), separators=(",", ":"))


def find_item(items, keys, key):
    """Index of the item whose key equals ``key`` or -1."""
    for index, item in enumerate(items):
        if item_key(item, keys) == key:
            return index
    return -1
