import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core import guards
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError

DIGEST = "sha256:" + "a" * 64
ECR = "111122223333.dkr.ecr.us-east-1.amazonaws.com/jobintel"


def reason(callable_, *args, **kwargs):
    with pytest.raises(GuardError) as info:
        callable_(*args, **kwargs)
    return info.value.reason


def test_account_and_region_guard_fails_closed():
    guards.check_account_region("111122223333", "us-east-1", "111122223333", "us-east-1")
    assert reason(guards.check_account_region, "111122223333", "us-east-1", "", "us-east-1") == "expected_account_unset"
    assert reason(guards.check_account_region, "111122223333", "us-east-1", "REPLACE_ME", "us-east-1") == "expected_account_invalid"
    assert reason(guards.check_account_region, "999999999999", "us-east-1", "111122223333", "us-east-1") == "account_mismatch"
    assert reason(guards.check_account_region, "111122223333", "eu-west-1", "111122223333", "us-east-1") == "region_mismatch"


def test_image_refs_parse_and_tags_are_refused_unless_allowed():
    parsed = guards.require_pinned_image("%s@%s" % (ECR, DIGEST))
    assert parsed["pinned"] and parsed["digest"] == DIGEST and parsed["repository"] == "jobintel"
    assert parsed["ecr_account"] == "111122223333" and parsed["ecr_region"] == "us-east-1"
    assert reason(guards.require_pinned_image, ECR + ":v1") == "image_ref_not_pinned"
    assert guards.require_pinned_image(ECR + ":v1", allow_tags=True)["tag"] == "v1"
    assert reason(guards.require_pinned_image, ECR + "@sha256:abc") == "image_ref_invalid"
    assert reason(guards.require_pinned_image, "") == "image_ref_missing"
    assert reason(guards.require_pinned_image, "UPPER/case@" + DIGEST) == "image_ref_invalid"


def test_confirmations_instance_family_and_names():
    guards.require_confirmation("FAILBACK", "FAILBACK", "confirm1")
    assert reason(guards.require_confirmation, None, "FAILBACK", "confirm1") == "confirmation_missing"
    assert reason(guards.require_confirmation, "failback", "FAILBACK", "confirm1") == "confirmation_missing"
    guards.require_instance_family("t4g.large", "t4g")
    assert reason(guards.require_instance_family, "t3.medium", "t4g") == "instance_type_not_allowed"
    assert guards.validate_k8s_name("jobintel", "namespace", label=True) == "jobintel"
    assert reason(guards.validate_k8s_name, "Job_Intel", "namespace", label=True) == "invalid_name"


@pytest.mark.parametrize("path", ["/etc/passwd", "../x", "a/../../x", "C:/x", "", "./"])
def test_unsafe_archive_paths_are_refused(path):
    assert reason(guards.safe_relative_path, path) == "unsafe_path"


def test_safe_archive_paths_are_normalised():
    assert guards.safe_relative_path("./candidates//local.yaml") == "candidates/local.yaml"
    assert guards.validate_s3_prefix("jobintel/prod") == "jobintel/prod"
    assert reason(guards.validate_s3_prefix, "/jobintel") == "invalid_prefix"


def test_require_values_refuses_the_first_blank_input_with_its_message():
    from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
    params = {"cluster": "jobintel", "service": "  ", "task_definition": None}
    guards.require_values(params, ("cluster", "set jobintel_ecs_cluster."))
    with pytest.raises(OpsError) as info:
        guards.require_values(params, ("cluster", "c"), ("service", "set jobintel_ecs_service."), ("task_definition", "t"))
    assert info.value.reason == "invalid_input" and info.value.message == "set jobintel_ecs_service."


def test_an_error_keeps_what_the_step_knew_under_its_own_details():
    from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
    error = OpsError("db_error", "boom", details={"exit_code": 1, "table": "t"})
    assert error.add_context({"exit_code": 0, "dsn_configured": True}) is error
    assert error.details == {"exit_code": 1, "table": "t", "dsn_configured": True} and not error.changed_so_far
    error.add_context({}, changed_so_far=True)
    assert error.changed_so_far
    assert error.add_context({}, changed_so_far=False).changed_so_far  # once written, always written
