"""Type checks the real apiserver performs while decoding JSON into Go structs (HTTP 400 on failure).

A string where the Go type is ``bool`` (``spec.suspend: "yes"``), a bad base64 value in
``Secret.data`` or an unparseable resource quantity never reach validation on a real cluster: the
request is rejected as ``BadRequest`` with the decoder's message. Only the fields this emulator's
kinds commonly use are typed; unknown fields pass through untouched.
"""

import base64
import binascii
import re

from . import errors, quantity
from .schema import POD_SPEC_PREFIX

_BASE64_ALPHABET = re.compile(r"[^A-Za-z0-9+/=]")

_CONTAINER = {
    "": "object", "name": "string", "image": "string", "imagePullPolicy": "string", "workingDir": "string",
    "command": "array", "command[]": "string", "args": "array", "args[]": "string",
    "env": "array", "env[]": "object", "env[].name": "string", "env[].value": "string",
    "ports": "array", "ports[].containerPort": "integer", "ports[].name": "string", "ports[].protocol": "string",
    "resources": "object", "resources.limits": "map", "resources.requests": "map",
    "volumeMounts": "array", "volumeMounts[].name": "string", "volumeMounts[].mountPath": "string",
}
_POD_SPEC = {
    "": "object", "restartPolicy": "string", "terminationGracePeriodSeconds": "integer", "activeDeadlineSeconds": "integer",
    "serviceAccountName": "string", "nodeName": "string", "nodeSelector": "map", "nodeSelector.*": "string",
    "imagePullSecrets": "array", "imagePullSecrets[].name": "string", "volumes": "array", "dnsPolicy": "string",
    "containers": "array", "initContainers": "array", "automountServiceAccountToken": "boolean",
}
for _list in ("containers", "initContainers"):
    for _key, _type in _CONTAINER.items():
        _POD_SPEC["%s[]%s" % (_list, "." + _key if _key else "")] = _type

_META = {"metadata": "object", "metadata.name": "string", "metadata.generateName": "string", "metadata.namespace": "string",
         "metadata.labels": "map", "metadata.labels.*": "string", "metadata.annotations": "map",
         "metadata.annotations.*": "string", "metadata.finalizers": "array", "metadata.finalizers[]": "string",
         "metadata.ownerReferences": "array"}
_JOB_SPEC = {"": "object", "backoffLimit": "integer", "completions": "integer", "parallelism": "integer",
             "activeDeadlineSeconds": "integer", "ttlSecondsAfterFinished": "integer", "suspend": "boolean",
             "manualSelector": "boolean", "template": "object", "template.metadata": "object", "selector": "object"}
_KINDS = {
    "ConfigMap": {"data": "map", "data.*": "string", "binaryData": "map", "binaryData.*": "string", "immutable": "boolean"},
    "Secret": {"data": "map", "data.*": "string", "stringData": "map", "stringData.*": "string", "type": "string",
               "immutable": "boolean"},
    "ServiceAccount": {"imagePullSecrets": "array", "imagePullSecrets[].name": "string", "secrets": "array",
                       "automountServiceAccountToken": "boolean"},
    "Job": {"spec" + ("." + k if k else ""): v for k, v in _JOB_SPEC.items()},
    "CronJob": dict({"spec": "object", "spec.schedule": "string", "spec.suspend": "boolean", "spec.concurrencyPolicy": "string",
                     "spec.successfulJobsHistoryLimit": "integer", "spec.failedJobsHistoryLimit": "integer",
                     "spec.startingDeadlineSeconds": "integer", "spec.timeZone": "string", "spec.jobTemplate.metadata": "object"},
                    **{"spec.jobTemplate.spec" + ("." + k if k else ""): v for k, v in _JOB_SPEC.items()}),
    "Deployment": {"spec": "object", "spec.replicas": "integer", "spec.paused": "boolean", "spec.minReadySeconds": "integer",
                   "spec.revisionHistoryLimit": "integer", "spec.progressDeadlineSeconds": "integer", "spec.selector": "object",
                   "spec.template": "object"},
    "Event": {"count": "integer", "message": "string", "reason": "string", "type": "string", "involvedObject": "object"},
}
for _kind, _prefix in POD_SPEC_PREFIX.items():
    for _key, _type in _POD_SPEC.items():
        _KINDS.setdefault(_kind, {})[".".join(_prefix) + ("." + _key if _key else "")] = _type

_GO_TYPES = {"string": "string", "integer": "int32", "boolean": "bool", "object": "struct", "map": "map[string]string",
             "array": "slice"}


def _json_type(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "null"


def _fits(value, expected):
    if value is None:
        return True
    if expected == "string":
        return isinstance(value, str)
    if expected == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())
    if expected == "boolean":
        return isinstance(value, bool)
    if expected in ("object", "map"):
        return isinstance(value, dict)
    return isinstance(value, list)


def _struct_name(kind, path):
    head = path.split(".", 1)[0].split("[", 1)[0]
    if head == "metadata":
        return "ObjectMeta"
    if head == "spec":
        return kind + "Spec"
    return kind


def _walk(node, path, table, kind, rtype):
    expected = table.get(path)
    if expected and not _fits(node, expected):
        shown = "number %s" % node if _json_type(node) == "number" else _json_type(node)
        raise errors.decode_error(rtype, "json: cannot unmarshal %s into Go struct field %s.%s of type %s"
                                  % (shown, _struct_name(kind, path), path.replace("[]", ""), _GO_TYPES[expected]))
    if isinstance(node, dict):
        for key, value in node.items():
            child = ("%s.*" % path) if expected == "map" else (key if not path else "%s.%s" % (path, key))
            _walk(value, child, table, kind, rtype)
    elif isinstance(node, list):
        for value in node:
            _walk(value, path + "[]", table, kind, rtype)


def _base64_error(text):
    match = _BASE64_ALPHABET.search(text)
    position = match.start() if match else (len(text) // 4) * 4
    return "illegal base64 data at input byte %d" % position


def decode_base64(text):
    """Strict standard base64 decoding; raises ValueError with Go's message."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(_base64_error(text)) from exc


def check(rtype, obj):
    """Raise a 400 ApiError when ``obj`` would not decode into the Go type of ``rtype``."""
    table = dict(_META, **_KINDS.get(rtype.kind, {}))
    _walk(obj, "", table, rtype.kind, rtype)
    base64_maps = {"Secret": "data", "ConfigMap": "binaryData"}
    field = base64_maps.get(rtype.kind)
    for value in (obj.get(field) or {}).values() if field else ():
        try:
            decode_base64(value)
        except ValueError as exc:
            raise errors.decode_error(rtype, str(exc)) from exc
    prefix = POD_SPEC_PREFIX.get(rtype.kind)
    spec = obj
    for key in prefix or ():
        spec = spec.get(key) if isinstance(spec, dict) else None
    for key in ("containers", "initContainers"):
        for container in (spec or {}).get(key) or [] if isinstance(spec, dict) else []:
            resources = container.get("resources") or {}
            for section in ("limits", "requests"):
                for value in (resources.get(section) or {}).values():
                    try:
                        quantity.parse(value)
                    except quantity.QuantityError as exc:
                        raise errors.decode_error(rtype, str(exc)) from exc
