# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The phase engine's planning and summary, as pure functions of inputs and receipts.

Every multi-step runbook (daily, the drill, failback, backfills) is ``plan -> guards -> phases, each
receipted -> summary``. What runs is decided here, from the ordered phase list and the operator's
``start_at`` / ``stop_after`` / ``resume``, and from the receipts already in the execution's receipt
directory, so a crash is recovered by running again: ``resume`` skips every phase whose receipt
says ``success`` and hands its recorded outputs to the phases after it. Nothing here does I/O
beyond reading receipts, so the rules are unit-tested exhaustively.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError

SUMMARY_SCHEMA_VERSION = "runbook_summary.v1"


class PlanError(OpsError):
    """The plan contradicts itself or names an unknown phase; nothing has run."""


def _index(phases, name, option):
    if name not in phases:
        raise PlanError("phase_unknown", "%s=%r is not a phase of this runbook; choose one of %s." % (
            option, name, ", ".join(phases)))
    return phases.index(name)


def plan(phases, start_at=None, stop_after=None, resume=False, existing=None, check_mode_skips=None, check_mode=False):
    """Which phases run and why the others are skipped.

    ``phases`` is the runbook's ordered phase list. ``existing`` maps phase -> status of receipts
    already in the execution's directory (for ``resume``). ``check_mode_skips`` maps phase -> why it
    cannot be planned in check mode (a later phase needs the run an earlier one would start).

    Returns ``[{"phase", "action": run|skip, "reason", "keep_receipt"}]``. ``keep_receipt`` marks a
    phase skipped because its earlier receipt already records it: that receipt is left as it is.
    """
    phases = list(phases)
    if not phases:
        raise PlanError("plan_invalid", "the runbook declares no phases.")
    if len(set(phases)) != len(phases):
        raise PlanError("plan_invalid", "phase names repeat: %s." % ", ".join(phases))
    existing = existing or {}
    first = _index(phases, start_at, "start_at") if start_at else 0
    last = _index(phases, stop_after, "stop_after") if stop_after else len(phases) - 1
    if first > last:
        raise PlanError("phase_order_invalid", "start_at=%s comes after stop_after=%s; nothing would run. Order: %s." % (
            start_at, stop_after, " -> ".join(phases)))
    if resume and start_at:
        raise PlanError("plan_invalid", "resume and start_at both choose where to start; pass one of them.")
    entries = []
    resuming = bool(resume)
    for position, name in enumerate(phases):
        entry = {"phase": name, "action": "run", "reason": None, "keep_receipt": False}
        if position < first:
            entry.update(action="skip", reason="start_at=%s" % start_at, keep_receipt=True)
        elif position > last:
            entry.update(action="skip", reason="stop_after=%s" % stop_after)
        elif resuming and existing.get(name) == "success":
            entry.update(action="skip", reason="resume: done in %s.json" % name, keep_receipt=True)
        else:
            resuming = False
            if check_mode and name in (check_mode_skips or {}):
                entry.update(action="skip", reason="check mode: %s" % check_mode_skips[name])
        entries.append(entry)
    if not any(e["action"] == "run" for e in entries):
        raise PlanError("nothing_to_run", "every phase is already done (resume) or outside start_at/stop_after; "
                                          "pass a new execution id to run again.")
    return entries


def read_receipts(receipt_dir, phases):
    """``{phase: receipt}`` for the phases that have a receipt file in ``receipt_dir``."""
    found = {}
    for name in phases:
        path = os.path.join(receipt_dir, "%s.json" % name)
        if os.path.isfile(path):
            with open(path) as handle:
                try:
                    found[name] = json.load(handle)
                except ValueError:
                    continue
    return found


def summarize(runbook, execution_id, phases, receipts_by_phase, receipt_dir=None, outcomes=None):
    """The run's summary, derived from its phase receipts (never kept separately).

    ``outcomes`` (phase -> {status, reason}) stands in for receipts that were not written, which
    is the case in check mode only.
    """
    entries, failed, durations = [], None, 0.0
    for name in phases:
        receipt = receipts_by_phase.get(name)
        if receipt is None:
            outcome = (outcomes or {}).get(name) or {}
            status = outcome.get("status") or "missing"
            entries.append({"phase": name, "status": status, "reason": outcome.get("reason"), "duration_s": 0, "changed": False})
            if status == "failed" and failed is None:
                failed = {"phase": name, "reason": outcome.get("reason")}
            continue
        reason = receipt.get("failure_code") or receipt.get("skip_reason")
        entries.append({"phase": name, "status": receipt["status"], "reason": reason,
                        "duration_s": receipt.get("duration_s", 0), "changed": bool(receipt.get("changed")),
                        "attempts": receipt.get("attempts", 0), "started_at": receipt.get("started_at"),
                        "finished_at": receipt.get("finished_at")})
        durations += float(receipt.get("duration_s") or 0)
        if receipt["status"] == "failed" and failed is None:
            # The registered token the engine saw (task_failed) over the receipt's more specific code
            # (a run's FORCED_FAILURE), which stays in the phase entry.
            seen = ((outcomes or {}).get(name) or {}).get("reason")
            failed = {"phase": name, "reason": seen or receipt.get("failure_code")}
    status = "fail" if failed else "ok"
    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "runbook": runbook,
        "execution_id": execution_id,
        "status": status,
        "failed_phase": failed["phase"] if failed else None,
        "reason": failed["reason"] if failed else None,
        "phases": entries,
        "ran": [e["phase"] for e in entries if e["status"] in ("success", "failed")],
        "skipped": [e["phase"] for e in entries if e["status"] == "skipped"],
        "duration_s": round(durations, 3),
        "receipt_dir": receipt_dir,
    }
