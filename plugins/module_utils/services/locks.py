# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runbook locks: one small JSON object per locked environment, taken by a conditional write.

Why: two DR drills, or a drill and a failback, against the same DR environment would tear down each
other's runners and move the same canonical pointer. The runbook got this from Terraform's remote
state lock; here the lock is ``s3://<receipt bucket>/<receipt prefix>/locks/<name>.json``:

- taken with ``If-None-Match: *`` (S3 answers 412 when it exists, 409 when another write to the key
  is in flight), so of two runs starting together exactly one wins;
- re-entrant for the same execution id (a resumed or ``start_at`` run of the execution that holds it
  renews it), taken over only when it is stale (``renewed_at`` + ``ttl_seconds`` has passed) or with
  an explicit ``break_lock`` -- both by ``If-Match: <the ETag it was read with>``, so a takeover
  cannot overwrite a lock someone else just renewed -- and the holder it replaced is returned so the
  caller's receipt records it;
- released with a conditional ``DeleteObject`` (``If-Match``), and only by its holder: a run whose
  lock was broken leaves the new holder's lock alone.

Without a receipt bucket (a laptop run) the lock is a file ``<directory>/<name>.json`` created with
``O_EXCL``; takeovers and releases happen under an ``flock`` of a sidecar file.

The decision (``decide``) is pure; the backends only read and write.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import hashlib
import json
import os
import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import error_code

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows controllers, which Ansible does not support
    fcntl = None

LOCK_SCHEMA_VERSION = "runbook_lock.v1"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}(/[A-Za-z0-9][A-Za-z0-9._-]{0,62}){0,3}$")
# What decide() answers.
ACQUIRE, RENEW, TAKE_STALE, BREAK, REFUSE = "acquire", "renew", "take_stale", "break", "refuse"


class LockHeld(OpsError):
    """Another execution holds the lock and it is not stale."""

    def __init__(self, message, details=None):
        super(LockHeld, self).__init__("lock_held", message, details=details)


def utc(moment=None):
    return (moment or datetime.datetime.now(datetime.timezone.utc)).astimezone(datetime.timezone.utc)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text):
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


def check_name(name):
    """The lock's name becomes part of an S3 key or a file name: a short path of safe segments."""
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        raise OpsError("invalid_input", "lock name %r is not 1-4 segments of letters, digits, '.', '_' or '-' separated by '/' "
                                        "(e.g. dr/prod); set runbook_lock to such a name." % (name,))
    return name


def lock_document(name, holder, ttl_seconds, now, acquired_at=None):
    """The lock object: who holds it, since when, until when it counts as held."""
    return {
        "schema_version": LOCK_SCHEMA_VERSION,
        "lock": name,
        "holder": dict(holder),
        "acquired_at": acquired_at or iso(now),
        "renewed_at": iso(now),
        "ttl_seconds": int(ttl_seconds),
        "expires_at": iso(now + datetime.timedelta(seconds=int(ttl_seconds))),
    }


def is_stale(document, now):
    """True when the holder stopped renewing it longer ago than its ttl (or the document is unreadable)."""
    renewed = parse_iso((document or {}).get("renewed_at"))
    try:
        ttl = int((document or {}).get("ttl_seconds"))
    except (TypeError, ValueError):
        return True
    return renewed is None or renewed + datetime.timedelta(seconds=ttl) <= now


def decide(current, execution_id, now, break_lock=False):
    """What to do with the lock as read (``current`` is its document, or None when absent)."""
    if current is None:
        return ACQUIRE
    if (current.get("holder") or {}).get("execution_id") == execution_id:
        return RENEW
    if is_stale(current, now):
        return TAKE_STALE
    return BREAK if break_lock else REFUSE


def held_message(name, where, current, now):
    holder = current.get("holder") or {}
    return ("lock %s (%s) is held by execution %s (%s, started %s by %s on %s), renewed %s, counts as held until %s (it is %s "
            "now). Wait for that run to finish; if it is known to be dead, run again with -e break_lock=true (recorded in "
            "this run's receipt)." % (name, where, holder.get("execution_id"), holder.get("operation"), current.get("acquired_at"),
                                      holder.get("user"), holder.get("host"), current.get("renewed_at"), current.get("expires_at"),
                                      iso(now)))


class S3LockStore:
    """The lock as an S3 object; every change is conditional on what was read."""

    def __init__(self, s3, bucket, prefix):
        self.s3, self.bucket, self.prefix = s3, bucket, (prefix or "").strip("/")

    def where(self, name):
        key = "%s/locks/%s.json" % (self.prefix, name) if self.prefix else "locks/%s.json" % name
        return key

    def uri(self, name):
        return pointers.s3_uri(self.bucket, self.where(name))

    def read(self, name):
        found = pointers.read_pointer(self.s3, self.bucket, self.where(name))
        return (found["document"], found["etag"]) if found else (None, None)

    def write(self, name, document, etag=None):
        """Create (etag None) or replace the object read with ``etag``; False when someone else got there first."""
        try:
            pointers.conditional_put(self.s3, self.bucket, self.where(name), document, if_match=etag)
        except pointers.PointerConflict:
            return False
        return True

    def delete(self, name, etag):
        """Delete the object read with ``etag``; False when it changed or went meanwhile."""
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=self.where(name), IfMatch=etag)
        except Exception as exc:  # botocore ClientError
            if error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey", "404"):
                return False
            raise
        return True


class FileLockStore:
    """The lock as a local file (no receipt bucket): created with O_EXCL, changed under an flock."""

    def __init__(self, directory):
        self.directory = directory

    def where(self, name):
        return os.path.join(self.directory, name + ".json")

    def uri(self, name):
        return self.where(name)

    def read(self, name):
        try:
            with open(self.where(name), "rb") as handle:
                body = handle.read()
        except IOError as exc:
            if exc.errno == errno.ENOENT:
                return None, None
            raise
        try:
            document = json.loads(body.decode("utf-8"))
        except ValueError:
            document = {}
        return document, hashlib.sha256(body).hexdigest()

    def _guard(self, name):
        path = self.where(name) + ".guard"
        handle = open(path, "a")
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        return handle

    def write(self, name, document, etag=None):
        path = self.where(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        body = pointers.serialize(document)
        with self._guard(name):
            if etag is None:
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                except OSError as exc:
                    if exc.errno == errno.EEXIST:
                        return False
                    raise
                with os.fdopen(fd, "wb") as handle:
                    handle.write(body)
                    handle.flush()
                    os.fsync(handle.fileno())
                return True
            if self.read(name)[1] != etag:
                return False
            temp = "%s.%d.tmp" % (path, os.getpid())
            with open(temp, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(temp, path)
            return True

    def delete(self, name, etag):
        os.makedirs(self.directory, exist_ok=True)
        with self._guard(name):
            if self.read(name)[1] != etag:
                return False
            os.unlink(self.where(name))
            return True


def acquire(store, name, holder, ttl_seconds, break_lock=False, check_mode=False, now=None):
    """Take (or renew) the lock for ``holder["execution_id"]``.

    Returns ``{"action": acquire|renew|take_stale|break, "changed", "lock", "previous"}`` where
    ``previous`` is the document of the holder it replaced (stale or broken), else None. Raises
    LockHeld when another execution holds it and ``break_lock`` is off. In check mode nothing is
    written; the action says what would happen (a held lock is still refused: the run would be).
    """
    check_name(name)
    for dummy in range(3):  # a lost race re-reads; three losses in a row means a busy lock
        moment = utc(now)
        current, etag = store.read(name)
        action = decide(current, holder["execution_id"], moment, break_lock)
        if action == REFUSE:
            raise LockHeld(held_message(name, store.uri(name), current, moment), details={"holder": current})
        acquired_at = current.get("acquired_at") if action == RENEW else None
        document = lock_document(name, holder, ttl_seconds, moment, acquired_at)
        previous = current if action in (TAKE_STALE, BREAK) else None
        if check_mode:
            return {"action": action, "changed": True, "lock": document, "previous": previous, "uri": store.uri(name)}
        if store.write(name, document, etag if current is not None else None):
            return {"action": action, "changed": True, "lock": document, "previous": previous, "uri": store.uri(name)}
    current, etag = store.read(name)
    raise LockHeld("lock %s (%s) changed three times while it was being taken; another run is taking it now. %s" % (
        name, store.uri(name), held_message(name, store.uri(name), current or {}, utc(now)) if current else ""),
        details={"holder": current})


def release(store, name, execution_id, check_mode=False):
    """Delete the lock if ``execution_id`` holds it.

    Returns ``{"action": released|absent|not_ours, "changed", "holder"}``: ``not_ours`` means the lock
    was broken and taken by another execution meanwhile, which keeps it.
    """
    check_name(name)
    for dummy in range(3):
        current, etag = store.read(name)
        if current is None:
            return {"action": "absent", "changed": False, "holder": None, "uri": store.uri(name)}
        holder = current.get("holder") or {}
        if holder.get("execution_id") != execution_id:
            return {"action": "not_ours", "changed": False, "holder": holder, "uri": store.uri(name)}
        if check_mode or store.delete(name, etag):
            return {"action": "released", "changed": True, "holder": holder, "uri": store.uri(name)}
    return {"action": "not_ours", "changed": False, "holder": (store.read(name)[0] or {}).get("holder"), "uri": store.uri(name)}
