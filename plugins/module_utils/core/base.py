# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module skeleton: what every signalcraft.ops module promises, written once.

Why: before this, each of 36 modules repeated its dependency check, client construction, exception
handling, status line and receipt, and they drifted (three spellings of one token, receipts built in
two places). A module is now its option list plus one function::

    def run(ops):                       # ops is the OpsModule: params, check_mode, clients
        ...                             # raise OpsError(reason, message, details) to fail
        return {"changed": ..., "outputs": {...}, "line": [("desired", 6)], "diff": {...}}

    def main():
        OpsModule(ARGUMENT_SPEC, operation="containment", phase="scale_workers",
                  connections=[AwsConnection]).run(run)

The skeleton owns, for every module:

- the shared options: ``execution_id`` and each connection's options (AWS, Kubernetes, ...);
- dependency checks (one ``missing_required_lib`` failure per missing library);
- lazily built, cached clients (``ops.client("s3")``, ``ops.connection("k8s")``), so bad input
  fails before any client or request exists;
- one failure path: ``OpsError`` (and each connection's library errors, mapped to tokens) becomes
  ``fail_json`` with the same shape as success;
- one result shape: ``{changed, status, reason, token_line, outputs, attempts, receipt, diff, msg}``;
- the status line, formatted by ``status_line.format_line`` from the function's ``line`` fields;
- the ``receipt.v1`` document, built and redacted here; the collection's action plugin writes it;
- progress of long work: ``ops.progress(done, total, unit=..., what=...)`` (core/progress.py), shown
  to the operator while the module runs.

Nothing here imports a service layer: connection classes are passed in by the module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.signalcraft.ops.plugins.module_utils.core import progress as progress_lines
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts, status_line
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.redaction import Redactor, secret_values_in

# Keys of the function's return value the skeleton interprets; everything else is rejected so a
# module cannot grow a private result shape again.
_OUTCOME_KEYS = frozenset(("changed", "status", "reason", "line", "outputs", "diff", "message", "attempts",
                           "phase", "operation", "skip_reason", "warnings", "receipt"))
# Statuses that fail the task (the receipt's status is ``failed``).
FAIL_STATUSES = frozenset(("fail",))


def common_argument_spec():
    """Options every signalcraft.ops module takes (see doc fragment signalcraft.ops.receipt)."""
    return dict(execution_id=dict(type="str"))


class OpsModule:
    """An AnsibleModule with the collection's skeleton around it.

    ``operation``/``phase`` name the receipt; ``status_key`` is the first word of the status line
    (default: the phase). ``connections`` are classes with ``name``, ``argument_spec()``,
    ``import_error()``, ``error_types``, ``to_error(exc)`` and a constructor taking this object.
    ``receipt_inputs`` lists the options recorded as the receipt's inputs (default: every option
    of the module that is not a connection option or marked ``no_log``).
    """

    def __init__(self, argument_spec, operation, phase, status_key=None, connections=(), receipt_inputs=None,
                 supports_check_mode=True, **module_kwargs):
        spec = common_argument_spec()
        self._connection_classes = list(connections)
        connection_options = set()
        for connection in self._connection_classes:
            options = connection.argument_spec()
            connection_options.update(options)
            spec.update(options)
        spec.update(argument_spec)
        self.module = AnsibleModule(argument_spec=spec, supports_check_mode=supports_check_mode, **module_kwargs)
        self.operation = operation
        self.phase = phase
        self.status_key = status_key or phase
        if receipt_inputs is None:
            receipt_inputs = [name for name, option in argument_spec.items() if not option.get("no_log")]
            if "region" in connection_options:
                receipt_inputs.append("region")
        self.receipt_inputs = list(receipt_inputs)
        self.started = receipts.utc_now()
        self._connections = {}
        self._extra_secrets = []
        self._extra_inputs = {}
        self._progress = progress_lines.Reporter.from_env()

    # -- what the module's function uses ----------------------------------------------------

    @property
    def params(self):
        return self.module.params

    @property
    def check_mode(self):
        return self.module.check_mode

    @property
    def execution_id(self):
        """The execution id receipts are filed under (given, else ``<operation>-<UTC start>``)."""
        return receipts.execution_id(self.params.get("execution_id"), self.operation, self.started)

    def connection(self, name):
        """The connection called ``name``, built on first use and cached for the run."""
        if name not in self._connections:
            for connection in self._connection_classes:
                if connection.name == name:
                    self._connections[name] = connection(self)
                    break
            else:
                raise KeyError("module declares no %s connection" % name)
        return self._connections[name]

    def client(self, service):
        """A cached boto3 client (needs the AWS connection)."""
        return self.connection("aws").client(service)

    def add_secret(self, *values):
        """Values found at run time (a token, a password) that must never be printed or recorded."""
        for value in values:
            if isinstance(value, str) and value:
                self.module.no_log_values.add(value)
                self._extra_secrets.append(value)

    def record_inputs(self, **values):
        """Derived inputs worth auditing (``confirmed=True`` rather than what was typed)."""
        self._extra_inputs.update(values)

    def warn(self, text):
        self.module.warn(text)

    def progress(self, done, total=None, unit="objects", what=None, rate=True, final=False, **counts):
        """Report progress of long work: ``done`` of ``total`` ``unit`` (counts only, never names or values).

        ``what`` is a fixed phrase (default: the status key), ``rate=False`` for a wait, ``counts``
        more whole numbers for the line (``deleted=12``). Rate-limited (core/progress.py); the
        operator sees the lines while the module runs, also in check mode. Call it as work
        completes, from any thread; it costs nothing when no one is listening.
        """
        return self._progress.report(done, total, unit=unit, what=what or self.status_key, rate=rate, final=final, **counts)

    def progress_for(self, what, unit="objects", rate=True):
        """``progress(done, total, **counts)`` bound to ``what``/``unit``: the callable a service or runbook takes."""
        def report(done, total=None, final=False, **counts):
            return self.progress(done, total, unit=unit, what=what, rate=rate, final=final, **counts)
        return report

    # -- the one success path and the one failure path --------------------------------------

    def run(self, function):
        """Check dependencies, call ``function(self)`` and exit with the one result shape."""
        for connection in self._connection_classes:
            error = connection.import_error()
            if error is not None:
                self.module.fail_json(msg=missing_required_lib(connection.requirement), exception=str(error),
                                      status="fail", reason="missing_dependency", changed=False)
        error_types = tuple(t for c in self._connection_classes for t in c.error_types)
        try:
            outcome = function(self) or {}
        except OpsError as exc:
            self._finish_failed(exc)
        # pylint: disable-next=catching-non-exception  # a tuple of the connections' library exception classes
        except error_types as exc:
            self._finish_failed(self._map_error(exc))
        except Exception as exc:  # pylint: disable=broad-except
            # Still a receipt and a status line: an audit trail that says what broke.
            self._finish_failed(OpsError("module_error", "%s: %s" % (type(exc).__name__, exc)), trace=traceback.format_exc())
        try:
            result = self._result(outcome)
        except ValueError as exc:
            # A result outside the shape (or a line field that is not a token) is a bug in the module.
            self._finish_failed(OpsError("module_error", str(exc)), trace=traceback.format_exc())
        self._progress.flush()
        self.module.exit_json(**result)

    def _map_error(self, exc):
        for connection in self._connection_classes:
            if isinstance(exc, tuple(connection.error_types)):
                return connection.to_error(exc)
        return OpsError("module_error", str(exc))

    def _attempts(self):
        return 1 + sum(getattr(c, "retries", 0) for c in self._connections.values())

    def _redactor(self):
        return Redactor(list(self.module.no_log_values) + self._extra_secrets)

    def _inputs(self):
        inputs = {name: self.params.get(name) for name in self.receipt_inputs}
        inputs.update(self._extra_inputs)
        inputs["check_mode"] = self.check_mode
        return inputs

    def _receipt(self, status, outputs, changed, attempts, failure_code=None, skip_reason=None, message=None,
                 phase=None, operation=None):
        return receipts.build(
            operation or self.operation, phase or self.phase, status, self.execution_id, self.started,
            inputs=self._inputs(), outputs=outputs, failure_code=failure_code, skip_reason=skip_reason,
            message=message, attempts=attempts, changed=changed, module=self._module_name(),
            secret_values=list(self.module.no_log_values) + self._extra_secrets,
        )

    def _module_name(self):
        name = getattr(self.module, "_name", None) or self.phase
        return name if name.startswith("signalcraft.ops.") else "signalcraft.ops.%s" % name.split(".")[-1]

    def _result(self, outcome):
        unknown = set(outcome) - _OUTCOME_KEYS
        if unknown:
            raise ValueError("module returned keys outside the result shape: %s" % ", ".join(sorted(unknown)))
        status = outcome.get("status", "ok")
        reason = outcome.get("reason")
        if status in FAIL_STATUSES:
            self._finish_failed(OpsError(reason or "module_error", outcome.get("message") or "the step failed without saying why",
                                         details=outcome.get("outputs") or {}, changed_so_far=outcome.get("changed", False)),
                                line=outcome.get("line"), diff=outcome.get("diff"))
        changed = bool(outcome.get("changed", False))
        outputs = self._redactor().redact(outcome.get("outputs") or {})
        fields = status_line.token_fields(outcome.get("line"))[0]
        token_line = status_line.format_line(self.status_key, status, reason, fields)
        attempts = int(outcome.get("attempts") or self._attempts())
        skipped = status == "skipped"
        message = outcome.get("message")
        result = dict(
            changed=changed, status=status, reason=reason, token_line=token_line, outputs=outputs, attempts=attempts,
            msg=token_line if not message else "%s: %s" % (token_line, message),
            receipt=self._receipt("skipped" if skipped else "success", outputs, changed, attempts,
                                  skip_reason=(outcome.get("skip_reason") or reason or status) if skipped else None,
                                  message=result_message(token_line, message),
                                  phase=outcome.get("phase"), operation=outcome.get("operation")),
        )
        if outcome.get("receipt") is not None:
            # signalcraft.ops.receipt: the receipt it assembled is the one to store, not one about itself.
            result["receipt"] = receipts.validate(outcome["receipt"])
        if outcome.get("diff") is not None:
            result["diff"] = self._redactor().redact(outcome["diff"])
        for warning in outcome.get("warnings") or ():
            self.module.warn(warning)
        return result

    def _finish_failed(self, exc, line=None, diff=None, trace=None):
        outputs = self._redactor().redact(dict(exc.details or {}))
        reason = exc.reason or "module_error"
        fields = line if line is not None else outputs.pop("line", None) if isinstance(outputs.get("line"), list) else None
        token_line = status_line.format_line(self.status_key, "fail", reason, status_line.token_fields(fields)[0])
        message = self._redactor().redact(exc.message)
        attempts = self._attempts()
        result = dict(
            changed=bool(exc.changed_so_far), status="fail", reason=reason, token_line=token_line, outputs=outputs,
            attempts=attempts, msg="%s: %s" % (token_line, message),
            receipt=self._receipt("failed", outputs, bool(exc.changed_so_far), attempts,
                                  failure_code=getattr(exc, "failure_code", None) or reason,
                                  message="%s: %s" % (token_line, message)),
        )
        if diff is not None:
            result["diff"] = self._redactor().redact(diff)
        if trace:
            result["exception"] = self._redactor().redact(trace)
        self._progress.flush()
        self.module.fail_json(**result)


def result_message(token_line, message):
    """The receipt's message: the status line, then the human sentence when there is one."""
    return token_line if not message else "%s: %s" % (token_line, message)


def no_log_values_in(ops, *sources):
    """Register the secret-looking values of free-form dicts (inputs a role passes through)."""
    for source in sources:
        ops.add_secret(*secret_values_in(source))
