"""DR promotion and permission planning: pure functions, no cluster (access.py, scheduling.py, k8s.py's error and schema helpers)."""

import pytest
from kubernetes.client.rest import ApiException
from kubernetes.dynamic.exceptions import DynamicApiError

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import access
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import scheduling
from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s


def _keys(entries):
    return {(e["verb"], e["group"], e["resource"], e.get("subresource"), e.get("namespace")) for e in entries}


def test_requirements_follow_the_planned_phases():
    everything = _keys(access.requirements(["restore", "validate", "promote"], "jobintel"))
    assert ("patch", "batch", "cronjobs", None, "jobintel") in everything
    assert ("create", "", "secrets", None, "jobintel") in everything
    assert ("get", "", "pods", "log", "jobintel") in everything
    assert ("get", "", "namespaces", None, None) in everything
    # The namespace exists: restore only reads it; missing: restore creates it (cluster scope).
    assert ("create", "", "namespaces", None, None) not in everything
    assert ("create", "", "namespaces", None, None) in _keys(access.requirements(["restore"], "jobintel", namespace_exists=False))
    # No promote in the plan (or a rehearsal that keeps the CronJobs suspended): no CronJob patch is asked for.
    assert not [e for e in access.requirements(["restore", "validate"], "jobintel") if e["phase"] == "promote"]
    assert ("patch", "batch", "cronjobs", None, "jobintel") not in _keys(access.requirements(["validate"], "jobintel"))
    assert _keys(access.requirements(["promote"], "jobintel", keep_suspended=True)) == set()
    assert _keys(access.requirements(["promote"], "jobintel")) == {("list", "batch", "cronjobs", None, "jobintel"),
                                                                   ("patch", "batch", "cronjobs", None, "jobintel")}
    # Bringup and teardown use no cluster; nothing is asked twice.
    assert access.requirements(["bringup", "teardown"], "jobintel") == []
    listed = access.requirements(["restore", "validate"], "jobintel")
    assert len(listed) == len(_keys(listed))


def test_restore_suspends_and_marks_and_promote_resumes_only_what_restore_left_suspended():
    running = {"metadata": {"name": "daily"}, "spec": {"suspend": False}}
    scheduling.suspend_for_restore(running)
    assert running["spec"]["suspend"] is True and running["metadata"]["annotations"] == {scheduling.SUSPENDED_BY: scheduling.RESTORE_MARK}
    # A backup's own suspend: true (the primary's backup convention) is restored suspended and marked the same way.
    backed_up = scheduling.suspend_for_restore({"metadata": {"name": "backed-up"}, "spec": {"suspend": True}})
    assert backed_up["metadata"]["annotations"] == {scheduling.SUSPENDED_BY: scheduling.RESTORE_MARK}
    other = {"metadata": {"name": "other"}, "spec": {"suspend": True}}  # not restored by a DR restore: left alone
    live = {"metadata": {"name": "live"}, "spec": {"suspend": False}}
    assert scheduling.plan_resume([running, backed_up, other, live]) == {"resume": ["backed-up", "daily"], "running": ["live"],
                                                                         "left": ["other"]}


@pytest.mark.parametrize("info, expected", [
    ({"major": "1", "minor": "32", "git_version": "v1.32.0-sandbox"}, "1.32"),
    ({"major": "1", "minor": "30+", "git_version": "v1.30.4-eks-a737599"}, "1.30"),
    ({"major": "", "minor": "", "git_version": "v1.31.2+k3s1"}, "1.31"),
    ({"major": "1", "minor": "99"}, None),  # newer than every bundled schema: the newest
    ({"major": "1", "minor": "12"}, None),  # older than every bundled schema: the oldest
    ({}, k8s.DEFAULT_SCHEMA_VERSION),
])
def test_schema_version_follows_the_cluster_with_a_fallback(info, expected):
    found = k8s.schema_version(info)
    if expected:
        assert found == expected
    else:
        versions = sorted({tuple(int(x) for x in v.split(".")[:2]) for v in k8s.kubernetes_validate.utils.all_versions()})
        assert found == "%d.%d" % (versions[-1] if info["minor"] == "99" else versions[0])


def test_a_schema_rejection_is_k8s_manifest_invalid_naming_object_and_field():
    good = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cp", "namespace": "jobintel"}, "data": {"a": "1"}}
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "jobintel"},
           "spec": {"replicas": "two", "selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    assert k8s.validate_manifests([good], "1.32") == {"schema_version": "1.32", "validated": 1, "unchecked": []}
    with pytest.raises(OpsError) as refused:
        k8s.validate_manifests([good, bad], "1.32", option="the backup")
    assert refused.value.reason == "k8s_manifest_invalid"
    assert "Deployment/web" in str(refused.value) and "spec.replicas" in str(refused.value) and "nothing was written" in str(refused.value)
    assert refused.value.details["object"] == "Deployment/jobintel/web"
    # A kind without a bundled schema (a custom resource) is left to the server, and listed.
    custom = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "jobintel"}}
    assert k8s.validate_manifests([custom], "1.32")["unchecked"] == ["Widget/jobintel/w"]


def test_a_403_is_k8s_forbidden_whichever_client_raised_it():
    body = ('{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,"message":"secrets \\"ecr-pull\\" '
            'is forbidden: User \\"reader\\" cannot get resource \\"secrets\\" in API group \\"\\" in the namespace \\"jobintel\\""}')
    typed = ApiException(status=403, reason="Forbidden")
    typed.body = body
    for exc in (typed, DynamicApiError(typed)):
        error = k8s.to_ops_error(exc)
        assert error.reason == "k8s_forbidden"
        assert 'cannot get resource "secrets"' in str(error) and "jobintel" in str(error)
    other = ApiException(status=500, reason="InternalError")
    assert k8s.to_ops_error(other).reason == "k8s_error"


def test_the_failback_steps_need_cronjob_and_job_access_of_their_own_cluster():
    """freeze (DR): list and patch CronJobs, list Jobs; primary (the primary): list and patch CronJobs; nothing else."""
    freeze = access.requirements(["freeze"], "jobintel")
    assert sorted((e["verb"], e["resource"]) for e in freeze) == [("list", "cronjobs"), ("list", "jobs"), ("patch", "cronjobs")]
    assert {e["namespace"] for e in freeze} == {"jobintel"} and {e["phase"] for e in freeze} == {"freeze"}
    primary = access.requirements(["primary"], "jobintel-primary")
    assert sorted((e["verb"], e["group"], e["resource"]) for e in primary) == [("list", "batch", "cronjobs"), ("patch", "batch", "cronjobs")]
