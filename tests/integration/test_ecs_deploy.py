"""deploy.yml against the sandbox: image guards, idempotent revisions, check mode, service rollout.

Every assertion reads ECS (task definitions, services) and the receipts back with boto3 or from disk.
"""

import os
import uuid

import yaml

from tests.conftest import REPO_ROOT
from tests.integration.ecs_sandbox import container_env, latest, private_family, read_receipt, revisions


def base_vars(tmp_path, family, **extra):
    extravars = {"signalcraft_receipt_root": str(tmp_path / "receipts"), "jobintel_task_family": family,
                 "signalcraft_execution_id": "deploy-%s" % uuid.uuid4().hex[:8]}
    extravars.update(extra)
    return extravars


def test_prod_refuses_tags_and_unknown_digests_before_any_write(sandbox, run_playbook, tmp_path):
    family, _prefix = private_family(sandbox)
    before = revisions(sandbox, family)
    tag = run_playbook("deploy.yml", base_vars(tmp_path, family, signalcraft_deployment_env="prod",
                                               jobintel_image_ref=sandbox["SANDBOX_IMAGE_TAG_REF"]))
    assert tag.rc != 0
    assert "reason=image_ref_not_pinned" in tag.stdout and "prod requires <repo>@sha256:<digest>" in " ".join(tag.stdout.split())
    unknown_ref = sandbox["SANDBOX_IMAGE_REF"][:-12] + "0123456789ab"
    unknown = run_playbook("deploy.yml", base_vars(tmp_path, family, jobintel_image_ref=unknown_ref, signalcraft_execution_id="unknown-digest"))
    assert unknown.rc != 0 and "reason=image_not_found" in unknown.stdout
    assert revisions(sandbox, family) == before
    receipts = tmp_path / "receipts"
    tag_receipt = read_receipt(sandbox, str(receipts), "deploy", [d for d in os.listdir(receipts) if d != "unknown-digest"][0])
    assert tag_receipt["status"] == "failed" and tag_receipt["failure_code"] == "image_ref_not_pinned"
    assert read_receipt(sandbox, str(receipts), "deploy", "unknown-digest")["failure_code"] == "image_not_found"
    # Tags are an inventory decision: dev allows them, staging and prod do not.
    for env, allowed in (("dev", True), ("staging", False), ("prod", False)):
        with open(os.path.join(REPO_ROOT, "inventories", env, "group_vars", "all", "main.yml")) as handle:
            assert yaml.safe_load(handle)["jobintel_allow_image_tags"] is allowed


def test_check_mode_registers_nothing_then_one_revision_then_none(sandbox, run_playbook, tmp_path):
    family, _prefix = private_family(sandbox)
    before = revisions(sandbox, family)
    overlay = {"REDACTION_ENFORCE": "1", "JOBINTEL_PROFILES": "cs,ds", "FEATURE_FLAG": "on"}
    check = run_playbook("deploy.yml", base_vars(tmp_path / "check", family, jobintel_deploy_environment=overlay), check=True)
    assert check.rc == 0, check.stdout
    assert revisions(sandbox, family) == before
    [planned] = check.task_results("Register a revision when the image or environment differs")
    assert planned["changed"] is True and planned["status"] == "planned"
    assert planned["outputs"]["registered"] is False and planned["outputs"]["task_definition_arn"] is None
    assert "container jobintel environment FEATURE_FLAG added (on)" in planned["outputs"]["changes"]
    assert planned["token_line"] == "deploy status=planned family=%s would_register=true changes=%d" % (family, len(planned["outputs"]["changes"]))
    # --diff shows the normalised definitions: the new entry is an added line.
    assert any(line.startswith("+") and "name: FEATURE_FLAG" in line for line in check.stdout.splitlines())
    assert not (tmp_path / "check" / "receipts").exists()  # check mode writes no receipt either

    first = run_playbook("deploy.yml", base_vars(tmp_path, family, jobintel_deploy_environment=overlay))
    assert first.rc == 0, first.stdout
    after = revisions(sandbox, family)
    assert len(after) == len(before) + 1
    current = latest(sandbox, family)
    env = container_env(current)
    assert env["FEATURE_FLAG"] == "on" and env["JOBINTEL_PROFILES"] == "cs,ds" and env["LOG_LEVEL"] == "INFO"
    assert current["containerDefinitions"][0]["image"] == sandbox["SANDBOX_IMAGE_REF"]
    assert current["containerDefinitions"][0]["secrets"][0]["name"] == "OPENAI_API_KEY"
    receipt = read_receipt(sandbox, str(tmp_path / "receipts"), "deploy")
    assert receipt["status"] == "success" and receipt["changed"] is True
    [registered] = first.task_results("Register a revision when the image or environment differs")
    assert registered["token_line"].startswith("deploy status=ok task_definition=%s registered=true changes=" % current["taskDefinitionArn"])
    assert receipt["outputs"]["task_definition_arn"] == current["taskDefinitionArn"]

    # The same overlay in another order, and the image as a tag where dev allows tags: the tag resolves
    # to the digest the revision already carries, so there is nothing to register.
    second = run_playbook("deploy.yml", base_vars(tmp_path / "again", family, jobintel_deploy_environment=dict(reversed(list(overlay.items()))),
                                                  signalcraft_deployment_env="dev", jobintel_allow_image_tags=True,
                                                  jobintel_image_ref=sandbox["SANDBOX_IMAGE_TAG_REF"]))
    assert second.rc == 0, second.stdout
    [result] = second.task_results("Register a revision when the image or environment differs")
    assert result["changed"] is False and result["outputs"]["registered"] is False
    assert result["outputs"]["image"]["pinned_ref"] == sandbox["SANDBOX_IMAGE_REF"] and result["outputs"]["image"]["tag"] == "sandbox"
    assert result["token_line"] == "deploy status=ok task_definition=%s registered=false changes=0" % current["taskDefinitionArn"]
    assert revisions(sandbox, family) == after


def test_service_rolls_to_the_revision_and_a_stuck_rollout_times_out(sandbox, run_playbook, tmp_path):
    family, _prefix = private_family(sandbox)
    ecs = sandbox.boto3_client("ecs")
    service = "svc-%s" % uuid.uuid4().hex[:8]
    ecs.create_service(cluster=sandbox["SANDBOX_ECS_CLUSTER"], serviceName=service, taskDefinition=family, desiredCount=2,
                       launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {
                           "subnets": sandbox["SANDBOX_ECS_SUBNETS"].split(","),
                           "securityGroups": sandbox["SANDBOX_ECS_SECURITY_GROUPS"].split(",")}})
    try:
        ok = run_playbook("deploy.yml", base_vars(tmp_path / "ok", family, jobintel_ecs_service=service,
                                                  jobintel_deploy_environment={"RELEASE": "2"}))
        assert ok.rc == 0, ok.stdout
        described = ecs.describe_services(cluster=sandbox["SANDBOX_ECS_CLUSTER"], services=[service])["services"][0]
        new_revision = latest(sandbox, family)["taskDefinitionArn"]
        assert described["taskDefinition"] == new_revision
        assert len(described["deployments"]) == 1 and described["runningCount"] == described["desiredCount"] == 2
        service_receipt = read_receipt(sandbox, str(tmp_path / "ok" / "receipts"), "service")
        assert service_receipt["status"] == "success" and service_receipt["outputs"]["stable"] is True
        [rolled] = ok.task_results("Roll the service to the revision and wait until it is stable")
        assert rolled["token_line"].startswith("service status=ok service=%s task_definition=%s stable=true" % (service, new_revision))
        # deploy.json and service.json share one execution id.
        assert read_receipt(sandbox, str(tmp_path / "ok" / "receipts"), "deploy")["execution_id"] == service_receipt["execution_id"]

        stuck = run_playbook("deploy.yml", base_vars(tmp_path / "stuck", family, jobintel_ecs_service=service,
                                                     jobintel_ecs_service_wait_timeout=3,
                                                     jobintel_deploy_environment={"RELEASE": "3", "SANDBOX_SERVICE_ROLLOUT": "stuck"}))
        assert stuck.rc != 0
        assert "reason=wait_timeout" in stuck.stdout and "was not stable after 3s" in stuck.stdout
        described = ecs.describe_services(cluster=sandbox["SANDBOX_ECS_CLUSTER"], services=[service])["services"][0]
        assert len(described["deployments"]) == 2  # the old deployment still serves; the new one never ran
        assert described["deployments"][0]["taskDefinition"] == latest(sandbox, family)["taskDefinitionArn"] != new_revision
        failed = read_receipt(sandbox, str(tmp_path / "stuck" / "receipts"), "service")
        assert failed["status"] == "failed" and failed["failure_code"] == "wait_timeout"
        assert read_receipt(sandbox, str(tmp_path / "stuck" / "receipts"), "deploy")["status"] == "success"
    finally:
        ecs.delete_service(cluster=sandbox["SANDBOX_ECS_CLUSTER"], service=service, force=True)
