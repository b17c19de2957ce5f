"""runbooks/pipeline/engine.py and executors.py with real subprocesses: a partition's run, its manifests,
in-place retries, the DAG on failure, resume decisions, backfill summaries and parallelism."""

import json
import os
import sys

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import engine, executors, manifest, plan

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                       "roles", "pipeline", "files", "example", "step.py")


def steps(**extra):
    base = [
        {"asset": "ingest", "command": [sys.executable, EXAMPLE, "ingest"], "timeout_s": 60},
        {"asset": "features", "depends_on": ["ingest"], "command": [sys.executable, EXAMPLE, "features"], "timeout_s": 60},
        {"asset": "scores", "depends_on": ["features"], "command": [sys.executable, EXAMPLE, "scores"], "timeout_s": 60},
        {"asset": "calendar", "command": [sys.executable, "-c", "print('calendar')"], "timeout_s": 60},
    ]
    for step in base:
        step.update(extra.get(step["asset"], {}))
    return plan.normalise_steps(base)


def pipeline(tmp_path, configured=None, faults=None, sleep_s=0):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "_example.json").write_text(json.dumps({"faults": faults or {}, "sleep_s": sleep_s}))
    store = manifest.open_store(str(tmp_path / "manifests"))
    return engine.Pipeline(store, configured or steps(), "game_date", {"local": executors.LocalExecutor(log_dir=str(data / "_logs"))},
                           data_root=str(data), execution_id="unit", backfill_id="bf-unit", retry_delay_s=0.01, sleep=lambda s: None)


def test_a_partition_runs_every_step_under_one_run_id_with_outputs_hashes_and_inputs(tmp_path):
    pipe = pipeline(tmp_path)
    outcome = pipe.run_partition("2026-01-03", "run-a", "2026-01-03T23:00:00Z")
    assert outcome["status"] == "success" and outcome["failed_step"] is None
    runs = pipe.runs_of("2026-01-03")
    assert list(runs) == ["run-a"] and sorted(runs["run-a"]) == ["calendar", "features", "ingest", "scores"]
    features = runs["run-a"]["features"]
    assert features["status"] == "success" and features["run_as_of_ts"] == "2026-01-03T23:00:00Z" and features["attempts"] == 1
    assert features["inputs"] == [{"asset": "ingest", "run_id": "run-a", "status": "success",
                                   "manifest": str(tmp_path / "manifests/ingest/game_date=2026-01-03/run=run-a/manifest.json")}]
    [output] = features["outputs"]
    path = tmp_path / "data/features/game_date=2026-01-03/run=run-a/features.csv"
    assert output == {"path": "features.csv", "rows": 8, "bytes": path.stat().st_size, "sha256": engine.sha256_file(str(path))}
    assert features["checks"] == [{"name": "required_columns", "status": "pass", "detail": None}]
    assert pipe.run_state(runs["run-a"]) == "success"


def test_a_contract_failure_skips_downstream_but_not_independent_branches(tmp_path):
    pipe = pipeline(tmp_path, faults={"features@2026-01-03": "contract"})
    outcome = pipe.run_partition("2026-01-03", "run-b", "2026-01-03T23:00:00Z")
    assert (outcome["status"], outcome["failed_step"], outcome["failure_class"], outcome["category"]) == ("failed", "features", "contract", "C")
    run = pipe.runs_of("2026-01-03")["run-b"]
    assert run["features"]["failure"]["class"] == "contract" and "missing required columns" in run["features"]["failure"]["message"]
    assert run["scores"]["status"] == "skipped" and "features" in run["scores"]["skip_reason"]
    assert run["calendar"]["status"] == "success" and run["ingest"]["status"] == "success"
    decision = pipe.decide("2026-01-03", resume=True)
    assert decision["action"] == "run" and decision["run_id"] is None and decision["category"] == "C"


def test_network_failures_are_retried_in_place_until_they_pass_or_retries_run_out(tmp_path):
    pipe = pipeline(tmp_path, faults={"ingest@2026-01-01": "network_once", "ingest@2026-01-02": "network"})
    assert pipe.run_partition("2026-01-01", "r1", "2026-01-01T23:00:00Z")["status"] == "success"
    first = pipe.runs_of("2026-01-01")["r1"]["ingest"]
    assert first["attempts"] == 2 and [a["failure_class"] for a in first["attempt_history"]] == ["network", None]
    failed = pipe.run_partition("2026-01-02", "r2", "2026-01-02T23:00:00Z")
    assert failed["failure_class"] == "network" and failed["attempts"] == 3  # 1 + retries (2)
    # Category A: resume retries in place, keeping the steps that succeeded in that run.
    decision = pipe.decide("2026-01-02", resume=True)
    assert decision["action"] == "retry_in_place" and decision["run_id"] == "r2" and decision["keep"] == ["calendar"]


def test_an_interrupted_run_is_resumed_in_place_and_its_finished_steps_are_kept(tmp_path):
    pipe = pipeline(tmp_path)
    pipe.run_partition("2026-01-04", "r4", "2026-01-04T23:00:00Z")
    # What a kill leaves: scores still 'running', never finished.
    stale = manifest.read_manifest(pipe.store, "scores", "game_date", "2026-01-04", "r4")
    manifest.write_manifest(pipe.store, dict(stale, status="running", finished_at=None, duration_s=None, outputs=[], checks=[]))
    before = open(tmp_path / "manifests/ingest/game_date=2026-01-04/run=r4/manifest.json", "rb").read()
    decision = pipe.decide("2026-01-04", resume=True)
    assert (decision["action"], decision["run_id"], decision["previous_state"]) == ("retry_in_place", "r4", "incomplete")
    assert sorted(decision["keep"]) == ["calendar", "features", "ingest"]
    outcome = pipe.run_partition("2026-01-04", "r4", "2026-01-04T23:00:00Z", keep=decision["keep"])
    assert outcome["status"] == "success" and outcome["reused_steps"] == ["ingest", "features", "calendar"]  # DAG order
    assert open(tmp_path / "manifests/ingest/game_date=2026-01-04/run=r4/manifest.json", "rb").read() == before
    assert pipe.decide("2026-01-04", resume=True)["action"] == "skip"


def test_a_step_over_its_timeout_is_stopped_and_classified_timeout(tmp_path):
    configured = plan.normalise_steps([{"asset": "slow", "command": [sys.executable, "-c", "import time; time.sleep(30)"], "timeout_s": 1}])
    pipe = pipeline(tmp_path, configured=configured)
    outcome = pipe.run_partition("2026-01-05", "r5", "2026-01-05T23:00:00Z")
    assert outcome["failure_class"] == "timeout" and outcome["category"] == "A"


def test_a_command_that_cannot_start_is_a_failed_step(tmp_path):
    configured = plan.normalise_steps([{"asset": "ghost", "command": [str(tmp_path / "no-such-binary")]}])
    outcome = pipeline(tmp_path, configured=configured).run_partition("2026-01-05", "r6", "2026-01-05T23:00:00Z")
    assert outcome["status"] == "failed" and outcome["failure_class"] == "missing_input"


def test_a_backfill_runs_partitions_in_parallel_and_summarises_failures_by_class(tmp_path):
    pipe = pipeline(tmp_path, faults={"features@2026-01-02": "permission", "scores@2026-01-05": "stale_snapshot"}, sleep_s=0.2)
    dates = plan.partitions("2026-01-01", "2026-01-06")
    decisions = [pipe.decide(d, resume=False) for d in dates]
    backfill = {"backfill_id": "bf-unit", "start": dates[0], "end": dates[-1], "as_of_mode": "pretip", "max_parallel": 3,
                "resume": False, "assets": [], "partition_key": "game_date"}
    progress = []
    summary = engine.run_backfill(pipe, backfill, decisions, lambda p: p + "T23:00:00Z", 3, on_progress=progress.append)
    assert (summary["planned"], summary["succeeded"], summary["failed"]) == (6, 4, 2)
    assert summary["failed_by_class"] == {"permission": 1, "stale_snapshot": 1} and summary["status"] == "failed"
    assert [p["pending"] for p in progress] == [5, 4, 3, 2, 1, 0]
    on_disk = json.loads((tmp_path / "manifests/backfills/bf-unit/summary.json").read_text())
    assert on_disk == summary
    intervals = []
    for decision in decisions:
        run = pipe.runs_of(decision["partition"])[decision["run_id"]]
        intervals.append((min(m["started_at"] for m in run.values()), max(m["finished_at"] for m in run.values())))
    peak = max(sum(1 for s, e in intervals if s <= start < e) for start, _end in intervals)
    assert 2 <= peak <= 3


def test_rerun_plans_follow_the_categories(tmp_path):
    pipe = pipeline(tmp_path, faults={"ingest@2026-02-01": "network", "features@2026-02-02": "contract",
                                      "scores@2026-02-03": "stale_snapshot"})
    for day in ("2026-02-01", "2026-02-02", "2026-02-03", "2026-02-04"):
        pipe.run_partition(day, "run-%s" % day, day + "T23:00:00Z")
    a, c, b, ok = (pipe.rerun_plan(day) for day in ("2026-02-01", "2026-02-02", "2026-02-03", "2026-02-04"))
    assert (a["action"], a["run_id"], a["keep"], a["category"]) == ("retry_in_place", "run-2026-02-01", ["calendar"], "A")
    assert (c["action"], c["category"], c["failures"][0]["class"]) == ("refuse", "C", "contract")
    assert (b["action"], b["category"], b["run_as_of_ts"]) == ("new_run", "B", "2026-02-03T23:00:00Z")
    assert ok["action"] == "none" and pipe.rerun_plan("2026-02-09")["action"] == "absent"
