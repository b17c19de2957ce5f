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


DRILL = ["guards", "bringup", "restore", "validate", "teardown"]


def test_guards_run_whenever_anything_runs_and_are_no_targets():
    entries = phases.plan(DRILL, start_at="validate", guards=["guards"])
    assert actions(entries)[0] == ("guards", "run", None, False) and entries[0]["guard"]
    assert [e["action"] for e in entries[1:]] == ["skip", "skip", "run", "run"]
    resumed = phases.plan(DRILL, resume=True, existing={p: "success" for p in DRILL[:3]}, guards=["guards"])
    assert [e["action"] for e in resumed] == ["run", "skip", "skip", "run", "run"]
    with pytest.raises(OpsError) as caught:
        phases.plan(DRILL, start_at="guards", guards=["guards"])
    assert caught.value.reason == "phase_unknown"
    with pytest.raises(OpsError) as caught:  # only the guard would run
        phases.plan(DRILL, resume=True, existing={p: "success" for p in DRILL}, guards=["guards"])
    assert caught.value.reason == "nothing_to_run"


def test_skips_leave_a_phase_out_wherever_it_falls():
    entries = phases.plan(DRILL, start_at="restore", skips={"teardown": "teardown=false"}, guards=["guards"])
    assert actions(entries)[-1] == ("teardown", "skip", "teardown=false", False)
    # Outside the range the range's reason wins (stop_after says more than the input).
    assert phases.plan(DRILL, stop_after="bringup", skips={"teardown": "teardown=false"})[-1]["reason"] == "stop_after=bringup"
    with pytest.raises(OpsError) as caught:
        phases.plan(DRILL, skips={"nope": "x"})
    assert caught.value.reason == "plan_invalid"


def test_execution_id_given_recorded_or_generated():
    assert phases.resolve_execution_id("a-1", [], "gen") == ("a-1", "given")
    assert phases.resolve_execution_id(None, ["a-1", "a-1"], "gen") == ("a-1", "receipt_dir")
    assert phases.resolve_execution_id("", [None], "gen") == ("gen", "generated")
    for given, recorded in (("a-2", ["a-1"]), (None, ["a-1", "a-2"])):
        with pytest.raises(OpsError) as caught:
            phases.resolve_execution_id(given, recorded, "gen")
        assert caught.value.reason == "run_id_mismatch"


def test_read_receipts_by_name_or_all_and_strict(tmp_path):
    (tmp_path / "one.json").write_text('{"phase": "one", "status": "success"}')
    (tmp_path / "broken.json").write_text("{not json")
    assert set(phases.read_receipts(str(tmp_path), ["one", "two"])) == {"one"}
    assert set(phases.read_receipts(str(tmp_path))) == {"one"}
    with pytest.raises(OpsError) as caught:
        phases.read_receipts(str(tmp_path), strict=True)
    assert caught.value.reason == "receipt_invalid"
