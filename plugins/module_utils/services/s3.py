# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one S3 helper of the collection: listing, existence, batched deletes, keys/URIs, bucket checks,
and checksum-verified, concurrent transfers that skip what is already there.

Listing (``list_objects``/``list_keys``/``list_prefix``) always uses the ListObjectsV2 paginator;
``delete_keys``/``delete_objects`` send DeleteObjects in batches of at most 1,000 keys and treat the
codes in ``ALREADY_GONE`` as deleted; ``check_bucket`` maps a missing bucket to ``bucket_not_found``
and a refusal to ``access_denied``.

One call moves a whole set of objects (local files uploaded with PutObject, or S3 objects copied
server-side with CopyObject) through a thread pool sharing one client, instead of one file at a
time. Every object carries a SHA-256 checksum: uploads send ``x-amz-checksum-sha256`` (S3 rejects a
body that does not match), copies ask S3 to compute SHA-256 on the copy, and afterwards every
object is read back with ``HeadObject(ChecksumMode=ENABLED)`` and compared with the source's
SHA-256 and size. An object whose stored SHA-256 and size already match is not written again, so
a rerun after an interruption writes only what is missing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import mimetypes
import os
import re
import threading

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.concurrency import MAX_WORKERS_LIMIT, bounded_map
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import error_code

# S3's single-request limit for PutObject and CopyObject; above it a multipart transfer is needed,
# which this module does not do (run artifacts are small).
MAX_SINGLE_REQUEST_BYTES = 5 * 1024 ** 3
_CHUNK = 1024 * 1024
MAX_DELETE_KEYS = 1000  # S3 DeleteObjects accepts at most 1,000 keys per request
# An object (or version) that is not there: a HEAD's 404, a GET's NoSuchKey, a version's NoSuchVersion.
ALREADY_GONE = frozenset(("404", "NoSuchKey", "NotFound", "NoSuchVersion"))
DENIED = frozenset(("403", "AccessDenied", "Forbidden", "AllAccessDisabled"))
BUCKET_MISSING = frozenset(("404", "NoSuchBucket", "NotFound"))
_MISSING = tuple(sorted(ALREADY_GONE))
_DENIED = tuple(sorted(DENIED))
_NO_BUCKET = ("NoSuchBucket",)
_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/?(?P<key>.*)$")


class TransferError(OpsError):
    """A transfer or verification failed; ``reason`` is a registered token, ``keys`` what was affected."""

    def __init__(self, reason, message, keys=None):
        super(TransferError, self).__init__(reason, message)
        self.keys = list(keys or [])


class BucketError(OpsError):
    """A bucket check failed: ``reason`` is ``bucket_not_found`` or ``access_denied``, ``code`` the AWS code."""

    def __init__(self, reason, message, bucket=None, code=None):
        super(BucketError, self).__init__(reason, message)
        self.bucket = bucket
        self.code = code


def location_argument_spec():
    """``bucket`` and ``prefix`` of the modules that read or write under a prefix of one bucket
    (documented by doc fragment signalcraft.ops.s3_location, or its CONTROL_PLANE variant)."""
    return dict(bucket=dict(type="str", required=True), prefix=dict(type="str", default=""))


# --- keys and URIs ---------------------------------------------------------------------------

def join_key(*parts):
    """Join key parts with ``/``, dropping empty parts and stray slashes (``join_key("a/", "", "/b")`` is ``a/b``)."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def format_uri(bucket, key=""):
    """``s3://bucket/key``."""
    return "s3://%s/%s" % (bucket, key or "")


def parse_uri(uri):
    """``(bucket, key)`` of ``s3://bucket/key``; ValueError for anything else."""
    match = _URI.match(uri or "") if isinstance(uri, str) else None
    if not match:
        raise ValueError("not an s3:// URI: %r" % (uri,))
    return match.group("bucket"), match.group("key")


# --- reads -----------------------------------------------------------------------------------

def list_objects(s3, bucket, prefix="", page_size=None, **extra):
    """Every object under ``prefix`` (ListObjectsV2 dicts: Key, Size, ETag, LastModified, ...), lazily, in key order."""
    kwargs = dict(Bucket=bucket, Prefix=prefix or "")
    if page_size:
        kwargs["PaginationConfig"] = {"PageSize": int(page_size)}
    kwargs.update(extra)
    for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
        yield from page.get("Contents", [])


def list_keys(s3, bucket, prefix="", page_size=None):
    """The keys under ``prefix``, in S3's key order."""
    return [item["Key"] for item in list_objects(s3, bucket, prefix, page_size)]


def has_objects(s3, bucket, prefix=""):
    """True when at least one object is under ``prefix`` (one ListObjectsV2 request, MaxKeys=1)."""
    page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix or "", MaxKeys=1)
    return bool(page.get("KeyCount", len(page.get("Contents", []))))


def list_common_prefixes(s3, bucket, prefix="", delimiter="/"):
    """The ``CommonPrefixes`` under ``prefix`` (the "folders" one level down), in key order."""
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix or "", Delimiter=delimiter):
        found.extend(common["Prefix"] for common in page.get("CommonPrefixes", []))
    return found


def head(s3, bucket, key, **extra):
    """HeadObject's response, or None when the object is not there (a code in ALREADY_GONE)."""
    try:
        return s3.head_object(Bucket=bucket, Key=key, **extra)
    except Exception as exc:  # botocore ClientError
        if error_code(exc) in ALREADY_GONE:
            return None
        raise


def exists(s3, bucket, key):
    """True when ``key`` exists (HeadObject)."""
    return head(s3, bucket, key) is not None


def check_bucket(s3, bucket, request="head"):
    """Prove the bucket exists and can be read, with HeadBucket (``request="head"``) or a one-key
    ListObjectsV2 (``request="list"``). Raises BucketError ``bucket_not_found`` or ``access_denied``;
    any other error is re-raised as it is.
    """
    try:
        if request == "list":
            s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
        else:
            s3.head_bucket(Bucket=bucket)
    except Exception as exc:  # botocore ClientError
        code = error_code(exc)
        if code in BUCKET_MISSING:
            raise BucketError("bucket_not_found", "bucket %r does not exist (%s)." % (bucket, code), bucket, code)
        if code in DENIED:
            raise BucketError("access_denied", "access denied to bucket %r (%s)." % (bucket, code), bucket, code)
        raise


# --- deletes ---------------------------------------------------------------------------------

def _delete_entry(entry):
    """What DeleteObjects accepts of an entry: its Key and, when set, its VersionId."""
    if entry.get("VersionId"):
        return {"Key": entry["Key"], "VersionId": entry["VersionId"]}
    return {"Key": entry["Key"]}


def delete_objects(s3, bucket, entries, batch_size=MAX_DELETE_KEYS, on_batch=None, raise_request_errors=False):
    """DeleteObjects for ``entries`` (dicts with ``Key`` and optionally ``VersionId`` -- other fields such
    as a listing's ``Size`` stay on the entry but are not sent -- or plain keys), at most 1,000 per request.

    Returns ``(deleted, failed)``: ``deleted`` the entries S3 did not report (or reported with a code
    in ALREADY_GONE), ``failed`` ``[{"Key", "VersionId"?, "Code", "Message"}]``. A request that fails
    as a whole adds every entry of its batch to ``failed`` with the request's code (``Request`` true,
    ``Error`` the exception) and the next batch is tried -- or, with ``raise_request_errors``, its
    exception is raised at once. ``on_batch(size)`` is called before each request.
    """
    size = max(1, min(int(batch_size), MAX_DELETE_KEYS))
    objects = [e if isinstance(e, dict) else {"Key": e} for e in entries]
    deleted, failed = [], []
    for start in range(0, len(objects), size):
        chunk = objects[start:start + size]
        if on_batch is not None:
            on_batch(len(chunk))
        try:
            response = s3.delete_objects(Bucket=bucket, Delete={"Objects": [_delete_entry(e) for e in chunk], "Quiet": True})
        except Exception as exc:  # botocore ClientError: the whole request failed
            if raise_request_errors:
                raise
            code = error_code(exc) or "error"
            failed.extend(dict(_delete_entry(entry), Code=code, Message=str(exc), Request=True, Error=exc) for entry in chunk)
            continue
        refused = {}
        for err in response.get("Errors", []):
            if str(err.get("Code")) in ALREADY_GONE:
                continue
            refused[(err.get("Key"), err.get("VersionId"))] = err
            failed.append(dict(err))
        for entry in chunk:
            if (entry["Key"], entry.get("VersionId")) not in refused and (entry["Key"], None) not in refused:
                deleted.append(entry)
    return deleted, failed


def classify_error(exc):
    """A reason token for an S3 error: access_denied, bucket_not_found, not_found or aws_error."""
    code = error_code(exc)
    if code in _DENIED:
        return "access_denied"
    if code in _NO_BUCKET:
        return "bucket_not_found"
    if code in _MISSING:
        return "not_found"
    return "aws_error"


def b64_sha256(digest):
    """S3's checksum spelling: base64 of the raw 32-byte digest."""
    return base64.b64encode(digest).decode("ascii")


def sha256_of_bytes(data):
    return b64_sha256(hashlib.sha256(data).digest())


def sha256_of_file(path):
    """``(base64 sha256, size)`` of a local file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return b64_sha256(digest.digest()), size


class Location:
    """Documents under ``s3://<bucket>/<prefix>/``, addressed by paths relative to the prefix: the one place that
    turns a relative path into a key and an ``s3://`` URI (manifest and pointer stores build on it)."""

    kind = "s3"

    def __init__(self, client, bucket, prefix):
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def key(self, rel):
        return join_key(self.prefix, rel)

    def uri(self, rel):
        return format_uri(self.bucket, self.key(rel))


class SourceObject:
    """One object to place at ``key``: from a local ``path`` or from ``s3://source_bucket/source_key``.

    ``sha256`` (base64) and ``size`` describe the content; ``source_etag`` pins a copy to the exact
    version that was hashed (CopySourceIfMatch).
    """

    __slots__ = ("rel", "key", "sha256", "size", "path", "source_bucket", "source_key", "source_etag")

    def __init__(self, rel, key, sha256, size, path=None, source_bucket=None, source_key=None, source_etag=None):
        self.rel = rel
        self.key = key
        self.sha256 = sha256
        self.size = size
        self.path = path
        self.source_bucket = source_bucket
        self.source_key = source_key
        self.source_etag = source_etag

    @property
    def is_copy(self):
        return self.source_key is not None

    def retarget(self, key, source_bucket, source_key, source_etag=None):
        """The same content, copied server-side from an S3 object to another key."""
        return SourceObject(self.rel, key, self.sha256, self.size, source_bucket=source_bucket, source_key=source_key,
                            source_etag=source_etag)


def parallel(function, items, concurrency, stop_on_error=True, progress=None):
    """Run ``function(item)`` over ``items`` with a thread pool.

    Returns ``(results, errors)``: ``results`` in input order (None where skipped or failed) and
    ``errors`` as ``[(item, exception)]``. With ``stop_on_error`` the first failure stops new work
    from starting (work already in flight finishes), so an interrupted publish stops quickly.
    ``progress(done, total)`` (``ops.progress``, rate-limited there) is called with 0 before the
    first item starts and after each item succeeds, in increasing order of ``done``.
    """
    items = list(items)
    results = [None] * len(items)
    errors = []
    stop = threading.Event()
    lock = threading.Lock()
    finished = [0]

    def run(index):
        if stop.is_set():
            return
        try:
            results[index] = function(items[index])
        except Exception as exc:  # pylint: disable=broad-except  # reported to the caller with its item
            with lock:
                errors.append((items[index], exc))
            if stop_on_error:
                stop.set()
            return
        if progress is not None:
            with lock:
                finished[0] += 1
                progress(finished[0], len(items))

    if not items:
        return results, errors
    if progress is not None:
        progress(0, len(items))
    bounded_map(run, range(len(items)), max(1, min(int(concurrency), len(items), MAX_WORKERS_LIMIT)))
    return results, errors


def list_prefix(s3, bucket, prefix):
    """``{key: {"size", "etag"}}`` of every object under ``prefix`` (ListObjectsV2, paginated)."""
    return dict((item["Key"], {"size": item["Size"], "etag": item.get("ETag")}) for item in list_objects(s3, bucket, prefix))


def head_checksum(s3, bucket, key):
    """``{"sha256", "size", "etag", "version_id"}`` of an object, or None when it does not exist.

    ``sha256`` is None when the object was stored without a SHA-256 checksum (or with a composite,
    multipart one, which is not comparable with a whole-object digest).
    """
    response = head(s3, bucket, key, ChecksumMode="ENABLED")
    if response is None:
        return None
    sha = response.get("ChecksumSHA256")
    if sha and "-" in sha:
        sha = None
    return {"sha256": sha, "size": response.get("ContentLength"), "etag": response.get("ETag"),
            "version_id": response.get("VersionId"), "md5": etag_md5(response)}


_MD5_ETAG = re.compile(r'^"?([0-9a-f]{32})"?$')


def etag_md5(head_response):
    """The object's MD5 (hex) when its ETag is one, else None.

    S3 documents the ETag as the MD5 of the content only for objects uploaded in one request and
    encrypted with SSE-S3 or not at all: a multipart ETag has a ``-<parts>`` suffix, and with SSE-KMS
    or SSE-C it is not the MD5. Objects put by other tools (the sandbox's seed, ``aws s3 cp``
    before additional checksums, a console upload) carry no SHA-256, so this is the only checksum
    S3 keeps for them.
    """
    if head_response.get("ServerSideEncryption") in ("aws:kms", "aws:kms:dsse") or head_response.get("SSECustomerAlgorithm"):
        return None
    match = _MD5_ETAG.match(head_response.get("ETag") or "")
    return match.group(1) if match else None


def md5_of_file(path):
    """Hex MD5 of a local file (compared with an ETag only; SHA-256 is what this collection stores)."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def same_content(obj, head):
    """How ``head`` (a head_checksum result) is known to hold ``obj``'s bytes: ``"sha256"``, ``"md5"`` or None.

    SHA-256 with the size when S3 stored one. Otherwise, for an object S3 keeps an MD5 ETag for
    (see etag_md5), the MD5 of the local file or of the source object of a copy: without this, a
    byte-identical object put by another tool would be reported as different content.
    """
    if head is None or head.get("size") != obj.size:
        return None
    if head.get("sha256"):
        return "sha256" if head["sha256"] == obj.sha256 else None
    if not head.get("md5"):
        return None
    if obj.is_copy:
        source = _MD5_ETAG.match(obj.source_etag or "")
        return "md5" if source and source.group(1) == head["md5"] else None
    return "md5" if obj.path and md5_of_file(obj.path) == head["md5"] else None


def hash_s3_object(s3, bucket, key, etag=None):
    """SHA-256 (base64) and size of an S3 object: its stored checksum, else computed by reading it."""
    head = head_checksum(s3, bucket, key)
    if head is None:
        raise TransferError("source_missing", "s3://%s/%s disappeared while it was being read." % (bucket, key), [key])
    if etag and head["etag"] != etag:
        raise TransferError("source_changed", "s3://%s/%s changed while it was being read (ETag %s, now %s)." % (
            bucket, key, etag, head["etag"]), [key])
    if head["sha256"]:
        return head["sha256"], head["size"], head["etag"]
    kwargs = {"Bucket": bucket, "Key": key, "IfMatch": head["etag"]} if head["etag"] else {"Bucket": bucket, "Key": key}
    body = s3.get_object(**kwargs)["Body"]
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: body.read(_CHUNK), b""):
        digest.update(chunk)
        size += len(chunk)
    return b64_sha256(digest.digest()), size, head["etag"]


def put_if_changed(s3, bucket, key, body, content_type="application/json", create_only=False):
    """Write a small document unless S3 already holds exactly these bytes; True when written.

    Compares SHA-256 checksums (stored with the object, S3 verifies them on upload), not ETags: an
    ETag is the MD5 of the content only for single-part, non-KMS objects, so comparing it would
    rewrite every object in a bucket whose default encryption is SSE-KMS. ``create_only`` adds
    ``If-None-Match: *`` so an object another writer created first is never replaced.
    """
    checksum = sha256_of_bytes(body)
    current = head_checksum(s3, bucket, key)
    if current is not None and (create_only or (current["sha256"] == checksum and current["size"] == len(body))):
        return False
    kwargs = dict(Bucket=bucket, Key=key, Body=body, ContentType=content_type, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum)
    if create_only:
        kwargs["IfNoneMatch"] = "*"
    try:
        s3.put_object(**kwargs)
    except Exception as exc:  # botocore ClientError: another writer created it between HEAD and PUT
        if create_only and error_code(exc) in ("PreconditionFailed", "412"):
            return False
        # 409 ConditionalRequestConflict: another write to the key was in flight, which may yet fail
        # (S3 says: retry). Only an object that now exists means someone else created it.
        if create_only and error_code(exc) == "ConditionalRequestConflict" and head_checksum(s3, bucket, key) is not None:
            return False
        raise
    return True


def local_files(directory):
    """Relative ``/``-separated paths of every regular file under ``directory``, sorted.

    Symlinks are not followed (a run directory holds files, and a link could leave it). Sorted so
    plans and results are deterministic.
    """
    rels = []
    for root, dirs, files in os.walk(directory, followlinks=False):
        dirs.sort()
        for name in files:
            full = os.path.join(root, name)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            rels.append(os.path.relpath(full, directory).replace(os.sep, "/"))
    rels.sort()
    return rels


def describe_local(directory, rels, key_prefix, concurrency, progress=None):
    """Hash the files ``rels`` of ``directory`` concurrently into SourceObjects (``progress``: see ``parallel``)."""
    def build(rel):
        path = os.path.join(directory, *rel.split("/"))
        sha, size = sha256_of_file(path)
        return SourceObject(rel, key_prefix + rel, sha, size, path=path)

    results, errors = parallel(build, rels, concurrency, progress=progress)
    if errors:
        item, exc = errors[0]
        raise TransferError("source_unreadable", "cannot read %s in %s: %s" % (item, directory, exc), [item])
    return results


def describe_s3(s3, bucket, source_prefix, key_prefix, concurrency, progress=None):
    """Every object under ``s3://bucket/source_prefix`` as a SourceObject (copied to ``key_prefix + rel``).

    ``progress``: see ``parallel``.
    """
    listing = list_prefix(s3, bucket, source_prefix)

    def build(key):
        sha, size, etag = hash_s3_object(s3, bucket, key, listing[key]["etag"])
        rel = key[len(source_prefix):]
        return SourceObject(rel, key_prefix + rel, sha, size, source_bucket=bucket, source_key=key, source_etag=etag)

    keys = sorted(k for k in listing if not k.endswith("/"))
    results, errors = parallel(build, keys, concurrency, progress=progress)
    if errors:
        item, exc = errors[0]
        reason = getattr(exc, "reason", None) or classify_error(exc)
        raise TransferError(reason, "cannot read s3://%s/%s: %s" % (bucket, item, getattr(exc, "message", exc)), [item])
    return results


class Plan:
    """What a transfer will do: ``write`` (absent or replaced), ``skip`` (identical), ``conflict`` (differs)."""

    def __init__(self):
        self.write = []
        self.skip = []
        self.conflict = []
        self.matched_md5 = []  # skipped because the MD5 ETag matched (the object has no SHA-256)
        self.existing = {}
        self.present = {}

    def to_dict(self):
        return {"write": [o.key for o in self.write], "skip": [o.key for o in self.skip],
                "conflict": [o.key for o in self.conflict]}


def plan(s3, bucket, objects, concurrency, replace_changed=True, listing_prefix=None):
    """Compare each object with what is stored at its key.

    One ListObjectsV2 over ``listing_prefix`` finds which keys exist; only those get a HeadObject
    (concurrently) for their SHA-256. Equal SHA-256 and size -> skip; absent -> write; different ->
    write when ``replace_changed`` else conflict. An object stored without a SHA-256 is compared by
    the MD5 its ETag is, where S3 documents it as one (same_content); otherwise it counts as
    different (it will be rewritten with one, or reported).
    """
    result = Plan()
    if listing_prefix is None:
        listing_prefix = os.path.commonprefix([o.key for o in objects]) if objects else ""
    present = list_prefix(s3, bucket, listing_prefix) if objects else {}
    candidates = [o for o in objects if o.key in present]
    heads, errors = parallel(lambda o: head_checksum(s3, bucket, o.key), candidates, concurrency)
    if errors:
        item, exc = errors[0]
        raise TransferError(classify_error(exc), "cannot read s3://%s/%s: %s" % (bucket, item.key, exc), [item.key])
    stored = dict((o.key, head) for o, head in zip(candidates, heads))
    result.existing = stored
    result.present = present
    matched, errors = parallel(lambda o: same_content(o, stored.get(o.key)), objects, concurrency)
    if errors:
        item, exc = errors[0]
        raise TransferError("source_unreadable", "cannot read %s: %s" % (item.path or item.key, exc), [item.key])
    for obj, how in zip(objects, matched):
        head = stored.get(obj.key)
        if head is None:
            result.write.append(obj)
        elif how:
            result.skip.append(obj)
            if how == "md5":
                result.matched_md5.append(obj.key)
        elif replace_changed:
            result.write.append(obj)
        else:
            result.conflict.append(obj)
    return result


_CONTENT_TYPES = {".json": "application/json", ".csv": "text/csv", ".md": "text/markdown", ".jsonl": "application/x-ndjson"}


def content_type(path):
    """The Content-Type a browser or the console should see (the run's JSON, CSV and Markdown first)."""
    extension = os.path.splitext(path)[1].lower()
    return _CONTENT_TYPES.get(extension) or mimetypes.guess_type(path)[0] or "binary/octet-stream"


def _put(s3, bucket, obj, extra):
    with open(obj.path, "rb") as body:
        kwargs = dict(Bucket=bucket, Key=obj.key, Body=body, ChecksumAlgorithm="SHA256", ChecksumSHA256=obj.sha256,
                      ContentType=content_type(obj.path))
        kwargs.update(extra)
        return s3.put_object(**kwargs)


def _copy(s3, bucket, obj, extra):
    kwargs = dict(Bucket=bucket, Key=obj.key, CopySource={"Bucket": obj.source_bucket, "Key": obj.source_key},
                  ChecksumAlgorithm="SHA256", MetadataDirective="COPY")
    if obj.source_etag:
        kwargs["CopySourceIfMatch"] = obj.source_etag
    kwargs.update(extra)
    return s3.copy_object(**kwargs)


def write(s3, bucket, objects, concurrency, extra_args=None, progress=None):
    """PutObject (local sources) or CopyObject (S3 sources) every object, concurrently.

    Stops starting new writes after the first failure and raises TransferError naming the failed
    key and how many writes completed; the completed ones are returned on success. ``progress``:
    see ``parallel``.
    """
    extra = dict(extra_args or {})
    for obj in objects:
        if obj.size is not None and obj.size > MAX_SINGLE_REQUEST_BYTES:
            raise TransferError("object_too_large", "%s is %d bytes; single-request transfers stop at 5 GiB." % (
                obj.rel, obj.size), [obj.key])

    def one(obj):
        return (_copy if obj.is_copy else _put)(s3, bucket, obj, extra)

    results, errors = parallel(one, objects, concurrency, progress=progress)
    done = [o.key for o, r in zip(objects, results) if r is not None]
    if errors:
        item, exc = errors[0]
        reason = classify_error(exc)
        if reason in ("aws_error", "not_found"):
            reason = "copy_failed" if item.is_copy else "upload_failed"
        raise TransferError(reason, "%s of s3://%s/%s failed after %d of %d writes completed: %s" % (
            "copy" if item.is_copy else "upload", bucket, item.key, len(done), len(objects), exc), [item.key])
    return done


def verify(s3, bucket, objects, concurrency, known=None, progress=None):
    """Read every object's SHA-256 and size back (HeadObject, ChecksumMode=ENABLED) and compare.

    Objects this transfer wrote always carry a SHA-256 (S3 checked it on the PUT or computed it on
    the copy); an object skipped as unchanged may have only an MD5 ETag (same_content).

    ``known`` maps key -> an already fetched head_checksum result (from the plan) to save a
    request. Raises TransferError(checksum_mismatch) listing every object that differs or is
    missing; returns ``{key: head}`` on success. ``progress`` counts the HeadObject requests (see
    ``parallel``).
    """
    known = known or {}
    todo = [o for o in objects if o.key not in known]
    heads, errors = parallel(lambda o: head_checksum(s3, bucket, o.key), todo, concurrency, stop_on_error=False,
                             progress=progress)
    if errors:
        item, exc = errors[0]
        raise TransferError(classify_error(exc), "cannot verify s3://%s/%s: %s" % (bucket, item.key, exc), [item.key])
    stored = dict(known)
    stored.update((o.key, h) for o, h in zip(todo, heads))
    matched, errors = parallel(lambda o: same_content(o, stored.get(o.key)), objects, concurrency, stop_on_error=False)
    bad = [o.key for o, how in zip(objects, matched) if not how]
    bad.extend(item.key for item, _exc in errors)
    if bad:
        raise TransferError("checksum_mismatch", "%d object(s) in s3://%s do not have the expected SHA-256 and size after the "
                            "transfer: %s" % (len(bad), bucket, ", ".join(bad[:10])), bad)
    return stored


def delete_keys(s3, bucket, keys):
    """Delete ``keys`` (sorted, batches of 1,000); raises TransferError when any key fails, else returns the keys.

    A key S3 reports with a code in ALREADY_GONE counts as deleted.
    """
    keys = sorted(keys)
    _deleted, failed = delete_objects(s3, bucket, keys, raise_request_errors=True)
    if failed:
        codes = set(str(e.get("Code")) for e in failed)
        reason = "access_denied" if codes & DENIED else "delete_failed"
        raise TransferError(reason, "could not delete %d key(s) from s3://%s: %s" % (
            len(failed), bucket, ", ".join("%s (%s)" % (e.get("Key"), e.get("Code")) for e in failed[:10])),
            [e.get("Key") for e in failed])
    return keys


def put_receipt(s3_client, receipt, bucket, prefix=""):
    """Upload the receipt next to the execution's other receipts.

    Returns ``(s3_uri, written)``; an identical object already there (same SHA-256) is left alone.
    Encryption is the bucket's default (SSE-S3 or SSE-KMS), which a hardened receipt bucket sets.
    """
    receipts.validate(receipt)
    key = receipts.s3_key(prefix, receipt)
    written = put_if_changed(s3_client, bucket, key, receipts.serialize(receipt))
    return "s3://%s/%s" % (bucket, key), written
