# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The manual promotion gate: a Step Functions execution waiting on a task token.

The gate state machine publishes an approval request (execution ARN, run id and task token) to an SNS
topic with ``sns:publish.waitForTaskToken`` and waits. An approver answers with ``SendTaskSuccess``
carrying ``{"approver", "ticket"}`` (or ``SendTaskFailure`` to reject). The token is read back from the
execution's own history (the ``TaskScheduled`` event's parameters), so approving needs only the
execution ARN -- or the run id, which names the execution. One execution per run id: starting it
again with the same name and input returns the same execution (StartExecution is idempotent).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import time

from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError

TOKEN_KEY = "TaskToken"
DECISIONS = {"RUNNING": "pending", "SUCCEEDED": "approved", "FAILED": "rejected", "TIMED_OUT": "expired", "ABORTED": "aborted"}


def gate_definition(topic_arn, timeout_seconds=86400):
    """ASL of the gate: publish the request with the task token, wait for the answer, keep it under ``$.approval``."""
    return {
        "Comment": "signalcraft.ops DR promotion gate: waits for an operator's SendTaskSuccess {approver, ticket}.",
        "StartAt": "RequestApproval",
        "States": {
            "RequestApproval": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish.waitForTaskToken",
                "Parameters": {
                    "TopicArn": topic_arn,
                    "Subject": "DR promotion approval requested",
                    "Message": {"TaskToken.$": "$$.Task.Token", "execution_arn.$": "$$.Execution.Id", "run_id.$": "$.run_id",
                                "requested_by.$": "$.requested_by", "approve_with": "playbooks/dr_approve.yml -e run_id=<run_id>"},
                },
                "TimeoutSeconds": int(timeout_seconds),
                "ResultPath": "$.approval",
                "Next": "Approved",
            },
            "Approved": {"Type": "Succeed"},
        },
    }


def execution_name(run_id):
    """The gate execution of a run: ``dr-promote-<run_id>`` (names are unique per state machine)."""
    return ("dr-promote-%s" % run_id)[:80]


def execution_arn(state_machine_arn, run_id):
    """Execution ARNs are the state machine ARN with ``stateMachine`` -> ``execution`` plus the name."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + execution_name(run_id)


def state_machine_of(execution_arn):
    """``arn:...:execution:<machine>:<name>`` -> ``arn:...:stateMachine:<machine>``."""
    return execution_arn.replace(":execution:", ":stateMachine:", 1).rsplit(":", 1)[0]


# SendTaskSuccess/SendTaskFailure errors for a token the execution no longer waits on.
_STALE_TOKEN_CODES = ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken")


def _code(exc):
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def find_state_machine(sfn, name):
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page.get("stateMachines", []):
            if machine["name"] == name:
                return machine["stateMachineArn"]
    return None


def ensure_gate(sfn, sns, name, role_arn, topic_arn=None, timeout_seconds=86400, check_mode=False):
    """Create or update the gate state machine (and, when no topic is given, its SNS topic ``<name>``).

    Returns ``{"changed", "state_machine_arn", "topic_arn", "before", "after"}``.
    """
    changed = False
    if not topic_arn:
        # CreateTopic is idempotent: it returns the existing topic's ARN.
        topic_arn = None if check_mode else sns.create_topic(Name=name)["TopicArn"]
    definition = gate_definition(topic_arn or "arn:aws:sns:::(created-on-apply)", timeout_seconds)
    arn = find_state_machine(sfn, name)
    before = None
    if arn:
        described = sfn.describe_state_machine(stateMachineArn=arn)
        before = json.loads(described["definition"])
        if before != definition or described.get("roleArn") != role_arn:
            changed = True
            if not check_mode:
                sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(definition, sort_keys=True), roleArn=role_arn)
    else:
        if not role_arn:
            raise GuardError("gate_role_unset", "state machine %s does not exist and no gate_role_arn is set to create it; "
                                                "set dr_promote_gate_role_arn or give an existing gate's ARN." % name)
        changed = True
        if not check_mode:
            arn = sfn.create_state_machine(name=name, definition=json.dumps(definition, sort_keys=True), roleArn=role_arn,
                                           type="STANDARD")["stateMachineArn"]
    return {"changed": changed, "state_machine_arn": arn, "topic_arn": topic_arn, "before": before, "after": definition}


def describe(sfn, arn):
    """``{"execution_arn", "status", "decision", "approver", "ticket", "output", "error", "cause"}`` or None."""
    try:
        described = sfn.describe_execution(executionArn=arn)
    except Exception as exc:  # botocore ClientError
        if _code(exc) in ("ExecutionDoesNotExist", "ResourceNotFound"):
            return None
        raise
    output = {}
    if described.get("output"):
        try:
            output = json.loads(described["output"])
        except ValueError:
            output = {}
    approval = output.get("approval") if isinstance(output.get("approval"), dict) else {}
    decision = DECISIONS.get(described["status"], described["status"].lower())
    if described["status"] == "RUNNING":
        # The gate ends with its decision; an orchestrator runs on (promote, teardown): read the decision from history.
        decided, approval_output = token_decision(history(sfn, arn))
        if decided:
            decision, approval = decided, approval_output
    return {"execution_arn": described["executionArn"], "status": described["status"],
            "decision": decision,
            "approver": approval.get("approver"), "ticket": approval.get("ticket"), "approved_at": approval.get("approved_at"),
            "error": described.get("error"), "cause": described.get("cause"),
            "started_at": described["startDate"].isoformat() if hasattr(described.get("startDate"), "isoformat") else None}


def request(sfn, state_machine_arn, run_id, requested_by="signalcraft.ops", check_mode=False):
    """Start (or find) the run's gate execution. Returns ``(changed, description)``."""
    arn = execution_arn(state_machine_arn, run_id)
    current = describe(sfn, arn)
    if current is not None:
        return False, current
    if check_mode:
        return True, {"execution_arn": arn, "status": "NOT_STARTED", "decision": "pending", "approver": None, "ticket": None}
    payload = json.dumps({"run_id": run_id, "requested_by": requested_by}, sort_keys=True)
    try:
        sfn.start_execution(stateMachineArn=state_machine_arn, name=execution_name(run_id), input=payload)
    except Exception as exc:
        if _code(exc) != "ExecutionAlreadyExists":
            raise
    return True, describe(sfn, arn)


def wait(sfn, arn, timeout, poll=5.0, sleep=time.sleep, clock=time.time):
    """Poll until the execution is decided or ``timeout`` passes; returns the last description."""
    deadline = clock() + timeout
    while True:
        current = describe(sfn, arn)
        if current is None:
            raise GuardError("approval_missing", "gate execution %s does not exist; run the promote phase to request approval." % arn)
        if current["status"] != "RUNNING" or current["decision"] != "pending" or clock() >= deadline:
            return current
        sleep(poll)


def history(sfn, arn):
    """Every event of an execution (GetExecutionHistory, all pages)."""
    events = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page.get("events", []))
    return events


def pending_token(sfn, arn):
    """The task token the execution is waiting on, from its newest TaskScheduled event, or None."""
    return pending_token_from(history(sfn, arn))


def pending_token_from(events):
    """The token of the newest TaskScheduled event when no task outcome followed it (pure; any event order)."""
    for event in sorted(events, key=lambda e: e.get("id", 0), reverse=True):  # newest first
        if event["type"] in ("TaskSucceeded", "TaskFailed", "TaskTimedOut"):
            return None
        if event["type"] == "TaskScheduled":
            params = json.loads(event["taskScheduledEventDetails"].get("parameters") or "{}")
            return _find_key(params, TOKEN_KEY)
    return None


def token_decision(events):
    """The decision on a token task that already had its outcome, for an execution that runs on after its gate
    (the orchestrator: promote and teardown follow the approval). ``(decision, approval output)`` or ``(None, {})``."""
    waiting = False
    for event in sorted(events, key=lambda e: e.get("id", 0)):
        if event["type"] == "TaskScheduled":
            params = json.loads(event["taskScheduledEventDetails"].get("parameters") or "{}")
            waiting = bool(_find_key(params, TOKEN_KEY))
        elif waiting and event["type"] == "TaskSucceeded":
            try:
                output = json.loads(event["taskSucceededEventDetails"].get("output") or "{}")
            except ValueError:
                output = {}
            return "approved", output if isinstance(output, dict) else {}
        elif waiting and event["type"] in ("TaskFailed", "TaskTimedOut"):
            return ("expired" if event["type"] == "TaskTimedOut" else "rejected"), {}
    return None, {}


def _find_key(document, key):
    if isinstance(document, dict):
        for name, value in document.items():
            if name == key and isinstance(value, str):
                return value
            if isinstance(value, str) and value.startswith("{"):
                try:
                    value = json.loads(value)
                except ValueError:
                    continue
            found = _find_key(value, key)
            if found:
                return found
    elif isinstance(document, list):
        for item in document:
            found = _find_key(item, key)
            if found:
                return found
    return None


def require_approver(approver, ticket):
    for option, value in (("approver", approver), ("ticket", ticket)):
        if not value or not str(value).strip():
            raise GuardError("approval_incomplete", "%s is required to approve or reject a promotion (who decided, under which change ticket)." % option)


def decide(sfn, arn, approve, approver, ticket, cause=None, check_mode=False, settle=10.0, sleep=time.sleep, clock=time.time):
    """Approve (SendTaskSuccess {approver, ticket, approved_at}) or reject (SendTaskFailure) the pending gate.

    Idempotent: deciding again the same way returns ``changed=False``; a different decision on an execution
    that is already decided is refused. Returns ``(changed, description)``.
    """
    require_approver(approver, ticket)
    current = describe(sfn, arn)
    if current is None:
        raise GuardError("approval_missing", "gate execution %s does not exist; the promote phase requests it first." % arn)
    wanted = "approved" if approve else "rejected"
    if current["status"] != "RUNNING" or current["decision"] != "pending":
        if current["decision"] == wanted and (not approve or (current["approver"], current["ticket"]) == (approver, ticket)):
            return False, current
        raise GuardError("approval_already_decided", "gate execution %s is already %s (%s); start a new drill run to decide again." % (
            arn, current["decision"], current["approver"] or current["error"] or current["status"]))
    token = pending_token(sfn, arn)
    if not token:
        raise GuardError("approval_not_waiting", "gate execution %s is running but not waiting for a decision yet; retry shortly." % arn)
    if check_mode:
        return True, current
    try:
        if approve:
            moment = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            sfn.send_task_success(taskToken=token, output=json.dumps({"approver": approver, "ticket": ticket, "approved_at": moment}, sort_keys=True))
        else:
            sfn.send_task_failure(taskToken=token, error="Rejected", cause=(cause or "rejected by %s under %s" % (approver, ticket))[:32768])
    except Exception as exc:  # botocore ClientError; module_utils cannot import botocore unconditionally
        if _code(exc) not in _STALE_TOKEN_CODES:
            raise
        # The gate stopped waiting between the read and the send: it timed out or another approver decided.
        now = wait(sfn, arn, settle, poll=0.2, sleep=sleep, clock=clock)
        if now["decision"] == wanted and (not approve or (now["approver"], now["ticket"]) == (approver, ticket)):
            return False, now
        raise GuardError("approval_already_decided", "gate execution %s stopped waiting before this decision arrived (%s); it is now %s "
                                                     "(%s); start a new drill run to decide again." % (
                                                         arn, _code(exc), now["status"], now["approver"] or now["error"] or now["decision"]))
    return True, wait(sfn, arn, settle, poll=0.2, sleep=sleep, clock=clock)
