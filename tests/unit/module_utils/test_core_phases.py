"""The phase engine's plan and summary (core/phases.py), as pure functions."""

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core import phases
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError

ORDER = ["verify", "deploy", "run_once", "publish"]


def actions(entries):
    return [(e["phase"], e["action"], e["reason"], e["keep_receipt"]) for e in entries]


def test_everything_runs_by_default():
    assert [e["action"] for e in phases.plan(ORDER)] == ["run"] * 4


def test_start_at_keeps_earlier_receipts_and_stop_after_skips_later():
    entries = phases.plan(ORDER, start_at="deploy", stop_after="run_once")
    assert actions(entries) == [("verify", "skip", "start_at=deploy", True), ("deploy", "run", None, False),
                                ("run_once", "run", None, False), ("publish", "skip", "stop_after=run_once", False)]


@pytest.mark.parametrize("start_at,stop_after,reason", [
    ("publish", "verify", "phase_order_invalid"), ("nope", None, "phase_unknown"), (None, "nope", "phase_unknown"),
])
def test_refusals_name_the_token(start_at, stop_after, reason):
    with pytest.raises(OpsError) as caught:
        phases.plan(ORDER, start_at=start_at, stop_after=stop_after)
    assert caught.value.reason == reason


def test_resume_skips_successes_until_the_first_phase_that_did_not_succeed():
    existing = {"verify": "success", "deploy": "success", "run_once": "failed", "publish": "skipped"}
    entries = phases.plan(ORDER, resume=True, existing=existing)
    assert [e["action"] for e in entries] == ["skip", "skip", "run", "run"]
    assert entries[0]["reason"] == "resume: done in verify.json" and entries[0]["keep_receipt"]


def test_resume_reruns_a_success_after_a_failure():
    # A phase after the first failure runs again even though a receipt says success: its inputs may change.
    entries = phases.plan(ORDER, resume=True, existing={"verify": "success", "deploy": "failed", "run_once": "success"})
    assert [e["action"] for e in entries] == ["skip", "run", "run", "run"]


def test_resume_with_everything_done_refuses_and_resume_with_start_at_is_ambiguous():
    with pytest.raises(OpsError) as caught:
        phases.plan(ORDER, resume=True, existing={p: "success" for p in ORDER})
    assert caught.value.reason == "nothing_to_run"
    with pytest.raises(OpsError) as caught:
        phases.plan(ORDER, resume=True, start_at="deploy")
    assert caught.value.reason == "plan_invalid"


def test_check_mode_skips_phases_that_need_a_real_run():
    entries = phases.plan(ORDER, check_mode_skips={"publish": "needs the run"}, check_mode=True)
    assert entries[-1]["action"] == "skip" and entries[-1]["reason"] == "check mode: needs the run"
    assert phases.plan(ORDER, check_mode_skips={"publish": "needs the run"})[-1]["action"] == "run"


def test_summary_is_derived_from_receipts_and_outcomes():
    receipts = {"verify": {"status": "success", "duration_s": 1.5, "changed": False, "attempts": 1},
                "deploy": {"status": "failed", "failure_code": "aws_error", "duration_s": 2, "changed": True, "attempts": 3},
                "run_once": {"status": "skipped", "skip_reason": "stopped: deploy failed", "duration_s": 0, "attempts": 0}}
    summary = phases.summarize("daily", "daily-1", ORDER, receipts, "/r")
    assert summary["status"] == "fail" and summary["failed_phase"] == "deploy" and summary["reason"] == "aws_error"
    assert summary["ran"] == ["verify", "deploy"] and summary["skipped"] == ["run_once"]
    assert summary["phases"][-1]["status"] == "missing" and summary["duration_s"] == 3.5
    checked = phases.summarize("daily", "d", ORDER, {}, outcomes={"deploy": {"status": "failed", "reason": "image_ref_not_pinned"}})
    assert checked["status"] == "fail" and checked["reason"] == "image_ref_not_pinned"
