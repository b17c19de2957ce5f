"""module_utils.k8s server-side apply against both emulated clusters, read back with the client."""

import uuid

import pytest
from kubernetes import client

from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s


@pytest.mark.parametrize("cluster", ["primary", "dr"])
def test_apply_dry_run_then_create_then_noop(sandbox, cluster):
    kubeconfig = sandbox["SANDBOX_%s_KUBECONFIG" % cluster.upper()]
    dyn = k8s.dynamic_client(kubeconfig)
    name = "cm-%s" % uuid.uuid4().hex[:8]
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
                "data": {"a": "1"}}
    core = client.CoreV1Api(sandbox.k8s_api_client(cluster))

    planned = k8s.apply(dyn, manifest, dry_run=True)
    assert planned["changed"] and planned["before"] is None
    assert name not in [c.metadata.name for c in core.list_namespaced_config_map("default").items]

    created = k8s.apply(dyn, manifest)
    assert created["changed"]
    assert core.read_namespaced_config_map(name, "default").data == {"a": "1"}

    again = k8s.apply(dyn, manifest)
    assert not again["changed"]
    manifest["data"]["a"] = "2"
    assert k8s.apply(dyn, manifest, dry_run=True)["changed"]
    assert core.read_namespaced_config_map(name, "default").data == {"a": "1"}


def test_kubeconfig_credentials_are_collected_for_no_log(sandbox):
    values = k8s.kubeconfig_secret_values(sandbox["SANDBOX_PRIMARY_KUBECONFIG"])
    assert values and all(len(v) >= 16 for v in values)


def test_rendered_manifests_are_validated_offline_against_the_schemas():
    good = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cp", "namespace": "jobintel"}, "data": {"a": "1"}}
    assert k8s.validate_manifest(good) is good
    bad = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "jobintel-daily"},
           "spec": {"schedule": "0 6 * * *", "suspend": "yes", "jobTemplate": {"spec": {"template": {"spec": {
               "containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}}}}}}
    with pytest.raises(ValueError, match="CronJob/jobintel-daily"):
        k8s.validate_manifest(bad)
