# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The "current" pointers of the pipeline's assets: ``<manifest_root>/_current/<asset>.json``.

The runbook's rule: production/current pointers move only after all validations pass. A partition's
run moves the current pointer of each of its assets only when **every** step of that run ended
``success`` (a failed, skipped or interrupted step moves none of them), and only forward: a pointer that
names a later partition stays (a backfill of old dates never rewinds "current"); another run of the same
partition (a rerun under a new run_id) replaces it. The move is a compare-and-swap retried on top of the
new state (pointer_store.move), since the rule is a pure function of the current pointer, so parallel
partitions of a backfill never lose a move. ``_current`` cannot collide with an asset directory (assets
start with a letter).

The daily check reads them back (``state``): ``moved`` when every step's pointer names the partition's
run, ``superseded`` when they name a later partition, ``not_moved`` otherwise.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import manifest

SCHEMA_VERSION = "pipeline_current.v1"
CURRENT_DIR = "_current"


def pointer_path(asset):
    """``_current/<asset>.json`` relative to the manifest root."""
    manifest.require_name(asset, manifest.ASSET_PATTERN, "asset", "pipeline_steps")
    return "%s/%s.json" % (CURRENT_DIR, asset)


def document(asset, partition_key, partition, run_id, run_as_of_ts, manifest_uri, moved_at, execution_id=None, backfill_id=None,
             models=None):
    """The pointer's value: the run of ``partition`` whose manifests all show success."""
    return {"schema_version": SCHEMA_VERSION, "asset": asset, "partition": {"key": partition_key, "value": partition},
            "run_id": run_id, "run_as_of_ts": run_as_of_ts, "manifest": manifest_uri, "moved_at": moved_at,
            "execution_id": execution_id, "backfill_id": backfill_id, "models": list(models or [])}


def _partition_of(current):
    partition = (current or {}).get("partition")
    return partition.get("value") if isinstance(partition, dict) else None


def advance(proposed):
    """The update function of a move to ``proposed``: forward only, idempotent for the same run."""
    def update(current):
        if not current or current.get("schema_version") != SCHEMA_VERSION:
            return proposed
        if current.get("run_id") == proposed["run_id"] and _partition_of(current) == _partition_of(proposed):
            return current  # already there: keep its moved_at
        if (_partition_of(current) or "") > _partition_of(proposed):
            return current  # names a later partition: held
        return proposed
    return update


def state(partition, steps, pointers_by_asset):
    """Whether the current pointers moved to ``partition``'s run.

    ``steps``: the daily check's entries (``asset``, ``status``, ``run_id`` of the newest manifest);
    ``pointers_by_asset``: each asset's current pointer document or None. Returns ``{"state",
    "assets": {asset: {"state", "partition", "run_id"}}}`` with state ``moved``, ``superseded`` or
    ``not_moved`` per asset and overall (``moved`` only when every asset's is). ``superseded``: the
    partition's run succeeded and the pointer has since moved on to a later partition.
    """
    assets = {}
    for step in steps:
        pointer = pointers_by_asset.get(step["asset"])
        where = _partition_of(pointer)
        if pointer and where == partition and pointer.get("run_id") == step.get("run_id") and step.get("status") == "success":
            verdict = "moved"
        elif pointer and where and where > partition and step.get("status") == "success":
            verdict = "superseded"
        else:
            verdict = "not_moved"
        assets[step["asset"]] = {"state": verdict, "partition": where, "run_id": (pointer or {}).get("run_id")}
    verdicts = set(a["state"] for a in assets.values())
    if verdicts == {"moved"}:
        overall = "moved"
    elif verdicts and verdicts <= {"moved", "superseded"}:
        overall = "superseded"
    else:
        overall = "not_moved"
    return {"state": overall, "assets": assets}
