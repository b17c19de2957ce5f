"""Name the AWS service and operation of a raw WSGI request, the way the real endpoint would.

* JSON protocol (ECS, ECR, Step Functions): ``X-Amz-Target: Prefix.Operation``.
* Query protocol (STS, IAM) and EC2: the ``Action`` parameter, in the query string or form body.
* S3 REST: method + bucket/key + sub-resource query flags (+ ``x-amz-copy-source``).

The service comes from the SigV4 credential scope (``Credential=AKID/date/region/<service>/aws4_request``),
from ``X-Amz-Credential`` for presigned URLs; unsigned REST requests are taken as S3, as moto does.
"""

import re
from dataclasses import dataclass
from typing import Optional
from urllib.parse import parse_qs

_CREDENTIAL_RE = re.compile(r"Credential=([^,\s]+)")
_VIRTUAL_HOST_RE = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.\-]*?)\.s3[.\-]")

# Bucket sub-resource flag -> operation name without its Get/Put/Delete verb.
_BUCKET_SUBRESOURCES = {
    "versioning": "BucketVersioning",
    "lifecycle": "BucketLifecycleConfiguration",
    "publicAccessBlock": "PublicAccessBlock",
    "encryption": "BucketEncryption",
    "replication": "BucketReplication",
    "policyStatus": "BucketPolicyStatus",
    "policy": "BucketPolicy",
    "tagging": "BucketTagging",
    "acl": "BucketAcl",
    "cors": "BucketCors",
    "notification": "BucketNotificationConfiguration",
    "object-lock": "ObjectLockConfiguration",
    "ownershipControls": "BucketOwnershipControls",
    "logging": "BucketLogging",
    "website": "BucketWebsite",
    "accelerate": "BucketAccelerateConfiguration",
    "requestPayment": "BucketRequestPayment",
    "location": "BucketLocation",
    "inventory": "BucketInventoryConfiguration",
    "metrics": "BucketMetricsConfiguration",
    "analytics": "BucketAnalyticsConfiguration",
    "intelligent-tiering": "BucketIntelligentTieringConfiguration",
}
# The API's names are not regular everywhere.
_IRREGULAR = {("DELETE", "lifecycle"): "DeleteBucketLifecycle"}
_BUCKET_LISTS = (("versions", "ListObjectVersions"), ("uploads", "ListMultipartUploads"))
_OBJECT_SUBRESOURCES = {
    "tagging": "ObjectTagging",
    "acl": "ObjectAcl",
    "legal-hold": "ObjectLegalHold",
    "retention": "ObjectRetention",
    "attributes": "ObjectAttributes",
    "torrent": "ObjectTorrent",
}
_VERBS = {"GET": "Get", "PUT": "Put", "DELETE": "Delete", "HEAD": "Head"}
_PLAIN_OBJECT = {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject", "PUT": "PutObject"}
_MULTIPART = {"GET": "ListParts", "DELETE": "AbortMultipartUpload", "POST": "CompleteMultipartUpload", "PUT": "UploadPart"}


@dataclass
class RequestInfo:
    """What a request is, in AWS terms. ``protocol`` picks the error format: s3, json, query, ec2, rest-json."""

    service: str
    operation: str
    protocol: str
    method: str
    bucket: Optional[str] = None
    key: Optional[str] = None

    @property
    def label(self):
        """``service:Operation``, the key of the injection counters."""
        return "%s:%s" % (self.service, self.operation)


def flat_query(query_string):
    """First value of each query parameter; valueless flags (``?versioning``) map to ``""``."""
    return {name: values[0] for name, values in parse_qs(query_string or "", keep_blank_values=True).items()}


def signing_service(environ, query):
    """The service from the SigV4 credential scope, or None for unsigned requests."""
    match = _CREDENTIAL_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    credential = match.group(1) if match else query.get("X-Amz-Credential")
    parts = (credential or "").split("/")
    return parts[-2].lower() if len(parts) >= 5 else None


def _form_params(environ, body):
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return {}
    return flat_query(body.decode("utf-8", "replace"))


def s3_bucket_and_key(environ):
    """Bucket and key from a virtual-host style Host header, else from the path."""
    path = environ.get("PATH_INFO", "") or "/"
    host = environ.get("HTTP_HOST", "").rsplit(":", 1)[0].lower()
    match = _VIRTUAL_HOST_RE.match(host)
    bucket = None
    if match:
        bucket = match.group("bucket")
    elif host.endswith(".localhost"):
        bucket = host[: -len(".localhost")]
    if bucket:
        return bucket, path[1:] or None
    bucket, _slash, key = path[1:].partition("/")
    return bucket or None, key or None


def _object_operation(method, query, environ):
    if method == "POST":
        for flag, name in (("uploads", "CreateMultipartUpload"), ("uploadId", "CompleteMultipartUpload"),
                           ("restore", "RestoreObject"), ("select", "SelectObjectContent")):
            if flag in query:
                return name
        return "PostObject"
    copying = "HTTP_X_AMZ_COPY_SOURCE" in environ
    if "uploadId" in query:
        if method == "PUT" and copying:
            return "UploadPartCopy"
        return _MULTIPART.get(method, method + "MultipartUpload")
    for flag, name in _OBJECT_SUBRESOURCES.items():
        if flag in query:
            return _VERBS.get(method, method) + name
    if method == "PUT" and copying:
        return "CopyObject"
    return _PLAIN_OBJECT.get(method, method + "Object")


def _bucket_operation(method, query):
    if method == "HEAD":
        return "HeadBucket"
    if method == "POST":
        return "DeleteObjects" if "delete" in query else "PostBucket"
    for flag, name in _BUCKET_SUBRESOURCES.items():
        if flag in query:
            return _IRREGULAR.get((method, flag)) or _VERBS.get(method, method) + name
    if method == "GET":
        for flag, name in _BUCKET_LISTS:
            if flag in query:
                return name
        return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
    return {"PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, method + "Bucket")


def s3_operation(method, bucket, key, query, environ):
    """The S3 API operation name of a REST request."""
    if not bucket:
        return "ListBuckets" if method == "GET" else method + "Service"
    if key:
        return _object_operation(method, query, environ)
    return _bucket_operation(method, query)


def classify(environ, body):
    """Return the RequestInfo of one request; ``body`` is the already-buffered request body."""
    method = environ.get("REQUEST_METHOD", "GET").upper()
    query = flat_query(environ.get("QUERY_STRING"))
    service = signing_service(environ, query)
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return RequestInfo(service or target.split(".", 1)[0].lower(), target.rsplit(".", 1)[-1], "json", method)
    action = query.get("Action") or _form_params(environ, body).get("Action")
    if action:
        service = service or "unknown"
        return RequestInfo(service, action, "ec2" if service == "ec2" else "query", method)
    if service in (None, "s3"):
        bucket, key = s3_bucket_and_key(environ)
        return RequestInfo("s3", s3_operation(method, bucket, key, query, environ), "s3", method, bucket, key)
    first_segment = environ.get("PATH_INFO", "/").strip("/").split("/", 1)[0]
    return RequestInfo(service, "%s /%s" % (method, first_segment), "rest-json", method)
