"""retention.py against the sandbox's S3 and PostgreSQL: holds, window, crash between the writes, guards."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.services import db
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import retention
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError


def make_recordings(sandbox, bucket, rows, object_lock=False):
    """rows: [(key, expired, in_window, table_hold, s3_hold, upload)] -> {key: id}."""
    s3 = sandbox.boto3_client("s3")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=object_lock) if object_lock else s3.create_bucket(Bucket=bucket)

    def put(row):
        if row[5]:
            s3.put_object(Bucket=bucket, Key=row[0], Body=b"rec")
            if row[4]:
                s3.put_object_legal_hold(Bucket=bucket, Key=row[0], LegalHold={"Status": "ON"})

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, rows))
    ids = {}
    with psycopg.connect(sandbox["SANDBOX_PG_DSN"]) as conn, conn.cursor() as cur:
        for key, expired, in_window, table_hold, _s3_hold, _upload in rows:
            created = "now() - interval '2 days'" if in_window else "now() - interval '90 days'"
            expires = "now() - interval '1 day'" if expired else "now() + interval '30 days'"
            cur.execute("insert into recordings (bucket, object_key, created_at, expires_at) values (%%s, %%s, %s, %s) returning id"
                        % (created, expires), (bucket, key))
            ids[key] = cur.fetchone()[0]
            if table_hold:
                cur.execute("insert into legal_holds (recording_id, reason, requested_by) values (%s, 'case-1', 'legal')", (ids[key],))
    return ids


def state(sandbox, bucket):
    s3 = sandbox.boto3_client("s3")
    keys = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys |= {o["Key"] for o in page.get("Contents", [])}
    with psycopg.connect(sandbox["SANDBOX_PG_DSN"]) as conn:
        marked = {r[0] for r in conn.execute("select object_key from recordings where bucket = %s and deleted_at is not null", (bucket,))}
    return keys, marked


def test_sweep_on_object_lock_bucket_honours_both_holds_and_the_window(sandbox):
    bucket = "test-ret-lock-%s" % uuid.uuid4().hex[:10]
    rows = [("exp/%d" % i, True, False, False, False, True) for i in range(5)]
    rows += [("s3hold/0", True, False, False, True, True), ("tblhold/0", True, False, True, False, True),
             ("window/0", True, True, False, False, True), ("future/0", False, False, False, False, True),
             ("missing/0", True, False, False, False, False)]  # object already gone: the row is marked
    make_recordings(sandbox, bucket, rows, object_lock=True)
    s3 = sandbox.boto3_client("s3")
    with db.Database(sandbox["SANDBOX_PG_DSN"]) as database:
        checks, features = retention.preflight(s3, database, [bucket])
        assert features[bucket] == {"versioned": True, "object_lock": True}
        dry = retention.Sweep(s3, database, [bucket], 30, features=features).run()
        assert dry["would_delete_count"] == 6 and dry["deleted_count"] == 0 and dry["skipped_legal_hold"] == 2
        assert state(sandbox, bucket)[1] == set()
        done = retention.Sweep(s3, database, [bucket], 30, apply=True, features=features).run()
    assert done["deleted_count"] == 6 and done["skipped_legal_hold_s3"] == 1 and done["skipped_legal_hold_table"] == 1
    assert done["skipped_in_window"] == 1 and done["errors"] == 0
    assert done["after"]["unexplained"] == 0 and done["after"]["held"] == 1 and done["after"]["in_window"] == 1
    keys, marked = state(sandbox, bucket)
    assert keys == {"s3hold/0", "tblhold/0", "window/0", "future/0"}
    assert marked == {"exp/%d" % i for i in range(5)} | {"missing/0"}
    # Every version is gone, not hidden behind a delete marker.
    versions = s3.list_object_versions(Bucket=bucket, Prefix="exp/")
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")


def test_a_database_failure_after_the_delete_is_repaired_by_the_next_run(sandbox):
    bucket = "test-ret-crash-%s" % uuid.uuid4().hex[:10]
    make_recordings(sandbox, bucket, [("r/%03d" % i, True, False, False, False, True) for i in range(30)])
    s3 = sandbox.boto3_client("s3")
    fn = "fail_mark_%s" % uuid.uuid4().hex[:8]
    with psycopg.connect(sandbox["SANDBOX_PG_DSN"], autocommit=True) as conn:
        # The fault: the database refuses to mark this bucket's rows (as a lost connection would).
        conn.execute("create function %s() returns trigger language plpgsql as $$ begin "
                     "if new.bucket = '%s' then raise exception 'injected fault'; end if; return new; end $$" % (fn, bucket))
        conn.execute("create trigger %s before update on recordings for each row execute function %s()" % (fn, fn))
        try:
            with db.Database(sandbox["SANDBOX_PG_DSN"]) as database:
                with pytest.raises(retention.SweepStopped) as info:
                    retention.Sweep(s3, database, [bucket], 30, apply=True, batch_size=10).run()
            assert info.value.reason == "db_error" and "injected fault" in info.value.message
        finally:
            conn.execute("drop trigger %s on recordings" % fn)
            conn.execute("drop function %s()" % fn)
    keys, marked = state(sandbox, bucket)
    assert len(keys) == 20 and marked == set()  # first batch deleted, nothing marked, sweep stopped
    with db.Database(sandbox["SANDBOX_PG_DSN"]) as database:
        rerun = retention.Sweep(s3, database, [bucket], 30, apply=True, batch_size=10).run()
    keys, marked = state(sandbox, bucket)
    assert keys == set() and len(marked) == 30 and rerun["deleted_count"] == 30 and rerun["after"]["expired_unmarked"] == 0


def test_guards_fail_before_any_read():
    for args, reason in ((([], 30, 10), "retention_buckets_missing"), ((["REPLACE_WITH_X"], 30, 10), "inventory_placeholder"),
                         ((["b"], 0, 10), "retention_window_invalid"), ((["b"], 30, 1001), "batch_size_invalid")):
        with pytest.raises(GuardError) as info:
            retention.validate_inputs(*args)
        assert info.value.reason == reason


def test_block_mode_refuses_the_run_while_a_hold_is_outstanding(sandbox):
    bucket = "test-ret-block-%s" % uuid.uuid4().hex[:10]
    make_recordings(sandbox, bucket, [("a", True, False, True, False, True), ("b", True, False, False, False, True)])
    with db.Database(sandbox["SANDBOX_PG_DSN"]) as database:
        with pytest.raises(GuardError) as info:
            retention.preflight(sandbox.boto3_client("s3"), database, [bucket], legal_hold_mode="block")
    assert info.value.reason == "legal_hold_outstanding"
    assert state(sandbox, bucket) == ({"a", "b"}, set())
