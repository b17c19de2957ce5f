"""The containment toggles' pure planning (runbooks/containment/): what each move would do, decided from state
alone -- no AWS, no sandbox. The moves against the sandbox are in tests/integration/test_containment_toggles.py."""

import datetime
import json

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.containment import backpressure, model_pin, queue, rollback
from ansible_collections.signalcraft.ops.plugins.module_utils.services import app_autoscaling, ssm, sqs

T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)


def reason(callable_, *args, **kwargs):
    with pytest.raises(OpsError) as info:
        callable_(*args, **kwargs)
    return info.value.reason


def parameter(value, version=1, labels=(), name="/author/prod/ingestion/backpressure"):
    return {"name": name, "type": "String", "value": value, "version": version, "labels": list(labels),
            "last_modified": T0 + datetime.timedelta(minutes=version), "arn": "arn:aws:ssm:us-east-1:1:parameter" + name}


# -- names ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,token", [
    ("/author/prod/ingestion/backpressure", None),
    ("backpressure", None),
    ("author/prod/flag", "invalid_input"),          # a hierarchy starts with /
    ("/aws/reserved", "invalid_input"),
    ("/ssm-thing/x", "invalid_input"),
    ("/a b/c", "invalid_input"),
    ("/a//b", "invalid_input"),
    ("/" + "/".join("l%d" % i for i in range(16)), "invalid_input"),  # 16 levels
    ("REPLACE_WITH_PROD_BACKPRESSURE_PARAMETER", "inventory_placeholder"),
])
def test_parameter_names_follow_parameter_store_rules(name, token):
    if token is None:
        assert ssm.validate_name(name, "x") == name
    else:
        assert reason(ssm.validate_name, name, "x") == token


@pytest.mark.parametrize("name,token", [
    ("author-prod-ingestion", None), ("orders.fifo", None), ("a" * 80, None),
    ("a" * 81, "invalid_input"), ("has space", "invalid_input"), ("dots.in.name", "invalid_input"),
    ("REPLACE_WITH_PROD_INGESTION_QUEUE", "inventory_placeholder"),
])
def test_queue_names_follow_sqs_rules(name, token):
    if token is None:
        assert sqs.validate_name(name, "x") == name
    else:
        assert reason(sqs.validate_name, name, "x") == token


def test_task_definition_secrets_reference_a_parameter_by_name_or_arn():
    name = "/author/prod/detector/DETECTOR_MODEL_VERSION"
    assert ssm.references(name, name)
    assert ssm.references("arn:aws:ssm:eu-west-1:123456789012:parameter/author/prod/detector/DETECTOR_MODEL_VERSION", name)
    assert not ssm.references("arn:aws:ssm:eu-west-1:123456789012:parameter/author/prod/detector/OTHER", name)
    assert not ssm.references("arn:aws:secretsmanager:eu-west-1:123456789012:secret:author/prod/detector/DETECTOR_MODEL_VERSION", name)
    definition = {"containerDefinitions": [
        {"name": "worker", "secrets": [{"name": "DETECTOR_MODEL_VERSION", "valueFrom": name}, {"name": "K", "valueFrom": "arn:x"}]},
        {"name": "sidecar"}]}
    assert model_pin.reads_parameter(definition, name) == [("worker", "DETECTOR_MODEL_VERSION")]


# -- backpressure --------------------------------------------------------------------------------

def test_backpressure_enable_disable_and_already_there():
    plan = backpressure.plan_apply(parameter("off"), "enabled", "on", "off")
    assert (plan["changed"], plan["value"], plan["before"], plan["after"]) == (True, "on", {"value": "off"}, {"value": "on"})
    assert backpressure.plan_apply(parameter("on"), "enabled", "on", "off")["changed"] is False
    assert backpressure.plan_apply(parameter("on"), "disabled", "on", "off")["value"] == "off"
    # What the gateway reads is the inventory's business: true/false works the same way.
    assert backpressure.plan_apply(parameter("false"), "enabled", "true", "false")["value"] == "true"


def test_backpressure_refuses_a_value_the_gateway_may_read_otherwise_and_equal_values():
    assert reason(backpressure.plan_apply, parameter("ON"), "enabled", "on", "off") == "parameter_value_unexpected"
    assert reason(backpressure.plan_apply, parameter("on"), "enabled", "on", "on") == "invalid_input"
    assert reason(backpressure.plan_apply, parameter("on"), "enabled", "", "off") == "invalid_input"


def test_backpressure_rollback_restores_only_what_the_run_changed():
    recorded = {"previous_value": "off", "value": "on"}
    plan = backpressure.plan_rollback(parameter("on", 2), recorded)
    assert (plan["action"], plan["changed"], plan["value"]) == ("rollback", True, "off")
    assert backpressure.plan_rollback(parameter("off", 3), recorded)["changed"] is False  # already restored
    # A value nobody recorded: someone changed the flag since; leave it alone.
    assert reason(backpressure.plan_rollback, parameter("maybe", 3), recorded) == "rollback_drifted"


# -- rollback receipts ---------------------------------------------------------------------------

def receipt(phase="backpressure", status="success", outputs=None, operation="containment"):
    return receipts.build(operation, phase, status, "incident-1", T0, outputs=outputs or {},
                          failure_code="confirmation_missing" if status == "failed" else None)


def test_a_rollback_accepts_only_a_successful_apply_of_the_same_move_on_the_same_target():
    outputs = {"action": "apply", "parameter": "/p", "previous_value": "off", "value": "on"}
    assert rollback.recorded_outputs(receipt(outputs=outputs), "backpressure", {"parameter": "/p"}) == outputs
    for bad in (receipt(phase="model_pin", outputs=outputs), receipt(status="failed", outputs=outputs),
                receipt(outputs=dict(outputs, action="rollback")), receipt(operation="deploy", outputs=outputs)):
        assert reason(rollback.recorded_outputs, bad, "backpressure", {"parameter": "/p"}) == "rollback_receipt_mismatch"
    assert reason(rollback.recorded_outputs, receipt(outputs=outputs), "backpressure", {"parameter": "/q"}) == "rollback_receipt_mismatch"
    purge = receipt(phase="queue", outputs={"action": "purge", "queue": "q"})
    with pytest.raises(OpsError) as info:
        rollback.recorded_outputs(purge, "queue", {"queue": "q"}, actions=queue.CONSUMER_ACTIONS)
    assert "purge, which has no rollback" in info.value.message


def test_the_rollback_receipt_is_read_locally_first_then_missing_is_named(tmp_path):
    document = receipt(outputs={"action": "apply", "parameter": "/p"})
    (tmp_path / "incident-1").mkdir()
    (tmp_path / "incident-1" / "backpressure.json").write_bytes(receipts.serialize(document))
    found, where = rollback.find_receipt("incident-1", "backpressure", str(tmp_path))
    assert found == document and where == str(tmp_path / "incident-1" / "backpressure.json")
    with pytest.raises(OpsError) as info:
        rollback.find_receipt("incident-2", "backpressure", str(tmp_path))
    assert info.value.reason == "rollback_receipt_not_found" and "incident-2" in info.value.message
    (tmp_path / "incident-1" / "queue.json").write_text(json.dumps({"not": "a receipt"}))
    assert reason(rollback.find_receipt, "incident-1", "queue", str(tmp_path)) == "receipt_invalid"


def test_the_rollback_execution_id_is_checked():
    assert rollback.validate_rollback_of("incident-1", "containment-20260101T000000Z") == "incident-1"
    assert reason(rollback.validate_rollback_of, "../etc", "x") == "invalid_input"
    assert reason(rollback.validate_rollback_of, "incident-1", "incident-1") == "invalid_input"


# -- queue ---------------------------------------------------------------------------------------

def service(desired, running=None, name="workers"):
    return {"service_name": name, "status": "ACTIVE", "desired_count": desired,
            "running_count": desired if running is None else running, "pending_count": 0}


def target(**suspended):
    state = dict((key, False) for key in app_autoscaling.SUSPENDED_KEYS)
    state.update(suspended)
    return {"resource_id": "service/c/workers", "min_capacity": 1, "max_capacity": 10, "suspended": state}


def test_stop_and_throttle_lower_the_desired_count_and_are_idempotent():
    stop = queue.plan_consumers("stop", service(4))
    assert (stop["changed"], stop["desired_count"], stop["previous_desired_count"]) == (True, 0, 4)
    assert queue.plan_consumers("stop", service(0))["changed"] is False
    throttle = queue.plan_consumers("throttle", service(4), desired_count=1)
    assert (throttle["changed"], throttle["desired_count"]) == (True, 1)
    assert queue.plan_consumers("throttle", service(1), desired_count=1)["changed"] is False  # the second run


def test_a_throttle_never_scales_up_and_needs_its_count():
    assert reason(queue.plan_consumers, "throttle", service(2), desired_count=5) == "throttle_not_lower"
    assert reason(queue.plan_consumers, "throttle", service(2)) == "invalid_input"
    assert reason(queue.plan_consumers, "throttle", service(2), desired_count=-1) == "invalid_desired_count"


def test_stopping_consumers_suspends_auto_scaling_that_would_scale_them_out_again():
    plan = queue.plan_consumers("stop", service(3), target=target())
    assert plan["autoscaling"]["changed"] and plan["autoscaling"]["after"] == app_autoscaling.ALL_SUSPENDED
    assert plan["before"]["autoscaling_suspended"]["DynamicScalingOutSuspended"] is False
    already = queue.plan_consumers("stop", service(0), target=target(**app_autoscaling.ALL_SUSPENDED))
    assert already["changed"] is False
    left = queue.plan_consumers("stop", service(3), target=target(), suspend_autoscaling=False)
    assert left["autoscaling"] is None and "scale the consumers back out" in left["warning"]


def test_a_queue_rollback_restores_the_count_then_the_scaling_it_found():
    recorded = {"previous_desired_count": 3, "desired_count": 0,
                "autoscaling": {"resource_id": "service/c/workers", "before": target()["suspended"],
                                "after": app_autoscaling.ALL_SUSPENDED, "changed": True}}
    plan = queue.plan_rollback(service(0), target(**app_autoscaling.ALL_SUSPENDED), recorded)
    assert (plan["changed"], plan["scale_changed"], plan["desired_count"]) == (True, True, 3)
    assert plan["autoscaling"]["after"] == target()["suspended"]
    done = queue.plan_rollback(service(3), target(), recorded)
    assert done["changed"] is False
    assert reason(queue.plan_rollback, service(5), target(), recorded) == "rollback_drifted"
    assert reason(queue.plan_rollback, service(0), None, recorded) == "rollback_drifted"
    assert reason(queue.plan_rollback, service(0), target(**app_autoscaling.ALL_SUSPENDED), recorded,
                  max_desired_count=2) == "desired_count_above_max"


def test_a_purge_is_confirmed_twice_and_skips_an_empty_queue():
    assert queue.expected_confirmation("purge", "q", "workers") == "q" and queue.purge_phrase("q") == "PURGE-q"
    assert queue.expected_confirmation("stop", "q", "workers") == "workers"
    assert queue.expected_confirmation("rollback", "q", "workers") == "workers"
    assert queue.expected_confirmation("report", "q", "workers") is None
    assert queue.plan_purge({"total": 0})["changed"] is False
    assert queue.plan_purge({"total": 7}) == {"action": "purge", "changed": True, "before": {"messages": 7}, "after": {"messages": 0}}


def test_a_scalable_target_id_is_the_service_path():
    assert app_autoscaling.resource_id("arn:aws:ecs:us-east-1:1:cluster/author", "author-workers") == "service/author/author-workers"


# -- model pin -----------------------------------------------------------------------------------

MODEL = "/author/prod/detector/DETECTOR_MODEL_VERSION"


def model(value, version, labels=()):
    return parameter(value, version, labels, name=MODEL)


def test_the_previous_model_is_the_newest_earlier_value_that_differs():
    history = [model("m1", 1), model("m2", 2), model("m2", 3), model("m3", 4)]
    plan = model_pin.plan_apply(history[-1], history)
    assert (plan["changed"], plan["value"], plan["source"]) == (True, "m2", {"kind": "history", "version": 3})
    # A redeploy that wrote the same value again does not count as a model.
    history = [model("m1", 1), model("m2", 2), model("m2", 3)]
    assert model_pin.plan_apply(history[-1], history)["value"] == "m1"


def test_a_second_pin_finds_its_label_and_does_not_step_back_again():
    history = [model("m1", 1), model("m2", 2), model("m1", 3, labels=[model_pin.PIN_LABEL])]
    # GetParameter's answer has no labels: the history's entry for the current version does.
    plan = model_pin.plan_apply(model("m1", 3), history)
    assert (plan["changed"], plan["value"], plan["source"]["kind"]) == (False, "m1", "pinned")


def test_an_explicit_version_must_be_one_the_parameter_has_held():
    history = [model("m1", 1), model("m2", 2)]
    assert model_pin.plan_apply(history[-1], history, version="m1")["value"] == "m1"
    assert model_pin.plan_apply(history[-1], history, version="m2")["changed"] is False
    assert reason(model_pin.plan_apply, history[-1], history, version="m9") == "model_version_unknown"
    assert reason(model_pin.plan_apply, model("m1", 1), [model("m1", 1)]) == "no_previous_model_version"


def test_a_pin_rollback_repins_the_old_value_and_takes_its_label_off():
    history = [model("m1", 1), model("m2", 2), model("m1", 3, labels=[model_pin.PIN_LABEL])]
    recorded = {"previous_value": "m2", "value": "m1", "labelled_version": 3}
    plan = model_pin.plan_rollback(history[-1], history, recorded)
    assert (plan["changed"], plan["write"], plan["value"], plan["unlabel_version"]) == (True, True, "m2", 3)
    after = [model("m1", 1), model("m2", 2), model("m1", 3), model("m2", 4)]
    assert model_pin.plan_rollback(after[-1], after, recorded)["changed"] is False
    assert reason(model_pin.plan_rollback, model("m7", 5), history, recorded) == "rollback_drifted"
    # A pin that found its label already in place labelled nothing, so its rollback unlabels nothing.
    noop = {"previous_value": "m1", "value": "m1", "labelled_version": None}
    assert model_pin.plan_rollback(history[-1], history, noop)["changed"] is False


def test_a_redeploy_is_needed_until_a_deployment_started_after_the_parameter_changed():
    changed_at = T0
    before = {"deployments": [{"status": "PRIMARY", "createdAt": T0 - datetime.timedelta(hours=1)}]}
    after = {"deployments": [{"status": "PRIMARY", "createdAt": T0 + datetime.timedelta(seconds=5)},
                             {"status": "ACTIVE", "createdAt": T0 - datetime.timedelta(hours=1)}]}
    assert model_pin.redeploy_needed(True, changed_at, after) is True        # the run wrote
    assert model_pin.redeploy_needed(False, changed_at, before) is True      # tasks may predate the value
    assert model_pin.redeploy_needed(False, changed_at, after) is False      # a later deployment runs it
    assert model_pin.redeploy_needed(False, changed_at, {"deployments": []}) is True
