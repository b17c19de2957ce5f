# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs inspection: find a candidate's runs in S3 and explain a failed one (the failure playbook).

A run lives under ``<prefix>/runs/<run_id>/`` once published and under ``<prefix>/outbox/<run_id>/``
where the ECS task wrote it. Runs are not keyed by candidate in S3: ``run_summary.v1.json`` carries
``candidate_id``, so "a candidate's runs" means the runs whose summary names that candidate. Runs are
ordered by time, never as strings: by the UTC start time a run id begins with (``YYYYMMDDTHHMMSSZ``),
else (``manual-1``) by ``started_at`` in the run's summary.

The failure playbook, in the order an operator checks it:

1. ``run_health.v1.json``: ``status``, ``failed_stage``, ``failure_codes``; ``run_summary.v1.json``:
   ``status`` and ``run_health.path``.
2. ``artifacts/provider_availability_v1.json`` (emitted once per finalized run, success or not):
   each provider is a *policy block* (``policy_snapshot``/``snapshot_disabled``: a config/ops
   decision), a *network issue* (``unavailable``, ``timeout``, fetch errors: infra/connectivity), a
   *config disable* (``enabled: false``, listed with ``reason_code: not_enabled``) or, after a
   failure at startup/scrape/classify, *fail-closed* (``early_failure_unknown``: the providers were
   never consulted, so nothing is known about them).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import layout
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_helpers
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import error_code

SUMMARY_FILE = layout.RUN_SUMMARY
HEALTH_FILE = layout.RUN_HEALTH
AVAILABILITY_FILE = layout.PROVIDER_AVAILABILITY
REQUIRED_FILES = (SUMMARY_FILE, HEALTH_FILE, AVAILABILITY_FILE)
SOURCE_DIRS = layout.SOURCE_DIRS  # published runs win over the outbox copy
SOURCES = tuple(name for name, _dir in SOURCE_DIRS)
STAGES = ("startup", "scrape", "classify", "score", "publish")
EARLY_STAGES = ("startup", "scrape", "classify")
OUTPUT_TEMPLATES = ("ranked_jobs.{provider}.{profile}.json", "ranked_jobs.{provider}.{profile}.csv",
                    "shortlist.{provider}.{profile}.md")

# Provider categories (section 4 of the failure playbook).
AVAILABLE = "available"
POLICY_BLOCK = "policy_block"
NETWORK_ISSUE = "network_issue"
CONFIG_DISABLE = "config_disable"
EARLY_FAILURE = "early_failure"
UNKNOWN = "unknown"
CATEGORIES = (AVAILABLE, POLICY_BLOCK, NETWORK_ISSUE, CONFIG_DISABLE, EARLY_FAILURE, UNKNOWN)

NOT_ENABLED = "not_enabled"
POLICY_REASON_CODES = ("policy_snapshot", "snapshot_disabled")
NETWORK_REASON_CODES = ("unavailable", "timeout", "network")
# "fetch errors" come with varying codes (fetch_failed, http_fetch_error, connect_timeout...).
_NETWORK_WORDS = re.compile(r"(^|_)(fetch|timeout|timed|network|connect|connection|dns|tls|http)(_|$)")
EARLY_FAILURE_PREFIX = "early_failure"

_CATEGORY_TEXT = {
    AVAILABLE: ("provider answered", None),
    POLICY_BLOCK: ("policy block: the provider's snapshot policy kept it out of this run", "config/ops decision"),
    NETWORK_ISSUE: ("network issue: fetching from the provider failed", "infra/connectivity"),
    CONFIG_DISABLE: ("config disable: the provider is enabled: false in config", "config"),
    EARLY_FAILURE: ("fail-closed: the run failed before providers were consulted; their state is unknown",
                    "the failed stage"),
    UNKNOWN: ("not covered by the failure playbook", "investigate"),
}

# Failure codes (section 3 of the failure playbook).
FAILURE_CODES = {
    "FORCED_FAILURE": "dev harness forced a failure (JOBINTEL_FORCE_FAIL_STAGE)",
    "SNAPSHOT_FETCH_FAILED": "snapshot missing or parse failed",
    "policy_snapshot": "provider disabled by policy snapshot (config/ops decision)",
    "snapshot_disabled": "provider snapshot disabled (config/ops decision)",
    "unavailable": "provider fetch failed (live mode): infra/connectivity",
    "network": "provider fetch failed (live mode): infra/connectivity",
    "timeout": "provider fetch timed out: infra/connectivity",
    "early_failure_unknown": "run failed before providers were consulted",
}

_CANDIDATE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_MISSING_CODES = s3_helpers.ALREADY_GONE
_DENIED_CODES = s3_helpers.DENIED


class RunsError(OpsError):
    """Inspection could not proceed. ``reason`` is a registered token, the message names input and fix."""

    def __init__(self, reason, message, details=None):
        super(RunsError, self).__init__(reason, message, details=details)


# ---------------------------------------------------------------------------------------------
# Classification (pure)
# ---------------------------------------------------------------------------------------------

def validate_run_id(run_id):
    """A run id is one path component of the run layout; refuse anything that could escape it."""
    if not layout.valid_run_id(run_id):
        raise RunsError("run_id_invalid", "run_id %r is not a run id (letters, digits, '_', '.', ':', '-'; "
                                          "no '/'), e.g. 20260101T060000Z." % (run_id,))
    return run_id


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def summary_time(summary):
    """The run's own start (else finish) time from its ``run_summary.v1.json``, or None."""
    for field in ("started_at", "finished_at"):
        text = (summary or {}).get(field)
        if isinstance(text, str) and text:
            try:
                moment = datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
            except ValueError:
                continue
            return (moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)).astimezone(datetime.timezone.utc)
    return None


def validate_candidate_id(candidate_id):
    if candidate_id is None:
        return None
    if not isinstance(candidate_id, str) or not _CANDIDATE_ID.match(candidate_id):
        raise RunsError("invalid_candidate_id", "candidate_id %r is not a candidate id (letters, digits, '_', '.', '-'), "
                                                "e.g. local." % (candidate_id,))
    return candidate_id


def is_network_reason(reason_code):
    return reason_code in NETWORK_REASON_CODES or bool(_NETWORK_WORDS.search(str(reason_code).lower()))


def classify_provider(entry, failed_stage=None):
    """Classify one ``provider_availability.v1`` row as the failure playbook's section 4 does.

    Returns the row's fields plus ``category`` (one of CATEGORIES), ``meaning``, ``owner`` (who acts:
    config/ops, infra/connectivity, config), ``fail_closed`` and a one-line ``detail``. Rows the
    playbook does not cover are ``unknown``, never ``available``.
    """
    if not isinstance(entry, dict) or not entry.get("provider"):
        provider = entry.get("provider") if isinstance(entry, dict) else None
        return _classified(entry if isinstance(entry, dict) else {}, provider, UNKNOWN, False,
                           "malformed provider_availability entry %s" % json.dumps(entry, sort_keys=True, default=str))
    provider = entry["provider"]
    enabled = entry.get("enabled")
    availability = entry.get("availability")
    reason = entry.get("reason_code")
    if enabled is False or reason == NOT_ENABLED:
        detail = "%s is disabled in config (reason_code %s)" % (provider, reason or "none")
        if enabled is not False:
            detail += "; the row says enabled=%s but reports not_enabled" % json.dumps(enabled)
        return _classified(entry, provider, CONFIG_DISABLE, False, detail)
    if isinstance(reason, str) and reason.startswith(EARLY_FAILURE_PREFIX):
        stage = failed_stage or "an early stage"
        return _classified(entry, provider, EARLY_FAILURE, True,
                           "%s: %s after the run failed at %s; fix that stage first, then re-run to learn the "
                           "provider's state" % (provider, reason, stage))
    if availability == "available":
        detail = "%s available" % provider
        if reason:
            detail += " (ignoring reason_code %s on an available provider)" % reason
        return _classified(entry, provider, AVAILABLE, False, detail)
    if reason in POLICY_REASON_CODES:
        return _classified(entry, provider, POLICY_BLOCK, False,
                           "%s blocked by policy (%s): a config/ops decision, not an outage" % (provider, reason))
    if reason and is_network_reason(reason):
        return _classified(entry, provider, NETWORK_ISSUE, False,
                           "%s fetch failed (%s): check connectivity to the provider" % (provider, reason))
    if availability == "unavailable" and not reason:
        return _classified(entry, provider, UNKNOWN, False, "%s unavailable without a reason_code" % provider)
    return _classified(entry, provider, UNKNOWN, False, "%s: availability %s, reason_code %s is not in the failure playbook" % (
        provider, json.dumps(availability), json.dumps(reason)))


def _classified(entry, provider, category, fail_closed, detail):
    meaning, owner = _CATEGORY_TEXT[category]
    return {
        "provider": provider,
        "enabled": entry.get("enabled"),
        "availability": entry.get("availability"),
        "reason_code": entry.get("reason_code"),
        "category": category,
        "meaning": meaning,
        "owner": owner,
        "fail_closed": fail_closed,
        "detail": detail,
    }


def explain_failure_code(code):
    return {"code": code, "meaning": FAILURE_CODES.get(code, "not in the failure playbook; see the run's logs")}


def analyze_run(run_id, summary, health, availability, source=None):
    """Everything the failure playbook asks for about one run, plus invariant findings.

    ``summary``/``health``/``availability`` are the parsed documents or None when absent. Returns
    ``status`` (run_health's status, else the summary's), ``failed_stage``, ``failure_codes`` with
    their meaning, ``providers`` classified, ``provider_categories`` counts, ``findings``
    (violated invariants, each ``{"code", "detail"}``), ``next_steps`` and a one-line ``headline``.
    """
    findings = []
    summary = summary if isinstance(summary, dict) else None
    health = health if isinstance(health, dict) else None
    availability = availability if isinstance(availability, dict) else None
    for name, document, schema, missing in (
            (SUMMARY_FILE, summary, "run_summary.v1", "run_summary_missing"),
            (HEALTH_FILE, health, "run_health.v1", "run_health_missing"),
            (AVAILABILITY_FILE, availability, "provider_availability.v1", "provider_availability_missing")):
        if document is None:
            findings.append({"code": missing,
                             "detail": "%s is missing: a finalized run always writes it (terminal run invariant)" % name})
            continue
        if document.get("schema_version") != schema:
            findings.append({"code": "schema_version_unexpected",
                             "detail": "%s has schema_version %s, expected %s" % (name, json.dumps(document.get("schema_version")), schema)})
        if document.get("run_id") not in (None, run_id):
            findings.append({"code": "run_id_mismatch", "detail": "%s names run %s, not %s" % (name, document.get("run_id"), run_id)})

    health_status = health.get("status") if health else None
    summary_status = summary.get("status") if summary else None
    failed_stage = health.get("failed_stage") if health else None
    codes = list(health.get("failure_codes") or []) if health else []
    if summary and health:
        recorded = (summary.get("run_health") or {}).get("status")
        if recorded is not None and recorded != health_status:
            findings.append({"code": "status_mismatch",
                             "detail": "run_summary says run_health status %s, run_health.v1.json says %s" % (recorded, health_status)})
        if (summary_status == "failed") != (health_status == "failed"):
            findings.append({"code": "status_mismatch",
                             "detail": "run_summary status %s disagrees with run_health status %s" % (summary_status, health_status)})

    rows = (availability or {}).get("providers")
    if availability is not None and not isinstance(rows, list):
        findings.append({"code": "provider_availability_invalid", "detail": "%s has no providers list" % AVAILABILITY_FILE})
        rows = []
    providers = [classify_provider(row, failed_stage) for row in rows or []]
    if failed_stage in EARLY_STAGES:
        leaked = [p["provider"] for p in providers if p["enabled"] is not False and p["category"] != EARLY_FAILURE]
        if leaked:
            findings.append({"code": "early_failure_not_fail_closed",
                             "detail": "the run failed at %s but %s not reported fail-closed (early_failure_unknown)" % (
                                 failed_stage, ", ".join(leaked) + (" is" if len(leaked) == 1 else " are"))})
    counts = dict((category, 0) for category in CATEGORIES)
    for provider in providers:
        counts[provider["category"]] += 1

    status = health_status or summary_status or "unknown"
    result = {
        "run_id": run_id,
        "source": source,
        "candidate_id": summary.get("candidate_id") if summary else None,
        "status": status,
        "summary_status": summary_status,
        "health_status": health_status,
        "failed_stage": failed_stage,
        "failure_codes": codes,
        "failure_code_meanings": [explain_failure_code(code) for code in codes],
        "stages": (health or {}).get("stages") or {},
        "started_at": summary.get("started_at") if summary else None,
        "finished_at": summary.get("finished_at") if summary else None,
        "profiles": list(summary.get("profiles") or []) if summary else [],
        "providers": providers,
        "provider_categories": counts,
        "findings": findings,
        "provenance": {k: summary.get(k) for k in ("git_sha", "image", "ecs_task_arn")} if summary else {},
        "run_health_path": ((summary or {}).get("run_health") or {}).get("path") or HEALTH_FILE,
    }
    result["headline"] = headline(result)
    result["next_steps"] = next_steps(result)
    return result


def headline(run):
    """``run <id> status=<s> failed_stage=<stage|none> failure_codes=<a,b|none>``."""
    return "run %s status=%s failed_stage=%s failure_codes=%s" % (
        run["run_id"], run["status"], run["failed_stage"] or "none", ",".join(run["failure_codes"]) or "none")


def next_steps(run):
    """What an operator does next, in the failure playbook's order (stage first, then providers)."""
    steps = []
    if run["failed_stage"]:
        steps.append("fix the %s stage first (failure codes: %s)" % (
            run["failed_stage"], ", ".join(run["failure_codes"]) or "none"))
    by_category = {}
    for provider in run["providers"]:
        by_category.setdefault(provider["category"], []).append(provider["provider"])
    for category in (POLICY_BLOCK, NETWORK_ISSUE, CONFIG_DISABLE, UNKNOWN):
        if category in by_category:
            meaning, owner = _CATEGORY_TEXT[category]
            steps.append("%s: %s -> %s" % (", ".join(by_category[category]), meaning, owner))
    if EARLY_FAILURE in by_category and not run["failed_stage"]:
        steps.append("%s reported fail-closed without a failed stage: read the run's logs" % ", ".join(by_category[EARLY_FAILURE]))
    for finding in run["findings"]:
        steps.append("artifact problem %s: %s" % (finding["code"], finding["detail"]))
    return steps


def expected_outputs(run):
    """The per-provider/profile files a successful run must have (relative to the run directory)."""
    if run["summary_status"] != "success":
        return []
    files = []
    for provider in run["providers"]:
        if provider["category"] == AVAILABLE and provider["enabled"] is not False:
            for profile in run["profiles"]:
                files.extend("%s/%s/%s" % (provider["provider"], profile, t.format(provider=provider["provider"], profile=profile))
                             for t in OUTPUT_TEMPLATES)
    return files


def artifact_kind(relative_key):
    if relative_key in (SUMMARY_FILE, HEALTH_FILE):
        return "run"
    if relative_key.startswith("artifacts/"):
        return "artifact"
    if relative_key.count("/") == 2:
        return "output"
    return "other"


# ---------------------------------------------------------------------------------------------
# S3 access
# ---------------------------------------------------------------------------------------------

_code = error_code
source_dir = layout.source_dir
run_base = layout.run_base
pointer_key = layout.pointer_key


def _denied(exc, what):
    return RunsError("access_denied", "access denied %s (%s); the caller needs s3:ListBucket and s3:GetObject on the "
                                      "artifact bucket." % (what, _code(exc)))


def read_json(s3, bucket, key):
    """The parsed JSON object at ``key``, or None when it does not exist."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:  # botocore ClientError; its class lives on the client
        if _code(exc) in _MISSING_CODES:
            return None
        if _code(exc) in _DENIED_CODES:
            raise _denied(exc, "reading s3://%s/%s" % (bucket, key))
        raise
    try:
        document = json.loads(body.decode("utf-8"))
    except ValueError as exc:
        raise RunsError("run_artifact_invalid", "s3://%s/%s is not valid JSON (%s); the run's artifacts are corrupt, "
                                                "inspect them with runs artifacts." % (bucket, key, exc))
    if not isinstance(document, dict):
        raise RunsError("run_artifact_invalid", "s3://%s/%s holds JSON %s, not an object." % (bucket, key, type(document).__name__))
    return document


def _listed(s3, bucket, prefix, listing):
    """``listing()`` (a ListObjectsV2 walk) with access_denied / bucket_not_found named for the operator."""
    try:
        return listing()
    except Exception as exc:  # botocore ClientError
        if _code(exc) in _DENIED_CODES:
            raise _denied(exc, "listing s3://%s/%s" % (bucket, prefix or ""))
        if _code(exc) == "NoSuchBucket":
            raise RunsError("bucket_not_found", "bucket %s does not exist; set the artifact bucket (jobintel_bucket) "
                                                "in the inventory." % bucket)
        raise


def list_run_ids(s3, bucket, prefix, source):
    """Run ids under one source, from the ``<run_id>/`` common prefixes (no object listing)."""
    base = layout.source_prefix(prefix, source)
    ids = []
    for common in _listed(s3, bucket, base, lambda: s3_helpers.list_common_prefixes(s3, bucket, base)):
        run_id = common[len(base):].strip("/")
        if layout.valid_run_id(run_id):
            ids.append(run_id)
    return ids


def list_objects(s3, bucket, base):
    return _listed(s3, bucket, base, lambda: list(s3_helpers.list_objects(s3, bucket, base)))


def locate_run(s3, bucket, prefix, run_id, sources=SOURCES):
    """``(source, base)`` of the first source that holds any object of the run, or RunsError(run_not_found)."""
    validate_run_id(run_id)
    looked = []
    for source in sources:
        base = run_base(prefix, source, run_id)
        looked.append("s3://%s/%s" % (bucket, base))
        if _listed(s3, bucket, base, lambda: s3_helpers.has_objects(s3, bucket, base)):
            return source, base
    raise RunsError("run_not_found", "run %s not found (looked in %s); list the candidate's runs with action=list and "
                                     "pass one of their run ids." % (run_id, ", ".join(looked)))


def load_run(s3, bucket, prefix, run_id, sources=SOURCES):
    """Locate a run and analyse its three documents (see ``analyze_run``); adds ``base`` and ``uri``."""
    source, base = locate_run(s3, bucket, prefix, run_id, sources)
    summary = read_json(s3, bucket, base + SUMMARY_FILE)
    health_path = ((summary or {}).get("run_health") or {}).get("path") or HEALTH_FILE
    if not isinstance(health_path, str) or health_path.startswith("/") or ".." in health_path.split("/"):
        health_path = HEALTH_FILE  # never follow a path out of the run directory
    health = read_json(s3, bucket, base + health_path)
    availability = read_json(s3, bucket, base + AVAILABILITY_FILE)
    run = analyze_run(run_id, summary, health, availability, source=source)
    run["base"] = base
    run["uri"] = "s3://%s/%s" % (bucket, base)
    return run


def check_candidate(run, candidate_id):
    if candidate_id and run["candidate_id"] != candidate_id:
        detail = (run["run_id"], json.dumps(run["candidate_id"]), candidate_id, run["candidate_id"], candidate_id)
        raise RunsError("run_candidate_mismatch",
                        "run %s belongs to candidate %s, not %s; pass candidate_id=%s or pick one of %s's runs (action=list)." % detail)
    return run


def show_run(s3, bucket, prefix, run_id, candidate_id=None, sources=SOURCES):
    return check_candidate(load_run(s3, bucket, prefix, run_id, sources), candidate_id)


def run_artifacts(s3, bucket, prefix, run_id, candidate_id=None, sources=SOURCES):
    """The run's objects (``key`` relative to the run, ``uri``, ``size``, ``etag``, ``last_modified``,
    ``kind``) and what is missing: the three run documents and, for a successful run, the outputs of
    every available provider and profile."""
    run = show_run(s3, bucket, prefix, run_id, candidate_id, sources)
    artifacts = []
    for item in list_objects(s3, bucket, run["base"]):
        relative = item["Key"][len(run["base"]):]
        artifacts.append({
            "key": relative, "uri": "s3://%s/%s" % (bucket, item["Key"]), "size": item.get("Size", 0),
            "etag": str(item.get("ETag", "")).strip('"'),
            "last_modified": item["LastModified"].isoformat() if item.get("LastModified") else None,
            "kind": artifact_kind(relative),
        })
    artifacts.sort(key=lambda a: a["key"])
    present = set(a["key"] for a in artifacts)
    missing = [name for name in REQUIRED_FILES if name not in present]
    missing += [name for name in expected_outputs(run) if name not in present]
    return {"run": run, "artifacts": artifacts, "missing": missing,
            "total_size": sum(a["size"] for a in artifacts), "count": len(artifacts)}


def list_runs(s3, bucket, prefix, candidate_id=None, limit=5, sources=SOURCES):
    """The newest ``limit`` runs of ``candidate_id`` (every candidate when None).

    Reads run summaries newest first until ``limit`` runs match. A run present in several sources
    is listed once, from the first source in ``sources`` (published before outbox). Runs without a
    readable summary cannot be attributed to a candidate and are returned in ``unattributed``.
    """
    validate_candidate_id(candidate_id)
    if limit < 1:
        raise RunsError("invalid_limit", "limit must be at least 1, got %s." % limit)
    locations = {}
    for source in sources:
        for run_id in list_run_ids(s3, bucket, prefix, source):
            locations.setdefault(run_id, []).append(source)
    # Ordered by what runs are, not as strings: the UTC timestamp a run id begins with, else (``manual-1``)
    # the run's own started_at from its summary; a run with neither sorts last.
    summaries = {}
    keys = {}
    for run_id in locations:
        moment = layout.run_id_time(run_id)
        if moment is None:
            base = run_base(prefix, locations[run_id][0], run_id)
            summaries[run_id] = read_json(s3, bucket, base + SUMMARY_FILE)
            moment = summary_time(summaries[run_id])
        keys[run_id] = (moment is not None, moment or _EPOCH, run_id)
    ordered = sorted(locations, key=lambda rid: keys[rid], reverse=True)
    runs, unattributed, scanned = [], [], 0
    for run_id in ordered:
        if len(runs) >= limit:
            break
        scanned += 1
        source = locations[run_id][0]
        base = run_base(prefix, source, run_id)
        summary = summaries[run_id] if run_id in summaries else read_json(s3, bucket, base + SUMMARY_FILE)
        if summary is None:
            unattributed.append({"run_id": run_id, "source": source, "uri": "s3://%s/%s" % (bucket, base)})
            continue
        if candidate_id and summary.get("candidate_id") != candidate_id:
            continue
        health = read_json(s3, bucket, base + HEALTH_FILE)
        runs.append({
            "run_id": run_id,
            "candidate_id": summary.get("candidate_id"),
            "status": (health or {}).get("status") or summary.get("status") or "unknown",
            "summary_status": summary.get("status"),
            "failed_stage": (health or {}).get("failed_stage"),
            "failure_codes": list((health or {}).get("failure_codes") or []),
            "started_at": summary.get("started_at"),
            "finished_at": summary.get("finished_at"),
            "providers": list(summary.get("providers") or []),
            "profiles": list(summary.get("profiles") or []),
            "source": source,
            "sources": locations[run_id],
            "uri": "s3://%s/%s" % (bucket, base),
        })
    return {"runs": runs, "unattributed": unattributed, "scanned": scanned, "total_run_ids": len(ordered)}


def list_line(run):
    return "%s %s status=%s failed_stage=%s failure_codes=%s source=%s" % (
        run["run_id"], run["candidate_id"], run["status"], run["failed_stage"] or "none",
        ",".join(run["failure_codes"]) or "none", run["source"])


def provider_line(provider):
    return "provider %s: %s (%s) -> %s%s" % (
        provider["provider"], provider["category"], provider["reason_code"] or "no reason code",
        provider["owner"] or "nothing to do", " [fail-closed]" if provider["fail_closed"] else "")
