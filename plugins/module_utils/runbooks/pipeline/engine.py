# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pipeline engine: one partition's run (the DAG, step by step, a manifest per step), a backfill
over many partitions (at most ``max_parallel`` in flight, ``resume``), and the daily status read from
manifests.

A partition's run has one ``run_id`` shared by all its steps. Steps run in DAG order; a step whose
upstream did not succeed is written as ``skipped`` (an independent branch still runs). Each step's
manifest is written as ``running`` when it starts and rewritten when it ends, so a run killed midway
leaves ``running`` manifests that ``resume`` recognises. Failures are classified by ``triage``;
``network`` failures are retried in place with exponential backoff and jitter (up to the step's
``retries``); everything else ends the step, and so does an orchestrator that failed us rather than the
step (``result.reason``, e.g. ``prefect_unreachable``: its flow run may still be running, so a new
attempt could start the step twice; the manifest's ``failure.reason`` carries the token).

Resume, per partition, from the newest run's manifests: every step ``success`` -> skipped; failures
all of category A (or a run that was interrupted) -> the same ``run_id``, only the steps without a
``success`` manifest run again; a failure of category B or C -> a new ``run_id`` (the failed run stays
intact for forensics). Nothing is ever deleted.

Models and current pointers: a step with ``models`` gets the runs the model selectors name
(``<pointer_root>/<model>_current_run.json``, promotion.py), read once when its partition's run starts,
and its manifest records them. When every step of a partition's run succeeded, each asset's current
pointer (``<manifest_root>/_current/<asset>.json``, current.py) moves to that run, forward only, by
compare-and-swap; a failed or interrupted run moves none.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import json
import os
import random
import threading
import time

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.concurrency import bounded_map
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import current, executors, manifest, pointer_store, promotion, triage
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecs as ecs_service


def _now_text(moment=None):
    return receipts.format_timestamp(moment or receipts.utc_now())


def new_run_id():
    """``<UTC YYYYMMDDTHHMMSSZ>-<8 hex>``: sorts by start time, unique per partition's run."""
    return ecs_service.new_run_id()


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe_outputs(output_dir):
    """``(outputs, checks)`` of a local step: every file under its output directory (path relative to
    it, bytes, sha256, rows from the step's report) and the checks the step reported."""
    if not output_dir or not os.path.isdir(output_dir):
        return [], []
    report = {}
    report_path = os.path.join(output_dir, executors.STEP_REPORT_NAME)
    if os.path.exists(report_path):
        try:
            with open(report_path) as handle:
                report = json.load(handle)
        except ValueError:
            report = {"checks": [{"name": "step_report_readable", "status": "fail", "detail": "the step's report is not JSON"}]}
    rows = report.get("rows") if isinstance(report.get("rows"), dict) else {}
    outputs = []
    for directory, dirnames, filenames in os.walk(output_dir):
        dirnames.sort()
        for name in sorted(filenames):
            if name == executors.STEP_REPORT_NAME or name.startswith("."):
                continue
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, output_dir)
            count = rows.get(rel)
            outputs.append({"path": rel, "bytes": os.path.getsize(path), "sha256": sha256_file(path),
                            "rows": count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None})
    checks = []
    for check in report.get("checks") or []:
        if isinstance(check, dict) and check.get("name") and check.get("status") in ("pass", "fail", "warn"):
            checks.append({"name": str(check["name"]), "status": check["status"],
                           "detail": None if check.get("detail") is None else str(check["detail"])})
    return outputs, checks


class Pipeline:
    """The configured DAG against one manifest store, with one executor per kind."""

    def __init__(self, store, steps, partition_key, executor_by_kind, data_root=None, execution_id=None, backfill_id=None,
                 retry_delay_s=1.0, sleep=time.sleep, rng=random.random, now=receipts.utc_now, pointers=None, selectors=None):
        self.store, self.steps, self.partition_key = store, list(steps), partition_key
        # pointers: the manifest root's pointer store (the "current" pointers, current.py); selectors: the
        # pointer root's (the model selectors, promotion.py). Either may be None (nothing moved / read).
        self.pointers, self.selectors = pointers, selectors
        self.executors, self.data_root = executor_by_kind, data_root
        self.execution_id, self.backfill_id = execution_id, backfill_id
        self.retry_delay_s, self.sleep, self.rng, self.now = retry_delay_s, sleep, rng, now

    # -------------------------------------------------------------- reading state

    def runs_of(self, partition):
        """``{run_id: {asset: manifest}}`` of every run of the partition that has a manifest."""
        runs = {}
        for step in self.steps:
            for run_id in manifest.run_ids(self.store, step["asset"], self.partition_key, partition):
                document = manifest.read_manifest(self.store, step["asset"], self.partition_key, partition, run_id)
                if document is not None:
                    runs.setdefault(run_id, {})[step["asset"]] = document
        return runs

    def latest_run(self, partition):
        """``(run_id, {asset: manifest})`` of the newest run (by its first step's start), or ``(None, {})``."""
        runs = self.runs_of(partition)
        if not runs:
            return None, {}
        run_id = max(runs, key=lambda r: (min(m["started_at"] for m in runs[r].values()), r))
        return run_id, runs[run_id]

    def run_state(self, manifests):
        """``success`` (every step succeeded), ``failed`` (a step failed or was skipped), ``incomplete``
        (a step has no manifest or is still ``running``: an interrupted run), or ``absent``."""
        if not manifests:
            return "absent"
        statuses = [manifests.get(s["asset"], {}).get("status") for s in self.steps]
        if all(status == "success" for status in statuses):
            return "success"
        if any(status in ("failed", "skipped") for status in statuses):
            return "failed"
        return "incomplete"

    def decide(self, partition, resume):
        """What a (resumed) backfill does with a partition: ``{"partition", "action", "run_id", "keep", ...}``.

        ``action``: ``run`` (a new run_id), ``retry_in_place`` (same run_id, only the steps without a
        success manifest), ``skip`` (every step already succeeded).
        """
        if not resume:
            return {"partition": partition, "action": "run", "run_id": None, "keep": [], "previous_run_id": None, "previous_state": None}
        run_id, manifests = self.latest_run(partition)
        state = self.run_state(manifests)
        decision = {"partition": partition, "previous_run_id": run_id, "previous_state": state, "keep": []}
        if state == "absent":
            decision.update(action="run", run_id=None)
        elif state == "success":
            decision.update(action="skip", run_id=run_id)
        else:
            failures = [m.get("failure") for m in manifests.values() if m.get("status") == "failed"]
            category = triage.partition_category(failures)
            decision["category"] = category
            if category == "A":
                decision.update(action="retry_in_place", run_id=run_id,
                                keep=[a for a, m in manifests.items() if m.get("status") == "success"])
            else:
                decision.update(action="run", run_id=None)
        return decision

    def rerun_plan(self, partition, run_id=None):
        """How ``pipeline_rerun`` reruns the partition's run ``run_id`` (default its newest run).

        ``{"action": "none" | "retry_in_place" | "new_run" | "refuse" | "absent", "run_id", "category",
        "keep", "run_as_of_ts", "failures"}``: category A (or an interrupted run) retries in place under
        the same run_id keeping its succeeded steps; B gets a new run_id; C is refused until fixed.
        """
        runs = self.runs_of(partition)
        if run_id is None:
            run_id, manifests = self.latest_run(partition)
        else:
            manifests = runs.get(run_id, {})
        state = self.run_state(manifests)
        plan = {"partition": partition, "run_id": run_id, "state": state, "keep": [], "category": None, "failures": [],
                "run_as_of_ts": next(iter(manifests.values()))["run_as_of_ts"] if manifests else None}
        if state == "absent":
            plan["action"] = "absent"
            return plan
        if state == "success":
            plan["action"] = "none"
            return plan
        failed = [m for m in manifests.values() if m.get("status") == "failed"]
        plan["failures"] = [{"asset": m["asset"], "class": m["failure"]["class"], "category": m["failure"]["category"],
                             "attempts": m["attempts"], "message": m["failure"]["message"], "action": m["failure"].get("action")}
                            for m in failed]
        category = triage.partition_category([m["failure"] for m in failed])
        plan["category"] = category
        if category == "A":
            plan.update(action="retry_in_place", keep=sorted(a for a, m in manifests.items() if m.get("status") == "success"))
        elif category == "B":
            plan["action"] = "new_run"
        else:
            plan["action"] = "refuse"
        return plan

    # -------------------------------------------------------------- running

    def _output_dir(self, step, partition, run_id):
        # Prefect steps: where the flow writes when its worker shares the controller's file system (else nothing is there).
        if step["executor"] not in ("local", "prefect") or not self.data_root:
            return None
        return os.path.join(self.data_root, manifest.partition_dir(step["asset"], self.partition_key, partition, run_id))

    def _write(self, **fields):
        document = manifest.build(partition_key=self.partition_key, backfill_id=self.backfill_id, execution_id=self.execution_id, **fields)
        return manifest.write_manifest(self.store, document), document

    def model_runs(self, names):
        """What each model's selector (``<pointer_root>/<model>_current_run.json``) names now: ``[{"model",
        "run_id", "artifact_uri", "selector", "selector_etag"}]`` (``run_id`` None when it has no selector)."""
        found = []
        for name in sorted(set(names)):
            rel = promotion.selector_path(name)
            snapshot = self.selectors.read(rel) if self.selectors is not None else None
            document = snapshot["document"] if snapshot else {}
            found.append({"model": name, "run_id": document.get("run_id"), "artifact_uri": document.get("artifact_uri"),
                          "selector": self.selectors.uri(rel) if self.selectors is not None else None,
                          "selector_etag": snapshot["etag"] if snapshot else None})
        return found

    def run_step(self, step, partition, run_id, as_of, inputs, models=None):
        """Run one step (with in-place retries of network failures) and write its manifest. ``models``: the
        model runs the step uses (read from their selectors once per partition run), handed to it in
        ``PIPELINE_MODEL*`` variables and recorded in its manifest."""
        executor = self.executors[step["executor"]]
        if models:
            step = dict(step, env=dict(step.get("env") or {}, **promotion.model_environment(models)))
        output_dir = self._output_dir(step, partition, run_id)
        input_dirs = dict((i["asset"], i.get("output_dir")) for i in inputs if i.get("output_dir"))
        manifest_inputs = [dict((k, i[k]) for k in ("asset", "run_id", "manifest", "status")) for i in inputs]
        started_at, started = _now_text(self.now()), time.monotonic()
        history, result, verdict = [], None, None
        attempt = 0
        while True:
            attempt += 1
            attempt_started = _now_text(self.now())
            self._write(asset=step["asset"], partition_value=partition, run_id=run_id, run_as_of_ts=as_of, status="running",
                        started_at=started_at, executor_kind=step["executor"], attempts=attempt,
                        attempt_history=history + [{"attempt": attempt, "started_at": attempt_started, "finished_at": None,
                                                    "exit_code": None, "failure_class": None}],
                        inputs=manifest_inputs, models=models)
            context = executors.StepContext(self.partition_key, partition, run_id, as_of, attempt=attempt, output_dir=output_dir,
                                            inputs=input_dirs, backfill_id=self.backfill_id, data_root=self.data_root, models=models)
            try:
                result = executor.run(step, context)
            except OpsError as exc:
                # The executor could not start the step (an ECS refusal): a failed attempt like any other.
                result = executors.StepResult("failed", message="%s: %s" % (exc.reason, exc.message), log_tail=exc.message)
            verdict = None if result.succeeded else triage.classify(
                "%s\n%s" % (result.message, result.log_tail), result.exit_code, result.timed_out, step["depends_on"])
            history.append({"attempt": attempt, "started_at": attempt_started, "finished_at": _now_text(self.now()),
                            "exit_code": result.exit_code, "failure_class": verdict["class"] if verdict else None})
            # The orchestrator failing us (result.reason: Prefect lost) is never retried in place: the step's flow run may
            # still be running, and a new attempt would start it a second time. resume adopts that run instead.
            if verdict is None or result.reason or verdict["class"] not in triage.RETRIED_IN_PLACE or attempt > step["retries"]:
                break
            # Exponential backoff with full jitter (0.5x-1.5x), so parallel partitions do not retry in lockstep.
            self.sleep(self.retry_delay_s * (2 ** (attempt - 1)) * (0.5 + self.rng()))
        outputs, checks = describe_outputs(output_dir)
        failure = None
        if verdict is not None:
            failure = {"reason": result.reason or "step_failed", "class": verdict["class"], "category": verdict["category"],
                       "message": (result.message or "")[:500],
                       "action": executors.ORCHESTRATOR_ACTIONS.get(result.reason) or verdict["action"],
                       "upstream_asset": verdict["upstream_asset"], "log_tail": (result.log_tail or "")[-2000:] or None}
        detail = dict((k, v) for k, v in result.detail.items() if isinstance(v, (str, int, float)) or v is None)
        uri, document = self._write(
            asset=step["asset"], partition_value=partition, run_id=run_id, run_as_of_ts=as_of,
            status="success" if verdict is None else "failed", started_at=started_at, finished_at=_now_text(self.now()),
            duration_s=time.monotonic() - started, executor_kind=step["executor"], executor_ref=result.ref, executor_detail=detail or None,
            attempts=attempt, attempt_history=history, inputs=manifest_inputs, outputs=outputs, checks=checks, failure=failure,
            models=models)
        return {"asset": step["asset"], "status": document["status"], "manifest": uri, "output_dir": output_dir, "document": document}

    def skip_step(self, step, partition, run_id, as_of, blocked):
        now = _now_text(self.now())
        uri, document = self._write(
            asset=step["asset"], partition_value=partition, run_id=run_id, run_as_of_ts=as_of, status="skipped", started_at=now,
            finished_at=now, duration_s=0, executor_kind=step["executor"], attempts=0,
            skip_reason="upstream step(s) %s did not succeed in run %s" % (", ".join(blocked), run_id))
        return {"asset": step["asset"], "status": "skipped", "manifest": uri, "output_dir": None, "document": document}

    def run_partition(self, partition, run_id, as_of, keep=()):
        """Every step of the partition under ``run_id`` in DAG order; ``keep`` lists steps that already
        succeeded in this run (their manifests stand). Returns the partition's outcome."""
        started_at, started = _now_text(self.now()), time.monotonic()
        done = {}
        # One read of the model selectors per partition run, so all its steps score with the same model runs.
        models = dict((m["model"], m) for m in self.model_runs([n for s in self.steps for n in s.get("models") or []]))
        for step in self.steps:
            if step["asset"] in keep:
                document = manifest.read_manifest(self.store, step["asset"], self.partition_key, partition, run_id)
                if manifest.succeeded(document):
                    done[step["asset"]] = {"asset": step["asset"], "status": "success", "reused": True, "document": document,
                                           "manifest": self.store.uri(manifest.manifest_path(step["asset"], self.partition_key, partition, run_id)),
                                           "output_dir": self._output_dir(step, partition, run_id)}
                    continue
            blocked = [d for d in step["depends_on"] if done.get(d, {}).get("status") != "success"]
            if blocked:
                done[step["asset"]] = self.skip_step(step, partition, run_id, as_of, blocked)
                continue
            inputs = [{"asset": d, "run_id": run_id, "manifest": done[d]["manifest"], "status": "success",
                       "output_dir": done[d].get("output_dir")} for d in step["depends_on"]]
            done[step["asset"]] = self.run_step(step, partition, run_id, as_of, inputs, models=[models[n] for n in step.get("models") or []])
        failed = [done[s["asset"]]["document"] for s in self.steps if done[s["asset"]]["status"] == "failed"]
        first = failed[0] if failed else None
        # The "current" pointers move only after every step of the run succeeded (the runbook's rule).
        moves = self.move_current(partition, run_id, as_of, done) if not failed else {"moved": [], "held": [], "unchanged": [], "errors": []}
        return {
            "partition": partition, "run_id": run_id, "run_as_of_ts": as_of,
            "status": "failed" if failed else "success",
            "failed_step": first["asset"] if first else None,
            "failure_class": first["failure"]["class"] if first else None,
            "failure_reason": first["failure"]["reason"] if first else None,
            "category": first["failure"]["category"] if first else None,
            "attempts": first["attempts"] if first else None,
            "failed_steps": [{"asset": d["asset"], "class": d["failure"]["class"], "category": d["failure"]["category"],
                              "reason": d["failure"]["reason"],
                              "attempts": d["attempts"], "message": d["failure"]["message"]} for d in failed],
            "reused_steps": [s["asset"] for s in self.steps if done[s["asset"]].get("reused")],
            "started_at": started_at, "finished_at": _now_text(self.now()), "duration_s": round(time.monotonic() - started, 3),
            "current": moves,
        }

    def settle_current(self, partition, run_id):
        """Move the current pointers to ``run_id`` of ``partition`` when every step of it succeeded (a run
        killed between its last manifest and its last pointer move); idempotent, like move_current."""
        done = {}
        for step in self.steps:
            document = manifest.read_manifest(self.store, step["asset"], self.partition_key, partition, run_id)
            if not manifest.succeeded(document):
                return {"moved": [], "held": [], "unchanged": [], "errors": []}
            done[step["asset"]] = {"status": "success", "document": document,
                                   "manifest": self.store.uri(manifest.manifest_path(step["asset"], self.partition_key, partition, run_id))}
        return self.move_current(partition, run_id, done[self.steps[0]["asset"]]["document"]["run_as_of_ts"], done)

    def move_current(self, partition, run_id, as_of, done):
        """Move each asset's current pointer to this run (forward only, compare-and-swap retried on top of
        the new state: current.py). ``{"moved", "held", "unchanged", "errors"}`` by asset; a pointer that
        cannot be moved is reported, not raised: the run's outputs stand either way."""
        moves = {"moved": [], "held": [], "unchanged": [], "errors": []}
        if self.pointers is None or any(done[s["asset"]]["status"] != "success" for s in self.steps):
            return moves
        for step in self.steps:
            entry = done[step["asset"]]
            used = [{"model": m["model"], "run_id": m["run_id"]} for m in entry["document"].get("models") or []]
            proposed = current.document(step["asset"], self.partition_key, partition, run_id, as_of, entry["manifest"], _now_text(self.now()),
                                        execution_id=self.execution_id, backfill_id=self.backfill_id, models=used)
            try:
                moved = pointer_store.move(self.pointers, current.pointer_path(step["asset"]), current.advance(proposed))
            except OpsError as exc:
                moves["errors"].append({"asset": step["asset"], "reason": exc.reason, "message": exc.message})
                continue
            after = moved["after"] or {}
            if moved["changed"]:
                moves["moved"].append(step["asset"])
            elif after.get("run_id") == run_id and (after.get("partition") or {}).get("value") == partition:
                moves["unchanged"].append(step["asset"])
            else:
                moves["held"].append(step["asset"])
        return moves


# ------------------------------------------------------------------ backfill

def summary_document(backfill, decisions, results, started_at, wall_time_s, status, previous=None):
    """The backfill's summary.json (pipeline_backfill_summary.v1)."""
    by_partition = dict((r["partition"], r) for r in results)
    partitions, failed_by_class = [], {}
    counts = {"succeeded": 0, "skipped": 0, "failed": 0, "pending": 0}
    for decision in decisions:
        result = by_partition.get(decision["partition"])
        entry = {"partition": decision["partition"], "action": decision["action"], "run_id": decision.get("run_id")}
        if decision["action"] == "skip":
            entry["status"] = "skipped"
            counts["skipped"] += 1
        elif result is None:
            entry["status"] = "pending"
            counts["pending"] += 1
        else:
            entry.update((k, result[k]) for k in ("run_id", "status", "failed_step", "failure_class", "failure_reason", "category",
                                                  "attempts", "started_at", "finished_at", "duration_s"))
            if result["status"] == "success":
                entry["status"] = "succeeded"
                counts["succeeded"] += 1
            else:
                counts["failed"] += 1
                failed_by_class[result["failure_class"]] = failed_by_class.get(result["failure_class"], 0) + 1
        partitions.append(entry)
    return {
        "schema_version": manifest.SUMMARY_SCHEMA_VERSION, "backfill_id": backfill["backfill_id"], "status": status,
        "start": backfill["start"], "end": backfill["end"], "as_of_mode": backfill["as_of_mode"], "max_parallel": backfill["max_parallel"],
        "resume": backfill["resume"], "assets": backfill["assets"], "partition_key": backfill["partition_key"],
        "execution_id": backfill.get("execution_id"), "invocation": (previous or {}).get("invocation", 0) + 1,
        "planned": len(decisions), "to_run": len([d for d in decisions if d["action"] != "skip"]),
        "succeeded": counts["succeeded"], "skipped": counts["skipped"], "failed": counts["failed"], "pending": counts["pending"],
        "failed_by_class": failed_by_class, "started_at": started_at, "wall_time_s": round(wall_time_s, 3),
        "finished_at": _now_text() if status != "running" else None, "partitions": partitions,
    }


def run_backfill(pipeline, backfill, decisions, as_of_of, max_parallel, previous=None, on_progress=None):
    """Run every partition of ``decisions`` that is not skipped, at most ``max_parallel`` at once.

    ``as_of_of(partition)`` gives the partition's run_as_of_ts. The summary is rewritten after each
    partition (progress: ``status: running``, ``pending``) and once at the end. Returns the summary.
    """
    started_at, started = _now_text(), time.monotonic()
    results, lock = [], threading.Lock()
    work = [d for d in decisions if d["action"] != "skip"]
    for decision in work:
        if not decision.get("run_id"):
            decision["run_id"] = new_run_id()

    def write(status):
        summary = summary_document(backfill, decisions, results, started_at, time.monotonic() - started, status, previous)
        manifest.write_summary(pipeline.store, backfill["backfill_id"], summary)
        return summary

    write("running")

    def one(decision):
        outcome = pipeline.run_partition(decision["partition"], decision["run_id"], as_of_of(decision["partition"]),
                                         keep=decision.get("keep") or ())
        with lock:
            results.append(outcome)
            summary = write("running")
            if on_progress:
                on_progress(summary)
        return outcome

    bounded_map(one, work, max_parallel)
    failed = [r for r in results if r["status"] != "success"]
    return write("failed" if failed else "succeeded")


# ------------------------------------------------------------------ daily status

def partition_status(pipeline, partition):
    """The daily check of one partition from manifests: each configured step's newest manifest."""
    steps, missing, failing, running = [], [], [], []
    for step in pipeline.steps:
        runs = manifest.run_ids(pipeline.store, step["asset"], pipeline.partition_key, partition)
        documents = [manifest.read_manifest(pipeline.store, step["asset"], pipeline.partition_key, partition, r) for r in runs]
        documents = [d for d in documents if d is not None]
        if not documents:
            missing.append(step["asset"])
            steps.append({"asset": step["asset"], "status": "missing", "run_id": None, "attempts": 0, "runs": 0})
            continue
        newest = max(documents, key=lambda d: (d["started_at"], d["run_id"]))
        entry = {"asset": step["asset"], "status": newest["status"], "run_id": newest["run_id"], "attempts": newest["attempts"],
                 "runs": len(documents), "finished_at": newest["finished_at"],
                 "manifest": pipeline.store.uri(manifest.manifest_path(step["asset"], pipeline.partition_key, partition, newest["run_id"]))}
        if newest.get("failure"):
            entry.update(failure_class=newest["failure"]["class"], category=newest["failure"]["category"],
                         message=newest["failure"]["message"], action=newest["failure"].get("action"))
        if newest["status"] in ("failed", "skipped"):
            failing.append(entry)
        elif newest["status"] == "running":
            running.append(entry)
        steps.append(entry)
    run_ids = sorted(set(s["run_id"] for s in steps if s["run_id"]))
    return {"partition": partition, "partition_key": pipeline.partition_key, "steps": steps, "missing": missing,
            "failing": [s for s in failing if s["status"] == "failed"] or failing, "running": running, "run_ids": run_ids,
            "current": current_status(pipeline, partition, steps)}


def current_status(pipeline, partition, steps):
    """Whether the assets' current pointers moved to the partition's run (current.state), read back from
    ``<manifest_root>/_current/``; an unreadable pointer counts as not moved."""
    found = {}
    for step in steps:
        try:
            snapshot = pipeline.pointers.read(current.pointer_path(step["asset"])) if pipeline.pointers is not None else None
        except OpsError:
            snapshot = None
        found[step["asset"]] = snapshot["document"] if snapshot else None
    return current.state(partition, steps, found)


def today(now=None):
    return (now or datetime.datetime.now(datetime.timezone.utc)).date().isoformat()
