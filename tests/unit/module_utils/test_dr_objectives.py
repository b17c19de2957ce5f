"""The drill's recovery point and recovery time (RPO/RTO) and the targets, from receipt timestamps and a given clock."""

import datetime

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import objectives
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import phases

UTC = datetime.timezone.utc
# The clock: the restore started 90 minutes after the seeded backup was taken.
BACKUP = "2026-01-01T00:00:00Z"
RESTORED = datetime.datetime(2026, 1, 1, 1, 30, tzinfo=UTC)


def at(minutes):
    """A receipt timestamp ``minutes`` after 2026-01-01T01:00:00Z."""
    return (datetime.datetime(2026, 1, 1, 1, 0, tzinfo=UTC) + datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def receipt(phase, status, started, finished, outputs=None):
    return {"phase": phase, "status": status, "started_at": at(started), "finished_at": at(finished), "outputs": outputs or {}}


def drill(promoted=True, validate_status="success"):
    """Receipts of a drill: bringup 0-5, restore 30-35 (backup 90 min old at 30), validate 35-50, promote 50-80."""
    return {
        "bringup": receipt("bringup", "success", 0, 5),
        "restore": receipt("restore", "success", 30, 35, {
            "backup_created_at": BACKUP, "backup_last_modified": "2026-01-01T00:05:00+00:00", "bundle_created_at": "2026-01-01T01:20:00.000Z"}),
        "validate": receipt("validate", validate_status, 35, 50),
        "promote": receipt("promote", "success", 50, 80, {"promoted": promoted}),
        "teardown": receipt("teardown", "skipped", 80, 80),
    }


def test_recovery_point_is_the_age_of_backup_and_bundle_at_the_given_clock():
    point = objectives.recovery_point(RESTORED, BACKUP, None, "2026-01-01T01:00:00Z")
    assert point["backup_age_minutes"] == 90.0 and point["bundle_age_minutes"] == 30.0
    assert point["worst_minutes"] == 90.0 and point["backup_time_source"] == "metadata.created_at"
    assert point["restored_at"] == "2026-01-01T01:30:00Z"


def test_recovery_point_falls_back_to_s3_last_modified_and_says_so():
    point = objectives.recovery_point(RESTORED, None, datetime.datetime(2026, 1, 1, 1, 0, tzinfo=UTC), None)
    assert point["backup_age_minutes"] == 30.0 and point["backup_time_source"] == "s3_last_modified"
    assert point["bundle_age_minutes"] is None and point["worst_minutes"] == 30.0


@pytest.mark.parametrize("text, expected", [
    ("2026-01-01T00:00:00Z", datetime.datetime(2026, 1, 1, tzinfo=UTC)),
    ("2026-01-01T00:00:00.250Z", datetime.datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)),
    ("2026-01-01T01:00:00+01:00", datetime.datetime(2026, 1, 1, tzinfo=UTC)),
    ("20260101T000000Z", datetime.datetime(2026, 1, 1, tzinfo=UTC)),
    ("yesterday", None), (None, None), ("", None),
])
def test_times_in_every_form_metadata_uses(text, expected):
    assert objectives.parse_time(text) == expected


def test_recovery_time_runs_from_bringup_start_to_validate_and_to_promote():
    measured = objectives.objectives(drill())
    assert measured["recovery_time"]["to_validate_minutes"] == 50.0
    assert measured["recovery_time"]["to_promote_minutes"] == 80.0
    assert measured["recovery_point"]["backup_age_minutes"] == 90.0   # restore started at 01:30
    assert measured["recovery_point"]["bundle_age_minutes"] == 10.0
    assert measured["targets"]["status"] == "no_targets" and measured["targets"]["warnings"] == []


def test_a_failed_validate_or_a_promote_that_did_not_promote_measures_nothing():
    measured = objectives.objectives(drill(promoted=False, validate_status="failed"), rto_target_minutes=60)
    assert measured["recovery_time"]["to_validate_minutes"] is None
    assert measured["recovery_time"]["to_promote_minutes"] is None
    assert measured["targets"]["status"] == "not_measured"


@pytest.mark.parametrize("rpo, rto, status, reasons", [
    (120, 60, "ok", []),
    (60, 60, "warn", ["rpo_target_missed"]),
    (120, 45, "warn", ["rto_target_missed"]),
    (30, 10, "warn", ["rpo_target_missed", "rto_target_missed"]),
    ("", "0", "no_targets", []),
    ("90", None, "ok", []),          # exactly on target is met
])
def test_targets_missed_are_warnings(rpo, rto, status, reasons):
    targets = objectives.objectives(drill(), rpo, rto)["targets"]
    assert targets["status"] == status
    assert [w["reason"] for w in targets["warnings"]] == reasons


def test_the_drill_summary_carries_objectives_and_warnings_and_stays_a_success():
    summary = phases.summarize("dr-x", drill(), "/tmp/x", {"rpo_target_minutes": "60", "rto_target_minutes": ""})
    assert summary["status"] == "success"
    assert summary["objectives"]["recovery_point"]["worst_minutes"] == 90.0
    assert summary["objectives"]["recovery_time"]["to_promote_minutes"] == 80.0
    assert [w["reason"] for w in summary["warnings"]] == ["rpo_target_missed"]
    assert "dr_rpo_target_minutes=60" in summary["warnings"][0]["message"]
    # Without inputs (the summary of an older caller) nothing is compared.
    assert phases.summarize("dr-x", drill())["warnings"] == []
