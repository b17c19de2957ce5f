#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_approve
short_description: Request, wait for, approve or reject the DR promotion gate (a Step Functions task token)
version_added: "0.1.0"
description:
  - The manual promotion gate of the DR drill is one Step Functions execution per run id
    (C(dr-promote-<run_id>)) waiting on a task token (C(sns:publish.waitForTaskToken)); the request,
    with the token, goes to an SNS topic for approvers.
  - V(request) starts the run's execution, or finds it (idempotent). V(wait) requests and then waits up to
    O(timeout) seconds for the decision; it fails with C(approval_pending), C(approval_rejected),
    C(approval_expired) or C(approval_aborted) unless approved.
  - V(approve) sends C(SendTaskSuccess) with output C({"approver", "ticket", "approved_at"}); V(reject) sends
    C(SendTaskFailure). The token is read from the execution's history, so only the run id (or execution ARN)
    is needed. Deciding again the same way changes nothing; the opposite decision on a decided gate is refused.
  - V(status) reads the execution only.
  - The receipt phase is C(approve) for V(approve) and V(reject) (operation C(dr_approve)), C(approval) for V(wait),
    C(approval_request) for V(request) and C(approval_status) for V(status) (operation C(dr_promote)).
  - Returns C(<phase> status=ok decision=<decision> run_id=<id>); in check mode C(status=planned).
  - With O(manage_gate=true) the gate state machine O(state_machine_name) is created or updated first (and an SNS
    topic of the same name when O(notification_topic_arn) is not given); otherwise it must exist.
author:
  - signalcraft maintainers (@signalcraft)
options:
  action:
    description: What to do.
    type: str
    required: true
    choices: [request, wait, approve, reject, status]
  state_machine_arn:
    description:
      - ARN of the gate state machine. Either this or O(state_machine_name); with only O(execution_arn), the execution's own
        state machine (so an orchestrator execution, C(dr_orchestrator), is decided the same way).
    type: str
  state_machine_name:
    description: Name of the gate state machine (looked up, or created with O(manage_gate=true)).
    type: str
  manage_gate:
    description: Create or update the gate state machine named O(state_machine_name).
    type: bool
    default: false
  gate_role_arn:
    description: IAM role Step Functions assumes (needs C(sns:Publish) on the topic). Required to create the gate.
    type: str
  notification_topic_arn:
    description: SNS topic approval requests go to. With O(manage_gate=true) and no topic, one named O(state_machine_name) is created.
    type: str
  gate_timeout_seconds:
    description: How long the gate waits for a decision before the execution times out (the task's C(TimeoutSeconds)).
    type: int
    default: 86400
  run_id:
    description: The drill's run id; names the execution. Required for V(request) and V(wait).
    type: str
  execution_arn:
    description: The gate execution, instead of O(run_id), for V(approve), V(reject) and V(status).
    type: str
  approver:
    description: Who approves or rejects. Required for V(approve) and V(reject).
    type: str
  ticket:
    description: The change ticket the decision is made under. Required for V(approve) and V(reject).
    type: str
  cause:
    description: Why the promotion is rejected (V(reject)).
    type: str
  requested_by:
    description: Recorded in the execution input of V(request).
    type: str
    default: signalcraft.ops
  timeout:
    description: Seconds V(wait) waits for a decision (0 checks once).
    type: int
    default: 0
  poll_interval:
    description: Seconds between status reads while waiting.
    type: float
    default: 5.0
attributes:
  check_mode:
    support: full
    description: Nothing is started, sent or created; the result says what would be.
  diff_mode:
    support: partial
    description: The gate definition before/after when O(manage_gate=true).
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt]
seealso:
  - module: signalcraft.ops.dr_promote
"""

EXAMPLES = r"""
- name: Request approval and wait up to an hour
  signalcraft.ops.dr_approve:
    action: wait
    state_machine_arn: arn:aws:states:us-east-1:111122223333:stateMachine:signalcraft-dr-promote-gate
    run_id: dr-20260101t000000z
    timeout: 3600

- name: Approve (an operator, or the AWX job after the workflow's approval node)
  signalcraft.ops.dr_approve:
    action: approve
    state_machine_arn: arn:aws:states:us-east-1:111122223333:stateMachine:signalcraft-dr-promote-gate
    run_id: dr-20260101t000000z
    approver: alice
    ticket: CHG-1234
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: The gate execution.
  returned: always
  type: dict
  contains:
    execution_arn:
      description: The run's gate execution.
      returned: success
      type: str
    state_machine_arn:
      description: The gate state machine.
      returned: success
      type: str
    status:
      description: The execution status (C(RUNNING), C(SUCCEEDED), C(FAILED), C(TIMED_OUT), C(ABORTED), or C(NOT_STARTED) in check mode).
      returned: success
      type: str
    decision:
      description: C(pending), C(approved), C(rejected), C(expired) or C(aborted).
      returned: success
      type: str
    approver:
      description: Who approved (from the execution's output).
      returned: success
      type: str
    ticket:
      description: The change ticket of the approval.
      returned: success
      type: str
    approved_at:
      description: When the approval was sent.
      returned: success
      type: str
    gate_changed:
      description: Whether the gate state machine was created or updated.
      returned: success
      type: bool
diff:
  description: The gate definition before and after (O(manage_gate=true)).
  returned: when manage_gate
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import approval
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import phases
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

_FAILURES = {"pending": "approval_pending", "rejected": "approval_rejected", "expired": "approval_expired", "aborted": "approval_aborted"}
# action -> (operation, receipt phase)
_PHASES = {"request": ("dr_promote", "approval_request"), "wait": ("dr_promote", "approval"), "status": ("dr_promote", "approval_status"),
           "approve": ("dr_approve", "approve"), "reject": ("dr_approve", "approve")}

ARGUMENT_SPEC = dict(
    action=dict(type="str", required=True, choices=["request", "wait", "approve", "reject", "status"]),
    state_machine_arn=dict(type="str"),
    state_machine_name=dict(type="str"),
    manage_gate=dict(type="bool", default=False),
    gate_role_arn=dict(type="str"),
    notification_topic_arn=dict(type="str"),
    gate_timeout_seconds=dict(type="int", default=86400),
    run_id=dict(type="str"),
    execution_arn=dict(type="str"),
    approver=dict(type="str"),
    ticket=dict(type="str"),
    cause=dict(type="str"),
    requested_by=dict(type="str", default="signalcraft.ops"),
    timeout=dict(type="int", default=0),
    poll_interval=dict(type="float", default=5.0),
)
REQUIRED_ONE_OF = [("state_machine_arn", "state_machine_name", "execution_arn"), ("run_id", "execution_arn")]
REQUIRED_IF = [("action", "request", ("run_id",)), ("action", "wait", ("run_id",)), ("manage_gate", True, ("state_machine_name",))]


def run(ops):
    p = ops.params
    ops.operation, ops.phase = _PHASES[p["action"]]
    ops.status_key = ops.phase
    if p["action"] in ("approve", "reject"):
        missing = [name for name in ("approver", "ticket") if not (p[name] or "").strip()]
        if missing:
            raise GuardError("approval_incomplete", "%s needs %s; pass %s." % (
                p["action"], " and ".join(missing), " ".join("-e %s=<%s>" % (m, "who" if m == "approver" else "change ticket") for m in missing)))
    if p["run_id"]:
        phases.validate_run_id(p["run_id"])
    sfn = ops.client("stepfunctions")
    outputs = dict(gate_changed=False)
    changed = False
    diff = None
    arn = p["state_machine_arn"]
    if not arn and not p["state_machine_name"] and p["execution_arn"]:
        # An execution ARN names its state machine (the orchestrator's executions are decided this way).
        arn = approval.state_machine_of(p["execution_arn"])
    if p["manage_gate"]:
        gate = approval.ensure_gate(sfn, ops.client("sns"), p["state_machine_name"], p["gate_role_arn"], p["notification_topic_arn"],
                                    p["gate_timeout_seconds"], check_mode=ops.check_mode)
        arn = gate["state_machine_arn"] or "arn:aws:states:%s::stateMachine:%s" % (ops.connection("aws").region, p["state_machine_name"])
        outputs["gate_changed"] = changed = gate["changed"]
        diff = {"before": gate["before"] or {}, "after": gate["after"]}
    elif not arn:
        arn = approval.find_state_machine(sfn, p["state_machine_name"])
        if not arn:
            raise GuardError("gate_missing", "gate state machine %s does not exist; create it (dr_promote_manage_gate=true with "
                                             "dr_promote_gate_role_arn) or set dr_promote_gate_arn." % p["state_machine_name"])
    outputs["state_machine_arn"] = arn
    execution = p["execution_arn"] or approval.execution_arn(arn, p["run_id"])
    if p["action"] in ("request", "wait"):
        started, current = approval.request(sfn, arn, p["run_id"], p["requested_by"], check_mode=ops.check_mode)
        changed = changed or started
        if p["action"] == "wait" and current["status"] == "RUNNING":
            current = approval.wait(sfn, current["execution_arn"], p["timeout"], poll=p["poll_interval"])
    elif p["action"] in ("approve", "reject"):
        decided, current = approval.decide(sfn, execution, p["action"] == "approve", p["approver"], p["ticket"], p["cause"],
                                           check_mode=ops.check_mode)
        changed = changed or decided
    else:
        current = approval.describe(sfn, execution)
        if current is None:
            raise GuardError("approval_missing", "gate execution %s does not exist; check -e run_id (or -e execution_arn)." % execution)
    outputs.update(execution_arn=current["execution_arn"], status=current["status"], decision=current["decision"],
                   approver=current.get("approver"), ticket=current.get("ticket"), approved_at=current.get("approved_at"))
    line = [("decision", current["decision"])]
    if p["run_id"]:
        line.append(("run_id", p["run_id"]))
    if p["action"] == "wait" and current["decision"] != "approved" and not ops.check_mode:
        token = _FAILURES.get(current["decision"], "approval_pending")
        outputs["line"] = line
        raise OpsError(token, "gate %s is %s; approve with playbooks/dr_approve.yml -e run_id=%s -e approver=<name> -e ticket=<change>, "
                              "then rerun with -e start_at=promote." % (current["execution_arn"], current["status"], p["run_id"]),
                       details=outputs, changed_so_far=changed)
    result = dict(changed=changed, status="planned" if ops.check_mode else "ok", outputs=outputs, line=line)
    if diff is not None:
        result["diff"] = diff
    return result


def main():
    OpsModule(ARGUMENT_SPEC, operation="dr_promote", phase="approval", connections=[AwsConnection],
              required_one_of=REQUIRED_ONE_OF, required_if=REQUIRED_IF).run(run)


if __name__ == "__main__":
    main()
