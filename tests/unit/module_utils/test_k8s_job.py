"""Validate Job: manifest, resource guard, failure classification; one Job per outcome against the sandbox's DR cluster."""

import time
import uuid

import pytest
from kubernetes import client as k8s_client

from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s_job
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError

IMAGE = "registry.example.com/jobintel@sha256:" + "b" * 64


def reason(callable_, *args, **kwargs):
    with pytest.raises(GuardError) as info:
        callable_(*args, **kwargs)
    return info.value.reason


def test_pinned_resources_and_overrides():
    assert k8s_job.resources() == {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "2Gi"}}
    assert k8s_job.resources(request_memory="640Mi", request_cpu="300m")["requests"] == {"cpu": "300m", "memory": "640Mi"}
    assert reason(k8s_job.resources, request_memory="3Gi") == "invalid_resources"
    assert reason(k8s_job.resources, request_cpu="2") == "invalid_resources"
    assert reason(k8s_job.resources, request_memory="lots") == "invalid_resources"
    assert k8s_job.parse_quantity("250m", "x") * 4 == 1 and k8s_job.parse_quantity("1Gi", "x") == 2 ** 30


def test_job_names_stay_valid_label_values():
    assert k8s_job.job_name("dr-validate", "dr-1", 2) == "dr-validate-dr-1-2"
    long = k8s_job.job_name("dr-validate", "x" * 63, 3)
    assert len(long) <= 63 and long.endswith("-3") and long != k8s_job.job_name("dr-validate", "x" * 62 + "y", 3)


def test_manifest_runs_once_with_the_service_account_and_labels():
    manifest = k8s_job.job_manifest("j", "ns", IMAGE, "dr-1", 1, k8s_job.resources(), env={"B": 2, "A": "1"})
    spec = manifest["spec"]
    assert spec["backoffLimit"] == 0 and spec["template"]["spec"]["restartPolicy"] == "Never"
    assert spec["template"]["spec"]["serviceAccountName"] == "jobintel"
    container = spec["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert manifest["metadata"]["labels"][k8s_job.RUN_ID_LABEL] == "dr-1"


def pod(conditions=None, statuses=None, phase="Pending", name="p"):
    return {"metadata": {"name": name}, "status": {"phase": phase, "conditions": conditions or [], "containerStatuses": statuses or []}}


@pytest.mark.parametrize("subject, category, outcome", [
    (pod([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
           "message": "0/1 nodes are available: 1 Insufficient memory."}]), "insufficient_memory", "retryable"),
    (pod([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
           "message": "0/1 nodes are available: 1 Insufficient cpu."}]), "unschedulable", "fatal"),
    (pod(statuses=[{"name": "c", "state": {"waiting": {"reason": "ErrImagePull", "message": "pull access denied"}}}]), "image_pull", "retryable"),
    (pod(statuses=[{"name": "c", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]), "image_pull", "retryable"),
    (pod(statuses=[{"name": "c", "state": {"waiting": {"reason": "CreateContainerConfigError", "message": "secret missing"}}}]),
     "container_error", "fatal"),
    (pod(statuses=[{"name": "c", "state": {"waiting": {"reason": "InvalidImageName"}}}]), "container_error", "fatal"),
    (pod(statuses=[{"name": "c", "state": {"terminated": {"exitCode": 3, "reason": "Error"}}}], phase="Failed"), "job_failed", "fatal"),
])
def test_pod_classification(subject, category, outcome):
    found = k8s_job.classify_pod(subject)
    assert found["category"] == category and found["outcome"] == outcome and found["pod_name"] == "p"


def test_pods_on_their_way_are_not_classified():
    assert k8s_job.classify_pod(pod()) is None
    assert k8s_job.classify_pod(pod(statuses=[{"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}}])) is None
    assert k8s_job.classify_pod(pod(statuses=[{"name": "c", "state": {"running": {}}}], phase="Running")) is None
    running = {"status": {"conditions": []}}
    assert k8s_job.classify(running, [pod()]) is None


def test_job_conditions_win_over_pods():
    done = {"status": {"conditions": [{"type": "Complete", "status": "True", "reason": "CompletionsReached"}]}}
    assert k8s_job.classify(done, [])["outcome"] == "success"
    deadline = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]}}
    assert k8s_job.classify(deadline, [])["category"] == "validate_timeout"
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}
    exited = pod(statuses=[{"name": "c", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}], phase="Failed")
    assert k8s_job.classify(failed, [exited])["exit_code"] == 2
    assert k8s_job.classify(None, [])["outcome"] == "fatal"


@pytest.fixture
def dr(sandbox):
    """A fresh namespace with a ServiceAccount in the DR cluster; the node's memory is restored afterwards."""
    api = sandbox.k8s_api_client("dr")
    core = k8s_client.CoreV1Api(api)
    namespace = "kjob-%s" % uuid.uuid4().hex[:8]
    core.create_namespace({"metadata": {"name": namespace}})
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "jobintel"}})
    config = sandbox.control("dr", "config")
    sandbox.clear_faults()
    yield namespace, k8s_job.JobRunner(kubeconfig=sandbox["SANDBOX_DR_KUBECONFIG"]), k8s_client.BatchV1Api(api)
    sandbox.control("dr", "config", {"node_allocatable_memory": config["node_allocatable_memory"]})
    sandbox.clear_faults()
    core.delete_namespace(namespace)


def run(runner, namespace, attempt, env=None, image=IMAGE, progress=None, **resource_kwargs):
    manifest = k8s_job.job_manifest(k8s_job.job_name("t", namespace, attempt), namespace, image, namespace, attempt,
                                    k8s_job.resources(**resource_kwargs), env=env)
    return runner.run(manifest, timeout=30, poll=0.2, progress=progress)


def test_jobs_in_the_dr_cluster(sandbox, dr):
    namespace, runner, batch = dr
    polls = []
    ok = run(runner, namespace, 1, env={"SANDBOX_RUN_SECONDS": "0.2", "SANDBOX_LOG": "validate ok"},
             progress=lambda waited, timeout, **counts: polls.append((waited, timeout, counts)))
    assert ok["outcome"] == "success" and ok["log_tail"] == ["validate ok"]
    # The wait reported each poll (seconds waited of the timeout, the Job's counts); the last one, final, saw it succeed.
    assert [p[0] for p in polls] == sorted(p[0] for p in polls) and all(p[1] == 30 for p in polls)
    assert polls[-1][2] == {"final": True, "active": 0, "succeeded": 1, "failed": 0}
    assert not any(p[2]["final"] for p in polls[:-1])
    job = batch.read_namespaced_job(ok["job_name"], namespace)
    assert job.status.succeeded == 1
    limits = job.spec.template.spec.containers[0].resources
    assert limits.requests == {"cpu": "250m", "memory": "512Mi"} and limits.limits == {"cpu": "1", "memory": "2Gi"}
    # A rerun with the same name replaces the earlier Job.
    assert run(runner, namespace, 1, env={"SANDBOX_RUN_SECONDS": "0.1"})["replaced"] is True

    failed = run(runner, namespace, 2, env={"SANDBOX_RUN_SECONDS": "0.1", "SANDBOX_EXIT_CODE": "3"})
    assert failed["outcome"] == "fatal" and failed["category"] == "job_failed" and failed["exit_code"] == 3
    assert batch.read_namespaced_job(failed["job_name"], namespace).status.failed == 1

    sandbox.control("dr", "faults", {"pull": {"fail_images": ["registry.example.com/jobintel"]}})
    pull = run(runner, namespace, 3)
    assert pull["outcome"] == "retryable" and pull["category"] == "image_pull" and pull["pod_reason"] in k8s_job.PULL_REASONS
    names = [j.metadata.name for j in batch.list_namespaced_job(namespace).items]
    assert pull["job_name"] not in names  # deleted so the retry starts clean
    sandbox.clear_faults()

    sandbox.control("dr", "config", {"node_allocatable_memory": "256Mi"})
    memory = run(runner, namespace, 4)
    assert memory["outcome"] == "retryable" and memory["category"] == "insufficient_memory"
    assert "Insufficient memory" in memory["message"]
    smaller = run(runner, namespace, 5, env={"SANDBOX_RUN_SECONDS": "0.1"}, request_memory="128Mi")
    assert smaller["outcome"] == "success"

    dry = runner.run(k8s_job.job_manifest("dry-1", namespace, IMAGE, namespace, 1, k8s_job.resources()), dry_run=True)
    assert dry["dry_run"] and "dry-1" not in [j.metadata.name for j in batch.list_namespaced_job(namespace).items]
    # Check mode of a rerun: the Job of that name exists (a dry-run create of it would be 409 AlreadyExists).
    uid = batch.read_namespaced_job(smaller["job_name"], namespace).metadata.uid
    jobs_before = sorted(j.metadata.name for j in batch.list_namespaced_job(namespace).items)
    rerun = runner.run(k8s_job.job_manifest(smaller["job_name"], namespace, IMAGE, namespace, 5, k8s_job.resources()), dry_run=True)
    assert rerun["dry_run"] and rerun["replaced"] and rerun["outcome"] == "success"
    assert batch.read_namespaced_job(smaller["job_name"], namespace).metadata.uid == uid
    assert sorted(j.metadata.name for j in batch.list_namespaced_job(namespace).items) == jobs_before


def test_a_job_still_running_at_the_timeout_is_stopped(sandbox, dr):
    namespace, runner, batch = dr
    manifest = k8s_job.job_manifest(k8s_job.job_name("t", namespace, 9), namespace, IMAGE, namespace, 9, k8s_job.resources(),
                                    env={"SANDBOX_RUN_SECONDS": "60"})
    slow = runner.run(manifest, timeout=1, poll=0.2)
    assert slow["outcome"] == "fatal" and slow["category"] == "validate_timeout" and slow["deleted"] is True
    # Read back: neither the Job nor its pods outlive the wait.
    assert slow["job_name"] not in [j.metadata.name for j in batch.list_namespaced_job(namespace).items]
    core = k8s_client.CoreV1Api(sandbox.k8s_api_client("dr"))
    for _attempt in range(50):  # the garbage collector removes the pods shortly after the Job (Background)
        pods = core.list_namespaced_pod(namespace, label_selector="job-name=%s" % slow["job_name"]).items
        if not [p for p in pods if not p.metadata.deletion_timestamp]:
            break
        time.sleep(0.2)
    assert [p.metadata.name for p in pods if not p.metadata.deletion_timestamp] == []
