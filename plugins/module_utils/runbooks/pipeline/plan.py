# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a pipeline run or backfill would do, decided before anything runs (pure functions).

- ``normalise_steps``: the inventory's ``pipeline_steps`` as a DAG (unknown dependencies, cycles,
  duplicate assets and bad executors are refused with ``steps_invalid``), in topological order;
- ``select_assets``: a subset of assets plus everything upstream of them (``asset_unknown``);
- ``partitions``: every daily partition from start to end (``partition_range_invalid``);
- ``run_as_of_ts``: a partition's as-of timestamp for an ``as_of_mode``;
- ``backfill_id``: the id a backfill is filed under (the same command gives the same id, so
  ``resume`` finds it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import executors, manifest

AS_OF_MODES = ("pretip", "end_of_day", "start_of_day", "now")
MAX_PARTITIONS = 3660
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$")
_STEP_KEYS = frozenset(("asset", "depends_on", "executor", "command", "env", "cwd", "timeout_s", "retries", "task_definition",
                        "container_name", "deployment", "parameters", "description", "models"))


def _steps_error(message):
    return executors.StepConfigError(message + " Fix pipeline_steps in inventories/<env>/group_vars/all/pipeline.yml.")


def normalise_steps(steps, known_executors=None):
    """The steps in topological order (ties in configured order), each with every key filled in."""
    if not isinstance(steps, list) or not steps:
        raise _steps_error("pipeline_steps is empty or not a list; the pipeline has no steps to run.")
    seen, normalised = {}, []
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            raise _steps_error("pipeline_steps[%d] is not a mapping." % index)
        unknown = sorted(set(step) - _STEP_KEYS)
        if unknown:
            raise _steps_error("pipeline_steps[%d] has unknown keys %s (allowed: %s)." % (index, ", ".join(unknown), ", ".join(sorted(_STEP_KEYS))))
        asset = step.get("asset")
        if not manifest.valid_name(asset, manifest.ASSET_PATTERN):
            raise _steps_error("pipeline_steps[%d].asset %r must be a lowercase name (letters, digits, '_')." % (index, asset))
        if asset in seen:
            raise _steps_error("asset %s is configured twice." % asset)
        depends = step.get("depends_on") or []
        if isinstance(depends, str):
            depends = [depends]
        item = dict(step, asset=asset, depends_on=list(depends), executor=step.get("executor") or "local",
                    env=dict(step.get("env") or {}), timeout_s=int(step.get("timeout_s") or executors.DEFAULT_TIMEOUT_S),
                    retries=int(step.get("retries") if step.get("retries") is not None else 2))
        if item["retries"] < 0 or item["timeout_s"] < 1:
            raise _steps_error("step %s: retries must be >= 0 and timeout_s >= 1." % asset)
        executors.validate_kind(item)
        models = item.get("models") or []
        if not isinstance(models, list) or not all(manifest.valid_name(m, manifest.ASSET_PATTERN) for m in models):
            raise _steps_error("step %s: models must be a list of model names (lowercase, as in <model>_current_run.json)." % asset)
        item["models"] = list(models)
        if known_executors is not None and item["executor"] in known_executors:
            known_executors[item["executor"]].validate(item)
        seen[asset] = item
        normalised.append(item)
    for item in normalised:
        missing = [d for d in item["depends_on"] if d not in seen]
        if missing:
            raise _steps_error("step %s depends on %s, which no step produces." % (item["asset"], ", ".join(missing)))
    order, state = [], {}

    def visit(asset, path):
        if state.get(asset) == "done":
            return
        if state.get(asset) == "visiting":
            raise _steps_error("the steps form a cycle: %s." % " -> ".join(path + [asset]))
        state[asset] = "visiting"
        for dependency in seen[asset]["depends_on"]:
            visit(dependency, path + [asset])
        state[asset] = "done"
        order.append(seen[asset])

    for item in normalised:
        visit(item["asset"], [])
    return order


def upstream_of(steps, asset):
    """Every asset ``asset`` depends on, directly or not."""
    by_asset = dict((s["asset"], s) for s in steps)
    found, todo = set(), list(by_asset[asset]["depends_on"])
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(by_asset[current]["depends_on"])
    return found


def select_assets(steps, assets):
    """The steps to run for ``assets`` (empty: all), with everything upstream of them, in DAG order."""
    if not assets:
        return list(steps)
    known = [s["asset"] for s in steps]
    unknown = [a for a in assets if a not in known]
    if unknown:
        raise OpsError("asset_unknown", "asset(s) %s are not configured steps (configured: %s); fix -e assets." % (
            ", ".join(str(a) for a in unknown), ", ".join(known)))
    wanted = set(assets)
    for asset in assets:
        wanted |= upstream_of(steps, asset)
    return [s for s in steps if s["asset"] in wanted]


def parse_date(text, variable):
    if not isinstance(text, str) or not _DATE.match(text.strip()):
        raise OpsError("partition_range_invalid", "%s=%r is not a date YYYY-MM-DD; fix -e %s." % (variable, text, variable))
    try:
        return datetime.datetime.strptime(text.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise OpsError("partition_range_invalid", "%s=%r is not a calendar date; fix -e %s." % (variable, text, variable))


def partitions(start, end, limit=MAX_PARTITIONS):
    """Every date from ``start`` to ``end`` inclusive, as ``YYYY-MM-DD`` strings."""
    first, last = parse_date(start, "start"), parse_date(end, "end")
    if last < first:
        raise OpsError("partition_range_invalid", "the range is inverted: start=%s is after end=%s; swap -e start and -e end." % (start, end))
    count = (last - first).days + 1
    if count > limit:
        raise OpsError("partition_range_invalid", "the range %s..%s has %d partitions, more than %d; split it into smaller backfills "
                                                  "(-e start / -e end)." % (start, end, count, limit))
    return [(first + datetime.timedelta(days=n)).isoformat() for n in range(count)]


def validate_time(text, variable="pipeline_pretip_utc"):
    if not isinstance(text, str) or not _TIME.match(text):
        raise OpsError("invalid_input", "%s=%r is not a time HH:MM[:SS] (UTC); fix %s in the inventory." % (variable, text, variable))
    return text if text.count(":") == 2 else text + ":00"


def run_as_of_ts(partition, mode, now, pretip_utc="23:00:00"):
    """The partition's ``run_as_of_ts`` (UTC, ``...Z``): what data the run is allowed to use.

    ``pretip``: the partition's date at ``pretip_utc`` (before the first game starts);
    ``end_of_day``: the last second of the date; ``start_of_day``: its first second;
    ``now``: the time the run started (a live daily run).
    """
    if mode not in AS_OF_MODES:
        raise OpsError("invalid_input", "as_of_mode %r is not one of %s; fix -e as_of_mode." % (mode, ", ".join(AS_OF_MODES)))
    if mode == "now":
        return now.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if mode == "end_of_day":
        return "%sT23:59:59Z" % partition
    if mode == "start_of_day":
        return "%sT00:00:00Z" % partition
    return "%sT%sZ" % (partition, validate_time(pretip_utc))


def validate_max_parallel(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > 64:
        raise OpsError("max_parallel_invalid", "max_parallel=%r must be a whole number from 1 to 64; fix -e max_parallel." % (value,))
    return value


def backfill_id(start, end, as_of_mode, assets, given=None):
    """``given`` (validated), else ``bf-<start>-<end>-<as_of_mode>[-<hash of assets>]`` (stable for resume)."""
    if given:
        return manifest.require_name(given, manifest.RUN_ID_PATTERN, "backfill_id", "backfill_id")
    suffix = ""
    if assets:
        suffix = "-" + hashlib.sha256(",".join(sorted(assets)).encode("utf-8")).hexdigest()[:8]
    return "bf-%s-%s-%s%s" % (start, end, as_of_mode.replace("_", "-"), suffix)
