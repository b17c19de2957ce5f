"""module_utils/ecs.py: normalised comparison, revision derivation, waits, outcomes.

Pure functions are tested on data; describe/register/run/wait against the sandbox's ECS (a private
family per test), with a fake clock so the timeout paths take no real time.
"""

import uuid

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecs
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import layout
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.redaction import REDACTED

IMAGE = "111122223333.dkr.ecr.us-east-1.amazonaws.com/jobintel@sha256:" + "a" * 64


def request(**container):
    base = {"name": "app", "image": IMAGE, "memory": 512,
            "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
            "secrets": [{"name": "OPENAI_API_KEY", "valueFrom": "arn:aws:secretsmanager:us-east-1:111122223333:secret:jobintel/openai"}]}
    base.update(container)
    return {"family": "fam", "networkMode": "awsvpc", "cpu": 512, "memory": "1024", "requiresCompatibilities": ["FARGATE"],
            "containerDefinitions": [base]}


def described(req):
    """What DescribeTaskDefinition returns for ``req``: read-only fields and filled-in defaults."""
    out = dict(req.items())
    out.update(taskDefinitionArn="arn:aws:ecs:us-east-1:111122223333:task-definition/fam:3", revision=3, status="ACTIVE",
               registeredAt="2026-01-01T00:00:00Z", registeredBy="arn:aws:iam::111122223333:user/ops",
               requiresAttributes=[{"name": "ecs.capability.secrets.asm.environment-variables"}], compatibilities=["EC2", "FARGATE"],
               volumes=[], placementConstraints=[], cpu=str(req["cpu"]))
    container = dict(req["containerDefinitions"][0], cpu=0, essential=True, portMappings=[], mountPoints=[], volumesFrom=[],
                     environment=list(reversed(req["containerDefinitions"][0]["environment"])))
    out["containerDefinitions"] = [container]
    return out


def test_normalise_ignores_read_only_fields_api_defaults_and_env_order():
    req = request()
    assert ecs.normalise(described(req)) == ecs.normalise(req)
    assert ecs.normalise(ecs.register_request(described(req))) == ecs.normalise(req)


def test_normalise_sees_real_differences():
    assert ecs.normalise(request(image=IMAGE.replace("a" * 64, "b" * 64))) != ecs.normalise(request())
    assert ecs.normalise(request(environment=[{"name": "A", "value": "1"}])) != ecs.normalise(request())
    assert ecs.normalise(request(essential=False)) != ecs.normalise(request())
    ported = request(portMappings=[{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}])
    assert ecs.normalise(ported) == ecs.normalise(request(portMappings=[{"containerPort": 80}]))


def test_desired_request_overlays_purges_removes_and_keeps_the_rest():
    base = ecs.register_request(described(request()))
    overlaid = ecs.desired_request(base, None, image="img@sha256:" + "c" * 64, environment={"A": "9", "N": 5})
    env = {e["name"]: e["value"] for e in overlaid["containerDefinitions"][0]["environment"]}
    assert env == {"A": "9", "B": "2", "N": "5"}
    assert overlaid["containerDefinitions"][0]["secrets"] == base["containerDefinitions"][0]["secrets"]
    assert base["containerDefinitions"][0]["image"] == IMAGE  # the input is not mutated
    purged = ecs.desired_request(base, "app", environment={"ONLY": "x"}, purge_environment=True)
    assert purged["containerDefinitions"][0]["environment"] == [{"name": "ONLY", "value": "x"}]
    removed = ecs.desired_request(base, "app", remove_environment=["B"])
    assert [e["name"] for e in removed["containerDefinitions"][0]["environment"]] == ["A"]


@pytest.mark.parametrize("kwargs, reason", [
    ({"environment": {"OPENAI_API_KEY": "sk-live"}}, "environment_conflicts_with_secret"),
    ({"environment": {"FLAG": True}}, "environment_value_invalid"),
    ({"environment": {"FLAG": None}}, "environment_value_invalid"),
    ({"environment": {"JOBINTEL_S3_BUCKET": "REPLACE_WITH_PROD_ARTIFACT_BUCKET"}}, "inventory_placeholder"),
    ({"container_name": "nope"}, "container_not_found"),
])
def test_desired_request_refuses_bad_input(kwargs, reason):
    container = kwargs.pop("container_name", None)
    with pytest.raises(GuardError) as refused:
        ecs.desired_request(request(), container, **kwargs)
    assert refused.value.reason == reason


def test_describe_changes_names_changes_and_redacts_secret_looking_values():
    before = ecs.normalise(request())
    after = ecs.normalise(ecs.desired_request(request(), None, environment={"DB_PASSWORD": "hunter22", "A": "7"}))
    changes = ecs.describe_changes(before, after)
    assert "container app environment A: 1 -> 7" in changes
    assert "container app environment DB_PASSWORD added (%s)" % REDACTED in changes
    assert not any("hunter22" in line for line in changes)
    assert ecs.describe_changes(before, before) == []


def test_taskdef_environment_hides_secret_values_and_references():
    req = request(environment=[{"name": "GITHUB_TOKEN", "value": "ghp_abcdef"}, {"name": "REDACTION_ENFORCE", "value": "1"}])
    [container] = ecs.taskdef_environment(described(req))
    assert {"name": "GITHUB_TOKEN", "value": REDACTED} in container["environment"]
    assert {"name": "REDACTION_ENFORCE", "value": "1"} in container["environment"]
    assert container["secrets"] == [{"name": "OPENAI_API_KEY", "valueFrom": REDACTED}]
    lines = ecs.environment_lines([container])
    assert "OPENAI_API_KEY=<secret %s>" % REDACTED in lines and not any("ghp_" in line or "secretsmanager" in line for line in lines)


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_backoff_grows_is_capped_and_never_sleeps_past_the_deadline():
    clock = FakeClock()
    backoff = ecs.Backoff(10, delay=2, max_delay=3, clock=clock, sleep=clock.sleep)
    while backoff.pause():
        pass
    assert clock.sleeps == [2, 3, 3, 2]  # 2, 2*1.5=3, capped at 3, then only what is left
    assert clock.now == 10 and backoff.expired()
    with pytest.raises(ValueError):
        ecs.Backoff(0)


def test_artifact_location_failure_code_and_run_ids():
    location = layout.artifact_location({"JOBINTEL_S3_BUCKET": "b", "JOBINTEL_S3_PREFIX": "jobintel/"}, "r1")
    assert location["uri"] == "s3://b/jobintel/outbox/r1/" and location["paths"][0] == "s3://b/jobintel/outbox/r1/run_health.v1.json"
    assert layout.artifact_location({"JOBINTEL_S3_BUCKET": "b"}, "r1")["prefix"] == "outbox/r1/"
    assert layout.artifact_location({}, "r1") is None
    assert ecs.failure_code({"exit_code": 1}, {"failure_codes": ["FORCED_FAILURE"]}) == "FORCED_FAILURE"
    assert ecs.failure_code({"exit_code": None, "stop_code": "TaskFailedToStart"}, None) == "task_failed_to_start"
    assert ecs.failure_code({"exit_code": 137, "stop_code": "EssentialContainerExited"}, {"failure_codes": []}) == "task_exit_nonzero"
    assert ecs.validate_run_id(ecs.new_run_id())
    with pytest.raises(GuardError):
        ecs.validate_run_id("../etc")


# ------------------------------------------------------------------ against the sandbox


@pytest.fixture
def client(sandbox):
    return sandbox.boto3_client("ecs")


@pytest.fixture
def family(sandbox, client):
    seeded = client.describe_task_definition(taskDefinition=sandbox["SANDBOX_TASK_FAMILY"])["taskDefinition"]
    name = "ecs-unit-%s" % uuid.uuid4().hex[:10]
    client.register_task_definition(**dict(ecs.register_request(seeded), family=name))
    return name


def test_plan_is_unchanged_for_the_described_definition_and_registers_on_change(sandbox, client, family):
    plan = ecs.plan_revision(client, family, "jobintel", sandbox["SANDBOX_IMAGE_REF"], {"REDACTION_ENFORCE": "1"})
    assert plan["changed"] is False and plan["changes"] == []
    plan = ecs.plan_revision(client, family, "jobintel", sandbox["SANDBOX_IMAGE_REF"], {"RELEASE": "2"})
    assert plan["changed"] is True
    registered = ecs.register_revision(client, plan["request"], [{"key": "team", "value": "ops"}, {"key": "aws:cloudformation:x", "value": "y"}])
    assert registered["revision"] == 2
    tags = client.list_tags_for_resource(resourceArn=registered["taskDefinitionArn"])["tags"]
    assert tags == [{"key": "team", "value": "ops"}]
    assert ecs.plan_revision(client, family, "jobintel", sandbox["SANDBOX_IMAGE_REF"], {"RELEASE": "2"})["changed"] is False
    with pytest.raises(GuardError) as missing:
        ecs.describe_task_definition(client, "no-such-family-%s" % uuid.uuid4().hex[:6])
    assert missing.value.reason == "task_definition_not_found"


def _run(sandbox, client, family, **env):
    network = ecs.network_configuration(sandbox["SANDBOX_ECS_SUBNETS"].split(","), sandbox["SANDBOX_ECS_SECURITY_GROUPS"].split(","), False)
    env.setdefault("JOBINTEL_S3_PREFIX", "ecs-unit/%s" % family)
    req = ecs.run_task_request(sandbox["SANDBOX_ECS_CLUSTER"], family, "jobintel", env, "FARGATE", network=network)
    return ecs.start_task(client, req)


def test_wait_task_stopped_returns_the_exit_code_and_times_out_on_a_deadline(sandbox, client, family):
    clock = FakeClock()
    task = _run(sandbox, client, family, SANDBOX_EXIT_CODE="3", SANDBOX_STOP_REASON="boom")
    with pytest.raises(ecs.EcsWaitTimeout) as timed_out:
        ecs.wait_task_stopped(client, sandbox["SANDBOX_ECS_CLUSTER"], task["taskArn"], timeout=1, delay=5, clock=clock, sleep=clock.sleep)
    assert timed_out.value.last["lastStatus"] != "STOPPED" and clock.now == 1
    stopped, _waited, polls = ecs.wait_task_stopped(client, sandbox["SANDBOX_ECS_CLUSTER"], task["taskArn"], timeout=60, delay=0,
                                                    clock=clock, sleep=clock.sleep)
    outcome = ecs.task_outcome(stopped, "jobintel")
    assert outcome["exit_code"] == 3 and outcome["stopped_reason"] == "boom" and outcome["stopped"] and polls >= 1
    assert ecs.require_cluster(client, sandbox["SANDBOX_ECS_CLUSTER"]).endswith(":cluster/%s" % sandbox["SANDBOX_ECS_CLUSTER"])
    with pytest.raises(GuardError) as no_cluster:
        ecs.require_cluster(client, "no-such-cluster")
    assert no_cluster.value.reason == "cluster_not_found"
    with pytest.raises(GuardError) as missing:
        ecs.describe_task(client, sandbox["SANDBOX_ECS_CLUSTER"], task["taskArn"].rsplit("/", 1)[0] + "/" + "0" * 32)
    assert missing.value.reason == "task_not_found"


def test_service_update_is_idempotent_and_the_wait_follows_the_waiter_rule(sandbox, client, family):
    cluster = sandbox["SANDBOX_ECS_CLUSTER"]
    name = "unit-%s" % uuid.uuid4().hex[:8]
    network = ecs.network_configuration(sandbox["SANDBOX_ECS_SUBNETS"].split(","), sandbox["SANDBOX_ECS_SECURITY_GROUPS"].split(","), False)
    client.create_service(cluster=cluster, serviceName=name, taskDefinition=family, desiredCount=1, launchType="FARGATE",
                          networkConfiguration=network)
    try:
        clock = FakeClock()
        first = client.describe_task_definition(taskDefinition=family)["taskDefinition"]["taskDefinitionArn"]
        state, _waited, _polls = ecs.wait_service_stable(client, cluster, name, first, timeout=60, delay=0, clock=clock, sleep=clock.sleep)
        assert len(state["deployments"]) == 1 and state["running_count"] == state["desired_count"] == 1
        changed, _before, _after = ecs.update_service(client, cluster, name, "%s:1" % family)
        assert changed is False  # family:revision resolves to the ARN the service already runs
        plan = ecs.plan_revision(client, family, "jobintel", sandbox["SANDBOX_IMAGE_REF"], {"SANDBOX_SERVICE_ROLLOUT": "stuck"})
        stuck = ecs.register_revision(client, plan["request"])["taskDefinitionArn"]
        assert ecs.update_service(client, cluster, name, stuck, check_mode=True)[0] is True
        assert client.describe_services(cluster=cluster, services=[name])["services"][0]["taskDefinition"] == first
        changed, _before, after = ecs.update_service(client, cluster, name, stuck)
        assert changed is True and after["task_definition"] == stuck
        with pytest.raises(ecs.EcsWaitTimeout) as timed_out:
            ecs.wait_service_stable(client, cluster, name, stuck, timeout=5, delay=1, clock=clock, sleep=clock.sleep)
        assert len(timed_out.value.last["deployments"]) == 2 and timed_out.value.last["deployments"][0]["failed_tasks"] > 0
        with pytest.raises(GuardError) as missing:
            ecs.describe_service(client, cluster, "no-such-service")
        assert missing.value.reason == "service_not_found"
        with pytest.raises(GuardError) as no_cluster:  # DescribeServices raises ClusterNotFoundException
            ecs.describe_service(client, "no-such-cluster-%s" % uuid.uuid4().hex[:6], name)
        assert no_cluster.value.reason == "cluster_not_found" and "jobintel_ecs_cluster" in no_cluster.value.message
    finally:
        client.delete_service(cluster=cluster, service=name, force=True)


def test_a_run_id_with_artifacts_is_refused(sandbox):
    s3 = sandbox.boto3_client("s3")
    location = layout.artifact_location({"JOBINTEL_S3_BUCKET": sandbox["SANDBOX_ARTIFACT_BUCKET"],
                                         "JOBINTEL_S3_PREFIX": "ecs-unit/%s" % uuid.uuid4().hex[:8]}, "r1")
    layout.require_new_run(s3, location, "r1")  # nothing there yet
    s3.put_object(Bucket=location["bucket"], Key=location["prefix"] + "run_summary.v1.json", Body=b"{}")
    with pytest.raises(GuardError) as refused:
        layout.require_new_run(s3, location, "r1")
    assert refused.value.reason == "run_id_exists" and location["uri"] in refused.value.message
    layout.require_new_run(s3, None, "r1")  # no bucket, no artifacts to protect


class RolledBackService:
    """DescribeServices as ECS answers it after the circuit breaker rolled a failed rollout back.

    The failed deployment (to the new revision) is ACTIVE with rolloutState FAILED; the rollback is a
    new PRIMARY deployment of the previous revision, IN_PROGRESS. A stand-in for the AWS client
    (the sandbox has no circuit breaker).
    """

    def __init__(self, old, new):
        self.calls = 0
        self.service = {"serviceName": "svc", "status": "ACTIVE", "taskDefinition": old, "desiredCount": 1, "runningCount": 0,
                        "pendingCount": 1, "deployments": [
                            {"id": "ecs-svc/2", "status": "PRIMARY", "taskDefinition": old, "desiredCount": 1, "runningCount": 0,
                             "rolloutState": "IN_PROGRESS", "rolloutStateReason": "ECS deployment circuit breaker: rolling back."},
                            {"id": "ecs-svc/1", "status": "ACTIVE", "taskDefinition": new, "desiredCount": 0, "runningCount": 0,
                             "failedTasks": 3, "rolloutState": "FAILED",
                             "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start."}]}

    def describe_services(self, cluster, services):
        self.calls += 1
        return {"services": [self.service], "failures": []}


def test_wait_fails_fast_when_the_circuit_breaker_rolled_the_target_back():
    old = "arn:aws:ecs:us-east-1:111122223333:task-definition/fam:1"
    new = "arn:aws:ecs:us-east-1:111122223333:task-definition/fam:2"
    client, clock = RolledBackService(old, new), FakeClock()
    with pytest.raises(GuardError) as failed:
        ecs.wait_service_stable(client, "c", "svc", new, timeout=600, delay=15, clock=clock, sleep=clock.sleep)
    assert failed.value.reason == "service_rollout_failed" and "tasks failed to start" in failed.value.message
    assert client.calls == 1 and clock.now == 0  # no waiting out the timeout
    # Waiting for the previous revision (the rollback itself) is not a failure of that rollout.
    with pytest.raises(ecs.EcsWaitTimeout):
        ecs.wait_service_stable(client, "c", "svc", old, timeout=30, delay=15, clock=clock, sleep=clock.sleep)


@pytest.mark.parametrize("started_by", ["signalcraft.ops", "has space", "x" * 129, ""])
def test_started_by_outside_what_run_task_allows_is_refused(started_by):
    with pytest.raises(GuardError) as refused:
        ecs.validate_started_by(started_by)
    assert refused.value.reason == "started_by_invalid" and "signalcraft-ops" in refused.value.message


def test_started_by_that_run_task_allows_passes():
    for started_by in (None, "signalcraft-ops", "events-rule/daily_run", "x" * 128):
        assert ecs.validate_started_by(started_by) == started_by


def test_register_request_carries_every_request_field_botocore_knows_and_no_read_only_one():
    import botocore.session
    model = botocore.session.get_session().get_service_model("ecs")
    accepted = set(model.operation_model("RegisterTaskDefinition").input_shape.members) - {"tags"}
    described_fields = set(model.operation_model("DescribeTaskDefinition").output_shape.members["taskDefinition"].members)
    assert set(ecs.REGISTER_FIELDS) == accepted
    assert described_fields - accepted == set(ecs.READ_ONLY_FIELDS)  # everything else described is passed back
    full = dict((k, "x") for k in described_fields)
    assert set(ecs.register_request(full)) == accepted


def test_describe_changes_masks_a_password_inside_a_url_value():
    # DATABASE_URL is not a secret-looking name, but its value carries one; diff already masked it.
    before = normalise_env([{"name": "DATABASE_URL", "value": "postgres://jobintel:old-pass-123@db:5432/j"}])
    after = normalise_env([{"name": "DATABASE_URL", "value": "postgres://jobintel:new-pass-456@db:5432/j"}])
    changes = ecs.describe_changes(before, after)
    assert len(changes) == 1 and "old-pass-123" not in changes[0] and "new-pass-456" not in changes[0]
    assert "postgres://jobintel:" in changes[0] and REDACTED in changes[0]


def normalise_env(environment):
    return ecs.normalise({"family": "fam", "containerDefinitions": [{"name": "app", "image": IMAGE, "environment": environment}]})


class LateVisibleTask:
    """DescribeTasks as the eventually consistent ECS API can answer right after RunTask: MISSING first."""

    def __init__(self, arn, missing_polls, statuses=("RUNNING", "STOPPED")):
        self.arn, self.missing_polls, self.statuses, self.calls = arn, missing_polls, list(statuses), 0

    def describe_tasks(self, cluster, tasks):
        self.calls += 1
        if self.calls <= self.missing_polls:
            return {"tasks": [], "failures": [{"arn": self.arn, "reason": "MISSING"}]}
        status = self.statuses[min(self.calls - self.missing_polls - 1, len(self.statuses) - 1)]
        container = {"name": "jobintel", "lastStatus": status}
        if status == "STOPPED":
            container["exitCode"] = 0
        return {"tasks": [{"taskArn": self.arn, "lastStatus": status, "containers": [container]}], "failures": []}


def test_wait_task_stopped_polls_through_a_task_not_yet_visible_after_run_task():
    arn = "arn:aws:ecs:us-east-1:111122223333:task/c/0123"
    clock = FakeClock()
    task, _waited, polls = ecs.wait_task_stopped(LateVisibleTask(arn, 2), "c", arn, timeout=600, delay=2, clock=clock, sleep=clock.sleep)
    assert task["lastStatus"] == "STOPPED" and polls == 4 and ecs.task_outcome(task, "jobintel")["exit_code"] == 0
    # A task that never shows up is task_not_found once the grace is over, not a wait of the whole timeout.
    clock = FakeClock()
    with pytest.raises(GuardError) as missing:
        ecs.wait_task_stopped(LateVisibleTask(arn, 10 ** 6), "c", arn, timeout=3600, delay=5, clock=clock, sleep=clock.sleep)
    assert missing.value.reason == "task_not_found" and ecs.NOT_VISIBLE_GRACE_S <= clock.now < 120


def test_run_overrides_of_a_secret_name_are_refused():
    definition = request()
    assert ecs.effective_environment(definition, "app", {"B": "3"}) == ("app", {"A": "1", "B": "3"})
    with pytest.raises(GuardError) as clash:
        ecs.effective_environment(definition, "app", {"OPENAI_API_KEY": "sk-plain-text"})
    assert clash.value.reason == "environment_conflicts_with_secret" and "OPENAI_API_KEY" in clash.value.message
    assert "sk-plain-text" not in clash.value.message
