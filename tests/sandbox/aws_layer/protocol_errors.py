"""Error responses in each AWS wire protocol, shaped so botocore parses the intended error code.

Codes and messages follow what the real services send: S3 ``SlowDown``/``InternalError``/
``ServiceUnavailable`` XML, JSON-protocol ``__type``, query-protocol ``<ErrorResponse>`` and the EC2
``<Response><Errors>`` envelope (EC2 answers throttling with 503 ``RequestLimitExceeded``).
"""

import json
import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape

from .classify import RequestInfo

# access_denied is not transient: it answers what an IAM/bucket-policy denial answers, so tests can
# tell "forbidden" from "missing" and interrupt a transfer without retries.
FAULT_KINDS = ("throttle", "slowdown", "500", "503", "latency", "access_denied")

# fault kind -> (HTTP status, code, message), per protocol family.
_S3 = {
    "throttle": (503, "SlowDown", "Please reduce your request rate."),
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "ServiceUnavailable", "Service is unable to handle request."),
    "access_denied": (403, "AccessDenied", "Access Denied"),
}
_JSON = {
    "throttle": (400, "ThrottlingException", "Rate exceeded"),
    "slowdown": (400, "ThrottlingException", "Rate exceeded"),
    "500": (500, "InternalFailure", "The request processing has failed because of an unknown error, exception or failure."),
    "503": (503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server."),
    "access_denied": (400, "AccessDeniedException", "User is not authorized to perform this action."),
}
_QUERY = {
    "throttle": (400, "Throttling", "Rate exceeded"),
    "slowdown": (400, "Throttling", "Rate exceeded"),
    "500": (500, "InternalFailure", "The request processing has failed because of an unknown error, exception or failure."),
    "503": (503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server."),
    "access_denied": (403, "AccessDenied", "User is not authorized to perform this action."),
}
_EC2 = {
    "throttle": (503, "RequestLimitExceeded", "Request limit exceeded."),
    "slowdown": (503, "RequestLimitExceeded", "Request limit exceeded."),
    "500": (500, "InternalError", "An internal error has occurred."),
    "503": (503, "Unavailable", "The server is overloaded and can't handle the request."),
    "access_denied": (403, "UnauthorizedOperation", "You are not authorized to perform this operation."),
}
_TABLES = {"s3": _S3, "json": _JSON, "rest-json": _JSON, "query": _QUERY, "ec2": _EC2}
_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 412: "Precondition Failed", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class ErrorResponse:
    """A complete HTTP response, ready for ``start_response``."""

    status: int
    headers: list
    body: bytes

    @property
    def status_line(self):
        """``"503 Service Unavailable"``."""
        return "%d %s" % (self.status, _REASONS.get(self.status, "Error"))

    def __call__(self, environ, start_response):
        start_response(self.status_line, self.headers)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else self.body]


def _request_id():
    return uuid.uuid4().hex.upper()[:16]


def _xml(text):
    return escape(str(text))


def s3_error(status, code, message, info=None):
    """An S3 REST error document (HEAD responses carry only the status, as in real S3)."""
    request_id = _request_id()
    resource = "/" + "/".join(part for part in (info.bucket, info.key) if part) if info is not None else "/"
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message><Resource>%s</Resource>'
            "<RequestId>%s</RequestId><HostId>%s</HostId></Error>" % (
                _xml(code), _xml(message), _xml(resource), request_id, uuid.uuid4().hex)).encode("utf-8")
    headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id), ("x-amz-id-2", uuid.uuid4().hex),
               ("Content-Length", str(len(body)))]
    return ErrorResponse(status, headers, body)


def _json_error(status, code, message):
    request_id = str(uuid.uuid4())
    body = json.dumps({"__type": code, "message": message}).encode("utf-8")
    headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", code),
               ("Content-Length", str(len(body)))]
    return ErrorResponse(status, headers, body)


def _query_error(status, code, message):
    request_id = str(uuid.uuid4())
    error_type = "Receiver" if status >= 500 else "Sender"
    body = ("<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId>"
            "</ErrorResponse>" % (error_type, _xml(code), _xml(message), request_id)).encode("utf-8")
    return ErrorResponse(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))], body)


def _ec2_error(status, code, message):
    request_id = str(uuid.uuid4())
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors>'
            "<RequestID>%s</RequestID></Response>" % (_xml(code), _xml(message), request_id)).encode("utf-8")
    return ErrorResponse(status, [("Content-Type", "text/xml;charset=UTF-8"), ("Content-Length", str(len(body)))], body)


def fault_error(info: RequestInfo, kind):
    """The error the real service would send for fault ``kind`` (not ``latency``)."""
    status, code, message = _TABLES[info.protocol][kind]
    if info.protocol == "s3":
        return s3_error(status, code, message, info)
    if info.protocol in ("json", "rest-json"):
        return _json_error(status, code, message)
    if info.protocol == "ec2":
        return _ec2_error(status, code, message)
    return _query_error(status, code, message)
