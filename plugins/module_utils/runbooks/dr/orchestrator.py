# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DR orchestrator: a Step Functions state machine that runs the drill's phases one ECS task each.

bringup -> restore -> validate -> approval (task token) -> promote -> teardown

Each action is ``arn:aws:states:::ecs:runTask.sync`` running the execution-environment image with
``ansible-playbook -i <inventory> playbooks/dr_drill.yml -e start_at=<phase> -e stop_after=<phase>
-e run_id=<execution name>`` (the runbook's CodeBuild projects, one per action, are the equivalent). The
drill inside the task writes its own phase receipt ``<phase>.json`` under the execution's name as usual;
after each action the state machine writes ``ecs-<phase>.json`` next to it (the runbook's
``codebuild-<action>.json``: the ECS task's ARN, exit code and times) with ``aws-sdk:s3:putObject``.

Real Step Functions semantics the definition is built to (moto's parser is lenient about all of them):

- ``ecs:runTask.sync`` fails the state only when RunTask returns ``Failures`` (``AmazonECS.Unknown``); a task
  whose container exits non-zero *succeeds*, so the exit code is checked by a Choice state.
- A JsonPath that selects nothing in Parameters/ResultSelector/Choice raises ``States.Runtime``, which no Catch
  (not even ``States.ALL``) handles. So the exit code is tested with ``IsPresent`` before it is read, and the
  ResultSelector selects only what a STOPPED task always has.
- ``.waitForTaskToken`` must pass ``$$.Task.Token`` in its parameters; the token reaches approvers through SNS,
  exactly as the drill's own gate (``approval.py``), so ``dr_approve.yml -e execution_arn=...`` decides it.
- ``States.ALL`` must be the only and last error name of its Catch/Retry; state names are at most 80 characters.

Pure functions first: building (``render_definition``), checking (``validate_definition``) and reading an
execution's history (``execution_state``); then the ``ensure_*`` functions that make the calls for the module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import approval

ACTIONS = ("bringup", "restore", "validate", "promote", "teardown")
PHASES = ("bringup", "restore", "validate", "approval", "promote", "teardown")
RECEIPT_SCHEMA = "orchestrator_action.v1"
ECS_RUN_TASK_SYNC = "arn:aws:states:::ecs:runTask.sync"
SNS_WAIT_FOR_TOKEN = "arn:aws:states:::sns:publish.waitForTaskToken"
S3_PUT_OBJECT = "arn:aws:states:::aws-sdk:s3:putObject"
RESOURCES = (ECS_RUN_TASK_SYNC, SNS_WAIT_FOR_TOKEN, S3_PUT_OBJECT)
# The RunTask fields the optimized ECS integration accepts (connect-ecs.html); anything else is refused at create.
RUN_TASK_FIELDS = {"Cluster", "Group", "LaunchType", "NetworkConfiguration", "Overrides", "PlacementConstraints", "PlacementStrategy",
                   "PlatformVersion", "PropagateTags", "TaskDefinition", "EnableExecuteCommand", "CapacityProviderStrategy", "Tags",
                   "EnableECSManagedTags", "ReferenceId", "StartedBy", "VolumeConfigurations"}
_COMPARATORS = {"StringEquals", "NumericEquals", "BooleanEquals", "IsPresent", "StringMatches", "IsNull", "NumericGreaterThan",
                "NumericLessThan", "StringEqualsPath", "NumericEqualsPath"}
_SAFE_PREFIX = re.compile(r"^[A-Za-z0-9._/-]*$")
_STATE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")
MAX_TIMEOUT = 99999999


def _fail(message):
    raise OpsError("orchestrator_definition_invalid", message)


def check_settings(settings):
    """Validate the operator's values before anything is built or called; names the -e variable to fix."""
    required = ("cluster", "task_definition", "container_name", "receipts_bucket", "notification_topic_arn", "inventory")
    missing = [name for name in required if not str(settings.get(name) or "").strip()]
    if missing:
        raise OpsError("invalid_input", "the orchestrator needs %s; set %s in the inventory (group_vars dr_orchestrator.yml)." % (
            ", ".join(missing), ", ".join("dr_orchestrator_%s" % m for m in missing)))
    if not settings.get("subnets"):
        raise OpsError("network_config_missing", "the orchestrator's ECS tasks need subnets (awsvpc); set dr_orchestrator_subnets.")
    prefix = settings.get("receipts_prefix") or ""
    # The prefix is spliced into a States.Format template: braces or quotes would change its meaning.
    if not _SAFE_PREFIX.match(prefix):
        raise OpsError("invalid_prefix", "receipt prefix %r may hold only letters, digits and . _ / -; fix signalcraft_receipt_prefix." % prefix)
    for name in ("action_timeout_seconds", "approval_timeout_seconds"):
        value = settings.get(name)
        if not isinstance(value, int) or not 0 < value <= MAX_TIMEOUT:
            raise OpsError("invalid_input", "%s must be 1..%d seconds; fix dr_orchestrator_%s." % (name, MAX_TIMEOUT, name))
    return settings


def _quote(text):
    """A literal inside an intrinsic function: single-quoted, with the four escapable characters escaped."""
    return "'%s'" % re.sub(r"([\\'{}])", r"\\\1", text)


def receipt_key(prefix, execution_name, phase):
    """Where the state machine's receipt of a phase lands (``ecs-<phase>.json`` for actions, ``approval.json``)."""
    name = ("ecs-%s" % phase) if phase in ACTIONS else phase
    return "/".join(part for part in ((prefix or "").strip("/"), execution_name, "%s.json" % name) if part)


def drill_command(inventory, phase):
    """The container's command as an intrinsic: the drill limited to one phase, its run id the execution's name.

    The promote action also gets this execution's ARN: its approval was this state machine's task token, so
    promote reads the decision from the execution's history instead of asking the drill's own gate again."""
    parts = ["ansible-playbook", "-i", inventory, "playbooks/dr_drill.yml", "-e", "start_at=%s" % phase, "-e", "stop_after=%s" % phase, "-e"]
    arguments = [_quote(p) for p in parts] + ["States.Format('run_id={}', $$.Execution.Name)"]
    if phase == "promote":
        arguments += [_quote("-e"), "States.Format('dr_promote_execution_arn={}', $$.Execution.Id)"]
    return "States.Array(%s)" % ", ".join(arguments)


def _receipt(phase, status, reason, fields):
    document = {"schema_version": RECEIPT_SCHEMA, "operation": "dr_orchestrator", "phase": phase, "status": status,
                "failure_code": reason, "execution_id.$": "$$.Execution.Name", "execution_arn.$": "$$.Execution.Id",
                "written_at.$": "$$.State.EnteredTime"}
    document.update(fields)
    return document


def _put(settings, phase, next_state):
    key = receipt_key(settings.get("receipts_prefix"), "{}", phase)
    return {
        "Type": "Task", "Resource": S3_PUT_OBJECT,
        "Parameters": {"Bucket": settings["receipts_bucket"], "Key.$": "States.Format(%s, $$.Execution.Name)" % _quote(key).replace("\\{\\}", "{}"),
                       "Body.$": "States.JsonToString($.receipts.%s)" % phase, "ContentType": "application/json"},
        "ResultPath": None,
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2.0}],
        "Next": next_state,
    }


def _outcome(phase, on_success, on_failure):
    return {"Type": "Choice", "Choices": [{"Variable": "$.receipts.%s.status" % phase, "StringEquals": "success", "Next": on_success}],
            "Default": on_failure}


def _action_states(settings, phase, on_success, on_failure):
    network = {"AwsvpcConfiguration": {"Subnets": list(settings["subnets"]), "AssignPublicIp": "ENABLED" if settings.get("assign_public_ip") else "DISABLED"}}
    if settings.get("security_groups"):
        network["AwsvpcConfiguration"]["SecurityGroups"] = list(settings["security_groups"])
    # The essential (first) container, copied out by a Pass state: the Choice then reads a plain field (moto 5.2.5's Choice
    # evaluates an indexed Variable path to a list, so a NumericEquals on containers[0].ExitCode would never match there).
    exit_code = "$.actions.%s.container.ExitCode" % phase
    task = {"task_arn.$": "$.actions.%s.task_arn" % phase, "created_at.$": "$.actions.%s.created_at" % phase,
            "stopped_at.$": "$.actions.%s.stopped_at" % phase}
    return {
        phase: {
            "Type": "Task", "Resource": ECS_RUN_TASK_SYNC,
            "Parameters": {
                "Cluster": settings["cluster"], "TaskDefinition": settings["task_definition"], "LaunchType": settings.get("launch_type") or "FARGATE",
                "NetworkConfiguration": network, "PropagateTags": "TASK_DEFINITION",
                "Overrides": {"ContainerOverrides": [{"Name": settings["container_name"], "Command.$": drill_command(settings["inventory"], phase)}]},
            },
            # What a STOPPED task always carries (StartedAt is absent when the container never started).
            "ResultSelector": {"task_arn.$": "$.TaskArn", "created_at.$": "$.CreatedAt", "stopped_at.$": "$.StoppedAt", "containers.$": "$.Containers"},
            "ResultPath": "$.actions.%s" % phase,
            "TimeoutSeconds": settings["action_timeout_seconds"],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.errors.%s" % phase, "Next": "%s-receipt-error" % phase}],
            "Next": "%s-container" % phase,
        },
        "%s-container" % phase: {"Type": "Pass", "InputPath": "$.actions.%s.containers[0]" % phase, "ResultPath": "$.actions.%s.container" % phase,
                                 "Next": "%s-exited" % phase},
        "%s-exited" % phase: {
            "Type": "Choice",
            "Choices": [{"Not": {"Variable": exit_code, "IsPresent": True}, "Next": "%s-receipt-no-exit" % phase},
                        {"Variable": exit_code, "NumericEquals": 0, "Next": "%s-receipt" % phase}],
            "Default": "%s-receipt-exit" % phase,
        },
        "%s-receipt" % phase: {"Type": "Pass", "ResultPath": "$.receipts.%s" % phase, "Next": "%s-put" % phase,
                               "Parameters": _receipt(phase, "success", None, dict(task, **{"exit_code.$": exit_code}))},
        "%s-receipt-exit" % phase: {"Type": "Pass", "ResultPath": "$.receipts.%s" % phase, "Next": "%s-put" % phase,
                                    "Parameters": _receipt(phase, "failed", "task_failed", dict(task, **{"exit_code.$": exit_code}))},
        "%s-receipt-no-exit" % phase: {"Type": "Pass", "ResultPath": "$.receipts.%s" % phase, "Next": "%s-put" % phase,
                                       "Parameters": _receipt(phase, "failed", "task_failed", dict(task, exit_code=None))},
        "%s-receipt-error" % phase: {"Type": "Pass", "ResultPath": "$.receipts.%s" % phase, "Next": "%s-put" % phase,
                                     "Parameters": _receipt(phase, "failed", "task_failed", {"error.$": "$.errors.%s.Error" % phase,
                                                                                             "cause.$": "$.errors.%s.Cause" % phase})},
        "%s-put" % phase: _put(settings, phase, "%s-outcome" % phase),
        "%s-outcome" % phase: _outcome(phase, on_success, on_failure),
    }


def _approval_states(settings, on_success, on_failure):
    phase = "approval"
    return {
        phase: {
            "Type": "Task", "Resource": SNS_WAIT_FOR_TOKEN,
            "Parameters": {
                "TopicArn": settings["notification_topic_arn"], "Subject": "DR promotion approval requested",
                "Message": {"TaskToken.$": "$$.Task.Token", "execution_arn.$": "$$.Execution.Id", "run_id.$": "$$.Execution.Name",
                            "phase": phase, "approve_with": "playbooks/dr_approve.yml -e execution_arn=<execution_arn> -e approver=<who> "
                                                            "-e ticket=<change> -e expected_account_id=<account>"},
            },
            "TimeoutSeconds": settings["approval_timeout_seconds"],
            "ResultPath": "$.approval",
            "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.errors.approval", "Next": "approval-receipt-expired"},
                      {"ErrorEquals": ["States.ALL"], "ResultPath": "$.errors.approval", "Next": "approval-receipt-rejected"}],
            "Next": "approval-receipt",
        },
        "approval-receipt": {"Type": "Pass", "ResultPath": "$.receipts.approval", "Next": "approval-put",
                             "Parameters": _receipt(phase, "success", None, {"decision": "approved", "approval.$": "$.approval"})},
        "approval-receipt-expired": {"Type": "Pass", "ResultPath": "$.receipts.approval", "Next": "approval-put",
                                     "Parameters": _receipt(phase, "failed", "approval_expired",
                                                            {"decision": "expired", "error.$": "$.errors.approval.Error"})},
        "approval-receipt-rejected": {"Type": "Pass", "ResultPath": "$.receipts.approval", "Next": "approval-put",
                                      "Parameters": _receipt(phase, "failed", "approval_rejected",
                                                             {"decision": "rejected", "error.$": "$.errors.approval.Error",
                                                              "cause.$": "$.errors.approval.Cause"})},
        "approval-put": _put(settings, phase, "approval-outcome"),
        "approval-outcome": _outcome(phase, on_success, on_failure),
    }


def render_definition(settings):
    """The orchestrator's ASL (a dict) from validated settings; deterministic, so a redeploy compares equal."""
    check_settings(settings)
    teardown_on_failure = settings.get("teardown_on_failure", True)
    states = {}
    order = list(PHASES)
    for index, phase in enumerate(order):
        following = order[index + 1] if index + 1 < len(order) else "finished"
        if phase == "teardown":
            failure = "failed"
        else:
            # Remember which phase failed, then tear the runners down (unless the operator holds them) and fail.
            failure = "%s-failed" % phase
            states[failure] = {"Type": "Pass", "Result": phase, "ResultPath": "$.failed_phase",
                               "Next": "teardown" if teardown_on_failure else "failed"}
        if phase == "approval":
            states.update(_approval_states(settings, following, failure))
        else:
            states.update(_action_states(settings, phase, following, failure))
    states["finished"] = {"Type": "Choice", "Choices": [{"Variable": "$.failed_phase", "IsPresent": True, "Next": "failed"}], "Default": "succeeded"}
    states["succeeded"] = {"Type": "Succeed"}
    states["failed"] = {"Type": "Fail", "Error": "DrPhaseFailed",
                        "Cause": "a DR phase failed; its receipt is s3://%s/%s" % (settings["receipts_bucket"],
                                                                                   receipt_key(settings.get("receipts_prefix"), "<execution>", "<phase>"))}
    definition = {"Comment": "signalcraft.ops DR orchestrator: bringup -> restore -> validate -> approval (task token) -> promote -> teardown",
                  "StartAt": PHASES[0], "TimeoutSeconds": min(MAX_TIMEOUT, settings["approval_timeout_seconds"] + 6 * settings["action_timeout_seconds"]),
                  "States": states}
    validate_definition(definition)
    return definition


def _targets(state):
    found = []
    if "Next" in state:
        found.append(state["Next"])
    if "Default" in state:
        found.append(state["Default"])
    found.extend(choice.get("Next") for choice in state.get("Choices", []))
    found.extend(catcher.get("Next") for catcher in state.get("Catch", []))
    return found


def _check_paths(where, document):
    """Fields ending in ``.$`` hold a path (``$``/``$$``) or an intrinsic function; others are literals."""
    if isinstance(document, dict):
        for name, value in document.items():
            if name.endswith(".$"):
                if not isinstance(value, str) or not (value.startswith("$") or value.startswith("States.")):
                    _fail("%s: %s must be a JsonPath or an intrinsic function, not %r" % (where, name, value))
            else:
                _check_paths(where, value)
    elif isinstance(document, list):
        for item in document:
            _check_paths(where, item)


def _check_errors(where, handlers):
    for handler in handlers:
        names = handler.get("ErrorEquals") or []
        if not names:
            _fail("%s: a Catch/Retry needs ErrorEquals" % where)
        if "States.ALL" in names and (len(names) != 1 or handler is not handlers[-1]):
            _fail("%s: States.ALL must be alone and in the last Catch/Retry" % where)


def _check_choice_rule(where, rule, top=True):
    if "Not" in rule:
        _check_choice_rule(where, rule["Not"], top=False)
    elif "And" in rule or "Or" in rule:
        for sub in rule.get("And") or rule.get("Or"):
            _check_choice_rule(where, sub, top=False)
    else:
        comparators = [k for k in rule if k in _COMPARATORS]
        if "Variable" not in rule or len(comparators) != 1:
            _fail("%s: a choice rule needs a Variable and exactly one comparison" % where)
    if top and "Next" not in rule:
        _fail("%s: a top-level choice rule needs Next" % where)
    if not top and "Next" in rule:
        _fail("%s: a nested choice rule may not have Next" % where)


def validate_definition(definition):
    """Check the ASL against Step Functions' own rules (what CreateStateMachine and the runtime refuse)."""
    states = definition.get("States") or {}
    if definition.get("StartAt") not in states:
        _fail("StartAt %r names no state" % definition.get("StartAt"))
    for name, state in states.items():
        if not _STATE_NAME.match(name):
            _fail("state name %r: 1-80 letters, digits, '.', '_' or '-'" % name)
        kind = state.get("Type")
        terminal = kind in ("Succeed", "Fail") or state.get("End") is True
        if kind == "Choice":
            if not state.get("Choices"):
                _fail("%s: a Choice state needs Choices" % name)
            for rule in state["Choices"]:
                _check_choice_rule(name, rule)
        elif not terminal and "Next" not in state:
            _fail("%s: a %s state needs Next or End" % (name, kind))
        for target in _targets(state):
            if target not in states:
                _fail("%s: transition to unknown state %r" % (name, target))
        _check_errors(name, state.get("Catch", []))
        _check_errors(name, state.get("Retry", []))
        _check_paths(name, state.get("Parameters", {}))
        _check_paths(name, state.get("ResultSelector", {}))
        if "TimeoutSeconds" in state and not (isinstance(state["TimeoutSeconds"], int) and 0 < state["TimeoutSeconds"] <= MAX_TIMEOUT):
            _fail("%s: TimeoutSeconds must be a positive integer" % name)
        if kind == "Task":
            resource = state.get("Resource")
            if resource not in RESOURCES:
                _fail("%s: resource %r is not one the orchestrator uses (%s)" % (name, resource, ", ".join(RESOURCES)))
            params = state.get("Parameters") or {}
            if resource == ECS_RUN_TASK_SYNC:
                unknown = sorted(set(k[:-2] if k.endswith(".$") else k for k in params) - RUN_TASK_FIELDS)
                if unknown:
                    _fail("%s: RunTask does not take %s" % (name, ", ".join(unknown)))
            if resource.endswith(".waitForTaskToken") and "$$.Task.Token" not in json.dumps(params):
                _fail("%s: a .waitForTaskToken task must pass $$.Task.Token" % name)
            if resource == S3_PUT_OBJECT and not {"Bucket", "Key"} <= set(k[:-2] if k.endswith(".$") else k for k in params):
                _fail("%s: s3:putObject needs Bucket and Key" % name)
    # Every state reachable from StartAt (Step Functions refuses unreachable states).
    seen, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_targets(states[name]))
    unreachable = sorted(set(states) - seen)
    if unreachable:
        _fail("states not reachable from StartAt: %s" % ", ".join(unreachable))
    return definition


def phase_of(state_name):
    """``validate-receipt`` -> ``validate``; names outside the phases (``finished``) -> None."""
    head = (state_name or "").split("-", 1)[0]
    return head if head in PHASES else None


def execution_state(events):
    """What an orchestrator execution is doing, from its history (GetExecutionHistory events, any order).

    Returns ``{"phase", "state", "waiting_for_approval", "decision", "failed_phase", "phases": {phase: status}}``:
    the phase of the newest entered state, whether the approval task waits on its token now, the approval's
    decision (``pending``/``approved``/``rejected``/``expired``) and each phase's outcome from the receipts' Pass states.
    """
    ordered = sorted(events, key=lambda e: e.get("id", 0))
    state = phase = None
    phases = {}
    decision = "pending"
    failed_phase = None
    for event in ordered:
        kind = event.get("type", "")
        if kind.endswith("StateEntered"):
            state = event["stateEnteredEventDetails"]["name"]
            phase = phase_of(state) or phase
            current = phase_of(state)
            if current and state == current:
                phases[current] = "running"
            elif current and state.startswith(current + "-receipt"):
                phases[current] = "succeeded" if state == current + "-receipt" else "failed"
                if current == "approval":
                    decision = {"approval-receipt": "approved", "approval-receipt-expired": "expired"}.get(state, "rejected")
            elif state.endswith("-failed") and current:
                failed_phase = current
    token = approval.pending_token_from(ordered)
    waiting = bool(token) and phase == "approval"
    return {"phase": phase, "state": state, "waiting_for_approval": waiting, "decision": decision, "failed_phase": failed_phase,
            "phases": phases}


# The doing: create or update what the definition needs, idempotently, writing nothing in check mode.

def find_state_machine(sfn, name):
    return approval.find_state_machine(sfn, name)


def ensure_state_machine(sfn, name, definition, role_arn, check_mode=False):
    """``(changed, arn, before)``: create the state machine or update its definition/role when they differ."""
    arn = find_state_machine(sfn, name)
    if arn:
        described = sfn.describe_state_machine(stateMachineArn=arn)
        before = {"definition": json.loads(described["definition"]), "role_arn": described.get("roleArn")}
        if before == {"definition": definition, "role_arn": role_arn}:
            return False, arn, before
        if not check_mode:
            sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(definition, sort_keys=True), roleArn=role_arn)
        return True, arn, before
    if not check_mode:
        arn = sfn.create_state_machine(name=name, definition=json.dumps(definition, sort_keys=True), roleArn=role_arn, type="STANDARD")["stateMachineArn"]
    return True, arn, None


def _code(exc):
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def rule_spec(schedule_expression, enabled, state_machine_arn, events_role_arn):
    """The schedule rule and its one target (the orchestrator), as compared and written."""
    return {"schedule_expression": schedule_expression, "state": "ENABLED" if enabled else "DISABLED",
            "target": {"Id": "dr-orchestrator", "Arn": state_machine_arn, "RoleArn": events_role_arn}}


def ensure_rule(events, name, spec, check_mode=False):
    """``(changed, before)`` for the EventBridge schedule rule that starts the orchestrator."""
    before = None
    try:
        rule = events.describe_rule(Name=name)
        targets = events.list_targets_by_rule(Rule=name).get("Targets", [])
        target = next(({"Id": t["Id"], "Arn": t["Arn"], "RoleArn": t.get("RoleArn")} for t in targets), None)
        before = {"schedule_expression": rule.get("ScheduleExpression"), "state": rule.get("State"), "target": target}
    except Exception as exc:  # botocore ClientError
        if _code(exc) != "ResourceNotFoundException":
            raise
    if before == spec:
        return False, before
    if not check_mode:
        events.put_rule(Name=name, ScheduleExpression=spec["schedule_expression"], State=spec["state"],
                        Description="Starts the signalcraft DR orchestrator (DISABLED unless enable_triggers=true)")
        events.put_targets(Rule=name, Targets=[spec["target"]])
    return True, before


def alarm_spec(state_machine_arn, topic_arn, enabled):
    """The alarm on failed orchestrator executions; its actions (SNS) are off unless triggers are enabled."""
    return {"namespace": "AWS/States", "metric_name": "ExecutionsFailed", "dimensions": [{"Name": "StateMachineArn", "Value": state_machine_arn}],
            "statistic": "Sum", "period": 300, "evaluation_periods": 1, "threshold": 1.0,
            "comparison_operator": "GreaterThanOrEqualToThreshold", "treat_missing_data": "notBreaching",
            "alarm_actions": [topic_arn], "actions_enabled": bool(enabled)}


def ensure_alarm(cloudwatch, name, spec, check_mode=False):
    """``(changed, before)`` for the CloudWatch alarm (PutMetricAlarm replaces it whole)."""
    found = cloudwatch.describe_alarms(AlarmNames=[name]).get("MetricAlarms", [])
    before = None
    if found:
        alarm = found[0]
        before = {"namespace": alarm.get("Namespace"), "metric_name": alarm.get("MetricName"), "dimensions": alarm.get("Dimensions"),
                  "statistic": alarm.get("Statistic"), "period": alarm.get("Period"), "evaluation_periods": alarm.get("EvaluationPeriods"),
                  "threshold": alarm.get("Threshold"), "comparison_operator": alarm.get("ComparisonOperator"),
                  "treat_missing_data": alarm.get("TreatMissingData"), "alarm_actions": alarm.get("AlarmActions"),
                  "actions_enabled": alarm.get("ActionsEnabled")}
    if before == spec:
        return False, before
    if not check_mode:
        cloudwatch.put_metric_alarm(AlarmName=name, Namespace=spec["namespace"], MetricName=spec["metric_name"], Dimensions=spec["dimensions"],
                                    Statistic=spec["statistic"], Period=spec["period"], EvaluationPeriods=spec["evaluation_periods"],
                                    Threshold=spec["threshold"], ComparisonOperator=spec["comparison_operator"],
                                    TreatMissingData=spec["treat_missing_data"], AlarmActions=spec["alarm_actions"],
                                    ActionsEnabled=spec["actions_enabled"],
                                    AlarmDescription="signalcraft DR orchestrator executions failed")
    return True, before


def list_executions(sfn, state_machine_arn, limit):
    """The newest ``limit`` executions (ListExecutions returns newest first), at most one page past the limit."""
    found = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn, PaginationConfig={"MaxItems": limit}):
        found.extend(page.get("executions", []))
    found.sort(key=lambda e: e.get("startDate"), reverse=True)
    return found[:limit]
