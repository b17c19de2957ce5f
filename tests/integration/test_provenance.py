"""provenance.yml from last_success and from the provider/profile pointer.

The run is published (module_util, fast) from a run summary that names neither the image nor the
task, by a publisher "inside" an ECS task of the sandbox: the task ARN and image digest must come
from the task metadata endpoint ($ECS_CONTAINER_METADATA_URI_V4/task) and land in both pointers.
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import provenance
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import publish as run_publish
from tests.integration.publish_support import make_run, new_prefix, read_json, read_receipt, write_dir

SHOW_TASK = "Read the build provenance from the pointer"


def test_provenance_from_both_pointers(sandbox, clean_faults, run_playbook, tmp_path):
    ecs = sandbox.boto3_client("ecs")
    task = ecs.run_task(cluster=sandbox["SANDBOX_ECS_CLUSTER"], taskDefinition=sandbox["SANDBOX_TASK_FAMILY"], launchType="FARGATE",
                        networkConfiguration={"awsvpcConfiguration": {"subnets": sandbox["SANDBOX_ECS_SUBNETS"].split(","),
                                                                      "securityGroups": sandbox["SANDBOX_ECS_SECURITY_GROUPS"].split(",")}},
                        overrides={"containerOverrides": [{"name": "jobintel", "environment": [{"name": "SANDBOX_SKIP_ARTIFACTS", "value": "1"}]}]})
    task_arn = task["tasks"][0]["taskArn"]
    metadata_uri = [t for t in sandbox.control("aws", "ecs-tasks") if t["task_arn"] == task_arn][0]["metadata_uri"]
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    prefix = new_prefix("prov")
    run_id = "20260401T060000Z"
    git_sha = "cafe000000000000000000000000000000000004"
    factory = aws.AwsClientFactory(region=sandbox["AWS_DEFAULT_REGION"], endpoint_url=sandbox["AWS_ENDPOINT_URL"],
                                   access_key="testing", secret_key="testing")
    run_publish.Publisher(factory.client("s3"), {
        "publish_enabled": True, "bucket": bucket, "prefix": prefix, "run_dir": write_dir(tmp_path / "run", make_run(run_id, git_sha=git_sha)),
        "task_metadata_uri": metadata_uri}).run()
    expected = {"git_sha": git_sha, "image_digest": provenance.image_digest(sandbox["SANDBOX_IMAGE_REF"]), "ecs_task_arn": task_arn}
    s3 = sandbox.boto3_client("s3")
    assert read_json(s3, bucket, "%s/state/last_success.json" % prefix)["provenance"] == expected

    base = {"jobintel_prefix": prefix, "signalcraft_receipt_root": str(tmp_path / "receipts")}
    top = run_playbook("provenance.yml", dict(base, signalcraft_execution_id="prov-top"))
    pair = run_playbook("provenance.yml", dict(base, signalcraft_execution_id="prov-pair",
                                               provenance_provider="openai", provenance_profile="cs"))
    assert top.rc == 0 and pair.rc == 0, top.stdout + pair.stdout
    line = "provenance status=ok run_id=%s git_sha=%s image_digest=%s ecs_task_arn=%s" % (run_id, git_sha, expected["image_digest"], task_arn)
    top_task, pair_task = top.task_results(SHOW_TASK)[0], pair.task_results(SHOW_TASK)[0]
    assert top_task["token_line"] == line
    assert pair_task["token_line"] == line.replace(" git_sha=", " provider=openai profile=cs git_sha=")
    top_result, pair_result = top_task["outputs"], pair_task["outputs"]
    assert top_result["provenance"] == pair_result["provenance"] == expected
    assert (top_result["provider"], pair_result["provider"], pair_result["profile"]) == (None, "openai", "cs")
    assert top_result["target"].endswith("/runs/%s/" % run_id) and pair_result["target"].endswith("/runs/%s/openai/cs/" % run_id)
    assert read_receipt(sandbox, tmp_path, "prov-pair", "provenance")["outputs"]["provenance"] == expected
