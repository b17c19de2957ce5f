"""Pointers against the sandbox's S3: compare-and-swap with real conditional writes."""

import threading
import uuid

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers


@pytest.fixture
def s3(sandbox):
    return sandbox.boto3_client("s3")


@pytest.fixture
def key():
    return "tests/pointers/%s.json" % uuid.uuid4().hex


def test_create_move_and_noop(sandbox, s3, key):
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    assert pointers.read_pointer(s3, bucket, key) is None
    first = pointers.write_pointer(s3, bucket, key, {"run_id": "r1"})
    assert first["changed"] and first["previous"] is None
    same = pointers.write_pointer(s3, bucket, key, {"run_id": "r1"})
    assert not same["changed"] and same["etag"] == first["etag"]
    second = pointers.write_pointer(s3, bucket, key, {"run_id": "r2"}, expected_etag=first["etag"])
    assert second["changed"] and second["previous"] == {"run_id": "r1"}
    assert pointers.read_pointer(s3, bucket, key)["document"] == {"run_id": "r2"}


def test_stale_etag_is_a_conflict_and_changes_nothing(sandbox, s3, key):
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    first = pointers.write_pointer(s3, bucket, key, {"run_id": "r1"})
    pointers.write_pointer(s3, bucket, key, {"run_id": "r2"}, expected_etag=first["etag"])
    with pytest.raises(pointers.PointerConflict):
        pointers.write_pointer(s3, bucket, key, {"run_id": "r3"}, expected_etag=first["etag"])
    assert pointers.read_pointer(s3, bucket, key)["document"] == {"run_id": "r2"}


def test_the_server_refuses_a_stale_conditional_write(sandbox, s3, key):
    """The CAS is enforced by S3 itself (If-Match), not only by our read-then-compare."""
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    first = pointers.write_pointer(s3, bucket, key, {"n": 1})
    s3.put_object(Bucket=bucket, Key=key, Body=b'{"n": 99}')  # another writer, unconditional
    with pytest.raises(pointers.PointerConflict):
        pointers.conditional_put(s3, bucket, key, {"n": 2}, if_match=first["etag"])
    assert pointers.read_pointer(s3, bucket, key)["document"] == {"n": 99}


def test_concurrent_movers_never_lose_an_update(sandbox, s3, key):
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    pointers.write_pointer(s3, bucket, key, {"count": 0})
    errors = []

    def bump():
        try:
            for _attempt in range(4):
                pointers.move_pointer(s3, bucket, key, lambda doc: {"count": doc["count"] + 1}, max_attempts=50)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _index in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert pointers.read_pointer(s3, bucket, key)["document"] == {"count": 20}


def test_invalid_pointer_and_history_rollback(sandbox, s3, key):
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]  # versioned by the seed
    s3.put_object(Bucket=bucket, Key=key + ".bad", Body=b"[1, 2]")
    with pytest.raises(pointers.PointerInvalid):
        pointers.read_pointer(s3, bucket, key + ".bad")
    pointers.write_pointer(s3, bucket, key, {"run_id": "good"})
    current = pointers.write_pointer(s3, bucket, key, {"run_id": "bad"})
    history = pointers.pointer_history(s3, bucket, key)
    assert len(history) == 2 and history[0]["is_latest"]
    rolled = pointers.rollback_pointer(s3, bucket, key, history[1]["version_id"], expected_etag=current["etag"])
    assert rolled["changed"]
    assert pointers.read_pointer(s3, bucket, key)["document"] == {"run_id": "good"}
    assert len(pointers.pointer_history(s3, bucket, key)) == 3  # rollback is a new version; history kept
