"""services/s3's shared helpers against botocore's Stubber (no sandbox): listing, existence, batched
deletes with one already-gone set, keys/URIs and bucket checks."""

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_helpers

BUCKET = "artifacts"


@pytest.fixture
def s3():
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


def test_join_parse_and_format():
    assert s3_helpers.join_key("a/", "", None, "/b/", "c") == "a/b/c"
    assert s3_helpers.join_key("", "") == ""
    assert s3_helpers.format_uri("b", "k/x.json") == "s3://b/k/x.json"
    assert s3_helpers.parse_uri("s3://b/k/x.json") == ("b", "k/x.json")
    assert s3_helpers.parse_uri("s3://b") == ("b", "")
    for bad in ("http://b/k", "s3:///k", "", None):
        with pytest.raises(ValueError):
            s3_helpers.parse_uri(bad)


def test_list_objects_follows_pages(s3):
    s3.stubber.add_response("list_objects_v2", {"Contents": [{"Key": "p/a", "Size": 1}], "IsTruncated": True,
                                                "NextContinuationToken": "t1"}, {"Bucket": BUCKET, "Prefix": "p/"})
    s3.stubber.add_response("list_objects_v2", {"Contents": [{"Key": "p/b", "Size": 2}], "IsTruncated": False},
                            {"Bucket": BUCKET, "Prefix": "p/", "ContinuationToken": "t1"})
    assert s3_helpers.list_keys(s3, BUCKET, "p/") == ["p/a", "p/b"]


def test_list_prefix_and_has_objects_and_common_prefixes(s3):
    s3.stubber.add_response("list_objects_v2", {"Contents": [{"Key": "p/a", "Size": 3, "ETag": '"e"'}], "IsTruncated": False},
                            {"Bucket": BUCKET, "Prefix": "p/"})
    s3.stubber.add_response("list_objects_v2", {"KeyCount": 0, "IsTruncated": False}, {"Bucket": BUCKET, "Prefix": "q/", "MaxKeys": 1})
    s3.stubber.add_response("list_objects_v2", {"CommonPrefixes": [{"Prefix": "runs/r1/"}, {"Prefix": "runs/r2/"}], "IsTruncated": False},
                            {"Bucket": BUCKET, "Prefix": "runs/", "Delimiter": "/"})
    assert s3_helpers.list_prefix(s3, BUCKET, "p/") == {"p/a": {"size": 3, "etag": '"e"'}}
    assert s3_helpers.has_objects(s3, BUCKET, "q/") is False
    assert s3_helpers.list_common_prefixes(s3, BUCKET, "runs/") == ["runs/r1/", "runs/r2/"]


def test_exists_and_head(s3):
    s3.stubber.add_response("head_object", {"ContentLength": 4}, {"Bucket": BUCKET, "Key": "k"})
    s3.stubber.add_client_error("head_object", service_error_code="404", http_status_code=404,
                                expected_params={"Bucket": BUCKET, "Key": "gone"})
    s3.stubber.add_client_error("head_object", service_error_code="403", http_status_code=403,
                                expected_params={"Bucket": BUCKET, "Key": "denied"})
    assert s3_helpers.exists(s3, BUCKET, "k") is True
    assert s3_helpers.head(s3, BUCKET, "gone") is None
    with pytest.raises(Exception) as denied:
        s3_helpers.exists(s3, BUCKET, "denied")
    assert s3_helpers.error_code(denied.value) == "403"


def test_delete_objects_batches_of_1000_and_one_already_gone_set(s3):
    keys = ["k%04d" % i for i in range(2001)]
    batches = [keys[:1000], keys[1000:2000], keys[2000:]]
    s3.stubber.add_response("delete_objects", {"Errors": [
        {"Key": "k0001", "Code": "NoSuchKey", "Message": "gone"},
        {"Key": "k0002", "Code": "NoSuchVersion", "Message": "gone"},
        {"Key": "k0003", "Code": "AccessDenied", "Message": "no"}]},
        {"Bucket": BUCKET, "Delete": {"Objects": [{"Key": k} for k in batches[0]], "Quiet": True}})
    s3.stubber.add_client_error("delete_objects", service_error_code="InternalError", http_status_code=500,
                                expected_params={"Bucket": BUCKET, "Delete": {"Objects": [{"Key": k} for k in batches[1]], "Quiet": True}})
    s3.stubber.add_response("delete_objects", {}, {"Bucket": BUCKET, "Delete": {"Objects": [{"Key": "k2000"}], "Quiet": True}})
    sizes = []
    deleted, failed = s3_helpers.delete_objects(s3, BUCKET, keys, on_batch=sizes.append)
    assert sizes == [1000, 1000, 1]
    assert len(deleted) == 999 + 1 and {"Key": "k0001"} in deleted and {"Key": "k0003"} not in deleted
    assert failed[0]["Key"] == "k0003" and failed[0]["Code"] == "AccessDenied"
    assert len(failed) == 1 + 1000 and all(f["Request"] and f["Code"] == "InternalError" for f in failed[1:])


def test_delete_objects_sends_only_key_and_version(s3):
    s3.stubber.add_response("delete_objects", {}, {"Bucket": BUCKET, "Delete": {
        "Objects": [{"Key": "a"}, {"Key": "b", "VersionId": "v1"}], "Quiet": True}})
    deleted, failed = s3_helpers.delete_objects(s3, BUCKET, [{"Key": "a", "Size": 5}, {"Key": "b", "VersionId": "v1"}])
    assert deleted == [{"Key": "a", "Size": 5}, {"Key": "b", "VersionId": "v1"}] and failed == []


def test_delete_keys_raises_with_a_token(s3):
    s3.stubber.add_response("delete_objects", {"Errors": [{"Key": "a", "Code": "AccessDenied", "Message": "no"},
                                                          {"Key": "b", "Code": "NoSuchKey", "Message": "gone"}]},
                            {"Bucket": BUCKET, "Delete": {"Objects": [{"Key": "a"}, {"Key": "b"}], "Quiet": True}})
    with pytest.raises(s3_helpers.TransferError) as refused:
        s3_helpers.delete_keys(s3, BUCKET, ["b", "a"])
    assert refused.value.reason == "access_denied" and refused.value.keys == ["a"]
    s3.stubber.add_response("delete_objects", {}, {"Bucket": BUCKET, "Delete": {"Objects": [{"Key": "c"}], "Quiet": True}})
    assert s3_helpers.delete_keys(s3, BUCKET, ["c"]) == ["c"]
    assert s3_helpers.delete_keys(s3, BUCKET, []) == []


@pytest.mark.parametrize("code,status,reason", [("404", 404, "bucket_not_found"), ("NoSuchBucket", 404, "bucket_not_found"),
                                                ("403", 403, "access_denied"), ("AccessDenied", 403, "access_denied")])
def test_check_bucket_maps_codes_to_tokens(s3, code, status, reason):
    s3.stubber.add_client_error("head_bucket", service_error_code=code, http_status_code=status, expected_params={"Bucket": BUCKET})
    with pytest.raises(s3_helpers.BucketError) as failed:
        s3_helpers.check_bucket(s3, BUCKET)
    assert failed.value.reason == reason and failed.value.code == code


def test_check_bucket_by_listing_and_other_errors(s3):
    s3.stubber.add_response("list_objects_v2", {"KeyCount": 0}, {"Bucket": BUCKET, "MaxKeys": 1})
    s3.stubber.add_client_error("list_objects_v2", service_error_code="NoSuchBucket", http_status_code=404,
                                expected_params={"Bucket": BUCKET, "MaxKeys": 1})
    s3.stubber.add_client_error("head_bucket", service_error_code="InternalError", http_status_code=500,
                                expected_params={"Bucket": BUCKET})
    s3_helpers.check_bucket(s3, BUCKET, request="list")
    with pytest.raises(s3_helpers.BucketError) as missing:
        s3_helpers.check_bucket(s3, BUCKET, request="list")
    assert missing.value.reason == "bucket_not_found"
    with pytest.raises(Exception) as other:
        s3_helpers.check_bucket(s3, BUCKET)
    assert not isinstance(other.value, s3_helpers.BucketError)


def test_parallel_collects_errors_in_order_and_stops():
    results, errors = s3_helpers.parallel(lambda n: 10 // n, [1, 2, 5], 3)
    assert results == [10, 5, 2] and errors == []
    results, errors = s3_helpers.parallel(lambda n: 10 // n, [1, 0, 5], 1)
    assert results == [10, None, None] and len(errors) == 1 and errors[0][0] == 0
    results, errors = s3_helpers.parallel(lambda n: 10 // n, [0, 1, 0], 1, stop_on_error=False)
    assert results == [None, 10, None] and len(errors) == 2
