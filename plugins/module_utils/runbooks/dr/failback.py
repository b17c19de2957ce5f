# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failback: DR hands publishing back to the primary, behind gates that each stop everything.

The gates, in order (each one a phase of the runbook ``dr_failback`` with its receipt):

1. ``confirm``    two typed confirmations, ``FAILBACK`` and ``CONFIRM-<dr_run_id>`` (check_confirmations);
2. ``promoted``   the canonical pointer (``<prefix>/dr/canonical.json``, written by promote) names the DR run
                  (check_promoted); one that this failback already moved back passes as ``failed_back``;
3. ``freeze``     every CronJob of the DR namespace suspended (plan_freeze, the same patch as scheduling.py)
                  and no Job in flight (wait_for_jobs, with an injected clock);
4. ``divergence`` what DR published since its promotion against what the primary holds, by key and hash
                  (plan_divergence); the primary's copy of an immutable run object that differs, or a
                  pointer/``latest/`` object the primary rewrote itself since the promotion, is a conflict
                  unless ``allow_overwrite`` names it.

Then ``primary`` carries DR's publications over, moves the primary's pointers and the canonical pointer
back (compare-and-swap, pointers.py) and resumes the primary's CronJobs; ``teardown`` removes the DR runners.

Why a refusal after the freeze thaws DR again: until the canonical pointer moves back DR is the live side, and a
refused failback that left it frozen would leave no daily job running anywhere. The gates therefore resume
exactly the CronJobs this failback suspended before they refuse.

Where DR published: the canonical document's ``publish_prefix`` (promote records it). When it is the primary's
own prefix, DR published in place and there is nothing to carry over (``mode=shared``).

Everything named ``plan_*``/``check_*`` here is pure: the module reads, these decide.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import phases as dr_phases
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import layout
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_helpers

PHASES = ("confirm", "promoted", "freeze", "divergence", "primary", "teardown")
# The gates check (and freeze) before anything else changes; the engine runs them on every invocation.
GATES = ("confirm", "promoted", "freeze", "divergence")
SUMMARY_SCHEMA_VERSION = "dr_failback_summary.v1"
CANONICAL_SCHEMA_VERSION = "dr_canonical.v1"
CONFIRM1 = "FAILBACK"
TRANSITIONS_FILE = "state_transitions.log"
# What a publication is (layout.py): immutable runs, and the mutable pointers and latest/ copies publish moves.
IMMUTABLE_DIRS = (layout.RUNS,)
MUTABLE_DIRS = (layout.STATE, layout.LATEST)
_TARGET = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>.*)$")


# -- gate 1: confirmations ------------------------------------------------------------------------------------------

def expected_confirmations(dr_run_id):
    return CONFIRM1, "CONFIRM-%s" % dr_run_id


def check_confirmations(dr_run_id, confirm1, confirm2):
    """Both typed confirmations, exactly. GuardError ``confirmation_missing`` naming the -e variable otherwise."""
    dr_phases.validate_run_id(dr_run_id)
    first, second = expected_confirmations(dr_run_id)
    for given, expected, name in ((confirm1, first, "confirm1"), (confirm2, second, "confirm2")):
        if given is None or str(given) != expected:
            raise GuardError("confirmation_missing", "-e %s must be exactly %r to fail back DR run %s (got %s); nothing was done." % (
                name, expected, dr_run_id, "nothing" if not given else repr(str(given))), details={"line": [("confirmation", name)]})
    return {"confirm1": True, "confirm2": True}


# -- gate 2: promoted -----------------------------------------------------------------------------------------------

def check_promoted(document, dr_run_id, pointer_uri):
    """``promoted`` when the canonical document names ``dr_run_id`` as canonical DR, ``failed_back`` when this
    failback already moved it back from that run (a rerun); else GuardError ``not_promoted``."""
    if document is None:
        raise GuardError("not_promoted", "%s does not exist: DR run %s was never promoted, so there is nothing to fail back; "
                                         "check -e dr_run_id (and -e prefix)." % (pointer_uri, dr_run_id))
    if document.get("canonical") == "dr" and document.get("run_id") == dr_run_id:
        return "promoted"
    if document.get("canonical") == "primary" and (document.get("failed_back_from") or {}).get("run_id") == dr_run_id:
        return "failed_back"
    raise GuardError("not_promoted", "%s names %s run %s, not DR run %s as canonical; fail back the run it names (-e dr_run_id) "
                                     "or nothing." % (pointer_uri, document.get("canonical") or "no", document.get("run_id") or "-", dr_run_id),
                     details={"canonical": {k: document.get(k) for k in ("canonical", "run_id", "promoted_at")}})


def failback_document(promoted, prefix, failed_back_at):
    """The canonical pointer's value after failback: the primary canonical, and from which DR run it came back."""
    return {
        "schema_version": CANONICAL_SCHEMA_VERSION,
        "canonical": "primary",
        "run_id": None,
        "publish_prefix": prefix,
        "failed_back_from": {k: promoted.get(k) for k in ("run_id", "promoted_at", "publish_prefix", "image_ref")},
        "failed_back_at": failed_back_at,
    }


# -- gate 3: freeze -------------------------------------------------------------------------------------------------

def plan_freeze(cronjobs):
    """``{"freeze": [running], "suspended": [already]}`` by name, from the namespace's CronJob objects."""
    plan = {"freeze": [], "suspended": []}
    for cronjob in sorted(cronjobs, key=lambda c: c["metadata"]["name"]):
        suspended = bool((cronjob.get("spec") or {}).get("suspend"))
        plan["suspended" if suspended else "freeze"].append(cronjob["metadata"]["name"])
    return plan


def job_in_flight(job):
    """A Job neither Complete nor Failed (the Job controller's terminal conditions) is still running or about to."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and str(condition.get("status")) == "True":
            return False
    return True


def wait_for_jobs(list_jobs, timeout, poll, clock, sleep):
    """Poll ``list_jobs()`` (Job dicts) until none is in flight or ``timeout`` seconds passed on ``clock``.

    Returns ``{"in_flight": [names still running], "waited_s", "polls"}``; the caller refuses a non-empty list.
    ``clock``/``sleep`` are injected so the wait is tested without time passing.
    """
    start = clock()
    polls = 0
    while True:
        polls += 1
        running = sorted(j["metadata"]["name"] for j in list_jobs() if job_in_flight(j))
        waited = clock() - start
        if not running or waited >= timeout:
            return {"in_flight": running, "waited_s": round(waited, 3), "polls": polls}
        sleep(min(poll, max(0.0, timeout - waited)))


# -- gate 4: divergence ---------------------------------------------------------------------------------------------

def relative(key, prefix):
    """``key`` relative to ``prefix`` (``<prefix>/`` stripped)."""
    base = (prefix.strip("/") + "/") if prefix else ""
    return key[len(base):] if key.startswith(base) else None


def is_publication(rel):
    return rel is not None and rel.split("/", 1)[0] in IMMUTABLE_DIRS + MUTABLE_DIRS and not rel.endswith("/")


def is_pointer(rel):
    return rel.split("/", 1)[0] == layout.STATE and rel.endswith("/" + layout.POINTER_NAME)


def in_scope(rel, provider=None, profile=None):
    """Whether a publication belongs to the provider/profile failback carries (every pair when none is given).

    Runs hold every pair and the run pointer (``state/last_success.json``) is the run's, so both are always in scope.
    """
    parts = rel.split("/")
    if not (provider and profile) or parts[0] == layout.RUNS or rel == layout.join(layout.STATE, layout.POINTER_NAME):
        return True
    return parts[1:3] == [provider, profile]


def published_since(listing, dr_prefix, promoted_at):
    """The keys (relative to ``dr_prefix``) of DR's publications written at or after ``promoted_at``.

    ``listing`` are ListObjectsV2 entries (Key, LastModified as datetime). S3 keeps LastModified to the second,
    so the promotion time is compared at that precision.
    """
    since = promoted_at.replace(microsecond=0)
    found = []
    for item in listing:
        rel = relative(item["Key"], dr_prefix)
        if is_publication(rel) and item["LastModified"] >= since:
            found.append(rel)
    return sorted(found)


def rebase_pointer(document, bucket, dr_prefix, prefix):
    """DR's pointer document with its target moved from DR's prefix to the primary's (same run, same relative path)."""
    rebased = dict(document)
    match = _TARGET.match(document.get("target") or "")
    if match and match.group("bucket") == bucket:
        rel = relative(match.group("key"), dr_prefix)
        if rel is not None:
            rebased["target"] = "s3://%s/%s%s" % (bucket, (prefix.strip("/") + "/") if prefix else "", rel)
    return rebased


def _same(dr, primary):
    """How the primary's object (a head_checksum result) is known to hold DR's bytes (s3.same_content), or None."""
    source = s3_helpers.SourceObject(dr["rel"], dr["key"], dr["sha256"], dr["size"], source_bucket="dr", source_key=dr["key"],
                                     source_etag=dr.get("etag"))
    return s3_helpers.same_content(source, primary)


def plan_divergence(dr_objects, primary_heads, promoted_at, allow_overwrite=(), dr_pointers=None):
    """What failback would do to the primary's publications, and what it must refuse. Pure.

    ``dr_objects``: ``{rel: {"rel", "key", "sha256", "size", "etag"}}`` DR published since ``promoted_at`` (a datetime).
    ``primary_heads``: ``{rel: head_checksum result + "last_modified" (datetime) or None}`` at the primary's prefix.
    ``dr_pointers``: ``{rel: desired pointer document}`` for the pointers among ``dr_objects`` (rebased to the primary).

    Per key: absent on the primary -> ``copy``; same bytes -> ``same``; else for an immutable run object ``conflict``
    (the primary holds another object there), for a pointer or ``latest/`` object ``replace`` unless the primary
    rewrote it itself since the promotion (a split-brain publish) -> ``conflict``. A conflict the operator names in
    ``allow_overwrite`` becomes ``overwrite``. Returns the lists by action, ``unused_allow`` (named, not in conflict).
    """
    since = promoted_at.replace(microsecond=0)
    allow = set(a.strip("/") for a in allow_overwrite or ())
    plan = {"copy": [], "same": [], "replace": [], "overwrite": [], "conflict": [], "details": {}}
    for rel in sorted(dr_objects):
        dr, primary = dr_objects[rel], primary_heads.get(rel)
        if primary is None:
            action = "copy"
        elif (dr_pointers or {}).get(rel) is not None and primary.get("document") == dr_pointers[rel]:
            action = "same"
        elif (dr_pointers or {}).get(rel) is None and _same(dr, primary):
            action = "same"
        elif rel.split("/", 1)[0] in MUTABLE_DIRS and not (primary.get("last_modified") and primary["last_modified"] >= since):
            action = "replace"
        else:
            action = "overwrite" if rel in allow else "conflict"
        plan[action].append(rel)
        if primary is not None and action != "same":
            plan["details"][rel] = {"dr_sha256": dr.get("sha256"), "dr_size": dr.get("size"), "primary_sha256": primary.get("sha256"),
                                    "primary_size": primary.get("size"), "primary_etag": primary.get("etag"),
                                    "primary_last_modified": _iso(primary.get("last_modified"))}
    plan["unused_allow"] = sorted(allow - set(plan["overwrite"]))
    return plan


def latest_pair_dir(rel):
    """``latest/<provider>/<profile>/`` of a ``latest/`` publication, else None."""
    parts = rel.split("/")
    return "/".join(parts[:3]) + "/" if parts[0] == layout.LATEST and len(parts) > 3 else None


def plan_stale_latest(published, dr_rels, primary_items, promoted_at, allow_overwrite=()):
    """The primary's ``latest/`` keys that DR's ``latest/`` no longer has, for the pairs DR published since the promotion. Pure.

    Publish replaces a pair's ``latest/`` and deletes what the new run does not have (run_publish); carrying DR's
    ``latest/`` over must leave the primary's the same, or readers of the primary's ``latest/`` would see files of the
    run before the disaster beside DR's. ``published``: DR's rels written since the promotion; ``dr_rels``: every rel
    DR's prefix holds; ``primary_items``: ``{rel: LastModified}`` of the primary's ``latest/`` keys. A stale key the
    primary rewrote itself since the promotion is a conflict (a split-brain publish) unless ``allow_overwrite`` names
    it. Returns ``{"delete": [...], "conflict": [...]}``.
    """
    since = promoted_at.replace(microsecond=0)
    allow = set(a.strip("/") for a in allow_overwrite or ())
    pairs = set(d for d in (latest_pair_dir(rel) for rel in published) if d)
    keep = set(dr_rels)
    plan = {"delete": [], "conflict": []}
    for rel in sorted(primary_items):
        if latest_pair_dir(rel) not in pairs or rel in keep:
            continue
        rewritten = primary_items[rel] is not None and primary_items[rel] >= since
        plan["conflict" if rewritten and rel not in allow else "delete"].append(rel)
    return plan


def _iso(moment):
    return receipts.format_timestamp(moment) if moment is not None else None


def divergence_error(plan, bucket, prefix):
    """The refusal for a plan with conflicts (None when there is none)."""
    if not plan["conflict"]:
        return None
    keys = plan["conflict"]
    return OpsError("failback_divergence", "the primary (s3://%s/%s/) holds %d object(s) that DR's publications since the promotion "
                                           "would overwrite with other content: %s; reconcile them, or pass -e allow_overwrite='[%s]' "
                                           "to let DR's copy win. Nothing was changed." % (
                                               bucket, prefix, len(keys), ", ".join(keys[:10]), ", ".join('"%s"' % k for k in keys[:10])),
                    details={"line": [("conflicts", len(keys)), ("first", keys[0])]})


# -- the runbook on the phase engine --------------------------------------------------------------------------------

def _flag(value, default=False):
    return boolean(value, strict=False) if value not in (None, "") else default


def rules(inputs, start_at=None, stop_after=None):
    """Failback's planning rules (runbook_plan policy=dr_failback): teardown=false leaves teardown out; the dry run is a fact."""
    inputs = inputs or {}
    skips = {} if _flag(inputs.get("teardown"), True) else {"teardown": "teardown=false"}
    return {"start_at": start_at, "stop_after": stop_after, "skips": skips, "facts": {"dry_run": _flag(inputs.get("dry_run"))}}


def new_execution_id(now):
    """``failback-<UTC timestamp>``, lowercase like the drill's run ids."""
    return "failback-%s" % now.strftime("%Y%m%dt%H%M%Sz")


def _outputs(receipt):
    return (receipt or {}).get("outputs") or {}


def summarize(execution_id, phase_receipts, receipt_dir=None, inputs=None):
    """``failback.summary.json``, derived from the phase receipts only."""
    rows, failed = [], None
    for phase in PHASES:
        receipt = phase_receipts.get(phase)
        if receipt is None:
            rows.append({"phase": phase, "status": "not_recorded", "gate": phase in GATES})
            continue
        if receipt["status"] == "failed" and failed is None:
            failed = phase
        rows.append({"phase": phase, "gate": phase in GATES, "status": receipt["status"], "skip_reason": receipt.get("skip_reason"),
                     "failure_code": receipt.get("failure_code"), "message": receipt.get("message"),
                     "started_at": receipt.get("started_at"), "finished_at": receipt.get("finished_at")})
    statuses = [r["status"] for r in rows]
    status = "failed" if failed else ("success" if "success" in statuses else "skipped")
    recorded = [r for r in phase_receipts.values() if r]
    dry_run = any(_outputs(r).get("dry_run") for r in recorded)
    freeze, divergence, primary = (_outputs(phase_receipts.get(p)) for p in ("freeze", "divergence", "primary"))
    teardown = _outputs(phase_receipts.get("teardown"))
    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "execution_id": execution_id,
        "dr_run_id": next((r.get("inputs", {}).get("dr_run_id") for r in recorded if r.get("inputs", {}).get("dr_run_id")), None),
        "status": status,
        "dry_run": dry_run,
        "failed_phase": failed,
        "failure_code": phase_receipts[failed].get("failure_code") if failed else None,
        "receipt_dir": receipt_dir,
        "phases": rows,
        "freeze": {k: freeze.get(k) for k in ("frozen", "would_freeze", "already_suspended", "in_flight", "waited_s", "thawed")},
        "divergence": {k: divergence.get(k) for k in ("mode", "copy", "replace", "overwrite", "conflict", "same")},
        "pointers": {"canonical_before": primary.get("canonical_before"), "canonical_after": primary.get("canonical_after"),
                     "primary_pointers": primary.get("pointers")},
        "primary_scheduling": primary.get("resumed"),
        "runner_count_after_teardown": teardown.get("remaining"),
        "warnings": [],
    }


def transitions(phase_receipts):
    """``state_transitions.log``: one line per gate/phase (start and end, in UTC) and per state it moved. Pure."""
    lines = []
    for phase in PHASES:
        receipt = phase_receipts.get(phase)
        if receipt is None:
            continue
        out = receipt.get("outputs") or {}
        if receipt["status"] == "skipped":
            when = receipt.get("finished_at") or receipt.get("started_at")
            lines.append("%s %s skipped reason=%s" % (when, phase, (receipt.get("skip_reason") or "-").replace(" ", "_")))
            continue
        lines.append("%s %s started" % (receipt.get("started_at"), phase))
        for name, before, after in out.get("transitions") or ():
            lines.append("%s %s transition %s: %s -> %s" % (receipt.get("finished_at"), phase, name, before, after))
        end = receipt["status"] if receipt["status"] != "failed" else "failed reason=%s" % receipt.get("failure_code")
        lines.append("%s %s %s%s" % (receipt.get("finished_at"), phase, end, " dry_run=true" if out.get("dry_run") else ""))
    return "\n".join(lines) + ("\n" if lines else "")


# What the phase engine (runbook_plan policy=dr_failback, runbook_summary derive=dr_failback) asks of failback.
ENGINE = {
    "rules": rules,
    "new_execution_id": new_execution_id,
    "summarize": summarize,
    "files": lambda phase_receipts: {TRANSITIONS_FILE: transitions(phase_receipts)},
    "id_field": "execution_id",
}
