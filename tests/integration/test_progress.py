"""Progress of long work reaches the operator while the module runs (issue 11 item 6).

A publish made slow on purpose (the sandbox delays every PutObject of the test's prefix) is run twice:

- by ``ansible-playbook`` as an operator runs it, its stdout read line by line as it arrives: the
  ``progress publish:`` lines come in order, with increasing counts, the last one equal to the number
  of objects listed back from the bucket, all before the task's result -- and the first of them
  arrives well before the result does (shown live, not printed at the end);
- through ansible-runner as AWX runs it: each line is a ``verbose`` job event of its own, its
  ``counter`` before the publish task's ``runner_on_ok`` event.

A retention sweep in batches of 5 shows its per-batch lines with the rows marked read back from
PostgreSQL. No line carries a key or a secret.
"""

import datetime
import os
import re
import uuid
import subprocess
import threading
import time

from tests.conftest import REPO_ROOT
from tests.integration.publish_support import PUBLISH_TASK, base_vars, extra_files, make_run, new_prefix, seed_copy, write_dir
from tests.integration.test_awx_templates import secrets_of
from tests.integration.test_storage_retention import SWEEP_TASK
from tests.unit.module_utils.test_retention import make_recordings, state

NEW_RUN = "20260301T060000Z"
LINE = re.compile(r"^progress (?P<what>[a-z][a-z0-9_./ -]*): (?P<done>\d+)(?:/(?P<total>\d+))? (?P<unit>[a-z_]+)"
                  r"(?: \((?P<pct>\d+)%\))?(?: (?P<rate>[\d.]+) [a-z_]+/s)?(?:, (?P<elapsed>[\d.]+) s elapsed)?(?:, (?P<counts>.*))?$")
FAST = {"SIGNALCRAFT_PROGRESS_INTERVAL": "0.2"}
RESULT_LINE = re.compile(r"^(ok|changed|failed|fatal): \[localhost\]")


def slow_puts(sandbox, prefix, latency_ms=40):
    """Every PutObject under ``prefix`` waits ``latency_ms`` before the sandbox answers it."""
    sandbox.control("aws", "faults", {"seed": 1, "rules": [
        {"service": "s3", "operation": "PutObject", "key_prefix": prefix, "error": "latency", "latency_ms": latency_ms}]})


def publish_run(tmp_path, count=40):
    files = make_run(NEW_RUN)
    files.update(extra_files(count, seed="progress"))
    return write_dir(tmp_path / "run", files), files


def parsed(lines, what):
    found = []
    for line in lines:
        match = LINE.match(line)
        if match and match.group("what") == what:
            found.append(match.groupdict())
    return found


def assert_counts_climb(found, total):
    assert len(found) >= 3, found
    done = [int(f["done"]) for f in found]
    assert done == sorted(done) and len(set(done)) == len(done), done
    assert all(int(f["total"]) == total for f in found), found
    assert done[-1] == total and found[-1]["pct"] == "100", found[-1]
    # A rate and the elapsed time once work has been done.
    assert all(f["rate"] and f["elapsed"] for f in found if int(f["done"]) > 0), found


def assert_events_belong_to(result, verbose, task):
    """One line per event, each under the task (AWX nests it there) and between its start and its result,
    the first created well before the result (sent while the module ran, not at its end)."""
    assert all("\n" not in e["stdout"] for e in verbose)
    started = next(e for e in result.events if e.get("event") == "playbook_on_task_start" and e["event_data"].get("task") == task)
    done = next(e for e in result.events if e.get("event") in ("runner_on_ok", "runner_on_failed") and e["event_data"].get("task") == task)
    assert all(started["counter"] < e["counter"] < done["counter"] for e in verbose)
    assert all(e["parent_uuid"] == started["event_data"]["task_uuid"] and e["event_data"]["task"] == task for e in verbose)
    first, last = (datetime.datetime.fromisoformat(e["created"]) for e in (verbose[0], done))
    assert (last - first).total_seconds() > 0.5, (verbose[0]["created"], done["created"])


def published_keys(sandbox, bucket, prefix):
    s3 = sandbox.boto3_client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="%s/runs/%s/" % (prefix, NEW_RUN))
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_publish_progress_is_shown_live_in_ansible_playbook_output(sandbox, clean_faults, tmp_path):
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    prefix = new_prefix("progress")
    seed_copy(sandbox.boto3_client("s3"), bucket, prefix)
    run_dir, files = publish_run(tmp_path)
    slow_puts(sandbox, prefix)
    env = sandbox.process_env()
    env.update(FAST, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PYTHONUNBUFFERED="1")
    extra = base_vars(tmp_path, prefix, "progress-cli", publish_run_dir=run_dir, publish_concurrency=2)
    argv = ["ansible-playbook", "-i", os.path.join(REPO_ROOT, "inventories", "local"), os.path.join(REPO_ROOT, "playbooks", "publish.yml")]
    for name, value in extra.items():
        argv += ["-e", "%s=%s" % (name, value)]
    arrivals = []
    process = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)

    def read():
        for raw in process.stdout:
            arrivals.append((time.monotonic(), raw.rstrip("\n")))

    reader = threading.Thread(target=read)
    reader.start()
    assert process.wait(timeout=180) == 0, "\n".join(line for _t, line in arrivals)
    reader.join()
    lines = [line for _t, line in arrivals]
    output = "\n".join(lines)

    keys = published_keys(sandbox, bucket, prefix)
    assert len(keys) == len(files)
    found = parsed(lines, "publish")
    assert_counts_climb(found, len(keys))
    # Every stage's lines, in order: read the source, upload, read back, copy to latest/.
    stages = [LINE.match(line).group("what") for line in lines if LINE.match(line)]
    assert [s for i, s in enumerate(stages) if s not in stages[:i]] == ["publish read", "publish", "publish verify", "publish latest"]
    # All of them before the task's result line; the first upload line well before it (it was shown live).
    task_at = lines.index(next(line for line in lines if line.startswith("TASK [") and PUBLISH_TASK in line))
    result_at = next(i for i, line in enumerate(lines) if i > task_at and RESULT_LINE.match(line))
    progress_at = [i for i, line in enumerate(lines) if line.startswith("progress ")]
    assert progress_at and task_at < min(progress_at) and max(progress_at) < result_at, output
    first_upload = next(t for t, line in arrivals if line.startswith("progress publish: ") and not line.startswith("progress publish: 0/"))
    assert arrivals[result_at][0] - first_upload > 0.5, output
    # Counts only: no key, no path, no secret.
    for line in (lines[i] for i in progress_at):
        assert "/runs/" not in line and run_dir not in line and prefix not in line, line
        assert not any(secret in line for secret in secrets_of(sandbox)), line


def test_publish_progress_lines_are_job_events_under_ansible_runner(sandbox, clean_faults, run_playbook, tmp_path):
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    prefix = new_prefix("progress-awx")
    seed_copy(sandbox.boto3_client("s3"), bucket, prefix)
    run_dir, files = publish_run(tmp_path)
    slow_puts(sandbox, prefix)
    result = run_playbook("publish.yml", base_vars(tmp_path, prefix, "progress-awx", publish_run_dir=run_dir, publish_concurrency=2),
                          envvars=FAST)
    assert result.rc == 0, result.stdout
    keys = published_keys(sandbox, bucket, prefix)
    assert len(keys) == len(files)
    verbose = [e for e in result.events if e.get("event") == "verbose" and e.get("stdout", "").startswith("progress ")]
    found = parsed([e["stdout"] for e in verbose], "publish")
    assert_counts_climb(found, len(keys))
    assert_events_belong_to(result, verbose, PUBLISH_TASK)
    # The lines, in the result's full stdout as AWX shows it, too.
    assert "progress publish: %d/%d objects (100%%)" % (len(keys), len(keys)) in result.stdout


def test_retention_sweep_shows_per_batch_lines(sandbox, clean_faults, run_playbook, tmp_path):
    bucket = "test-ret-progress-%s" % uuid.uuid4().hex[:10]
    rows = [("exp/%03d" % i, True, False, False, False, True) for i in range(40)]
    rows += [("window/%d" % i, True, True, False, False, True) for i in range(3)]
    make_recordings(sandbox, bucket, rows)
    # Each DeleteObjects (one per batch of 5) takes 150 ms: eight batches, about 1.2 s of sweeping.
    sandbox.control("aws", "faults", {"seed": 1, "rules": [
        {"service": "s3", "operation": "DeleteObjects", "error": "latency", "latency_ms": 150}]})
    result = run_playbook("retention.yml", {"retention_buckets": [bucket], "retention_window_days": 7, "retention_apply": True,
                                            "retention_batch_size": 5, "signalcraft_execution_id": "ret-progress",
                                            "signalcraft_receipt_root": str(tmp_path / "receipts")}, envvars=FAST)
    assert result.rc == 0, result.stdout
    keys, marked = state(sandbox, bucket)
    assert marked == {row[0] for row in rows if row[0].startswith("exp/")} and len(keys) == 3
    verbose = [e for e in result.events if e.get("event") == "verbose" and e.get("stdout", "").startswith("progress retention:")]
    found = parsed([e["stdout"] for e in verbose], "retention")
    assert_counts_climb(found, 40)
    deleted = [int(re.search(r"deleted=(\d+)", f["counts"]).group(1)) for f in found]
    # Per-batch counts: multiples of the batch size, climbing to the rows marked in PostgreSQL.
    assert deleted == sorted(deleted) and all(d % 5 == 0 for d in deleted) and deleted[-1] == len(marked)
    assert all(re.fullmatch(r"deleted=\d+ skipped_legal_hold=0 errors=0", f["counts"]) for f in found), [f["counts"] for f in found]
    assert_events_belong_to(result, verbose, SWEEP_TASK)
