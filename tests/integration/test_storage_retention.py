"""retention.yml against the sandbox: thousands of recordings, legal holds, window, 20% throttling.

State is read back with boto3 (objects left), psycopg (rows marked), the sandbox request log
(DeleteObjects sizes) and the receipt on disk.
"""

import json
import os
import uuid

import psycopg

from tests.unit.module_utils.test_retention import make_recordings, state

SWEEP_TASK = "Delete expired recordings outside the window and not under legal hold"


def test_sweep_of_2500_expired_recordings_under_throttling(sandbox, clean_faults, run_playbook, tmp_path):
    bucket = "test-ret-big-%s" % uuid.uuid4().hex[:10]
    rows = [("exp/%05d" % i, True, False, False, False, True) for i in range(2500)]
    rows += [("window/%03d" % i, True, True, False, False, True) for i in range(30)]
    rows += [("hold/%03d" % i, True, False, True, False, True) for i in range(20)]
    rows += [("future/%03d" % i, False, False, False, False, True) for i in range(10)]
    make_recordings(sandbox, bucket, rows)
    base = {"retention_buckets": [bucket], "retention_window_days": 7, "signalcraft_receipt_root": str(tmp_path / "receipts")}

    dry = run_playbook("retention.yml", dict(base, signalcraft_execution_id="ret-dry"))
    assert dry.rc == 0, dry.stdout
    res = dry.task_results(SWEEP_TASK)[0]
    assert res["token_line"].startswith("retention status=ok mode=dry_run deleted_count=0 would_delete_count=2500 skipped_legal_hold=20 "
                                        "skipped_in_window=30 errors=0")
    assert state(sandbox, bucket)[1] == set() and len(state(sandbox, bucket)[0]) == 2560

    sandbox.control("aws", "requests", method="DELETE")
    sandbox.control("aws", "faults", {"seed": 11, "rules": [{"service": "s3", "operation": "*", "fraction": 0.2, "error": "slowdown"}]})
    progress = tmp_path / "progress.jsonl"
    done = run_playbook("retention.yml", dict(base, retention_apply=True, signalcraft_execution_id="ret-apply",
                                              retention_progress_file=str(progress)))
    injected = sandbox.control("aws", "faults")["injected"]
    sandbox.clear_faults()
    assert done.rc == 0, done.stdout
    assert sum(injected.values()) > 100  # throttling really happened
    res = done.task_results(SWEEP_TASK)[0]
    assert res["changed"] is True
    res = res["outputs"]
    assert (res["deleted_count"], res["skipped_legal_hold"], res["errors"]) == (2500, 20, 0)
    assert len(res["progress"]) == 3
    keys, marked = state(sandbox, bucket)
    assert keys == {row[0] for row in rows if not row[0].startswith("exp/")}
    assert marked == {row[0] for row in rows if row[0].startswith("exp/")}
    # Every DeleteObjects request carried at most 1,000 keys (read from the sandbox's request log).
    deletes = sandbox.control("aws", "requests?operation=DeleteObjects&bucket=%s&injected=false" % bucket)
    assert deletes and all(e["status"] == 200 for e in deletes)
    receipt = json.load(open(os.path.join(tmp_path, "receipts", "ret-apply", "apply.json")))
    assert receipt["status"] == "success" and receipt["outputs"]["deleted_count"] == 2500
    assert max(receipt["outputs"]["delete_requests"]) <= 1000 and sum(receipt["outputs"]["delete_requests"]) == 2500
    assert receipt["outputs"]["after"]["unexplained"] == 0
    assert len(progress.read_text().splitlines()) == 3
    with psycopg.connect(sandbox["SANDBOX_PG_DSN"]) as conn:
        left = conn.execute("select count(*) from recordings where bucket = %s and deleted_at is null and expires_at < now()",
                            (bucket,)).fetchone()[0]
    assert left == 50  # 30 inside the window + 20 under legal hold, nothing else
    assert sandbox["SANDBOX_PG_DSN"].split("@")[0].split(":")[-1] not in done.stdout  # the DSN password never printed

    again = run_playbook("retention.yml", dict(base, retention_apply=True, signalcraft_execution_id="ret-again"))
    assert again.rc == 0 and again.task_results(SWEEP_TASK)[0]["outputs"]["deleted_count"] == 0
    assert again.task_results(SWEEP_TASK)[0]["changed"] is False
    assert json.load(open(os.path.join(tmp_path, "receipts", "ret-again", "apply.json")))["changed"] is False


def test_check_mode_with_apply_reports_the_change_and_deletes_nothing(sandbox, run_playbook, tmp_path):
    bucket = "test-ret-check-%s" % uuid.uuid4().hex[:10]
    rows = [("exp/%d" % i, True, False, False, False, True) for i in range(3)] + [("window/0", True, True, False, False, True)]
    make_recordings(sandbox, bucket, rows)
    run = run_playbook("retention.yml", {"retention_buckets": [bucket], "retention_window_days": 7, "retention_apply": True,
                                         "signalcraft_execution_id": "ret-check", "signalcraft_receipt_root": str(tmp_path / "r"),
                                         "retention_progress_file": str(tmp_path / "progress" / "p.jsonl")},
                       check=True)
    assert run.rc == 0, run.stdout
    res = run.task_results(SWEEP_TASK)[0]
    assert res["changed"] is True and res["outputs"]["would_delete_count"] == 3 and res["outputs"]["deleted_count"] == 0
    assert res["diff"] == {"before": {"expired_unmarked": 4}, "after": {"expired_unmarked": 1}}
    assert res["token_line"].startswith("retention status=planned mode=dry_run deleted_count=0 would_delete_count=3")
    assert state(sandbox, bucket) == ({row[0] for row in rows}, set())  # read back: every object and row untouched
    assert len(res["outputs"]["progress"]) == 1 and not (tmp_path / "progress").exists()  # nor the progress log
    assert not (tmp_path / "r").exists()  # nor a receipt
