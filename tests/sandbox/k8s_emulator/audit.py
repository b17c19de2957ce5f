"""An audit log of the API requests clients made, like kube-apiserver's ``--audit-log-path`` at level Metadata.

Why: the store's resourceVersion also moves when the emulator's own controllers act (a resumed CronJob
fires on its schedule, a Job completes), so "no object changed" cannot prove "the collection wrote
nothing". The audit log records only requests that came in over the API, with their verb and user,
which is what a test of a guard needs to read back.
"""

import collections
import threading

from .util import iso

_KEEP = 20000
# Requests that create nothing that persists: access reviews answer and are forgotten.
_REVIEWS = ("selfsubjectaccessreviews", "selfsubjectrulesreviews", "subjectaccessreviews", "tokenreviews")


class AuditLog:
    """Bounded, sequenced list of request records (oldest dropped first)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = collections.deque(maxlen=_KEEP)
        self._seq = 0

    def record(self, method, path, query, user):
        """Append one request; returns its sequence number."""
        dry_run = "dryRun=" in (query or "")
        review = any("/%s" % plural in path for plural in _REVIEWS)
        with self._lock:
            self._seq += 1
            self._entries.append({"seq": self._seq, "stageTimestamp": iso(), "method": method, "path": path,
                                  "user": user, "dryRun": dry_run,
                                  "mutating": method in ("POST", "PUT", "PATCH", "DELETE") and not dry_run and not review})
            return self._seq

    def since(self, seq=0, limit=5000):
        """Entries with a sequence number above ``seq`` (at most ``limit``, the newest)."""
        with self._lock:
            picked = [entry for entry in self._entries if entry["seq"] > seq]
        return picked[-limit:] if limit else picked

    def last_seq(self):
        """The sequence number of the newest entry (0 when none)."""
        with self._lock:
            return self._seq

    def clear(self):
        """Forget every entry (the sequence keeps counting, so an old mark stays valid)."""
        with self._lock:
            self._entries.clear()
