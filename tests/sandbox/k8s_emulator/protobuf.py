"""Decoding of the Kubernetes protobuf envelope for the simple kinds kubectl sends as protobuf.

Typed kubectl commands (``kubectl create configmap|secret|namespace|serviceaccount``) post
``application/vnd.kubernetes.protobuf`` bodies: the magic ``k8s\\x00`` followed by a ``runtime.Unknown``
message wrapping the object's own message. Only the kinds listed in :data:`_KINDS` are understood;
anything else is answered with 415, which kubectl reports as an error.
"""

import base64

from . import errors

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"

_TIME = {1: ("seconds", "int"), 2: ("nanos", "int")}
_OWNER_REFERENCE = {1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"), 5: ("apiVersion", "string"),
                    6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool")}
_OBJECT_META = {1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"), 5: ("uid", "string"),
                6: ("resourceVersion", "string"), 7: ("generation", "int"), 8: ("creationTimestamp", ("time", _TIME)),
                11: ("labels", "map"), 12: ("annotations", "map"), 13: ("ownerReferences", ("repeated", _OWNER_REFERENCE)),
                14: ("finalizers", "repeated_string")}
_LOCAL_REFERENCE = {1: ("name", "string")}
_OBJECT_REFERENCE = {1: ("kind", "string"), 2: ("namespace", "string"), 3: ("name", "string"), 4: ("uid", "string"),
                     5: ("apiVersion", "string"), 6: ("resourceVersion", "string"), 7: ("fieldPath", "string")}
_KINDS = {
    "ConfigMap": {1: ("metadata", ("message", _OBJECT_META)), 2: ("data", "map"), 3: ("binaryData", "map_bytes"),
                  4: ("immutable", "bool")},
    "Secret": {1: ("metadata", ("message", _OBJECT_META)), 2: ("data", "map_bytes"), 3: ("type", "string"),
               4: ("stringData", "map"), 5: ("immutable", "bool")},
    "Namespace": {1: ("metadata", ("message", _OBJECT_META)), 2: ("spec", ("message", {1: ("finalizers", "repeated_string")}))},
    "ServiceAccount": {1: ("metadata", ("message", _OBJECT_META)), 2: ("secrets", ("repeated", _OBJECT_REFERENCE)),
                       3: ("imagePullSecrets", ("repeated", _LOCAL_REFERENCE)), 4: ("automountServiceAccountToken", "bool")},
}
_UNKNOWN = {1: ("typeMeta", ("message", {1: ("apiVersion", "string"), 2: ("kind", "string")})), 2: ("raw", "bytes")}


class ProtobufError(ValueError):
    """Malformed protobuf."""


def _varint(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data):
    """Yield ``(field_number, wire_type, value)`` of a message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = data[pos:pos + size], pos + size
        else:
            raise ProtobufError("unsupported wire type %d" % wire)
        yield number, wire, value


def _map_entry(raw):
    entry = {number: value for number, dummy, value in _fields(raw)}
    return entry.get(1, b"").decode(), entry.get(2, b"")


def decode_message(data, schema):
    """Decode ``data`` with ``schema`` (field number -> (json name, type)) into a dict."""
    out = {}
    for number, dummy, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if kind == "string":
            out[name] = value.decode()
        elif kind == "bytes":
            out[name] = value
        elif kind == "bool":
            out[name] = bool(value)
        elif kind == "int":
            out[name] = value
        elif kind == "repeated_string":
            out.setdefault(name, []).append(value.decode())
        elif kind in ("map", "map_bytes"):
            key, item = _map_entry(value)
            out.setdefault(name, {})[key] = item.decode() if kind == "map" else base64.b64encode(item).decode()
        elif kind[0] == "message":
            out[name] = decode_message(value, kind[1])
        elif kind[0] == "repeated":
            out.setdefault(name, []).append(decode_message(value, kind[1]))
        elif kind[0] == "time":
            stamp = decode_message(value, kind[1])
            out[name] = stamp.get("seconds")
    return out


def decode(body, rtype):
    """The JSON-like object of a protobuf request body for ``rtype`` (415 ApiError when unsupported)."""
    if not body.startswith(_MAGIC):
        raise errors.bad_request("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")
    try:
        unknown = decode_message(body[len(_MAGIC):], _UNKNOWN)
        type_meta = unknown.get("typeMeta", {})
        kind = type_meta.get("kind") or rtype.kind
        schema = _KINDS.get(kind)
        if schema is None:
            raise errors.unsupported_media_type("application/json, application/yaml (the sandbox decodes protobuf only for %s)"
                                                % ", ".join(sorted(_KINDS)))
        obj = decode_message(unknown.get("raw", b""), schema)
    except (ProtobufError, UnicodeDecodeError) as exc:
        raise errors.bad_request("unable to decode protobuf body: %s" % exc) from exc
    obj["apiVersion"] = type_meta.get("apiVersion") or rtype.api_version
    obj["kind"] = kind
    obj.setdefault("metadata", {}).pop("creationTimestamp", None)
    return obj
