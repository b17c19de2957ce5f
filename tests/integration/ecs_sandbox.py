"""Helpers for the ECS playbook tests: a private copy of the seeded task definition per test.

The seeded family ``jobintel-daily`` is read by other tests (preflight, the demo), so ECS tests
deploy to and run from a copy under a uuid family whose JOBINTEL_S3_PREFIX is a uuid prefix too;
nothing they do touches seeded state.
"""

import json
import os
import uuid

READ_ONLY = ("taskDefinitionArn", "revision", "status", "registeredAt", "registeredBy", "requiresAttributes", "compatibilities")


def private_family(sandbox, **environment):
    """Register a copy of the seeded task definition as ``ecs-test-<uuid>``; returns (family, prefix)."""
    ecs = sandbox.boto3_client("ecs")
    seeded = ecs.describe_task_definition(taskDefinition=sandbox["SANDBOX_TASK_FAMILY"])["taskDefinition"]
    request = {k: v for k, v in seeded.items() if k not in READ_ONLY}
    token = uuid.uuid4().hex[:10]
    family, prefix = "ecs-test-%s" % token, "ecs-test/%s" % token
    request["family"] = family
    env = {e["name"]: e["value"] for e in request["containerDefinitions"][0]["environment"]}
    env.update(JOBINTEL_S3_PREFIX=prefix, **environment)
    request["containerDefinitions"][0]["environment"] = [{"name": k, "value": v} for k, v in env.items()]
    ecs.register_task_definition(**request)
    return family, prefix


def revisions(sandbox, family):
    """Every revision ARN of ``family`` as ECS lists it (ACTIVE)."""
    ecs = sandbox.boto3_client("ecs")
    return ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]


def latest(sandbox, family):
    return sandbox.boto3_client("ecs").describe_task_definition(taskDefinition=family)["taskDefinition"]


def container_env(definition):
    return {e["name"]: e["value"] for e in definition["containerDefinitions"][0].get("environment", [])}


def read_receipt(sandbox, root, phase, execution_id=None):
    """The receipt ``<root>/<execution id>/<phase>.json`` and its S3 copy (must agree when present)."""
    if execution_id is None:
        [execution_id] = os.listdir(root)
    with open(os.path.join(root, execution_id, "%s.json" % phase)) as handle:
        on_disk = json.load(handle)
    copy = sandbox.boto3_client("s3").get_object(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Key="receipts/%s/%s.json" % (execution_id, phase))
    assert json.loads(copy["Body"].read()) == on_disk
    return on_disk


def last_request_seq(sandbox):
    entries = sandbox.control("aws", "requests?limit=1")
    return entries[-1]["seq"] if entries else 0


def requests_since(sandbox, seq, **filters):
    query = "&".join("%s=%s" % item for item in sorted(filters.items()))
    return [e for e in sandbox.control("aws", "requests?" + query) if e["seq"] > seq]


POINTERS = ("state/last_success.json", "state/openai/cs/last_success.json")


def copy_seeded_pointers(sandbox, prefix):
    """Copy the seeded last_success pointers under ``prefix``; returns {key: etag} of the copies."""
    s3 = sandbox.boto3_client("s3")
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    etags = {}
    for relative in POINTERS:
        key = "%s/%s" % (prefix, relative)
        s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": "%s/%s" % (sandbox["SANDBOX_PREFIX"], relative)})
        etags[key] = s3.head_object(Bucket=bucket, Key=key)["ETag"]
    return etags


def read_pointer(sandbox, key):
    obj = sandbox.boto3_client("s3").get_object(Bucket=sandbox["SANDBOX_ARTIFACT_BUCKET"], Key=key)
    return json.loads(obj["Body"].read()), obj["ETag"]
