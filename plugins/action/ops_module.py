# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of every signalcraft.ops module (routed here by meta/runtime.yml).

Why an action plugin: the promises a runbook makes to an operator -- the account/region guard before
the first AWS call, a receipt for every step written locally and to the receipt bucket, one
execution id, connection settings from the inventory -- must hold for every module in every
playbook without each role and playbook wiring them. kubernetes.core routes its modules through
shared action plugins the same way. Under AWX and ansible-runner this runs in the same process as
the job, so nothing depends on the callback or stdout configuration.

What it does around the module:

1. fills the module's AWS connection options from the suite-wide inventory variables
   (``signalcraft_aws_region``, ``signalcraft_aws_endpoint_url``, ``signalcraft_aws_profile``,
   ``signalcraft_aws_access_key``/``secret_key``/``session_token``) unless the task sets them, and
   ``execution_id`` from ``signalcraft_execution_id``;
2. runs ``signalcraft.ops.aws_account_guard`` once per play (cached in a fact per account, region
   and endpoint) before the first AWS-facing module or receipt upload; a refusal stops the task
   before the module runs and is receipted;
3. writes the receipt the module returned: ``<signalcraft_receipt_dir>`` when a phase engine set
   it for the task, else ``<signalcraft_receipt_root>/<execution_id>/``, and
   ``s3://<signalcraft_receipt_bucket>/<signalcraft_receipt_prefix>/<execution_id>/<phase>.json``.
   Nothing is written in check mode. ``signalcraft_receipt_write: false`` (a task var) leaves the
   receipt to the caller, as a phase engine does for steps it summarises itself;
4. shows the module's progress while it runs (core/progress.py): a module that calls
   ``ops.progress`` appends records to a file this plugin creates on the controller and names in
   ``SIGNALCRAFT_PROGRESS_FILE`` for the module process; a thread tails it and hands each line to
   Ansible's display, which a worker sends to the main process at once -- so the lines come before
   the task's result in ansible-playbook's output and are ``verbose`` job events under
   ansible-runner/AWX. Only over the local connection (every runbook runs on the control node), where
   the module writes to the controller's filesystem.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import hashlib
import importlib
import os
import tempfile

from ansible import constants as C
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.signalcraft.ops.plugins.module_utils.core import progress as progress_lines
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws as aws_service
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_service

try:
    import yaml
except ImportError:  # pragma: no cover - ansible-core requires PyYAML
    yaml = None

GUARD_MODULE = "signalcraft.ops.aws_account_guard"
GUARD_FACT = "signalcraft_account_guard_passed"
# Every module's result, by its receipt phase: how a phase engine or a later role reads an earlier
# step's outputs explicitly (``signalcraft_results.run_once.outputs.run_id``).
RESULTS_FACT = "signalcraft_results"
# module option, its aliases, the suite-wide variable that supplies it.
AWS_OPTION_VARS = (
    ("region", ("aws_region",), "signalcraft_aws_region"),
    ("endpoint_url", ("aws_endpoint_url",), "signalcraft_aws_endpoint_url"),
    ("profile", ("aws_profile",), "signalcraft_aws_profile"),
    ("access_key", ("aws_access_key_id", "aws_access_key"), "signalcraft_aws_access_key"),
    ("secret_key", ("aws_secret_access_key", "aws_secret_key"), "signalcraft_aws_secret_key"),
    ("session_token", ("aws_session_token",), "signalcraft_aws_session_token"),
)
# The receipt module may name its destination explicitly (a phase engine's own layout).
RECEIPT_DESTINATION_ARGS = ("receipt_dir", "s3_bucket", "s3_prefix", "filename")
_RUNTIME = {}
_S3_CLIENTS = {}
display = Display()
_PATH_OPTIONS = {}


def path_options(short_name):
    """The module's options of ``type: path`` (its ARGUMENT_SPEC, read once per module name)."""
    if short_name not in _PATH_OPTIONS:
        try:
            module = importlib.import_module("ansible_collections.signalcraft.ops.plugins.modules." + short_name)
            spec = getattr(module, "ARGUMENT_SPEC", {}) or {}
        except ImportError:
            spec = {}
        _PATH_OPTIONS[short_name] = tuple(sorted(k for k, v in spec.items() if isinstance(v, dict) and v.get("type") == "path"))
    return _PATH_OPTIONS[short_name]


def resolve_paths(args, names, base):
    """Relative values of the ``names`` options, made absolute against ``base``.

    An operator's relative path means the directory ansible-playbook ran from (under AWX, the
    project), not playbook_dir and not wherever the module process happens to run: resolved here,
    on the controller, once for every module, so no role or module has to remember it.
    """
    resolved = dict(args)
    for name in names:
        value = resolved.get(name)
        if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
            resolved[name] = os.path.join(base, value)
    return resolved


def _collection_root():
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def action_group(name):
    """Short module names in ``action_groups.<name>`` of this collection's meta/runtime.yml."""
    if "groups" not in _RUNTIME:
        with open(os.path.join(_collection_root(), "meta", "runtime.yml")) as handle:
            runtime = yaml.safe_load(handle) or {}
        _RUNTIME["groups"] = {key: frozenset(i for i in value if isinstance(i, str))
                              for key, value in (runtime.get("action_groups") or {}).items()}
    return _RUNTIME["groups"].get(name, frozenset())


def _blank(value):
    return value is None or (isinstance(value, str) and not value.strip())


@contextlib.contextmanager
def progress_relay(local, emit):
    """While the block runs, relay the module's progress records to ``emit`` (see the module docstring, 4).

    The progress file exists only for the block; the variable naming it is set for the module
    process (a child of this worker) and restored after. Not ``local``: nothing is relayed.
    """
    if not local:
        yield None
        return
    directory = C.DEFAULT_LOCAL_TMP if os.path.isdir(str(C.DEFAULT_LOCAL_TMP or "")) else None
    handle, path = tempfile.mkstemp(prefix="signalcraft-progress-", suffix=".jsonl", dir=directory)
    os.close(handle)
    previous = os.environ.get(progress_lines.ENV_FILE)
    os.environ[progress_lines.ENV_FILE] = path
    try:
        with progress_lines.Relay(path, emit) as relay:
            yield relay
    finally:
        if previous is None:
            os.environ.pop(progress_lines.ENV_FILE, None)
        else:
            os.environ[progress_lines.ENV_FILE] = previous
        try:
            os.remove(path)
        except OSError:
            pass


class ActionModule(ActionBase):
    """Inject suite settings, guard the account once per play, write the module's receipt."""

    TRANSFERS_FILES = False

    def _var(self, task_vars, name, default=None):
        if name not in task_vars:
            return default
        value = self._templar.template(task_vars[name])
        return default if value is None else value

    def _aws_settings(self, args, task_vars, from_args):
        """AWS connection settings: the module's own options when it has them, else the suite's."""
        settings = {}
        for option, aliases, variable in AWS_OPTION_VARS:
            value = None
            if from_args:
                for name in (option,) + aliases:
                    if not _blank(args.get(name)):
                        value = args[name]
                        break
            if value is None:
                value = self._var(task_vars, variable)
            if not _blank(value):
                settings[option] = value
        return settings

    def _guard(self, connection, task_vars):
        """Run the account/region guard unless it already passed for these settings in this run."""
        expected_account = self._var(task_vars, "signalcraft_expected_account_id", "")
        expected_region = self._var(task_vars, "signalcraft_expected_region") or self._var(task_vars, "signalcraft_aws_region")
        identity = "|".join(str(x) for x in (expected_account, expected_region, connection.get("region"), connection.get("endpoint_url"),
                                             connection.get("profile"), connection.get("access_key")))
        key = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]
        passed = self._var(task_vars, GUARD_FACT) or (task_vars.get("ansible_facts") or {}).get(GUARD_FACT) or {}
        if key in passed:
            return None, {}
        args = dict(connection, expected_account_id=str(expected_account or ""))
        if not _blank(expected_region):
            args["expected_region"] = expected_region
        execution_id = self._var(task_vars, "signalcraft_execution_id")
        if not _blank(execution_id):
            args["execution_id"] = execution_id
        result = self._execute_module(module_name=GUARD_MODULE, module_args=args, task_vars=task_vars)
        if result.get("failed"):
            return result, {}
        record = dict(passed)
        record[key] = {k: (result.get("outputs") or {}).get(k) for k in ("account", "region")}
        return None, {GUARD_FACT: record}

    def _store_receipt(self, receipt, task_vars, connection, destination):
        """Write ``receipt`` locally and (when a receipt bucket is set) to S3; return where."""
        where = {}
        directory = destination.get("receipt_dir") or self._var(task_vars, "signalcraft_receipt_dir")
        if _blank(directory):
            root = self._var(task_vars, "signalcraft_receipt_root") or os.path.join(os.getcwd(), "state", "receipts")
            directory = os.path.join(root, receipt["execution_id"])
        # A relative path means relative to where the operator ran ansible-playbook (not playbook_dir).
        directory = os.path.abspath(os.path.expanduser(str(directory)))
        filename = destination.get("filename") or receipts.receipt_filename(receipt)
        path = os.path.join(directory, filename)
        written = receipts.write_if_changed(path, receipts.serialize(receipt))
        where["receipt_path"] = path
        bucket = destination["s3_bucket"] if "s3_bucket" in destination else self._var(task_vars, "signalcraft_receipt_bucket")
        if not _blank(bucket):
            prefix = destination["s3_prefix"] if "s3_prefix" in destination else self._var(task_vars, "signalcraft_receipt_prefix", "receipts")
            uri, uploaded = s3_service.put_receipt(self._s3(connection), receipt, bucket, prefix or "")
            where["receipt_s3_uri"] = uri
            written = written or uploaded
        where["receipt_written"] = written
        return where

    @staticmethod
    def _s3(connection):
        key = tuple(sorted((k, str(v)) for k, v in connection.items()))
        if key not in _S3_CLIENTS:
            factory = aws_service.AwsClientFactory(
                region=connection.get("region"), profile=connection.get("profile"), endpoint_url=connection.get("endpoint_url"),
                access_key=connection.get("access_key"), secret_key=connection.get("secret_key"),
                session_token=connection.get("session_token"))
            _S3_CLIENTS[key] = factory.client("s3")
        return _S3_CLIENTS[key]

    def _module_fqcn(self):
        """The module the task names, after plugin_routing's module redirects (an old module name).

        ``resolved_action`` names this action plugin after the routing, so the module is looked up
        from the task's own action.
        """
        action = self._task.action
        found = self._shared_loader_obj.module_loader.find_plugin_with_context(action, collection_list=self._task.collections)
        return found.resolved_fqcn if found.resolved else action

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        module_name = self._module_fqcn()
        short_name = module_name.rsplit(".", 1)[-1]
        check_mode = bool(self._task.check_mode) if self._task.check_mode is not None else bool(self._play_context.check_mode)
        args = resolve_paths(self._task.args, path_options(short_name), os.getcwd())
        destination = {k: args[k] for k in RECEIPT_DESTINATION_ARGS if short_name == "receipt" and k in args}

        is_aws = short_name in action_group("aws")
        if is_aws:
            for option, aliases, variable in AWS_OPTION_VARS:
                if any(name in args for name in (option,) + aliases):
                    continue
                value = self._var(task_vars, variable)
                if not _blank(value):
                    args[option] = value
        # A receipt handed to the receipt module keeps its own execution id.
        if "execution_id" not in args and not (short_name == "receipt" and args.get("receipt")):
            execution_id = self._var(task_vars, "signalcraft_execution_id")
            if not _blank(execution_id):
                args["execution_id"] = execution_id
        connection = self._aws_settings(args, task_vars, from_args=is_aws)
        write_receipts = bool(self._var(task_vars, "signalcraft_receipt_write", True)) and not check_mode
        uploads = write_receipts and not _blank(destination.get("s3_bucket", self._var(task_vars, "signalcraft_receipt_bucket")))

        facts = {}
        # The receipt module talks to AWS only to upload; a local-only receipt needs no guard.
        if (is_aws and short_name != "receipt") or uploads:
            refusal, facts = self._guard(connection, task_vars)
            if refusal is not None:
                # A refusal is always recorded (locally), even where a phase engine writes the receipts.
                if refusal.get("receipt") and not check_mode:
                    # The refusal's own receipt stays local: an unverified account gets no upload.
                    refusal.update(self._store_receipt(refusal["receipt"], task_vars, connection, {"s3_bucket": ""}))
                refusal.pop("invocation", None)
                result.update(refusal)
                result["failed"] = True
                return result

        with progress_relay(self._connection.transport in ("local", "ansible.builtin.local"), display.display):
            module_result = self._execute_module(module_name=module_name, module_args=args, task_vars=task_vars)
        result.update(module_result)
        receipt = module_result.get("receipt")
        # A receipt module that refused to build one leaves no file (its refusal is the task's failure).
        if isinstance(receipt, dict) and receipt.get("phase") and write_receipts and not (
                short_name == "receipt" and module_result.get("failed")):
            try:
                result.update(self._store_receipt(receipt, task_vars, connection, destination))
            except (aws_service.AWS_ERRORS + (OSError, ValueError, receipts.ReceiptError)) as exc:
                # Losing the audit record is a failure the operator must see, whatever the step did.
                result.update(failed=True, receipt_error=to_native(exc),
                              msg="%s; and the receipt could not be written: %s" % (
                                  result.get("msg") or result.get("token_line") or module_name, to_native(exc)))
        elif isinstance(receipt, dict) and receipt.get("phase") and short_name == "receipt":
            result["receipt_path"] = os.path.join(
                destination.get("receipt_dir") or self._var(task_vars, "signalcraft_receipt_dir") or os.path.join(
                    self._var(task_vars, "signalcraft_receipt_root") or os.path.join(os.getcwd(), "state", "receipts"),
                    receipt["execution_id"]),
                destination.get("filename") or receipts.receipt_filename(receipt))
        if short_name == "receipt" and "receipt_path" in result:
            # The receipt module's documented return values.
            result["path"] = result["receipt_path"]
            if "receipt_s3_uri" in result:
                result["s3_uri"] = result["receipt_s3_uri"]
            result["written"] = result.get("receipt_written", False)
            result["changed"] = result["written"]
        results = dict(self._var(task_vars, RESULTS_FACT) or {})
        handoff = (result.get("outputs") or {}).get("handoff") if not result.get("failed") else None
        if isinstance(handoff, dict) and handoff:
            # The phase engine's plan hands over the results of phases done in an earlier run.
            results.update(handoff)
            facts[RESULTS_FACT] = results
        if isinstance(receipt, dict) and receipt.get("phase") and receipt.get("status") == "success" and not result.get("failed"):
            results[receipt["phase"]] = {k: result.get(k) for k in ("status", "reason", "changed", "token_line",
                                                                    "receipt_path", "receipt_s3_uri")}
            # The receipt module's own outputs describe the recording; what it recorded is the receipt's.
            results[receipt["phase"]]["outputs"] = (receipt.get("outputs") or {}) if short_name == "receipt" else result.get(
                "outputs", receipt.get("outputs") or {})
            facts[RESULTS_FACT] = results
        if facts:
            result.setdefault("ansible_facts", {}).update(facts)
        return result
