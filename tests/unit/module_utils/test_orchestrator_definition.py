"""The orchestrator's ASL rendering and checks, and the status derived from an execution's history (pure functions)."""

import copy
import json

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import approval, orchestrator

SETTINGS = dict(cluster="jobintel", task_definition="signalcraft-ee", container_name="ee", subnets=["subnet-1"], security_groups=["sg-1"],
                inventory="inventories/prod", receipts_bucket="receipts", receipts_prefix="receipts",
                notification_topic_arn="arn:aws:sns:us-east-1:111122223333:approvals", approval_timeout_seconds=3600,
                action_timeout_seconds=600)


def render(**changes):
    return orchestrator.render_definition(dict(SETTINGS, **changes))


def test_phases_in_order_with_the_approval_wait_between_validate_and_promote():
    states = render()["States"]
    assert render()["StartAt"] == "bringup"
    assert states["bringup-outcome"]["Choices"][0]["Next"] == "restore"
    assert states["validate-outcome"]["Choices"][0]["Next"] == "approval"
    assert states["approval-outcome"]["Choices"][0]["Next"] == "promote"
    assert states["promote-outcome"]["Choices"][0]["Next"] == "teardown"
    assert states["teardown-outcome"]["Choices"][0]["Next"] == "finished"
    assert states["approval"]["Resource"] == "arn:aws:states:::sns:publish.waitForTaskToken"
    assert states["approval"]["Parameters"]["Message"]["TaskToken.$"] == "$$.Task.Token"


def test_each_action_runs_the_drill_for_one_phase_as_an_ecs_task():
    state = render()["States"]["restore"]
    assert state["Resource"] == "arn:aws:states:::ecs:runTask.sync"
    override = state["Parameters"]["Overrides"]["ContainerOverrides"][0]
    assert override["Name"] == "ee"
    assert override["Command.$"] == ("States.Array('ansible-playbook', '-i', 'inventories/prod', 'playbooks/dr_drill.yml', '-e', "
                                     "'start_at=restore', '-e', 'stop_after=restore', '-e', States.Format('run_id={}', $$.Execution.Name))")
    network = state["Parameters"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network == {"Subnets": ["subnet-1"], "SecurityGroups": ["sg-1"], "AssignPublicIp": "DISABLED"}
    # Promote gets the execution's ARN: its approval was this state machine's task token, not the drill's own gate.
    promote = render()["States"]["promote"]["Parameters"]["Overrides"]["ContainerOverrides"][0]["Command.$"]
    assert promote.endswith("'-e', States.Format('run_id={}', $$.Execution.Name), '-e', "
                            "States.Format('dr_promote_execution_arn={}', $$.Execution.Id))")


def test_exit_code_is_checked_for_presence_before_it_is_read():
    """runTask.sync succeeds whatever the exit code; a missing path would be an uncatchable States.Runtime."""
    choices = render()["States"]["validate-exited"]["Choices"]
    assert render()["States"]["validate-container"]["InputPath"] == "$.actions.validate.containers[0]"
    assert choices[0] == {"Not": {"Variable": "$.actions.validate.container.ExitCode", "IsPresent": True}, "Next": "validate-receipt-no-exit"}
    assert choices[1]["NumericEquals"] == 0 and choices[1]["Next"] == "validate-receipt"


def test_receipts_are_written_per_phase_under_the_execution_name():
    states = render()["States"]
    put = states["promote-put"]
    assert put["Resource"] == "arn:aws:states:::aws-sdk:s3:putObject"
    assert put["Parameters"]["Key.$"] == "States.Format('receipts/{}/ecs-promote.json', $$.Execution.Name)"
    assert put["Parameters"]["Body.$"] == "States.JsonToString($.receipts.promote)"
    assert states["approval-put"]["Parameters"]["Key.$"] == "States.Format('receipts/{}/approval.json', $$.Execution.Name)"
    assert orchestrator.receipt_key("", "x", "bringup") == "x/ecs-bringup.json"


def test_failures_tear_down_then_fail_unless_held():
    states = render()["States"]
    assert states["restore-outcome"]["Default"] == "restore-failed"
    assert states["restore-failed"]["Next"] == "teardown"
    assert states["teardown-outcome"]["Default"] == "failed"
    assert states["finished"]["Choices"][0] == {"Variable": "$.failed_phase", "IsPresent": True, "Next": "failed"}
    held = render(teardown_on_failure=False)["States"]
    assert held["restore-failed"]["Next"] == "failed"


def test_rendering_is_deterministic():
    assert json.dumps(render(), sort_keys=True) == json.dumps(render(), sort_keys=True)


@pytest.mark.parametrize("changes,token,needle", [
    (dict(cluster=""), "invalid_input", "dr_orchestrator_cluster"),
    (dict(subnets=[]), "network_config_missing", "dr_orchestrator_subnets"),
    (dict(receipts_prefix="a'{}"), "invalid_prefix", "signalcraft_receipt_prefix"),
    (dict(approval_timeout_seconds=0), "invalid_input", "dr_orchestrator_approval_timeout_seconds"),
])
def test_bad_settings_name_the_variable(changes, token, needle):
    with pytest.raises(OpsError) as caught:
        render(**changes)
    assert caught.value.reason == token and needle in str(caught.value)


def broken(mutate):
    definition = copy.deepcopy(render())
    mutate(definition["States"])
    with pytest.raises(OpsError) as caught:
        orchestrator.validate_definition(definition)
    assert caught.value.reason == "orchestrator_definition_invalid"
    return str(caught.value)


def test_validation_refuses_what_step_functions_refuses():
    assert "unknown state" in broken(lambda s: s["bringup"].update(Next="nowhere"))
    assert "States.ALL" in broken(lambda s: s["bringup"]["Catch"].insert(0, {"ErrorEquals": ["States.ALL"], "Next": "failed"}))
    assert "$$.Task.Token" in broken(lambda s: s["approval"]["Parameters"]["Message"].pop("TaskToken.$"))
    assert "RunTask does not take" in broken(lambda s: s["bringup"]["Parameters"].update(Bogus=1))
    assert "not reachable" in broken(lambda s: s.update(orphan={"Type": "Succeed"}))
    assert "JsonPath" in broken(lambda s: s["bringup-receipt"]["Parameters"].update({"x.$": "literal"}))
    assert "exactly one comparison" in broken(lambda s: s["finished"]["Choices"][0].pop("IsPresent"))


def event(id_, kind, **details):
    entry = {"id": id_, "type": kind}
    entry.update(details)
    return entry


def entered(id_, name):
    return event(id_, "TaskStateEntered", stateEnteredEventDetails={"name": name})


def scheduled(id_, params):
    return event(id_, "TaskScheduled", taskScheduledEventDetails={"parameters": json.dumps(params)})


def history_until_approval():
    return [event(1, "ExecutionStarted"), entered(2, "bringup"), scheduled(3, {"Cluster": "c"}),
            event(4, "TaskSucceeded", taskSucceededEventDetails={"output": "{}"}), entered(5, "bringup-receipt"),
            entered(6, "restore"), entered(7, "restore-receipt"), entered(8, "validate"), entered(9, "validate-receipt"),
            entered(10, "approval"), scheduled(11, {"Message": {"TaskToken": "tok-1"}})]


def test_status_waiting_at_approval():
    state = orchestrator.execution_state(list(reversed(history_until_approval())))
    assert state["phase"] == "approval" and state["waiting_for_approval"] is True and state["decision"] == "pending"
    assert state["phases"] == {"bringup": "succeeded", "restore": "succeeded", "validate": "succeeded", "approval": "running"}
    assert approval.pending_token_from(history_until_approval()) == "tok-1"


def test_status_after_approval_runs_on_and_is_approved():
    events = history_until_approval() + [
        event(12, "TaskSucceeded", taskSucceededEventDetails={"output": json.dumps({"approver": "alice", "ticket": "CHG-1"})}),
        entered(13, "approval-receipt"), entered(14, "promote"), scheduled(15, {"Cluster": "c"})]
    state = orchestrator.execution_state(events)
    assert (state["phase"], state["waiting_for_approval"], state["decision"]) == ("promote", False, "approved")
    assert approval.token_decision(events) == ("approved", {"approver": "alice", "ticket": "CHG-1"})


def test_status_rejected_and_failed_phase():
    events = history_until_approval() + [event(12, "TaskFailed"), entered(13, "approval-receipt-rejected"), entered(14, "approval-failed"),
                                         entered(15, "teardown")]
    state = orchestrator.execution_state(events)
    assert (state["decision"], state["failed_phase"], state["phase"]) == ("rejected", "approval", "teardown")
    assert approval.token_decision(events) == ("rejected", {})


def test_no_token_before_the_approval():
    assert approval.token_decision(history_until_approval()[:5]) == (None, {})
    assert orchestrator.execution_state(history_until_approval()[:5])["waiting_for_approval"] is False
