"""backup.py against the sandbox's S3: the contract, checksums, manifests and the state archive.

Each test copies the seeded backup under its own prefix first; the seeded objects are never changed.
"""

import io
import json
import tarfile
import uuid

import pytest
import zstandard

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import backup
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError


@pytest.fixture
def s3(sandbox):
    return sandbox.boto3_client("s3")


@pytest.fixture
def backup_copy(sandbox, s3):
    """``(bucket, prefix, uri)`` of a private copy of the seeded backup."""
    bucket, source = backup.parse_s3_uri(sandbox["SANDBOX_BACKUP_URI"])
    prefix = "test-backup/%s" % uuid.uuid4().hex[:12]
    for name in backup.CONTRACT_OBJECTS:
        s3.copy_object(Bucket=bucket, Key="%s/%s" % (prefix, name), CopySource={"Bucket": bucket, "Key": "%s/%s" % (source, name)})
    return bucket, prefix, "s3://%s/%s" % (bucket, prefix)


def test_the_seeded_backup_meets_the_contract_with_verified_checksums(sandbox, s3, backup_copy):
    loaded = backup.load_backup(s3, backup_copy[2], fetch=(backup.STATE_ARCHIVE, backup.MANIFESTS_ARCHIVE))
    contract = loaded["contract"]
    assert contract["metadata"]["schema_version"] == "backup_metadata.v1"
    assert contract["checksums_listed"] == [backup.MANIFESTS_ARCHIVE, backup.STATE_ARCHIVE]
    for name in (backup.STATE_ARCHIVE, backup.MANIFESTS_ARCHIVE):
        assert contract["objects"][name]["verified"] is True
        stored = s3.get_object(Bucket=backup_copy[0], Key="%s/%s" % (backup_copy[1], name))["Body"].read()
        assert loaded["blobs"][name] == stored
    manifests = backup.manifests_from_archive(loaded["blobs"][backup.MANIFESTS_ARCHIVE])
    kinds = [(d["manifest"]["kind"], d["manifest"]["metadata"]["name"]) for d in manifests]
    assert kinds == [("ServiceAccount", "jobintel"), ("ConfigMap", "jobintel-config"), ("CronJob", "jobintel-daily"),
                     ("Deployment", "jobintel-dashboard")]
    state = backup.state_files(loaded["blobs"][backup.STATE_ARCHIVE])
    assert sorted(state) == ["state/candidates/local.json", "state/last_run.json"]


@pytest.mark.parametrize("damage, reason", [
    (lambda s3, b, p: s3.delete_object(Bucket=b, Key=p + "/state.tar.zst"), "backup_object_missing"),
    (lambda s3, b, p: s3.delete_object(Bucket=b, Key=p + "/metadata.json"), "backup_object_missing"),
    (lambda s3, b, p: s3.put_object(Bucket=b, Key=p + "/manifests.tar.zst", Body=b""), "backup_object_empty"),
    (lambda s3, b, p: s3.put_object(Bucket=b, Key=p + "/metadata.json", Body=b"{not json"), "backup_metadata_invalid"),
    (lambda s3, b, p: s3.put_object(Bucket=b, Key=p + "/metadata.json", Body=b"[1, 2]"), "backup_metadata_invalid"),
])
def test_incomplete_backups_are_refused_with_a_reason(s3, backup_copy, damage, reason):
    bucket, prefix, uri = backup_copy
    damage(s3, bucket, prefix)
    with pytest.raises(GuardError) as refused:
        backup.load_backup(s3, uri)
    assert refused.value.reason == reason
    assert "s3://%s/%s/" % (bucket, prefix) in refused.value.message


def test_a_changed_archive_fails_the_checksum_even_when_its_size_is_unchanged(s3, backup_copy):
    bucket, prefix, uri = backup_copy
    key = prefix + "/state.tar.zst"
    data = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[-1] ^= 0xFF
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    with pytest.raises(GuardError) as refused:
        backup.load_backup(s3, uri)
    assert refused.value.reason == "backup_checksum_mismatch" and "state.tar.zst" in refused.value.message
    # Without checksum verification only existence and size are checked.
    assert backup.load_backup(s3, uri, verify_checksums=False)["contract"]["objects"]["state.tar.zst"]["verified"] is False


def test_missing_checksums_pass_unless_required(s3, backup_copy):
    bucket, prefix, uri = backup_copy
    s3.put_object(Bucket=bucket, Key=prefix + "/metadata.json", Body=json.dumps({"backup_id": "x"}).encode())
    assert backup.load_backup(s3, uri)["contract"]["checksums_listed"] == []
    with pytest.raises(GuardError) as refused:
        backup.load_backup(s3, uri, require_checksums=True)
    assert refused.value.reason == "backup_checksum_missing"


def _tar_zst(entries):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return zstandard.ZstdCompressor().compress(raw.getvalue())


def _file(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_state_archives_with_escaping_or_special_members_are_refused():
    link = tarfile.TarInfo("state/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
    device = tarfile.TarInfo("state/dev")
    device.type = tarfile.BLKTYPE
    for entries, reason in (([_file("../outside", b"x")], "unsafe_path"), ([_file("/abs", b"x")], "unsafe_path"),
                            ([_file("state/ok", b"1"), (link, None)], "unsafe_archive_member"),
                            ([(device, None)], "unsafe_archive_member")):
        with pytest.raises(GuardError) as refused:
            backup.state_files(_tar_zst(entries))
        assert refused.value.reason == reason
    with pytest.raises(GuardError) as corrupt:
        backup.state_files(b"not zstd at all")
    assert corrupt.value.reason == "archive_corrupt"


def test_prepared_manifests_target_the_namespace_and_are_always_suspended_and_marked():
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c", "namespace": "jobintel", "uid": "u",
                                                                         "resourceVersion": "7"},
               "spec": {"suspend": False, "schedule": "@daily"}, "status": {"active": []}}
    prepared = backup.prepare_manifest(cronjob, "dr-test")
    # Restore leaves it suspended, and says so: promote resumes exactly the CronJobs carrying this mark.
    assert prepared["metadata"] == {"name": "c", "namespace": "dr-test", "annotations": {"signalcraft.io/suspended-by": "dr-restore"}}
    assert prepared["spec"]["suspend"] is True and "status" not in prepared
    assert cronjob["spec"]["suspend"] is False and "annotations" not in cronjob["metadata"]  # the input is not modified
    # A backup's own suspend: true (its DR convention) is restored the same way: suspended and marked.
    paused = dict(cronjob, spec={"suspend": True, "schedule": "@daily"})
    assert backup.prepare_manifest(paused, "dr-test")["metadata"]["annotations"] == {"signalcraft.io/suspended-by": "dr-restore"}


def test_manifests_without_kind_or_name_are_refused():
    with pytest.raises(GuardError) as refused:
        backup.manifests_from_archive(_tar_zst([_file("manifests/x.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")]))
    assert refused.value.reason == "backup_manifest_invalid"


def test_s3_uris_are_parsed_strictly():
    assert backup.parse_s3_uri("s3://bucket-1/a/b/") == ("bucket-1", "a/b")
    for bad in ("https://bucket/a", "s3://bucket/a/../b", "s3://B/a"):
        with pytest.raises(GuardError):
            backup.parse_s3_uri(bad)


def test_a_backed_up_job_loses_its_generated_selector_and_owned_objects_are_skipped():
    labels = {"batch.kubernetes.io/controller-uid": "old-uid", "controller-uid": "old-uid", "batch.kubernetes.io/job-name": "j",
              "app": "jobintel"}
    template = {"metadata": {"labels": labels}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "uid": "old-uid"},
           "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "old-uid"}}, "template": template}}
    prepared = backup.prepare_manifest(job, "dr-test")
    assert "selector" not in prepared["spec"]
    assert prepared["spec"]["template"]["metadata"]["labels"] == {"batch.kubernetes.io/job-name": "j", "app": "jobintel"}
    manual = dict(job, spec=dict(job["spec"], manualSelector=True))
    assert backup.prepare_manifest(manual, "dr-test")["spec"]["selector"] == job["spec"]["selector"]  # the operator's choice stays
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j-abc", "ownerReferences": [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "old-uid", "controller": True}]}}
    assert backup.controller_owned(pod) and not backup.controller_owned(job)
    assert not backup.controller_owned({"metadata": {"ownerReferences": [{"kind": "ConfigMap", "name": "x"}]}})


def test_a_placeholder_backup_uri_is_an_inventory_placeholder():
    with pytest.raises(GuardError) as refused:
        backup.parse_s3_uri("s3://REPLACE_WITH_DEV_BACKUP_BUCKET/jobintel/backups/REPLACE_WITH_BACKUP_ID", "dr_bundle_backup_uri")
    assert refused.value.reason == "inventory_placeholder" and "dr_bundle_backup_uri" in refused.value.message
