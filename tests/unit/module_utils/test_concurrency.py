"""core/concurrency.bounded_map: ordered results, the first failure re-raised with the rest cancelled."""

import threading
import time

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core import concurrency


def test_results_keep_input_order_whatever_finishes_first():
    def slow_first(n):
        time.sleep(0.02 * (5 - n))
        return n * n

    assert concurrency.bounded_map(slow_first, range(5), 5) == [0, 1, 4, 9, 16]


def test_no_threads_for_one_worker_or_one_item_and_empty_input():
    main = threading.current_thread()
    assert concurrency.bounded_map(lambda _n: threading.current_thread() is main, [1, 2, 3], 1) == [True] * 3
    assert concurrency.bounded_map(lambda _n: threading.current_thread() is main, [1], 8) == [True]
    assert concurrency.bounded_map(lambda n: n, [], 4) == []


def test_at_most_max_workers_run_at_once():
    lock, state = threading.Lock(), {"now": 0, "peak": 0}

    def work(_n):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.01)
        with lock:
            state["now"] -= 1

    concurrency.bounded_map(work, range(20), 3)
    assert 1 <= state["peak"] <= 3


def test_first_exception_is_raised_and_unstarted_work_is_cancelled():
    started = []

    def work(n):
        started.append(n)
        if n == 0:
            raise KeyError("boom")
        time.sleep(0.05)
        return n

    with pytest.raises(KeyError):
        concurrency.bounded_map(work, range(50), 2)
    time.sleep(0.1)
    assert len(started) < 50


@pytest.mark.parametrize("bad", [0, -1, 2.5, "4", None, True, concurrency.MAX_WORKERS_LIMIT + 1])
def test_max_workers_is_validated(bad):
    with pytest.raises(ValueError) as err:
        concurrency.bounded_map(lambda n: n, [1, 2], bad)
    assert "concurrency" in str(err.value)
