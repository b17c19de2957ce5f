# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Step executors: how one step (asset) of a partition's run is executed, wherever it runs.

A step is one entry of the inventory's ``pipeline_steps`` (an asset of the DAG with its
``depends_on``); the engine (``engine.py``) decides when it runs and writes its manifest; an executor
only runs it and reports how it ended. The interface is asynchronous on purpose, so an orchestrator
that owns the execution fits it unchanged:

``validate(step)``
    Pure check of the step's configuration (raised as ``steps_invalid`` before anything runs).
``start(step, context) -> StepHandle``
    Starts the step for ``context`` (partition, ``run_id``, ``run_as_of_ts``, attempt, inputs);
    ``handle.ref`` is what an operator looks up (a pid, an ECS task ARN, a Prefect flow-run id).
``poll(handle) -> StepResult or None``
    None while the step runs; a ``StepResult`` (``state`` ``succeeded``/``failed``, ``exit_code``,
    ``message``, ``log_tail``) once it ended.
``cancel(handle)``
    Best-effort stop (the engine calls it when ``timeout_s`` passes).
``run(step, context)``
    ``start`` + ``poll`` until done or ``timeout_s`` (then ``cancel`` and a ``timed_out`` result).

Executors:

- ``local``: the step's ``command`` (an argv list, never a shell) as a subprocess, with the
  partition, ``run_id``, ``run_as_of_ts``, attempt, output directory and inputs in its environment
  (``PIPELINE_*``, see ``step_environment``); stdout/stderr go to a log file whose tail is kept.
- ``ecs``: the step's ``task_definition`` as one ECS task through the run-once logic of
  ``services/ecs.py`` (the same functions ``ecs_run_task`` uses: cluster check, task definition,
  environment overlay refusing secret names, RunTask, DescribeTasks until STOPPED, exit code); the
  ``PIPELINE_*`` values are environment overrides of the step's container, and ``JOBINTEL_RUN_ID``
  carries the partition's run_id.
- ``prefect`` (not yet; ``steps_invalid`` says so): ``start`` creates a flow run of the step's
  deployment through Prefect's REST API (``POST /api/deployments/{id}/create_flow_run`` with the
  partition, run_id and run_as_of_ts as parameters, an idempotency key of ``<run_id>:<asset>:<attempt>``),
  ``poll`` reads ``GET /api/flow_runs/{id}`` and maps the state type (``COMPLETED`` -> succeeded;
  ``FAILED``/``CRASHED``/``CANCELLED`` -> failed with the state message; anything else -> running),
  ``cancel`` sets the state to ``CANCELLING``. Prefect's own task retries then show in the flow run;
  the manifest's ``executor.ref`` is the flow-run id.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import tempfile
import time

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecs as ecs_service

EXECUTOR_KINDS = ("local", "ecs")
PLANNED_KINDS = ("prefect",)
LOG_TAIL_BYTES = 4096
DEFAULT_TIMEOUT_S = 3600
# A step may write this JSON file in its output directory: {"rows": {"<file>": <n>}, "checks": [{"name", "status", "detail"}]}.
STEP_REPORT_NAME = "_step_report.json"


class StepConfigError(OpsError):
    """A step of pipeline_steps is configured wrongly; nothing ran."""

    def __init__(self, message, details=None):
        super(StepConfigError, self).__init__("steps_invalid", message, details=details)


class StepContext:
    """What one execution of one step gets: the partition's run and the step's inputs."""

    def __init__(self, partition_key, partition, run_id, run_as_of_ts, attempt=1, output_dir=None, inputs=None, backfill_id=None,
                 data_root=None):
        self.partition_key, self.partition, self.run_id, self.run_as_of_ts = partition_key, partition, run_id, run_as_of_ts
        self.attempt, self.output_dir, self.inputs = attempt, output_dir, dict(inputs or {})
        self.backfill_id, self.data_root = backfill_id, data_root


class StepHandle:
    """A started step: ``ref`` is what the operator looks up (pid, task ARN, flow-run id)."""

    def __init__(self, kind, ref, state=None):
        self.kind, self.ref, self.state = kind, ref, state or {}
        self.started = time.monotonic()


class StepResult:
    """How a step ended."""

    def __init__(self, state, exit_code=None, message="", log_tail="", ref=None, timed_out=False, detail=None):
        self.state, self.exit_code, self.message, self.log_tail = state, exit_code, message or "", log_tail or ""
        self.ref, self.timed_out, self.detail = ref, timed_out, dict(detail or {})

    @property
    def succeeded(self):
        return self.state == "succeeded"


def step_environment(step, context):
    """The ``PIPELINE_*`` variables every executor hands a step (plus the step's own ``env``)."""
    env = dict((str(k), str(v)) for k, v in (step.get("env") or {}).items())
    env.update({
        "PIPELINE_ASSET": step["asset"],
        "PIPELINE_PARTITION_KEY": context.partition_key,
        "PIPELINE_PARTITION": context.partition,
        "PIPELINE_RUN_ID": context.run_id,
        "PIPELINE_RUN_AS_OF_TS": context.run_as_of_ts,
        "PIPELINE_ATTEMPT": str(context.attempt),
        "PIPELINE_INPUTS": json.dumps(context.inputs, sort_keys=True),
    })
    if context.output_dir:
        env["PIPELINE_OUTPUT_DIR"] = context.output_dir
        env["PIPELINE_STEP_REPORT"] = os.path.join(context.output_dir, STEP_REPORT_NAME)
    if context.data_root:
        env["PIPELINE_DATA_ROOT"] = context.data_root
    if context.backfill_id:
        env["PIPELINE_BACKFILL_ID"] = context.backfill_id
    return env


class StepExecutor:
    """The interface (see the module docstring); ``run`` is the generic start/poll/cancel loop."""

    kind = None
    poll_delay = 0.2
    poll_max_delay = 2.0

    def validate(self, step):
        raise NotImplementedError

    def start(self, step, context):
        raise NotImplementedError

    def poll(self, handle):
        raise NotImplementedError

    def cancel(self, handle):
        raise NotImplementedError

    def run(self, step, context, sleep=time.sleep, clock=time.monotonic):
        timeout = float(step.get("timeout_s") or DEFAULT_TIMEOUT_S)
        handle = self.start(step, context)
        delay = self.poll_delay
        deadline = clock() + timeout
        while True:
            result = self.poll(handle)
            if result is not None:
                return result
            if clock() >= deadline:
                self.cancel(handle)
                result = self.poll(handle) or StepResult("failed", ref=handle.ref)
                return StepResult("failed", exit_code=result.exit_code, message="step %s exceeded timeout_s=%s and was stopped" % (
                    step["asset"], int(timeout)), log_tail=result.log_tail, ref=handle.ref, timed_out=True, detail=result.detail)
            sleep(min(delay, max(0.0, deadline - clock())))
            delay = min(delay * 1.5, self.poll_max_delay)


def _tail(path, limit=LOG_TAIL_BYTES):
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


class LocalExecutor(StepExecutor):
    """A step as a local subprocess (argv list, no shell)."""

    kind = "local"

    def __init__(self, log_dir=None, base_env=None):
        self.log_dir = log_dir
        self.base_env = dict(os.environ if base_env is None else base_env)

    def validate(self, step):
        command = step.get("command")
        if not isinstance(command, list) or not command or not all(isinstance(part, (str, int, float)) for part in command):
            raise StepConfigError("step %s (executor local) needs command: an argv list such as [python3, steps/ingest.py] (no shell); "
                                  "fix it in pipeline_steps (inventories/<env>/group_vars/all/pipeline.yml)." % step.get("asset"))
        if not str(command[0]).strip():
            raise StepConfigError("step %s: command[0] is empty; fix it in pipeline_steps." % step.get("asset"))

    def start(self, step, context):
        env = dict(self.base_env)
        env.update(step_environment(step, context))
        if context.output_dir:
            os.makedirs(context.output_dir, exist_ok=True)
        log_dir = self.log_dir or tempfile.gettempdir()
        os.makedirs(log_dir, exist_ok=True)
        log_path = os.path.join(log_dir, "%s.%s.%s.attempt-%d.log" % (step["asset"], context.partition, context.run_id, context.attempt))
        log = open(log_path, "wb")
        try:
            process = subprocess.Popen([str(part) for part in step["command"]], env=env, cwd=step.get("cwd") or None,
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, close_fds=True)
        except OSError as exc:
            log.close()
            # The command itself cannot start (missing interpreter, not executable): a failed step, classified like any other.
            handle = StepHandle(self.kind, None, {"log_path": log_path, "error": "cannot start %s: %s" % (step["command"][0], exc)})
            return handle
        return StepHandle(self.kind, str(process.pid), {"process": process, "log": log, "log_path": log_path})

    def poll(self, handle):
        if handle.state.get("error"):
            return StepResult("failed", exit_code=None, message=handle.state["error"], log_tail=handle.state["error"], ref=None)
        process = handle.state["process"]
        code = process.poll()
        if code is None:
            return None
        handle.state["log"].close()
        tail = _tail(handle.state["log_path"])
        if code == 0:
            return StepResult("succeeded", exit_code=0, log_tail=tail, ref=handle.ref, detail={"log_path": handle.state["log_path"]})
        lines = [line for line in tail.splitlines() if line.strip()]
        return StepResult("failed", exit_code=code, message=(lines[-1].strip() if lines else "exited %s" % code)[:300], log_tail=tail,
                          ref=handle.ref, detail={"log_path": handle.state["log_path"]})

    def cancel(self, handle):
        process = handle.state.get("process")
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class EcsExecutor(StepExecutor):
    """A step as one ECS task, through services/ecs.py's run-once functions (as ecs_run_task runs one)."""

    kind = "ecs"
    poll_delay = 1.0
    poll_max_delay = 15.0

    def __init__(self, client, cluster, subnets=(), security_groups=(), assign_public_ip=False, launch_type="FARGATE",
                 started_by="signalcraft-pipeline"):
        self.client, self.cluster = client, cluster
        self.subnets, self.security_groups, self.assign_public_ip = list(subnets or ()), list(security_groups or ()), assign_public_ip
        self.launch_type, self.started_by = launch_type, started_by
        self._cluster_checked = False
        self._definitions = {}

    def validate(self, step):
        if not (step.get("task_definition") or "").strip():
            raise StepConfigError("step %s (executor ecs) needs task_definition (family, family:revision or ARN); fix it in pipeline_steps."
                                  % step.get("asset"))
        if not (self.cluster or "").strip():
            raise StepConfigError("step %s runs on ECS but no cluster is set; set jobintel_ecs_cluster (or -e pipeline_ecs_cluster)."
                                  % step.get("asset"))

    def prepare(self):
        """Check the cluster once, before any partition starts (cluster_not_found refuses the whole run)."""
        if not self._cluster_checked:
            ecs_service.require_cluster(self.client, self.cluster)
            self._cluster_checked = True

    def _described(self, task_definition):
        if task_definition not in self._definitions:
            self._definitions[task_definition] = ecs_service.describe_task_definition(self.client, task_definition)[0]
        return self._definitions[task_definition]

    def start(self, step, context):
        self.prepare()
        described = self._described(step["task_definition"])
        overrides = dict((k, ecs_service.env_value(k, v)) for k, v in step_environment(step, context).items())
        overrides.pop("PIPELINE_OUTPUT_DIR", None)
        overrides.pop("PIPELINE_DATA_ROOT", None)
        overrides.pop("PIPELINE_STEP_REPORT", None)
        overrides[ecs_service.RUN_ID_ENV] = context.run_id
        container, _environment = ecs_service.effective_environment(described, step.get("container_name"), overrides)
        if described.get("networkMode") == "awsvpc" and not self.subnets:
            raise GuardError("network_config_missing", "task definition %s uses awsvpc: set jobintel_ecs_subnets in the inventory."
                             % described["taskDefinitionArn"])
        request = ecs_service.run_task_request(
            self.cluster, described["taskDefinitionArn"], container, overrides, self.launch_type,
            network=ecs_service.network_configuration(self.subnets, self.security_groups, self.assign_public_ip),
            started_by=self.started_by)
        task = ecs_service.start_task(self.client, request)
        return StepHandle(self.kind, task["taskArn"], {"container": container, "task_definition_arn": described["taskDefinitionArn"],
                                                       "started": time.monotonic()})

    def poll(self, handle):
        try:
            task = ecs_service.describe_task(self.client, self.cluster, handle.ref)
        except GuardError as exc:
            # DescribeTasks may not know a task RunTask just returned (eventual consistency).
            if exc.reason == "task_not_found" and time.monotonic() - handle.state["started"] < ecs_service.NOT_VISIBLE_GRACE_S:
                return None
            raise
        if task.get("lastStatus") != ecs_service.TERMINAL_TASK_STATUS:
            return None
        outcome = ecs_service.task_outcome(task, handle.state["container"])
        detail = {"task_definition_arn": handle.state["task_definition_arn"], "stop_code": outcome.get("stop_code"),
                  "stopped_reason": outcome.get("stopped_reason")}
        if outcome["exit_code"] == 0:
            return StepResult("succeeded", exit_code=0, ref=handle.ref, detail=detail)
        code = ecs_service.failure_code(outcome, None)
        detail["failure_code"] = code
        message = "task %s exited %s (%s; failure_code=%s)" % (handle.ref, outcome["exit_code"], outcome.get("stopped_reason"), code)
        return StepResult("failed", exit_code=outcome["exit_code"], message=message, log_tail=outcome.get("stopped_reason") or "",
                          ref=handle.ref, detail=detail)

    def cancel(self, handle):
        self.client.stop_task(cluster=self.cluster, task=handle.ref, reason="signalcraft.ops pipeline: step timeout")


def validate_kind(step):
    kind = step.get("executor") or "local"
    if kind in PLANNED_KINDS:
        raise StepConfigError("step %s: executor %s is not available yet (planned: a flow run of a Prefect deployment); use local or "
                              "ecs in pipeline_steps." % (step.get("asset"), kind))
    if kind not in EXECUTOR_KINDS:
        raise StepConfigError("step %s: executor %r is not one of %s; fix it in pipeline_steps." % (
            step.get("asset"), kind, ", ".join(EXECUTOR_KINDS)))
    return kind
