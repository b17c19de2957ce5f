"""ECR/IAM/EC2/ECS part of the seed: the image, the roles, a network RunTask accepts, the task definition.

moto 5.2.5 constraints this works around:
* RunTask answers 500 for a container definition without container-level ``memory``;
* ``awsvpc`` tasks need ``EnableDnsHostnames`` on the VPC (moto reads the ENI's private DNS name);
* only ``FARGATE`` runs without registered container instances, so that is the launch type.
"""

import hashlib
import json

from botocore.exceptions import ClientError

from . import archives

REPOSITORY = "jobintel"
IMAGE_TAG = "sandbox"
CLUSTER = "jobintel"
TASK_FAMILY = "jobintel-daily"
CONTAINER = "jobintel"
LAUNCH_TYPE = "FARGATE"
NETWORK_NAME = "jobintel-sandbox"
VPC_CIDR, SUBNET_CIDR = "10.42.0.0/16", "10.42.1.0/24"
SECURITY_GROUP = "jobintel-tasks"
SECRET_NAME = "jobintel/openai"
FINGERPRINT_TAG = "sandbox:fingerprint"
_TRUST_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
# Inline, not the AWS-managed AmazonECSTaskExecutionRolePolicy: moto does not load managed policies by default.
EXECUTION_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                   "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"},
    {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:*:*:secret:jobintel/*"},
    # The workers' DETECTOR_MODEL_VERSION secret (seed/containment.py): ECS reads SSM secrets as the execution role.
    {"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": "arn:aws:ssm:*:*:parameter/jobintel/*"}]})


def _error_code(exc):
    return exc.response.get("Error", {}).get("Code", "")


def _ensure_repository(ecr):
    try:
        ecr.describe_repositories(repositoryNames=[REPOSITORY])
    except ClientError as exc:
        if _error_code(exc) != "RepositoryNotFoundException":
            raise
        ecr.create_repository(repositoryName=REPOSITORY)


def _tagged_image(ecr, tag=IMAGE_TAG):
    """``(digest, manifest)`` currently tagged ``tag``, or ``(None, None)``."""
    images = ecr.batch_get_image(repositoryName=REPOSITORY, imageIds=[{"imageTag": tag}])["images"]
    if not images:
        return None, None
    return images[0]["imageId"]["imageDigest"], images[0].get("imageManifest")


INDEX_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json"
# What the release pipeline pushes (seed section B): one tag, a manifest list with both platforms.
ARCHITECTURES = ("amd64", "arm64")


def _digest(manifest):
    # ECR's digest is the sha256 of the manifest bytes; moto makes one up for a manifest without layers
    # (a random one for a manifest list), so it is given explicitly, as `docker push` knows it.
    return "sha256:" + hashlib.sha256(manifest.encode("utf-8")).hexdigest()


def _put(ecr, manifest, media_type, tag=None):
    kwargs = dict(repositoryName=REPOSITORY, imageManifest=manifest, imageManifestMediaType=media_type, imageDigest=_digest(manifest))
    if tag:
        kwargs["imageTag"] = tag
    return ecr.put_image(**kwargs)["image"]["imageId"]["imageDigest"]


def platform_manifest(architecture):
    """The fixture image manifest of one platform (its config blob, hence its digest, differs per architecture)."""
    document = json.loads(archives.read_fixture("ecr", "manifest.json").decode("utf-8"))
    document["config"]["digest"] = "sha256:" + hashlib.sha256(("%s/%s" % (document["config"]["digest"], architecture)).encode()).hexdigest()
    return json.dumps(document, indent=2, sort_keys=True)


def push_index(ecr, tag, architectures=ARCHITECTURES):
    """Push one untagged image manifest per architecture, then the manifest list naming them under ``tag``.

    Returns the list's digest. Idempotent: a list already under ``tag`` with the same content is left alone.
    """
    entries = []
    for architecture in architectures:
        child = platform_manifest(architecture)
        media_type = json.loads(child)["mediaType"]
        if not ecr.batch_get_image(repositoryName=REPOSITORY, imageIds=[{"imageDigest": _digest(child)}])["images"]:
            _put(ecr, child, media_type)
        entries.append({"mediaType": media_type, "size": len(child.encode("utf-8")), "digest": _digest(child),
                        "platform": {"architecture": architecture, "os": "linux"}})
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": entries}, indent=2, sort_keys=True)
    digest, current = _tagged_image(ecr, tag)
    if digest and current == index:
        return digest
    return _put(ecr, index, INDEX_MEDIA_TYPE, tag)


def ensure_image(ecr):
    """Repository ``jobintel`` holding the multi-arch image (linux/amd64 + linux/arm64) tagged ``sandbox``; returns its digest."""
    _ensure_repository(ecr)
    return push_index(ecr, IMAGE_TAG)


def ensure_role(iam, name, inline_policy=None):
    """An ECS-tasks-assumable role; returns its ARN."""
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    except ClientError as exc:
        if _error_code(exc) != "NoSuchEntity":
            raise
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=_TRUST_POLICY,
                              Description="sandbox role for the jobintel ECS task")["Role"]["Arn"]
    if inline_policy and _role_policy(iam, name) != json.loads(inline_policy):
        iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=inline_policy)
    return arn


def _role_policy(iam, name):
    try:
        document = iam.get_role_policy(RoleName=name, PolicyName=name)["PolicyDocument"]
    except ClientError as exc:
        if _error_code(exc) != "NoSuchEntity":
            raise
        return None
    return json.loads(document) if isinstance(document, str) else document


def ensure_secret(secretsmanager):
    """The secret the task definition references (its value is a placeholder)."""
    try:
        secretsmanager.describe_secret(SecretId=SECRET_NAME)
    except ClientError as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
        secretsmanager.create_secret(Name=SECRET_NAME, SecretString="sk-sandbox-placeholder-not-a-real-key")


def _name_tags(resource_type):
    return [{"ResourceType": resource_type, "Tags": [{"Key": "Name", "Value": NETWORK_NAME}]}]


def _ensure_vpc(ec2):
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [NETWORK_NAME]}])["Vpcs"]
    vpc_id = vpcs[0]["VpcId"] if vpcs else ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=_name_tags("vpc"))["Vpc"]["VpcId"]
    # One attribute per call: that is the EC2 API's rule.
    for attribute, field in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
        if not ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)[field]["Value"]:
            ec2.modify_vpc_attribute(VpcId=vpc_id, **{field: {"Value": True}})
    return vpc_id


def ensure_network(ec2, region):
    """``{"vpc_id", "subnets": [...], "security_groups": [...]}`` for awsvpc tasks."""
    vpc_id = _ensure_vpc(ec2)
    in_vpc = {"Name": "vpc-id", "Values": [vpc_id]}
    subnets = ec2.describe_subnets(Filters=[in_vpc, {"Name": "tag:Name", "Values": [NETWORK_NAME]}])["Subnets"]
    subnet_id = subnets[0]["SubnetId"] if subnets else ec2.create_subnet(
        VpcId=vpc_id, CidrBlock=SUBNET_CIDR, AvailabilityZone=region + "a", TagSpecifications=_name_tags("subnet"))["Subnet"]["SubnetId"]
    groups = ec2.describe_security_groups(Filters=[in_vpc, {"Name": "group-name", "Values": [SECURITY_GROUP]}])["SecurityGroups"]
    group_id = groups[0]["GroupId"] if groups else ec2.create_security_group(
        GroupName=SECURITY_GROUP, Description="jobintel ECS tasks (egress only)", VpcId=vpc_id)["GroupId"]
    return {"vpc_id": vpc_id, "subnets": [subnet_id], "security_groups": [group_id]}


def ensure_cluster(ecs):
    """The ECS cluster; returns its ARN."""
    clusters = ecs.describe_clusters(clusters=[CLUSTER])["clusters"]
    active = [c for c in clusters if c.get("status") == "ACTIVE"]
    return active[0]["clusterArn"] if active else ecs.create_cluster(clusterName=CLUSTER)["cluster"]["clusterArn"]


def task_definition_request(image_ref, artifact_bucket, prefix, region, account_id, roles):
    """RegisterTaskDefinition arguments (without the fingerprint tag)."""
    environment = [
        {"name": "JOBINTEL_S3_BUCKET", "value": artifact_bucket},
        {"name": "JOBINTEL_S3_PREFIX", "value": prefix},
        {"name": "REDACTION_ENFORCE", "value": "1"},
        {"name": "JOBINTEL_PROVIDERS", "value": "openai"},
        {"name": "JOBINTEL_PROFILES", "value": "cs"},
        {"name": "LOG_LEVEL", "value": "INFO"},
    ]
    secret_arn = "arn:aws:secretsmanager:%s:%s:secret:%s" % (region, account_id, SECRET_NAME)
    return {
        "family": TASK_FAMILY, "networkMode": "awsvpc", "requiresCompatibilities": [LAUNCH_TYPE], "cpu": "512", "memory": "1024",
        "executionRoleArn": roles["execution"], "taskRoleArn": roles["task"],
        "containerDefinitions": [{
            "name": CONTAINER, "image": image_ref, "essential": True, "cpu": 512, "memory": 1024,
            "environment": environment, "secrets": [{"name": "OPENAI_API_KEY", "valueFrom": secret_arn}],
        }],
    }


def ensure_task_definition(ecs, request):
    """Register ``request`` unless the latest ACTIVE revision was registered from the same request.

    Comparing a fingerprint tag rather than the described definition avoids false differences
    from the defaults ECS fills in; a second seed run therefore adds no revision.
    """
    fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True).encode("utf-8")).hexdigest()
    try:
        latest = ecs.describe_task_definition(taskDefinition=request["family"])["taskDefinition"]
    except ClientError as exc:
        if _error_code(exc) not in ("ClientException", "InvalidParameterException"):
            raise
        latest = None
    if latest and latest.get("status") == "ACTIVE":
        tags = ecs.list_tags_for_resource(resourceArn=latest["taskDefinitionArn"]).get("tags", [])
        if {"key": FINGERPRINT_TAG, "value": fingerprint} in tags:
            return latest["taskDefinitionArn"]
    tagged = dict(request, tags=[{"key": FINGERPRINT_TAG, "value": fingerprint}])
    return ecs.register_task_definition(**tagged)["taskDefinition"]["taskDefinitionArn"]


# ECS services the docs' examples name: deploy.yml -e jobintel_ecs_service=jobintel-dashboard
# (docs/ecs.md) and scale_workers.yml (docs/db-ops.md, containment_workers_service), with their counts.
SERVICES = {"jobintel-dashboard": 1, "jobintel-workers": 2}
# The DB cluster db_failover.yml fails over (containment_db_cluster_identifier in inventories/local).
DB_CLUSTER = "signalcraft-sandbox"
DB_INSTANCES = ("signalcraft-sandbox-1", "signalcraft-sandbox-2")


def ensure_services(ecs, task_definition_arn, network, task_definitions=None):
    """The services, created on the seeded revision (or their own in ``task_definitions``) unless they exist; returns their names."""
    existing = {s["serviceName"] for s in ecs.describe_services(cluster=CLUSTER, services=list(SERVICES))["services"]
                if s.get("status") == "ACTIVE"}
    for name, count in sorted(SERVICES.items()):
        if name not in existing:
            ecs.create_service(cluster=CLUSTER, serviceName=name, taskDefinition=(task_definitions or {}).get(name, task_definition_arn),
                               desiredCount=count,
                               launchType=LAUNCH_TYPE, networkConfiguration={"awsvpcConfiguration": {
                                   "subnets": network["subnets"], "securityGroups": network["security_groups"]}})
    return sorted(SERVICES)


def ensure_db_cluster(rds):
    """An Aurora PostgreSQL cluster with a writer and one reader; returns its identifier."""
    try:
        rds.describe_db_clusters(DBClusterIdentifier=DB_CLUSTER)
    except ClientError as exc:
        if _error_code(exc) != "DBClusterNotFoundFault":
            raise
        rds.create_db_cluster(DBClusterIdentifier=DB_CLUSTER, Engine="aurora-postgresql", MasterUsername="ops",
                              MasterUserPassword="sandbox-not-used-1")
    members = {m["DBInstanceIdentifier"] for m in
               rds.describe_db_clusters(DBClusterIdentifier=DB_CLUSTER)["DBClusters"][0].get("DBClusterMembers", [])}
    for name in DB_INSTANCES:
        if name not in members:
            rds.create_db_instance(DBInstanceIdentifier=name, DBClusterIdentifier=DB_CLUSTER, Engine="aurora-postgresql",
                                   DBInstanceClass="db.r6g.large")
    return DB_CLUSTER
