#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ecs_run_task
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Run one ECS task from a task-definition revision and wait for its exit code
description:
  - Starts one task of O(task_definition) (RunTask) with environment overrides on one container,
    waits until it is C(STOPPED) (bounded polling with exponential backoff) and returns the task ARN,
    each container's exit code and the stop reason. Replaces C(TASKDEF_REV=<rev> run_ecs_once.sh).
  - The run gets a run id (O(run_id), generated when omitted) passed as C(JOBINTEL_RUN_ID), so the
    artifacts the workload writes to C(s3://<JOBINTEL_S3_BUCKET>/<JOBINTEL_S3_PREFIX>/outbox/<run_id>/)
    are known before it starts.
  - A non-zero exit fails the task with the run's failure code (the first of C(failure_codes) in the
    run's C(run_health.v1.json), else a token derived from ECS's stop code), its C(failed_stage) and
    the artifact paths to inspect, in the order the failure playbook reads them.
  - A timeout fails with reason C(wait_timeout); the task is left running unless O(stop_on_timeout=true).
  - The receipt's C(failure_code) of a failed run is the run's own failure code (C(FORCED_FAILURE), ...), so
    receipts can be grouped by what broke; the result's C(reason) stays the registered token C(task_failed).
  - Check mode resolves the revision, the run id and the artifact location and prints
    C(run_once status=planned run_id=<id> task_definition=<arn> artifacts=<uri>); it starts nothing.
options:
  task_definition:
    description:
      - The revision to run, as C(family:revision), ARN, or C(family) for the latest ACTIVE revision.
    type: str
    required: true
  container_name:
    description:
      - The container that gets O(environment) and C(JOBINTEL_RUN_ID). Default is the only
        container, or the first essential one.
    type: str
  environment:
    description:
      - Environment overrides (name to value) for this run only.
    type: dict
    default: {}
  run_id:
    description:
      - The run id, passed as C(JOBINTEL_RUN_ID). Default is C(<UTC YYYYMMDDTHHMMSSZ>-<8 hex>).
      - A run id whose outbox already holds a C(run_summary.v1.json) is refused (C(run_id_exists)) before
        anything starts, so a rerun never overwrites a finished run's artifacts.
    type: str
  launch_type:
    description:
      - The launch type.
    type: str
    choices: [FARGATE, EC2, EXTERNAL]
    default: FARGATE
  platform_version:
    description:
      - Fargate platform version (default is ECS's C(LATEST)).
    type: str
  subnets:
    description:
      - Subnets of the task's awsvpc network configuration. Required for C(awsvpc) task definitions.
    type: list
    elements: str
    default: []
  security_groups:
    description:
      - Security groups of the task's awsvpc network configuration.
    type: list
    elements: str
    default: []
  assign_public_ip:
    description:
      - Give the task's ENI a public IP (Fargate tasks in public subnets without a NAT).
    type: bool
    default: false
  started_by:
    description:
      - The C(startedBy) tag of the task (ListTasks can filter on it).
      - "RunTask allows at most 128 letters, digits, C(-), C(/) and C(_); anything else is refused before the task is started."
    type: str
    default: signalcraft-ops
  wait:
    description:
      - Wait for C(STOPPED) and judge the exit code. With V(false) the module returns after RunTask.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for C(STOPPED).
    type: int
    default: 3600
  wait_delay:
    description:
      - Seconds between the first polls; grows by half each poll.
    type: float
    default: 5
  stop_on_timeout:
    description:
      - Stop the task (StopTask) when O(wait_timeout) passes.
    type: bool
    default: false
  operation:
    description:
      - The receipt's operation name (C(run_once), C(force_fail_demo)).
    type: str
    default: run_once
attributes:
  check_mode:
    support: full
    description: Resolves the task definition and the artifact location; starts no task.
  diff_mode:
    support: none
    description: A task run is not a change of configuration.
seealso:
  - module: signalcraft.ops.ecs_task_info
  - module: signalcraft.ops.ecs_taskdef_deploy
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.ecs_cluster, signalcraft.ops.wait]
"""

EXAMPLES = r"""
- name: Run revision 7 once and wait for its exit code
  signalcraft.ops.ecs_run_task:
    cluster: jobintel
    task_definition: jobintel-daily:7
    subnets: [subnet-0123456789abcdef0]
    security_groups: [sg-0123456789abcdef0]
    environment:
      JOBINTEL_PROVIDERS: openai
    wait_timeout: 3600
  register: run

- name: Force a failure at the scrape stage (dev/test)
  signalcraft.ops.ecs_run_task:
    cluster: jobintel
    task_definition: jobintel-daily
    subnets: [subnet-0123456789abcdef0]
    environment:
      JOBINTEL_FORCE_FAIL_STAGE: scrape
    operation: force_fail_demo
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode), C(started) (O(wait=false)) or C(fail).
  returned: always
  type: str
outputs:
  description: The task that ran, with its ARNs, run id, exit code, containers, stop reason and artifacts.
  returned: always
  type: dict
  contains:
    task_arn:
      description: The task's ARN (null in check mode).
      returned: always
      type: str
    task_definition_arn:
      description: The revision that ran (or would run).
      returned: when the revision was described
      type: str
    run_id:
      description: The run id (C(JOBINTEL_RUN_ID)).
      returned: always
      type: str
      sample: 20260101T060000Z-1a2b3c4d
    exit_code:
      description: The exit code of O(container_name) (or the first container with a non-zero code).
      returned: when the task stopped
      type: int
    containers:
      description: Each container's name, last status, exit code, reason, image and image digest.
      returned: always
      type: list
      elements: dict
    stopped_reason:
      description: ECS's stoppedReason.
      returned: when the task started
      type: str
    stop_code:
      description: ECS's stopCode (C(EssentialContainerExited), C(TaskFailedToStart), ...).
      returned: when the task started
      type: str
    last_status:
      description: The task's last status.
      returned: when the task started
      type: str
    artifacts:
      description: Where the run writes its files - C(bucket), C(prefix), C(uri) and the C(paths) to inspect first. Null without JOBINTEL_S3_BUCKET.
      returned: when the revision was described
      type: dict
    run_health:
      description: C(status), C(failed_stage), C(failure_codes) from the run's run_health.v1.json, when it was written.
      returned: when the task stopped
      type: dict
    failure_code:
      description: The failure code the run is filed under (e.g. C(FORCED_FAILURE)); also the receipt's C(failure_code).
      returned: on task_failed
      type: str
    waited_s:
      description: Seconds spent waiting for C(STOPPED).
      returned: always
      type: float
    polls:
      description: DescribeTasks calls made while waiting.
      returned: always
      type: int
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule, no_log_values_in
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError, require_values
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import layout
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecs
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    **ecs.cluster_argument_spec(),
    **ecs.wait_argument_spec(),
    task_definition=dict(type="str", required=True),
    container_name=dict(type="str"),
    environment=dict(type="dict", default={}),
    run_id=dict(type="str"),
    launch_type=dict(type="str", choices=["FARGATE", "EC2", "EXTERNAL"], default="FARGATE"),
    platform_version=dict(type="str"),
    subnets=dict(type="list", elements="str", default=[]),
    security_groups=dict(type="list", elements="str", default=[]),
    assign_public_ip=dict(type="bool", default=False),
    started_by=dict(type="str", default="signalcraft-ops"),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=3600),
    wait_delay=dict(type="float", default=5),
    stop_on_timeout=dict(type="bool", default=False),
    operation=dict(type="str", default="run_once"),
)
_RECEIPT_INPUTS = ["cluster", "task_definition", "container_name", "environment", "run_id", "launch_type", "subnets",
                   "security_groups", "assign_public_ip", "wait", "wait_timeout", "stop_on_timeout", "region", "endpoint_url"]
_OUTPUTS = ("task_arn", "task_definition_arn", "run_id", "exit_code", "containers", "stopped_reason", "stop_code",
            "last_status", "artifacts", "run_health", "failure_code", "waited_s", "polls")


class TaskFailed(OpsError):
    """The task stopped with a non-zero exit; the message names the code and the artifacts."""

    def __init__(self, message, failure_code, details=None):
        super(TaskFailed, self).__init__("task_failed", message, details=details, changed_so_far=True, failure_code=failure_code)


def _artifacts_uri(outputs):
    return (outputs.get("artifacts") or {}).get("uri") or "none"


def _fail(exc, outputs, changed):
    exc.details.update(outputs)
    exc.changed_so_far = exc.changed_so_far or changed
    return exc


def run(ops):
    params = ops.params
    no_log_values_in(ops, [{"name": k, "value": v} for k, v in params["environment"].items()])
    ecs.validate_wait_timeout(params["wait_timeout"], "jobintel_run_once_wait_timeout")
    require_values(params, ("cluster", "no ECS cluster given; set jobintel_ecs_cluster in the inventory."),
                   ("task_definition", "no task definition given; set jobintel_task_family (and -e taskdef_rev=<revision>)."))
    ecs.validate_started_by(params["started_by"])
    if params["run_id"]:
        ecs.validate_run_id(params["run_id"])
    outputs = dict(task_arn=None, run_id=params["run_id"], containers=[], waited_s=0.0, polls=0)
    client = ops.client("ecs")
    ecs.require_cluster(client, params["cluster"])
    described, _tags = ecs.describe_task_definition(client, params["task_definition"])
    run_id = ecs.validate_run_id(params["run_id"] or ecs.new_run_id())
    overrides = dict((k, ecs.env_value(k, v)) for k, v in params["environment"].items())
    overrides[ecs.RUN_ID_ENV] = run_id
    container, environment = ecs.effective_environment(described, params["container_name"], overrides)
    location = layout.artifact_location(environment, run_id)
    outputs.update(run_id=run_id, task_definition_arn=described["taskDefinitionArn"], artifacts=location)
    if described.get("networkMode") == "awsvpc" and not params["subnets"]:
        raise GuardError("network_config_missing", "task definition %s uses awsvpc: set jobintel_ecs_subnets (and jobintel_ecs_security_groups) "
                                                   "in the inventory." % described["taskDefinitionArn"], details=outputs)
    if params["run_id"]:
        try:
            layout.require_new_run(ops.client("s3"), location, run_id)
        except GuardError as exc:
            raise _fail(exc, outputs, False)
    if ops.check_mode:
        return dict(changed=True, status="planned", outputs=outputs,
                    line=[("run_id", run_id), ("task_definition", described["taskDefinitionArn"]), ("artifacts", _artifacts_uri(outputs))])
    request = ecs.run_task_request(params["cluster"], described["taskDefinitionArn"], container, overrides, params["launch_type"],
                                   network=ecs.network_configuration(params["subnets"], params["security_groups"], params["assign_public_ip"]),
                                   started_by=params["started_by"], platform_version=params["platform_version"])
    try:
        task = ecs.start_task(client, request)
    except GuardError as exc:
        raise _fail(exc, outputs, False)
    outputs["task_arn"] = task["taskArn"]
    outputs.update((k, v) for k, v in ecs.task_outcome(task, container).items() if k in _OUTPUTS)
    if not params["wait"]:
        return dict(changed=True, status="started", outputs=outputs,
                    line=[("run_id", run_id), ("task", outputs["task_arn"]), ("artifacts", _artifacts_uri(outputs))])
    try:
        task, waited, polls = ecs.wait_task_stopped(client, params["cluster"], task["taskArn"], params["wait_timeout"],
                                                    params["wait_delay"], params["wait_max_delay"])
    except ecs.EcsWaitTimeout as exc:
        outputs.update(waited_s=exc.waited, last_status=(exc.last or {}).get("lastStatus"))
        if params["stop_on_timeout"]:
            client.stop_task(cluster=params["cluster"], task=outputs["task_arn"], reason="signalcraft.ops: wait_timeout %ss" % params["wait_timeout"])
        raise _fail(exc, outputs, True)
    except OpsError as exc:
        raise _fail(exc, outputs, True)
    outputs.update(waited_s=waited, polls=polls)
    outcome = ecs.task_outcome(task, container)
    outputs.update((k, v) for k, v in outcome.items() if k in _OUTPUTS)
    outputs["run_health"] = layout.read_run_health(ops.client("s3"), location)
    if outcome["exit_code"] != 0:
        code = ecs.failure_code(outcome, outputs["run_health"])
        outputs["failure_code"] = code
        health = outputs["run_health"] or {}
        details = dict(outputs, line=[("failure_code", code)])
        raise TaskFailed("task %s exited %s (%s); failure_code=%s failed_stage=%s; inspect %s" % (
            outputs["task_arn"], outcome["exit_code"], outcome["stopped_reason"], code, health.get("failed_stage"),
            ", ".join(location["paths"]) if location else "the task's logs (no JOBINTEL_S3_BUCKET, so no artifacts)"), code, details=details)
    return dict(changed=True, outputs=outputs,
                line=[("run_id", run_id), ("task", outputs["task_arn"]), ("exit_code", outputs["exit_code"]), ("artifacts", _artifacts_uri(outputs))])


def main():
    ops = OpsModule(ARGUMENT_SPEC, operation="run_once", phase="run_once", connections=[AwsConnection], receipt_inputs=_RECEIPT_INPUTS)
    # The receipt's operation names the runbook (run_once, force_fail_demo).
    ops.operation = ops.params["operation"]
    ops.run(run)


if __name__ == "__main__":
    main()
