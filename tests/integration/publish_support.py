"""Helpers shared by the publish, verify_ops and provenance tests.

Every test works under its own prefix: the seeded run is copied there (runs/, latest/ and both
pointers, with targets rewritten to the copy), so the seeded ``jobintel/state`` pointers other tests
read are never moved.
"""

import base64
import datetime
import hashlib
import json
import os
import re
import uuid

from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from tests.sandbox.aws_layer import jobintel

SEEDED_PREFIX = "jobintel"
SEEDED_RUN = "20260101T060000Z"
WRITE_OPERATIONS = ("PutObject", "CopyObject", "DeleteObject", "DeleteObjects", "CreateMultipartUpload", "UploadPart",
                    "CompleteMultipartUpload")
PUBLISH_TASK = "Upload the run, verify every checksum, then move latest/ and the pointers"


def new_prefix(tag):
    return "t-%s-%s/jobintel" % (tag, uuid.uuid4().hex[:8])


def seed_copy(s3, bucket, prefix):
    """Copy the seeded published run and its pointers under ``prefix``; return the pointer documents."""
    for part in ("runs/%s/" % SEEDED_RUN, "latest/openai/cs/"):
        for item in s3.list_objects_v2(Bucket=bucket, Prefix="%s/%s" % (SEEDED_PREFIX, part)).get("Contents", []):
            rel = item["Key"][len(SEEDED_PREFIX) + 1:]
            s3.copy_object(Bucket=bucket, Key="%s/%s" % (prefix, rel), CopySource={"Bucket": bucket, "Key": item["Key"]})
    documents = {}
    for rel in ("state/openai/cs/last_success.json", "state/last_success.json"):
        document = pointers.read_pointer(s3, bucket, "%s/%s" % (SEEDED_PREFIX, rel))["document"]
        document["target"] = document["target"].replace("/%s/runs/" % SEEDED_PREFIX, "/%s/runs/" % prefix)
        pointers.write_pointer(s3, bucket, "%s/%s" % (prefix, rel), document)
        documents[rel] = document
    return documents


def run_started_at(run_id):
    """The start time a timestamped run id names (``20260201T060000Z`` -> ``2026-02-01T06:00:00Z``)."""
    match = re.match(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z", run_id)
    return "%s-%s-%sT%s:%s:%sZ" % match.groups() if match else "2026-02-01T06:00:00Z"


def make_run(run_id, failed_stage=None, git_sha="feed000000000000000000000000000000000002", image=None, task_arn=None,
             started_at=None, finished_at=None):
    """The files of a run as the container writes them (the sandbox's own document builders).

    A run starts when its id says (else at 2026-02-01T06:00:00Z) and finishes three minutes later;
    ``started_at=""`` and ``finished_at=""`` leave a summary with nothing to order the run by.
    """
    started = run_started_at(run_id) if started_at is None else started_at
    if finished_at is None:
        finished_at = (datetime.datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ") + datetime.timedelta(minutes=3)).strftime(
            "%Y-%m-%dT%H:%M:%SZ") if started else ""
    spec = jobintel.RunSpec(run_id=run_id, started_at=started, finished_at=finished_at,
                            failed_stage=failed_stage, git_sha=git_sha, image=image, ecs_task_arn=task_arn)
    files = jobintel.run_files(spec)
    if not started or not finished_at:
        summary = json.loads(files["run_summary.v1.json"])
        for name, value in (("started_at", started), ("finished_at", finished_at)):
            if not value:
                summary.pop(name, None)
        files["run_summary.v1.json"] = (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode()
    return files


def extra_files(count, seed="x"):
    """``count`` extra artifacts of mixed sizes (0 B .. ~64 KiB) so transfers have real work."""
    files = {}
    for index in range(count):
        size = (index * 7919) % 65536 if index % 5 else index
        files["artifacts/extra/part-%03d.bin" % index] = (hashlib.sha256(("%s%d" % (seed, index)).encode()).digest() * (size // 32 + 1))[:size]
    return files


def write_dir(directory, files):
    for rel, data in files.items():
        path = os.path.join(str(directory), *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
    return str(directory)


def put_files(s3, bucket, key_prefix, files):
    for rel, data in files.items():
        s3.put_object(Bucket=bucket, Key="%s/%s" % (key_prefix, rel), Body=data)


def sha256_b64(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def read_json(s3, bucket, key):
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def pointer_state(s3, bucket, prefix):
    """``{relative key: (run_id, etag)}`` of both pointers (None when absent)."""
    state = {}
    for rel in ("state/openai/cs/last_success.json", "state/last_success.json"):
        current = pointers.read_pointer(s3, bucket, "%s/%s" % (prefix, rel))
        state[rel] = (current["document"]["run_id"], current["etag"]) if current else None
    return state


def log_mark(sandbox):
    """The newest request-log sequence number, to look only at what comes after it."""
    entries = sandbox.control("aws", "requests?limit=1")
    entries = entries.get("requests", entries) if isinstance(entries, dict) else entries
    return entries[-1]["seq"] if entries else 0


def requests_since(sandbox, mark, **filters):
    query = "&".join("%s=%s" % item for item in sorted(filters.items()))
    entries = sandbox.control("aws", "requests" + ("?" + query if query else ""))
    entries = entries.get("requests", entries) if isinstance(entries, dict) else entries
    return [e for e in entries if e["seq"] > mark]


def writes_since(sandbox, mark, bucket, key_prefix):
    """Write requests to ``bucket`` after ``mark`` touching ``key_prefix`` (DeleteObjects counts by bucket)."""
    found = []
    for entry in requests_since(sandbox, mark, service="s3", bucket=bucket):
        if entry["operation"] not in WRITE_OPERATIONS:
            continue
        if entry["operation"] == "DeleteObjects" or (entry.get("key") or "").startswith(key_prefix):
            found.append(entry)
    return found


def base_vars(tmp_path, prefix, execution_id, **extra):
    values = {"jobintel_prefix": prefix, "signalcraft_receipt_root": str(tmp_path / "receipts"),
              "signalcraft_execution_id": execution_id}
    values.update(extra)
    return values


def read_receipt(sandbox, tmp_path, execution_id, phase):
    """The receipt on disk, and the same document from the receipt bucket."""
    with open(os.path.join(str(tmp_path / "receipts"), execution_id, "%s.json" % phase)) as handle:
        on_disk = json.load(handle)
    in_s3 = read_json(sandbox.boto3_client("s3"), sandbox["SANDBOX_RECEIPT_BUCKET"], "receipts/%s/%s.json" % (execution_id, phase))
    assert in_s3 == on_disk
    return on_disk
