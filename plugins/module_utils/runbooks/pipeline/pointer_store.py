# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small JSON pointer documents under a local directory or an S3 prefix, moved only by compare-and-swap.

The pipeline keeps two kinds: the model selectors ``<pointer_root>/<model>_current_run.json``
(promotion.py) and the per-asset "current" pointers ``<manifest_root>/_current/<asset>.json``
(current.py). Both are read with an etag and written only if they still have it:

- S3: the object's ETag; ``swap`` is one ``PutObject`` with ``If-Match: <etag>`` (``If-None-Match: *``
  when the pointer was absent), so S3 itself refuses a stale write (services/pointers.py).
- local: the sha256 of the file's bytes; ``swap`` re-reads the pointer, compares its sha256 with the
  expected one, writes a temp file next to it, fsyncs it and renames it into place, then fsyncs the
  directory. The re-read, compare and rename run under an exclusive ``flock`` on a sidecar lock file
  (``.<name>.lock``) held for those few system calls only: a rename cannot compare by itself, so two
  writers that both compared before either renamed would otherwise lose an update. The kernel drops the
  lock when its process dies, so a killed writer never leaves a stale lock behind. Readers never lock:
  they see the old file or the new one, never a torn one.

A stale etag raises ``PointerConflict`` (``pointer_conflict``) and writes nothing. Nothing is ever
deleted here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import hashlib
import json
import os

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_service

INVALID_REASON = "pipeline_pointer_invalid"


def serialize(document):
    """Canonical bytes (services/pointers.py's): equal documents have equal bytes locally and in S3."""
    return pointers.serialize(document)


def etag_of(data):
    """The local etag: the sha256 of the file's bytes."""
    return hashlib.sha256(data).hexdigest()


def parse_root(root, variable):
    """``("s3", bucket, prefix)`` or ``("local", path, "")``; OpsError(invalid_input) naming ``variable`` otherwise."""
    text = (root or "").strip()
    if text.startswith("s3://"):
        try:
            bucket, prefix = s3_service.parse_uri(text)
        except ValueError:
            bucket, prefix = "", ""
        if not bucket or ".." in prefix.split("/") or "//" in prefix:
            raise OpsError("invalid_input", "%s %r is not s3://<bucket>/<prefix>; fix it in the inventory (or -e)." % (variable, root))
        return "s3", bucket, prefix.strip("/")
    if not text or not os.path.isabs(os.path.expanduser(text)):
        raise OpsError("invalid_input", "%s %r is neither an absolute directory nor s3://<bucket>/<prefix>; set it in the inventory "
                                        "(inventories/<env>/group_vars/all/pipeline.yml) or pass -e %s." % (variable, root, variable))
    return "local", os.path.abspath(os.path.expanduser(text)), ""


def _parse(data, uri):
    try:
        document = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise OpsError(INVALID_REASON, "%s is not JSON (%s); it was edited by hand or written by another tool: restore it from its "
                                       "history (S3 versions, or the change journal) before moving it." % (uri, exc))
    if not isinstance(document, dict):
        raise OpsError(INVALID_REASON, "%s holds JSON %s, not an object; restore it before moving it." % (uri, type(document).__name__))
    return document


class LocalPointerStore:
    """Pointers under a local directory (see the module docstring for the compare-and-swap)."""

    kind = "local"

    def __init__(self, root):
        self.root = root

    def uri(self, rel):
        return os.path.join(self.root, rel)

    def read(self, rel):
        """``{"document", "etag", "uri"}``, or None when the pointer does not exist."""
        path = self.uri(rel)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return None
        return {"document": _parse(data, path), "etag": etag_of(data), "uri": path}

    def _current_etag(self, path):
        try:
            with open(path, "rb") as handle:
                return etag_of(handle.read())
        except FileNotFoundError:
            return None

    def swap(self, rel, document, expected_etag):
        """Write ``document`` only if the pointer still has ``expected_etag`` (None: is still absent); its new etag."""
        path = self.uri(rel)
        directory, name = os.path.split(path)
        data = serialize(document)
        try:
            os.makedirs(directory, exist_ok=True)
            lock = os.open(os.path.join(directory, ".%s.lock" % name), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OpsError("local_write_failed", "cannot write under %s (%s); fix the directory's permissions or point the root "
                                                 "elsewhere." % (directory, exc))
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self._current_etag(path)
            if current != expected_etag:
                raise pointers.PointerConflict("%s moved since it was read (it is %s now, expected %s); nothing was written: "
                                               "re-read it and rerun." % (path, "absent" if current is None else "at " + current[:12],
                                                                          "absent" if expected_etag is None else expected_etag[:12]))
            receipts.write_atomic(path, data, mode=0o644)
            _fsync_directory(directory)
        except OSError as exc:
            raise OpsError("local_write_failed", "cannot write %s (%s); fix the directory's permissions or space." % (path, exc))
        finally:
            try:
                fcntl.flock(lock, fcntl.LOCK_UN)
            finally:
                os.close(lock)
        return etag_of(data)

    def create(self, rel, document):
        """Write a new document that must not exist yet (O_EXCL); False when it already exists."""
        path = self.uri(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                return False
            raise OpsError("local_write_failed", "cannot write %s (%s)." % (path, exc))
        with os.fdopen(handle, "wb") as out:
            out.write(serialize(document))
            out.flush()
            os.fsync(out.fileno())
        return True

    def list(self, rel_dir):
        """Names of the JSON documents directly under ``rel_dir`` (sorted)."""
        try:
            return sorted(n for n in os.listdir(self.uri(rel_dir)) if n.endswith(".json") and not n.startswith("."))
        except (FileNotFoundError, NotADirectoryError):
            return []


def _fsync_directory(directory):
    """Make the rename durable (the directory entry), where the platform allows opening a directory."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


class S3PointerStore(s3_service.Location):
    """Pointers under ``s3://<bucket>/<prefix>/``, moved by conditional PutObject (services/pointers.py)."""

    def read(self, rel):
        try:
            found = pointers.read_pointer(self.client, self.bucket, self.key(rel))
        except pointers.PointerInvalid as exc:
            raise OpsError(INVALID_REASON, "%s; restore it from the bucket's version history before moving it." % exc.message)
        if found is None:
            return None
        return {"document": found["document"], "etag": found["etag"], "uri": self.uri(rel), "version_id": found.get("version_id")}

    def swap(self, rel, document, expected_etag):
        return pointers.conditional_put(self.client, self.bucket, self.key(rel), document, if_match=expected_etag)["etag"]

    def create(self, rel, document):
        try:
            pointers.conditional_put(self.client, self.bucket, self.key(rel), document)
        except pointers.PointerConflict:
            return False
        return True

    def list(self, rel_dir):
        base = self.key(rel_dir).rstrip("/") + "/"
        return sorted(k[len(base):] for k in s3_service.list_keys(self.client, self.bucket, base)
                      if k.endswith(".json") and "/" not in k[len(base):])


def open_store(root, s3_client_factory, variable):
    """The pointer store of ``root``; the S3 client is built only for an s3:// root."""
    kind, where, prefix = parse_root(root, variable)
    if kind == "s3":
        return S3PointerStore(s3_client_factory(), where, prefix)
    return LocalPointerStore(where)


def move(store, rel, update, max_attempts=8):
    """Compare-and-swap loop for pointers whose update is a pure function of the current document
    (``update(document_or_None) -> document``; returning the current document changes nothing).

    After a conflict it re-reads and applies ``update`` again on top of the new state, so concurrent
    movers never lose an update. Returns ``{"changed", "before", "after", "attempts", "etag"}``.
    """
    last = None
    for attempt in range(1, max_attempts + 1):
        current = store.read(rel)
        before = current["document"] if current else None
        after = update(before)
        if after is None or after == before:
            return {"changed": False, "before": before, "after": before, "attempts": attempt, "etag": current["etag"] if current else None}
        try:
            etag = store.swap(rel, after, current["etag"] if current else None)
        except pointers.PointerConflict as exc:
            last = exc
            continue
        return {"changed": True, "before": before, "after": after, "attempts": attempt, "etag": etag}
    raise pointers.PointerConflict("gave up moving %s after %d conflicting writers: %s" % (store.uri(rel), max_attempts, last))
