# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One bounded thread-pool map for every module that runs S3 (or other I/O) calls concurrently.

``bounded_map(func, items, max_workers)`` returns ``func(item)`` for every item in input order. The
first exception (in input order of the items that failed first) is re-raised after the work not yet
started is cancelled, so a failing batch stops quickly instead of running to the end. With one
worker, or one item, no thread is started.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

MAX_WORKERS_LIMIT = 256


def validate_max_workers(max_workers, name="concurrency"):
    """``max_workers`` as an int between 1 and MAX_WORKERS_LIMIT; ValueError naming ``name`` otherwise."""
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or not 1 <= max_workers <= MAX_WORKERS_LIMIT:
        raise ValueError("%s must be a whole number between 1 and %d; got %r." % (name, MAX_WORKERS_LIMIT, max_workers))
    value = max_workers
    return value


def bounded_map(func, items, max_workers):
    """``[func(item) for item in items]`` on at most ``max_workers`` threads, results in input order.

    The first exception raised by ``func`` cancels the calls not yet started and is re-raised (calls
    already running finish first: a thread cannot be interrupted).
    """
    workers = validate_max_workers(max_workers)
    items = list(items)
    if not items:
        return []
    workers = min(workers, len(items))
    if workers == 1:
        return [func(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(func, item) for item in items]
        done, _pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f in done and not f.cancelled() and f.exception() is not None]
        if failed:
            for future in futures:
                future.cancel()
            raise failed[0].exception()
        return [future.result() for future in futures]
