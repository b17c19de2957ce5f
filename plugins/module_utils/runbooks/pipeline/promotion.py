# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Model promotion and rollback: the runbook's ``config/<model>_current_run.json`` selectors.

The runbook's safe promotion: (1) a trained candidate run is an artifact directory with a ``meta.json``;
(2) a smoke scoring of the candidate against a recent partition, with publishing disabled, must
produce output of the expected shape; (3) only then the selector moves, atomically; (4) the next daily
run's manifests name the model run it used (engine.py); (5) rollback restores the previous selector
contents.

Layout, under the pointer root (a local directory or ``s3://<bucket>/<prefix>``)::

    <model>_current_run.json                     the selector (pipeline_model_selector.v1)
    _history/<model>/<UTC time>-<action>-<id>.json one change record per move (who, when, before, after)

The selector names the model run (``run_id``, ``artifact_uri``, ``meta_sha256``), who promoted it, when,
under which execution id, the smoke that passed, and ``history``: the previous selector contents,
newest first (each without its own history), at most ``history_limit`` of them. A promotion pushes the
current contents onto ``history``; a rollback pops: the selector becomes exactly the contents it had
before the promotion it undoes (the same canonical bytes, so the same ETag body). The rollback itself is
recorded in the change journal and the receipt, not in the selector, so that "restore the previous
contents" holds byte for byte.

Concurrency (pointer_store.py): the selector is read with its etag when the promotion is planned, before
the smoke runs, and written only if it still has that etag (S3 ``If-Match``/``If-None-Match: *``; local
re-read + compare + rename under a short flock). Of two racing promotions one wins; the other gets
``pointer_conflict`` and writes nothing. It is not retried on top of the winner on purpose: the operator
approved replacing the selector they saw (the diff), and silently stacking on a colleague's fresh
promotion would undo it without anyone deciding to. Rerunning the loser promotes on top of the winner,
which then stays in its history. Rollback is refused the same way when the selector moved.

The functions above the "doing" line are pure (planning, validation, shape checks); the ones below do I/O.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import datetime
import getpass
import hashlib
import io
import json
import os
import re
import time
import uuid

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core import schema as json_schema
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import executors, manifest, plan, pointer_store
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecs as ecs_service
from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_service

SELECTOR_SCHEMA_VERSION = "pipeline_model_selector.v1"
CHANGE_SCHEMA_VERSION = "pipeline_model_selector_change.v1"
SELECTOR_SUFFIX = "_current_run.json"
JOURNAL_DIR = "_history"
META_NAME = "meta.json"
DEFAULT_HISTORY_LIMIT = 20
MODEL_PATTERN = manifest.ASSET_PATTERN
META_REQUIRED = ("model", "run_id", "created_at")
SMOKE_KEYS = frozenset(("step", "executor", "command", "cwd", "env", "timeout_s", "task_definition", "container_name", "deployment",
                        "parameters", "depends_on", "output", "output_uri", "expect_columns", "min_rows", "lookback_days"))
DEFAULT_LOOKBACK_DAYS = 7
_TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$"

_SELECTION_PROPERTIES = {
    "schema_version": {"type": "string", "enum": [SELECTOR_SCHEMA_VERSION]},
    "model": {"type": "string", "pattern": MODEL_PATTERN},
    "run_id": {"type": "string", "pattern": manifest.RUN_ID_PATTERN},
    "artifact_uri": {"type": "string", "minLength": 1},
    "meta_sha256": {"type": "string", "pattern": r"^[0-9a-f]{64}$"},
    "created_at": {"type": "string", "pattern": _TIMESTAMP},
    "metrics": {"type": "object"},
    "promoted_at": {"type": "string", "pattern": _TIMESTAMP},
    "promoted_by": {"type": "string", "minLength": 1},
    "execution_id": {"type": ["string", "null"]},
    "note": {"type": ["string", "null"]},
    "smoke": {
        "type": "object", "additionalProperties": False,
        "required": ["partition", "run_id", "executor", "output", "rows", "columns"],
        "properties": {"partition": {"type": "string", "pattern": manifest.PARTITION_VALUE_PATTERN},
                       "run_id": {"type": "string", "pattern": manifest.RUN_ID_PATTERN},
                       "executor": {"type": "string"}, "ref": {"type": ["string", "null"]},
                       "output": {"type": "string"}, "rows": {"type": "integer", "minimum": 0},
                       "columns": {"type": "array", "items": {"type": "string"}},
                       "inputs": {"type": "object"}, "duration_s": {"type": ["number", "null"]}},
    },
}
_SELECTION_REQUIRED = ["schema_version", "model", "run_id", "artifact_uri", "meta_sha256", "created_at", "promoted_at", "promoted_by",
                       "execution_id", "smoke"]

SELECTOR_V1_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://signalcraft.invalid/schemas/pipeline_model_selector.v1.json",
    "title": "signalcraft.ops pipeline_model_selector.v1",
    "description": "<pointer_root>/<model>_current_run.json: the model run the pipeline scores with, and the previous contents, newest "
                   "first (a rollback restores history[0] exactly). A history entry written by another tool is kept as it was.",
    "type": "object",
    "additionalProperties": False,
    "required": _SELECTION_REQUIRED + ["history"],
    "properties": dict(_SELECTION_PROPERTIES, history={"type": "array", "items": {"type": "object"}}),
}


class PromotionError(OpsError):
    """A promotion or rollback refused or failed; nothing was written unless ``changed_so_far``."""

    def __init__(self, reason, message, details=None, changed_so_far=False):
        super(PromotionError, self).__init__(reason, message, details=details, changed_so_far=changed_so_far)


# ---------------------------------------------------------------- names and documents (pure)

def require_model(model):
    return manifest.require_name(model, MODEL_PATTERN, "model", "model")


def selector_path(model):
    """``<model>_current_run.json`` relative to the pointer root."""
    return require_model(model) + SELECTOR_SUFFIX


def journal_dir(model):
    return "%s/%s" % (JOURNAL_DIR, require_model(model))


def journal_name(moment, action):
    return "%s-%s-%s.json" % (moment.strftime("%Y%m%dT%H%M%S%fZ"), action, uuid.uuid4().hex[:8])


def selection_of(document):
    """The selector's contents without its history (what a history entry holds)."""
    return dict((k, v) for k, v in (document or {}).items() if k != "history")


def problems_of(document):
    """Every way ``document`` differs from pipeline_model_selector.v1."""
    return json_schema.problems_of(document, SELECTOR_V1_SCHEMA, "selector")


def is_selector(document):
    return isinstance(document, dict) and document.get("schema_version") == SELECTOR_SCHEMA_VERSION


def artifact_location(model, run_id, artifact_dir=None, model_root=None):
    """Where the candidate lives: ``artifact_dir`` as given, else ``<model_root>/<model>/<run_id>``."""
    if artifact_dir:
        text = artifact_dir.strip().rstrip("/")
        if not (text.startswith("s3://") or os.path.isabs(os.path.expanduser(text))):
            raise PromotionError("invalid_input", "artifact_dir %r must be an absolute directory or s3://<bucket>/<prefix>; fix -e "
                                                  "artifact_dir." % artifact_dir)
        if ".." in text.split("/"):
            raise PromotionError("invalid_input", "artifact_dir %r must not contain '..'; fix -e artifact_dir." % artifact_dir)
        return text if text.startswith("s3://") else os.path.abspath(os.path.expanduser(text))
    if not run_id:
        raise PromotionError("invalid_input", "name the candidate: -e run_id=<model run> (found under pipeline_model_root/<model>/<run_id>) "
                                              "or -e artifact_dir=<its directory>.")
    if not model_root:
        raise PromotionError("invalid_input", "no model root is set to find run %s under; set signalcraft_pipeline_model_root in the "
                                              "inventory, or pass -e artifact_dir=<the candidate's directory>." % run_id)
    manifest.require_name(run_id, manifest.RUN_ID_PATTERN, "run_id", "run_id")
    root = model_root.strip().rstrip("/")
    if root.startswith("s3://"):
        return "%s/%s/%s" % (root, model, run_id)
    if not os.path.isabs(os.path.expanduser(root)):
        raise PromotionError("invalid_input", "pipeline_model_root %r must be an absolute directory or s3://<bucket>/<prefix>; fix "
                                              "signalcraft_pipeline_model_root in the inventory." % model_root)
    return os.path.join(os.path.abspath(os.path.expanduser(root)), model, run_id)


def validate_meta(meta, model, run_id, where):
    """The candidate's run id when ``meta`` (its meta.json) has the expected shape; model_candidate_invalid otherwise.

    Expected: an object with ``model`` (the model promoted), ``run_id`` (a run id; the one asked for, if
    any), ``created_at`` (UTC ``...Z``); optional ``metrics``/``params`` (objects) and ``files`` (names
    relative to the directory that must exist next to meta.json). Other keys are kept by the trainer's choice.
    """
    problems = []
    if not isinstance(meta, dict):
        raise PromotionError("model_candidate_invalid", "%s is not a JSON object; the trainer writes meta.json with %s." % (
            where, ", ".join(META_REQUIRED)))
    missing = [k for k in META_REQUIRED if k not in meta]
    if missing:
        problems.append("missing %s" % ", ".join(missing))
    if "model" in meta and meta["model"] != model:
        problems.append("model is %r, not %r" % (meta["model"], model))
    if "run_id" in meta and not manifest.valid_name(meta["run_id"], manifest.RUN_ID_PATTERN):
        problems.append("run_id %r is not a run id" % (meta["run_id"],))
    elif run_id and meta.get("run_id") not in (None, run_id):
        problems.append("run_id is %r, not the %r asked for" % (meta["run_id"], run_id))
    if "created_at" in meta and not (isinstance(meta["created_at"], str) and re.match(_TIMESTAMP, meta["created_at"])):
        problems.append("created_at %r is not a UTC timestamp YYYY-MM-DDTHH:MM:SSZ" % (meta["created_at"],))
    for key in ("metrics", "params"):
        if key in meta and not isinstance(meta[key], dict):
            problems.append("%s is not an object" % key)
    files = meta.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) and f and not f.startswith("/") and ".." not in f.split("/")
                                              for f in files):
        problems.append("files must be a list of relative names inside the directory")
    if problems:
        raise PromotionError("model_candidate_invalid", "%s is not a candidate's meta.json: %s; fix the candidate (or -e run_id / -e "
                                                        "artifact_dir); nothing was promoted." % (where, "; ".join(problems)),
                             details={"meta": where, "problems": problems})
    return meta["run_id"]


def normalise_smoke(smoke, steps, known_executors=None):
    """The smoke scoring step and its expectations from ``pipeline_promote_smoke`` (invalid_input when wrong).

    ``step`` reuses a configured step (its executor, command/task definition/deployment, env, parameters,
    depends_on) with the smoke's keys on top; without it the smoke is a step of its own (``executor``,
    ``command``, ``task_definition`` or ``deployment``, ``depends_on``). ``output`` is the file the smoke
    writes in its output directory (local; a Prefect flow whose worker shares the controller's file
    system); ``output_uri`` the S3 object an ECS or Prefect smoke writes (``{model}``, ``{model_run_id}``,
    ``{smoke_run_id}``, ``{partition}`` are filled in). ``expect_columns`` (default none) and ``min_rows``
    (default 1) are the expected shape; ``lookback_days`` (default 7) how far back a recent partition is searched.
    """
    fix = " Fix pipeline_promote_smoke in inventories/<env>/group_vars/all/pipeline.yml."
    if not isinstance(smoke, dict) or not smoke:
        raise PromotionError("invalid_input", "no smoke scoring is configured, and a promotion needs one." + fix)
    unknown = sorted(set(smoke) - SMOKE_KEYS)
    if unknown:
        raise PromotionError("invalid_input", "pipeline_promote_smoke has unknown keys %s (allowed: %s)." % (
            ", ".join(unknown), ", ".join(sorted(SMOKE_KEYS))) + fix)
    by_asset = dict((s["asset"], s) for s in steps)
    base = {}
    if smoke.get("step"):
        if smoke["step"] not in by_asset:
            raise PromotionError("invalid_input", "pipeline_promote_smoke.step %r is not a configured step (%s)." % (
                smoke["step"], ", ".join(by_asset)) + fix)
        base = by_asset[smoke["step"]]
    step = {"asset": base.get("asset") or "smoke"}
    for key in ("executor", "command", "cwd", "timeout_s", "task_definition", "container_name", "deployment", "parameters"):
        if smoke.get(key) is not None:
            step[key] = smoke[key]
        elif base.get(key) is not None:
            step[key] = base[key]
    step["env"] = dict(base.get("env") or {}, **dict(smoke.get("env") or {}))
    depends = smoke.get("depends_on", base.get("depends_on") or [])
    depends = [depends] if isinstance(depends, str) else list(depends or [])
    unknown_deps = [d for d in depends if d not in by_asset]
    if unknown_deps:
        raise PromotionError("invalid_input", "pipeline_promote_smoke.depends_on names %s, which no step produces." % ", ".join(unknown_deps) + fix)
    step["retries"] = 0
    try:
        [step] = plan.normalise_steps([step], known_executors)
    except OpsError as exc:
        raise PromotionError("invalid_input", "pipeline_promote_smoke: %s" % exc.message.replace(
            " Fix pipeline_steps in inventories/<env>/group_vars/all/pipeline.yml.", "") + fix)
    step["depends_on"] = depends
    columns = smoke.get("expect_columns") or []
    expect = {"output": smoke.get("output"), "output_uri": smoke.get("output_uri"),
              "columns": list(columns) if isinstance(columns, list) else None, "min_rows": smoke.get("min_rows", 1),
              "lookback_days": smoke.get("lookback_days", DEFAULT_LOOKBACK_DAYS)}
    if step["executor"] == "local":
        output = expect["output"]
        if not isinstance(output, str) or not output or output.startswith("/") or ".." in output.split("/"):
            raise PromotionError("invalid_input", "pipeline_promote_smoke.output must name the file the smoke writes in its output "
                                                  "directory (for example scores.csv)." + fix)
    elif step["executor"] == "prefect" and expect["output_uri"] is None:
        # A flow whose worker shares the controller's file system writes <data_root>/_smoke/... like a local smoke.
        output = expect["output"]
        if not isinstance(output, str) or not output or output.startswith("/") or ".." in output.split("/"):
            raise PromotionError("invalid_input", "a prefect smoke needs pipeline_promote_smoke.output (the file the flow writes in the "
                                                  "output_dir it is given, on a file system the controller shares) or output_uri (the "
                                                  "s3:// object it writes)." + fix)
    elif not (isinstance(expect["output_uri"], str) and expect["output_uri"].startswith("s3://")):
        raise PromotionError("invalid_input", "a %s smoke needs pipeline_promote_smoke.output_uri: the s3:// object it writes "
                                              "({smoke_run_id}, {model_run_id}, {model}, {partition} are filled in)." % step["executor"] + fix)
    if expect["columns"] is None or not all(isinstance(c, str) and c for c in expect["columns"]):
        raise PromotionError("invalid_input", "pipeline_promote_smoke.expect_columns must be a list of column names." + fix)
    for key in ("min_rows", "lookback_days"):
        value = expect[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "min_rows" else 1):
            raise PromotionError("invalid_input", "pipeline_promote_smoke.%s must be a whole number (min_rows >= 0, lookback_days "
                                                  ">= 1)." % key + fix)
    output_name = expect["output"] or expect["output_uri"].rsplit("/", 1)[-1]
    if not output_name.endswith((".csv", ".json", ".jsonl")):
        raise PromotionError("invalid_input", "the smoke's output %r must be .csv, .json (a list of objects) or .jsonl so its shape "
                                              "can be checked." % output_name + fix)
    return step, expect


def model_environment(models):
    """The environment a step that uses ``models`` gets: ``PIPELINE_MODELS`` (JSON: model -> run_id and
    artifact_uri) and, for a step of one model, ``PIPELINE_MODEL``, ``PIPELINE_MODEL_RUN_ID``,
    ``PIPELINE_MODEL_ARTIFACT_DIR`` (empty when the model has no selector)."""
    env = {"PIPELINE_MODELS": json.dumps(dict((m["model"], {"run_id": m["run_id"], "artifact_uri": m["artifact_uri"]}) for m in models),
                                         sort_keys=True)}
    if len(models) == 1:
        env.update(PIPELINE_MODEL=models[0]["model"], PIPELINE_MODEL_RUN_ID=models[0]["run_id"] or "",
                   PIPELINE_MODEL_ARTIFACT_DIR=models[0]["artifact_uri"] or "")
    return env


def smoke_environment(model, run_id, artifact_uri):
    """A smoke scoring's environment: the candidate as the model, publishing disabled."""
    env = model_environment([{"model": model, "run_id": run_id, "artifact_uri": artifact_uri}])
    env.update(PIPELINE_SMOKE="1", PIPELINE_PUBLISH="0")
    return env


def render_output_uri(template, model, model_run_id, smoke_run_id, partition):
    return template.replace("{model}", model).replace("{model_run_id}", model_run_id).replace(
        "{smoke_run_id}", smoke_run_id).replace("{partition}", partition)


def output_shape(data, name):
    """``(columns, rows)`` of a smoke output: a CSV (header row, data rows), a JSON list of objects, or JSON lines."""
    text = data.decode("utf-8")
    if name.endswith(".csv"):
        reader = list(csv.reader(io.StringIO(text)))
        if not reader:
            return [], 0
        return [c.strip() for c in reader[0]], len([r for r in reader[1:] if any(cell.strip() for cell in r)])
    if name.endswith(".jsonl"):
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        records = json.loads(text)
        if not isinstance(records, list):
            raise ValueError("not a JSON list of records")
    columns = []
    for record in records:
        if not isinstance(record, dict):
            raise ValueError("a record is not an object")
        columns.extend(k for k in record if k not in columns)
    return columns, len(records)


def check_shape(columns, rows, expect):
    """The ways the smoke's output differs from the expected shape (empty: it has it)."""
    problems = []
    missing = [c for c in expect["columns"] if c not in columns]
    if missing:
        problems.append("missing required columns %s (it has %s)" % (missing, columns))
    if rows < expect["min_rows"]:
        problems.append("%d row(s), fewer than min_rows=%d" % (rows, expect["min_rows"]))
    return problems


def same_candidate(current, candidate):
    """True when the selector already names exactly this candidate (same run, artifact and meta.json)."""
    return bool(current) and all(current.get(k) == candidate[k] for k in ("model", "run_id", "artifact_uri", "meta_sha256"))


def promoted_document(candidate, smoke, previous, promoted_at, promoted_by, execution_id, note=None, history_limit=DEFAULT_HISTORY_LIMIT,
                      validate=True):
    """The selector after promoting ``candidate``: the previous contents pushed onto ``history``
    (``validate=False``: a preview whose smoke has not run yet, for check mode)."""
    history = []
    if previous:
        older = list(previous.get("history") or []) if is_selector(previous) else []
        history = [selection_of(previous)] + older
    document = {
        "schema_version": SELECTOR_SCHEMA_VERSION, "model": candidate["model"], "run_id": candidate["run_id"],
        "artifact_uri": candidate["artifact_uri"], "meta_sha256": candidate["meta_sha256"], "created_at": candidate["created_at"],
        "metrics": dict(candidate.get("metrics") or {}), "promoted_at": promoted_at, "promoted_by": promoted_by,
        "execution_id": execution_id, "note": note or None, "smoke": smoke, "history": history[:max(1, history_limit)],
    }
    problems = problems_of(document) if validate else []
    if problems:
        raise PromotionError("model_candidate_invalid", "the selector for %s would not be valid: %s" % (candidate["run_id"], "; ".join(problems)))
    return document


def rolled_back_document(current):
    """The selector's previous contents, exactly as they were (history[0], with the older history)."""
    history = list((current or {}).get("history") or [])
    if not history:
        return None
    document = dict(history[0])
    if is_selector(document):
        document["history"] = history[1:]
    return document


def change_record(model, action, selector_uri, before, after, before_etag, after_etag, at, by, execution_id, note=None, smoke=None):
    """One entry of the change journal (who moved the selector, when, from what to what)."""
    return {"schema_version": CHANGE_SCHEMA_VERSION, "model": model, "action": action, "selector": selector_uri, "at": at, "by": by,
            "execution_id": execution_id, "note": note or None,
            "before": {"run_id": (before or {}).get("run_id"), "etag": before_etag},
            "after": {"run_id": (after or {}).get("run_id"), "etag": after_etag}, "smoke": smoke}


def _text(document):
    return "" if document is None else pointer_store.serialize(document).decode("utf-8")


def diff_of(uri, before, after):
    """Ansible's diff of the selector: its canonical JSON before and after."""
    return {"before": _text(before), "after": _text(after), "before_header": uri, "after_header": uri}


def who(given=None):
    if given:
        return given
    try:
        return getpass.getuser()
    except Exception:  # pylint: disable=broad-except  # no user name in a bare container
        return "unknown"


def now_text():
    return receipts.format_timestamp(receipts.utc_now())


# ---------------------------------------------------------------- doing (I/O)

def read_candidate(location, model, run_id, s3_client_factory):
    """``{"model", "run_id", "artifact_uri", "meta_sha256", "created_at", "metrics", "meta"}`` of the candidate
    at ``location`` (local directory or s3:// prefix), after its meta.json and listed files were checked."""
    if location.startswith("s3://"):
        bucket, prefix = s3_service.parse_uri(location)
        s3 = s3_client_factory()
        meta_key = s3_service.join_key(prefix, META_NAME)
        where = s3_service.format_uri(bucket, meta_key)
        try:
            data = s3.get_object(Bucket=bucket, Key=meta_key)["Body"].read()
        except Exception as exc:  # botocore ClientError
            if s3_service.error_code(exc) in s3_service.ALREADY_GONE:
                raise PromotionError("model_candidate_invalid", "%s does not exist: the candidate's artifact directory has no meta.json; "
                                                                "fix -e run_id / -e artifact_dir." % where)
            raise

        def exists(rel):
            return s3_service.exists(s3, bucket, s3_service.join_key(prefix, rel))
    else:
        where = os.path.join(location, META_NAME)
        if not os.path.isdir(location):
            raise PromotionError("model_candidate_invalid", "the candidate's artifact directory %s does not exist; fix -e run_id (under "
                                                            "pipeline_model_root/%s/) or -e artifact_dir." % (location, model))
        try:
            with open(where, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            raise PromotionError("model_candidate_invalid", "%s does not exist: the candidate's artifact directory has no meta.json; "
                                                            "the trainer writes it (model, run_id, created_at)." % where)

        def exists(rel):
            return os.path.isfile(os.path.join(location, rel))
    try:
        meta = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise PromotionError("model_candidate_invalid", "%s is not JSON (%s); fix the candidate; nothing was promoted." % (where, exc))
    found_run_id = validate_meta(meta, model, run_id, where)
    missing = [f for f in meta.get("files") or [] if not exists(f)]
    if missing:
        raise PromotionError("model_candidate_invalid", "the candidate %s lacks the files its meta.json lists: %s; fix the candidate; "
                                                        "nothing was promoted." % (location, ", ".join(missing)))
    return {"model": model, "run_id": found_run_id, "artifact_uri": location, "meta_sha256": hashlib.sha256(data).hexdigest(),
            "created_at": meta["created_at"], "metrics": meta.get("metrics") or {}, "meta": where}


def _newest_success(store, asset, partition_key, partition):
    documents = [manifest.read_manifest(store, asset, partition_key, partition, r) for r in manifest.run_ids(store, asset, partition_key, partition)]
    documents = [d for d in documents if manifest.succeeded(d)]
    return max(documents, key=lambda d: (d["started_at"], d["run_id"])) if documents else None


def smoke_inputs(store, partition_key, depends_on, partitions):
    """The first of ``partitions`` (newest first) where every upstream asset of the smoke has a successful
    run: ``(partition, {asset: manifest})``, or ``(None, {})``."""
    for partition in partitions:
        found = {}
        for asset in depends_on:
            document = _newest_success(store, asset, partition_key, partition)
            if document is None:
                break
            found[asset] = document
        else:
            return partition, found
    return None, {}


def run_smoke(executor, pipeline, step, expect, candidate, partition, upstream, s3_client_factory, smoke_run_id=None):
    """Run the smoke scoring of ``candidate`` on ``partition`` through ``executor`` (the smoke step's kind),
    with the upstream outputs of ``pipeline``'s steps as its inputs, then check its output's shape.

    The smoke writes under ``<data_root>/_smoke/<model>/run=<model run>/smoke=<smoke run>/`` (local, or a
    Prefect flow on a shared file system) or its ``output_uri`` (ECS, Prefect): never under a partition's
    run, and no manifest, so nothing downstream sees it; ``PIPELINE_PUBLISH=0`` (a Prefect flow: the
    parameter ``smoke.publish`` false) tells the step not to publish. Returns the smoke record; PromotionError(smoke_failed)
    saying why otherwise.
    """
    smoke_run_id = smoke_run_id or new_smoke_run_id()
    output_dir = None
    if step["executor"] == "local" or (step["executor"] == "prefect" and not expect.get("output_uri")):
        output_dir = os.path.join(pipeline.data_root, "_smoke", candidate["model"], "run=%s" % candidate["run_id"], "smoke=%s" % smoke_run_id)
    inputs = {}
    for asset, document in upstream.items():
        configured = [s for s in pipeline.steps if s["asset"] == asset]
        if configured and configured[0]["executor"] == "local" and pipeline.data_root:
            inputs[asset] = os.path.join(pipeline.data_root, manifest.partition_dir(asset, pipeline.partition_key, partition, document["run_id"]))
    as_of = next(iter(upstream.values()))["run_as_of_ts"] if upstream else receipts.utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")
    env = dict(step["env"], **smoke_environment(candidate["model"], candidate["run_id"], candidate["artifact_uri"]))
    output_uri = None
    if expect.get("output_uri") and step["executor"] != "local":
        output_uri = render_output_uri(expect["output_uri"], candidate["model"], candidate["run_id"], smoke_run_id, partition)
        env["PIPELINE_OUTPUT_URI"] = output_uri
    # A Prefect flow gets the same as flow parameters: models (the candidate) and smoke (publishing off, where to write,
    # the upstream runs it reads, since its own run_id is the smoke's).
    smoke = {"publish": False, "output_dir": output_dir, "output_uri": output_uri,
             "inputs": dict((a, d["run_id"]) for a, d in upstream.items())}
    context = executors.StepContext(pipeline.partition_key, partition, smoke_run_id, as_of, attempt=1, output_dir=output_dir,
                                    inputs=inputs, data_root=pipeline.data_root, smoke=smoke,
                                    models=[{"model": candidate["model"], "run_id": candidate["run_id"],
                                             "artifact_uri": candidate["artifact_uri"]}])
    started = time.monotonic()
    try:
        result = executor.run(dict(step, env=env), context)
    except OpsError as exc:
        result = executors.StepResult("failed", message="%s: %s" % (exc.reason, exc.message), log_tail=exc.message)
    record = {"partition": partition, "run_id": smoke_run_id, "executor": step["executor"], "ref": result.ref,
              "output": output_uri or (os.path.join(output_dir, expect["output"]) if output_dir else None),
              "inputs": dict((a, d["run_id"]) for a, d in upstream.items()), "duration_s": round(time.monotonic() - started, 3),
              "rows": 0, "columns": []}
    details = {"smoke": record, "log": result.detail.get("log_path")}
    if not result.succeeded:
        raise PromotionError("smoke_failed", "the smoke scoring of %s run %s on %s failed (exit %s): %s; the selector was not moved. "
                                             "Read its log%s." % (candidate["model"], candidate["run_id"], partition, result.exit_code,
                                                                  (result.message or "no message")[:300],
                                                                  " %s" % details["log"] if details["log"] else ""), details=details)
    data = _read_output(record["output"], s3_client_factory)
    name = record["output"]
    if data is None:
        raise PromotionError("smoke_failed", "the smoke scoring of %s run %s on %s wrote no output at %s; the selector was not moved." % (
            candidate["model"], candidate["run_id"], partition, name), details=details)
    try:
        columns, rows = output_shape(data, name)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PromotionError("smoke_failed", "the smoke's output %s cannot be read as %s (%s); the selector was not moved." % (
            name, name.rsplit(".", 1)[-1], exc), details=details)
    record.update(columns=columns, rows=rows)
    problems = check_shape(columns, rows, expect)
    if problems:
        raise PromotionError("smoke_failed", "the smoke scoring of %s run %s on %s produced output of the wrong shape (%s): %s; the "
                                             "selector was not moved." % (candidate["model"], candidate["run_id"], partition, name,
                                                                          "; ".join(problems)), details=dict(details, problems=problems))
    return record


def new_smoke_run_id():
    """``smoke-<UTC YYYYMMDDTHHMMSSZ>-<8 hex>``."""
    return "smoke-" + ecs_service.new_run_id()


def _read_output(location, s3_client_factory):
    if not location:
        return None
    if location.startswith("s3://"):
        bucket, key = s3_service.parse_uri(location)
        try:
            return s3_client_factory().get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:  # botocore ClientError
            if s3_service.error_code(exc) in s3_service.ALREADY_GONE:
                return None
            raise
    try:
        with open(location, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def conflict(selector_uri, model, exc, store):
    """pointer_conflict, saying who moved the selector meanwhile."""
    try:
        now = store.read(selector_path(model))
    except OpsError:
        now = None
    moved_to = (now or {}).get("document") or {}
    return PromotionError("pointer_conflict", "%s moved while this run was deciding (it now names run %s, promoted by %s at %s); "
                                              "nothing was written. Rerun to decide again on top of it. (%s)" % (
                                                  selector_uri, moved_to.get("run_id"), moved_to.get("promoted_by"),
                                                  moved_to.get("promoted_at"), exc.message),
                          details={"selector": selector_uri, "current_run_id": moved_to.get("run_id")})


def commit(store, model, document, expected_etag):
    """Write the selector if it still has ``expected_etag``; its new etag (PromotionError(pointer_conflict) otherwise)."""
    rel = selector_path(model)
    try:
        return store.swap(rel, document, expected_etag)
    except pointers.PointerConflict as exc:
        raise conflict(store.uri(rel), model, exc, store)


def record_change(store, model, record, moment):
    """Append ``record`` to the model's change journal; its URI (None when it could not be written)."""
    name = journal_name(moment, record["action"])
    rel = "%s/%s" % (journal_dir(model), name)
    try:
        store.create(rel, record)
    except (OpsError, OSError):
        return None
    return store.uri(rel)


def journal(store, model):
    """The model's change records, oldest first (unreadable entries are skipped)."""
    entries = []
    for name in store.list(journal_dir(model)):
        try:
            found = store.read("%s/%s" % (journal_dir(model), name))
        except OpsError:
            continue
        if found and found["document"].get("schema_version") == CHANGE_SCHEMA_VERSION:
            entries.append(found["document"])
    return entries


def recent_partitions(today, lookback_days):
    """``today`` and the ``lookback_days`` dates before it, newest first."""
    first = datetime.date.fromisoformat(today)
    return [(first - datetime.timedelta(days=n)).isoformat() for n in range(lookback_days + 1)]
