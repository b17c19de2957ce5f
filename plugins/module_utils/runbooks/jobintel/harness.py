# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The M21 stability harness: a fixed schedule of checkpoints, written so it can be resumed.

Layout under ``<proof_root>/<run_id>/``::

    start_receipt.json                      receipt.v1 (phase start): parameters and schedule, written once
    checkpoints.jsonl                       one line per checkpoint taken, in index order
    checkpoints/checkpoint-NNNN/checkpoint.json
    summary.json                            m21_summary.v1, derived from the files above
    final_receipt.json                      receipt.v1 (phase final), once every slot is taken or missed

The schedule is anchored on the start receipt: checkpoint ``i`` is due at ``started_at + i *
interval`` for ``i = 0 .. duration // interval``. A resumed harness (same run id) keeps the start
receipt and skips what is recorded; slots whose window (due time plus ``missed_after``, by default
one interval) closed while no harness was running are *missed* (a gap in the proof, never a made-up checkpoint). Slots that
were open when a harness (re)started are taken even when the harness runs late (``late_s`` says
by how much), so a slow checkpoint never turns into a gap. Each checkpoint is written atomically under a lock, checkpoint file first, then the
JSON lines index rewritten whole, so a kill at any moment leaves either the old or the new state
and a checkpoint can never be recorded twice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import re

try:
    import fcntl
    HAS_FCNTL = True
except ImportError:  # pragma: no cover - not on POSIX
    HAS_FCNTL = False

try:
    from urllib3.exceptions import HTTPError as _Urllib3Error
except ImportError:  # pragma: no cover - urllib3 comes with the kubernetes client
    _Urllib3Error = OSError

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s
from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import layout
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import runs
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_transfer
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import safe_relative_path, validate_k8s_name, validate_s3_prefix

_CONNECTION_ERRORS = (_Urllib3Error, OSError)

OPERATION = "stability_harness"
CHECKPOINT_SCHEMA = "m21_checkpoint.v1"
SUMMARY_SCHEMA = "m21_summary.v1"
START_FILE = "start_receipt.json"
JSONL_FILE = "checkpoints.jsonl"
SUMMARY_FILE = "summary.json"
FINAL_FILE = "final_receipt.json"
# Parameters that define what a harness observes and when; a resume must not change them.
SCHEDULE_PARAMS = ("duration_s", "interval_s", "missed_after_s", "candidate_id", "provider", "jobintel_profile", "bucket", "prefix",
                   "namespace", "cronjob")
FAIL, DEGRADED, OK = "fail", "degraded", "ok"
# Problem token -> severity. Anything that means "the daily pipeline is not running" fails.
PROBLEMS = {
    "pointer_missing": FAIL, "pointer_unreadable": FAIL, "pointer_target_missing": FAIL, "run_failed": FAIL,
    "candidate_mismatch": FAIL, "cluster_unreachable": FAIL, "cluster_api_error": FAIL, "namespace_missing": FAIL, "no_ready_nodes": FAIL,
    "cronjob_missing": FAIL,
    "pointer_stale": DEGRADED, "run_degraded": DEGRADED, "run_findings": DEGRADED, "nodes_not_ready": DEGRADED,
    "cronjob_suspended": DEGRADED, "job_failed": DEGRADED, "pods_waiting": DEGRADED, "deployment_unavailable": DEGRADED,
}
_WAITING_BAD = ("ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff", "CreateContainerConfigError", "InvalidImageName")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


class HarnessError(OpsError):
    """``reason`` is a registered token; the message names the bad input and the fix."""

    def __init__(self, reason, message, details=None):
        super(HarnessError, self).__init__(reason, message, details=details)


# --------------------------------------------------------------------------------------------
# Inputs and schedule
# --------------------------------------------------------------------------------------------

def parse_duration(value, name="duration"):
    """Seconds from ``72h``, ``60m``, ``1h30m``, ``90s``, ``1d``, or a plain number of seconds."""
    text = str(value).strip().lower().replace(" ", "") if value is not None else ""
    if re.match(r"^\d+(\.\d+)?$", text):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if not text or not match or not any(match.groups()):
            raise HarnessError("invalid_duration", "%s %r is not a duration; write e.g. 72h, 60m, 1h30m, 90s or a number of "
                                                   "seconds." % (name, value))
        days, hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
        seconds = days * 86400 + hours * 3600 + minutes * 60 + secs
    if seconds <= 0:
        raise HarnessError("invalid_duration", "%s %r must be longer than zero." % (name, value))
    return seconds


# The variable an operator sets for each module option (hints never name the module option).
_VARIABLES = {"bucket": "jobintel_bucket", "proof_bucket": "m21_proof_bucket", "context": "-e kube_context (m21_kube_context)",
              "candidate_id": "-e candidate_id (m21_candidate_id)", "provider": "-e provider (m21_provider)",
              "jobintel_profile": "-e profile (m21_profile)", "kubeconfig": "-e kubeconfig (m21_kubeconfig)"}


def parse_interval(value, allow_short=False):
    """Seconds between checkpoints. A bare number is minutes (the unit of ``interval_minutes`` and
    ``m21_interval``), never silently seconds; under a minute only with ``allow_short``."""
    text = str(value).strip() if value is not None else ""
    seconds = parse_duration(text + "m" if re.match(r"^\d+(\.\d+)?$", text) else value, "interval")
    if seconds < 60 and not allow_short:
        raise HarnessError("interval_too_short", "interval %s is %gs, under a minute: a 72 h harness would take %d checkpoints. Pass "
                                                 "-e interval=60m (a bare number is minutes), or -e allow_short_interval=true for a "
                                                 "smoke run." % (value, seconds, int(72 * 3600 // seconds) + 1))
    return seconds


def validate_params(params):
    """The module's parameters checked and completed with ``duration_s``/``interval_s``/``missed_after_s``,
    before anything is read or written. Raises HarnessError or GuardError."""
    for name in ("bucket", "proof_bucket", "context", "candidate_id", "provider", "jobintel_profile", "kubeconfig"):
        if str(params.get(name) or "").startswith("REPLACE_"):
            raise HarnessError("inventory_placeholder", "%s is still %s; set it in the inventory." % (_VARIABLES[name], params[name]))
    if bool(params.get("provider")) != bool(params.get("jobintel_profile")):
        raise HarnessError("provider_profile_pair", "-e provider and -e profile (m21_provider, m21_profile) go together (the "
                                                    "state/<provider>/<profile>/ pointer); set both or neither.")
    validate_s3_prefix(params.get("prefix"))
    validate_s3_prefix(params.get("proof_prefix"), "proof_prefix")
    validate_k8s_name(params.get("namespace"), "namespace", label=True)
    validate_k8s_name(params.get("cronjob"), "cronjob")
    validate_run_id(params.get("run_id"))
    values = dict(params)
    values["duration_s"] = parse_duration(params.get("duration"), "duration")
    values["interval_s"] = parse_interval(params.get("interval"), params.get("allow_short_interval"))
    values["missed_after_s"] = parse_duration(params["missed_after"], "missed_after") if params.get("missed_after") else values["interval_s"]
    schedule(receipts.utc_now(), values["duration_s"], values["interval_s"])  # interval <= duration
    return values


def validate_run_id(run_id):
    if not layout.valid_run_id(run_id):
        raise HarnessError("run_id_invalid", "run_id %r is not usable as a directory name; use letters, digits, '_', '.', ':', "
                                             "'-' (e.g. m21-20260301T000000Z)." % (run_id,))
    return run_id


def schedule(started_at, duration_s, interval_s, missed_after_s=None):
    """``{"started_at", "ends_at", "duration_s", "interval_s", "missed_after_s", "checkpoints_planned"}``.

    ``missed_after_s`` (default: the interval) is how long after its due time a slot may still be
    taken by a (re)started harness before it counts as missed.
    """
    if interval_s > duration_s:
        raise HarnessError("invalid_interval", "interval (%ss) is longer than duration (%ss); use an interval at most the "
                                               "duration." % (interval_s, duration_s))
    started = receipts.parse_timestamp(started_at) if isinstance(started_at, str) else started_at
    return {
        "started_at": receipts.format_timestamp(started),
        "ends_at": receipts.format_timestamp(started + datetime.timedelta(seconds=duration_s)),
        "duration_s": duration_s,
        "interval_s": interval_s,
        "missed_after_s": missed_after_s or interval_s,
        "checkpoints_planned": int(duration_s // interval_s) + 1,
    }


def due_at(sched, index):
    return receipts.parse_timestamp(sched["started_at"]) + datetime.timedelta(seconds=index * sched["interval_s"])


def checkpoint_name(index):
    return "checkpoint-%04d" % index


def slot_state(sched, index, now, recorded):
    """``taken``, ``missed`` (its window closed unrecorded), ``due`` (take it now) or ``upcoming``."""
    if index in recorded:
        return "taken"
    due = due_at(sched, index)
    if now >= due + datetime.timedelta(seconds=sched.get("missed_after_s") or sched["interval_s"]):
        return "missed"
    return "due" if now >= due else "upcoming"


def slots(sched, now, recorded):
    """Indexes of every slot by state: ``{"taken": [...], "missed": [...], "pending": [...]}``."""
    out = {"taken": [], "missed": [], "pending": []}
    for index in range(sched["checkpoints_planned"]):
        state = slot_state(sched, index, now, recorded)
        out["pending" if state in ("due", "upcoming") else state].append(index)
    return out


# --------------------------------------------------------------------------------------------
# The proof directory
# --------------------------------------------------------------------------------------------

class ProofDir:
    """Files of one harness run; every write is atomic and happens under an exclusive lock."""

    def __init__(self, root, run_id):
        self.run_id = validate_run_id(run_id)
        self.path = os.path.join(os.path.abspath(root), run_id)

    def file(self, name):
        return os.path.join(self.path, name)

    def checkpoint_path(self, index):
        return os.path.join(self.path, "checkpoints", checkpoint_name(index), "checkpoint.json")

    def lock(self):
        return _Lock(os.path.join(self.path, ".lock"))

    def read_json(self, name):
        path = self.file(name)
        if not os.path.exists(path):
            return None
        with open(path, "rb") as handle:
            try:
                return json.loads(handle.read().decode("utf-8"))
            except ValueError as exc:
                raise HarnessError("proof_file_invalid", "%s is not valid JSON (%s); move the run directory aside and start a "
                                                         "new run_id." % (path, exc))

    def recorded(self):
        """Every checkpoint on disk by index: the JSON lines index, plus any checkpoint file a kill
        left out of it (written, but the index not yet rewritten)."""
        found = {}
        jsonl = self.file(JSONL_FILE)
        if os.path.exists(jsonl):
            with open(jsonl, "rb") as handle:
                for line in handle.read().decode("utf-8").splitlines():
                    if line.strip():
                        document = json.loads(line)
                        found.setdefault(document["index"], document)
        directory = os.path.join(self.path, "checkpoints")
        if os.path.isdir(directory):
            for name in os.listdir(directory):
                match = re.match(r"^checkpoint-(\d+)$", name)
                path = os.path.join(directory, name, "checkpoint.json")
                if match and int(match.group(1)) not in found and os.path.exists(path):
                    with open(path, "rb") as handle:
                        found[int(match.group(1))] = json.loads(handle.read().decode("utf-8"))
        return found

    def write_index(self, recorded):
        lines = "".join(json.dumps(recorded[i], sort_keys=True, separators=(",", ":")) + "\n" for i in sorted(recorded))
        receipts.write_atomic(self.file(JSONL_FILE), lines.encode("utf-8"), mode=0o644)

    def add_checkpoint(self, document):
        """Record a checkpoint unless its index is already recorded; True when written."""
        with self.lock():
            recorded = self.recorded()
            if document["index"] in recorded:
                return False
            receipts.write_atomic(self.checkpoint_path(document["index"]), serialize(document), mode=0o644)
            recorded[document["index"]] = document
            self.write_index(recorded)
            return True

    def write_if_changed(self, name, data):
        path = self.file(name)
        if os.path.exists(path):
            with open(path, "rb") as handle:
                if handle.read() == data:
                    return False
        receipts.write_atomic(path, data, mode=0o644)
        return True


class _Lock:
    def __init__(self, path):
        self.path = path
        self.handle = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.handle = open(self.path, "a")
        if HAS_FCNTL:
            fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc_info):
        if HAS_FCNTL:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


class ProofMirror:
    """A copy of one harness run's directory in S3, so the harness resumes in a fresh container.

    AWX runs each job in a new execution environment: without the copy, a resumed harness would
    find no start receipt and no checkpoints. Checkpoint files are uploaded create-only
    (``If-None-Match: *``), so two harnesses can never replace each other's checkpoint in S3.
    """

    def __init__(self, s3, bucket, prefix, run_id):
        self.s3 = s3
        self.bucket = bucket
        self.base = "/".join(p for p in ((prefix or "").strip("/"), run_id) if p) + "/"

    def uri(self, relative=""):
        return "s3://%s/%s%s" % (self.bucket, self.base, relative)

    def remote(self):
        """The relative paths of every file in the copy."""
        return set(key[len(self.base):] for key in s3_transfer.list_keys(self.s3, self.bucket, self.base))

    def upload(self, proof, relative, create_only=False):
        """Copy one local file unless the copy holds the same bytes; True when written.

        ``create_only`` never replaces a file another harness process wrote first (checkpoints).
        """
        with open(os.path.join(proof.path, relative), "rb") as handle:
            data = handle.read()
        return s3_transfer.put_if_changed(self.s3, self.bucket, self.base + relative, data, create_only=create_only)

    def restore(self, proof):
        """Download every file of the copy that the local directory lacks; returns their paths."""
        restored = []
        for relative in sorted(self.remote()):
            relative = safe_relative_path(relative)
            local = os.path.join(proof.path, relative)
            if not os.path.exists(local):
                body = self.s3.get_object(Bucket=self.bucket, Key=self.base + relative)["Body"].read()
                receipts.write_atomic(local, body, mode=0o644)
                restored.append(relative)
        return restored

    def sync(self, proof):
        """Upload local files that the copy lacks or holds with other content; returns their paths."""
        uploaded = []
        for root, _dirs, files in os.walk(proof.path):
            for name in sorted(files):
                if name.startswith("."):
                    continue  # the lock file and atomic-write temporaries
                path = os.path.join(root, name)
                relative = os.path.relpath(path, proof.path).replace(os.sep, "/")
                if self.upload(proof, relative):  # compared by SHA-256, written only when it differs
                    uploaded.append(relative)
        return sorted(uploaded)


def serialize(document):
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


# --------------------------------------------------------------------------------------------
# Start, checkpoint, finish
# --------------------------------------------------------------------------------------------

def public_params(params):
    """What the start receipt records and a resume compares (no connection details, no secrets)."""
    keys = ("duration_s", "interval_s", "missed_after_s", "candidate_id", "provider", "jobintel_profile", "bucket", "prefix", "namespace", "cronjob",
            "context", "max_pointer_age_hours")
    return dict((k, params.get(k)) for k in keys)


def start(proof, params, now, check_mode=False):
    """Read or create the start receipt. Returns ``(receipt, created)``.

    A start receipt with other schedule parameters is refused: a resume continues *that* harness.
    """
    wanted = public_params(params)
    with proof.lock() if not check_mode else _NoLock():
        existing = proof.read_json(START_FILE)
        if existing is not None:
            recorded = existing.get("inputs") or {}
            changed = [k for k in SCHEDULE_PARAMS if recorded.get(k) != wanted.get(k)]
            if changed:
                raise HarnessError("harness_params_mismatch", "run %s was started with %s; resume it with the same values or "
                                                              "start a new run_id." % (proof.run_id, ", ".join(
                                                                  "%s=%s" % (k, json.dumps(recorded.get(k))) for k in changed)))
            return existing, False
        sched = schedule(now, params["duration_s"], params["interval_s"], params.get("missed_after_s"))
        receipt = receipts.build(OPERATION, "start", "success", proof.run_id, now, finished_at=now, inputs=wanted,
                                 outputs={"run_id": proof.run_id, "proof_dir": proof.path, "schedule": sched},
                                 module="signalcraft.ops.jobintel_stability_harness",
                                 message="M21 stability harness %s: %d checkpoints every %ss until %s" % (
                                     proof.run_id, sched["checkpoints_planned"], sched["interval_s"], sched["ends_at"]))
        if not check_mode:
            receipts.write_atomic(proof.file(START_FILE), receipts.serialize(receipt), mode=0o644)
        return receipt, True


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


def evaluate(pipeline, cluster):
    """``(status, problems)`` of one checkpoint; problems are tokens from PROBLEMS, in order found."""
    problems = list(pipeline.get("problems", [])) + list(cluster.get("problems", []))
    severities = [PROBLEMS[p] for p in problems]
    status = FAIL if FAIL in severities else DEGRADED if DEGRADED in severities else OK
    return status, problems


def build_checkpoint(run_id, sched, index, taken_at, pipeline, cluster):
    status, problems = evaluate(pipeline, cluster)
    due = due_at(sched, index)
    return {
        "schema_version": CHECKPOINT_SCHEMA,
        "run_id": run_id,
        "index": index,
        "name": checkpoint_name(index),
        "scheduled_at": receipts.format_timestamp(due),
        "taken_at": receipts.format_timestamp(taken_at),
        "late_s": round(max(0.0, (taken_at - due).total_seconds()), 3),
        "status": status,
        "problems": problems,
        "pipeline": pipeline,
        "cluster": cluster,
    }


def summarize(proof, start_receipt, now):
    """``m21_summary.v1`` from the start receipt and the recorded checkpoints (nothing else)."""
    sched = start_receipt["outputs"]["schedule"]
    recorded = proof.recorded()
    states = slots(sched, now, recorded)
    taken = [recorded[i] for i in states["taken"]]
    counts = {OK: 0, DEGRADED: 0, FAIL: 0}
    problems = {}
    observed = []
    for checkpoint in taken:
        counts[checkpoint["status"]] = counts.get(checkpoint["status"], 0) + 1
        for token in checkpoint["problems"]:
            problems[token] = problems.get(token, 0) + 1
        run_id = ((checkpoint.get("pipeline") or {}).get("run") or {}).get("run_id")
        if run_id and (not observed or observed[-1]["run_id"] != run_id):
            observed.append({"run_id": run_id, "first_seen_at": checkpoint["taken_at"], "checkpoint": checkpoint["index"]})
    if states["pending"]:
        verdict = "in_progress"
    elif counts[FAIL]:
        verdict = "fail"
    elif states["missed"]:
        verdict = "incomplete"
    elif counts[DEGRADED]:
        verdict = "degraded"
    else:
        verdict = "pass"
    return {
        "schema_version": SUMMARY_SCHEMA,
        "run_id": proof.run_id,
        "parameters": start_receipt["inputs"],
        "started_at": sched["started_at"],
        "ends_at": sched["ends_at"],
        "duration_s": sched["duration_s"],
        "interval_s": sched["interval_s"],
        "checkpoints_planned": sched["checkpoints_planned"],
        "checkpoints_taken": len(taken),
        "checkpoints_missed": states["missed"],
        "checkpoints_pending": states["pending"],
        "complete": not states["pending"],
        "status_counts": counts,
        "problem_counts": problems,
        "first_checkpoint_at": taken[0]["taken_at"] if taken else None,
        "last_checkpoint_at": taken[-1]["taken_at"] if taken else None,
        "max_late_s": max([c["late_s"] for c in taken] or [0]),
        "observed_runs": observed,
        "verdict": verdict,
    }


def final_receipt(start_receipt, summary):
    """receipt.v1 (phase final); timestamps come from the schedule and checkpoints, so rebuilding it
    from the same files gives the same bytes."""
    finished = max([summary["ends_at"]] + ([summary["last_checkpoint_at"]] if summary["last_checkpoint_at"] else []))
    passed = summary["verdict"] == "pass"
    return receipts.build(
        OPERATION, "final", "success" if passed else "failed", summary["run_id"], summary["started_at"], finished_at=finished,
        inputs=start_receipt["inputs"], outputs=dict((k, summary[k]) for k in (
            "verdict", "checkpoints_planned", "checkpoints_taken", "checkpoints_missed", "status_counts", "problem_counts",
            "observed_runs", "max_late_s")),
        failure_code=None if passed else "stability_%s" % summary["verdict"], attempts=1,
        module="signalcraft.ops.jobintel_stability_harness", message=summary_line(summary))


def summary_line(summary):
    return "m21 status=%s run_id=%s checkpoints=%d/%d missed=%d ok=%d degraded=%d fail=%d" % (
        summary["verdict"], summary["run_id"], summary["checkpoints_taken"], summary["checkpoints_planned"],
        len(summary["checkpoints_missed"]), summary["status_counts"][OK], summary["status_counts"][DEGRADED],
        summary["status_counts"][FAIL])


def checkpoint_line(checkpoint):
    run = (checkpoint["pipeline"].get("run") or {})
    return "%s status=%s problems=%s run=%s run_status=%s late_s=%s" % (
        checkpoint["name"], checkpoint["status"], ",".join(checkpoint["problems"]) or "none", run.get("run_id") or "none",
        run.get("status") or "none", checkpoint["late_s"])


# --------------------------------------------------------------------------------------------
# Observations
# --------------------------------------------------------------------------------------------

def _age_hours(published_at, now):
    try:
        moment = receipts.parse_timestamp(published_at)
    except (TypeError, ValueError):
        return None
    return round((now - moment).total_seconds() / 3600.0, 3)


def observe_pipeline(s3, bucket, prefix, candidate_id, provider, profile, now, max_pointer_age_hours=0):
    """What the last_success pointers name and that run's health, plus problem tokens.

    The provider/profile pointer is the primary one when both are given (it is what the daily job
    publishes for that provider and profile); the run-level pointer is recorded too.
    """
    problems = []
    names = []
    if provider and profile:
        names.append(("provider_profile", layout.pointer_key(prefix, provider, profile)))
    names.append(("last_success", layout.pointer_key(prefix)))
    observed = []
    for name, key in names:
        entry = {"name": name, "uri": pointers.s3_uri(bucket, key), "present": False, "run_id": None, "published_at": None,
                 "age_hours": None, "error": None}
        try:
            pointer = pointers.read_pointer(s3, bucket, key)
        except pointers.PointerError as exc:
            entry["error"] = "%s: %s" % (exc.reason, exc)
            pointer = None
        # pylint: disable-next=catching-non-exception  # a tuple of exception classes pylint cannot infer
        except aws.AWS_ERRORS as exc:  # one bad read is an observation, not the end of a 72h harness
            entry["error"] = aws.describe_error(exc, "reading the pointer")
            pointer = None
        if pointer:
            document = pointer["document"]
            entry.update(present=True, run_id=document.get("run_id"), published_at=document.get("published_at"),
                         age_hours=_age_hours(document.get("published_at"), now), target=document.get("target"))
        observed.append(entry)
    primary = observed[0]
    if primary["error"]:
        problems.append("pointer_unreadable")
    elif not primary["present"] or not primary["run_id"]:
        problems.append("pointer_missing")
    elif max_pointer_age_hours and (primary["age_hours"] is None or primary["age_hours"] > max_pointer_age_hours):
        problems.append("pointer_stale")
    run = None
    if primary["run_id"]:
        try:
            loaded = runs.load_run(s3, bucket, prefix, primary["run_id"], sources=("published",))
        except runs.RunsError as exc:
            problems.append("pointer_target_missing" if exc.reason in ("run_not_found", "run_id_invalid") else "pointer_unreadable")
            run = {"run_id": primary["run_id"], "error": "%s: %s" % (exc.reason, exc.message)}
        # pylint: disable-next=catching-non-exception  # a tuple of exception classes pylint cannot infer
        except aws.AWS_ERRORS as exc:
            problems.append("pointer_unreadable")
            run = {"run_id": primary["run_id"], "error": aws.describe_error(exc, "reading the run")}
        else:
            fields = ("run_id", "candidate_id", "status", "summary_status", "failed_stage", "failure_codes",
                      "provider_categories", "finished_at")
            run = dict((k, loaded[k]) for k in fields)
            run["findings"] = [f["code"] for f in loaded["findings"]]
            run["providers"] = dict((p["provider"], p["category"]) for p in loaded["providers"])
            if loaded["status"] == "failed" or loaded["summary_status"] == "failed":
                problems.append("run_failed")
            elif loaded["status"] == "degraded":
                problems.append("run_degraded")
            if run["findings"]:
                problems.append("run_findings")
            if candidate_id and loaded["candidate_id"] != candidate_id:
                problems.append("candidate_mismatch")
    return {"pointers": observed, "run": run, "problems": problems}


def _condition(conditions, kind):
    for condition in conditions or []:
        if condition.type == kind and condition.status == "True":
            return condition
    return None


def observe_cluster(api, namespace, cronjob, recent_jobs=5, request_timeout=15):
    """Nodes, the namespace, the CronJob, Deployments, recent Jobs and pods, plus problem tokens.

    ``api`` is a ``kubernetes.client.ApiClient`` from ``k8s.api_client``; reads only.
    """
    client = k8s.k8s_client
    core, batch, apps = client.CoreV1Api(api), client.BatchV1Api(api), client.AppsV1Api(api)
    out = {"reachable": False, "namespace": namespace, "server_version": None, "nodes": [], "cronjob": None,
           "deployments": [], "jobs": [], "pods": {}, "error": None, "problems": []}
    problems = out["problems"]
    timeout = {"_request_timeout": request_timeout}
    try:
        out["server_version"] = client.VersionApi(api).get_code(**timeout).git_version
        out["reachable"] = True
        for node in core.list_node(**timeout).items:
            ready = _condition(node.status.conditions if node.status else None, "Ready") is not None
            out["nodes"].append({"name": node.metadata.name, "ready": ready})
        ready_nodes = [n for n in out["nodes"] if n["ready"]]
        if not ready_nodes:
            problems.append("no_ready_nodes")
        elif len(ready_nodes) < len(out["nodes"]):
            problems.append("nodes_not_ready")
        try:
            core.read_namespace(namespace, **timeout)
        # pylint: disable-next=catching-non-exception  # a tuple of exception classes pylint cannot infer
        except k8s.K8S_ERRORS as exc:
            if getattr(exc, "status", None) == 404:
                problems.append("namespace_missing")
                return out
            raise
        try:
            cron = batch.read_namespaced_cron_job(cronjob, namespace, **timeout)
        # pylint: disable-next=catching-non-exception  # a tuple of exception classes pylint cannot infer
        except k8s.K8S_ERRORS as exc:
            if getattr(exc, "status", None) != 404:
                raise
            problems.append("cronjob_missing")
        else:
            status = cron.status
            out["cronjob"] = {
                "name": cronjob, "schedule": cron.spec.schedule, "suspend": bool(cron.spec.suspend),
                "last_schedule_time": status.last_schedule_time.isoformat() if status and status.last_schedule_time else None,
                "last_successful_time": status.last_successful_time.isoformat() if status and status.last_successful_time else None,
                "active": len(status.active or []) if status else 0,
            }
            if cron.spec.suspend:
                problems.append("cronjob_suspended")
        for deployment in apps.list_namespaced_deployment(namespace, **timeout).items:
            desired = deployment.spec.replicas if deployment.spec.replicas is not None else 1
            available = (deployment.status.available_replicas or 0) if deployment.status else 0
            out["deployments"].append({"name": deployment.metadata.name, "replicas": desired, "available_replicas": available,
                                       "ready_replicas": (deployment.status.ready_replicas or 0) if deployment.status else 0})
            if available < desired:
                problems.append("deployment_unavailable")
        jobs = sorted(batch.list_namespaced_job(namespace, **timeout).items,
                      key=lambda j: j.metadata.creation_timestamp.isoformat() if j.metadata.creation_timestamp else "", reverse=True)
        for job in jobs[:recent_jobs]:
            conditions = job.status.conditions if job.status else None
            state = "failed" if _condition(conditions, "Failed") else "complete" if _condition(conditions, "Complete") else "running"
            out["jobs"].append({"name": job.metadata.name, "state": state,
                                "created_at": job.metadata.creation_timestamp.isoformat() if job.metadata.creation_timestamp else None,
                                "succeeded": (job.status.succeeded or 0) if job.status else 0,
                                "failed": (job.status.failed or 0) if job.status else 0})
        if any(j["state"] == "failed" for j in out["jobs"]):
            problems.append("job_failed")
        phases, waiting, restarts = {}, {}, 0
        for pod in core.list_namespaced_pod(namespace, **timeout).items:
            phase = (pod.status.phase if pod.status else None) or "Unknown"
            phases[phase] = phases.get(phase, 0) + 1
            for container in ((pod.status.container_statuses or []) if pod.status else []):
                restarts += container.restart_count or 0
                reason = container.state.waiting.reason if container.state and container.state.waiting else None
                if reason:
                    waiting[reason] = waiting.get(reason, 0) + 1
        out["pods"] = {"by_phase": phases, "waiting_reasons": waiting, "restarts": restarts}
        if any(reason in _WAITING_BAD for reason in waiting):
            problems.append("pods_waiting")
    # pylint: disable-next=catching-non-exception  # a tuple of exception classes pylint cannot infer
    except k8s.K8S_ERRORS as exc:
        out["error"] = k8s.api_error(exc)
        problems.append("cluster_api_error" if out["reachable"] else "cluster_unreachable")
    # pylint: disable-next=catching-non-exception  # a tuple of exception classes pylint cannot infer
    except _CONNECTION_ERRORS as exc:  # the API server cannot be reached (refused, timeout, TLS)
        out["error"] = {"code": None, "reason": type(exc).__name__, "message": str(exc).splitlines()[0] if str(exc) else ""}
        problems.append("cluster_unreachable")
    return out
