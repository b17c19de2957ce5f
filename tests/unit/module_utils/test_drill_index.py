"""The drill's index entry (what dr_status.yml lists side by side) is derived from its summary alone."""

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import phases


def receipt(phase, started, finished, outputs=None, status="success"):
    return {"phase": phase, "status": status, "started_at": started, "finished_at": finished, "outputs": outputs or {},
            "execution_id": "dr-1", "inputs": {}}


def test_the_entry_is_named_by_the_drills_first_start_and_carries_its_objectives():
    recorded = {
        "guards": receipt("guards", "2026-12-07T03:00:00.100Z", "2026-12-07T03:00:05.000Z"),
        "bringup": receipt("bringup", "2026-12-07T03:00:05.000Z", "2026-12-07T03:02:00.000Z"),
        "restore": receipt("restore", "2026-12-07T03:02:00.000Z", "2026-12-07T03:04:00.000Z",
                           {"backup_created_at": "2026-12-06T03:02:00Z", "bundle_created_at": "2026-12-07T01:02:00Z"}),
        "validate": receipt("validate", "2026-12-07T03:04:00.000Z", "2026-12-07T03:11:05.000Z"),
    }
    summary = phases.summarize("dr-1", recorded, "/r", {"rpo_target_minutes": 60, "rto_target_minutes": 30})
    name, entry = phases.index_entry(summary)
    assert name == "20261207T030005Z-dr-1.json"  # bringup's start: a later invocation reruns the guards, not bringup
    assert (entry["run_id"], entry["status"], entry["promoted"]) == ("dr-1", "success", False)
    assert entry["recovery_point"]["worst_minutes"] == 1440.0 and entry["recovery_time"]["to_validate_minutes"] == 11.0
    assert entry["targets"]["status"] == "warn" and entry["warnings"] == ["rpo_target_missed"]
    assert (entry["started_at"], entry["finished_at"]) == ("2026-12-07T03:00:05.000Z", "2026-12-07T03:11:05.000Z")


def test_no_entry_before_bringup_ran():
    assert phases.index_entry(phases.summarize("dr-2", {}, "/r", {})) is None
    refused = {"guards": receipt("guards", "2026-12-07T03:00:00.100Z", "2026-12-07T03:00:01.000Z", status="failed")}
    assert phases.index_entry(phases.summarize("dr-3", refused, "/r", {})) is None
