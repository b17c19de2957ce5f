"""WSGI middleware between AWS clients and moto's server app.

Per request: buffer the body, name service/operation, maybe inject a fault, enforce the S3 rules
moto lacks, call moto (under the key lock for single-key S3 writes), rewrite ECS task responses,
and log the request. ``/_sandbox/`` paths go to the control API instead.
"""

import io
import time

from . import iam_simulation, s3_lifecycle, s3_rules
from .classify import classify
from .control import PREFIX, ControlApi
from .ecs_outcomes import EcsOutcomes
from .ec2_tokens import ClientTokens
from .ecs_services import EcsServices
from .faults import FaultInjector
from .protocol_errors import fault_error
from .request_log import RequestLog
from .s3_multipart import MultipartInitiated
from .s3_restore import RestoreDelay


def buffer_body(environ):
    """Read the whole request body and put it back as a seekable stream moto can re-read."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()  # chunked transfer encoding, already de-chunked by the server
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    # moto sizes its reads by Content-Length; a de-chunked body needs one.
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return body


def call_buffered(app, environ):
    """Run a WSGI app to completion: ``(status_line, headers, body_bytes)``."""
    captured = {}
    chunks = []

    def start_response(status, headers, exc_info=None):
        del exc_info  # the status and headers are replaced wholesale if the app retries
        captured["status"], captured["headers"] = status, list(headers)
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return captured["status"], captured["headers"], b"".join(chunks)


def _with_length(headers, body):
    return [(name, value) for name, value in headers if name.lower() != "content-length"] + [("Content-Length", str(len(body)))]


SANDBOX_ACTOR_HEADER = "X-Sandbox-Actor"


def _from_sandbox_actor(environ):
    """A request made by the sandbox's own simulated actors (the emulated kubelet checking an image in
    ECR), not by a client under test: answered, but not logged, as writes of simulated ECS tasks are not.
    Tests read the log as "what our code did on the wire"; a kubelet polling ECR every few seconds would
    make "no AWS call" assertions fail at random."""
    return bool(environ.get("HTTP_" + SANDBOX_ACTOR_HEADER.upper().replace("-", "_")))


class SandboxMiddleware:
    """The layer: wraps moto's ``DomainDispatcherApplication``."""

    def __init__(self, app, account_id, request_log_size=5000):
        self.app = app
        self.account_id = account_id
        self.faults = FaultInjector()
        self.request_log = RequestLog(request_log_size)
        self.key_locks = s3_rules.KeyLocks()
        self.ecs = EcsOutcomes()
        self.multipart = MultipartInitiated()
        self.restores = RestoreDelay()
        self.ecs_services = EcsServices()
        self.client_tokens = ClientTokens()
        self.control = ControlApi(self)

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith(PREFIX):
            return self.control(environ, start_response)
        body = buffer_body(environ)
        info = classify(environ, body)
        fault = self.faults.decide(info)
        if fault is not None and fault.error == "latency":
            time.sleep(fault.latency_ms / 1000.0)
        elif fault is not None:
            return self._reply_error(info, fault_error(info, fault.error), environ, start_response, fault.error)
        if iam_simulation.is_simulation(info):  # moto has no SimulatePrincipalPolicy: answered here
            reply = iam_simulation.answer(environ, body, self.account_id)
            if not isinstance(reply, tuple):
                return self._reply_error(info, reply, environ, start_response)
            if not _from_sandbox_actor(environ):
                self.request_log.record(info, 200, injected=False, fault=None)
            start_response(reply[0], reply[1])
            return [reply[2]]
        rejection = s3_rules.delete_objects_violation(info, body) or s3_lifecycle.lifecycle_violation(info, body) or self.restores.reject(info)
        if rejection is not None:
            return self._reply_error(info, rejection, environ, start_response)
        with self.key_locks.hold(info):
            rejection = s3_rules.complete_multipart_precondition(info, environ, self.account_id)
            if rejection is not None:
                return self._reply_error(info, rejection, environ, start_response)
            token = self.client_tokens.token(info, body)
            replayed = self.client_tokens.replay(token)
            status, headers, response_body = replayed or call_buffered(self.app, environ)
            self.client_tokens.remember(token, status, headers, response_body)
        if info.service == "ecs" and status.startswith("200"):
            response_body = self.ecs.rewrite(info.operation, body, response_body)
            response_body = self.ecs_services.rewrite(info.operation, body, response_body)
            headers = _with_length(headers, response_body)
        elif info.protocol == "s3" and info.operation in ("CreateMultipartUpload", "ListMultipartUploads") and status.startswith("200"):
            response_body = self.multipart.rewrite(info.operation, response_body)
            headers = _with_length(headers, response_body)
        headers = self.restores.after(info, status, headers)
        if not _from_sandbox_actor(environ):
            self.request_log.record(info, int(status.split(" ", 1)[0]), injected=fault is not None,
                                    fault=fault.error if fault is not None else None)
        start_response(status, headers)
        return [response_body]

    def _reply_error(self, info, error, environ, start_response, fault=None):
        if not _from_sandbox_actor(environ):
            self.request_log.record(info, error.status, injected=fault is not None, fault=fault)
        return error(environ, start_response)
