"""publish.yml against the sandbox: check mode, publish, idempotent rerun, failed runs, interruption,
throttling, and the two refusals (publish disabled, bucket missing).

State is read back with boto3 (objects, SHA-256 checksums, pointer documents and ETags) and from the
sandbox request log (which writes were made, how many times each key was written), never from our
own output alone. Each test copies the seeded run under its own prefix first.
"""

from collections import Counter

from tests.integration.publish_support import (PUBLISH_TASK, base_vars, extra_files, log_mark, make_run, new_prefix,
                                               pointer_state, put_files, read_json, read_receipt, requests_since, seed_copy,
                                               sha256_b64, write_dir, writes_since, SEEDED_RUN)

NEW_RUN = "20260201T060000Z"


def test_check_mode_publish_and_idempotent_rerun(sandbox, clean_faults, run_playbook, tmp_path):
    s3 = sandbox.boto3_client("s3")
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    prefix = new_prefix("pub")
    seed_copy(s3, bucket, prefix)
    # A key the new run does not have: publishing must delete it from latest/.
    s3.put_object(Bucket=bucket, Key="%s/latest/openai/cs/stale-from-an-old-run.md" % prefix, Body=b"old")
    files = make_run(NEW_RUN)
    files.update(extra_files(20))
    run_dir = write_dir(tmp_path / "run", files)
    before = pointer_state(s3, bucket, prefix)

    # Check mode: reports what it would do and writes nothing to the artifact bucket.
    mark = log_mark(sandbox)
    result = run_playbook("publish.yml", base_vars(tmp_path, prefix, "pub-check", publish_run_dir=run_dir), check=True)
    assert result.rc == 0, result.stdout
    planned = result.task_results(PUBLISH_TASK)[0]
    assert planned["changed"] is True and len(planned["outputs"]["uploaded"]) == len(files)
    assert [p["action"] for p in planned["outputs"]["pointers"]] == ["moved", "moved"]
    assert planned["token_line"] == "publish status=planned run_id=%s run_status=healthy would_write=%d skipped=0 pointers=would_move" % (
        NEW_RUN, len(files))
    assert planned["diff"]["after"]["%s/state/last_success.json" % prefix] == NEW_RUN
    assert writes_since(sandbox, mark, bucket, prefix) == []
    assert pointer_state(s3, bucket, prefix) == before
    assert s3.list_objects_v2(Bucket=bucket, Prefix="%s/runs/%s/" % (prefix, NEW_RUN)).get("KeyCount") == 0

    # Publish.
    mark = log_mark(sandbox)
    result = run_playbook("publish.yml", base_vars(tmp_path, prefix, "pub-real", publish_run_dir=run_dir))
    assert result.rc == 0, result.stdout
    published = result.task_results(PUBLISH_TASK)[0]
    assert published["token_line"] == "publish status=ok run_id=%s run_status=healthy written=%d skipped=0 pointers=moved" % (
        NEW_RUN, len(files))
    # Every object is there with the local file's SHA-256 (read back with ChecksumMode).
    for rel, data in files.items():
        head = s3.head_object(Bucket=bucket, Key="%s/runs/%s/%s" % (prefix, NEW_RUN, rel), ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == sha256_b64(data) and head["ContentLength"] == len(data), rel
        if rel.endswith(".json"):
            assert head["ContentType"] == "application/json", rel
    # latest/ holds exactly the new run's openai/cs outputs; the stale key is gone.
    latest = s3.list_objects_v2(Bucket=bucket, Prefix="%s/latest/openai/cs/" % prefix)["Contents"]
    outputs = dict((rel[len("openai/cs/"):], data) for rel, data in files.items() if rel.startswith("openai/cs/"))
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in latest) == sorted(outputs)
    for name, data in outputs.items():
        assert s3.get_object(Bucket=bucket, Key="%s/latest/openai/cs/%s" % (prefix, name))["Body"].read() == data
    # Both pointers name the new run with object counts and provenance from run_summary.
    summary = read_json(s3, bucket, "%s/runs/%s/run_summary.v1.json" % (prefix, NEW_RUN))
    top = read_json(s3, bucket, "%s/state/last_success.json" % prefix)
    pair = read_json(s3, bucket, "%s/state/openai/cs/last_success.json" % prefix)
    assert top["run_id"] == pair["run_id"] == NEW_RUN
    assert top["target"] == "s3://%s/%s/runs/%s/" % (bucket, prefix, NEW_RUN) and top["object_count"] == len(files)
    assert (top["provider"], top["profile"]) == (None, None)
    assert pair["target"] == "s3://%s/%s/runs/%s/openai/cs/" % (bucket, prefix, NEW_RUN) and pair["object_count"] == len(outputs)
    assert (pair["provider"], pair["profile"]) == ("openai", "cs")
    assert top["provenance"]["git_sha"] == summary["git_sha"] and top["schema_version"] == "pointer.v1"
    assert sorted(top) == sorted(["schema_version", "run_id", "provider", "profile", "target", "published_at", "object_count",
                                  "provenance"])
    # Pointers were written after every run object (never naming a run that is not fully there).
    writes = writes_since(sandbox, mark, bucket, prefix)
    pointer_seqs = [w["seq"] for w in writes if w["key"] and "/state/" in w["key"] and w["status"] == 200]
    object_seqs = [w["seq"] for w in writes if w["key"] and "/runs/" in w["key"]]
    assert len(pointer_seqs) == 2 and min(pointer_seqs) > max(object_seqs)
    receipt = read_receipt(sandbox, tmp_path, "pub-real", "publish")
    assert receipt["status"] == "success" and receipt["changed"] is True
    assert receipt["outputs"]["uploaded_count"] == len(files) and receipt["outputs"]["pointers_moved"] is True

    # Second publish of the same run: changed=false and not one write.
    pointers_after = pointer_state(s3, bucket, prefix)
    mark = log_mark(sandbox)
    result = run_playbook("publish.yml", base_vars(tmp_path, prefix, "pub-again", publish_run_dir=run_dir))
    assert result.rc == 0, result.stdout
    again = result.task_results(PUBLISH_TASK)[0]
    assert again["changed"] is False and again["outputs"]["uploaded"] == [] and again["outputs"]["skipped_count"] == len(files)
    assert writes_since(sandbox, mark, bucket, prefix) == []
    assert pointer_state(s3, bucket, prefix) == pointers_after
    assert again["token_line"].endswith("written=0 skipped=%d pointers=unchanged" % len(files))


def test_failed_run_publishes_its_objects_but_moves_no_pointer(sandbox, clean_faults, run_playbook, tmp_path):
    """A run whose run_health says failed, from the S3 outbox as the ECS task leaves it."""
    s3 = sandbox.boto3_client("s3")
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    prefix = new_prefix("failed")
    seed_copy(s3, bucket, prefix)
    run_id = "20260202T060000Z"
    files = make_run(run_id, failed_stage="scrape")
    put_files(s3, bucket, "%s/outbox/%s" % (prefix, run_id), files)
    before = pointer_state(s3, bucket, prefix)
    latest_before = [(o["Key"], o["ETag"]) for o in s3.list_objects_v2(Bucket=bucket, Prefix="%s/latest/" % prefix)["Contents"]]

    result = run_playbook("publish.yml", base_vars(tmp_path, prefix, "pub-failed", publish_run_id=run_id))
    assert result.rc != 0
    assert "publish status=fail reason=run_failed" in result.stdout
    # The failure evidence (the three JSON documents) is published under runs/, copied server-side...
    published = s3.list_objects_v2(Bucket=bucket, Prefix="%s/runs/%s/" % (prefix, run_id))["Contents"]
    assert sorted(o["Key"].split("/runs/%s/" % run_id)[1] for o in published) == sorted(files)
    copies = requests_since(sandbox, 0, service="s3", operation="CopyObject", key_prefix="%s/runs/%s/" % (prefix, run_id))
    assert len([c for c in copies if c["status"] == 200]) == len(files)
    # ...but neither pointer nor latest/ moved.
    assert pointer_state(s3, bucket, prefix) == before
    assert before["state/last_success.json"][0] == SEEDED_RUN
    assert [(o["Key"], o["ETag"]) for o in s3.list_objects_v2(Bucket=bucket, Prefix="%s/latest/" % prefix)["Contents"]] == latest_before
    receipt = read_receipt(sandbox, tmp_path, "pub-failed", "publish")
    assert receipt["status"] == "failed" and receipt["failure_code"] == "run_failed"
    assert receipt["outputs"]["run_status"] == "failed" and receipt["outputs"]["failed_stage"] == "scrape"


def test_interrupted_publish_keeps_pointers_and_a_rerun_completes_it(sandbox, clean_faults, run_playbook, tmp_path):
    s3 = sandbox.boto3_client("s3")
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    prefix = new_prefix("interrupt")
    seed_copy(s3, bucket, prefix)
    files = make_run(NEW_RUN)
    files.update(extra_files(30, seed="interrupt"))
    run_dir = write_dir(tmp_path / "run", files)
    before = pointer_state(s3, bucket, prefix)
    run_keys = "%s/runs/%s/" % (prefix, NEW_RUN)

    # The 11th PutObject under the run onwards is refused: the publish stops midway.
    sandbox.control("aws", "faults", {"seed": 3, "rules": [
        {"service": "s3", "operation": "PutObject", "key_prefix": run_keys, "error": "access_denied", "skip_first": 10}]})
    mark = log_mark(sandbox)
    result = run_playbook("publish.yml", base_vars(tmp_path, prefix, "pub-cut", publish_run_dir=run_dir, publish_concurrency=4))
    assert result.rc != 0
    assert "publish status=fail reason=access_denied" in result.stdout
    landed = s3.list_objects_v2(Bucket=bucket, Prefix=run_keys).get("KeyCount", 0)
    assert 10 <= landed < len(files)
    assert pointer_state(s3, bucket, prefix) == before
    assert writes_since(sandbox, mark, bucket, "%s/latest/" % prefix) == []
    assert read_receipt(sandbox, tmp_path, "pub-cut", "publish")["failure_code"] == "access_denied"

    # The fault clears; the rerun uploads only what is missing and then moves the pointers.
    sandbox.clear_faults()
    result = run_playbook("publish.yml", base_vars(tmp_path, prefix, "pub-resume", publish_run_dir=run_dir))
    assert result.rc == 0, result.stdout
    resumed = result.task_results(PUBLISH_TASK)[0]
    assert resumed["outputs"]["skipped_count"] == landed and len(resumed["outputs"]["uploaded"]) == len(files) - landed
    state = pointer_state(s3, bucket, prefix)
    assert state["state/last_success.json"][0] == state["state/openai/cs/last_success.json"][0] == NEW_RUN
    ok_puts = Counter(e["key"] for e in requests_since(sandbox, mark, service="s3", operation="PutObject", key_prefix=run_keys)
                      if e["status"] == 200)
    assert ok_puts == Counter(run_keys + rel for rel in files)  # every object exactly once over both runs


def test_missing_bucket_fails_naming_it_and_writes_nothing(sandbox, clean_faults, run_playbook, tmp_path):
    """(publish disabled is the same path one step earlier; tests/unit/module_utils/test_publish_transfer.py covers it.)"""
    s3 = sandbox.boto3_client("s3")
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    prefix = new_prefix("refuse")
    run_dir = write_dir(tmp_path / "run", make_run(NEW_RUN))
    missing_bucket = "sandbox-missing-%s" % prefix.split("/")[0][-8:]
    mark = log_mark(sandbox)
    missing = run_playbook("publish.yml", base_vars(tmp_path, prefix, "pub-nobucket", publish_run_dir=run_dir,
                                                    jobintel_bucket=missing_bucket))
    assert missing.rc != 0
    assert "publish status=fail reason=bucket_not_found" in missing.stdout and missing_bucket in missing.stdout
    # One HeadBucket, nothing else, to either bucket.
    touched = [e for e in requests_since(sandbox, mark, service="s3") if e["bucket"] in (bucket, missing_bucket)]
    assert [(e["operation"], e["bucket"]) for e in touched] == [("HeadBucket", missing_bucket)]
    assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix.split("/")[0]).get("KeyCount") == 0
    receipt = read_receipt(sandbox, tmp_path, "pub-nobucket", "publish")
    assert receipt["status"] == "failed" and receipt["failure_code"] == "bucket_not_found"


def test_a_held_pointer_is_a_warning_naming_the_run_it_still_names(sandbox, clean_faults, run_playbook, tmp_path):
    """issue 14: a publish whose pointers were held says so (status=warn reason=pointer_held), not ok;
    and a manual run id is ordered by its run_summary, not as a string."""
    s3 = sandbox.boto3_client("s3")
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    prefix = new_prefix("held")
    seed_copy(s3, bucket, prefix)
    # manual-1 started after the seeded run: it moves both pointers although "manual-1" sorts after any timestamp.
    manual = write_dir(tmp_path / "manual", make_run("manual-1", started_at="2026-01-20T06:00:00Z"))
    result = run_playbook("publish.yml", base_vars(tmp_path, prefix, "pub-manual", publish_run_dir=manual))
    assert result.rc == 0, result.stdout
    assert pointer_run_ids(s3, bucket, prefix) == ["manual-1", "manual-1"]
    # The next daily run moves them on (string order would have held them on manual-1 forever).
    daily = write_dir(tmp_path / "daily", make_run(NEW_RUN))
    result = run_playbook("publish.yml", base_vars(tmp_path, prefix, "pub-daily", publish_run_dir=daily))
    assert result.rc == 0, result.stdout
    assert result.task_results(PUBLISH_TASK)[0]["token_line"].startswith("publish status=ok run_id=%s" % NEW_RUN)
    assert pointer_run_ids(s3, bucket, prefix) == [NEW_RUN, NEW_RUN]
    # A run that started before the one the pointers name: objects published, pointers held, a warning.
    before = pointer_state(s3, bucket, prefix)
    late = write_dir(tmp_path / "late", make_run("manual-2", started_at="2026-01-25T06:00:00Z"))
    result = run_playbook("publish.yml", base_vars(tmp_path, prefix, "pub-late", publish_run_dir=late))
    assert result.rc == 0, result.stdout
    held = result.task_results(PUBLISH_TASK)[0]
    assert held["status"] == "warn" and held["reason"] == "pointer_held"
    assert held["token_line"].startswith("publish status=warn reason=pointer_held run_id=manual-2 ")
    assert held["token_line"].endswith("pointers=held pointer_run_id=%s" % NEW_RUN)
    assert pointer_state(s3, bucket, prefix) == before
    assert s3.list_objects_v2(Bucket=bucket, Prefix="%s/runs/manual-2/" % prefix)["KeyCount"] > 0
    receipt = read_receipt(sandbox, tmp_path, "pub-late", "publish")
    assert receipt["status"] == "success" and receipt["outputs"]["pointer_run_id"] == NEW_RUN
    assert "publish status=warn reason=pointer_held" in receipt["message"]


def pointer_run_ids(s3, bucket, prefix):
    """The run each pointer object names, read back from the bucket."""
    return [read_json(s3, bucket, "%s/%s" % (prefix, rel))["run_id"]
            for rel in ("state/openai/cs/last_success.json", "state/last_success.json")]


def test_objects_stored_without_a_sha256_are_compared_by_their_md5_etag(sandbox, clean_faults, run_playbook, tmp_path):
    """Issue 14 item 3: a run put by another tool (no SHA-256 stored, as the sandbox's seed and `aws s3 cp`
    leave it) republished byte for byte is unchanged, not a `run_object_conflict`; one object with
    other bytes of the same size is still a conflict, named, with nothing written."""
    s3 = sandbox.boto3_client("s3")
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    prefix = new_prefix("etag")
    files = make_run(NEW_RUN)
    run_dir = write_dir(tmp_path / "run", files)
    put_files(s3, bucket, "%s/runs/%s" % (prefix, NEW_RUN), files)
    some_key = "%s/runs/%s/%s" % (prefix, NEW_RUN, sorted(files)[0])
    assert "ChecksumSHA256" not in s3.head_object(Bucket=bucket, Key=some_key, ChecksumMode="ENABLED")

    mark = log_mark(sandbox)
    result = run_playbook("publish.yml", base_vars(tmp_path, prefix, "pub-etag", publish_run_dir=run_dir,
                                                   publish_replace_changed=False))
    assert result.rc == 0, result.stdout
    published = result.task_results(PUBLISH_TASK)[0]
    assert published["outputs"]["skipped_count"] == published["outputs"]["skipped_by_etag_count"] == len(files)
    run_writes = [w for w in writes_since(sandbox, mark, bucket, prefix) if "/runs/" in (w["key"] or "")]
    assert run_writes == []
    assert read_json(s3, bucket, "%s/state/last_success.json" % prefix)["run_id"] == NEW_RUN

    # Same size, other bytes, under another run id: refused as a conflict before any write.
    other = "20260202T060000Z"
    changed = make_run(other)
    put_files(s3, bucket, "%s/runs/%s" % (prefix, other), changed)
    victim = sorted(rel for rel in changed if rel.endswith(".md"))[0]
    tampered = bytes(reversed(changed[victim]))
    assert tampered != changed[victim]
    changed[victim] = tampered
    run_dir = write_dir(tmp_path / "run2", changed)
    mark = log_mark(sandbox)
    result = run_playbook("publish.yml", base_vars(tmp_path, prefix, "pub-etag-conflict", publish_run_dir=run_dir,
                                                   publish_replace_changed=False))
    assert result.rc != 0
    assert "reason=run_object_conflict" in result.stdout and victim in result.stdout
    assert "publish_replace_changed" in result.stdout
    assert writes_since(sandbox, mark, bucket, prefix) == []
