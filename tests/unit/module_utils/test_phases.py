"""The drill's phase plan: every combination of start_at/stop_after/validate_only/teardown/allow_full_drill."""

import itertools

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import phases
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError

PHASES = ["bringup", "restore", "validate", "promote", "teardown"]
STARTS = [None, ""] + PHASES
STOPS = [None, ""] + PHASES


def reason(callable_, *args, **kwargs):
    with pytest.raises(GuardError) as info:
        callable_(*args, **kwargs)
    return info.value.reason


def expected(start_at, stop_after, teardown):
    """An independent statement of the rules, phase by phase."""
    first = PHASES.index(start_at or "bringup")
    last = PHASES.index(stop_after) if stop_after else 4
    rows = []
    for i, phase in enumerate(PHASES):
        if i < first:
            rows.append((phase, "skip", "start_at=%s" % (start_at or "bringup")))
        elif i > last:
            rows.append((phase, "skip", "stop_after=%s" % stop_after))
        elif phase == "teardown" and not teardown:
            rows.append((phase, "skip", "teardown=false"))
        else:
            rows.append((phase, "run", None))
    return rows


@pytest.mark.parametrize("start_at,stop_after,teardown,allow_full",
                         list(itertools.product(STARTS, STOPS, [True, False], [True, False])))
def test_every_start_stop_teardown_combination(start_at, stop_after, teardown, allow_full):
    first = PHASES.index(start_at or "bringup")
    last = PHASES.index(stop_after) if stop_after else 4
    full = (start_at or "bringup") == "bringup" and (stop_after or "teardown") == "teardown" and teardown
    if first > last:
        assert reason(phases.plan, start_at, stop_after, teardown=teardown, allow_full_drill=allow_full) == "invalid_plan"
        return
    if full and not allow_full:
        assert reason(phases.plan, start_at, stop_after, teardown=teardown, allow_full_drill=allow_full) == "full_drill_not_allowed"
        return
    result = phases.plan(start_at, stop_after, teardown=teardown, allow_full_drill=allow_full)
    assert [(p["phase"], p["action"], p["reason"]) for p in result["phases"]] == expected(start_at, stop_after, teardown)
    assert result["full_drill"] == full
    assert result["start_at"] == (start_at or "bringup") and result["stop_after"] == (stop_after or None)
    for row in result["phases"]:
        assert phases.runs(result, row["phase"]) == (row["action"] == "run")


@pytest.mark.parametrize("teardown", [True, False])
def test_validate_only_runs_only_validate(teardown):
    for start_at, stop_after in [(None, None), ("validate", None), (None, "validate"), ("validate", "validate"), ("", "")]:
        result = phases.plan(start_at, stop_after, validate_only=True, teardown=teardown)
        assert [p["phase"] for p in result["phases"] if p["action"] == "run"] == ["validate"]
        reasons = {p["phase"]: p["reason"] for p in result["phases"]}
        assert reasons["bringup"] == reasons["restore"] == "start_at=validate"
        assert reasons["promote"] == reasons["teardown"] == "stop_after=validate"
        assert not result["full_drill"]


@pytest.mark.parametrize("start_at,stop_after", [("bringup", None), (None, "restore"), ("teardown", None), ("restore", "promote")])
def test_validate_only_contradicting_start_or_stop_is_refused(start_at, stop_after):
    assert reason(phases.plan, start_at, stop_after, validate_only=True) == "invalid_plan"


def test_unknown_phase_names_are_refused_naming_the_option():
    with pytest.raises(GuardError) as info:
        phases.plan("restor")
    assert info.value.reason == "invalid_plan" and "start_at='restor'" in info.value.message
    assert reason(phases.plan, None, "deploy") == "invalid_plan"


def test_the_seed_cost_discipline_sequence():
    bringup = phases.plan("bringup", "bringup", teardown=False)
    assert [p["phase"] for p in bringup["phases"] if p["action"] == "run"] == ["bringup"]
    restore = phases.plan("restore", "restore", teardown=False)
    assert [p["phase"] for p in restore["phases"] if p["action"] == "run"] == ["restore"]
    teardown = phases.plan("teardown", None, teardown=True)
    assert [p["phase"] for p in teardown["phases"] if p["action"] == "run"] == ["teardown"]
    assert not teardown["full_drill"]
    # Teardown asked for but not wanted: skipped with the reason.
    assert phases.plan("teardown", None, teardown=False)["phases"][4]["reason"] == "teardown=false"


def test_full_drill_needs_allow_full_drill_and_bypass_needs_allow_promote_bypass():
    assert reason(phases.plan) == "full_drill_not_allowed"
    assert reason(phases.plan, "bringup", "teardown", teardown=True) == "full_drill_not_allowed"
    assert phases.plan(allow_full_drill=True)["full_drill"]
    assert not phases.plan(teardown=False)["full_drill"]
    assert reason(phases.plan, stop_after="validate", auto_promote=True) == "promote_bypass_not_allowed"
    assert phases.plan(stop_after="promote", auto_promote=True, allow_promote_bypass=True)["phases"][3]["action"] == "run"


@pytest.mark.parametrize("max_retries,max_attempts,no_retry,budget", [
    (2, None, False, 2), (2, None, True, 0), (2, 1, False, 0), (2, 2, False, 1), (2, 10, False, 2), (0, 5, False, 0),
    (5, 3, True, 0),
])
def test_retry_budget(max_retries, max_attempts, no_retry, budget):
    assert phases.retry_budget(max_retries, max_attempts, no_retry) == budget


def test_retry_budget_refuses_nonsense():
    assert reason(phases.retry_budget, 2, 0) == "invalid_plan"
    assert reason(phases.retry_budget, -1) == "invalid_plan"


def test_run_id_resolution():
    assert phases.resolve_run_id("dr-1", [], "gen-1") == ("dr-1", "given")
    assert phases.resolve_run_id("dr-1", ["dr-1", "dr-1"], "gen-1") == ("dr-1", "given")
    assert phases.resolve_run_id(None, ["dr-1"], "gen-1") == ("dr-1", "receipt_dir")
    assert phases.resolve_run_id("", [], "gen-1") == ("gen-1", "generated")
    assert reason(phases.resolve_run_id, "dr-2", ["dr-1"], "gen") == "run_id_mismatch"
    assert reason(phases.resolve_run_id, None, ["dr-1", "dr-2"], "gen") == "run_id_mismatch"
    for bad in ("DR-1", "-x", "a" * 64, "dr_1", "dr 1", ""):
        assert reason(phases.validate_run_id, bad) == "run_id_invalid"


def test_receipts_of_phases_before_start_at_are_kept():
    entry = {"phase": "bringup", "action": "skip", "reason": "start_at=restore"}
    assert phases.skipped_receipt_kept(entry, "success")
    assert not phases.skipped_receipt_kept(entry, None)
    assert not phases.skipped_receipt_kept({"phase": "validate", "action": "skip", "reason": "stop_after=restore"}, "success")
    assert not phases.skipped_receipt_kept({"phase": "bringup", "action": "run", "reason": None}, "success")


def _receipt(phase, status, **extra):
    base = {"phase": phase, "status": status, "execution_id": "dr-1", "skip_reason": None, "failure_code": None,
            "message": None, "started_at": "2026-01-01T00:00:00.000Z", "finished_at": "2026-01-01T00:00:01.000Z",
            "duration_s": 1.0, "inputs": {}, "outputs": {}}
    base.update(extra)
    return base


def test_summary_is_derived_from_phase_receipts():
    receipts = {
        "bringup": _receipt("bringup", "success"),
        "restore": _receipt("restore", "success", outputs={"bundle_uri": "s3://b/k", "bundle_sha256": "ab"}),
        "validate": _receipt("validate", "failed", failure_code="image_pull", inputs={"image_ref": "r@sha256:x"}),
        "promote": _receipt("promote", "skipped", skip_reason="validate failed"),
    }
    summary = phases.summarize("dr-1", receipts, "/tmp/x")
    assert summary["status"] == "failed" and summary["failed_phase"] == "validate" and summary["failure_code"] == "image_pull"
    assert [r["phase"] for r in summary["phases"]] == PHASES
    assert summary["phases"][4]["status"] == "not_recorded"
    assert summary["bundle"] == {"bundle_uri": "s3://b/k", "bundle_sha256": "ab"}
    assert summary["image_ref"] == "r@sha256:x"
    ok = phases.summarize("dr-1", {"bringup": _receipt("bringup", "success"), "teardown": _receipt(
        "teardown", "success", outputs={"remaining": 0})})
    assert ok["status"] == "success" and ok["runner_count_after_teardown"] == 0
    bypass = phases.summarize("dr-1", {"promote": _receipt("promote", "success", outputs={
        "promoted": True, "bypass": True, "approval_mode": "bypass"})})
    assert bypass["promotion"]["bypass"] and bypass["promotion"]["approval_mode"] == "bypass"
    assert phases.summarize("dr-1", {"bringup": _receipt("bringup", "skipped", skip_reason="x")})["status"] == "skipped"
    guards = phases.summarize("dr-1", {"guards": _receipt("guards", "failed", failure_code="account_mismatch")})
    assert guards["phases"][0]["phase"] == "guards" and guards["failed_phase"] == "guards"
