"""The containment toggles against the sandbox (runbook 003): backpressure, queue drain/throttle, model pin.

Each test creates its own SSM parameter / queue / ECS service (unique names) and, for every move: a
refusal on a missing or wrong confirmation with nothing written, check mode writing nothing, the apply
read back from SSM/ECS/SQS/Application Auto Scaling with boto3, a second apply changing nothing, and the
rollback restoring exactly the state the apply found. "Nothing written" is the sandbox's request log:
no write request at all, except the receipt a refused run uploads to the receipt bucket.
"""

import json
import os
import shutil
import uuid

import jsonschema

from tests.conftest import REPO_ROOT
from tests.integration.test_guard_matrix import aws_writes_since, last_seq

with open(os.path.join(REPO_ROOT, "schemas", "receipt.v1.schema.json")) as _handle:
    RECEIPT_SCHEMA = json.load(_handle)
PIN_LABEL = "containment-pinned"


def read_receipt(root, execution_id, phase):
    with open(os.path.join(str(root), execution_id, "%s.json" % phase)) as handle:
        document = json.load(handle)
    jsonschema.validate(document, RECEIPT_SCHEMA)
    return document


def writes_besides_receipts(sandbox, seq):
    """Write requests since ``seq`` other than receipt uploads (a refusal's receipt is uploaded too)."""
    return [w for w in aws_writes_since(sandbox, seq) if w[2] != sandbox["SANDBOX_RECEIPT_BUCKET"]]


def recap_changed(run):
    return int(run.stdout.split("PLAY RECAP")[-1].split("changed=")[1].split()[0])


def line(run):
    """The run's output with whitespace collapsed (the YAML callback folds long status lines)."""
    return " ".join(run.stdout.split())


# -- backpressure --------------------------------------------------------------------------------

def test_backpressure_toggle_confirmation_check_idempotence_and_rollback(sandbox, run_playbook, tmp_path):
    ssm = sandbox.boto3_client("ssm")
    name = "/it-%s/ingestion/backpressure" % uuid.uuid4().hex[:8]
    ssm.put_parameter(Name=name, Value="off", Type="String", Description="gateway backpressure flag")
    root = tmp_path / "receipts"

    def run(execution_id, confirm=None, check=False, **extra):
        extravars = dict({"containment_backpressure_parameter": name, "signalcraft_receipt_root": str(root),
                          "signalcraft_execution_id": execution_id}, **extra)
        if confirm is not None:
            extravars["containment_confirm"] = confirm
        return run_playbook("containment_backpressure.yml", extravars, check=check)

    def state():
        parameter = ssm.get_parameter(Name=name)["Parameter"]
        return parameter["Value"], parameter["Version"]

    # Refused without the confirmation and with a wrong one: not one SSM request, nothing written.
    for execution_id, confirm in (("bp-none", None), ("bp-typo", name + "x")):
        mark = last_seq(sandbox)
        refused = run(execution_id, confirm=confirm)
        assert refused.rc != 0 and "backpressure status=fail reason=confirmation_missing" in line(refused)
        assert [e for e in sandbox.control("aws", "requests?service=ssm") if e["seq"] > mark] == []
        assert writes_besides_receipts(sandbox, mark) == [] and state() == ("off", 1)
        refusal = read_receipt(root, execution_id, "backpressure")
        assert refusal["failure_code"] == "confirmation_missing" and refusal["inputs"]["confirmed"] is False

    # Check mode: the plan and the diff, no write, no receipt, no confirmation needed.
    mark = last_seq(sandbox)
    plan = run("bp-plan", check=True)
    assert plan.rc == 0, plan.stdout
    assert "backpressure status=planned action=apply value=on previous=off" in line(plan)
    assert aws_writes_since(sandbox, mark) == [] and state() == ("off", 1) and not (root / "bp-plan").exists()

    # Enable: one new version, read back; the receipt records what it found.
    mark_apply = last_seq(sandbox)
    on = run("bp-on", confirm=name)
    assert on.rc == 0, on.stdout
    assert "backpressure status=ok action=apply value=on previous=off version=2 execution_id=bp-on" in line(on)
    assert state() == ("on", 2)
    receipt = read_receipt(root, "bp-on", "backpressure")
    assert receipt["changed"] is True and receipt["outputs"]["previous_value"] == "off" and receipt["inputs"]["confirmed"] is True
    # Exactly one PutParameter: no second write for the same value.
    puts = [e for e in sandbox.control("aws", "requests?service=ssm&operation=PutParameter") if e["seq"] > mark_apply]
    assert len(puts) == 1

    # Again: changed=false and no PutParameter (Parameter Store would add a version for the same value).
    mark = last_seq(sandbox)
    again = run("bp-again", confirm=name)
    assert again.rc == 0 and recap_changed(again) == 0 and state() == ("on", 2)
    assert writes_besides_receipts(sandbox, mark) == []

    # The rollback reads bp-on's receipt; with the local copy gone (a new AWX container) from the receipt bucket.
    shutil.rmtree(str(root / "bp-on"))
    refused = run("bp-back-refused", confirm="nope", containment_rollback_of="bp-on")
    assert refused.rc != 0 and "reason=confirmation_missing" in line(refused) and state() == ("on", 2)
    mark = last_seq(sandbox)
    plan = run("bp-back-plan", check=True, containment_rollback_of="bp-on")
    assert "backpressure status=planned action=rollback value=off previous=on" in line(plan)
    assert aws_writes_since(sandbox, mark) == [] and state() == ("on", 2)
    back = run("bp-back", confirm=name, containment_rollback_of="bp-on")
    assert back.rc == 0, back.stdout
    assert "backpressure status=ok action=rollback value=off previous=on version=3" in line(back)
    assert state() == ("off", 3)
    assert [p["Value"] for p in ssm.get_parameter_history(Name=name)["Parameters"]] == ["off", "on", "off"]
    rolled = read_receipt(root, "bp-back", "backpressure")["outputs"]["rolled_back_from"]
    assert rolled["execution_id"] == "bp-on" and rolled["receipt"].startswith("s3://%s/" % sandbox["SANDBOX_RECEIPT_BUCKET"])

    # A second rollback changes nothing.
    mark = last_seq(sandbox)
    twice = run("bp-back-2", confirm=name, containment_rollback_of="bp-on")
    assert twice.rc == 0 and recap_changed(twice) == 0 and state() == ("off", 3)
    assert writes_besides_receipts(sandbox, mark) == []

    # Someone set another value since: the rollback leaves it alone.
    ssm.put_parameter(Name=name, Value="drain", Type="String", Overwrite=True)
    mark = last_seq(sandbox)
    drifted = run("bp-back-3", confirm=name, containment_rollback_of="bp-on")
    assert drifted.rc != 0 and "backpressure status=fail reason=rollback_drifted" in line(drifted)
    assert writes_besides_receipts(sandbox, mark) == [] and state() == ("drain", 4)
    # ...and an apply refuses a value the gateway may read otherwise.
    odd = run("bp-odd", confirm=name)
    assert odd.rc != 0 and "reason=parameter_value_unexpected" in line(odd) and state() == ("drain", 4)


# -- queue -----------------------------------------------------------------------------------------

def test_queue_report_stop_throttle_rollback_and_purge(sandbox, run_playbook, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    sqs, ecs = sandbox.boto3_client("sqs"), sandbox.boto3_client("ecs")
    autoscaling = sandbox.boto3_client("application-autoscaling")
    queue = "it-ingestion-%s" % suffix
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    for index in range(5):
        sqs.send_message(QueueUrl=url, MessageBody="m%d" % index)
    for index in range(2):
        sqs.send_message(QueueUrl=url, MessageBody="late%d" % index, DelaySeconds=600)
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=600)["Messages"]) == 1
    cluster, service = sandbox["SANDBOX_ECS_CLUSTER"], "it-workers-%s" % suffix
    ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=sandbox["SANDBOX_TASK_FAMILY"], desiredCount=3)
    resource = "service/%s/%s" % (cluster, service)
    # Target tracking on queue depth would scale the consumers out again; the stop suspends it.
    autoscaling.register_scalable_target(ServiceNamespace="ecs", ResourceId=resource, ScalableDimension="ecs:service:DesiredCount",
                                         MinCapacity=1, MaxCapacity=10)
    root = tmp_path / "receipts"

    def run(execution_id, confirm=None, check=False, **extra):
        extravars = dict({"containment_queue_name": queue, "containment_queue_service": service, "signalcraft_receipt_root": str(root),
                          "signalcraft_execution_id": execution_id, "containment_poll_interval": 0.5}, **extra)
        if confirm is not None:
            extravars["containment_confirm"] = confirm
        return run_playbook("containment_queue.yml", extravars, check=check)

    def desired():
        found = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
        return found["desiredCount"]

    def suspended():
        target = autoscaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])["ScalableTargets"][0]
        return target.get("SuspendedState") or {}

    def backlog():
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return tuple(int(attributes[n]) for n in names)

    # The report reads only, and says what GetQueueAttributes says.
    mark = last_seq(sandbox)
    report = run("q-report")
    assert report.rc == 0, report.stdout
    assert backlog() == (4, 1, 2)
    assert "queue status=ok action=report desired=3 previous=3" in line(report) and "visible=4 in_flight=1 delayed=2" in line(report)
    assert writes_besides_receipts(sandbox, mark) == []
    assert read_receipt(root, "q-report", "queue")["outputs"]["backlog"] == {"visible": 4, "in_flight": 1, "delayed": 2, "total": 7}

    # Stop refused without and with a wrong confirmation: desired count and scaling untouched.
    for execution_id, confirm in (("q-none", None), ("q-typo", queue)):
        mark = last_seq(sandbox)
        refused = run(execution_id, confirm=confirm, containment_queue_action="stop")
        assert refused.rc != 0 and "queue status=fail reason=confirmation_missing" in line(refused)
        assert writes_besides_receipts(sandbox, mark) == [] and desired() == 3 and not any(suspended().values())

    mark = last_seq(sandbox)
    plan = run("q-plan", check=True, containment_queue_action="stop")
    assert plan.rc == 0 and "queue status=planned action=stop desired=0 previous=3" in line(plan)
    assert aws_writes_since(sandbox, mark) == [] and desired() == 3 and not any(suspended().values())

    stop = run("q-stop", confirm=service, containment_queue_action="stop")
    assert stop.rc == 0, stop.stdout
    assert "queue status=ok action=stop desired=0 previous=3 running=0" in line(stop)
    described = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    assert (described["desiredCount"], described["runningCount"]) == (0, 0)
    assert suspended() == {"DynamicScalingInSuspended": True, "DynamicScalingOutSuspended": True, "ScheduledScalingSuspended": True}
    outputs = read_receipt(root, "q-stop", "queue")["outputs"]
    assert outputs["previous_desired_count"] == 3 and outputs["autoscaling"]["before"]["DynamicScalingOutSuspended"] is False
    assert backlog() == (4, 1, 2)  # stopping consumers deletes nothing

    mark = last_seq(sandbox)
    again = run("q-stop-2", confirm=service, containment_queue_action="stop")
    assert again.rc == 0 and recap_changed(again) == 0 and writes_besides_receipts(sandbox, mark) == []

    # A throttle only lowers: from 0 it refuses 2, before any write.
    mark = last_seq(sandbox)
    up = run("q-up", confirm=service, containment_queue_action="throttle", containment_queue_desired_count=2)
    assert up.rc != 0 and "queue status=fail reason=throttle_not_lower" in line(up)
    assert writes_besides_receipts(sandbox, mark) == [] and desired() == 0

    # The rollback restores the count it found, then the scaling state it found; twice changes nothing.
    back = run("q-back", confirm=service, containment_rollback_of="q-stop")
    assert back.rc == 0, back.stdout
    assert "queue status=ok action=rollback desired=3 previous=0 running=3" in line(back)
    assert desired() == 3 and not any(suspended().values())
    mark = last_seq(sandbox)
    twice = run("q-back-2", confirm=service, containment_rollback_of="q-stop")
    assert twice.rc == 0 and recap_changed(twice) == 0 and writes_besides_receipts(sandbox, mark) == []

    # Throttle to 1 and roll that back too.
    throttle = run("q-throttle", confirm=service, containment_queue_action="throttle", containment_queue_desired_count=1)
    assert throttle.rc == 0 and "queue status=ok action=throttle desired=1 previous=3 running=1" in line(throttle)
    assert desired() == 1 and all(suspended().values())
    assert run("q-throttle-back", confirm=service, containment_rollback_of="q-throttle").rc == 0
    assert desired() == 3 and not any(suspended().values())

    # Purge: gated twice. The queue's name alone, or a wrong second phrase, deletes nothing.
    for execution_id, extra in (("q-purge-1", {}), ("q-purge-2", {"containment_queue_purge_confirm": "PURGE"})):
        mark = last_seq(sandbox)
        refused = run(execution_id, confirm=queue, containment_queue_action="purge", **extra)
        assert refused.rc != 0 and "queue status=fail reason=confirmation_missing" in line(refused)
        assert "containment_queue_purge_confirm" in refused.stdout
        assert writes_besides_receipts(sandbox, mark) == [] and backlog() == (4, 1, 2)
    mark = last_seq(sandbox)
    plan = run("q-purge-plan", check=True, containment_queue_action="purge")
    assert plan.rc == 0 and "queue status=planned action=purge" in line(plan)
    assert aws_writes_since(sandbox, mark) == [] and backlog() == (4, 1, 2)
    purge = run("q-purge", confirm=queue, containment_queue_action="purge", containment_queue_purge_confirm="PURGE-" + queue)
    assert purge.rc == 0, purge.stdout
    assert [e["operation"] for e in sandbox.control("aws", "requests?service=sqs&operation=PurgeQueue") if e["seq"] > mark] == ["PurgeQueue"]
    assert backlog()[0] == 0 and read_receipt(root, "q-purge", "queue")["outputs"]["purged_messages"] == 7
    # Nothing to purge twice (once the queue is empty); and a purge has no rollback.
    if sum(backlog()) == 0:
        mark = last_seq(sandbox)
        empty = run("q-purge-again", confirm=queue, containment_queue_action="purge", containment_queue_purge_confirm="PURGE-" + queue)
        assert empty.rc == 0 and recap_changed(empty) == 0 and writes_besides_receipts(sandbox, mark) == []
    undo = run("q-purge-undo", confirm=service, containment_rollback_of="q-purge")
    assert undo.rc != 0 and "queue status=fail reason=rollback_receipt_mismatch" in line(undo)
    assert desired() == 3


# -- model pin -------------------------------------------------------------------------------------

def _worker_definition(ecs, sandbox, family, parameter_arn):
    """A copy of the seeded definition whose container takes DETECTOR_MODEL_VERSION from the parameter."""
    from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecs as ecs_service

    described = ecs.describe_task_definition(taskDefinition=sandbox["SANDBOX_TASK_FAMILY"])["taskDefinition"]
    request = ecs_service.register_request(described)
    request["family"] = family
    request["containerDefinitions"][0]["secrets"] = [{"name": "DETECTOR_MODEL_VERSION", "valueFrom": parameter_arn}]
    return ecs.register_task_definition(**request)["taskDefinition"]["taskDefinitionArn"]


def test_model_pin_previous_version_redeploy_idempotence_and_rollback(sandbox, run_playbook, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    ssm, ecs = sandbox.boto3_client("ssm"), sandbox.boto3_client("ecs")
    name = "/it-%s/detector/DETECTOR_MODEL_VERSION" % suffix
    for index, value in enumerate(("det-1.0", "det-1.1", "det-2.0")):
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=bool(index))
    arn = ssm.get_parameter(Name=name)["Parameter"]["ARN"]
    cluster, service = sandbox["SANDBOX_ECS_CLUSTER"], "it-detector-%s" % suffix
    task_definition = _worker_definition(ecs, sandbox, "it-workers-%s" % suffix, arn)
    ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=task_definition, desiredCount=2)
    root = tmp_path / "receipts"

    def run(execution_id, confirm=None, check=False, **extra):
        extravars = dict({"containment_model_parameter": name, "containment_model_service": service, "signalcraft_receipt_root": str(root),
                          "signalcraft_execution_id": execution_id, "containment_poll_interval": 0.5}, **extra)
        if confirm is not None:
            extravars["containment_confirm"] = confirm
        return run_playbook("containment_model_pin.yml", extravars, check=check)

    def parameter():
        current = ssm.get_parameter(Name=name)["Parameter"]
        labels = {h["Version"]: h.get("Labels") or [] for h in ssm.get_parameter_history(Name=name)["Parameters"]}
        return current["Value"], current["Version"], labels

    def workers():
        return ecs.describe_services(cluster=cluster, services=[service])["services"][0]

    def updates_since(seq):
        return [e for e in sandbox.control("aws", "requests?service=ecs&operation=UpdateService") if e["seq"] > seq]

    # Refusals: no confirmation, a wrong one -- no SSM write, no redeploy.
    for execution_id, confirm in (("pin-none", None), ("pin-typo", service)):
        mark = last_seq(sandbox)
        refused = run(execution_id, confirm=confirm)
        assert refused.rc != 0 and "model_pin status=fail reason=confirmation_missing" in line(refused)
        assert writes_besides_receipts(sandbox, mark) == [] and parameter()[:2] == ("det-2.0", 3)

    # Check mode: both plans, nothing written.
    mark = last_seq(sandbox)
    plan = run("pin-plan", check=True)
    assert plan.rc == 0, plan.stdout
    assert "model_pin status=planned action=apply value=det-1.1 previous=det-2.0 redeploy=true" in line(plan)
    assert "would_update=true" in line(plan)
    assert aws_writes_since(sandbox, mark) == [] and parameter()[:2] == ("det-2.0", 3)

    # Pin: the previous version from the history, labelled, then a new deployment of the same revision.
    before = workers()
    mark = last_seq(sandbox)
    pin = run("pin-go", confirm=name)
    assert pin.rc == 0, pin.stdout
    assert "model_pin status=ok action=apply value=det-1.1 previous=det-2.0 version=4 redeploy=true execution_id=pin-go" in line(pin)
    assert "service status=ok service=%s" % service in line(pin) and "stable=true" in line(pin)
    value, version, labels = parameter()
    assert (value, version, labels[4]) == ("det-1.1", 4, [PIN_LABEL])
    assert len(updates_since(mark)) == 1
    after = workers()
    assert after["taskDefinition"] == before["taskDefinition"] == task_definition
    assert len(after["deployments"]) == 1 and after["deployments"][0]["id"] != before["deployments"][0]["id"]
    assert after["runningCount"] == after["desiredCount"] == 2
    modified = ssm.get_parameter(Name=name)["Parameter"]["LastModifiedDate"]
    assert after["deployments"][0]["createdAt"] >= modified
    outputs = read_receipt(root, "pin-go", "model_pin")["outputs"]
    assert outputs["source"] == {"kind": "history", "version": 2} and outputs["taskdef_reads_parameter"] == [["jobintel", "DETECTOR_MODEL_VERSION"]]
    assert read_receipt(root, "pin-go", "service")["status"] == "success"

    # Again: the label says the pin is in place and the deployment is newer than the value -- nothing at all.
    mark = last_seq(sandbox)
    again = run("pin-again", confirm=name)
    assert again.rc == 0 and recap_changed(again) == 0 and "redeploy=false" in line(again)
    assert writes_besides_receipts(sandbox, mark) == [] and parameter()[:2] == ("det-1.1", 4)

    # A version the parameter never held is refused before any write.
    mark = last_seq(sandbox)
    unknown = run("pin-unknown", confirm=name, containment_model_version="det-9.9")
    assert unknown.rc != 0 and "model_pin status=fail reason=model_version_unknown" in line(unknown)
    assert writes_besides_receipts(sandbox, mark) == []

    # Rollback: the version current before the pin, the label off again, and the workers redeployed.
    mark = last_seq(sandbox)
    back = run("pin-back", confirm=name, containment_rollback_of="pin-go")
    assert back.rc == 0, back.stdout
    assert "model_pin status=ok action=rollback value=det-2.0 previous=det-1.1 version=5 redeploy=true" in line(back)
    value, version, labels = parameter()
    assert (value, version) == ("det-2.0", 5) and all(PIN_LABEL not in found for found in labels.values())
    assert len(updates_since(mark)) == 1 and workers()["runningCount"] == 2

    mark = last_seq(sandbox)
    twice = run("pin-back-2", confirm=name, containment_rollback_of="pin-go")
    assert twice.rc == 0 and recap_changed(twice) == 0 and writes_besides_receipts(sandbox, mark) == []
