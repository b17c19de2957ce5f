"""In-memory object store: one global resourceVersion counter, a bounded event history for watches.

All objects live in one dict keyed by ``(plural, namespace, name)`` (namespace ``""`` for cluster-scoped
objects). Every write bumps the global counter, stamps ``metadata.resourceVersion`` and appends a
watch event; watchers block on :attr:`Store.cond` and read the history after their last seen version.
Callers that need read-modify-write atomicity hold :attr:`Store.lock` (re-entrant) around it.
"""

import collections
import json
import os
import threading
import time

from .util import deep

HISTORY_SIZE = 20000


class WatchEvent:
    """A stored change: ``type`` is ADDED, MODIFIED or DELETED; ``old`` is the previous object (or None)."""

    __slots__ = ("rv", "plural", "type", "obj", "old")

    def __init__(self, rv, plural, event_type, obj, old):
        self.rv = rv
        self.plural = plural
        self.type = event_type
        self.obj = obj
        self.old = old


class Store:
    """Thread-safe object store with watch history."""

    def __init__(self):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self._rv = 0
        self._objects = {}
        self._history = collections.deque(maxlen=HISTORY_SIZE)
        # uid -> wall-clock time of the last successful write *request* for the object, no-op or not;
        # the image-pull check uses it to tell whether a pull secret was refreshed after a revocation.
        self.touched = {}
        self.dirty = False

    @property
    def resource_version(self):
        """The current global resourceVersion as an int."""
        return self._rv

    def count(self):
        """Number of stored objects."""
        with self.lock:
            return len(self._objects)

    def get(self, plural, namespace, name):
        """A copy of the object or None."""
        with self.lock:
            obj = self._objects.get((plural, namespace or "", name))
            return deep(obj) if obj is not None else None

    def list(self, plural, namespace=None):
        """Copies of all objects of ``plural`` (in ``namespace`` when given), ordered by namespace/name."""
        with self.lock:
            keys = sorted(k for k in self._objects if k[0] == plural and (namespace is None or k[1] == namespace))
            return [deep(self._objects[k]) for k in keys]

    def find_uid(self, uid):
        """``(plural, obj)`` for the object with ``uid`` or ``(None, None)``."""
        with self.lock:
            for key, obj in self._objects.items():
                if obj["metadata"].get("uid") == uid:
                    return key[0], deep(obj)
        return None, None

    def uids(self):
        """The set of all stored uids."""
        with self.lock:
            return {obj["metadata"].get("uid") for obj in self._objects.values()}

    def put(self, plural, obj):
        """Store ``obj`` (stamping a new resourceVersion into it) and return a copy of what was stored."""
        meta = obj["metadata"]
        key = (plural, meta.get("namespace", ""), meta["name"])
        with self.cond:
            old = self._objects.get(key)
            self._rv += 1
            stored = deep(obj)
            stored["metadata"]["resourceVersion"] = str(self._rv)
            self._objects[key] = stored
            self._record(plural, "MODIFIED" if old is not None else "ADDED", stored, old)
            return deep(stored)

    def remove(self, plural, namespace, name):
        """Delete an object; returns the removed object (with the deletion's resourceVersion) or None."""
        with self.cond:
            old = self._objects.pop((plural, namespace or "", name), None)
            if old is None:
                return None
            self._rv += 1
            gone = deep(old)
            gone["metadata"]["resourceVersion"] = str(self._rv)
            self.touched.pop(old["metadata"].get("uid"), None)
            self._record(plural, "DELETED", gone, old)
            return deep(gone)

    def touch(self, obj):
        """Remember that a write request for ``obj`` just succeeded (see :attr:`touched`)."""
        self.touched[obj["metadata"].get("uid")] = time.time()

    def _record(self, plural, event_type, obj, old):
        self._history.append(WatchEvent(self._rv, plural, event_type, obj, old))
        self.dirty = True
        self.cond.notify_all()

    def oldest_watchable(self):
        """The smallest resourceVersion a watch may start from (older ones get 410 Gone)."""
        with self.lock:
            return self._history[0].rv - 1 if self._history else self._rv

    def events_after(self, rv):
        """History entries with resourceVersion > ``rv`` (caller checked :meth:`oldest_watchable`)."""
        with self.lock:
            return [event for event in self._history if event.rv > rv]

    def wait(self, rv, timeout):
        """Block until the global resourceVersion exceeds ``rv`` or ``timeout`` seconds pass."""
        with self.cond:
            if self._rv <= rv:
                self.cond.wait(timeout)
            return self._rv

    def wake(self):
        """Wake every blocked watcher (used at shutdown)."""
        with self.cond:
            self.cond.notify_all()

    def clear(self):
        """Drop every object (history entries for them are recorded as DELETED)."""
        with self.lock:
            for plural, namespace, name in list(self._objects):
                self.remove(plural, namespace, name)

    def save(self, path):
        """Write all objects and the counter to ``path`` (write-then-rename)."""
        with self.lock:
            payload = {"resourceVersion": self._rv, "objects": [[k[0], v] for k, v in sorted(self._objects.items())]}
            self.dirty = False
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(payload, handle)
        os.replace(tmp, path)

    def load(self, path):
        """Load objects written by :meth:`save`; returns False when there is no such file."""
        if not os.path.exists(path):
            return False
        with open(path, encoding="utf-8") as handle:
            payload = json.load(handle)
        with self.lock:
            self._rv = int(payload["resourceVersion"])
            for plural, obj in payload["objects"]:
                meta = obj["metadata"]
                self._objects[(plural, meta.get("namespace", ""), meta["name"])] = obj
        return True
