"""S3 behaviour that moto 5.2.5 lacks or gets wrong, enforced before a request reaches moto.

* DeleteObjects accepts at most 1,000 keys; real S3 rejects more with 400 ``MalformedXML``.
* Conditional writes must be atomic. moto checks ``If-Match``/``If-None-Match`` on PutObject, but
  as check-then-write without a lock, so two concurrent compare-and-swap writers can both win;
  and it ignores ``If-Match`` on CompleteMultipartUpload. Every single-key write therefore runs
  under a per-key lock, and the missing CompleteMultipartUpload check is done here.
"""

import contextlib
import re
import threading
import zlib

from . import moto_access
from .protocol_errors import s3_error

MAX_DELETE_KEYS = 1000
_OBJECT_TAG_RE = re.compile(rb"<(?:\w+:)?Object>")
# Writes that replace one key's current version; these serialize against each other.
SINGLE_KEY_WRITES = frozenset(("PutObject", "CopyObject", "CompleteMultipartUpload", "DeleteObject"))
_LOCK_STRIPES = 64


def delete_objects_violation(info, body):
    """A MalformedXML error for a DeleteObjects request with more than 1,000 keys, else None."""
    if info.protocol != "s3" or info.operation != "DeleteObjects":
        return None
    if len(_OBJECT_TAG_RE.findall(body)) <= MAX_DELETE_KEYS:
        return None
    return s3_error(400, "MalformedXML",
                    "The XML you provided was not well-formed or did not validate against our published schema", info)


class KeyLocks:
    """Striped locks so that writes to the same bucket/key never interleave (bounded memory)."""

    def __init__(self, stripes=_LOCK_STRIPES):
        self._locks = [threading.Lock() for _stripe in range(stripes)]

    def hold(self, info):
        """Context manager: the key's lock for single-key writes, nothing otherwise."""
        if info.protocol != "s3" or info.operation not in SINGLE_KEY_WRITES or not info.key:
            return contextlib.nullcontext()
        stripe = zlib.crc32(("%s/%s" % (info.bucket, info.key)).encode("utf-8")) % len(self._locks)
        return self._locks[stripe]


def _unquoted(etag):
    return (etag or "").strip().strip('"')


def complete_multipart_precondition(info, environ, account_id):
    """412/404 for CompleteMultipartUpload with an ``If-Match`` that does not hold, else None.

    Must be called while holding the key's lock so the check and moto's write are one step.
    """
    if_match = environ.get("HTTP_IF_MATCH")
    if info.operation != "CompleteMultipartUpload" or not if_match:
        return None
    current = moto_access.current_etag(account_id, info.bucket, info.key)
    if current is None:
        return s3_error(404, "NoSuchKey", "The specified key does not exist.", info)
    if if_match.strip() != "*" and _unquoted(if_match) != _unquoted(current):
        return s3_error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", info)
    return None
