"""Seed the sandbox account and describe what was seeded (the ``--out`` JSON).

Idempotent: every step looks before it writes, so a second run changes nothing and returns the
same document.
"""

import json
import os

import boto3

from . import archives, compute, containment, storage

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def clients(endpoint_url, region):
    """A function ``name -> boto3 client`` bound to the sandbox endpoint."""
    session = boto3.session.Session(region_name=region, **CREDENTIALS)
    return lambda name: session.client(name, endpoint_url=endpoint_url)


def seed_compute(client, region, account_id, buckets, prefix):
    """ECR image, IAM roles, secret, network, cluster and task definition; returns output fields."""
    digest = compute.ensure_image(client("ecr"))
    repository_uri = "%s.dkr.ecr.%s.amazonaws.com/%s" % (account_id, region, compute.REPOSITORY)
    image_ref = "%s@%s" % (repository_uri, digest)
    iam = client("iam")
    roles = {"execution": compute.ensure_role(iam, "jobintel-execution", compute.EXECUTION_POLICY),
             "task": compute.ensure_role(iam, "jobintel-task")}
    compute.ensure_secret(client("secretsmanager"))
    network = compute.ensure_network(client("ec2"), region)
    ecs = client("ecs")
    compute.ensure_cluster(ecs)
    request = compute.task_definition_request(image_ref, buckets["artifact"], prefix, region, account_id, roles)
    task_definition_arn = compute.ensure_task_definition(ecs, request)
    parameters = containment.ensure_parameters(client("ssm"))
    workers_arn = compute.ensure_task_definition(ecs, containment.workers_task_definition_request(request, region, account_id))
    services = compute.ensure_services(ecs, task_definition_arn, network, {"jobintel-workers": workers_arn})
    return {
        "image_ref": image_ref, "image_digest": digest, "image_tag_ref": "%s:%s" % (repository_uri, compute.IMAGE_TAG),
        "ecr_repository": compute.REPOSITORY, "ecs_cluster": compute.CLUSTER, "task_family": compute.TASK_FAMILY,
        "task_definition_arn": task_definition_arn, "ecs_services": services,
        "db_cluster": compute.ensure_db_cluster(client("rds")),
        # What the containment toggles act on (docs/db-ops.md; inventories/local's containment_*).
        "ssm_parameters": parameters, "ingestion_queue": containment.ensure_queue(client("sqs")),
        "workers_task_family": containment.WORKERS_FAMILY,
        "ecs_subnets": network["subnets"], "ecs_security_groups": network["security_groups"],
        "ecs_launch_type": compute.LAUNCH_TYPE, "vpc_id": network["vpc_id"],
    }


def seed(endpoint_url, region, account_id, prefix="jobintel"):
    """Seed everything; returns the output document."""
    client = clients(endpoint_url, region)
    s3 = client("s3")
    buckets = storage.ensure_buckets(s3, account_id, region)
    output = seed_compute(client, region, account_id, buckets, prefix)
    values = {"image_ref": output["image_ref"], "artifact_bucket": buckets["artifact"], "prefix": prefix}
    backup_uri = storage.seed_backup(s3, buckets["backup"], prefix, values, output["image_digest"])
    spec = storage.published_run_spec(region, account_id, output["image_ref"])
    output.update({
        "account_id": account_id, "region": region, "endpoint_url": endpoint_url, "prefix": prefix,
        "artifact_bucket": buckets["artifact"], "backup_bucket": buckets["backup"], "receipt_bucket": buckets["receipt"],
        "temporary_uploads_bucket": buckets["temporary_uploads"], "recordings_bucket": buckets["recordings"],
        "exports_bucket": buckets["exports"], "backup_id": storage.BACKUP_ID, "backup_uri": backup_uri,
        "control_plane_source_dir": archives.fixture_path("control-plane"),
        "published_run_id": storage.seed_published_run(s3, buckets["artifact"], prefix, spec, output["image_digest"]),
        # What the docs' examples use: a finished run an ECS task left in the outbox, not yet published
        # (docs/publish.md), and a failed one (docs/runs.md), both after the published run.
        "outbox_run_ids": [storage.seed_outbox_run(s3, buckets["artifact"], prefix, run_spec)
                           for run_spec in storage.outbox_run_specs(region, account_id, output["image_ref"])],
        "recordings": storage.seed_recording_objects(s3, buckets["recordings"]),
    })
    return output


def write_output(path, document):
    """Pretty JSON, written to a temporary file and renamed into place."""
    temporary = "%s.%d.tmp" % (path, os.getpid())
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(temporary, path)
