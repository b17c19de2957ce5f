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
- ``prefect``: the step's ``deployment: <flow>/<deployment>`` through Prefect's REST API
  (``services/prefect.py``; the collection never imports the prefect package). ``prepare`` looks every
  deployment up once before anything runs (``prefect_deployment_not_found``, ``prefect_unreachable``,
  ``prefect_unauthorized``, ``prefect_tls_failed``); ``start`` first looks for the flow run the step
  already has (``POST /api/flow_runs/filter`` by the tags ``run_id=``/``asset=``, keeping runs whose
  idempotency key is this step's ``<run_id>:<asset>:...``) and follows a COMPLETED or still-going one;
  otherwise it creates a flow run (``POST /api/deployments/{id}/create_flow_run``) with the parameters
  ``partition``, ``run_id`` and ``run_as_of_ts`` (over the step's own ``parameters``; ``models`` for a
  step with models, ``smoke`` for a promotion's smoke scoring), the tags ``signalcraft-pipeline``,
  ``asset=<asset>``, ``<partition_key>=<partition>`` (a smoke: ``signalcraft-smoke``,
  ``smoke_partition=<partition>``), ``run_id=<run_id>``, ``attempt=<n>`` (the daily check finds a
  partition's runs by them) and the idempotency key ``<run_id>:<asset>:<attempt>``: Prefect answers a
  create with a key its flow already has with that run (HTTP 200), so a controller that retries the call,
  or a resume after the controller died, follows the existing flow run (a run still going or already
  COMPLETED is adopted, never started twice); only when that run ended failed is a new one created under
  ``<key>.<n>``. When Prefect stops answering while a run is followed (longer than
  ``unreachable_grace_s``), or refuses us, the result carries ``reason`` (``prefect_unreachable``, ...):
  the engine never retries such a step in place, and a resume follows its flow run.
  ``poll`` reads ``GET /api/flow_runs/{id}`` and maps the state type (``COMPLETED`` ->
  succeeded; ``FAILED``/``CRASHED``/``CANCELLED`` -> failed with the state message, the failing task and
  its retry count from ``POST /api/task_runs/filter``, and the run's error logs as the log tail;
  anything else -> running); ``cancel`` sets the state to ``CANCELLING`` (Prefect cancels a run that has
  not started at once). Prefect's own task retries show in the flow run; the manifest's
  ``executor.ref`` is the flow-run id. When the flow writes to ``<data_root>/<asset>/<key>=<value>/run=<run_id>/``
  on a file system the controller sees (a local worker), its outputs are recorded like a local step's.
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
from ansible_collections.signalcraft.ops.plugins.module_utils.services import prefect as prefect_service

EXECUTOR_KINDS = ("local", "ecs", "prefect")
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
                 data_root=None, models=None, smoke=None):
        self.partition_key, self.partition, self.run_id, self.run_as_of_ts = partition_key, partition, run_id, run_as_of_ts
        self.attempt, self.output_dir, self.inputs = attempt, output_dir, dict(inputs or {})
        self.backfill_id, self.data_root = backfill_id, data_root
        # models: the model runs the step scores with ([{"model", "run_id", "artifact_uri", ...}], read from their
        # selectors; local and ECS steps get them as PIPELINE_MODEL* variables, Prefect flow runs as the parameter
        # ``models``). smoke: a promotion's smoke scoring ({"publish": False, "output_dir", "output_uri", "inputs"}).
        self.models, self.smoke = list(models or ()), smoke


class StepHandle:
    """A started step: ``ref`` is what the operator looks up (pid, task ARN, flow-run id)."""

    def __init__(self, kind, ref, state=None):
        self.kind, self.ref, self.state = kind, ref, state or {}
        self.started = time.monotonic()


class StepResult:
    """How a step ended."""

    def __init__(self, state, exit_code=None, message="", log_tail="", ref=None, timed_out=False, detail=None, reason=None):
        self.state, self.exit_code, self.message, self.log_tail = state, exit_code, message or "", log_tail or ""
        self.ref, self.timed_out, self.detail = ref, timed_out, dict(detail or {})
        # reason: a registered token when the orchestrator failed us rather than the step (prefect_unreachable: Prefect
        # stopped answering while the flow run was followed). Such a failure is never retried in place by the engine:
        # a new attempt would start the step a second time while the first may still run.
        self.reason = reason

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


class PrefectExecutor(StepExecutor):
    """A step as a flow run of its Prefect deployment, followed through the REST API (module docstring)."""

    kind = "prefect"
    poll_delay = 0.5
    poll_max_delay = 3.0
    # Prefect unreachable while a flow run is followed: keep polling this long (the run goes on without us), then
    # end the step with prefect_unreachable (never retried in place: resume adopts the run instead).
    unreachable_grace_s = 120.0
    # New keys tried when the idempotency key's run already ended failed (<key>.2, <key>.3, ...).
    max_key_generations = 50

    def __init__(self, client=None, api_url=None, unreachable_grace_s=None):
        self.client = client
        self.api_url = api_url if api_url is not None else (client.api_url if client is not None else "")
        if unreachable_grace_s is not None:
            self.unreachable_grace_s = float(unreachable_grace_s)
        self._deployments = {}

    def validate(self, step):
        try:
            prefect_service.parse_deployment_name(step.get("deployment"))
        except ValueError as exc:
            raise StepConfigError("step %s (executor prefect) needs deployment: <flow>/<deployment>: %s; fix it in pipeline_steps." % (
                step.get("asset"), exc))
        if step.get("parameters") is not None and not isinstance(step.get("parameters"), dict):
            raise StepConfigError("step %s: parameters must be a mapping of flow parameters; fix it in pipeline_steps." % step.get("asset"))
        reserved = sorted(set(step.get("parameters") or {}) & set(RESERVED_PARAMETERS))
        if reserved:
            raise StepConfigError("step %s: parameters %s are set by the pipeline for each run; remove them from the step's parameters."
                                  % (step.get("asset"), ", ".join(reserved)))
        if not (self.api_url or "").strip():
            raise StepConfigError("step %s runs on Prefect but no API URL is set; set signalcraft_pipeline_prefect_api_url in the "
                                  "inventory (what PREFECT_API_URL holds, e.g. http://prefect:4200/api) or -e pipeline_prefect_api_url."
                                  % step.get("asset"))

    def deployment(self, name):
        if name not in self._deployments:
            self._deployments[name] = self.client.deployment(name)
        return self._deployments[name]

    def prepare(self, steps):
        """Look every prefect step's deployment up once, before any partition starts (a missing one refuses the run)."""
        for step in steps:
            if step.get("executor") == self.kind:
                self.deployment(step["deployment"])

    def existing_run(self, deployment_id, asset, context):
        """The flow run this step of this run already has in Prefect and that must be followed rather than
        started again: among the deployment's runs tagged ``run_id=<run_id>`` and ``asset=<asset>`` whose
        idempotency key is this step's (``<run_id>:<asset>:<attempt>[.<n>]``, set only by the pipeline), a
        COMPLETED one, else one still going (scheduled, pending, running, paused); None when every one of
        them failed, crashed or was cancelled (or there is none)."""
        prefix = "%s:%s:" % (context.run_id, asset)
        runs = self.client.flow_runs([deployment_id], tags=["run_id=%s" % context.run_id, "asset=%s" % asset])
        mine = [r for r in runs if (r.get("idempotency_key") or "").startswith(prefix) and adoptable(r)]
        completed = [r for r in mine if r.get("state_type") == "COMPLETED"]
        return (completed or mine or [None])[0]

    def start(self, step, context):
        deployment = self.deployment(step["deployment"])
        # A resume, or a retry after Prefect was lost, follows the run the step already has (found by its idempotency
        # key): the step is never started twice while one of its runs may still complete.
        run = self.existing_run(deployment["id"], step["asset"], context)
        if run is not None:
            return self._handle(step, run, adopted=True)
        parameters = dict(step.get("parameters") or {})
        parameters.update(flow_run_parameters(context))
        key = idempotency_key(context.run_id, step["asset"], context.attempt)
        tags = flow_run_tags(step["asset"], context)
        name = "%s-%s-%s-a%d" % (step["asset"], context.partition, context.run_id, context.attempt)
        for generation in range(1, self.max_key_generations + 1):
            attempt_key = key if generation == 1 else "%s.%d" % (key, generation)
            # Prefect returns the run that already has this key (HTTP 200) instead of creating one (201).
            run, created = self.client.create_flow_run(deployment["id"], parameters, attempt_key, tags, name)
            # A run that is still going or already COMPLETED is adopted; one that failed (or is being cancelled) is not.
            if created or adoptable(run):
                break
        else:
            raise prefect_service.PrefectError("prefect_api_error", "Prefect keeps returning failed flow runs for idempotency key %s.*; "
                                                                    "start the partition under a new run_id (resume)." % key)
        return self._handle(step, run, adopted=not created)

    def _handle(self, step, run, adopted):
        return StepHandle(self.kind, run["id"], {"deployment": step["deployment"], "adopted": adopted, "name": run.get("name"),
                                                 "idempotency_key": run.get("idempotency_key"), "state_type": run.get("state_type"),
                                                 "unreachable_since": None})

    def _detail(self, handle, run):
        return {"deployment": handle.state["deployment"], "flow_run_name": run.get("name"), "state_type": run.get("state_type"),
                "state_name": run.get("state_name"), "adopted": handle.state["adopted"], "start_time": run.get("start_time"),
                "end_time": run.get("end_time"), "idempotency_key": run.get("idempotency_key") or handle.state.get("idempotency_key")}

    def run(self, step, context, sleep=time.sleep, clock=time.monotonic):
        try:
            return super(PrefectExecutor, self).run(step, context, sleep=sleep, clock=clock)
        except prefect_service.PrefectError as exc:
            # Prefect failed us before a flow run could be followed (the create call, the lookup): the step did not
            # fail, the orchestrator did; never retried in place (a retry under the next attempt's key could start it twice).
            return StepResult("failed", message="%s: %s" % (exc.reason, exc.message), log_tail=exc.message, reason=exc.reason,
                              detail={"deployment": step.get("deployment")})

    def lost(self, handle, exc):
        """The step's result when Prefect failed us while its flow run was followed (unreachable past the grace,
        or a refusal): the flow run goes on in Prefect; ``resume`` adopts it (``existing_run``)."""
        detail = {"deployment": handle.state["deployment"], "flow_run_name": handle.state.get("name"), "adopted": handle.state["adopted"],
                  "idempotency_key": handle.state.get("idempotency_key"), "state_type": handle.state.get("state_type"), "lost": exc.reason}
        message = ("%s: lost Prefect while following flow run %s (%s) of %s, last seen %s: %s; the flow run goes on in Prefect and was "
                   "not started again" % (exc.reason, handle.state.get("name"), handle.ref, handle.state["deployment"],
                                          handle.state.get("state_type") or "unknown", exc.message))
        return StepResult("failed", message=message, log_tail=exc.message, ref=handle.ref, detail=detail, reason=exc.reason)

    def poll(self, handle):
        try:
            run = self.client.flow_run(handle.ref)
        except prefect_service.PrefectError as exc:
            if exc.reason != "prefect_unreachable":
                return self.lost(handle, exc)
            since = handle.state["unreachable_since"] = handle.state["unreachable_since"] or time.monotonic()
            if time.monotonic() - since < self.unreachable_grace_s:
                return None
            return self.lost(handle, exc)
        handle.state["unreachable_since"] = None
        handle.state["state_type"] = run.get("state_type")
        outcome = prefect_service.step_state(run.get("state_type"))
        if outcome == "running":
            return None
        detail = self._detail(handle, run)
        try:
            tasks = self.client.task_runs(handle.ref)
        except prefect_service.PrefectError as exc:
            return self.lost(handle, exc)
        detail["task_retries"] = sum(prefect_service.task_retries(t) for t in tasks)
        if outcome == "succeeded":
            return StepResult("succeeded", ref=handle.ref, detail=detail)
        failing = prefect_service.failing_task(tasks)
        message = prefect_service.state_message(run)
        if failing:
            detail.update(failing_task=failing["task"], failing_task_run=failing["task_run"], failing_task_retries=failing["retries"])
            message = "%s (failing task %s after %d retr%s)" % (message, failing["task"], failing["retries"],
                                                                "y" if failing["retries"] == 1 else "ies")
        try:
            logs = self.client.error_logs(handle.ref)
        except prefect_service.PrefectError:
            logs = []
        tail = "\n".join(entry.get("message") or "" for entry in logs)[-LOG_TAIL_BYTES:]
        return StepResult("failed", exit_code=None, message="flow run %s %s: %s" % (run.get("name"), run.get("state_type"), message),
                          log_tail=tail or message, ref=handle.ref, detail=detail)

    def cancel(self, handle):
        try:
            self.client.set_flow_run_state(handle.ref, "CANCELLING", message="signalcraft.ops pipeline: step timeout")
        except prefect_service.PrefectError:
            pass  # best effort: the step is recorded as timed out either way


# The parameters every flow run gets from the pipeline (over the step's own parameters); a step that scores with
# models also gets ``models``, a promotion's smoke scoring ``smoke``.
FLOW_RUN_PARAMETERS = ("partition", "run_id", "run_as_of_ts")
RESERVED_PARAMETERS = FLOW_RUN_PARAMETERS + ("models", "smoke")
# What the operator does when Prefect failed us rather than the step (the failure's action in the manifest).
ORCHESTRATOR_ACTIONS = {
    "prefect_unreachable": "Prefect stopped answering while the step's flow run was followed; the flow run goes on in Prefect. Once "
                           "Prefect answers, rerun with -e resume=true: the step follows that flow run (found by its idempotency key) "
                           "instead of starting a second one.",
}


def adoptable(run):
    """True for a flow run a step follows instead of starting another: COMPLETED or still going (not failed,
    crashed, cancelled or being cancelled)."""
    state_type = (run or {}).get("state_type")
    return prefect_service.step_state(state_type) != "failed" and state_type != "CANCELLING"


def model_parameters(models):
    """The ``models`` flow parameter: model -> ``{"run_id", "artifact_uri"}`` (as E(PIPELINE_MODELS) holds it)."""
    return dict((m["model"], {"run_id": m.get("run_id"), "artifact_uri": m.get("artifact_uri")}) for m in models)


def flow_run_parameters(context):
    parameters = {"partition": context.partition, "run_id": context.run_id, "run_as_of_ts": context.run_as_of_ts}
    if context.models:
        parameters["models"] = model_parameters(context.models)
    if context.smoke is not None:
        parameters["smoke"] = dict(context.smoke)
    return parameters


def idempotency_key(run_id, asset, attempt):
    """``<run_id>:<asset>:<attempt>``: one flow run per attempt of a step of a partition's run."""
    return "%s:%s:%d" % (run_id, asset, int(attempt))


def partition_tag(partition_key, partition):
    return "%s=%s" % (partition_key, partition)


SMOKE_TAG = "signalcraft-smoke"


def flow_run_tags(asset, context):
    """The tags a step's flow run carries (the daily check finds a partition's runs by ``<partition_key>=<partition>``;
    a smoke scoring carries ``signalcraft-smoke`` and ``smoke_partition=<date>`` instead, so it is never one of them)."""
    if context.smoke is not None:
        tags = ["signalcraft-pipeline", SMOKE_TAG, "asset=%s" % asset, "smoke_partition=%s" % context.partition]
    else:
        tags = ["signalcraft-pipeline", "asset=%s" % asset, partition_tag(context.partition_key, context.partition)]
    tags += ["run_id=%s" % context.run_id, "attempt=%d" % context.attempt]
    if context.backfill_id:
        tags.append("backfill_id=%s" % context.backfill_id)
    tags += ["%s_run_id=%s" % (m["model"], m.get("run_id") or "none") for m in context.models]
    return tags


def validate_kind(step):
    kind = step.get("executor") or "local"
    if kind not in EXECUTOR_KINDS:
        raise StepConfigError("step %s: executor %r is not one of %s; fix it in pipeline_steps." % (
            step.get("asset"), kind, ", ".join(EXECUTOR_KINDS)))
    return kind
