"""pull_secret.refresh_reason and gitinfo: when the ECR Secret is rewritten; provenance without git."""

import base64
import datetime
import json
import os
import subprocess
import uuid

import pytest
from kubernetes import client

from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecr
from ansible_collections.signalcraft.ops.plugins.module_utils.services import gitinfo
from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import pull_secret
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from tests.conftest import REPO_ROOT

NOW = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
REGISTRY = "111122223333.dkr.ecr.us-east-1.amazonaws.com"


def _secret(hours_ago, registry=REGISTRY, kind=pull_secret.SECRET_TYPE):
    written = pull_secret.format_time(NOW - datetime.timedelta(hours=hours_ago))
    return {"type": kind, "data": {pull_secret.DATA_KEY: "e30="},
            "metadata": {"annotations": {pull_secret.ANNOTATION_REFRESHED: written, pull_secret.ANNOTATION_REGISTRY: registry}}}


@pytest.mark.parametrize("existing, refresh, expected", [
    (None, "auto", "missing"),
    (_secret(1), "auto", None),
    (_secret(7), "auto", "older than 6.0 hours"),
    (_secret(1), "always", "refresh=always"),
    (_secret(1, registry="999999999999.dkr.ecr.us-east-1.amazonaws.com"), "auto", "registry changed"),
    (_secret(1, kind="Opaque"), "auto", "not a kubernetes.io/dockerconfigjson secret"),
])
def test_the_secret_is_rewritten_only_when_needed(existing, refresh, expected):
    assert pull_secret.refresh_reason(existing, REGISTRY, NOW, refresh=refresh) == expected


def test_registry_ids_are_twelve_digits():
    assert pull_secret.validate_registry_id("111122223333") == "111122223333"
    with pytest.raises(GuardError):
        pull_secret.validate_registry_id("1111")


def test_head_sha_matches_git_in_a_checkout_and_is_unknown_elsewhere(tmp_path):
    expected = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert gitinfo.head_sha(os.path.join(REPO_ROOT, "tests")) == expected
    assert gitinfo.head_sha(str(tmp_path)) == gitinfo.UNKNOWN
    with pytest.raises(GuardError):
        gitinfo.validate_git_sha("not-a-sha")


CREDENTIALS = {"registry": "111122223333.dkr.ecr.us-east-1.amazonaws.com", "username": "AWS", "password": "not-a-real-token",
               "expires_at": "2026-01-01T12:00:00Z"}


def test_an_opaque_secret_of_the_same_name_is_replaced(sandbox):
    dyn = k8s.dynamic_client(sandbox["SANDBOX_DR_KUBECONFIG"])
    core = client.CoreV1Api(sandbox.k8s_api_client("dr"))
    namespace = "test-ps-%s" % uuid.uuid4().hex[:8]
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        # e.g. restored from a backup that stored it as Opaque: type is immutable, an apply would be 422.
        core.create_namespaced_secret(namespace, {"metadata": {"name": "ecr-pull"}, "type": "Opaque", "data": {"x": "eA=="}})
        now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)

        def ensure(dry_run):
            return pull_secret.ensure_secret(dyn, namespace, "ecr-pull", lambda: dict(CREDENTIALS), ecr.dockerconfigjson, now,
                                             dry_run=dry_run, registry_hint=CREDENTIALS["registry"])

        planned = ensure(True)
        assert planned["changed"] and "immutable" in planned["reason"]
        assert core.read_namespaced_secret("ecr-pull", namespace).type == "Opaque"  # check mode wrote nothing
        done = ensure(False)
        assert done["changed"] and "immutable" in done["reason"]
        secret = core.read_namespaced_secret("ecr-pull", namespace)
        assert secret.type == pull_secret.SECRET_TYPE and set(secret.data) == {pull_secret.DATA_KEY}
        auths = json.loads(base64.b64decode(secret.data[pull_secret.DATA_KEY]))["auths"]
        assert list(auths) == [CREDENTIALS["registry"]]
        assert ensure(False)["changed"] is False  # current now: nothing to rewrite
    finally:
        core.delete_namespace(namespace)
