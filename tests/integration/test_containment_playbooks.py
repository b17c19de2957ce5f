"""Incident containment playbooks against the sandbox's ECS and RDS (runbook 003).

Each test creates its own ECS service / DB cluster (unique names) and reads the result back with
boto3; the sandbox's request log proves that refused and check-mode runs made no write call.
"""

import json
import os
import uuid

import jsonschema

from tests.conftest import REPO_ROOT

with open(os.path.join(REPO_ROOT, "schemas", "receipt.v1.schema.json")) as _handle:
    RECEIPT_SCHEMA = json.load(_handle)


def read_receipt(root, execution_id, phase):
    with open(os.path.join(str(root), execution_id, "%s.json" % phase)) as handle:
        document = json.load(handle)
    jsonschema.validate(document, RECEIPT_SCHEMA)
    return document


def last_seq(sandbox):
    entries = sandbox.control("aws", "requests?limit=1")
    return entries[-1]["seq"] if entries else 0


def writes_since(sandbox, seq, service, operation):
    entries = sandbox.control("aws", "requests?service=%s&operation=%s" % (service, operation))
    return [e for e in entries if e["seq"] > seq]


def test_scale_workers_confirmation_check_mode_idempotence(sandbox, run_playbook, tmp_path):
    ecs = sandbox.boto3_client("ecs")
    cluster, name = sandbox["SANDBOX_ECS_CLUSTER"], "workers-%s" % uuid.uuid4().hex[:8]
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=sandbox["SANDBOX_TASK_FAMILY"], desiredCount=2)
    root = tmp_path / "receipts"

    def run(execution_id, count, confirm=None, check=False):
        extravars = {"containment_workers_service": name, "containment_workers_desired_count": count,
                     "signalcraft_receipt_root": str(root), "signalcraft_execution_id": execution_id, "containment_poll_interval": 0.5}
        if confirm is not None:
            extravars["containment_confirm"] = confirm
        return run_playbook("scale_workers.yml", extravars, check=check)

    def desired():
        return ecs.describe_services(cluster=cluster, services=[name])["services"][0]

    # No confirmation (and a wrong one): refused before any AWS call, recorded in a receipt.
    before = last_seq(sandbox)
    refused = run("scale-refused", 6, confirm="workers-typo")
    assert refused.rc != 0 and "scale_workers status=fail reason=confirmation_missing" in refused.stdout
    assert desired()["desiredCount"] == 2 and writes_since(sandbox, before, "ecs", "UpdateService") == []
    refusal = read_receipt(root, "scale-refused", "scale_workers")
    assert refusal["failure_code"] == "confirmation_missing" and refusal["inputs"]["confirmed"] is False

    # Check mode: the plan and diff, no write, no receipt, no confirmation needed.
    before = last_seq(sandbox)
    plan = run("scale-plan", 6, check=True)
    assert plan.rc == 0, plan.stdout
    assert "scale_workers status=planned desired=6 previous=2" in plan.stdout
    assert "desired_count" in plan.stdout and desired()["desiredCount"] == 2
    assert writes_since(sandbox, before, "ecs", "UpdateService") == []
    assert not os.path.exists(str(root / "scale-plan"))

    # Scale up for real, waiting until the running count matches.
    up = run("scale-up", 6, confirm=name)
    assert up.rc == 0, up.stdout
    assert "scale_workers status=ok desired=6 previous=2 running=6" in up.stdout
    service = desired()
    assert (service["desiredCount"], service["runningCount"]) == (6, 6)
    receipt = read_receipt(root, "scale-up", "scale_workers")
    assert receipt["status"] == "success" and receipt["changed"] is True and receipt["outputs"]["previous_desired_count"] == 2

    # The same count again: changed=false and no UpdateService call.
    before = last_seq(sandbox)
    again = run("scale-again", 6, confirm=name)
    assert again.rc == 0 and "changed=0" in again.stdout.split("PLAY RECAP")[-1]
    assert writes_since(sandbox, before, "ecs", "UpdateService") == []
    assert read_receipt(root, "scale-again", "scale_workers")["changed"] is False

    # Scale down after the incident. (The ceiling, desired_count_above_max, is in test_containment.py under unit/.)
    down = run("scale-down", 1, confirm=name)
    assert down.rc == 0 and "scale_workers status=ok desired=1 previous=6 running=1" in down.stdout
    service = desired()
    assert (service["desiredCount"], service["runningCount"]) == (1, 1)


def test_db_failover_confirmation_plan_and_new_writer(sandbox, run_playbook, tmp_path):
    rds = sandbox.boto3_client("rds")
    cluster = "db-%s" % uuid.uuid4().hex[:8]
    rds.create_db_cluster(DBClusterIdentifier=cluster, Engine="aurora-postgresql", MasterUsername="ops", MasterUserPassword="not-used-123")
    for suffix in ("1", "2"):
        rds.create_db_instance(DBInstanceIdentifier="%s-%s" % (cluster, suffix), DBClusterIdentifier=cluster,
                               Engine="aurora-postgresql", DBInstanceClass="db.r6g.large")
    root = tmp_path / "receipts"

    def writer():
        members = rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]["DBClusterMembers"]
        return [m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"]]

    def run(execution_id, confirm=None, check=False, target=None):
        extravars = {"containment_db_cluster_identifier": cluster, "signalcraft_receipt_root": str(root),
                     "signalcraft_execution_id": execution_id, "containment_poll_interval": 0.5}
        if confirm is not None:
            extravars["containment_confirm"] = confirm
        if target:
            extravars["containment_db_target_instance"] = target
        return run_playbook("db_failover.yml", extravars, check=check)

    first = writer()[0]
    other = "%s-2" % cluster if first.endswith("-1") else "%s-1" % cluster
    before = last_seq(sandbox)
    plan = run("fo-plan", check=True)
    assert plan.rc == 0 and "db_failover status=planned writer=%s candidates=%s" % (first, other) in plan.stdout
    assert plan.task_results("Fail over the DB cluster to a reader")[0]["outputs"]["candidates"] == [other]
    assert not os.path.exists(str(root / "fo-plan"))  # check mode writes no receipt
    refused = run("fo-refused")
    assert refused.rc != 0 and "db_failover status=fail reason=confirmation_missing" in refused.stdout
    assert writer() == [first] and writes_since(sandbox, before, "rds", "FailoverDBCluster") == []
    refusal = read_receipt(root, "fo-refused", "db_failover")
    assert refusal["failure_code"] == "confirmation_missing" and refusal["inputs"]["confirmed"] is False
    assert "containment_confirm" in refused.stdout  # the message names the -e variable

    done = run("fo-go", confirm=cluster, target=other)
    assert done.rc == 0, done.stdout
    assert "db_failover status=ok writer=%s previous_writer=%s" % (other, first) in done.stdout
    assert writer() == [other]
    receipt = read_receipt(root, "fo-go", "db_failover")
    assert receipt["status"] == "success" and receipt["changed"] is True and receipt["outputs"]["previous_writer"] == first

    # The target is already the writer: nothing to do.
    before = last_seq(sandbox)
    again = run("fo-again", confirm=cluster, target=other)
    assert again.rc == 0 and writes_since(sandbox, before, "rds", "FailoverDBCluster") == [] and writer() == [other]
    assert read_receipt(root, "fo-again", "db_failover")["changed"] is False
