# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prefect: a small client of Prefect 3's REST API (self-hosted server or a Cloud workspace URL).

The collection never imports the ``prefect`` package (its pins would move ours); it speaks the
documented REST API with Ansible's ``open_url``:

======================================================  ================================================
call                                                    what for
======================================================  ================================================
``GET  /health``                                        the server answers
``GET  /deployments/name/{flow}/{deployment}``          a step's ``deployment: <flow>/<deployment>``
``POST /deployments/{id}/create_flow_run``              start a step (parameters, tags, idempotency_key)
``GET  /flow_runs/{id}``                                follow it (``state_type``, ``state.message``)
``POST /flow_runs/{id}/set_state``                      cancel it (``CANCELLING``; a scheduled run that
                                                        has no infrastructure goes straight to CANCELLED)
``POST /flow_runs/filter``                              the daily check: a partition's flow runs by tag
``POST /task_runs/filter``                              the failing task and its retries (``run_count``)
``POST /logs/filter``                                   a failed run's error logs (its traceback)
======================================================  ================================================

``api_url`` is what ``PREFECT_API_URL`` holds (``http://host:4200/api``, or
``https://api.prefect.cloud/api/accounts/<id>/workspaces/<id>``). Credentials, as Prefect's own client
sends them: ``auth_string`` (``user:password``, what ``PREFECT_API_AUTH_STRING`` holds for a self-hosted
server started with ``PREFECT_SERVER_API_AUTH_STRING``) as ``Authorization: Basic base64(user:password)``;
else ``api_key`` (Prefect Cloud) as ``Authorization: Bearer <key>``. They go in that header and nowhere
else (messages name the URL, never a credential). A self-hosted server with an auth string answers every
call but ``GET /health`` and ``GET /ready`` with 401 ``{"exception_message": "Unauthorized"}`` when the
header is missing or wrong. ``validate_certs`` (default true) and ``ca_path`` (a CA bundle, e.g. the
private CA of a TLS proxy in front of the server) govern HTTPS.

Each call has a timeout; connection errors, timeouts and 5xx answers are retried with exponential
backoff and jitter, then fail as ``prefect_unreachable``; a certificate that cannot be verified fails at
once as ``prefect_tls_failed``; 401/403 fail as ``prefect_unauthorized``, an unknown deployment as
``prefect_deployment_not_found``, any other refusal (422 validation, 409 parameter schema) as
``prefect_api_error`` with Prefect's ``detail``.

Idempotency (``prefect/server/models/flow_runs.py``): a flow run's ``(flow_id, idempotency_key)`` is
unique; ``create_flow_run`` with a key a run of the same *flow* already has inserts nothing and returns
that run (HTTP 200 instead of 201), so ``create_flow_run`` says whether the run is new.
``POST /flow_runs/filter`` finds runs by tags, deployment and ``idempotency_key`` (``any_``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import random
import re
import socket
import ssl
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote
from ansible.module_utils.urls import open_url

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_S = 0.5
USER_AGENT = "signalcraft.ops-pipeline"
# Flow-run state types (Prefect 3 StateType) and what a pipeline step makes of them.
SUCCEEDED_STATES = frozenset(("COMPLETED",))
FAILED_STATES = frozenset(("FAILED", "CRASHED", "CANCELLED"))
RUNNING_STATES = frozenset(("SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"))
STATE_TYPES = SUCCEEDED_STATES | FAILED_STATES | RUNNING_STATES
_API_URL = re.compile(r"^https?://[^/\s?#]+(/[^\s?#]*)?$")
_NAME_PART = re.compile(r"^[^/\s][^/]*$")
_TASK_RUN_SUFFIX = re.compile(r"-[0-9a-f]{3}$")


class PrefectError(OpsError):
    """A Prefect API call failed; ``reason`` is a registered token (prefect_*)."""

    def __init__(self, reason, message, status=None, details=None):
        super(PrefectError, self).__init__(reason, message, details=details)
        self.status = status


# ------------------------------------------------------------------ pure helpers

def normalise_api_url(url):
    """The API URL without a trailing slash; ValueError when it is not ``http(s)://host[:port]/path``."""
    text = (url or "").strip()
    if not _API_URL.match(text):
        raise ValueError("Prefect API URL %r must look like http://host:4200/api (what PREFECT_API_URL holds)" % (url,))
    return text.rstrip("/")


def parse_deployment_name(name):
    """``(flow_name, deployment_name)`` of ``<flow>/<deployment>``; ValueError otherwise."""
    parts = (name or "").split("/") if isinstance(name, str) else []
    if len(parts) != 2 or not all(_NAME_PART.match(part.strip()) and part == part.strip() for part in parts):
        raise ValueError("deployment %r must be <flow name>/<deployment name> (as `prefect deployment ls` shows it)" % (name,))
    return parts[0], parts[1]


def step_state(state_type):
    """``succeeded``, ``failed`` or ``running`` for a flow run's ``state_type`` (unknown types count as running)."""
    state_type = (state_type or "").upper()
    if state_type in SUCCEEDED_STATES:
        return "succeeded"
    if state_type in FAILED_STATES:
        return "failed"
    return "running"


def task_name(task_run):
    """A task run's task name: its run name without the ``-<3 hex>`` Prefect appends (``fetch-source-d48`` -> ``fetch-source``)."""
    name = task_run.get("name") or task_run.get("task_key") or ""
    return _TASK_RUN_SUFFIX.sub("", name)


def task_retries(task_run):
    """How many times Prefect retried a task run: its ``run_count`` (tries that entered Running) minus one."""
    return max(int(task_run.get("run_count") or 0) - 1, 0)


def failing_task(task_runs):
    """The failing task of a flow run from its task runs: the last one (by end, then start) whose state
    failed or crashed; ``None`` when none did. ``{"task", "task_run", "task_run_id", "state_type",
    "message", "retries", "run_count"}``."""
    failed = [t for t in task_runs or () if (t.get("state_type") or "").upper() in ("FAILED", "CRASHED")]
    if not failed:
        return None
    last = max(failed, key=lambda t: (t.get("end_time") or "", t.get("start_time") or "", t.get("name") or ""))
    return {"task": task_name(last), "task_run": last.get("name"), "task_run_id": last.get("id"), "state_type": last.get("state_type"),
            "message": ((last.get("state") or {}).get("message") or "")[:500], "retries": task_retries(last),
            "run_count": int(last.get("run_count") or 0)}


def state_message(flow_run):
    """The flow run's state message, or ``<state name>`` when Prefect gave none."""
    state = flow_run.get("state") or {}
    return state.get("message") or "flow run %s is %s" % (flow_run.get("name") or flow_run.get("id"),
                                                          state.get("name") or flow_run.get("state_name") or flow_run.get("state_type"))


# ------------------------------------------------------------------ the client

class PrefectClient:
    """The calls above against one Prefect API. ``opener`` and ``sleep`` are for tests of the retry loop."""

    def __init__(self, api_url, api_key=None, timeout=DEFAULT_TIMEOUT_S, retries=DEFAULT_RETRIES, backoff_s=DEFAULT_BACKOFF_S,
                 validate_certs=True, ca_path=None, auth_string=None, opener=None, sleep=time.sleep, rng=random.random):
        self.api_url = normalise_api_url(api_url)
        self._api_key = api_key or None
        self._auth_string = auth_string or None
        self.timeout, self.retries, self.backoff_s = float(timeout), int(retries), float(backoff_s)
        self.validate_certs, self.ca_path = bool(validate_certs), ca_path or None
        self._open, self._sleep, self._rng = opener or open_url, sleep, rng

    @property
    def credential(self):
        """Which credential the calls carry: ``auth_string``, ``api_key`` or ``none`` (never the value)."""
        return "auth_string" if self._auth_string else ("api_key" if self._api_key else "none")

    def _headers(self, body):
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "application/json"
        # As Prefect's client: the auth string wins over an API key (prefect/client/orchestration/__init__.py).
        if self._auth_string:
            headers["Authorization"] = "Basic %s" % basic_token(self._auth_string)
        elif self._api_key:
            headers["Authorization"] = "Bearer %s" % self._api_key
        return headers

    def request(self, method, path, body=None, not_found=None):
        """``(status, document)`` of one call, with retries of connection errors, timeouts and 5xx."""
        url = self.api_url + path
        data = json.dumps(body).encode("utf-8") if body is not None else None
        attempt, last = 0, None
        while True:
            attempt += 1
            try:
                response = self._open(url, data=data, method=method, headers=self._headers(body), timeout=self.timeout,
                                      validate_certs=self.validate_certs, ca_path=self.ca_path, follow_redirects="safe")
                try:
                    status = response.getcode() if hasattr(response, "getcode") else getattr(response, "status", 200)
                    text = response.read().decode("utf-8")
                finally:
                    response.close()
                return status, (json.loads(text) if text.strip() else None)
            except HTTPError as exc:
                status, detail = exc.code, _detail(exc)
                if status >= 500:
                    last = "HTTP %d %s" % (status, detail)
                elif status in (401, 403):
                    raise PrefectError("prefect_unauthorized", "Prefect at %s refused %s %s (HTTP %d: %s) with %s; %s" % (
                        self.api_url, method, path, status, detail, _CREDENTIAL_TEXT[self.credential], _CREDENTIAL_FIX), status=status)
                elif status == 404 and not_found:
                    raise PrefectError(not_found[0], "%s (Prefect at %s: %s)" % (not_found[1], self.api_url, detail), status=status)
                else:
                    raise PrefectError("prefect_api_error", "Prefect at %s refused %s %s: HTTP %d %s" % (self.api_url, method, path, status, detail),
                                       status=status)
            except (URLError, socket.timeout, ConnectionError, OSError) as exc:
                reason = getattr(exc, "reason", None) or exc
                if tls_refusal(exc):
                    # Not transient: the certificate (or the protocol) will be the same on the next try.
                    raise PrefectError("prefect_tls_failed", "cannot verify Prefect's TLS certificate at %s (%s %s): %s; set "
                                                             "signalcraft_pipeline_prefect_ca_path to the CA bundle that signed it (or "
                                                             "PREFECT_API_SSL_CERT_FILE), or check signalcraft_pipeline_prefect_api_url's "
                                                             "scheme and host." % (self.api_url, method, path, reason))
                last = "%s" % (reason,)
            except ValueError as exc:
                raise PrefectError("prefect_api_error", "Prefect at %s answered %s %s with something that is not JSON: %s" % (
                    self.api_url, method, path, exc))
            if attempt > self.retries:
                raise PrefectError("prefect_unreachable", "cannot reach Prefect at %s (%s %s, %d tries): %s; check that the server runs "
                                                          "and signalcraft_pipeline_prefect_api_url points at its /api." % (
                                                              self.api_url, method, path, attempt, last))
            # Exponential backoff with jitter (0.5x-1.5x), so parallel partitions do not hammer a recovering server in step.
            self._sleep(self.backoff_s * (2 ** (attempt - 1)) * (0.5 + self._rng()))

    def health(self):
        return self.request("GET", "/health")[1]

    def deployment(self, name):
        """The deployment ``<flow>/<deployment>`` (``prefect_deployment_not_found`` when the server has none)."""
        flow_name, deployment_name = parse_deployment_name(name)
        path = "/deployments/name/%s/%s" % (quote(flow_name, safe=""), quote(deployment_name, safe=""))
        return self.request("GET", path, not_found=(
            "prefect_deployment_not_found", "Prefect has no deployment %s; deploy it (`prefect deployment ls` lists what there is) or "
                                            "fix the step's deployment: in pipeline_steps" % name))[1]

    def create_flow_run(self, deployment_id, parameters, idempotency_key=None, tags=(), name=None):
        """``(flow_run, created)``: ``created`` is False when Prefect returned an existing run with the same idempotency key."""
        body = {"parameters": dict(parameters or {}), "tags": list(tags or ())}
        if idempotency_key:
            body["idempotency_key"] = idempotency_key
        if name:
            body["name"] = name
        status, document = self.request("POST", "/deployments/%s/create_flow_run" % deployment_id, body, not_found=(
            "prefect_deployment_not_found", "Prefect has no deployment %s any more" % deployment_id))
        return document, status == 201

    def flow_run(self, flow_run_id):
        return self.request("GET", "/flow_runs/%s" % flow_run_id, not_found=(
            "prefect_api_error", "Prefect has no flow run %s (deleted?)" % flow_run_id))[1]

    def set_flow_run_state(self, flow_run_id, state_type, message=None, force=False):
        """The orchestration result (``status`` ACCEPT, REJECT, ABORT or WAIT, and the resulting ``state``)."""
        state = {"type": state_type}
        if message:
            state["message"] = message
        return self.request("POST", "/flow_runs/%s/set_state" % flow_run_id, {"state": state, "force": bool(force)})[1]

    def flow_runs(self, deployment_ids=None, tags=None, limit=200, sort="EXPECTED_START_TIME_DESC"):
        """Flow runs of these deployments (and carrying all ``tags``), newest first."""
        body = {"sort": sort, "limit": int(limit)}
        flow_runs = {}
        if tags:
            flow_runs["tags"] = {"all_": list(tags)}
        if flow_runs:
            body["flow_runs"] = flow_runs
        if deployment_ids:
            body["deployments"] = {"id": {"any_": list(deployment_ids)}}
        return self.request("POST", "/flow_runs/filter", body)[1] or []

    def task_runs(self, flow_run_id, limit=200):
        body = {"flow_runs": {"id": {"any_": [flow_run_id]}}, "sort": "EXPECTED_START_TIME_DESC", "limit": int(limit)}
        return self.request("POST", "/task_runs/filter", body)[1] or []

    def error_logs(self, flow_run_id, limit=20):
        """Log lines of level ERROR and above of the flow run (its tasks' tracebacks), oldest first."""
        body = {"logs": {"flow_run_id": {"any_": [flow_run_id]}, "level": {"ge_": 40}}, "sort": "TIMESTAMP_ASC", "limit": int(limit)}
        return self.request("POST", "/logs/filter", body)[1] or []


_CREDENTIAL_TEXT = {"auth_string": "the configured auth string (Basic)", "api_key": "the configured API key (Bearer)",
                    "none": "no credential"}
_CREDENTIAL_FIX = ("a self-hosted server started with PREFECT_SERVER_API_AUTH_STRING needs that user:password in "
                   "signalcraft_pipeline_prefect_auth_string (or PREFECT_API_AUTH_STRING); Prefect Cloud needs a key of the workspace in "
                   "signalcraft_pipeline_prefect_api_key (or PREFECT_API_KEY).")


def basic_token(auth_string):
    """``base64(user:password)``: what Prefect's client sends as ``Authorization: Basic <token>``."""
    return base64.b64encode(auth_string.encode("utf-8")).decode("ascii")


def tls_refusal(exc):
    """True when a connection failed on TLS itself (certificate not verified, a host name mismatch, TLS
    spoken to a plain HTTP port), which no retry changes; a TLS handshake that timed out is not one."""
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, ssl.SSLCertVerificationError) or type(exc).__name__ == "SSLValidationError":
        return True
    return isinstance(reason, ssl.SSLError) and "timed out" not in ("%s" % (reason,)).lower()


def _detail(exc):
    """Prefect's ``{"detail": ...}`` (or an auth middleware's ``{"exception_message": ...}``) of an HTTP error, shortened."""
    try:
        text = exc.read().decode("utf-8", "replace")
    except Exception:  # pylint: disable=broad-except  # an unreadable body still leaves the status code
        return exc.reason if hasattr(exc, "reason") else ""
    try:
        document = json.loads(text)
        detail = document.get("detail") or document.get("exception_message") or text
    except (ValueError, AttributeError):
        detail = text
    return ("%s" % (detail,))[:500]
