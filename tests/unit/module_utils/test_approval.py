"""The promotion gate against the sandbox's Step Functions: task token from history, approve, reject, idempotency."""

import json
import uuid

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import approval
from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError


@pytest.fixture
def clients(sandbox):
    factory = aws.AwsClientFactory(region=sandbox["AWS_DEFAULT_REGION"], endpoint_url=sandbox["AWS_ENDPOINT_URL"],
                                   access_key="testing", secret_key="testing")
    return factory.client("stepfunctions"), factory.client("sns")


@pytest.fixture
def gate(sandbox, clients):
    sfn, sns = clients
    name = "gate-%s" % uuid.uuid4().hex[:8]
    role = "arn:aws:iam::%s:role/signalcraft-dr-gate" % sandbox["SANDBOX_ACCOUNT_ID"]
    planned = approval.ensure_gate(sfn, sns, name, role, check_mode=True)
    assert planned["changed"] and approval.find_state_machine(sfn, name) is None
    created = approval.ensure_gate(sfn, sns, name, role)
    assert created["changed"] and created["topic_arn"].endswith(":" + name)
    again = approval.ensure_gate(sfn, sns, name, role)
    assert not again["changed"] and again["state_machine_arn"] == created["state_machine_arn"]
    return created["state_machine_arn"]


def reason(callable_, *args, **kwargs):
    with pytest.raises(GuardError) as info:
        callable_(*args, **kwargs)
    return info.value.reason


def test_definition_waits_for_a_task_token():
    definition = approval.gate_definition("arn:aws:sns:us-east-1:1:t", 60)
    task = definition["States"]["RequestApproval"]
    assert task["Resource"].endswith(".waitForTaskToken") and task["TimeoutSeconds"] == 60
    assert task["Parameters"]["Message"]["TaskToken.$"] == "$$.Task.Token"
    assert approval.execution_arn("arn:aws:states:r:1:stateMachine:g", "dr-1") == "arn:aws:states:r:1:execution:g:dr-promote-dr-1"
    assert reason(approval.require_approver, "", "CHG-1") == "approval_incomplete"
    assert reason(approval.require_approver, "alice", " ") == "approval_incomplete"


def test_request_approve_and_reject(sandbox, clients, gate):
    sfn, _sns = clients
    run_id = "t-%s" % uuid.uuid4().hex[:8]
    changed, pending = approval.request(sfn, gate, run_id)
    assert changed and pending["status"] == "RUNNING"
    assert approval.request(sfn, gate, run_id)[0] is False  # one execution per run id
    assert approval.wait(sfn, pending["execution_arn"], timeout=0)["decision"] == "pending"
    token = approval.pending_token(sfn, pending["execution_arn"])
    assert token
    assert approval.decide(sfn, pending["execution_arn"], True, "alice", "CHG-1", check_mode=True)[0]
    assert sfn.describe_execution(executionArn=pending["execution_arn"])["status"] == "RUNNING"
    changed, decided = approval.decide(sfn, pending["execution_arn"], True, "alice", "CHG-1")
    assert changed and decided["decision"] == "approved"
    described = sfn.describe_execution(executionArn=pending["execution_arn"])
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])["approval"]
    assert output["approver"] == "alice" and output["ticket"] == "CHG-1"
    assert approval.decide(sfn, pending["execution_arn"], True, "alice", "CHG-1")[0] is False
    assert reason(approval.decide, sfn, pending["execution_arn"], False, "bob", "CHG-2") == "approval_already_decided"
    assert approval.pending_token(sfn, pending["execution_arn"]) is None

    other = "t-%s" % uuid.uuid4().hex[:8]
    arn = approval.request(sfn, gate, other)[1]["execution_arn"]
    changed, rejected = approval.decide(sfn, arn, False, "bob", "CHG-2", cause="validate looked wrong")
    assert changed and rejected["decision"] == "rejected"
    assert sfn.describe_execution(executionArn=arn)["status"] == "FAILED"
    assert reason(approval.decide, sfn, gate.replace(":stateMachine:", ":execution:") + ":missing", True, "a", "b") == "approval_missing"


class ConcurrentApprover:
    """The real Step Functions client; another approver's decision lands just before ours is sent."""

    def __init__(self, sfn, decision):
        self.sfn, self.decision = sfn, decision

    def __getattr__(self, name):
        return getattr(self.sfn, name)

    def _race(self, call, **kwargs):
        self.decision(kwargs["taskToken"])
        return call(**kwargs)

    def send_task_success(self, **kwargs):
        return self._race(self.sfn.send_task_success, **kwargs)

    def send_task_failure(self, **kwargs):
        return self._race(self.sfn.send_task_failure, **kwargs)


def test_a_decision_that_loses_the_race_is_refused_with_a_token(sandbox, clients, gate):
    sfn, _sns = clients
    arn = approval.request(sfn, gate, "t-%s" % uuid.uuid4().hex[:8])[1]["execution_arn"]
    bob = ConcurrentApprover(sfn, lambda token: sfn.send_task_failure(taskToken=token, error="Rejected", cause="bob under CHG-9"))
    # Our SendTaskSuccess meets a token the execution no longer waits on (InvalidToken): a GuardError, not an aws_error.
    assert reason(approval.decide, bob, arn, True, "alice", "CHG-1") == "approval_already_decided"
    assert sfn.describe_execution(executionArn=arn)["status"] == "FAILED"
    # The same decision landing first (the same approver twice, e.g. AWX and a terminal) is no change.
    other = approval.request(sfn, gate, "t-%s" % uuid.uuid4().hex[:8])[1]["execution_arn"]
    same = json.dumps({"approver": "alice", "ticket": "CHG-1", "approved_at": "2026-01-01T00:00:00Z"})
    alice = ConcurrentApprover(sfn, lambda token: sfn.send_task_success(taskToken=token, output=same))
    changed, decided = approval.decide(alice, other, True, "alice", "CHG-1")
    assert not changed and decided["decision"] == "approved"
    assert json.loads(sfn.describe_execution(executionArn=other)["output"])["approval"]["approved_at"] == "2026-01-01T00:00:00Z"
