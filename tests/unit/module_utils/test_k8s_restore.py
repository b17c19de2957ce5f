"""module_utils.k8s_restore against the ``dr`` emulator, read back with the kubernetes client."""

import time
import uuid

import pytest
from kubernetes import client

from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import restore as k8s_restore
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError

HOLD = "signalcraft.io/test-hold"


def test_a_terminating_namespace_is_refused_before_any_write(sandbox):
    dyn = k8s.dynamic_client(sandbox["SANDBOX_DR_KUBECONFIG"])
    core = client.CoreV1Api(sandbox.k8s_api_client("dr"))
    name = "test-term-%s" % uuid.uuid4().hex[:8]
    # A metadata finalizer keeps the deleted namespace Terminating, as a slow namespace controller does on k3s.
    core.create_namespace({"metadata": {"name": name, "finalizers": [HOLD]}})
    core.delete_namespace(name)
    try:
        time.sleep(0.5)  # the emulator's namespace controller has ticked: content gone, namespace held
        assert core.read_namespace(name).status.phase == "Terminating"
        for dry_run in (True, False):
            with pytest.raises(GuardError) as raised:
                k8s_restore.ensure_namespace(dyn, name, dry_run=dry_run)
            assert raised.value.reason == "namespace_terminating" and name in raised.value.message
        assert core.list_namespaced_config_map(name).items == []
    finally:
        core.patch_namespace(name, {"metadata": {"finalizers": None}})
    deadline = time.time() + 5
    while name in [n.metadata.name for n in core.list_namespace().items] and time.time() < deadline:
        time.sleep(0.2)
    assert name not in [n.metadata.name for n in core.list_namespace().items]
    # Gone: the namespace is created again, and a second call changes nothing.
    assert k8s_restore.ensure_namespace(dyn, name) == {"changed": True, "existed": False}
    assert k8s_restore.ensure_namespace(dyn, name) == {"changed": False, "existed": True}
    assert core.read_namespace(name).status.phase == "Active"
    core.delete_namespace(name)


def test_restored_secret_values_never_reach_the_result(sandbox):
    dyn = k8s.dynamic_client(sandbox["SANDBOX_DR_KUBECONFIG"])
    core = client.CoreV1Api(sandbox.k8s_api_client("dr"))
    name, value = "test-sec-%s" % uuid.uuid4().hex[:8], "c2VjcmV0LXZhbHVlLTQy"  # base64 of secret-value-42

    def secret(data):
        return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": data,
                "metadata": {"name": "app", "namespace": name, "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                                                                               '{"data":{"token":"%s"}}' % data["token"]}}}

    # Check mode into a namespace that does not exist yet, then the real restore, then a changed value.
    planned = k8s_restore.apply_all(dyn, [secret({"token": value})], name, dry_run=True, namespace_exists=False)
    assert k8s_restore.ensure_namespace(dyn, name)["changed"]
    try:
        created = k8s_restore.apply_all(dyn, [secret({"token": value})], name)
        assert core.read_namespaced_secret("app", name).data == {"token": value}
        changed = k8s_restore.apply_all(dyn, [secret({"token": "b3RoZXI="})], name)
        assert core.read_namespaced_secret("app", name).data == {"token": "b3RoZXI="}
        for result in (planned, created, changed):
            assert result[0]["changed"] and value not in repr(result) and "b3RoZXI=" not in repr(result)
        assert changed[0]["diff"]["after"]["data"] == {"token": "***REDACTED*** (changed)"}
        assert changed[0]["diff"]["before"]["data"] == {"token": "***REDACTED***"}
        assert k8s_restore.apply_all(dyn, [secret({"token": "b3RoZXI="})], name)[0]["diff"]["after"]["data"] == {"token": "***REDACTED***"}
    finally:
        core.delete_namespace(name)
