# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress of long work: the one line format, a rate-limited reporter, and the file that carries it.

Why: a module cannot print while it runs (Ansible shows its result when it exits), so a publish of
thousands of objects, a retention sweep or a drill's wait was minutes of silence. Now:

1. the module calls ``ops.progress(done, total, unit=..., what=...)`` (core/base.py) as work completes;
   the ``Reporter`` here lets a call through once ``interval`` seconds have passed since the work
   (that ``what``) began or since its last line, and always the call that reaches ``total`` (or says
   ``final=True``); each goes as one JSON line to the file named by ``SIGNALCRAFT_PROGRESS_FILE``.
   The last call it held back is written when the module finishes (``flush``). So work that takes
   less than ``interval`` shows one line (its last), long work a line every ``interval`` seconds;
2. the collection's action plugin (plugins/action/ops_module.py) creates that file on the controller,
   sets the variable for the module process, and a ``Relay`` thread tails it while the module runs,
   handing each new record's line to Ansible's display: it appears before the task's result in
   ansible-playbook's output and, under ansible-runner/AWX, as its own ``verbose`` job event.

A line carries counts only -- what the work is (a fixed phrase from the module's code), numbers, a
unit -- never a key, a name or a value, so it cannot leak a secret::

    progress publish: 1200/2000 objects (60%) 850 objects/s, 12.3 s elapsed
    progress retention: 3000/12000 objects (25%) 410 objects/s, 7.3 s elapsed, deleted=2980 errors=0
    progress validate job: 30/900 s (3%), active=1 succeeded=0 failed=0

The action plugin re-formats every record with ``format_line`` (it never prints text the module
wrote), so the format is this file's alone. ``SIGNALCRAFT_PROGRESS_INTERVAL`` (seconds, default 2)
sets the rate limit. Without ``SIGNALCRAFT_PROGRESS_FILE`` (a module run outside the action plugin,
or over a non-local connection) reporting costs nothing and writes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import os
import re
import threading
import time

ENV_FILE = "SIGNALCRAFT_PROGRESS_FILE"
ENV_INTERVAL = "SIGNALCRAFT_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 2.0
# How often the relay looks at the file (seconds).
RELAY_POLL = 0.1

_WHAT = re.compile(r"^[a-z][a-z0-9_./ -]{0,47}$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_RECORD_KEYS = ("what", "done", "total", "unit", "elapsed", "rate", "counts", "final")


def interval_from(value, default=DEFAULT_INTERVAL):
    """Seconds between lines from a setting (``SIGNALCRAFT_PROGRESS_INTERVAL``); ``default`` when unset or bad."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return default
    return seconds if math.isfinite(seconds) and seconds >= 0 else default


def _count(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("progress %s must be a whole number >= 0; got %r" % (name, value))
    return value


def _rate_text(rate):
    return "%d" % round(rate) if rate >= 10 else "%.1f" % rate


def format_line(what, done, total=None, unit="objects", elapsed=None, rate=True, counts=None):
    """``progress <what>: <done>[/<total>] <unit>[ (<pct>%)][ <rate> <unit>/s][, <elapsed> s elapsed][, k=v ...]``.

    ``rate`` false leaves the rate out (a wait: seconds per second says nothing); a unit of ``s``
    (the done count is the time waited) leaves the elapsed time out. The percentage is rounded
    down, so 100% means done. Raises ValueError for anything that is not a count.
    """
    if not isinstance(what, str) or not _WHAT.match(what):
        raise ValueError("progress 'what' must be a short lower-case phrase (letters, digits, _./- and spaces); got %r" % (what,))
    if not isinstance(unit, str) or not _NAME.match(unit):
        raise ValueError("progress unit must be a lower-case word; got %r" % (unit,))
    done = _count("done", done)
    total = _count("total", total, allow_none=True)
    if elapsed is not None and (isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)) or elapsed < 0):
        raise ValueError("progress elapsed must be seconds >= 0; got %r" % (elapsed,))
    head = "progress %s: %d%s %s" % (what, done, "" if total is None else "/%d" % total, unit)
    if total:
        head += " (%d%%)" % (min(done, total) * 100 // total)
    tail = []
    if rate and elapsed and done:
        head += " %s %s/s" % (_rate_text(done / float(elapsed)), unit)
    if elapsed is not None and unit != "s":
        tail.append("%.1f s elapsed" % elapsed)
    pairs = []
    for name, value in (counts.items() if isinstance(counts, dict) else counts or ()):
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError("progress count name must be a lower-case word; got %r" % (name,))
        pairs.append("%s=%d" % (name, _count(name, value)))
    if pairs:
        tail.append(" ".join(pairs))
    return ", ".join([head] + tail)


def line_from_record(record):
    """The line for one record of the progress file, or None when the record is not a valid one."""
    if not isinstance(record, dict):
        return None
    try:
        return format_line(record.get("what"), record.get("done"), record.get("total"), record.get("unit", "objects"),
                           record.get("elapsed"), bool(record.get("rate", True)), record.get("counts") or [])
    except (ValueError, TypeError, AttributeError):
        return None


class Reporter:
    """Rate-limited progress for one module run.

    ``report(done, total, unit, what, rate, final, **counts)`` builds a record and hands it to
    ``sink`` (default: append a JSON line to ``path``) when it is due: a call that reaches ``total``
    or says ``final``, or one ``interval`` seconds after that ``what`` first reported or last had a
    line written. A held-back call replaces the one held before it; ``flush()`` writes what is still
    held (the last state of each ``what``). Thread-safe: records go out in call order. ``clock`` is
    injectable (tests pass a fake one).
    """

    def __init__(self, path=None, interval=DEFAULT_INTERVAL, clock=time.monotonic, sink=None):
        self.path = path
        self.interval = interval_from(interval)
        self.clock = clock
        self._sink = sink or self._append
        self.enabled = bool(path) or sink is not None
        self._state = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ=None, clock=time.monotonic):
        environ = os.environ if environ is None else environ
        return cls(environ.get(ENV_FILE) or None, interval_from(environ.get(ENV_INTERVAL)), clock=clock)

    def report(self, done, total=None, unit="objects", what="progress", rate=True, final=False, **counts):
        """Record progress; returns the record written now, or None (held back, or reporting is off)."""
        if not self.enabled:
            return None
        with self._lock:
            now = self.clock()
            state = self._state.setdefault(what, {"started": now, "last": now, "held": None})
            record = dict(what=what, done=done, total=total, unit=unit, elapsed=round(max(0.0, now - state["started"]), 3),
                          rate=bool(rate), counts=[[name, value] for name, value in counts.items()], final=bool(final))
            format_line(what, done, total, unit, record["elapsed"], rate, counts)  # a bad call fails here, in the module's tests
            due = final or (total is not None and done >= total) or now - state["last"] >= self.interval
            if not due:
                state["held"] = record
                return None
            state["last"], state["held"] = now, None
            self._write(record)
            return record

    def flush(self):
        """Write each ``what``'s held-back record (the last word on work that ended between lines)."""
        if not self.enabled:
            return []
        with self._lock:
            held = [s["held"] for s in self._state.values() if s["held"] is not None]
            for state in self._state.values():
                state["held"] = None
            for record in held:
                self._write(record)
        return held

    def _write(self, record):
        try:
            self._sink(record)
        except (OSError, ValueError):
            # Progress is a courtesy: a file that cannot be written (become to another user, a full
            # disk) turns reporting off rather than failing the work.
            self.enabled = False

    def _append(self, record):
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")


class Tail:
    """New complete JSON lines of a progress file since the last ``read()`` (a partial last line waits)."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.partial = b""

    def read(self):
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return []
        self.offset += len(data)
        data = self.partial + data
        complete, _sep, self.partial = data.rpartition(b"\n")
        records = []
        for raw in complete.split(b"\n") if complete else ():
            try:
                records.append(json.loads(raw.decode("utf-8")))
            except ValueError:
                continue
        return records


class Relay:
    """A thread that tails ``path`` while the module runs and calls ``emit(line)`` for each record.

    ``with Relay(path, emit):`` -- on exit the thread stops and the file is read one last time, so
    every line is emitted before the caller goes on (before the task's result is sent).
    """

    def __init__(self, path, emit, poll=RELAY_POLL):
        self.tail = Tail(path)
        self.emit = emit
        self.poll = poll
        self.emitted = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="signalcraft-progress", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self._drain()
        return False

    def _loop(self):
        while not self._stop.wait(self.poll):
            self._drain()

    def _drain(self):
        for record in self.tail.read():
            line = line_from_record(record)
            if line is not None:
                self.emitted.append(line)
                self.emit(line)
