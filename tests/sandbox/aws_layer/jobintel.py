"""The JobIntel container's run artifacts, as pure functions of a run description.

Shared by the simulated ECS task (which writes them to the outbox when a task stops) and by the
seed (which publishes one finished run), so both produce byte-identical document shapes. Nothing
here touches moto or the network.
"""

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple

STAGES = ("startup", "scrape", "classify", "score", "publish")
# A failure before providers were consulted tells us nothing about them: report them fail-closed.
EARLY_STAGES = ("startup", "scrape", "classify")
PROVIDER_REASON_CODES = ("policy_snapshot", "snapshot_disabled", "unavailable", "timeout", "network")
FORCED_FAILURE = "FORCED_FAILURE"

SUMMARY_FILE = "run_summary.v1.json"
HEALTH_FILE = "run_health.v1.json"
AVAILABILITY_FILE = "artifacts/provider_availability_v1.json"

# Small, fixed job list so every provider/profile output is deterministic.
_JOBS = (
    ("job-001", "Senior Backend Engineer", "Acme Analytics", 0.91),
    ("job-002", "Platform Engineer", "Globex", 0.84),
    ("job-003", "Data Engineer", "Initech", 0.77),
)


@dataclass(frozen=True)
class RunSpec:
    """Everything that decides the content of one run's artifacts."""

    run_id: str
    started_at: str
    finished_at: str
    candidate_id: str = "local"
    providers: Tuple[str, ...] = ("openai",)
    disabled_providers: Tuple[str, ...] = ()
    profiles: Tuple[str, ...] = ("cs",)
    provider_outcomes: Mapping[str, str] = field(default_factory=dict)
    failed_stage: Optional[str] = None
    git_sha: Optional[str] = None
    image: Optional[str] = None
    ecs_task_arn: Optional[str] = None

    @property
    def succeeded(self):
        """A run succeeds unless a stage failed (degraded providers still succeed)."""
        return self.failed_stage is None


def split_list(value, default=()):
    """``"a, b,,c"`` -> ``("a", "b", "c")``; empty or missing -> ``default``."""
    items = tuple(part.strip() for part in (value or "").split(",") if part.strip())
    return items or tuple(default)


def parse_outcomes(value):
    """``"anthropic=policy_snapshot,google=timeout"`` -> dict; unknown outcomes become ``unavailable``."""
    outcomes = {}
    for item in split_list(value):
        provider, _equals, outcome = item.partition("=")
        outcome = outcome.strip()
        outcomes[provider.strip()] = outcome if outcome in PROVIDER_REASON_CODES else "unavailable"
    return outcomes


def run_spec_from_env(env, *, default_run_id, started_at, finished_at, image=None, task_arn=None):
    """Build the RunSpec the container would derive from its effective environment."""
    disabled = split_list(env.get("JOBINTEL_PROVIDERS_DISABLED"))
    enabled = tuple(p for p in split_list(env.get("JOBINTEL_PROVIDERS"), ("openai",)) if p not in disabled)
    stage = env.get("JOBINTEL_FORCE_FAIL_STAGE") or None
    if stage is not None and stage not in STAGES:
        stage = "startup"  # the real entrypoint rejects an unknown stage name at startup
    return RunSpec(
        run_id=env.get("JOBINTEL_RUN_ID") or default_run_id,
        started_at=started_at,
        finished_at=finished_at,
        candidate_id=env.get("JOBINTEL_CANDIDATE_ID") or "local",
        providers=enabled,
        disabled_providers=disabled,
        profiles=split_list(env.get("JOBINTEL_PROFILES"), ("cs",)),
        provider_outcomes=parse_outcomes(env.get("SANDBOX_PROVIDER_OUTCOMES")),
        failed_stage=stage,
        git_sha=env.get("JOBINTEL_GIT_SHA") or None,
        image=image,
        ecs_task_arn=task_arn,
    )


def dump_json(document):
    """Pretty, key-sorted JSON with a trailing newline (the container's on-disk format)."""
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def provider_availability(spec):
    """Per-provider availability rows: enabled providers first, then the disabled ones."""
    rows = []
    for provider in spec.providers:
        if spec.failed_stage in EARLY_STAGES:
            reason = "early_failure_unknown"
        else:
            reason = spec.provider_outcomes.get(provider)
        rows.append({
            "provider": provider,
            "enabled": True,
            "availability": "unavailable" if reason else "available",
            "reason_code": reason,
        })
    for provider in spec.disabled_providers:
        rows.append({"provider": provider, "enabled": False, "availability": "unavailable", "reason_code": "not_enabled"})
    return rows


def _stages(failed_stage):
    if failed_stage is None:
        return {stage: "ok" for stage in STAGES}
    position = STAGES.index(failed_stage)
    return {stage: ("ok" if i < position else "failed" if i == position else "skipped") for i, stage in enumerate(STAGES)}


def _health(spec, availability):
    degraded_codes = sorted({row["reason_code"] for row in availability
                             if row["enabled"] and row["reason_code"] and row["reason_code"] != "early_failure_unknown"})
    if spec.failed_stage:
        status, codes = "failed", [FORCED_FAILURE] + degraded_codes
    else:
        status, codes = ("degraded" if degraded_codes else "healthy"), degraded_codes
    return {
        "schema_version": "run_health.v1",
        "run_id": spec.run_id,
        "status": status,
        "failed_stage": spec.failed_stage,
        "failure_codes": codes,
        "stages": _stages(spec.failed_stage),
    }


def _summary(spec, health_status):
    return {
        "schema_version": "run_summary.v1",
        "run_id": spec.run_id,
        "candidate_id": spec.candidate_id,
        "status": "success" if spec.succeeded else "failed",
        "started_at": spec.started_at,
        "finished_at": spec.finished_at,
        "providers": list(spec.providers),
        "profiles": list(spec.profiles),
        "run_health": {"path": HEALTH_FILE, "status": health_status},
        "git_sha": spec.git_sha,
        "image": spec.image,
        "ecs_task_arn": spec.ecs_task_arn,
    }


def _ranked_jobs(spec, provider, profile):
    return {
        "schema_version": "ranked_jobs.v1",
        "run_id": spec.run_id,
        "candidate_id": spec.candidate_id,
        "provider": provider,
        "profile": profile,
        "jobs": [{"rank": rank, "job_id": job_id, "title": title, "company": company, "score": score}
                 for rank, (job_id, title, company, score) in enumerate(_JOBS, start=1)],
    }


def _ranked_csv():
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["rank", "job_id", "title", "company", "score"])
    for rank, (job_id, title, company, score) in enumerate(_JOBS, start=1):
        writer.writerow([rank, job_id, title, company, score])
    return out.getvalue().encode("utf-8")


def _shortlist(spec, provider, profile):
    lines = ["# Shortlist: %s / %s / %s" % (spec.candidate_id, provider, profile), "", "Run `%s`." % spec.run_id, ""]
    lines += ["%d. %s at %s (%.2f)" % (rank, title, company, score)
              for rank, (_job_id, title, company, score) in enumerate(_JOBS, start=1)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def profile_outputs(spec, provider, profile):
    """The three per-provider/profile files, keyed by their path relative to the run directory."""
    base = "%s/%s/" % (provider, profile)
    suffix = "%s.%s" % (provider, profile)
    return {
        base + "ranked_jobs.%s.json" % suffix: dump_json(_ranked_jobs(spec, provider, profile)),
        base + "ranked_jobs.%s.csv" % suffix: _ranked_csv(),
        base + "shortlist.%s.md" % suffix: _shortlist(spec, provider, profile),
    }


def run_files(spec) -> Dict[str, bytes]:
    """All files of a finished run, keyed by path relative to the run directory.

    The three JSON documents are always present (terminal run invariant); per-profile outputs
    only for a successful run and only for providers that were available.
    """
    availability = provider_availability(spec)
    health = _health(spec, availability)
    files = {
        SUMMARY_FILE: dump_json(_summary(spec, health["status"])),
        HEALTH_FILE: dump_json(health),
        AVAILABILITY_FILE: dump_json({"schema_version": "provider_availability.v1", "run_id": spec.run_id, "providers": availability}),
    }
    if spec.succeeded:
        for row in availability:
            if row["enabled"] and row["availability"] == "available":
                for profile in spec.profiles:
                    files.update(profile_outputs(spec, row["provider"], profile))
    return files


def join_key(*parts):
    """Join S3 key parts, ignoring empty ones and stray slashes (an empty prefix is allowed)."""
    return "/".join(part.strip("/") for part in parts if part and part.strip("/"))
