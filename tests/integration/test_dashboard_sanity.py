"""playbooks/dashboard_sanity.yml against the sandbox's primary and DR API-server emulators.

Each failing case gets its own namespace with its own copy of the dashboard (Deployment + Service), so the
seeded primary stays as it was seeded. What the check concluded is compared with what the cluster holds
(read back with the kubernetes client), and the receipts are read from disk and S3.
"""

import json
import os
import uuid

import pytest
import yaml
from kubernetes import client

from tests.conftest import REPO_ROOT

FIXTURES = os.path.join(REPO_ROOT, "tests", "sandbox", "seed", "fixtures")


def _dashboard(sandbox, namespace, cluster="primary", env=None, replicas=1):
    """A copy of the seeded dashboard (Deployment + Service) in ``namespace``; returns the api client."""
    api = sandbox.k8s_api_client(cluster)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_namespace({"metadata": {"name": namespace}})
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "jobintel"}})
    with open(os.path.join(FIXTURES, "k8s", "03-deployment.yaml")) as handle:
        deployment = yaml.safe_load(handle.read().replace("${image_ref}", "public.ecr.aws/docker/library/busybox:1.36"))
    deployment["metadata"]["namespace"] = namespace
    deployment["spec"]["replicas"] = replicas
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container.pop("envFrom")
    container["env"] = [{"name": k, "value": v} for k, v in (env or {}).items()]
    apps.create_namespaced_deployment(namespace, deployment)
    with open(os.path.join(FIXTURES, "k8s-primary", "00-dashboard-service.yaml")) as handle:
        service = yaml.safe_load(handle)
    service["metadata"]["namespace"] = namespace
    core.create_namespaced_service(namespace, service)
    return api


def _wait_available(api, namespace, want):
    import time

    apps = client.AppsV1Api(api)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = apps.read_namespaced_deployment("jobintel-dashboard", namespace).status
        if (status.available_replicas or 0) == want and (want or status.observed_generation):
            return
        time.sleep(0.3)
    raise AssertionError("deployment in %s never had %d available replicas" % (namespace, want))


def _receipt(sandbox, root, execution_id, cluster):
    with open(os.path.join(str(root), execution_id, "dashboard_sanity_%s.json" % cluster)) as handle:
        on_disk = json.load(handle)
    obj = sandbox.boto3_client("s3").get_object(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"],
                                                Key="receipts/%s/dashboard_sanity_%s.json" % (execution_id, cluster))
    assert json.loads(obj["Body"].read()) == on_disk
    return on_disk


def test_the_seeded_primary_dashboard_is_available_and_healthy(sandbox, run_playbook, tmp_path):
    execution_id = "dash-%s" % uuid.uuid4().hex[:8]
    before = client.AppsV1Api(sandbox.k8s_api_client()).read_namespaced_deployment("jobintel-dashboard", "jobintel")
    run = run_playbook("dashboard_sanity.yml", {"signalcraft_execution_id": execution_id, "signalcraft_receipt_root": str(tmp_path)})
    assert run.rc == 0, run.stdout
    assert "dashboard_sanity status=ok cluster=primary available=1/1 code=200" in run.stdout
    done = _receipt(sandbox, tmp_path, execution_id, "primary")
    assert done["status"] == "success" and done["outputs"]["health"]["code"] == 200
    assert done["outputs"]["proxy_path"] == "/api/v1/namespaces/jobintel/services/jobintel-dashboard:http/proxy/healthz"
    # Read only: the Deployment is the object it was.
    after = client.AppsV1Api(sandbox.k8s_api_client()).read_namespaced_deployment("jobintel-dashboard", "jobintel")
    assert after.metadata.resource_version == before.metadata.resource_version


@pytest.mark.parametrize("case,reason", [
    ("unhealthy", "dashboard_unhealthy"),
    ("scaled_to_zero", "dashboard_unavailable"),
    ("no_service", "dashboard_service_missing"),
    ("wrong_port", "dashboard_no_endpoints"),
    ("unnamed_port", "dashboard_no_endpoints"),
])
def test_each_way_the_dashboard_can_be_down_has_its_token(sandbox, run_playbook, tmp_path, case, reason):
    namespace = "dash-%s-%s" % (case.replace("_", "-"), uuid.uuid4().hex[:6])
    api = _dashboard(sandbox, namespace, env={"DASHBOARD_HEALTHZ_STATUS": "500"} if case == "unhealthy" else None,
                     replicas=0 if case == "scaled_to_zero" else 1)
    try:
        _wait_available(api, namespace, 0 if case == "scaled_to_zero" else 1)
        if case == "no_service":
            client.CoreV1Api(api).delete_namespaced_service("jobintel-dashboard", namespace)
        extra = {"dashboard_sanity_namespace": namespace}
        if case == "wrong_port":
            extra["dashboard_sanity_port"] = "metrics"
        if case == "unnamed_port":
            # The real API server matches a named Service port by name only: "svc" alone has no endpoint.
            extra["dashboard_sanity_port"] = ""
        run = run_playbook("dashboard_sanity.yml", extra)
        assert run.rc != 0
        assert "dashboard_sanity status=fail reason=%s cluster=primary" % reason in run.stdout, run.stdout
        if case == "unhealthy":
            assert "answered 500" in run.stdout
    finally:
        client.CoreV1Api(api).delete_namespace(namespace)


def test_a_numeric_port_is_translated_to_the_named_service_port(sandbox, run_playbook):
    run = run_playbook("dashboard_sanity.yml", {"dashboard_sanity_port": "80"})
    assert run.rc == 0 and "dashboard_sanity status=ok cluster=primary" in run.stdout, run.stdout


def test_both_clusters_in_one_run_and_rbac_without_services_proxy(sandbox, run_playbook, tmp_path):
    namespace = "dash-dr-%s" % uuid.uuid4().hex[:6]
    api = _dashboard(sandbox, namespace, cluster="dr")
    try:
        _wait_available(api, namespace, 1)
        execution_id = "dash-both-%s" % uuid.uuid4().hex[:6]
        run = run_playbook("dashboard_sanity.yml", {"dashboard_sanity_clusters": ["primary", "dr"], "dashboard_sanity_namespace": namespace,
                                                    "signalcraft_execution_id": execution_id, "signalcraft_receipt_root": str(tmp_path)})
        # The primary has no dashboard in this namespace: the first cluster fails and stops the play.
        assert run.rc != 0 and "reason=dashboard_unavailable cluster=primary" in run.stdout
        assert _receipt(sandbox, tmp_path, execution_id, "primary")["failure_code"] == "dashboard_unavailable"
        run = run_playbook("dashboard_sanity.yml", {"dashboard_sanity_clusters": ["dr"], "dashboard_sanity_namespace": namespace,
                                                    "signalcraft_execution_id": execution_id, "signalcraft_receipt_root": str(tmp_path)})
        assert run.rc == 0 and "dashboard_sanity status=ok cluster=dr available=1/1 code=200" in run.stdout, run.stdout
        assert _receipt(sandbox, tmp_path, execution_id, "dr")["status"] == "success"

        # An identity that may read Deployments but not services/proxy: k8s_forbidden, as the real RBAC answers.
        identity = sandbox.control("dr", "identities", {"name": "dash-reader-%s" % uuid.uuid4().hex[:6], "rules": [
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}]})
        with open(sandbox["SANDBOX_DR_KUBECONFIG"]) as handle:
            document = yaml.safe_load(handle)
        document["users"][0]["user"]["token"] = identity["token"]
        kubeconfig = tmp_path / "reader.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(document))
        kubeconfig.chmod(0o600)
        run = run_playbook("dashboard_sanity.yml", {"dashboard_sanity_clusters": ["dr"], "dashboard_sanity_namespace": namespace,
                                                    "dashboard_sanity_kubeconfigs": {"dr": str(kubeconfig)}})
        assert run.rc != 0 and "dashboard_sanity status=fail reason=k8s_forbidden" in run.stdout, run.stdout
        assert identity["token"] not in run.stdout
    finally:
        client.CoreV1Api(api).delete_namespace(namespace)
