"""``metadata.managedFields`` bookkeeping and server-side apply.

A field set is a set of paths; a path is a tuple of managedFields elements: ``f:<field>`` for a map
field, ``k:{"name":"c"}`` for an item of a keyed list, ``v:<json>`` for a member of a set list and
``.`` for "the list item itself". ``fieldsV1`` is the same set written as a nested dict.

Updates (create, PUT, non-apply PATCH) give the writing manager every field whose value it changed
and take those fields away from all other managers. Apply (``application/apply-patch+yaml``) makes
the manager own exactly the fields in its configuration: fields another manager owns with a
different value are conflicts unless ``force``; fields the manager applied before and omits now are
removed from the object unless another manager still owns them.
"""

import json

from .schema import ATOMIC, SET, find_item, key_element, list_type
from .util import MISSING, deep

ROOT_SKIP = {"apiVersion", "kind", "status"}
META_SKIP = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
             "deletionGracePeriodSeconds", "managedFields", "selfLink", "generateName"}
_EXISTS = object()


def field_set(obj, kind):
    """All owned-field paths present in ``obj``."""
    out = set()

    def walk(node, fpath, spath):
        if isinstance(node, dict):
            if not node and fpath:
                out.add(fpath)
            for key, value in node.items():
                if (not spath and key in ROOT_SKIP) or (spath == ("metadata",) and key in META_SKIP):
                    continue
                walk(value, fpath + ("f:" + key,), spath + (key,))
        elif isinstance(node, list):
            ltype = list_type(kind, spath)
            if ltype == ATOMIC or not node:
                out.add(fpath)
            elif ltype == SET:
                out.update(fpath + ("v:" + json.dumps(v, separators=(",", ":")),) for v in node)
            else:
                for item in node:
                    if not isinstance(item, dict):
                        out.add(fpath)
                        continue
                    kpath = fpath + (key_element(item, ltype),)
                    out.add(kpath + (".",))
                    for key, value in item.items():
                        walk(value, kpath + ("f:" + key,), spath + (key,))
        else:
            out.add(fpath)

    walk(obj, (), ())
    return out


def _step(node, element, kind, spath):
    """Follow one path element; returns (child, child schema path) or (MISSING, None)."""
    if element.startswith("f:"):
        name = element[2:]
        if isinstance(node, dict) and name in node:
            return node[name], spath + (name,)
        return MISSING, None
    if element.startswith("k:") and isinstance(node, list):
        ltype = list_type(kind, spath)
        if ltype in (ATOMIC, SET):
            return MISSING, None
        index = find_item(node, ltype, json.loads(element[2:]))
        return (node[index], spath) if index >= 0 else (MISSING, None)
    if element.startswith("v:") and isinstance(node, list):
        value = json.loads(element[2:])
        return (value, spath) if value in node else (MISSING, None)
    if element == ".":
        return _EXISTS, spath
    return MISSING, None


def value_at(obj, path, kind):
    """The value at ``path`` (``MISSING`` when absent)."""
    node, spath = obj, ()
    for element in path:
        node, spath = _step(node, element, kind, spath)
        if node is MISSING:
            return MISSING
    return node


def remove_path(obj, path, kind):
    """Remove the field at ``path`` (a ``.`` path removes the list item) and prune emptied parents."""
    chain = [(obj, ())]
    target = path[:-1] if path[-1] == "." else path
    for element in target[:-1]:
        node, spath = _step(chain[-1][0], element, kind, chain[-1][1])
        if node is MISSING:
            return
        chain.append((node, spath))
    parent, spath = chain[-1]
    last = target[-1]
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(parent, list):
        index = find_item(parent, list_type(kind, spath), json.loads(last[2:]))
        if index >= 0:
            parent.pop(index)
    elif last.startswith("v:") and isinstance(parent, list):
        value = json.loads(last[2:])
        if value in parent:
            parent.remove(value)
    # Prune containers emptied by the removal, but never the top-level sections themselves.
    for depth in range(len(chain) - 1, 1, -1):
        node = chain[depth][0]
        if node:
            break
        holder, element = chain[depth - 1][0], target[depth - 1]
        if element.startswith("f:") and isinstance(holder, dict):
            holder.pop(element[2:], None)
        else:
            break


def to_fields_v1(paths):
    """Nested-dict ``fieldsV1`` form of a path set."""
    tree = {}
    for path in sorted(paths):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    return tree


def from_fields_v1(tree, prefix=()):
    """Path set from ``fieldsV1``."""
    out = set()
    for element, child in (tree or {}).items():
        path = prefix + (element,)
        if child:
            out.update(from_fields_v1(child, path))
        else:
            out.add(path)
    return out


def path_string(path):
    """Human form used in conflict messages: ``.spec.containers[name="c"].image``."""
    text = ""
    for element in path:
        if element.startswith("f:"):
            text += "." + element[2:]
        elif element.startswith("k:"):
            keys = json.loads(element[2:])
            text += "[%s]" % ",".join("%s=%s" % (k, json.dumps(v)) for k, v in keys.items())
        elif element.startswith("v:"):
            text += "[=%s]" % element[2:]
    return text


class Entry:
    """One managedFields entry with its field set decoded."""

    def __init__(self, manager, operation, api_version, time, fields, subresource=""):
        self.manager = manager
        self.operation = operation
        self.api_version = api_version
        self.time = time
        self.fields = fields
        self.subresource = subresource

    @classmethod
    def decode(cls, raw):
        """From a managedFields list item."""
        return cls(raw.get("manager", ""), raw.get("operation", "Update"), raw.get("apiVersion", ""), raw.get("time"),
                   from_fields_v1(raw.get("fieldsV1")), raw.get("subresource", ""))

    def encode(self):
        """To a managedFields list item."""
        raw = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version, "time": self.time,
               "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(self.fields)}
        if self.subresource:
            raw["subresource"] = self.subresource
        return raw

    def same_owner(self, manager, operation, subresource=""):
        """Whether this entry is the one for (manager, operation, subresource)."""
        return (self.manager, self.operation, self.subresource) == (manager, operation, subresource)


def decode_entries(obj):
    """The managedFields of ``obj`` as a list of :class:`Entry`."""
    return [Entry.decode(raw) for raw in (obj or {}).get("metadata", {}).get("managedFields") or []]


def encode_entries(entries):
    """managedFields list, dropping entries that own nothing."""
    return [entry.encode() for entry in entries if entry.fields]


def _own(entries, manager, operation, api_version, stamp):
    for entry in entries:
        if entry.same_owner(manager, operation):
            return entry
    entry = Entry(manager, operation, api_version, stamp, set())
    entries.append(entry)
    return entry


def record_update(old, new, kind, manager, api_version, stamp):
    """managedFields after an Update-operation write changing ``old`` (None on create) into ``new``."""
    entries = decode_entries(old)
    old_fields = field_set(old, kind) if old is not None else set()
    new_fields = field_set(new, kind)
    changed = {p for p in new_fields if p not in old_fields or value_at(old, p, kind) != value_at(new, p, kind)}
    removed = old_fields - new_fields
    for entry in entries:
        entry.fields -= changed | removed
    if changed:
        mine = _own(entries, manager, "Update", api_version, stamp)
        mine.fields |= changed
        mine.time = stamp
        mine.api_version = api_version
    return encode_entries(entries)


def merge_applied(live, applied, kind, spath=()):
    """Merge an apply configuration into the live object (keyed lists by key, sets by value)."""
    if isinstance(applied, dict):
        out = deep(live) if isinstance(live, dict) else {}
        for key, value in applied.items():
            if value is None:
                continue
            out[key] = merge_applied(out.get(key, MISSING), value, kind, spath + (key,))
        return out
    if isinstance(applied, list) and isinstance(live, list):
        ltype = list_type(kind, spath)
        if ltype == SET:
            return deep(live) + [v for v in applied if v not in live]
        if ltype != ATOMIC:
            out = deep(live)
            for item in applied:
                index = find_item(out, ltype, {k: item[k] for k in ltype if isinstance(item, dict) and k in item})
                if index >= 0:
                    out[index] = merge_applied(out[index], item, kind, spath)
                else:
                    out.append(merge_applied(MISSING, item, kind, spath))
            return out
    if isinstance(applied, list):
        return [merge_applied(MISSING, item, kind, spath) for item in applied]
    return deep(applied)


def _owned_by_any(path, owned):
    """Whether any path in ``owned`` is ``path`` or lies inside what ``path`` denotes."""
    prefix = path[:-1] if path[-1] == "." else path
    size = len(prefix)
    return any(p[:size] == prefix for p in owned)


def server_side_apply(live, applied, kind, manager, api_version, force, stamp):
    """Return ``(merged_object, managedFields, conflicts)``; conflicts are (manager, apiVersion, path) triples.

    When ``conflicts`` is non-empty (and not ``force``) the caller must reject the request with 409.
    """
    applied_fields = field_set(applied, kind)
    entries = decode_entries(live)
    mine = None
    others = []
    for entry in entries:
        if entry.same_owner(manager, "Apply"):
            mine = entry
        else:
            others.append(entry)
    merged = merge_applied(live if live is not None else {}, applied, kind)
    # Like structured-merge-diff, only fields whose value the apply would change can conflict
    # (applying an empty map or an equal value never does).
    conflicts = []
    if live is not None:
        for entry in others:
            if entry.manager == manager:
                continue
            for path in sorted(applied_fields & entry.fields):
                if path[-1] != "." and value_at(live, path, kind) != value_at(merged, path, kind):
                    conflicts.append((entry, path))
    if conflicts and not force:
        return None, None, [(e.manager, e.api_version, path_string(p)) for e, p in conflicts]
    for entry, path in conflicts:
        entry.fields.discard(path)
    previous = mine.fields if mine else set()
    others_owned = set().union(*(e.fields for e in others)) if others else set()
    for path in sorted(previous - applied_fields, key=len):
        if not _owned_by_any(path, others_owned):
            remove_path(merged, path, kind)
    if mine is None:
        mine = Entry(manager, "Apply", api_version, stamp, set())
        entries.append(mine)
    if mine.fields != applied_fields or mine.api_version != api_version or conflicts:
        mine.time = stamp
    mine.fields = set(applied_fields)
    mine.api_version = api_version
    return merged, encode_entries(entries), []


def same_ownership(left, right):
    """Whether two managedFields lists assign the same fields to the same managers (times ignored)."""
    def key(entries):
        return sorted((e.manager, e.operation, e.subresource, e.api_version, tuple(sorted(e.fields))) for e in entries if e.fields)
    return key([Entry.decode(r) for r in left or []]) == key([Entry.decode(r) for r in right or []])
