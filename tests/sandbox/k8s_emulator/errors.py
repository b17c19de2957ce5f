"""API errors rendered as ``Status`` objects, worded like the real kube-apiserver's."""

import json

_FIELD_REASONS = {
    "required": ("FieldValueRequired", "Required value"),
    "invalid": ("FieldValueInvalid", "Invalid value"),
    "not_supported": ("FieldValueNotSupported", "Unsupported value"),
    "too_long": ("FieldValueTooLong", "Too long"),
    "forbidden": ("FieldValueForbidden", "Forbidden"),
    "duplicate": ("FieldValueDuplicate", "Duplicate value"),
}


def go_value(value):
    """Render a field value roughly like Go's ``%#v`` does in validation messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class FieldError:
    """One ``field.Error`` of apimachinery: a type, a field path, the bad value and a detail."""

    def __init__(self, kind, field, value=None, detail=""):
        self.kind = kind
        self.field = field
        self.value = value
        self.detail = detail

    def body(self):
        """The text after ``<field>: `` in the message (``Invalid value: "x": detail``)."""
        label = _FIELD_REASONS[self.kind][1]
        if self.kind in ("invalid", "not_supported", "duplicate"):
            text = "%s: %s" % (label, go_value(self.value))
        else:
            text = label
        return "%s: %s" % (text, self.detail) if self.detail else text

    def cause(self):
        """A ``StatusCause`` entry."""
        return {"reason": _FIELD_REASONS[self.kind][0], "message": self.body(), "field": self.field}

    def __str__(self):
        return "%s: %s" % (self.field, self.body())


class ApiError(Exception):
    """An error answered with a ``Status`` body and ``code`` as HTTP status."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self):
        """The ``Status`` object for the response body."""
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message}
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(rtype, name, kind=None):
    details = {"name": name} if name else {}
    if rtype.group:
        details["group"] = rtype.group
    details["kind"] = kind or rtype.plural
    return details


def not_found(rtype, name):
    """404 for a missing object of ``rtype``."""
    return ApiError(404, "NotFound", '%s "%s" not found' % (rtype.qualified, name), _details(rtype, name))


def namespace_not_found(namespace):
    """404 when the namespace of a namespaced create does not exist."""
    return ApiError(404, "NotFound", 'namespaces "%s" not found' % namespace, {"name": namespace, "kind": "namespaces"})


def already_exists(rtype, name):
    """409 for a create whose name is taken."""
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (rtype.qualified, name), _details(rtype, name))


def conflict(rtype, name, reason_text="the object has been modified; please apply your changes to the latest version and try again"):
    """409 optimistic-concurrency conflict."""
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s' % (rtype.qualified, name, reason_text),
                    _details(rtype, name))


def invalid(rtype, name, errors):
    """422 with one cause per :class:`FieldError`, message like ``ConfigMap "x" is invalid: ...``."""
    if len(errors) == 1:
        summary = str(errors[0])
    else:
        summary = "[%s]" % ", ".join(str(err) for err in errors)
    details = _details(rtype, name, kind=rtype.kind)
    details["causes"] = [err.cause() for err in errors]
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (rtype.group_kind, name, summary), details)


def invalid_options(kind, errors):
    """422 for bad request options (e.g. ``PatchOptions.meta.k8s.io "" is invalid``)."""
    summary = str(errors[0]) if len(errors) == 1 else "[%s]" % ", ".join(str(err) for err in errors)
    return ApiError(422, "Invalid", '%s.meta.k8s.io "" is invalid: %s' % (kind, summary),
                    {"group": "meta.k8s.io", "kind": kind, "causes": [err.cause() for err in errors]})


def bad_request(message):
    """400 BadRequest."""
    return ApiError(400, "BadRequest", message)


def decode_error(rtype, detail):
    """400 for a body the server cannot decode into the Go type (wrong JSON types, bad base64...)."""
    return bad_request('%s in version "%s" cannot be handled as a %s: %s' % (rtype.kind, rtype.version, rtype.kind, detail))


def forbidden(rtype, name, detail):
    """403 Forbidden on one object."""
    return ApiError(403, "Forbidden", '%s "%s" is forbidden: %s' % (rtype.qualified, name, detail), _details(rtype, name))


def method_not_allowed():
    """405 for a verb the resource does not support."""
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def not_found_path():
    """404 for an unknown URL."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


PATCH_MEDIA_TYPES = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"


def unsupported_media_type(accepted=PATCH_MEDIA_TYPES):
    """415 for a body (or patch) type the server does not accept."""
    return ApiError(415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: %s" % accepted, {})


def unauthorized():
    """401 for a missing or wrong bearer token."""
    return ApiError(401, "Unauthorized", "Unauthorized")


def gone(message):
    """410 Expired, e.g. a watch from a resourceVersion older than the kept history."""
    return ApiError(410, "Expired", message)


def apply_conflicts(rtype, name, conflicts):
    """409 for server-side apply conflicts; ``conflicts`` is a list of (manager, apiVersion, field)."""
    count = len(conflicts)
    managers = {}
    for manager, api_version, field in conflicts:
        managers.setdefault((manager, api_version), []).append(field)
    if count == 1:
        manager, api_version, field = conflicts[0]
        summary = 'Apply failed with 1 conflict: conflict with "%s" using %s: %s' % (manager, api_version, field)
    else:
        parts = []
        for (manager, api_version), fields in managers.items():
            word = "conflict" if len(fields) == 1 else "conflicts"
            parts.append('%s with "%s" using %s:\n%s' % (word, manager, api_version, "\n".join("- " + f for f in fields)))
        summary = "Apply failed with %d conflicts: %s" % (count, "\n".join(parts))
    details = _details(rtype, name)
    details["causes"] = [{"reason": "FieldManagerConflict", "message": 'conflict with "%s" using %s' % (manager, api_version), "field": field}
                         for manager, api_version, field in conflicts]
    return ApiError(409, "Conflict", summary, details)


def injected(code):
    """A fault-injected error (500, 429 or 503) with the real server's wording."""
    if code == 429:
        return ApiError(429, "TooManyRequests", "Too many requests, please try again later.", {"retryAfterSeconds": 1},
                        headers={"Retry-After": "1"})
    if code == 503:
        return ApiError(503, "ServiceUnavailable", "The server is currently unable to handle the request (sandbox fault injection)", {})
    return ApiError(500, "InternalError", "Internal error occurred: sandbox fault injection",
                    {"causes": [{"message": "sandbox fault injection"}]})
