# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DR drill's own rules on the phase engine: which phases run, which are skipped and why, its run id, its summary.

Everything here is a pure function of the drill's inputs (and, for the run id and the summary, of the
phase receipts already in the receipt directory), so the plan can be tested exhaustively without
Ansible, AWS or a cluster, and the same inputs always give the same plan.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.signalcraft.ops.plugins.module_utils.core import phases as engine
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import objectives

DRILL_PHASES = ("bringup", "restore", "validate", "promote", "teardown")
SUMMARY_SCHEMA_VERSION = "dr_drill_summary.v1"
_RUN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _index(phase, option):
    if phase not in DRILL_PHASES:
        raise GuardError("invalid_plan", "%s=%r is not a phase; choose one of %s." % (option, phase, ", ".join(DRILL_PHASES)))
    return DRILL_PHASES.index(phase)


def is_full_drill(start_at, stop_after, teardown):
    """A release-proof drill: everything from bringup through teardown, runners torn down at the end."""
    return start_at == "bringup" and stop_after in (None, "", "teardown") and bool(teardown)


def plan(start_at=None, stop_after=None, validate_only=False, teardown=True, allow_full_drill=False,
         auto_promote=False, allow_promote_bypass=False):
    """The drill's phase plan.

    Returns ``{"start_at", "stop_after", "full_drill", "phases": [{"phase", "action", "reason"}]}`` where
    ``action`` is ``run`` or ``skip`` and ``reason`` says why a phase is skipped (``start_at=restore``,
    ``stop_after=validate``, ``teardown=false``). Raises GuardError (nothing has run yet) for a plan that
    contradicts itself, a full drill without ``allow_full_drill`` and ``auto_promote`` without
    ``allow_promote_bypass``.
    """
    if validate_only:
        if start_at not in (None, "", "validate") or stop_after not in (None, "", "validate"):
            raise GuardError("invalid_plan", "validate_only runs exactly the validate phase; drop start_at=%s/stop_after=%s or "
                                             "drop validate_only." % (start_at or "-", stop_after or "-"))
        start_at, stop_after = "validate", "validate"
    start_at = start_at or DRILL_PHASES[0]
    stop_after = stop_after or None
    first = _index(start_at, "start_at")
    last = _index(stop_after, "stop_after") if stop_after else len(DRILL_PHASES) - 1
    if first > last:
        raise GuardError("invalid_plan", "start_at=%s comes after stop_after=%s; nothing would run. Order: %s." % (
            start_at, stop_after, " -> ".join(DRILL_PHASES)))
    full = is_full_drill(start_at, stop_after, teardown)
    if full and not allow_full_drill:
        raise GuardError("full_drill_not_allowed",
                         "a full drill (start_at=bringup, no stop_after, teardown=true) is for release validation only; "
                         "set allow_full_drill=true (or ALLOW_FULL_DRILL=1), or iterate with stop_after=restore|validate "
                         "or validate_only=true.")
    if auto_promote and not allow_promote_bypass:
        raise GuardError("promote_bypass_not_allowed",
                         "auto_promote=true skips the manual approval gate; it is allowed only in rehearsals with "
                         "allow_promote_bypass=true. For a real promotion approve the gate (playbooks/dr_approve.yml).")
    phases = []
    for position, phase in enumerate(DRILL_PHASES):
        if position < first:
            action, reason = "skip", "start_at=%s" % start_at
        elif position > last:
            action, reason = "skip", "stop_after=%s" % stop_after
        elif phase == "teardown" and not teardown:
            action, reason = "skip", "teardown=false"
        else:
            action, reason = "run", None
        phases.append({"phase": phase, "action": action, "reason": reason})
    return {"start_at": start_at, "stop_after": stop_after, "full_drill": full, "phases": phases}


def runs(drill_plan, phase):
    """True when ``phase`` runs in ``drill_plan``."""
    return any(p["phase"] == phase and p["action"] == "run" for p in drill_plan["phases"])


def retry_budget(max_retries, max_attempts=None, no_retry=False):
    """Extra attempts a phase may make: ``no_retry`` -> 0; ``max_attempts`` caps attempts (retries + 1)."""
    if max_retries < 0 or (max_attempts is not None and max_attempts < 1):
        raise GuardError("invalid_plan", "max_attempts must be >= 1 and retries >= 0 (got max_attempts=%r, retries=%r)." % (
            max_attempts, max_retries))
    if no_retry:
        return 0
    if max_attempts is not None:
        return min(max_retries, max_attempts - 1)
    return max_retries


def validate_run_id(run_id):
    """Run ids name EC2 tags, Step Functions executions and Kubernetes Jobs: lowercase, digits, '-'."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise GuardError("run_id_invalid", "run_id %r must be 1-63 lowercase letters, digits or '-', starting with a letter "
                                           "or digit (it becomes an EC2 tag, a Job name and an execution name)." % (run_id,))
    return run_id


def resolve_run_id(given, recorded_ids, generated):
    """The drill's run id: the given one, else the one the receipt directory already records, else ``generated``.

    The phase engine's rule (core/phases.py), with the drill's id form (it names EC2 tags and Jobs).
    """
    return engine.resolve_execution_id(given, recorded_ids, generated, validate=validate_run_id, error=GuardError)


def new_run_id(now):
    """A new drill's run id, ``dr-<UTC timestamp>`` in the lowercase form an EC2 tag and a Job name take."""
    return "dr-%s" % now.strftime("%Y%m%dt%H%M%Sz")


def _flag(value):
    return boolean(value, strict=False) if value is not None else False


def rules(inputs, start_at=None, stop_after=None):
    """The drill's own planning rules, as data for the phase engine (runbook_plan policy=dr_drill).

    ``inputs`` are the drill's -e values (validate_only, teardown, allow_full_drill, auto_promote,
    allow_promote_bypass, max_attempts, no_retry, validate_max_retries). Returns the engine's
    ``start_at``/``stop_after`` (validate_only becomes validate..validate), ``skips`` (teardown=false)
    and ``facts`` the phases read (full_drill, validate_retries). Raises GuardError for the refusals
    of plan(): nothing has run yet.
    """
    inputs = inputs or {}
    validate_only = _flag(inputs.get("validate_only"))
    drill = plan(start_at, stop_after, validate_only, _flag(inputs.get("teardown", True)), _flag(inputs.get("allow_full_drill")),
                 _flag(inputs.get("auto_promote")), _flag(inputs.get("allow_promote_bypass")))
    max_attempts = int(inputs["max_attempts"]) if inputs.get("max_attempts") not in (None, "", 0, "0") else None
    retries = retry_budget(int(inputs.get("validate_max_retries", 2)), max_attempts, _flag(inputs.get("no_retry")))
    return {
        # The engine's default start is the first phase; naming it would contradict resume.
        "start_at": drill["start_at"] if (start_at or validate_only) else None,
        "stop_after": drill["stop_after"],
        "skips": {p["phase"]: p["reason"] for p in drill["phases"] if p["reason"] == "teardown=false"},
        "facts": {"full_drill": drill["full_drill"], "validate_retries": retries},
    }


def skipped_receipt_kept(phase_entry, existing_status):
    """Phases before ``start_at`` keep the receipt an earlier run wrote (it is that phase's truth);
    phases skipped for any other reason get a fresh ``skipped`` receipt."""
    return bool(existing_status) and phase_entry["action"] == "skip" and (phase_entry["reason"] or "").startswith("start_at=")


def summarize(run_id, phase_receipts, receipt_dir=None, inputs=None):
    """``drill.summary.json`` derived from the phase receipts only (never kept separately).

    ``phase_receipts`` maps phase -> receipt.v1 (missing phases count as ``not_recorded``). Status is
    ``failed`` when any phase failed, ``success`` when at least one phase succeeded and none failed,
    else ``skipped``. ``inputs`` are the inventory's targets (``rpo_target_minutes``, ``rto_target_minutes``):
    ``objectives`` holds the drill's recovery point and time (objectives.py) and a missed target is one of
    ``warnings`` (``[{"reason", "message"}]``), which the summary step reports as ``status=warn``.
    """
    rows, failed, succeeded = [], None, 0
    extra = sorted(p for p in phase_receipts if p not in DRILL_PHASES)
    for phase in list(extra) + list(DRILL_PHASES):
        receipt = phase_receipts.get(phase)
        if receipt is None:
            rows.append({"phase": phase, "status": "not_recorded", "skip_reason": None, "failure_code": None,
                         "message": None, "started_at": None, "finished_at": None, "duration_s": None, "execution_id": None})
            continue
        status = receipt["status"]
        if status == "failed" and failed is None:
            failed = phase
        if status == "success":
            succeeded += 1
        rows.append({"phase": phase, "status": status, "skip_reason": receipt.get("skip_reason"),
                     "failure_code": receipt.get("failure_code"), "message": receipt.get("message"),
                     "started_at": receipt.get("started_at"), "finished_at": receipt.get("finished_at"),
                     "duration_s": receipt.get("duration_s"), "execution_id": receipt.get("execution_id")})
    status = "failed" if failed else ("success" if succeeded else "skipped")
    outputs = {}
    for phase in DRILL_PHASES:
        receipt = phase_receipts.get(phase)
        if receipt and receipt["status"] == "success":
            outputs[phase] = receipt.get("outputs") or {}
    promote = outputs.get("promote", {})
    measured = objectives.objectives(phase_receipts, (inputs or {}).get("rpo_target_minutes"), (inputs or {}).get("rto_target_minutes"))
    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "run_id": run_id,
        "status": status,
        "failed_phase": failed,
        "failure_code": phase_receipts[failed].get("failure_code") if failed else None,
        "receipt_dir": receipt_dir,
        "phases": rows,
        "promotion": {"promoted": bool(promote.get("promoted")), "approval_mode": promote.get("approval_mode"),
                      "bypass": bool(promote.get("bypass")), "approver": promote.get("approver"), "ticket": promote.get("ticket")},
        "image_ref": (phase_receipts.get("validate") or {}).get("inputs", {}).get("image_ref"),
        "bundle": {k: (outputs.get("restore") or {}).get(k) for k in ("bundle_uri", "bundle_sha256")},
        "runner_count_after_teardown": (outputs.get("teardown") or {}).get("remaining"),
        "objectives": measured,
        "warnings": measured["targets"]["warnings"],
    }


def index_entry(summary):
    """``(key name, document)`` of the drill's entry in ``<receipt prefix>/index/dr_drill/``, or None before bringup ran.

    Why an index: dr_status.yml shows the last drills' recovery point and time side by side, and finding them by
    listing every execution's receipts would read the whole receipt prefix. The name starts with the drill's bringup
    start (else its first phase's; UTC, compact), so a listing is in drill order and the newest are the last keys.
    """
    rows = summary.get("phases") or []
    started = sorted(row["started_at"] for row in rows if row.get("started_at"))
    # Only drills that brought DR up (or tried to): a run refused by its guards, or the lock, measured nothing.
    if not started or not any(row["phase"] == "bringup" and row["status"] in ("success", "failed") for row in rows):
        return None
    finished = sorted(row["finished_at"] for row in rows if row.get("finished_at"))
    # Named by bringup's start, which later invocations of the run keep (the guards run again on each one).
    bringup = [row["started_at"] for row in rows if row["phase"] == "bringup" and row.get("started_at")]
    begun = objectives.parse_time((bringup or started)[0])
    measured = summary.get("objectives") or {}
    document = {
        "schema_version": "dr_drill_index.v1",
        "run_id": summary["run_id"],
        "status": summary["status"],
        "failed_phase": summary.get("failed_phase"),
        "promoted": bool((summary.get("promotion") or {}).get("promoted")),
        "started_at": (bringup or started)[0],
        "finished_at": finished[-1] if finished else None,
        "recovery_point": measured.get("recovery_point"),
        "recovery_time": measured.get("recovery_time"),
        "targets": {k: v for k, v in (measured.get("targets") or {}).items() if k != "warnings"},
        "warnings": [w.get("reason") for w in summary.get("warnings") or []],
    }
    return "%s-%s.json" % (begun.strftime("%Y%m%dT%H%M%SZ"), summary["run_id"]), document


# What the phase engine (runbook_plan policy=dr_drill, runbook_summary derive=dr_drill) asks of the drill.
ENGINE = {
    "index": index_entry,
    "rules": rules,
    "resolve_execution_id": resolve_run_id,
    "new_execution_id": new_run_id,
    "summarize": summarize,
    "id_field": "run_id",
}
