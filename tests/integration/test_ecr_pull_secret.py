"""ecr_pull_secret.yml against the sandbox's ECR and the ``dr`` Kubernetes emulator.

The dry run is read back (nothing stored); a real run is proven by the emulator's kubelet pulling the
ECR image with the Secret; after the sandbox revokes pull credentials, a refresh makes pulls work again.
"""

import base64
import json
import time
import uuid

from kubernetes import client as k8s_client


def changed_tasks(run):
    stats = [e for e in run.events if e.get("event") == "playbook_on_stats"][0]["event_data"]
    return sum((stats.get("changed") or {}).values())


def pod_state(core, namespace, name):
    pod = core.read_namespaced_pod(name, namespace)
    statuses = pod.status.container_statuses or []
    if statuses and statuses[0].state.running:
        return "running"
    if statuses and statuses[0].state.waiting:
        return statuses[0].state.waiting.reason
    return pod.status.phase


def wait_for(core, namespace, name, wanted, timeout=20):
    deadline, state = time.time() + timeout, None
    while time.time() < deadline:
        state = pod_state(core, namespace, name)
        if state in wanted:
            return state
        time.sleep(0.3)
    return state


def start_pod(core, namespace, image):
    name = "pull-%s" % uuid.uuid4().hex[:8]
    core.create_namespaced_pod(namespace, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"serviceAccountName": "jobintel", "restartPolicy": "Always", "containers": [{"name": "c", "image": image}]}})
    return name


def test_dry_run_then_create_link_revoke_and_refresh(sandbox, clean_faults, run_playbook, tmp_path):
    core = k8s_client.CoreV1Api(sandbox.k8s_api_client("dr"))
    namespace = "ecr-%s" % uuid.uuid4().hex[:10]
    common = {"dr_bundle_namespace": namespace, "signalcraft_receipt_root": str(tmp_path / "receipts")}

    # Dry run on a namespace that does not exist yet: nothing is created.
    dry = run_playbook("ecr_pull_secret.yml", dict(common, signalcraft_execution_id="dry"), check=True)
    assert dry.rc == 0, dry.stdout
    assert namespace not in [n.metadata.name for n in core.list_namespace().items]
    assert "ecr_pull_secret status=planned" in " ".join(dry.stdout.split()) and not (tmp_path / "receipts" / "dry").exists()
    # Dry run on an existing namespace with a ServiceAccount that already names another pull secret.
    core.create_namespace({"metadata": {"name": namespace}})
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "jobintel"}, "imagePullSecrets": [{"name": "other"}]})
    dry = run_playbook("ecr_pull_secret.yml", dict(common, signalcraft_execution_id="dry-2"), check=True)
    assert dry.rc == 0, dry.stdout
    assert [s.metadata.name for s in core.list_namespaced_secret(namespace).items] == []
    assert [s.name for s in core.read_namespaced_service_account("jobintel", namespace).image_pull_secrets] == ["other"]

    created = run_playbook("ecr_pull_secret.yml", dict(common, signalcraft_execution_id="create"))
    assert created.rc == 0, created.stdout
    secret = core.read_namespaced_secret("ecr-pull", namespace)
    assert secret.type == "kubernetes.io/dockerconfigjson"
    password = base64.b64decode(sandbox.boto3_client("ecr").get_authorization_token()["authorizationData"][0]
                                ["authorizationToken"]).decode().split(":", 1)[1]
    assert password not in created.stdout
    assert password not in (tmp_path / "receipts" / "create" / "pull_secret.json").read_text()
    assert [s.name for s in core.read_namespaced_service_account("jobintel", namespace).image_pull_secrets] == ["other", "ecr-pull"]
    first_pod = start_pod(core, namespace, sandbox["SANDBOX_IMAGE_REF"])
    assert wait_for(core, namespace, first_pod, ("running",)) == "running"

    # The sandbox revokes pull credentials: Secrets written before now stop authenticating.
    sandbox.control("dr", "faults", {"pull": {"revoke_credentials": True}})
    blocked = start_pod(core, namespace, sandbox["SANDBOX_IMAGE_REF"])
    assert wait_for(core, namespace, blocked, ("ErrImagePull", "ImagePullBackOff")) in ("ErrImagePull", "ImagePullBackOff")

    refreshed = run_playbook("ecr_pull_secret.yml", dict(common, signalcraft_execution_id="refresh", dr_bundle_pull_secret_refresh="always"))
    assert refreshed.rc == 0, refreshed.stdout
    receipt = json.loads((tmp_path / "receipts" / "refresh" / "pull_secret.json").read_text())
    assert receipt["outputs"]["secret_changed"] is True and receipt["outputs"]["refresh_reason"] == "refresh=always"
    assert core.read_namespaced_secret("ecr-pull", namespace).metadata.resource_version != secret.metadata.resource_version
    assert wait_for(core, namespace, blocked, ("running",)) == "running"
    assert [s.name for s in core.read_namespaced_service_account("jobintel", namespace).image_pull_secrets] == ["other", "ecr-pull"]

    again = run_playbook("ecr_pull_secret.yml", dict(common, signalcraft_execution_id="again"))
    assert again.rc == 0 and changed_tasks(again) == 0
