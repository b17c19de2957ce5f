"""Failback's pure rules: confirmations, the promoted check, the freeze plan, the Job wait (a fake clock), divergence."""

import datetime

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import failback

UTC = datetime.timezone.utc
PROMOTED_AT = datetime.datetime(2026, 1, 1, 12, 0, 0, 500000, tzinfo=UTC)
BEFORE = datetime.datetime(2026, 1, 1, 11, 0, tzinfo=UTC)
AFTER = datetime.datetime(2026, 1, 1, 13, 0, tzinfo=UTC)
SHA_A, SHA_B = "A" * 43 + "=", "B" * 43 + "="


# -- confirmations ----------------------------------------------------------------------------------------------------

def test_both_confirmations_exactly():
    assert failback.check_confirmations("dr-1", "FAILBACK", "CONFIRM-dr-1") == {"confirm1": True, "confirm2": True}


@pytest.mark.parametrize("confirm1, confirm2, named", [
    (None, "CONFIRM-dr-1", "confirm1"),
    ("failback", "CONFIRM-dr-1", "confirm1"),
    ("FAILBACK", None, "confirm2"),
    ("FAILBACK", "CONFIRM-dr-2", "confirm2"),
    ("FAILBACK", "CONFIRM-dr-1 ", "confirm2"),
])
def test_a_wrong_or_missing_confirmation_names_its_variable(confirm1, confirm2, named):
    with pytest.raises(OpsError) as caught:
        failback.check_confirmations("dr-1", confirm1, confirm2)
    assert caught.value.reason == "confirmation_missing"
    assert "-e %s" % named in caught.value.message


def test_the_run_id_form_is_checked_first():
    with pytest.raises(OpsError) as caught:
        failback.check_confirmations("DR_1", "FAILBACK", "CONFIRM-DR_1")
    assert caught.value.reason == "run_id_invalid"


# -- promoted ---------------------------------------------------------------------------------------------------------

def test_promoted_names_the_run():
    assert failback.check_promoted({"canonical": "dr", "run_id": "dr-1"}, "dr-1", "s3://b/p/dr/canonical.json") == "promoted"


def test_a_completed_failback_of_the_run_passes_as_failed_back():
    document = failback.failback_document({"run_id": "dr-1", "promoted_at": "x"}, "p", "y")
    assert failback.check_promoted(document, "dr-1", "s3://b/k") == "failed_back"
    with pytest.raises(OpsError) as caught:
        failback.check_promoted(document, "dr-2", "s3://b/k")
    assert caught.value.reason == "not_promoted"


@pytest.mark.parametrize("document", [None, {"canonical": "dr", "run_id": "dr-2"}, {"canonical": "primary", "run_id": None}])
def test_not_promoted(document):
    with pytest.raises(OpsError) as caught:
        failback.check_promoted(document, "dr-1", "s3://b/k")
    assert caught.value.reason == "not_promoted"
    assert "dr-1" in caught.value.message


# -- freeze and the wait ----------------------------------------------------------------------------------------------

def cronjob(name, suspend):
    return {"metadata": {"name": name}, "spec": {"suspend": suspend}}


def job(name, condition=None):
    return {"metadata": {"name": name}, "status": {"conditions": [{"type": condition, "status": "True"}] if condition else []}}


def test_freeze_plan_suspends_only_the_running():
    assert failback.plan_freeze([cronjob("b", False), cronjob("a", True), cronjob("c", None)]) == {
        "freeze": ["b", "c"], "suspended": ["a"]}


def test_a_job_is_in_flight_until_complete_or_failed():
    assert failback.job_in_flight(job("a"))
    assert not failback.job_in_flight(job("a", "Complete"))
    assert not failback.job_in_flight(job("a", "Failed"))
    assert failback.job_in_flight({"metadata": {"name": "a"}, "status": {"conditions": [{"type": "Complete", "status": "False"}]}})


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_the_wait_ends_when_the_jobs_finish():
    fake = FakeClock()
    answers = iter([[job("a")], [job("a")], [job("a", "Complete")]])
    result = failback.wait_for_jobs(lambda: next(answers), timeout=60, poll=5, clock=fake.clock, sleep=fake.sleep)
    assert result == {"in_flight": [], "waited_s": 10.0, "polls": 3}
    assert fake.slept == [5, 5]


def test_the_wait_gives_up_at_the_timeout_with_the_running_jobs():
    fake = FakeClock()
    result = failback.wait_for_jobs(lambda: [job("b"), job("a"), job("c", "Failed")], timeout=12, poll=5, clock=fake.clock,
                                    sleep=fake.sleep)
    assert result["in_flight"] == ["a", "b"]
    assert result["waited_s"] == 12.0
    # The last sleep is cut to the timeout; no sleep after it.
    assert fake.slept == [5, 5, 2]


def test_no_wait_without_jobs():
    fake = FakeClock()
    assert failback.wait_for_jobs(lambda: [], timeout=60, poll=5, clock=fake.clock, sleep=fake.sleep)["polls"] == 1
    assert fake.slept == []


# -- divergence -------------------------------------------------------------------------------------------------------

def dr(rel, sha=SHA_A, size=10):
    return {"rel": rel, "key": "p-dr/" + rel, "sha256": sha, "size": size, "etag": '"e"'}


def head(sha=SHA_A, size=10, modified=BEFORE, md5=None, document=None):
    return {"sha256": sha, "size": size, "etag": '"x"', "md5": md5, "last_modified": modified, "document": document}


def test_published_since_the_promotion_at_second_precision():
    listing = [{"Key": "p-dr/runs/r1/a.json", "LastModified": BEFORE},
               {"Key": "p-dr/runs/r2/a.json", "LastModified": PROMOTED_AT.replace(microsecond=0)},
               {"Key": "p-dr/state/last_success.json", "LastModified": AFTER},
               {"Key": "p-dr/dr/canonical.json", "LastModified": AFTER},
               {"Key": "p-dr/outbox/r2/a.json", "LastModified": AFTER},
               {"Key": "other/runs/r3/a.json", "LastModified": AFTER}]
    assert failback.published_since(listing, "p-dr", PROMOTED_AT) == ["runs/r2/a.json", "state/last_success.json"]


def test_divergence_by_key_and_hash():
    objects = {r: dr(r) for r in ("runs/r2/new.json", "runs/r2/same.json", "runs/r2/other.json", "latest/o/c/a.json")}
    objects["runs/r2/other.json"] = dr("runs/r2/other.json", sha=SHA_B)
    primary = {"runs/r2/new.json": None, "runs/r2/same.json": head(), "runs/r2/other.json": head(),
               "latest/o/c/a.json": head(sha=SHA_B)}
    plan = failback.plan_divergence(objects, primary, PROMOTED_AT)
    assert plan["copy"] == ["runs/r2/new.json"]
    assert plan["same"] == ["runs/r2/same.json"]
    # latest/ is rewritten by every publish: the primary's older copy is replaced, not a conflict.
    assert plan["replace"] == ["latest/o/c/a.json"]
    assert plan["conflict"] == ["runs/r2/other.json"]
    assert plan["details"]["runs/r2/other.json"]["primary_sha256"] == SHA_A


def test_a_mutable_object_the_primary_rewrote_since_the_promotion_is_a_conflict():
    objects = {"latest/o/c/a.json": dr("latest/o/c/a.json", sha=SHA_B)}
    plan = failback.plan_divergence(objects, {"latest/o/c/a.json": head(modified=AFTER)}, PROMOTED_AT)
    assert plan["conflict"] == ["latest/o/c/a.json"]


def test_allow_overwrite_lets_named_conflicts_through_and_reports_unused_names():
    objects = {"runs/r2/other.json": dr("runs/r2/other.json", sha=SHA_B)}
    plan = failback.plan_divergence(objects, {"runs/r2/other.json": head()}, PROMOTED_AT,
                                    allow_overwrite=["runs/r2/other.json", "/runs/r9/x.json"])
    assert plan["overwrite"] == ["runs/r2/other.json"] and plan["conflict"] == []
    assert plan["unused_allow"] == ["runs/r9/x.json"]


def test_same_bytes_by_md5_etag_when_the_primary_has_no_sha256():
    objects = {"runs/r2/a.json": dict(dr("runs/r2/a.json"), etag='"0123456789abcdef0123456789abcdef"')}
    plan = failback.plan_divergence(objects, {"runs/r2/a.json": head(sha=None, md5="0123456789abcdef0123456789abcdef")}, PROMOTED_AT)
    assert plan["same"] == ["runs/r2/a.json"]


def test_pointers_compare_by_their_rebased_document():
    desired = failback.rebase_pointer({"run_id": "r2", "target": "s3://b/p-dr/runs/r2/"}, "b", "p-dr", "p")
    assert desired["target"] == "s3://b/p/runs/r2/"
    rel = "state/last_success.json"
    objects = {rel: dr(rel)}
    assert failback.plan_divergence(objects, {rel: head(sha=SHA_B, document=desired)}, PROMOTED_AT, dr_pointers={rel: desired})["same"] == [rel]
    older = {"run_id": "r1", "target": "s3://b/p/runs/r1/"}
    assert failback.plan_divergence(objects, {rel: head(sha=SHA_B, document=older)}, PROMOTED_AT, dr_pointers={rel: desired})["replace"] == [rel]
    # The primary published a run of its own after the promotion: split brain, refused.
    split = failback.plan_divergence(objects, {rel: head(sha=SHA_B, document=older, modified=AFTER)}, PROMOTED_AT,
                                     dr_pointers={rel: desired})
    assert split["conflict"] == [rel]
    error = failback.divergence_error(split, "b", "p")
    assert error.reason == "failback_divergence" and rel in error.message and "allow_overwrite" in error.message


def test_scope_of_a_provider_profile():
    assert failback.in_scope("runs/r2/x/y/a.json", "openai", "cs")
    assert failback.in_scope("state/last_success.json", "openai", "cs")
    assert failback.in_scope("latest/openai/cs/a.json", "openai", "cs")
    assert not failback.in_scope("latest/other/cs/a.json", "openai", "cs")
    assert not failback.in_scope("state/other/cs/last_success.json", "openai", "cs")
    assert failback.in_scope("latest/other/cs/a.json")


# -- the runbook's rules and records ----------------------------------------------------------------------------------

def test_rules_leave_teardown_out_and_record_the_dry_run():
    assert failback.rules({"teardown": False, "dry_run": "true"}) == {
        "start_at": None, "stop_after": None, "skips": {"teardown": "teardown=false"}, "facts": {"dry_run": True}}
    assert failback.rules({})["skips"] == {}


def receipt(phase, status, outputs=None, **extra):
    return dict({"phase": phase, "status": status, "started_at": "2026-01-01T12:00:00.000Z", "finished_at": "2026-01-01T12:00:01.000Z",
                 "outputs": outputs or {}, "inputs": {"dr_run_id": "dr-1"}}, **extra)


def test_summary_and_transitions_from_receipts():
    found = {"confirm": receipt("confirm", "success"), "promoted": receipt("promoted", "success"),
             "freeze": receipt("freeze", "success", {"frozen": ["daily"], "transitions": [["dr_cronjob/daily", "running", "suspended"]]}),
             "divergence": receipt("divergence", "failed", {"conflict": ["runs/r/a"]}, failure_code="failback_divergence"),
             "primary": receipt("primary", "skipped", skip_reason="stopped: divergence failed"),
             "teardown": receipt("teardown", "skipped", skip_reason="stopped: divergence failed")}
    summary = failback.summarize("failback-x", found, "/r")
    assert summary["status"] == "failed" and summary["failed_phase"] == "divergence"
    assert summary["failure_code"] == "failback_divergence" and summary["dr_run_id"] == "dr-1"
    assert summary["freeze"]["frozen"] == ["daily"] and summary["divergence"]["conflict"] == ["runs/r/a"]
    lines = failback.transitions(found).splitlines()
    assert lines[0] == "2026-01-01T12:00:00.000Z confirm started"
    assert "2026-01-01T12:00:01.000Z freeze transition dr_cronjob/daily: running -> suspended" in lines
    assert "2026-01-01T12:00:01.000Z divergence failed reason=failback_divergence" in lines
    assert lines[-1] == "2026-01-01T12:00:01.000Z teardown skipped reason=stopped:_divergence_failed"


def test_latest_keys_dr_no_longer_has_are_deleted_for_the_pairs_dr_published():
    """Only pairs DR published since the promotion; a key the primary rewrote itself since then is a conflict unless allowed."""
    promoted_at = datetime.datetime(2026, 12, 1, 12, 0, 0, 500000, tzinfo=datetime.timezone.utc)
    before, after = promoted_at - datetime.timedelta(hours=1), promoted_at + datetime.timedelta(hours=1)
    published = ["latest/openai/cs/run_summary.v1.json", "runs/r2/openai/cs/run_summary.v1.json"]
    dr_rels = published + ["latest/anthropic/ml/old.json"]
    primary = {"latest/openai/cs/run_summary.v1.json": before, "latest/openai/cs/r1-only.json": before,
               "latest/openai/cs/primary-wrote-it.json": after, "latest/anthropic/ml/stale-but-not-published.json": before}
    plan = failback.plan_stale_latest(published, dr_rels, primary, promoted_at)
    assert plan == {"delete": ["latest/openai/cs/r1-only.json"], "conflict": ["latest/openai/cs/primary-wrote-it.json"]}
    allowed = failback.plan_stale_latest(published, dr_rels, primary, promoted_at, ["latest/openai/cs/primary-wrote-it.json"])
    assert allowed == {"delete": ["latest/openai/cs/primary-wrote-it.json", "latest/openai/cs/r1-only.json"], "conflict": []}
    assert failback.latest_pair_dir("latest/openai/cs/x.json") == "latest/openai/cs/"
    assert failback.latest_pair_dir("runs/r2/openai/cs/x.json") is None
