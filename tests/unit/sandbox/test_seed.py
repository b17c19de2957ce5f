"""Tests of the sandbox seed: run it twice against a real layer process and read the account back."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

boto3 = pytest.importorskip("boto3")
yaml = pytest.importorskip("yaml")
from botocore.exceptions import ClientError  # noqa: E402  pylint: disable=wrong-import-position

from tests.sandbox.aws_layer.process import SandboxEndpoint, run_seed, sandbox_env  # noqa: E402  pylint: disable=wrong-import-position
from tests.sandbox.seed import archives  # noqa: E402  pylint: disable=wrong-import-position

AWS_CLI = os.path.join(REPO_ROOT, ".venv-awscli", "bin", "aws")
OUTPUT_KEYS = {
    "account_id", "region", "endpoint_url", "artifact_bucket", "backup_bucket", "receipt_bucket", "temporary_uploads_bucket",
    "recordings_bucket", "exports_bucket", "prefix", "backup_id", "backup_uri", "image_ref", "image_digest", "image_tag_ref",
    "ecr_repository", "ecs_cluster", "task_family", "task_definition_arn", "ecs_subnets", "ecs_security_groups",
    "ecs_launch_type", "vpc_id", "control_plane_source_dir", "published_run_id", "ecs_services", "db_cluster", "outbox_run_ids",
    "recordings", "ssm_parameters", "ingestion_queue", "workers_task_family",
}
# Operations that would change state; the second seed run must make none of them.
_WRITE_PREFIXES = ("Put", "Create", "Register", "Modify", "Attach", "Delete", "Update", "Copy", "Complete", "Upload", "Tag",
                   "Send", "Label")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A layer process seeded twice; yields (endpoint, first output, second output, requests of run 2)."""
    workdir = tmp_path_factory.mktemp("seed")
    with SandboxEndpoint(workdir) as endpoint:
        first = run_seed(endpoint.url, workdir / "seed-1.json")
        endpoint.control("DELETE", "/_sandbox/requests")
        second = run_seed(endpoint.url, workdir / "seed-2.json")
        _status, requests = endpoint.control("GET", "/_sandbox/requests")
        yield {"endpoint": endpoint, "first": first, "second": second, "second_requests": requests}


@pytest.fixture(scope="module")
def out(seeded):
    """The seed's output document."""
    return seeded["first"]


@pytest.fixture(scope="module")
def client(seeded):
    """``client("s3")`` bound to the seeded endpoint."""
    url = seeded["endpoint"].url
    return lambda service: boto3.client(service, endpoint_url=url, region_name="us-east-1",
                                        aws_access_key_id="testing", aws_secret_access_key="testing")


def read_json(s3, bucket, key):
    """Parsed JSON object body."""
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_output_document(out, seeded):
    """Every documented key, with the values the contract fixes."""
    assert set(out) == OUTPUT_KEYS
    assert out["artifact_bucket"] == "sandbox-artifacts-111122223333" and out["exports_bucket"] == "sandbox-exports-111122223333"
    assert out["endpoint_url"] == seeded["endpoint"].url and out["prefix"] == "jobintel"
    assert out["image_digest"].startswith("sha256:") and len(out["image_digest"]) == 71
    assert out["image_ref"] == "111122223333.dkr.ecr.us-east-1.amazonaws.com/jobintel@" + out["image_digest"]
    assert out["image_tag_ref"] == "111122223333.dkr.ecr.us-east-1.amazonaws.com/jobintel:sandbox"
    assert out["backup_uri"] == "s3://sandbox-backup-111122223333/jobintel/backups/20260101T000000Z/"
    assert out["ecs_launch_type"] == "FARGATE" and out["ecs_subnets"] and out["ecs_security_groups"]
    assert os.path.isdir(out["control_plane_source_dir"]) and os.path.isabs(out["control_plane_source_dir"])


def test_second_run_is_a_no_op(seeded, client):
    """Same output, no write request at all, one task definition revision."""
    assert seeded["second"] == seeded["first"]
    writes = [(e["service"], e["operation"]) for e in seeded["second_requests"] if e["operation"].startswith(_WRITE_PREFIXES)]
    assert not writes
    assert len(client("ecs").list_task_definitions(familyPrefix="jobintel-daily")["taskDefinitionArns"]) == 1


def test_aws_cli_lists_seeded_buckets(out):
    """The pinned AWS CLI sees the buckets and the ``latest/`` objects."""
    if not os.path.exists(AWS_CLI):
        pytest.skip("AWS CLI venv not installed at " + AWS_CLI)

    def aws(*args):
        result = subprocess.run([AWS_CLI, "--endpoint-url", out["endpoint_url"], *args], env=sandbox_env(),
                                capture_output=True, text=True, timeout=60, check=True)
        return result.stdout

    listing = aws("s3", "ls")
    for role in ("artifact", "backup", "receipt", "temporary_uploads", "recordings", "exports"):
        assert out[role + "_bucket"] in listing
    latest = aws("s3", "ls", "s3://%s/jobintel/latest/openai/cs/" % out["artifact_bucket"])
    assert {"ranked_jobs.openai.cs.json", "ranked_jobs.openai.cs.csv", "shortlist.openai.cs.md"} == {
        line.split()[-1] for line in latest.splitlines()}


def test_bucket_hardening(out, client):
    """Artifact/backup/receipts are versioned and blocked; the other three are left as created."""
    s3 = client("s3")
    for role in ("artifact", "backup", "receipt"):
        assert s3.get_bucket_versioning(Bucket=out[role + "_bucket"])["Status"] == "Enabled"
        assert s3.get_public_access_block(Bucket=out[role + "_bucket"])["PublicAccessBlockConfiguration"]["BlockPublicAcls"]
    for role in ("temporary_uploads", "recordings", "exports"):
        bucket = out[role + "_bucket"]
        assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
        for call in (s3.get_public_access_block, s3.get_bucket_lifecycle_configuration):
            with pytest.raises(ClientError):
                call(Bucket=bucket)


def test_backup_objects(out, client):
    """metadata.json describes two real tar.zst archives; the CronJob is suspended and pinned by digest."""
    s3 = client("s3")
    base = "jobintel/backups/20260101T000000Z/"
    metadata = read_json(s3, out["backup_bucket"], base + "metadata.json")
    assert metadata["schema_version"] == "backup_metadata.v1" and metadata["image_ref_digest"] == out["image_digest"]
    contents = {}
    for name in ("state.tar.zst", "manifests.tar.zst"):
        blob = s3.get_object(Bucket=out["backup_bucket"], Key=base + name)["Body"].read()
        assert metadata["objects"][name] == {"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)}
        contents.update(archives.untar_zst(blob))
    assert {"state/last_run.json", "state/candidates/local.json"} <= set(contents)
    documents = [yaml.safe_load(data) for name, data in contents.items() if name.startswith("manifests/")]
    by_kind = {doc["kind"]: doc for doc in documents}
    assert {"ServiceAccount", "ConfigMap", "CronJob", "Deployment"} == set(by_kind)
    cronjob = by_kind["CronJob"]["spec"]
    assert cronjob["suspend"] is True and cronjob["schedule"] == "0 6 * * *"
    pod = cronjob["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "jobintel" and pod["containers"][0]["image"] == out["image_ref"]
    assert pod["containers"][0]["resources"]["limits"] and by_kind["ConfigMap"]["data"]["JOBINTEL_S3_BUCKET"] == out["artifact_bucket"]
    assert all(doc["metadata"]["namespace"] == "jobintel" for doc in documents)
    _validate_against_kubernetes_schemas(documents)


def _validate_against_kubernetes_schemas(documents):
    validate = pytest.importorskip("kubernetes_validate")
    for document in documents:
        validate.validate(document, "1.33", strict=True)


def test_published_run_and_pointers(out, client):
    """Run objects, the latest/ copy and both pointers (written by the collection's pointer library)."""
    s3, bucket, run_id = client("s3"), out["artifact_bucket"], out["published_run_id"]
    profile = read_json(s3, bucket, "jobintel/state/openai/cs/last_success.json")
    assert profile == {
        "schema_version": "pointer.v1", "run_id": run_id, "provider": "openai", "profile": "cs",
        "target": "s3://%s/jobintel/runs/%s/openai/cs/" % (bucket, run_id), "published_at": "2026-01-01T06:05:00Z",
        "object_count": 3, "provenance": {"git_sha": profile["provenance"]["git_sha"], "image_digest": out["image_digest"],
                                          "ecs_task_arn": profile["provenance"]["ecs_task_arn"]}}
    overall = read_json(s3, bucket, "jobintel/state/last_success.json")
    assert overall["provider"] is None and overall["profile"] is None and overall["object_count"] == 6
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="jobintel/runs/%s/" % run_id)["Contents"]
    assert len(listed) == overall["object_count"]
    summary = read_json(s3, bucket, "jobintel/runs/%s/run_summary.v1.json" % run_id)
    assert summary["status"] == "success" and summary["image"] == out["image_ref"]
    assert read_json(s3, bucket, "jobintel/runs/%s/run_health.v1.json" % run_id)["status"] == "healthy"
    same = s3.get_object(Bucket=bucket, Key="jobintel/latest/openai/cs/ranked_jobs.openai.cs.json")["Body"].read()
    assert same == s3.get_object(Bucket=bucket, Key="jobintel/runs/%s/openai/cs/ranked_jobs.openai.cs.json" % run_id)["Body"].read()
    versions = s3.list_object_versions(Bucket=bucket, Prefix="jobintel/state/")["Versions"]
    assert len(versions) == 2, "the second seed run must not add pointer versions"


def test_ecr_image(out, client):
    """The tag and the digest name the same image."""
    image = client("ecr").describe_images(repositoryName="jobintel", imageIds=[{"imageTag": "sandbox"}])["imageDetails"][0]
    assert image["imageDigest"] == out["image_digest"]


def test_task_definition_contract(out, client):
    """Container-level memory, the digest image, the env and secrets the collection expects."""
    definition = client("ecs").describe_task_definition(taskDefinition=out["task_family"])["taskDefinition"]
    container = definition["containerDefinitions"][0]
    assert definition["networkMode"] == "awsvpc" and definition["executionRoleArn"] and definition["taskRoleArn"]
    assert container["name"] == "jobintel" and container["image"] == out["image_ref"] and container["memory"]
    env = {item["name"]: item["value"] for item in container["environment"]}
    assert env == {"JOBINTEL_S3_BUCKET": out["artifact_bucket"], "JOBINTEL_S3_PREFIX": "jobintel", "REDACTION_ENFORCE": "1",
                   "JOBINTEL_PROVIDERS": "openai", "JOBINTEL_PROFILES": "cs", "LOG_LEVEL": "INFO"}
    assert container["secrets"][0]["name"] == "OPENAI_API_KEY"


def test_run_task_with_seeded_network(out, client, seeded):
    """RunTask works out of the box with the output's launch type, subnets and security groups."""
    ecs = client("ecs")
    task = ecs.run_task(cluster=out["ecs_cluster"], taskDefinition=out["task_family"], launchType=out["ecs_launch_type"],
                        networkConfiguration={"awsvpcConfiguration": {"subnets": out["ecs_subnets"],
                                                                      "securityGroups": out["ecs_security_groups"]}})["tasks"][0]
    for _attempt in range(10):
        described = ecs.describe_tasks(cluster=out["ecs_cluster"], tasks=[task["taskArn"]])["tasks"][0]
        if described["lastStatus"] == "STOPPED":
            break
    assert described["containers"][0]["exitCode"] == 0
    _status, tasks = seeded["endpoint"].control("GET", "/_sandbox/ecs-tasks")
    run_id = next(t["run_id"] for t in tasks if t["task_arn"] == task["taskArn"])
    summary = read_json(client("s3"), out["artifact_bucket"], "jobintel/outbox/%s/run_summary.v1.json" % run_id)
    assert summary["image"] == out["image_ref"] and summary["ecs_task_arn"] == task["taskArn"]


def test_control_plane_sources(out):
    """A few small, parseable files per control-plane area."""
    root = out["control_plane_source_dir"]
    for area in ("candidates", "alerts", "providers", "scoring"):
        names = os.listdir(os.path.join(root, area))
        assert names
        for name in names:
            with open(os.path.join(root, area, name), encoding="utf-8") as handle:
                assert yaml.safe_load(handle)  # JSON is YAML too
    with open(os.path.join(root, "providers", "anthropic.yaml"), encoding="utf-8") as handle:
        assert yaml.safe_load(handle)["enabled"] is False


def test_what_the_docs_examples_use(out, client):
    """docs/ecs.md, docs/db-ops.md, docs/publish.md, docs/runs.md and docs/storage.md name these."""
    services = client("ecs").describe_services(cluster=out["ecs_cluster"], services=out["ecs_services"])["services"]
    assert {(s["serviceName"], s["desiredCount"]) for s in services} == {("jobintel-dashboard", 1), ("jobintel-workers", 2)}
    members = client("rds").describe_db_clusters(DBClusterIdentifier=out["db_cluster"])["DBClusters"][0]["DBClusterMembers"]
    assert sorted((m["DBInstanceIdentifier"], m["IsClusterWriter"]) for m in members) == [
        ("signalcraft-sandbox-1", True), ("signalcraft-sandbox-2", False)]
    s3 = client("s3")
    assert out["outbox_run_ids"] == ["20260201T060000Z", "20260131T060000Z"]
    health = read_json(s3, out["artifact_bucket"], "jobintel/outbox/20260131T060000Z/run_health.v1.json")
    assert health["status"] == "failed" and health["failed_stage"] == "scrape"
    assert read_json(s3, out["artifact_bucket"], "jobintel/outbox/20260201T060000Z/run_health.v1.json")["status"] == "healthy"
    archived = s3.head_object(Bucket=out["recordings_bucket"], Key="archive/rec/exam-4711.webm")
    assert archived.get("StorageClass") == "DEEP_ARCHIVE"
    assert {row["id"] for row in out["recordings"]} >= {4711, 4712}


def test_what_the_containment_toggles_act_on(out, client):
    """docs/db-ops.md's backpressure, queue and model pin examples: two parameters, a queue with a backlog, and a
    worker service whose task definition takes DETECTOR_MODEL_VERSION from the model parameter."""
    ssm = client("ssm")
    flag = ssm.get_parameter(Name=out["ssm_parameters"]["backpressure"])["Parameter"]
    assert (flag["Type"], flag["Value"], flag["Version"]) == ("String", "off", 1)
    history = ssm.get_parameter_history(Name=out["ssm_parameters"]["model_version"])["Parameters"]
    assert [(h["Version"], h["Value"]) for h in history] == [(1, "detector-2026.01.3"), (2, "detector-2026.02.0")]
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=out["ingestion_queue"])["QueueUrl"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesDelayed"]) == ("9", "3")
    ecs = client("ecs")
    workers = ecs.describe_services(cluster=out["ecs_cluster"], services=["jobintel-workers"])["services"][0]
    definition = ecs.describe_task_definition(taskDefinition=workers["taskDefinition"])["taskDefinition"]
    assert definition["family"] == out["workers_task_family"]
    secrets = {s["name"]: s["valueFrom"] for s in definition["containerDefinitions"][0]["secrets"]}
    assert secrets["DETECTOR_MODEL_VERSION"] == "arn:aws:ssm:us-east-1:111122223333:parameter/jobintel/local/detector/DETECTOR_MODEL_VERSION"
