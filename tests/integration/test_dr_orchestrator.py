"""The DR orchestrator on the sandbox: deployed (triggers disabled), executed by moto's Step Functions up to its
approval wait, shown by dr_status.yml, refused by dr_approve.yml for a wrong account, approved, and run to completion,
with the state machine's own receipts in S3. Everything is read back from the sandbox."""

import json
import time
import uuid

ORCHESTRATOR = "signalcraft-dr-orchestrator"
RULE = "signalcraft-dr-orchestrator-schedule"
ALARM = "signalcraft-dr-orchestrator-failed"
ACTIONS = ("bringup", "restore", "validate", "promote", "teardown")


def last_seq(sandbox):
    entries = sandbox.control("aws", "requests?limit=1") or []
    entries = entries.get("requests", entries) if isinstance(entries, dict) else entries
    return entries[-1]["seq"] if entries else 0


def requests_since(sandbox, seq, operation):
    entries = sandbox.control("aws", "requests?operation=%s" % operation) or []
    entries = entries.get("requests", entries) if isinstance(entries, dict) else entries
    return [e for e in entries if e["seq"] > seq]


def machine_arn(sandbox):
    sfn = sandbox.boto3_client("stepfunctions")
    return next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == ORCHESTRATOR)


def wait_for(predicate, timeout=90, interval=0.5):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() > deadline:
            return value
        time.sleep(interval)


def waiting_for_approval(sfn, arn):
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]
    scheduled = [e for e in events if e["type"] == "TaskScheduled" and "TaskToken" in e["taskScheduledEventDetails"].get("parameters", "")]
    return bool(entered) and entered[-1] == "approval" and bool(scheduled)


def test_orchestrator_deploys_disabled_runs_to_its_approval_and_completes_when_approved(sandbox, run_playbook):
    # Deploy: definition, rule DISABLED, alarm actions off -- read back from the sandbox.
    run = run_playbook("dr_orchestrator.yml")
    assert run.rc == 0, run.stdout
    assert "deploy status=ok state_machine=%s changed=yes triggers=disabled" % ORCHESTRATOR in run.stdout, run.stdout
    sfn, events, cloudwatch, s3 = (sandbox.boto3_client(s) for s in ("stepfunctions", "events", "cloudwatch", "s3"))
    arn = machine_arn(sandbox)
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
    assert definition["StartAt"] == "bringup"
    assert definition["States"]["approval"]["Resource"] == "arn:aws:states:::sns:publish.waitForTaskToken"
    assert definition["States"]["restore"]["Resource"] == "arn:aws:states:::ecs:runTask.sync"
    rule = events.describe_rule(Name=RULE)
    assert rule["State"] == "DISABLED"
    assert [t["Arn"] for t in events.list_targets_by_rule(Rule=RULE)["Targets"]] == [arn]
    alarm = cloudwatch.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]
    assert alarm["ActionsEnabled"] is False and alarm["MetricName"] == "ExecutionsFailed"

    # A second deploy changes nothing (and writes nothing but its receipt).
    mark = last_seq(sandbox)
    again = run_playbook("dr_orchestrator.yml")
    assert again.rc == 0 and "changed=no triggers=disabled" in again.stdout, again.stdout
    for operation in ("UpdateStateMachine", "CreateStateMachine", "PutRule", "PutTargets", "PutMetricAlarm"):
        assert requests_since(sandbox, mark, operation) == [], operation

    # Start an execution; moto runs it (ECS tasks through the layer, receipts by aws-sdk:s3) up to the task token.
    name = "orch-%s" % uuid.uuid4().hex[:8]
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input="{}")["executionArn"]
    assert wait_for(lambda: waiting_for_approval(sfn, execution)), sfn.get_execution_history(executionArn=execution)["events"][-3:]
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"

    status = run_playbook("dr_status.yml")
    assert status.rc == 0, status.stdout
    # (the output callback folds long lines: compared with the whitespace collapsed)
    text = " ".join(status.stdout.split())
    assert "status status=ok orchestrator=deployed" in text and "waiting=%s waiting_phase=approval" % name in text, status.stdout

    # A wrong expected account: refused before any Step Functions call; the execution still waits.
    mark = last_seq(sandbox)
    refused = run_playbook("dr_approve.yml", extravars={"execution_arn": execution, "approver": "alice", "ticket": "CHG-9",
                                                        "expected_account_id": "999999999999"})
    assert refused.rc != 0 and "reason=account_mismatch" in refused.stdout, refused.stdout
    assert requests_since(sandbox, mark, "SendTaskSuccess") == []
    assert requests_since(sandbox, mark, "GetExecutionHistory") == []
    assert waiting_for_approval(sfn, execution)

    # The right account: approved; promote and teardown run; the execution succeeds.
    approved = run_playbook("dr_approve.yml", extravars={"execution_arn": execution, "approver": "alice", "ticket": "CHG-9",
                                                         "expected_account_id": sandbox["SANDBOX_ACCOUNT_ID"]})
    assert approved.rc == 0 and "approve status=ok decision=approved" in approved.stdout, approved.stdout
    assert len(requests_since(sandbox, mark, "SendTaskSuccess")) == 1
    done = wait_for(lambda: sfn.describe_execution(executionArn=execution)["status"] != "RUNNING" and sfn.describe_execution(executionArn=execution))
    assert done["status"] == "SUCCEEDED", sfn.get_execution_history(executionArn=execution)["events"][-3:]
    assert json.loads(done["output"])["approval"]["approver"] == "alice"

    # The state machine's own receipts, one per phase, under the execution's name.
    bucket = sandbox["SANDBOX_RECEIPT_BUCKET"]
    for phase in ACTIONS:
        receipt = json.loads(s3.get_object(Bucket=bucket, Key="receipts/%s/ecs-%s.json" % (name, phase))["Body"].read())
        assert (receipt["phase"], receipt["status"], receipt["exit_code"], receipt["execution_id"]) == (phase, "success", 0, name)
        assert ":task/" in receipt["task_arn"]
    decision = json.loads(s3.get_object(Bucket=bucket, Key="receipts/%s/approval.json" % name)["Body"].read())
    assert decision["status"] == "success" and decision["approval"]["ticket"] == "CHG-9"
    # dr_approve's own receipt sits beside them (execution id = the execution's name).
    assert json.loads(s3.get_object(Bucket=bucket, Key="receipts/%s/approve.json" % name)["Body"].read())["status"] == "success"

    # Approving again changes nothing.
    repeat = run_playbook("dr_approve.yml", extravars={"execution_arn": execution, "approver": "alice", "ticket": "CHG-9"})
    assert repeat.rc == 0 and "decision=approved" in repeat.stdout, repeat.stdout


PROMOTE_ONLY = """
- name: The drill's promote phase as the orchestrator's promote action runs it
  hosts: localhost
  gather_facts: false
  roles:
    - role: signalcraft.ops.dr_promote
"""


def test_promote_under_the_orchestrator_reads_its_approval_instead_of_asking_again(sandbox, run_playbook, tmp_path):
    """The orchestrator's promote action passes -e dr_promote_execution_arn: promote reads that execution's decision from
    its history (no second gate), moves the canonical pointer when it was approved and refuses while it is pending."""
    run = run_playbook("dr_orchestrator.yml")
    assert run.rc == 0, run.stdout
    sfn, s3 = sandbox.boto3_client("stepfunctions"), sandbox.boto3_client("s3")
    arn = machine_arn(sandbox)
    playbook = tmp_path / "promote.yml"
    playbook.write_text(PROMOTE_ONLY)
    pointer_key = "promote-%s/dr/canonical.json" % uuid.uuid4().hex[:8]
    common = {"dr_promote_keep_suspended": True, "dr_promote_pointer_key": pointer_key,
              "dr_promote_kubeconfig": sandbox["SANDBOX_DR_KUBECONFIG"], "dr_promote_namespace": "jobintel"}
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]

    # Still waiting for its approval: promote refuses and writes no pointer; no gate execution is started either.
    name = "orch-p-%s" % uuid.uuid4().hex[:8]
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input="{}")["executionArn"]
    assert wait_for(lambda: waiting_for_approval(sfn, execution))
    mark = last_seq(sandbox)
    pending = run_playbook(str(playbook), dict(common, dr_promote_run_id=name, dr_promote_execution_arn=execution))
    assert pending.rc != 0 and "promote status=fail reason=approval_pending" in " ".join(pending.stdout.split()), pending.stdout
    assert s3.list_objects_v2(Bucket=bucket, Prefix=pointer_key).get("KeyCount", 0) == 0
    assert requests_since(sandbox, mark, "StartExecution") == []
    assert [e for e in requests_since(sandbox, mark, "PutObject") if e.get("bucket") == bucket] == []  # receipts only

    approved = run_playbook("dr_approve.yml", extravars={"execution_arn": execution, "approver": "alice", "ticket": "CHG-11"})
    assert approved.rc == 0, approved.stdout
    done = run_playbook(str(playbook), dict(common, dr_promote_run_id=name, dr_promote_execution_arn=execution))
    assert done.rc == 0, done.stdout
    pointer = json.loads(s3.get_object(Bucket=bucket, Key=pointer_key)["Body"].read())
    assert json.dumps(pointer).count(execution) >= 1 and "alice" in json.dumps(pointer) and "CHG-11" in json.dumps(pointer), pointer
    assert wait_for(lambda: sfn.describe_execution(executionArn=execution)["status"] != "RUNNING")
