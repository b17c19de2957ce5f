"""Pure parts of the retention IAM pre-flight and backlog trigger (no sandbox)."""

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import retention
from ansible_collections.signalcraft.ops.plugins.module_utils.services import iam


@pytest.mark.parametrize("caller, expected", [
    ("arn:aws:sts::111122223333:assumed-role/author-retention-role/ansible", "arn:aws:iam::111122223333:role/author-retention-role"),
    ("arn:aws:iam::111122223333:user/ops", "arn:aws:iam::111122223333:user/ops"),
    ("arn:aws:iam::111122223333:role/x", "arn:aws:iam::111122223333:role/x"),
])
def test_policy_source_arn_turns_a_session_into_its_role(caller, expected):
    assert iam.policy_source_arn(caller) == expected


@pytest.mark.parametrize("caller", ["arn:aws:iam::111122223333:root", "arn:aws:sts::111122223333:federated-user/bob", "nonsense"])
def test_policy_source_arn_refuses_what_iam_cannot_simulate(caller):
    with pytest.raises(OpsError) as err:
        iam.policy_source_arn(caller)
    assert err.value.reason == "iam_principal_unsupported"


def test_policy_source_arn_override_must_be_an_iam_arn():
    assert iam.policy_source_arn("arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:role/svc/r") == \
        "arn:aws:iam::111122223333:role/svc/r"
    with pytest.raises(OpsError):
        iam.policy_source_arn("x", "arn:aws:sts::111122223333:assumed-role/r/s")


def test_denied_fails_closed_on_missing_and_non_allowed_decisions():
    required = [("s3:DeleteObject", "arn:aws:s3:::b/k"), ("s3:DeleteObjectVersion", "arn:aws:s3:::b/k"),
                ("glacier:DeleteArchive", "arn:aws:glacier:us-east-1:1:vaults/v")]
    results = [{"action": "s3:deleteobject", "resource": "arn:aws:s3:::b/k", "decision": "allowed"},
               {"action": "s3:DeleteObjectVersion", "resource": "arn:aws:s3:::b/k", "decision": "explicitDeny"}]
    assert iam.denied(required, results) == [
        {"action": "s3:DeleteObjectVersion", "resource": "arn:aws:s3:::b/k", "decision": "explicitDeny"},
        {"action": "glacier:DeleteArchive", "resource": "arn:aws:glacier:us-east-1:1:vaults/v", "decision": "not_evaluated"}]


def test_requirements_add_version_deletes_on_versioned_buckets_and_vaults():
    pairs = retention.iam_requirements([("a", "rec/1"), ("v", "rec/2")], {"a": {"versioned": False}, "v": {"versioned": True}},
                                       [retention.glacier_vault_arn("recordings", "us-east-1", "111122223333")])
    assert pairs == [("s3:DeleteObject", "arn:aws:s3:::a/rec/1"), ("s3:DeleteObject", "arn:aws:s3:::v/rec/2"),
                     ("s3:DeleteObjectVersion", "arn:aws:s3:::v/rec/2"),
                     ("glacier:DeleteArchive", "arn:aws:glacier:us-east-1:111122223333:vaults/recordings")]


def test_verdict_names_the_missing_action_and_resource():
    required = [("s3:DeleteObject", "arn:aws:s3:::b/k")]
    with pytest.raises(GuardError) as err:
        retention.iam_verdict("arn:aws:iam::1:role/r", required, iam.denied(required, []))
    assert err.value.reason == "iam_action_denied" and "s3:DeleteObject on arn:aws:s3:::b/k" in err.value.message
    assert retention.iam_verdict("arn:aws:iam::1:role/r", required, [])["status"] == "ok"


@pytest.mark.parametrize("stale, auto, apply, recommend, applied", [
    (10000, None, False, False, False),   # at the threshold: not above it
    (10001, None, False, True, False),
    (10001, None, True, False, False),    # already applying
    (501, 500, False, False, True),       # a plan-only run proceeds to apply
    (500, 500, False, False, False),
    (20000, 500, True, False, False),     # apply anyway, not "auto"
])
def test_backlog_plan(stale, auto, apply, recommend, applied):
    plan = retention.backlog_plan(stale, 10000, auto, apply)
    assert (plan["recommend_manual_run"], plan["auto_applied"], plan["stale_objects"]) == (recommend, applied, stale)


def test_backlog_inputs_and_line_fields():
    with pytest.raises(GuardError):
        retention.validate_backlog_inputs(-1, None)
    with pytest.raises(GuardError):
        retention.validate_backlog_inputs(10, -5)
    fields = retention.line_fields({"backlog": retention.backlog_plan(12, 10), "iam_preflight": {"status": "skipped"}})
    assert fields[-3:] == [("backlog", 12), ("recommendation", "manual_run"), ("iam_preflight", "skipped")]
