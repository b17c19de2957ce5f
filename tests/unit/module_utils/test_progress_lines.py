"""core/progress.py: the one line format, the rate limiter (on a fake clock), the file and its relay."""

import json
import os
import threading

import pytest

from ansible_collections.signalcraft.ops.plugins.action import ops_module
from ansible_collections.signalcraft.ops.plugins.module_utils.core import progress
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_helpers


class Clock:
    def __init__(self, now=100.0):
        self.now = now

    def __call__(self):
        return self.now


def test_the_line_format():
    assert progress.format_line("publish", 1200, 2000, elapsed=1.4117647) == \
        "progress publish: 1200/2000 objects (60%) 850 objects/s, 1.4 s elapsed"
    assert progress.format_line("publish verify", 3, 40, elapsed=0.5) == "progress publish verify: 3/40 objects (7%) 6.0 objects/s, 0.5 s elapsed"
    # No total: no percentage; nothing done yet: no rate; no elapsed time known: none shown.
    assert progress.format_line("retention", 0) == "progress retention: 0 objects"
    assert progress.format_line("retention", 3000, 12000, elapsed=7.3, counts=[("deleted", 2980), ("errors", 0)]) == \
        "progress retention: 3000/12000 objects (25%) 411 objects/s, 7.3 s elapsed, deleted=2980 errors=0"
    # A wait: seconds of a timeout, no rate, no second elapsed time.
    assert progress.format_line("validate job", 30, 900, unit="s", elapsed=30.02, rate=False, counts={"active": 1}) == \
        "progress validate job: 30/900 s (3%), active=1"
    # Rounded down: 100% only when done; past the total stays 100%.
    assert "(99%)" in progress.format_line("publish", 1999, 2000)
    assert "(100%)" in progress.format_line("publish", 2001, 2000)
    assert progress.format_line("x", 0, 0) == "progress x: 0/0 objects"


@pytest.mark.parametrize("call", [
    dict(what="Publish"), dict(what="publish s3://bucket/key"), dict(what="publish: x"), dict(what=""),
    dict(done=-1), dict(done=1.5), dict(done=True), dict(done="3"), dict(total="10"), dict(unit="two words"),
    dict(elapsed=-1), dict(counts={"Bad": 1}), dict(counts={"token": "abc"}), dict(counts={"n": 1.5}),
])
def test_anything_but_counts_is_refused(call):
    args = dict(what="publish", done=1, total=2, unit="objects", elapsed=None, counts=None)
    args.update(call)
    with pytest.raises(ValueError):
        progress.format_line(**args)


def test_line_from_record_reformats_and_drops_what_is_not_a_record():
    record = {"what": "publish", "done": 5, "total": 10, "unit": "objects", "elapsed": 1.0, "rate": True,
              "counts": [["deleted", 4]], "final": False}
    assert progress.line_from_record(record) == "progress publish: 5/10 objects (50%) 5.0 objects/s, 1.0 s elapsed, deleted=4"
    for bad in ("text", None, [], dict(record, what="a secret: hunter2"), dict(record, done="5"), dict(record, counts=[["x"]]),
                dict(record, counts=5)):
        assert progress.line_from_record(bad) is None


def test_the_limiter_lets_through_one_line_per_interval_the_last_and_the_held_back_state():
    clock, written = Clock(), []
    reporter = progress.Reporter(interval=2.0, clock=clock, sink=written.append)
    assert reporter.report(0, 10, what="publish") is None  # the start is held: short work shows only its end
    clock.now += 1.0
    assert reporter.report(3, 10, what="publish") is None
    clock.now += 1.0
    assert reporter.report(5, 10, what="publish")["done"] == 5  # 2 s after the start
    clock.now += 1.9
    assert reporter.report(7, 10, what="publish") is None
    clock.now += 0.1
    assert reporter.report(8, 10, what="publish")["elapsed"] == 4.0
    clock.now += 0.1
    assert reporter.report(10, 10, what="publish")["done"] == 10  # the total: always
    assert [r["done"] for r in written] == [5, 8, 10]
    assert reporter.flush() == []

    # Each ``what`` has its own clock; the held-back last call of work that ended between lines is flushed.
    reporter.report(0, unit="s", what="validate job", rate=False)
    clock.now += 0.5
    reporter.report(1, unit="s", what="validate job", rate=False, active=1)
    assert [r["what"] for r in reporter.flush()] == ["validate job"]
    assert written[-1]["done"] == 1 and written[-1]["counts"] == [["active", 1]] and written[-1]["elapsed"] == 0.5
    assert reporter.flush() == []
    # final=True forces a line.
    assert reporter.report(2, unit="s", what="validate job", rate=False, final=True)["final"] is True


def test_interval_from_the_environment_and_bad_values():
    assert progress.interval_from("0.2") == 0.2 and progress.interval_from("0") == 0.0
    for bad in (None, "", "soon", "-1", "nan", "inf"):
        assert progress.interval_from(bad) == progress.DEFAULT_INTERVAL
    reporter = progress.Reporter.from_env({progress.ENV_INTERVAL: "0.5"})
    assert reporter.interval == 0.5 and not reporter.enabled
    assert reporter.report(1, 1) is None and reporter.flush() == []  # nobody listens: nothing happens


def test_records_are_json_lines_and_a_bad_call_raises(tmp_path):
    path = str(tmp_path / "p.jsonl")
    reporter = progress.Reporter(path, interval=0)
    with pytest.raises(ValueError):
        reporter.report(1, 2, what="Not A Phrase")
    reporter.report(1, 2, what="publish", deleted=1)
    with open(path) as handle:
        records = [json.loads(line) for line in handle]
    assert records == [{"counts": [["deleted", 1]], "done": 1, "elapsed": 0.0, "final": False, "rate": True, "total": 2,
                        "unit": "objects", "what": "publish"}]


def test_a_file_that_cannot_be_written_turns_reporting_off(tmp_path):
    reporter = progress.Reporter(str(tmp_path / "missing-dir" / "p.jsonl"), interval=0)
    assert reporter.enabled
    reporter.report(1, 2)
    assert not reporter.enabled


def test_tail_reads_only_complete_new_lines(tmp_path):
    path = tmp_path / "p.jsonl"
    tail = progress.Tail(str(path))
    assert tail.read() == []  # no file yet
    path.write_bytes(b'{"done": 1}\n{"done": 2}\n{"do')
    assert tail.read() == [{"done": 1}, {"done": 2}]
    with open(str(path), "ab") as handle:
        handle.write(b'ne": 3}\nnot json\n')
    assert tail.read() == [{"done": 3}]
    assert tail.read() == []


def test_relay_emits_every_line_before_it_returns(tmp_path):
    path = str(tmp_path / "p.jsonl")
    emitted = []
    reporter = progress.Reporter(path, interval=0)
    with progress.Relay(path, emitted.append, poll=0.01) as relay:
        for done in range(1, 51):
            reporter.report(done, 50, what="publish")
    assert emitted == relay.emitted and len(emitted) == 50
    assert [int(line.split(":")[1].split("/")[0]) for line in emitted] == list(range(1, 51))


def test_the_action_plugins_relay_sets_and_restores_the_variable_and_removes_the_file(monkeypatch):
    monkeypatch.delenv(progress.ENV_FILE, raising=False)
    emitted = []
    with ops_module.progress_relay(True, emitted.append):
        path = os.environ[progress.ENV_FILE]
        progress.Reporter.from_env({progress.ENV_FILE: path, progress.ENV_INTERVAL: "0"}).report(2, 2, what="publish")
    assert progress.ENV_FILE not in os.environ and not os.path.exists(path)
    assert emitted == ["progress publish: 2/2 objects (100%), 0.0 s elapsed"]
    # Not a local connection: no file, no variable.
    with ops_module.progress_relay(False, emitted.append) as relay:
        assert relay is None and progress.ENV_FILE not in os.environ


def test_parallel_reports_in_increasing_order_from_many_threads():
    seen, lock = [], threading.Lock()

    def record(done, total):
        with lock:
            seen.append((done, total))

    results, errors = s3_helpers.parallel(lambda item: item * 2, range(200), 16, progress=record)
    assert errors == [] and results == [i * 2 for i in range(200)]
    assert seen == [(i, 200) for i in range(201)]
    # A failed item is not counted.
    seen[:] = []
    s3_helpers.parallel(lambda item: 1 // (item - 3), range(5), 1, stop_on_error=False, progress=record)
    assert seen == [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5)]
