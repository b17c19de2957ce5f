"""Bounded, thread-safe log of the AWS requests the layer answered (``/_sandbox/requests``).

Tests read it to prove what a play did on the wire: "each object was uploaded exactly once",
"nothing was written in check mode". Writes made by simulated ECS tasks go straight to the moto
backend and are not logged: only client requests are.
"""

import itertools
import threading
from collections import deque
from datetime import datetime, timezone

_STRING_FILTERS = ("service", "operation", "bucket", "key", "method")


def utc_timestamp(moment=None):
    """``2026-01-01T06:00:00.123456Z``."""
    moment = moment or datetime.now(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RequestLog:
    """The last ``size`` requests, oldest first."""

    def __init__(self, size=5000):
        self._entries = deque(maxlen=max(1, int(size)))
        self._lock = threading.Lock()
        self._sequence = itertools.count(1)

    def record(self, info, status, injected=False, fault=None):
        """Append one entry for a RequestInfo answered with HTTP ``status``."""
        entry = {
            "seq": 0,
            "ts": utc_timestamp(),
            "service": info.service,
            "operation": info.operation,
            "method": info.method,
            "bucket": info.bucket,
            "key": info.key,
            "status": int(status),
            "injected": bool(injected),
            "fault": fault,
        }
        with self._lock:
            entry["seq"] = next(self._sequence)
            self._entries.append(entry)

    def clear(self):
        """Forget every entry (sequence numbers keep increasing)."""
        with self._lock:
            self._entries.clear()

    def query(self, filters):
        """Entries matching exact ``service/operation/bucket/key/method``, ``key_prefix``, ``injected`` and ``status``.

        ``limit`` keeps only the newest N of the matches.
        """
        with self._lock:
            entries = list(self._entries)
        selected = [entry for entry in entries if _matches(entry, filters)]
        limit = filters.get("limit")
        if limit:
            selected = selected[-int(limit):]
        return selected


def _matches(entry, filters):
    for name in _STRING_FILTERS:
        if filters.get(name) and entry[name] != filters[name]:
            return False
    if filters.get("key_prefix") and not (entry["key"] or "").startswith(filters["key_prefix"]):
        return False
    if filters.get("injected") and entry["injected"] != (filters["injected"].lower() in ("1", "true", "yes")):
        return False
    return not filters.get("status") or str(entry["status"]) == filters["status"]
