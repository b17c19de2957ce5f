"""S3 part of the seed: buckets, the baseline backup and one published run with its pointers.

Every write is skipped when the object already holds the same bytes, so a second seed run adds no
object versions (the artifact bucket is versioned and pointers rely on its history).
"""

import hashlib

from botocore.exceptions import ClientError

from plugins.module_utils.services.pointers import write_pointer
from tests.sandbox.aws_layer import jobintel

from . import archives

BACKUP_ID = "20260101T000000Z"
BACKUP_CREATED_AT = "2026-01-01T00:00:00Z"
PUBLISHED_RUN_ID = "20260101T060000Z"
RUN_STARTED_AT = "2026-01-01T06:00:00Z"
RUN_FINISHED_AT = "2026-01-01T06:04:12Z"
PUBLISHED_AT = "2026-01-01T06:05:00Z"
RUN_GIT_SHA = "5eed000000000000000000000000000000000001"
RUN_TASK_ID = "5eed0000000000000000000000000001"
PROVIDER, PROFILE = "openai", "cs"

# Buckets that get the baseline hardening. The other three stay as created on purpose: later
# work (the collection's hardening role) is what hardens them.
HARDENED_ROLES = ("artifact", "backup", "receipt")
_BUCKET_STEMS = {
    "artifact": "artifacts", "backup": "backup", "receipt": "receipts",
    "temporary_uploads": "temporary-uploads", "recordings": "recordings", "exports": "exports",
}
BUCKET_ROLES = tuple(_BUCKET_STEMS)


def bucket_names(account_id):
    """Role -> bucket name ``sandbox-<stem>-<account>``."""
    return {role: "sandbox-%s-%s" % (stem, account_id) for role, stem in _BUCKET_STEMS.items()}


def _error_code(exc):
    return exc.response.get("Error", {}).get("Code", "")


def ensure_bucket(s3, name, region):
    """Create the bucket unless it exists."""
    try:
        s3.head_bucket(Bucket=name)
        return
    except ClientError as exc:
        if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs = {"Bucket": name}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)


_PUBLIC_ACCESS_BLOCK = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}


def read_or_none(call, missing_codes, **kwargs):
    """``call(**kwargs)``, or None when S3 answers that the thing is not configured/present."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if _error_code(exc) in missing_codes:
            return None
        raise


def _sse_algorithms(s3, name):
    current = read_or_none(s3.get_bucket_encryption, ("ServerSideEncryptionConfigurationNotFoundError",), Bucket=name)
    rules = (current or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    return [rule.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for rule in rules]


def harden_bucket(s3, name):
    """Versioning, Block Public Access and SSE-S3 default encryption; reads first so a re-run writes nothing."""
    if s3.get_bucket_versioning(Bucket=name).get("Status") != "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    current = read_or_none(s3.get_public_access_block, ("NoSuchPublicAccessBlockConfiguration",), Bucket=name)
    if (current or {}).get("PublicAccessBlockConfiguration") != _PUBLIC_ACCESS_BLOCK:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=_PUBLIC_ACCESS_BLOCK)
    if _sse_algorithms(s3, name) != ["AES256"]:
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})


def ensure_buckets(s3, account_id, region):
    """All six buckets; returns role -> name."""
    names = bucket_names(account_id)
    for role in BUCKET_ROLES:
        ensure_bucket(s3, names[role], region)
        if role in HARDENED_ROLES:
            harden_bucket(s3, names[role])
    return names


def put_if_changed(s3, bucket, key, data, content_type="application/octet-stream"):
    """PutObject unless the current object has the same MD5 ETag; returns True if written."""
    try:
        current = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    except ClientError as exc:
        if _error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
            raise
        current = None
    if current == hashlib.md5(data).hexdigest():  # nosec - S3's ETag for single-part objects is an MD5
        return False
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
    return True


def _content_type(key):
    for suffix, kind in ((".json", "application/json"), (".csv", "text/csv"), (".md", "text/markdown"),
                         (".zst", "application/zstd")):
        if key.endswith(suffix):
            return kind
    return "application/octet-stream"


def put_files(s3, bucket, base, files):
    """Write ``{relative path: bytes}`` under ``base``; returns the keys."""
    keys = []
    for relative, data in sorted(files.items()):
        key = jobintel.join_key(base, relative)
        put_if_changed(s3, bucket, key, data, _content_type(key))
        keys.append(key)
    return keys


def backup_archives(values):
    """``{"state.tar.zst": bytes, "manifests.tar.zst": bytes}`` from the fixtures."""
    manifests = {"manifests/" + name: archives.render_template(data, values)
                 for name, data in archives.fixture_tree("k8s").items()}
    state = {"state/" + name: data for name, data in archives.fixture_tree("state").items()}
    return {"state.tar.zst": archives.tar_zst(state), "manifests.tar.zst": archives.tar_zst(manifests)}


def seed_backup(s3, bucket, prefix, values, image_digest):
    """The baseline backup of namespace ``jobintel``; returns its ``s3://`` URI."""
    base = jobintel.join_key(prefix, "backups", BACKUP_ID)
    blobs = backup_archives(values)
    metadata = {
        "schema_version": "backup_metadata.v1", "backup_id": BACKUP_ID, "created_at": BACKUP_CREATED_AT,
        "source_cluster": "primary", "namespace": "jobintel",
        "objects": {name: archives.describe(data) for name, data in blobs.items()},
        "image_ref_digest": image_digest,
    }
    blobs["metadata.json"] = jobintel.dump_json(metadata)
    put_files(s3, bucket, base, blobs)
    return "s3://%s/%s/" % (bucket, base)


def published_run_spec(region, account_id, image_ref):
    """The one finished, successful run the seed publishes."""
    return jobintel.RunSpec(
        run_id=PUBLISHED_RUN_ID, started_at=RUN_STARTED_AT, finished_at=RUN_FINISHED_AT, providers=(PROVIDER,),
        profiles=(PROFILE,), git_sha=RUN_GIT_SHA, image=image_ref,
        ecs_task_arn="arn:aws:ecs:%s:%s:task/jobintel/%s" % (region, account_id, RUN_TASK_ID))


def _pointer(spec, target, object_count, image_digest, provider=None, profile=None):
    return {
        "schema_version": "pointer.v1", "run_id": spec.run_id, "provider": provider, "profile": profile, "target": target,
        "published_at": PUBLISHED_AT, "object_count": object_count,
        "provenance": {"git_sha": spec.git_sha, "image_digest": image_digest, "ecs_task_arn": spec.ecs_task_arn},
    }


def seed_published_run(s3, bucket, prefix, spec, image_digest):
    """Run objects under ``runs/<run_id>/``, the ``latest/`` copy, then both pointers (last)."""
    run_base = jobintel.join_key(prefix, "runs", spec.run_id)
    files = jobintel.run_files(spec)
    put_files(s3, bucket, run_base, files)
    profile_dir = "%s/%s/" % (PROVIDER, PROFILE)
    profile_files = {path[len(profile_dir):]: data for path, data in files.items() if path.startswith(profile_dir)}
    put_files(s3, bucket, jobintel.join_key(prefix, "latest", PROVIDER, PROFILE), profile_files)
    # Pointers move last, through the collection's own CAS library: readers never see a pointer
    # to objects that are not there yet.
    profile_target = "s3://%s/%s/%s" % (bucket, run_base, profile_dir)
    write_pointer(s3, bucket, jobintel.join_key(prefix, "state", PROVIDER, PROFILE, "last_success.json"),
                  _pointer(spec, profile_target, len(profile_files), image_digest, PROVIDER, PROFILE))
    write_pointer(s3, bucket, jobintel.join_key(prefix, "state", "last_success.json"),
                  _pointer(spec, "s3://%s/%s/" % (bucket, run_base), len(files), image_digest))
    return spec.run_id


# Runs an ECS task left in the outbox and nobody published yet (what docs/publish.md publishes and
# docs/runs.md shows): a healthy one and one that failed at scrape, both newer than the published run.
OUTBOX_RUN_ID = "20260201T060000Z"
FAILED_OUTBOX_RUN_ID = "20260131T060000Z"
OUTBOX_TASK_IDS = {OUTBOX_RUN_ID: "5eed0000000000000000000000000002", FAILED_OUTBOX_RUN_ID: "5eed0000000000000000000000000003"}


def outbox_run_specs(region, account_id, image_ref):
    """The two outbox runs: ``20260201T060000Z`` (healthy) and ``20260131T060000Z`` (failed at scrape)."""
    def task_arn(run_id):
        return "arn:aws:ecs:%s:%s:task/jobintel/%s" % (region, account_id, OUTBOX_TASK_IDS[run_id])

    return (
        jobintel.RunSpec(run_id=OUTBOX_RUN_ID, started_at="2026-02-01T06:00:00Z", finished_at="2026-02-01T06:03:51Z",
                         providers=(PROVIDER,), profiles=(PROFILE,), git_sha="5eed000000000000000000000000000000000002",
                         image=image_ref, ecs_task_arn=task_arn(OUTBOX_RUN_ID)),
        jobintel.RunSpec(run_id=FAILED_OUTBOX_RUN_ID, started_at="2026-01-31T06:00:00Z", finished_at="2026-01-31T06:00:40Z",
                         providers=(PROVIDER,), disabled_providers=("anthropic",), profiles=(PROFILE,), failed_stage="scrape",
                         git_sha="5eed000000000000000000000000000000000003", image=image_ref,
                         ecs_task_arn=task_arn(FAILED_OUTBOX_RUN_ID)),
    )


def seed_outbox_run(s3, bucket, prefix, spec):
    """The run's files under ``<prefix>/outbox/<run_id>/``; returns the run id."""
    put_files(s3, bucket, jobintel.join_key(prefix, "outbox", spec.run_id), jobintel.run_files(spec))
    return spec.run_id


# Recordings the storage examples (docs/storage.md) name. The rows live in PostgreSQL, which starts
# after the AWS seed: the launcher inserts them from this list (tests/sandbox/seed/recordings.py).
# (id, object_key, archive_key, storage class of the archive copy, object present, state)
RECORDINGS = (
    (4711, "rec/exam-4711.webm", "archive/rec/exam-4711.webm", "DEEP_ARCHIVE", False, "archived"),
    (4712, "rec/exam-1.webm", "archive/rec/exam-1.webm", "GLACIER", False, "archived"),
    (4713, "rec/exam-expired.webm", None, None, True, "expired"),
    (4714, "rec/exam-held.webm", None, None, True, "expired_held"),
    (4715, "rec/exam-current.webm", None, None, True, "current"),
)
RECORDING_BODY = b"sandbox recording (not a real video)\n"


def seed_recording_objects(s3, bucket):
    """The recordings' objects (archive copies in their archive storage class); returns the rows to insert."""
    rows = []
    for rec_id, key, archive_key, archive_class, present, state in RECORDINGS:
        if present:
            put_if_changed(s3, bucket, key, RECORDING_BODY, "video/webm")
        if archive_key:
            current = read_or_none(s3.head_object, ("404", "NoSuchKey", "NotFound"), Bucket=bucket, Key=archive_key)
            if current is None or current.get("StorageClass") != archive_class:
                s3.put_object(Bucket=bucket, Key=archive_key, Body=RECORDING_BODY, ContentType="video/webm",
                              StorageClass=archive_class)
        rows.append({"id": rec_id, "bucket": bucket, "object_key": key, "archive_key": archive_key,
                     "size_bytes": len(RECORDING_BODY), "state": state})
    return rows
