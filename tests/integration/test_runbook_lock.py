"""The DR lock: two drills, or a drill and a failback, never run against one DR environment at once.

The lock is an object in the sandbox's receipt bucket taken by a conditional write (real S3 semantics:
``If-None-Match: *`` to create, ``If-Match`` to take over or delete; the sandbox serializes writes per
key as S3 does). Everything is read back from S3, EC2, the Kubernetes audit log and the receipts on disk.
"""

import datetime
import json
import os
import threading
import uuid

from tests.integration.test_dr_drill import live_runners
from tests.integration.test_dr_failback import extravars as failback_vars
from tests.integration.test_dr_failback import promoted  # noqa: F401 pylint: disable=unused-import  # a fixture: a promoted DR run
from tests.integration.test_guard_matrix import aws_writes_since, k8s_audit_marks, k8s_writes_since, last_seq

from ansible_collections.signalcraft.ops.plugins.module_utils.services import locks

LOCK_KEY = "receipts/locks/dr/local.json"
FAST = {"dr_validate_retry_backoff_seconds": 0, "dr_validate_poll_interval": 0.3}


def uid():
    return uuid.uuid4().hex[:8]


def stamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def hold(sandbox, execution_id, minutes_ago=0, ttl_minutes=360):
    """Another run's lock, as that run would have written it; returns its ETag."""
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=minutes_ago)
    document = locks.lock_document("dr/local", {"execution_id": execution_id, "operation": "dr_drill", "user": "someone",
                                                "host": "elsewhere"}, ttl_minutes * 60, when)
    response = sandbox.boto3_client("s3").put_object(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Key=LOCK_KEY,
                                                     Body=json.dumps(document).encode(), ContentType="application/json")
    return response["ETag"]


def lock_object(sandbox):
    s3 = sandbox.boto3_client("s3")
    try:
        found = s3.get_object(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Key=LOCK_KEY)
    except s3.exceptions.NoSuchKey:
        return None
    return {"etag": found["ETag"], "document": json.loads(found["Body"].read())}


def drop_lock(sandbox):
    sandbox.boto3_client("s3").delete_object(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Key=LOCK_KEY)


def drill(run_playbook, receipt_dir, check=False, **extra):
    values = dict(FAST, receipt_dir=str(receipt_dir), dr_namespace="lock-%s" % uid(), teardown=False, **extra)
    return run_playbook("dr_drill.yml", values, check=check)


def test_a_held_lock_stops_a_drill_and_a_failback_before_any_write(sandbox, run_playbook, tmp_path, promoted):  # noqa: F811
    etag = hold(sandbox, "dr-other-%s" % uid())
    try:
        mark, k8s_marks = last_seq(sandbox), k8s_audit_marks(sandbox)
        run_id = "lock-drill-%s" % uid()
        run = drill(run_playbook, tmp_path / "drill", run_id=run_id, stop_after="bringup")
        assert run.rc != 0
        assert "reason=lock_held" in " ".join(run.stdout.split()), run.stdout[-3000:]
        assert "break_lock=true" in run.stdout
        # No runner, no Kubernetes write, and the only AWS writes are this run's own receipts.
        assert live_runners(sandbox, run_id) == []
        assert k8s_writes_since(sandbox, k8s_marks) == []
        writes = aws_writes_since(sandbox, mark)
        assert ("s3", "PutObject", sandbox["SANDBOX_RECEIPT_BUCKET"], "receipts/%s/lock.json" % run_id) in writes
        # Receipts only: nothing but PutObject into the receipt bucket, and not the lock (nor, a refused drill, the drill index).
        assert all(op == "PutObject" and bucket == sandbox["SANDBOX_RECEIPT_BUCKET"] and key != LOCK_KEY and "/index/" not in key
                   for dummy, op, bucket, key in writes), writes
        assert lock_object(sandbox)["etag"] == etag
        summary = json.loads((tmp_path / "drill" / "drill.summary.json").read_text())
        assert summary["status"] == "failed" and summary["failed_phase"] == "guards"
        # A lock refusal is a guard: even teardown_on_failure does not run.
        phases = {p["phase"]: p["status"] for p in summary["phases"]}
        assert phases["teardown"] == "skipped" and phases["bringup"] == "skipped"

        # The failback shares the lock: refused the same way, the promoted DR environment untouched.
        state = promoted
        mark, k8s_marks = last_seq(sandbox), k8s_audit_marks(sandbox)
        run = run_playbook("dr_failback.yml", failback_vars(sandbox, state, tmp_path / "failback"))
        assert run.rc != 0 and "reason=lock_held" in " ".join(run.stdout.split()), run.stdout[-3000:]
        assert k8s_writes_since(sandbox, k8s_marks) == []
        assert all(op == "PutObject" and key.startswith("receipts/") and "/locks/" not in key
                   for dummy, op, dummy2, key in aws_writes_since(sandbox, mark))
        assert len(live_runners(sandbox, state["run_id"])) == 1
        assert lock_object(sandbox)["etag"] == etag
    finally:
        drop_lock(sandbox)


def test_a_stale_lock_is_taken_over_and_break_lock_takes_a_live_one_both_receipted(sandbox, run_playbook, tmp_path):
    stale_holder = "dr-dead-%s" % uid()
    hold(sandbox, stale_holder, minutes_ago=120, ttl_minutes=60)
    run = drill(run_playbook, tmp_path / "stale", stop_after="bringup")
    assert run.rc == 0, run.stdout[-3000:]
    receipt = json.loads((tmp_path / "stale" / "lock.json").read_text())
    assert receipt["outputs"]["action"] == "take_stale"
    assert receipt["outputs"]["previous"]["holder"]["execution_id"] == stale_holder
    assert lock_object(sandbox) is None  # released at the end

    live_holder = "dr-live-%s" % uid()
    hold(sandbox, live_holder)
    run = drill(run_playbook, tmp_path / "broken", stop_after="bringup", break_lock=True)
    assert run.rc == 0, run.stdout[-3000:]
    receipt = json.loads((tmp_path / "broken" / "lock.json").read_text())
    assert receipt["outputs"]["action"] == "break" and receipt["inputs"]["break_lock"] is True
    assert receipt["outputs"]["previous"]["holder"]["execution_id"] == live_holder
    # The receipt bucket has the same record of who was displaced.
    execution_id = receipt["execution_id"]
    uploaded = json.loads(sandbox.boto3_client("s3").get_object(
        Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Key="receipts/%s/lock.json" % execution_id)["Body"].read())
    assert uploaded["outputs"]["previous"]["holder"]["execution_id"] == live_holder
    assert lock_object(sandbox) is None


def test_check_mode_reads_the_lock_and_writes_none(sandbox, run_playbook, tmp_path):
    mark = last_seq(sandbox)
    run = drill(run_playbook, tmp_path / "check", check=True, stop_after="bringup")
    assert run.rc == 0, run.stdout[-3000:]
    # The lock was read (a held one would have refused the check run too), and nothing was written anywhere.
    requests = [(e["operation"], e.get("key")) for e in sandbox.control("aws", "requests?limit=5000") if e["seq"] > mark]
    assert ("GetObject", LOCK_KEY) in requests
    assert lock_object(sandbox) is None
    assert aws_writes_since(sandbox, mark) == []


def test_of_many_runs_taking_the_lock_at_once_exactly_one_gets_it(sandbox):
    """Eight writers race on the real conditional write; one wins, seven are told who holds it."""
    store = locks.S3LockStore(sandbox.boto3_client("s3"), sandbox["SANDBOX_RECEIPT_BUCKET"], "receipts")
    outcomes, barrier = {}, threading.Barrier(8)

    def take(index):
        holder = {"execution_id": "racer-%d" % index, "operation": "dr_drill", "user": "t", "host": "h"}
        barrier.wait()
        try:
            outcomes[index] = locks.acquire(store, "dr/local", holder, 600)["action"]
        except locks.LockHeld as exc:
            outcomes[index] = exc.reason

    threads = [threading.Thread(target=take, args=(i,)) for i in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        winners = [i for i, action in outcomes.items() if action == "acquire"]
        assert len(winners) == 1 and sorted(outcomes.values()).count("lock_held") == 7, outcomes
        assert lock_object(sandbox)["document"]["holder"]["execution_id"] == "racer-%d" % winners[0]
        # Only the holder releases it; another execution's release leaves it alone.
        assert locks.release(store, "dr/local", "racer-x")["action"] == "not_ours"
        assert lock_object(sandbox) is not None
        assert locks.release(store, "dr/local", "racer-%d" % winners[0])["action"] == "released"
        assert lock_object(sandbox) is None
    finally:
        if lock_object(sandbox) is not None:
            drop_lock(sandbox)


def test_without_a_receipt_bucket_the_lock_is_a_local_file(tmp_path):
    store = locks.FileLockStore(str(tmp_path / "locks"))
    first = {"execution_id": "one", "operation": "dr_drill", "user": "t", "host": "h"}
    assert locks.acquire(store, "dr/local", first, 600)["action"] == "acquire"
    assert os.path.exists(str(tmp_path / "locks" / "dr" / "local.json"))
    try:
        locks.acquire(store, "dr/local", dict(first, execution_id="two"), 600)
        raise AssertionError("a held file lock was taken")
    except locks.LockHeld as exc:
        assert "one" in str(exc)
    assert locks.acquire(store, "dr/local", first, 600)["action"] == "renew"
    broken = locks.acquire(store, "dr/local", dict(first, execution_id="two"), 600, break_lock=True)
    assert broken["action"] == "break" and broken["previous"]["holder"]["execution_id"] == "one"
    assert locks.release(store, "dr/local", "one")["action"] == "not_ours"
    assert locks.release(store, "dr/local", "two")["action"] == "released"
    assert not os.path.exists(str(tmp_path / "locks" / "dr" / "local.json"))
