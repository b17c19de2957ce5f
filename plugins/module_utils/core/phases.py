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

import glob
import json
import os

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError

SUMMARY_SCHEMA_VERSION = "runbook_summary.v1"


class PlanError(OpsError):
    """The plan contradicts itself or names an unknown phase; nothing has run."""


def _index(phases, name, option):
    if name not in phases:
        raise PlanError("phase_unknown", "%s=%r is not a phase of this runbook; choose one of %s." % (
            option, name, ", ".join(phases)))
    return phases.index(name)


def plan(phases, start_at=None, stop_after=None, resume=False, existing=None, check_mode_skips=None, check_mode=False,
         skips=None, guards=None):
    """Which phases run and why the others are skipped.

    ``phases`` is the runbook's ordered phase list. ``existing`` maps phase -> status of receipts
    already in the execution's directory (for ``resume``). ``check_mode_skips`` maps phase -> why it
    cannot be planned in check mode (a later phase needs the run an earlier one would start).
    ``skips`` maps phase -> why the runbook's own inputs leave it out (``teardown=false``): it is
    skipped wherever it falls in the range. ``guards`` are phases that check before anything changes:
    they run whenever another phase runs (also on resume and after start_at), are no target of
    start_at/stop_after, and are skipped when nothing else runs.

    Returns ``[{"phase", "action": run|skip, "reason", "keep_receipt", "guard"}]``. ``keep_receipt``
    marks a phase skipped because its earlier receipt already records it: that receipt is left as it is.
    """
    phases = list(phases)
    if not phases:
        raise PlanError("plan_invalid", "the runbook declares no phases.")
    if len(set(phases)) != len(phases):
        raise PlanError("plan_invalid", "phase names repeat: %s." % ", ".join(phases))
    guards = set(guards or ())
    skips = dict(skips or {})
    unknown = sorted((guards | set(skips)) - set(phases))
    if unknown:
        raise PlanError("plan_invalid", "guards or skips name phases the runbook does not have: %s." % ", ".join(unknown))
    # start_at/stop_after count only the phases that do the work; the guards run around them.
    ordered = [name for name in phases if name not in guards]
    if not ordered:
        raise PlanError("plan_invalid", "every phase is a guard; the runbook declares nothing to run.")
    existing = existing or {}
    first = _index(ordered, start_at, "start_at") if start_at else 0
    last = _index(ordered, stop_after, "stop_after") if stop_after else len(ordered) - 1
    if first > last:
        raise PlanError("phase_order_invalid", "start_at=%s comes after stop_after=%s; nothing would run. Order: %s." % (
            start_at, stop_after, " -> ".join(ordered)))
    if resume and start_at:
        raise PlanError("plan_invalid", "resume and start_at both choose where to start; pass one of them.")
    entries = {}
    resuming = bool(resume)
    for position, name in enumerate(ordered):
        entry = {"phase": name, "action": "run", "reason": None, "keep_receipt": False, "guard": False}
        if position < first:
            entry.update(action="skip", reason="start_at=%s" % start_at, keep_receipt=True)
        elif position > last:
            entry.update(action="skip", reason="stop_after=%s" % stop_after)
        elif resuming and existing.get(name) == "success":
            entry.update(action="skip", reason="resume: done in %s.json" % name, keep_receipt=True)
        else:
            resuming = False
            if name in skips:
                entry.update(action="skip", reason=skips[name])
            elif check_mode and name in (check_mode_skips or {}):
                entry.update(action="skip", reason="check mode: %s" % check_mode_skips[name])
        entries[name] = entry
    if not any(e["action"] == "run" for e in entries.values()):
        raise PlanError("nothing_to_run", "every phase is already done (resume), left out by the runbook's inputs or outside "
                                          "start_at/stop_after; pass a new execution id to run again.")
    for name in guards:
        entries[name] = {"phase": name, "action": "run", "reason": None, "keep_receipt": False, "guard": True}
    return [entries[name] for name in phases]


def resolve_execution_id(given, recorded_ids, generated, validate=None, error=PlanError):
    """The execution id: the given one, else the one the receipt directory already records, else ``generated``.

    ``recorded_ids`` are the execution ids of the receipts already in the receipt directory: a
    directory belongs to one execution, so a given id that differs from them is refused
    (``run_id_mismatch``), as are receipts of several executions. ``validate`` checks the id's form
    (a runbook whose id becomes a tag or a Job name). Returns ``(id, "given"|"receipt_dir"|"generated")``.
    """
    validate = validate or (lambda value: value)
    recorded = sorted(set(i for i in recorded_ids if i))
    if len(recorded) > 1:
        raise error("run_id_mismatch", "the receipt directory holds receipts of several runs (%s); use one receipt_dir "
                                       "per run." % ", ".join(recorded))
    if given:
        validate(given)
        if recorded and recorded[0] != given:
            raise error("run_id_mismatch", "run_id %s differs from %s recorded in receipt_dir; drop -e run_id to continue "
                                           "that run or use a new -e receipt_dir." % (given, recorded[0]))
        return given, "given"
    if recorded:
        return validate(recorded[0]), "receipt_dir"
    return validate(generated), "generated"


def read_receipts(receipt_dir, phases=None, strict=False):
    """``{phase: receipt}`` of the receipts in ``receipt_dir``.

    With ``phases``, the files ``<phase>.json`` of those phases (an unreadable one is left out); without,
    every ``*.json`` that is a receipt, keyed by its own ``phase``. ``strict`` raises ``receipt_invalid``
    for a file that does not parse instead of leaving it out (a summary must not hide a broken receipt).
    """
    if phases is None:
        paths = sorted(glob.glob(os.path.join(receipt_dir or "", "*.json")))
    else:
        paths = [os.path.join(receipt_dir or "", "%s.json" % name) for name in phases]
    found = {}
    for path in paths:
        if not os.path.isfile(path):
            continue
        try:
            if strict:
                # Schema-checked: a summary derived from a malformed receipt would misreport the run.
                document = receipts.load(path)
            else:
                with open(path) as handle:
                    document = json.load(handle)
        except (OSError, ValueError) as exc:
            if strict:
                raise OpsError("receipt_invalid", "the receipt %s cannot be read: %s; fix or remove it, or use a new "
                                                  "-e receipt_dir." % (path, exc))
            continue
        if isinstance(document, dict) and document.get("phase"):
            found[document["phase"] if phases is None else os.path.basename(path)[:-5]] = document
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
