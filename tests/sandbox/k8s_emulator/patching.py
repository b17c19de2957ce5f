"""JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch."""

from . import errors
from .schema import ATOMIC, SET, find_item, item_key, list_type
from .util import deep

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)


class PatchError(ValueError):
    """The patch cannot be applied (answered with 422 like the apiserver does)."""


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError("invalid JSON pointer: %r" % path)
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _walk(doc, parts):
    """The container holding the last pointer token."""
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchError("doc is missing path: \"/%s\": missing value" % "/".join(parts))
    return node


def _get(doc, parts):
    if not parts:
        return doc
    parent = _walk(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise PatchError("doc is missing path: \"/%s\": missing value" % "/".join(parts))


def _remove(doc, parts):
    parent = _walk(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise PatchError("Unable to remove nonexistent key: %s: missing value" % last)


def _add(doc, parts, value):
    if not parts:
        return value
    parent = _walk(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise PatchError("add operation does not apply: doc is missing path: \"/%s\": missing value" % "/".join(parts))
    else:
        raise PatchError("add operation does not apply: doc is missing path: \"/%s\"" % "/".join(parts))
    return doc


def json_patch(doc, operations):
    """Apply an RFC 6902 operation list to a copy of ``doc``."""
    if not isinstance(operations, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = deep(doc)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op:
            raise PatchError("Unexpected kind: missing op")
        name = op["op"]
        parts = _pointer(op.get("path", ""))
        if name == "add":
            doc = _add(doc, parts, deep(op.get("value")))
        elif name == "remove":
            _remove(doc, parts)
        elif name == "replace":
            _get(doc, parts)
            if parts:
                _remove(doc, parts)
            doc = _add(doc, parts, deep(op.get("value")))
        elif name in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = _remove(doc, source) if name == "move" else deep(_get(doc, source))
            doc = _add(doc, parts, value)
        elif name == "test":
            if _get(doc, parts) != op.get("value"):
                raise PatchError("testing value %s failed: test failed" % op.get("path"))
        else:
            raise PatchError("Unexpected kind: %s" % name)
    return doc


def merge_patch(doc, patch):
    """RFC 7386: objects merge recursively, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return deep(patch)
    out = deep(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_merge_patch(doc, patch, kind):
    """Strategic merge patch for the lists this emulator knows (see :mod:`schema`); other lists replace."""
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object")
    return _smp_map(deep(doc) if isinstance(doc, dict) else {}, patch, kind, ())


def _smp_map(original, patch, kind, path):
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip(dict((k, v) for k, v in patch.items() if k != "$patch"), kind, path)
    if directive == "delete":
        return None
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            if isinstance(original.get(name), list):
                original[name] = [v for v in original[name] if v not in (value or [])]
            continue
        sub = path + (key,)
        if value is None:
            original.pop(key, None)
        elif isinstance(value, dict) and isinstance(original.get(key), dict):
            merged = _smp_map(original[key], value, kind, sub)
            if merged is None:
                original.pop(key, None)
            else:
                original[key] = merged
        elif isinstance(value, list) and isinstance(original.get(key), list):
            original[key] = _smp_list(original[key], value, kind, sub)
        else:
            stripped = _strip(value, kind, sub)
            if stripped is None:
                original.pop(key, None)
            else:
                original[key] = stripped
    if isinstance(retain, list):
        for key in list(original):
            if key not in retain:
                del original[key]
    return original


def _smp_list(original, patch, kind, path):
    ltype = list_type(kind, path)
    if ltype == ATOMIC:
        return _strip(patch, kind, path)
    if ltype == SET:
        return original + [v for v in patch if v not in original]
    out = deep(original)
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError("merging an object in json but data type is not map: %r" % (item,))
        key = item_key(item, ltype)
        index = find_item(out, ltype, key)
        directive = item.get("$patch")
        if directive == "delete":
            if index >= 0:
                out.pop(index)
            continue
        if index >= 0 and directive != "replace":
            out[index] = _smp_map(out[index], item, kind, path)
        elif index >= 0:
            out[index] = _strip(item, kind, path)
        else:
            out.append(_strip(item, kind, path))
    return out


def _strip(value, kind, path):
    """Remove patch directives and nulls from a value that is inserted as a whole."""
    if isinstance(value, dict):
        if value.get("$patch") == "delete":
            return None
        return {k: _strip(v, kind, path + (k,)) for k, v in value.items()
                if v is not None and not k.startswith("$")}
    if isinstance(value, list):
        return [_strip(v, kind, path) for v in value if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    return deep(value)


def apply_patch(content_type, doc, patch, kind):
    """Dispatch on the patch media type (apply patches are handled by :mod:`fieldmanager`)."""
    if content_type == JSON_PATCH:
        return json_patch(doc, patch)
    if content_type == MERGE_PATCH:
        if not isinstance(patch, dict):
            raise PatchError("merge patch must be a JSON object")
        return merge_patch(doc, patch)
    if content_type == STRATEGIC_PATCH:
        return strategic_merge_patch(doc, patch, kind)
    raise errors.unsupported_media_type()
