"""module_utils/containment.py against the sandbox's ECS and RDS (moto), with unique names per test."""

import uuid

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import containment
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage.containment import ContainmentError


class FakeClock:
    """A clock the waits advance through sleep(), so a timeout takes no real time."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def reason(callable_, *args, **kwargs):
    with pytest.raises(ContainmentError) as info:
        callable_(*args, **kwargs)
    return info.value


@pytest.fixture
def service(sandbox):
    ecs = sandbox.boto3_client("ecs")
    name = "workers-%s" % uuid.uuid4().hex[:8]
    ecs.create_service(cluster=sandbox["SANDBOX_ECS_CLUSTER"], serviceName=name, taskDefinition=sandbox["SANDBOX_TASK_FAMILY"],
                       desiredCount=2)
    return ecs, sandbox["SANDBOX_ECS_CLUSTER"], name


@pytest.fixture
def cluster(sandbox):
    rds = sandbox.boto3_client("rds")
    name = "db-%s" % uuid.uuid4().hex[:8]
    rds.create_db_cluster(DBClusterIdentifier=name, Engine="aurora-postgresql", MasterUsername="ops", MasterUserPassword="not-used-123")
    for suffix in ("a", "b", "c"):
        rds.create_db_instance(DBInstanceIdentifier="%s-%s" % (name, suffix), DBClusterIdentifier=name, Engine="aurora-postgresql",
                               DBInstanceClass="db.r6g.large")
    return rds, name


def desired(ecs, cluster_name, name):
    return ecs.describe_services(cluster=cluster_name, services=[name])["services"][0]["desiredCount"]


def writer(rds, name):
    members = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]["DBClusterMembers"]
    return [m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"]]


def test_scale_plan_write_and_wait(service):
    ecs, cluster_name, name = service
    state = containment.describe_service(ecs, cluster_name, name)
    assert state["desired_count"] == 2 and state["status"] == "ACTIVE"
    plan = containment.plan_scale(state, 6, max_desired_count=20)
    assert plan == {"changed": True, "before": {"desired_count": 2}, "after": {"desired_count": 6}}
    assert not containment.plan_scale(state, 2)["changed"]
    assert reason(containment.plan_scale, state, 21, 20).reason == "desired_count_above_max"
    assert reason(containment.plan_scale, state, -1).reason == "invalid_desired_count"
    assert desired(ecs, cluster_name, name) == 2  # planning wrote nothing
    containment.scale_service(ecs, cluster_name, name, 6)
    done = containment.wait_for_running(ecs, cluster_name, name, 6, timeout=30, poll_interval=0.1)
    assert desired(ecs, cluster_name, name) == 6 and done["running_count"] == 6
    assert containment.scale_line("ok", state=done, previous=2, desired=6) == "scale_workers status=ok desired=6 previous=2 running=6"


def stuck_service(sandbox):
    """A service whose tasks never start (the sandbox's crash-looping image, see its ECS README)."""
    ecs = sandbox.boto3_client("ecs")
    family = "stuck-%s" % uuid.uuid4().hex[:8]
    ecs.register_task_definition(family=family, containerDefinitions=[{
        "name": "worker", "image": sandbox["SANDBOX_IMAGE_REF"], "memory": 512, "essential": True,
        "environment": [{"name": "SANDBOX_SERVICE_ROLLOUT", "value": "stuck"}]}])
    name = "workers-%s" % uuid.uuid4().hex[:8]
    ecs.create_service(cluster=sandbox["SANDBOX_ECS_CLUSTER"], serviceName=name, taskDefinition=family, desiredCount=2)
    return ecs, sandbox["SANDBOX_ECS_CLUSTER"], name


def test_wait_times_out_with_the_last_state(sandbox):
    ecs, cluster_name, name = stuck_service(sandbox)
    clock = FakeClock()
    error = reason(containment.wait_for_running, ecs, cluster_name, name, 2, timeout=30, poll_interval=10, clock=clock, sleep=clock.sleep)
    assert error.reason == "scale_timeout" and error.details["state"]["running_count"] == 0
    assert clock.now == 30 and clock.sleeps == [10, 10, 10]


def test_missing_services_and_clusters_are_named(sandbox):
    ecs = sandbox.boto3_client("ecs")
    assert reason(containment.describe_service, ecs, sandbox["SANDBOX_ECS_CLUSTER"], "no-such-svc").reason == "service_not_found"
    assert reason(containment.describe_service, ecs, "no-such-cluster-%s" % uuid.uuid4().hex[:6], "x").reason == "cluster_not_found"
    assert reason(containment.describe_cluster, sandbox.boto3_client("rds"), "no-such-db").reason == "cluster_not_found"


def test_failover_plan_act_and_wait(cluster):
    rds, name = cluster
    state = containment.describe_cluster(rds, name)
    first_writer = state["writer"]
    assert first_writer and len(state["readers"]) == 2 and state["status"] == "available"
    target = state["readers"][-1]
    assert containment.plan_failover(state, first_writer)["changed"] is False
    plan = containment.plan_failover(state, target)
    assert plan["changed"] and plan["before"] == {"writer": first_writer} and plan["after"] == {"writer": target}
    assert containment.plan_failover(state)["after"] == {"writer": None}
    assert reason(containment.plan_failover, state, "stranger").reason == "target_not_member"
    assert writer(rds, name) == [first_writer]  # planning wrote nothing
    containment.failover(rds, name, target)
    done = containment.wait_for_failover(rds, name, first_writer, target, timeout=30, poll_interval=0.1)
    assert done["writer"] == target and writer(rds, name) == [target]
    # Without a target, RDS promotes some reader: any writer but the previous one.
    containment.failover(rds, name)
    again = containment.wait_for_failover(rds, name, target, timeout=30, poll_interval=0.1)
    assert again["writer"] != target and writer(rds, name) == [again["writer"]]


def test_failover_waits_for_the_named_target_and_times_out(cluster):
    rds, name = cluster
    state = containment.describe_cluster(rds, name)
    clock = FakeClock()
    # Nothing was failed over, so the writer never changes.
    error = reason(containment.wait_for_failover, rds, name, state["writer"], state["readers"][0], timeout=20, poll_interval=5,
                   clock=clock, sleep=clock.sleep)
    assert error.reason == "failover_timeout" and error.details["state"]["writer"] == state["writer"]


def test_a_cluster_without_readers_cannot_fail_over():
    lonely = containment.cluster_state({"DBClusterIdentifier": "solo", "Status": "available",
                                        "DBClusterMembers": [{"DBInstanceIdentifier": "solo-1", "IsClusterWriter": True}]})
    assert reason(containment.plan_failover, lonely).reason == "no_failover_target"
    busy = containment.cluster_state({"DBClusterIdentifier": "busy", "Status": "failing-over", "DBClusterMembers": [
        {"DBInstanceIdentifier": "b-1", "IsClusterWriter": True}, {"DBInstanceIdentifier": "b-2", "IsClusterWriter": False}]})
    assert reason(containment.plan_failover, busy).reason == "cluster_not_available"
