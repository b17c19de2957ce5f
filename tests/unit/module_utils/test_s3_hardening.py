"""s3_hardening: normalisation, planning and guards (pure), and plan/apply/read-back against the sandbox's S3."""

import uuid

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import hardening as h
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError

RULES = [
    {"id": "tiering", "prefix": "rec/", "transitions": [{"days": 7, "storage_class": "GLACIER_IR"}, {"days": 30, "storage_class": "DEEP_ARCHIVE"}],
     "noncurrent_version_expiration_days": 30},
    {"id": "abort-multipart", "abort_incomplete_multipart_upload_days": 7},
]


def test_api_forms_of_one_lifecycle_normalise_to_one_document():
    ours = h.desired_documents({"lifecycle_rules": RULES})["lifecycle"]
    # What the API may hand back: other rule order, legacy top-level Prefix, Filter {"Prefix": ""}, And with one prefix.
    api = {"Rules": [
        {"ID": "abort-multipart", "Status": "Enabled", "Filter": {"Prefix": ""}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
        {"ID": "tiering", "Status": "Enabled", "Prefix": "rec/", "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
         "Transitions": [{"Days": 30, "StorageClass": "DEEP_ARCHIVE"}, {"Days": 7, "StorageClass": "GLACIER_IR"}]},
    ]}
    assert h.normalise_lifecycle(api) == h.normalise_lifecycle(ours)
    api["Rules"][1] = dict(api["Rules"][1], Filter={"And": {"Prefix": "rec/"}})
    del api["Rules"][1]["Prefix"]
    assert h.normalise_lifecycle(api) == h.normalise_lifecycle(ours)
    assert h.normalise_replication({"Role": "r", "Rules": [{"ID": "x", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
                                                            "Destination": {"Bucket": "arn:aws:s3:::b", "StorageClass": "STANDARD"}}]}) == \
        h.normalise_replication({"Role": "r", "Rules": [{"ID": "x", "Priority": 1, "Status": "Enabled", "Filter": {},
                                                         "DeleteMarkerReplication": {"Status": "Disabled"},
                                                         "Destination": {"Bucket": "arn:aws:s3:::b"}}]})


def test_plan_lists_only_managed_settings_and_respects_purge():
    current = {"versioning": {}, "public_access_block": None, "encryption": None, "replication": None,
               "lifecycle": {"Rules": [{"ID": "legacy", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 9}}]}}
    desired = h.desired_documents({"versioning": "enabled", "lifecycle_rules": RULES})
    planned = h.plan(current, desired)
    assert [c["setting"] for c in planned["changes"]] == ["versioning", "lifecycle"]
    assert planned["changes"][0]["summary"] == "versioning: Disabled -> Enabled"
    assert planned["changes"][1]["summary"] == "lifecycle: +abort-multipart, +tiering, -legacy"
    kept = h.plan(current, desired, purge_lifecycle_rules=False)["changes"][1]["after"]
    assert sorted(r["ID"] for r in kept["Rules"]) == ["abort-multipart", "legacy", "tiering"]
    # Never-versioned is already "not keeping versions": suspending it is not a change.
    assert h.plan({"versioning": {}}, h.desired_documents({"versioning": "suspended"}))["changes"] == []


@pytest.mark.parametrize("rule, token_part", [
    ({"id": "a", "transitions": [{"days": 7, "storage_class": "STANDARD_IA"}]}, "only after 30 days"),
    ({"id": "a", "transitions": [{"days": 30, "storage_class": "DEEP_ARCHIVE"}, {"days": 7, "storage_class": "GLACIER_IR"}]}, "increasing"),
    ({"id": "a"}, "has no action"),
    ({"id": "a", "transitions": [{"days": 30, "storage_class": "GLACIER"}], "expiration_days": 30}, "after the last transition"),
    # Noncurrent versions obey the same S3 constraints (S3 answers InvalidArgument otherwise).
    ({"id": "a", "noncurrent_version_transitions": [{"days": 7, "storage_class": "STANDARD_IA"}]}, "only after 30 noncurrent days"),
    ({"id": "a", "noncurrent_version_transitions": [{"days": 30, "storage_class": "STANDARD_IA"},
                                                    {"days": 45, "storage_class": "GLACIER"}]}, "day 60 or later"),
    ({"id": "a", "noncurrent_version_transitions": [{"days": 30, "storage_class": "GLACIER"}],
      "noncurrent_version_expiration_days": 30}, "after the last noncurrent version transition"),
    ({"id": "a", "abort_incomplete_multipart_upload_days": 7, "noncurrent_versions_to_keep": 3}, "needs noncurrent_version_expiration_days"),
    ({"id": "a", "expiration_days": -1}, "positive number of days"),
])
def test_invalid_rules_fail_before_any_call(rule, token_part):
    with pytest.raises(GuardError) as info:
        h.desired_documents({"lifecycle_rules": [rule]})
    assert info.value.reason == "lifecycle_rule_invalid" and token_part in info.value.message


def test_a_kms_key_with_sse_s3_fails_before_any_call():
    with pytest.raises(GuardError) as info:
        h.desired_documents({"versioning": "enabled", "encryption": {"sse_algorithm": "AES256", "kms_key_id": "alias/backup"}})
    assert info.value.reason == "encryption_invalid" and "kms_key_id" in info.value.message
    kms = h.desired_documents({"encryption": {"sse_algorithm": "aws:kms", "kms_key_id": "alias/backup", "bucket_key_enabled": True}})
    assert kms["encryption"]["Rules"][0] == {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/backup"},
                                             "BucketKeyEnabled": True}


def test_replication_destination_is_an_arn_whether_given_as_name_or_arn():
    base = {"role_arn": "arn:aws:iam::123456789012:role/replication", "prefix": "", "priority": 1}
    by_name = h.desired_documents({"replication": dict(base, destination_bucket="backup-b")})["replication"]
    by_arn = h.desired_documents({"replication": dict(base, destination_bucket="arn:aws-cn:s3:::backup-b")})["replication"]
    assert by_name["Rules"][0]["Destination"] == {"Bucket": "arn:aws:s3:::backup-b"}
    assert by_arn["Rules"][0]["Destination"] == {"Bucket": "arn:aws-cn:s3:::backup-b"}


def _bucket(s3, versioned=False):
    name = "test-harden-%s" % uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def test_plan_apply_readback_and_empty_second_plan(sandbox):
    s3 = sandbox.boto3_client("s3")
    bucket, backup = _bucket(s3), _bucket(s3)
    params = {"versioning": "enabled", "public_access_block": {}, "encryption": {"sse_algorithm": "AES256"}, "lifecycle_rules": RULES,
              "replication": {"role_arn": "arn:aws:iam::111122223333:role/replication", "destination_bucket": backup}}
    # Destination not versioned: a plan warns, an apply is refused before any write.
    assert "replication_destination_unversioned" in h.harden(s3, bucket, params)["warnings"][0]
    with pytest.raises(GuardError) as info:
        h.harden(s3, bucket, params, apply=True)
    assert info.value.reason == "replication_destination_unversioned" and backup in info.value.message
    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") is None
    s3.put_bucket_versioning(Bucket=backup, VersioningConfiguration={"Status": "Enabled"})

    planned = h.harden(s3, bucket, params)
    assert planned["applied"] == [] and len(planned["plan"]) == 5
    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") is None  # a plan writes nothing
    applied = h.harden(s3, bucket, params, apply=True)
    assert applied["applied"] == ["versioning", "public_access_block", "encryption", "lifecycle", "replication"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules["tiering"]["Transitions"][1] == {"Days": 30, "StorageClass": "DEEP_ARCHIVE"}
    assert s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]["Rules"][0]["Destination"]["Bucket"].endswith(backup)
    assert applied["controls"]["versioning"] == {"Status": "Enabled"}
    again = h.harden(s3, bucket, params, apply=True)
    assert again["plan"] == [] and again["applied"] == []


def test_missing_bucket_is_a_guard_error(sandbox):
    with pytest.raises(GuardError) as info:
        h.harden(sandbox.boto3_client("s3"), "no-such-bucket-%s" % uuid.uuid4().hex[:8], {"versioning": "enabled"})
    assert info.value.reason == "bucket_not_found"


def test_a_destination_that_denies_get_bucket_versioning_is_a_warning_not_a_failure(sandbox, clean_faults):
    # Cross-account backup buckets usually deny the source account's GetBucketVersioning.
    s3 = sandbox.boto3_client("s3")
    bucket, backup = _bucket(s3), _bucket(s3, versioned=True)
    params = {"versioning": "enabled", "replication": {"role_arn": "arn:aws:iam::111122223333:role/replication", "destination_bucket": backup}}
    sandbox.control("aws", "faults", {"seed": 1, "rules": [{"service": "s3", "operation": "GetBucketVersioning", "error": "access_denied",
                                                            "skip_first": 1, "count": 1}]})
    applied = h.harden(s3, bucket, params, apply=True)
    assert sandbox.control("aws", "faults")["injected"]  # the destination's versioning really was denied
    assert applied["applied"] == ["versioning", "replication"]
    assert [w.split(":")[0] for w in applied["warnings"]] == ["replication_destination_unverified"] and backup in applied["warnings"][0]
    rules = s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]["Rules"]
    assert [r["Destination"]["Bucket"] for r in rules] == ["arn:aws:s3:::%s" % backup]


def test_the_sandbox_like_s3_rejects_ia_transitions_before_day_30(sandbox):
    # The premise of validate_lifecycle_rules, held by the sandbox as by real S3 (InvalidArgument).
    s3 = sandbox.boto3_client("s3")
    bucket = _bucket(s3, versioned=True)
    for action, days_field in (("Transitions", "Days"), ("NoncurrentVersionTransitions", "NoncurrentDays")):
        rule = {"ID": "ia", "Status": "Enabled", "Filter": {}, action: [{days_field: 7, "StorageClass": "STANDARD_IA"}]}
        with pytest.raises(s3.exceptions.ClientError) as info:
            s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
        assert info.value.response["Error"]["Code"] == "InvalidArgument"
    rule = {"ID": "ia", "Status": "Enabled", "Filter": {}, "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}]}
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["Transitions"] == [{"Days": 30, "StorageClass": "STANDARD_IA"}]


def test_a_failed_write_reports_the_settings_already_written(sandbox, clean_faults):
    s3 = sandbox.boto3_client("s3")
    bucket = _bucket(s3)
    sandbox.control("aws", "faults", {"seed": 1, "rules": [{"service": "s3", "operation": "PutBucketLifecycleConfiguration",
                                                            "error": "access_denied"}]})
    with pytest.raises(Exception) as info:
        h.harden(s3, bucket, {"versioning": "enabled", "public_access_block": {}, "lifecycle_rules": RULES}, apply=True)
    assert info.value.applied == ["versioning", "public_access_block"]
    sandbox.clear_faults()
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"  # read back: written before the failure
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())


def test_inventory_entries_resolved_and_refused_before_any_request():
    profiles = {"backup": [{"id": "noncurrent", "noncurrent_version_expiration_days": 90}]}
    entries = h.resolve_entries([{"bucket": "b1", "lifecycle_profile": "backup"}, {"bucket": "b2", "encryption": {"sse_algorithm": "aws:kms"}}],
                                profiles, default_public_access_block={}, default_encryption={"sse_algorithm": "AES256"})
    assert entries[0]["lifecycle_rules"] == profiles["backup"] and entries[0]["public_access_block"] == {}
    assert entries[0]["encryption"] == {"sse_algorithm": "AES256"} and entries[1]["encryption"] == {"sse_algorithm": "aws:kms"}
    for bucket_list, reason, part in (
            ([], "bucket_unset", "storage_hardening_buckets"),
            ([{"bucket": ""}], "bucket_unset", "storage_hardening_buckets[0]"),
            ([{"bucket": "ok"}, {"bucket": "REPLACE_WITH_PROD_BUCKET"}], "inventory_placeholder", "storage_hardening_buckets[1]"),
            ([{"bucket": "b", "replication": {"role_arn": "REPLACE_WITH_ROLE", "destination_bucket": "d"}}], "inventory_placeholder", "role_arn"),
            ([{"bucket": "b", "lifecycle_profile": "nope"}], "lifecycle_rule_invalid", "storage_lifecycle_profiles")):
        with pytest.raises(GuardError) as info:
            h.resolve_entries(bucket_list, profiles)
        assert info.value.reason == reason and part in info.value.message
