"""pipeline_promote.yml and pipeline_rollback.yml on the local inventory: candidates with a meta.json, the
smoke scoring run by the real executors (the example pipeline's scores step as a subprocess; an ECS task in
the sandbox), the <model>_current_run.json selector and its history read back from disk and from S3, two
promotions racing, and the "current" pointers of the daily run (moved only when every step succeeded)
read back from <manifest_root>/_current/.
"""

import datetime
import json
import os
import signal
import subprocess
import threading
import time
import uuid

import jsonschema
import pytest

from tests.conftest import REPO_ROOT

with open(os.path.join(REPO_ROOT, "schemas", "pipeline_manifest.v1.json")) as _handle:
    MANIFEST_SCHEMA = json.load(_handle)
with open(os.path.join(REPO_ROOT, "schemas", "pipeline_model_selector.v1.json")) as _handle:
    SELECTOR_SCHEMA = json.load(_handle)
with open(os.path.join(REPO_ROOT, "schemas", "receipt.v1.schema.json")) as _handle:
    RECEIPT_SCHEMA = json.load(_handle)
ASSETS = ("ingest", "features", "scores")
PROMOTE_TASK = "Promote the candidate model run after its smoke scoring"
ROLLBACK_TASK = "Restore the model selector's previous contents"
BACKFILL_TASK = "Run the backfill over every partition from start to end"
STATUS_TASK = "Check the partition's manifests (the daily checklist)"
RERUN_TASK = "Rerun the partition's run by its failure category"


def today(offset=0):
    return (datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=offset)).isoformat()


class Area:
    """A private manifest root, data root, pointer root, model root and receipt root for one test."""

    def __init__(self, tmp_path):
        self.root = tmp_path
        self.manifests, self.data, self.receipts = tmp_path / "manifests", tmp_path / "data", tmp_path / "receipts"
        self.config, self.models = tmp_path / "config", tmp_path / "models"
        self.data.mkdir()
        self.example()

    def example(self, faults=None, sleep_s=0.0, **extra):
        (self.data / "_example.json").write_text(json.dumps(dict({"faults": faults or {}, "sleep_s": sleep_s}, **extra)))

    def vars(self, **extra):
        values = {"pipeline_manifest_root": str(self.manifests), "pipeline_data_root": str(self.data),
                  "pipeline_pointer_root": str(self.config), "pipeline_model_root": str(self.models),
                  "signalcraft_receipt_root": str(self.receipts), "pipeline_retry_delay_s": 0.05}
        values.update(extra)
        return values

    def candidate(self, run_id, scale=1.0, **meta):
        directory = self.models / "minutes" / run_id
        directory.mkdir(parents=True)
        (directory / "model.bin").write_bytes(b"weights of " + run_id.encode())
        document = dict({"model": "minutes", "run_id": run_id, "created_at": "2026-01-10T04:00:00Z", "metrics": {"mae": 3.2},
                         "params": {"scale": scale}, "files": ["model.bin"]}, **meta)
        (directory / "meta.json").write_text(json.dumps(document))
        return directory

    @property
    def selector_path(self):
        return self.config / "minutes_current_run.json"

    def selector_bytes(self):
        return self.selector_path.read_bytes() if self.selector_path.exists() else None

    def selector(self):
        document = json.loads(self.selector_path.read_text())
        jsonschema.validate(document, SELECTOR_SCHEMA)
        return document

    def journal(self):
        directory = self.config / "_history" / "minutes"
        return [json.loads((directory / n).read_text()) for n in sorted(os.listdir(directory))] if directory.exists() else []

    def manifest(self, asset, partition, run_id):
        with open(self.manifests / asset / ("game_date=%s" % partition) / ("run=%s" % run_id) / "manifest.json") as handle:
            document = json.load(handle)
        jsonschema.validate(document, MANIFEST_SCHEMA)
        return document

    def runs(self, asset, partition):
        directory = self.manifests / asset / ("game_date=%s" % partition)
        return sorted(n[len("run="):] for n in os.listdir(directory)) if directory.exists() else []

    def current(self, asset):
        path = self.manifests / "_current" / ("%s.json" % asset)
        return json.loads(path.read_text()) if path.exists() else None

    def current_bytes(self):
        return dict((a, (self.manifests / "_current" / ("%s.json" % a)).read_bytes()) for a in ASSETS
                    if (self.manifests / "_current" / ("%s.json" % a)).exists())

    def receipts_of(self, phase):
        found = []
        for execution in sorted(os.listdir(self.receipts)) if self.receipts.exists() else []:
            path = self.receipts / execution / ("%s.json" % phase)
            if path.exists():
                receipt = json.loads(path.read_text())
                jsonschema.validate(receipt, RECEIPT_SCHEMA)
                found.append(receipt)
        return sorted(found, key=lambda r: r["started_at"])


def result_of(run, task):
    [result] = run.task_results(task)
    return result


def daily(run_playbook, area, partition, **extra):
    """The daily run of ``partition`` (a one-day backfill, as_of_mode now); asserts it succeeded."""
    run = run_playbook("pipeline_backfill.yml", area.vars(start=partition, end=partition, as_of_mode="now", **extra))
    assert run.rc == 0, run.stdout[-3000:]
    [entry] = result_of(run, BACKFILL_TASK)["outputs"]["partitions"]
    return entry["run_id"]


def scores_csv(area, partition, run_id):
    return (area.data / "scores" / ("game_date=%s" % partition) / ("run=%s" % run_id) / "scores.csv").read_text()


def test_promote_rollback_history_and_the_next_daily_runs_name_the_model_run(run_playbook, tmp_path):
    area = Area(tmp_path)
    yesterday, day = today(-1), today()
    first_run = daily(run_playbook, area, yesterday)
    # No selector yet: the scores manifest says so (run_id null), and the daily run moved the current pointers.
    [used] = area.manifest("scores", yesterday, first_run)["models"]
    assert used["model"] == "minutes" and used["run_id"] is None and used["selector"] == str(area.selector_path)
    assert all(area.current(a)["run_id"] == first_run and area.current(a)["partition"]["value"] == yesterday for a in ASSETS)
    area.candidate("m-2026-01-a", scale=1.0)
    area.candidate("m-2026-01-b", scale=2.0)

    # Check mode: validates the candidate and finds the smoke's partition; runs nothing, writes nothing.
    planned = run_playbook("pipeline_promote.yml", area.vars(model="minutes", run_id="m-2026-01-a"), check=True)
    assert planned.rc == 0, planned.stdout[-3000:]
    result = result_of(planned, PROMOTE_TASK)
    assert result["token_line"] == ("pipeline_promote status=planned model=minutes run_id=m-2026-01-a previous_run_id=none "
                                    "smoke_partition=%s smoke=planned selector=would_move" % yesterday)
    assert result["diff"]["before"] == "" and json.loads(result["diff"]["after"])["run_id"] == "m-2026-01-a"
    assert not area.config.exists() and not (area.data / "_smoke").exists() and area.receipts_of("promote") == []

    # Promote A: the smoke scores yesterday's features with A, publishing disabled; then the selector moves.
    promoted = run_playbook("pipeline_promote.yml", area.vars(model="minutes", run_id="m-2026-01-a", note="CHG-1"))
    assert promoted.rc == 0, promoted.stdout[-3000:]
    result = result_of(promoted, PROMOTE_TASK)
    assert result["token_line"] == ("pipeline_promote status=ok model=minutes run_id=m-2026-01-a previous_run_id=none "
                                    "smoke_partition=%s smoke_rows=8 smoke=passed selector=moved" % yesterday)
    selector_a = area.selector()
    bytes_a = area.selector_bytes()
    assert (selector_a["run_id"], selector_a["artifact_uri"], selector_a["history"], selector_a["note"]) == (
        "m-2026-01-a", str(area.models / "minutes" / "m-2026-01-a"), [], "CHG-1")
    smoke = selector_a["smoke"]
    assert (smoke["partition"], smoke["rows"], smoke["columns"], smoke["inputs"]) == (yesterday, 8, ["game_id", "score", "as_of"],
                                                                                      {"features": first_run})
    assert smoke["output"].startswith(str(area.data / "_smoke" / "minutes" / "run=m-2026-01-a")) and os.path.exists(smoke["output"])
    log = open(os.path.join(area.data, "_logs", "scores.%s.%s.attempt-1.log" % (yesterday, smoke["run_id"]))).read()
    assert "model_run=m-2026-01-a publish=0" in log
    # the smoke wrote no manifest and nothing under the partition's runs
    assert area.runs("scores", yesterday) == [first_run]
    [record] = area.journal()
    assert (record["action"], record["before"]["run_id"], record["after"]["run_id"], record["note"]) == ("promote", None, "m-2026-01-a", "CHG-1")

    # Promoting the current run again changes nothing (and runs no smoke).
    again = run_playbook("pipeline_promote.yml", area.vars(model="minutes", run_id="m-2026-01-a"))
    result = result_of(again, PROMOTE_TASK)
    assert again.rc == 0 and result["changed"] is False and result["token_line"].endswith("smoke=skipped selector=unchanged")
    assert area.selector_bytes() == bytes_a and len(os.listdir(area.data / "_smoke" / "minutes" / "run=m-2026-01-a")) == 1

    # Promote B on top: A goes into the history.
    promoted_b = run_playbook("pipeline_promote.yml", area.vars(model="minutes", run_id="m-2026-01-b"))
    assert promoted_b.rc == 0, promoted_b.stdout[-3000:]
    selector_b = area.selector()
    bytes_b = area.selector_bytes()
    assert selector_b["run_id"] == "m-2026-01-b" and selector_b["history"] == [dict((k, v) for k, v in selector_a.items() if k != "history")]
    diff = result_of(promoted_b, PROMOTE_TASK)["diff"]
    assert diff["before"].encode() == bytes_a and diff["after"].encode() == bytes_b

    # The next daily run scores with B and says so in its manifest; the current pointers move to it.
    run_b = daily(run_playbook, area, day)
    [used] = area.manifest("scores", day, run_b)["models"]
    assert (used["run_id"], used["artifact_uri"]) == ("m-2026-01-b", str(area.models / "minutes" / "m-2026-01-b"))
    assert "models" not in area.manifest("features", day, run_b)  # only the steps that use the model record it
    assert all(area.current(a)["run_id"] == run_b and area.current(a)["partition"]["value"] == day for a in ASSETS)
    assert area.current("scores")["models"] == [{"model": "minutes", "run_id": "m-2026-01-b"}]
    status = run_playbook("pipeline_status.yml", area.vars(partition=day))
    assert status.rc == 0 and result_of(status, STATUS_TASK)["token_line"] == (
        "pipeline_status status=ok partition=%s steps_ok=3/3 run_id=%s current=moved" % (day, run_b))
    older = run_playbook("pipeline_status.yml", area.vars(partition=yesterday))
    assert result_of(older, STATUS_TASK)["token_line"].endswith("run_id=%s current=superseded" % first_run)

    # Rollback: check mode first, then the selector gets A's contents back byte for byte.
    planned = run_playbook("pipeline_rollback.yml", area.vars(model="minutes", run_id="m-2026-01-b"), check=True)
    result = result_of(planned, ROLLBACK_TASK)
    assert planned.rc == 0 and result["token_line"] == (
        "pipeline_rollback status=planned model=minutes run_id=m-2026-01-b restored_run_id=m-2026-01-a selector=would_move")
    assert area.selector_bytes() == bytes_b and result["diff"]["after"].encode() == bytes_a
    rolled = run_playbook("pipeline_rollback.yml", area.vars(model="minutes", run_id="m-2026-01-b", note="INC-7"))
    assert rolled.rc == 0, rolled.stdout[-3000:]
    assert result_of(rolled, ROLLBACK_TASK)["token_line"] == (
        "pipeline_rollback status=ok model=minutes run_id=m-2026-01-b restored_run_id=m-2026-01-a selector=moved")
    assert area.selector_bytes() == bytes_a
    assert [(r["action"], r["before"]["run_id"], r["after"]["run_id"]) for r in area.journal()] == [
        ("promote", None, "m-2026-01-a"), ("promote", "m-2026-01-a", "m-2026-01-b"), ("rollback", "m-2026-01-b", "m-2026-01-a")]
    assert area.journal()[-1]["note"] == "INC-7"

    # A second rollback of B changes nothing; A was the first promotion, so there is nothing before it.
    idle = run_playbook("pipeline_rollback.yml", area.vars(model="minutes", run_id="m-2026-01-b"))
    result = result_of(idle, ROLLBACK_TASK)
    assert idle.rc == 0 and result["changed"] is False and result["token_line"].endswith("current_run_id=m-2026-01-a selector=unchanged")
    first = run_playbook("pipeline_rollback.yml", area.vars(model="minutes", run_id="m-2026-01-a"))
    assert first.rc != 0 and result_of(first, ROLLBACK_TASK)["token_line"] == (
        "pipeline_rollback status=fail reason=rollback_unavailable model=minutes run_id=m-2026-01-a")
    typo = run_playbook("pipeline_rollback.yml", area.vars(model="minutes", run_id="m-2026-01-z"))
    assert typo.rc != 0 and "reason=selector_not_current" in result_of(typo, ROLLBACK_TASK)["token_line"]
    assert area.selector_bytes() == bytes_a

    # Rerun today under a new run_id: its manifests name A again; current moves to that run.
    run_a = daily(run_playbook, area, day, backfill_id="after-rollback")
    assert run_a != run_b and area.manifest("scores", day, run_a)["models"][0]["run_id"] == "m-2026-01-a"
    # and scored with it: B's params.scale is 2.0, A's 1.0
    scores_a = [float(line.split(",")[1]) for line in scores_csv(area, day, run_a).splitlines()[1:]]
    scores_b = [float(line.split(",")[1]) for line in scores_csv(area, day, run_b).splitlines()[1:]]
    assert len(scores_a) == len(scores_b) == 8 and all(abs(b - 2 * a) <= 0.011 for a, b in zip(scores_a, scores_b))
    assert all(area.current(a)["run_id"] == run_a for a in ASSETS)
    assert [r["status"] for r in area.receipts_of("promote")] == ["success", "success", "success"]
    assert [r["failure_code"] for r in area.receipts_of("rollback")] == [None, None, "rollback_unavailable", "selector_not_current"]


def test_a_failing_smoke_or_a_bad_candidate_leaves_the_selector_untouched(run_playbook, tmp_path):
    area = Area(tmp_path)
    partition = today(-2)
    daily(run_playbook, area, partition)
    area.candidate("m-good")
    assert run_playbook("pipeline_promote.yml", area.vars(model="minutes", run_id="m-good")).rc == 0
    before, journal = area.selector_bytes(), area.journal()

    # The smoke step crashes with the candidate.
    area.candidate("m-crash")
    area.example({"smoke@m-crash": "contract"})
    crashed = run_playbook("pipeline_promote.yml", area.vars(model="minutes", run_id="m-crash"))
    result = result_of(crashed, PROMOTE_TASK)
    assert crashed.rc != 0 and result["token_line"] == (
        "pipeline_promote status=fail reason=smoke_failed model=minutes run_id=m-crash previous_run_id=m-good smoke_partition=%s "
        "smoke=failed selector=unchanged" % partition)
    assert "missing required columns" in result["msg"] and "selector was not moved" in result["msg"]
    area.example()

    # The smoke's output has the wrong shape (an expectation the scores do not meet).
    area.candidate("m-shape")
    smoke = {"step": "scores", "output": "scores.csv", "expect_columns": ["game_id", "minutes_pred"], "min_rows": 1}
    shaped = run_playbook("pipeline_promote.yml", area.vars(model="minutes", run_id="m-shape", pipeline_promote_smoke=smoke))
    result = result_of(shaped, PROMOTE_TASK)
    assert shaped.rc != 0 and result["reason"] == "smoke_failed" and "missing required columns ['minutes_pred']" in result["msg"]
    assert result["outputs"]["smoke"]["rows"] == 8

    # A candidate whose meta.json is not of the expected shape never reaches the smoke.
    area.candidate("m-bad", model="rates")
    bad = run_playbook("pipeline_promote.yml", area.vars(model="minutes", run_id="m-bad"))
    assert bad.rc != 0 and result_of(bad, PROMOTE_TASK)["token_line"] == "pipeline_promote status=fail reason=model_candidate_invalid"
    assert not (area.data / "_smoke" / "minutes" / "run=m-bad").exists()
    missing = run_playbook("pipeline_promote.yml", area.vars(model="minutes", run_id="m-nowhere"))
    assert missing.rc != 0 and "reason=model_candidate_invalid" in result_of(missing, PROMOTE_TASK)["token_line"]

    # No partition with the smoke's inputs.
    nothing = run_playbook("pipeline_promote.yml", area.vars(model="minutes", run_id="m-shape", smoke_partition="2020-01-01"))
    assert nothing.rc != 0 and "reason=smoke_input_missing" in result_of(nothing, PROMOTE_TASK)["token_line"]

    assert area.selector_bytes() == before and area.journal() == journal
    assert [r["failure_code"] for r in area.receipts_of("promote")] == [
        None, "smoke_failed", "smoke_failed", "model_candidate_invalid", "model_candidate_invalid", "smoke_input_missing"]


def test_two_promotions_racing_never_lose_an_update(sandbox, tmp_path):
    """Two ansible-playbook processes promote different candidates at once; both read the selector before
    either smoke finishes (the example step waits for both smokes), so exactly one wins and the other is
    refused with pointer_conflict. Rerun, the loser promotes on top of the winner; nothing is lost."""
    area = Area(tmp_path)
    partition = today(-1)
    env = sandbox.process_env()
    env.update(ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, "collections"),
               ANSIBLE_NOCOLOR="1")

    def playbook(name, **extra):
        return ["ansible-playbook", "-i", os.path.join(REPO_ROOT, "inventories", "local"), os.path.join(REPO_ROOT, "playbooks", name),
                "-e", json.dumps(area.vars(**extra))]

    subprocess.run(playbook("pipeline_backfill.yml", start=partition, end=partition), env=env, cwd=REPO_ROOT, check=True,
                   capture_output=True)
    for run_id in ("m-base", "m-left", "m-right"):
        area.candidate(run_id)
    subprocess.run(playbook("pipeline_promote.yml", model="minutes", run_id="m-base"), env=env, cwd=REPO_ROOT, check=True, capture_output=True)
    base = json.loads(area.selector_bytes())
    area.example(smoke_barrier=2)
    racers = dict((run_id, subprocess.Popen(playbook("pipeline_promote.yml", model="minutes", run_id=run_id), env=env, cwd=REPO_ROOT,
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
                  for run_id in ("m-left", "m-right"))
    # Ansible's callback may fold long lines: compare with whitespace collapsed.
    outputs = dict((run_id, " ".join(process.communicate(timeout=300)[0].split())) for run_id, process in racers.items())
    codes = dict((run_id, process.returncode) for run_id, process in racers.items())
    assert sorted(codes.values())[0] == 0 and sorted(codes.values())[1] != 0, outputs
    [winner] = [r for r, code in codes.items() if code == 0]
    [loser] = [r for r, code in codes.items() if code != 0]
    assert "pipeline_promote status=fail reason=pointer_conflict model=minutes run_id=%s previous_run_id=m-base" % loser in outputs[loser]
    assert "smoke=passed selector=unchanged" in outputs[loser]
    after_race = json.loads(area.selector_bytes())
    base_selection = dict((k, v) for k, v in base.items() if k != "history")
    assert after_race["run_id"] == winner and after_race["history"] == [base_selection]
    assert [r["after"]["run_id"] for r in area.journal()] == ["m-base", winner]

    area.example()
    rerun = subprocess.run(playbook("pipeline_promote.yml", model="minutes", run_id=loser), env=env, cwd=REPO_ROOT, capture_output=True,
                           text=True, check=False)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    final = json.loads(area.selector_bytes())
    assert final["run_id"] == loser and final["history"] == [dict((k, v) for k, v in after_race.items() if k != "history"), base_selection]
    assert [(r["before"]["run_id"], r["after"]["run_id"]) for r in area.journal()] == [(None, "m-base"), ("m-base", winner), (winner, loser)]


def test_promotion_and_rollback_with_selectors_and_candidates_in_s3(sandbox, run_playbook, tmp_path):
    area = Area(tmp_path)
    s3 = sandbox.boto3_client("s3")
    bucket, prefix = sandbox["SANDBOX_ARTIFACT_BUCKET"], "pipeline-promote/%s" % uuid.uuid4().hex[:10]
    pointer_root = "s3://%s/%s/config" % (bucket, prefix)
    key = "%s/config/minutes_current_run.json" % prefix
    for run_id in ("m-s3-a", "m-s3-b"):
        s3.put_object(Bucket=bucket, Key="%s/models/minutes/%s/meta.json" % (prefix, run_id), Body=json.dumps(
            {"model": "minutes", "run_id": run_id, "created_at": "2026-01-10T04:00:00Z", "files": ["model.bin"]}).encode())
        s3.put_object(Bucket=bucket, Key="%s/models/minutes/%s/model.bin" % (prefix, run_id), Body=b"weights")
    partition = today(-1)
    daily(run_playbook, area, partition, pipeline_pointer_root=pointer_root)
    model_root = "s3://%s/%s/models" % (bucket, prefix)
    bodies = []
    for run_id in ("m-s3-a", "m-s3-b"):
        run = run_playbook("pipeline_promote.yml", area.vars(model="minutes", run_id=run_id, pipeline_pointer_root=pointer_root,
                                                             pipeline_model_root=model_root))
        assert run.rc == 0, run.stdout[-3000:]
        assert result_of(run, PROMOTE_TASK)["outputs"]["selector"] == "s3://%s/%s" % (bucket, key)
        bodies.append(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    selector_b = json.loads(bodies[1])
    jsonschema.validate(selector_b, SELECTOR_SCHEMA)
    selector_a = json.loads(bodies[0])
    assert selector_b["artifact_uri"] == "%s/minutes/m-s3-b" % model_root and selector_b["history"] == [
        dict((k, v) for k, v in selector_a.items() if k != "history")]
    assert not area.config.exists()

    run_b = daily(run_playbook, area, today(), pipeline_pointer_root=pointer_root)
    assert area.manifest("scores", today(), run_b)["models"][0]["selector"] == "s3://%s/%s" % (bucket, key)
    assert area.manifest("scores", today(), run_b)["models"][0]["run_id"] == "m-s3-b"

    rolled = run_playbook("pipeline_rollback.yml", area.vars(model="minutes", run_id="m-s3-b", pipeline_pointer_root=pointer_root))
    assert rolled.rc == 0, rolled.stdout[-3000:]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == bodies[0]  # the previous contents, byte for byte
    versions = [v for v in s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"] if v["Key"] == key]
    assert len(versions) == 3  # every state stays in the bucket's version history
    journal = sorted(k["Key"] for k in s3.list_objects_v2(Bucket=bucket, Prefix="%s/config/_history/minutes/" % prefix)["Contents"])
    assert [json.loads(s3.get_object(Bucket=bucket, Key=k)["Body"].read())["action"] for k in journal] == ["promote", "promote", "rollback"]


def test_racing_promotions_in_s3_never_lose_an_update(sandbox):
    """The S3 compare-and-swap under load: six writers read the selector, then all commit at once; S3's
    conditional writes let one win and refuse the rest; rerunning the losers stacks every promotion."""
    from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
    from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import pointer_store, promotion

    s3 = sandbox.boto3_client("s3")
    store = pointer_store.S3PointerStore(s3, sandbox["SANDBOX_ARTIFACT_BUCKET"], "pipeline-race/%s" % uuid.uuid4().hex[:10])
    smoke = {"partition": "2026-01-09", "run_id": "smoke-1", "executor": "local", "ref": None, "output": "x.csv", "rows": 1, "columns": ["a"]}

    def document(previous, run_id):
        candidate = {"model": "minutes", "run_id": run_id, "artifact_uri": "s3://m/%s" % run_id, "meta_sha256": "c" * 64,
                     "created_at": "2026-01-10T04:00:00Z", "metrics": {}}
        return promotion.promoted_document(candidate, smoke, previous, "2026-01-10T05:00:00.000Z", "ops", None)

    promotion.commit(store, "minutes", document(None, "m-0"), None)
    writers, outcomes = 6, {}
    barrier = threading.Barrier(writers)

    def race(n):
        snapshot = store.read("minutes_current_run.json")
        barrier.wait()
        try:
            promotion.commit(store, "minutes", document(snapshot["document"], "m-%d" % n), snapshot["etag"])
            outcomes[n] = "won"
        except OpsError as exc:
            outcomes[n] = exc.reason

    threads = [threading.Thread(target=race, args=(n,)) for n in range(1, writers + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["pointer_conflict"] * (writers - 1) + ["won"]
    for n in [n for n, outcome in outcomes.items() if outcome != "won"]:
        snapshot = store.read("minutes_current_run.json")
        promotion.commit(store, "minutes", document(snapshot["document"], "m-%d" % n), snapshot["etag"])
    final = json.loads(s3.get_object(Bucket=store.bucket, Key=store.key("minutes_current_run.json"))["Body"].read())
    chain = [final["run_id"]] + [h["run_id"] for h in final["history"]]
    assert sorted(chain) == sorted("m-%d" % n for n in range(writers + 1)) and chain[-1] == "m-0"


def kill_tree(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    children.setdefault(int(handle.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    todo, found = [pid], []
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    for member in found:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_daily_run_killed_midway_leaves_current_untouched_and_resumes(sandbox, run_playbook, tmp_path):
    area = Area(tmp_path)
    yesterday, day = today(-1), today()
    first_run = daily(run_playbook, area, yesterday)
    held = area.current_bytes()
    assert sorted(held) == sorted(ASSETS)

    area.example(sleep_s=1.5)
    env = sandbox.process_env()
    env.update(ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, "collections"))
    argv = ["ansible-playbook", "-i", os.path.join(REPO_ROOT, "inventories", "local"), os.path.join(REPO_ROOT, "playbooks", "pipeline_backfill.yml"),
            "-e", json.dumps(area.vars(start=day, end=day, as_of_mode="now"))]
    process = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    run_id = None
    while time.monotonic() < deadline and run_id is None:
        for candidate in area.runs("ingest", day):
            if area.manifest("ingest", day, candidate)["status"] == "success":
                run_id = candidate
        time.sleep(0.1)
    kill_tree(process.pid)
    process.wait()
    time.sleep(0.5)
    assert run_id, "the daily run never got past its first step"
    assert not area.runs("scores", day) or area.manifest("scores", day, run_id)["status"] != "success"
    # Killed before its last step: every current pointer still names yesterday's run, byte for byte.
    assert area.current_bytes() == held
    status = run_playbook("pipeline_status.yml", area.vars(partition=day))
    assert result_of(status, STATUS_TASK)["token_line"].endswith("current=not_moved")

    area.example()
    resumed = run_playbook("pipeline_backfill.yml", area.vars(start=day, end=day, as_of_mode="now", resume=True))
    assert resumed.rc == 0, resumed.stdout[-3000:]
    [entry] = result_of(resumed, BACKFILL_TASK)["outputs"]["partitions"]
    assert (entry["action"], entry["run_id"]) == ("retry_in_place", run_id)
    assert all(area.current(a)["run_id"] == run_id and area.current(a)["partition"]["value"] == day for a in ASSETS)
    assert area.current("ingest")["manifest"] == str(area.manifests / "ingest" / ("game_date=%s" % day) / ("run=%s" % run_id) / "manifest.json")
    status = run_playbook("pipeline_status.yml", area.vars(partition=day))
    assert result_of(status, STATUS_TASK)["token_line"] == "pipeline_status status=ok partition=%s steps_ok=3/3 run_id=%s current=moved" % (
        day, run_id)
    # A backfill of an older date never rewinds "current".
    assert run_playbook("pipeline_backfill.yml", area.vars(start=today(-3), end=today(-3))).rc == 0
    assert all(area.current(a)["run_id"] == run_id for a in ASSETS) and first_run != run_id

    # Killed between its pointer moves (one pointer still names yesterday's run): the daily check says so,
    # and pipeline_rerun of the succeeded run moves the rest (and changes nothing the second time).
    (area.manifests / "_current" / "scores.json").write_bytes(held["scores"])
    status = run_playbook("pipeline_status.yml", area.vars(partition=day))
    assert result_of(status, STATUS_TASK)["token_line"].endswith("run_id=%s current=not_moved" % run_id)
    settled = run_playbook("pipeline_rerun.yml", area.vars(partition=day))
    result = result_of(settled, RERUN_TASK)
    assert settled.rc == 0 and result["changed"] is True and result["token_line"].endswith("action=none current=moved")
    assert area.current("scores")["run_id"] == run_id and area.runs("scores", day) == [run_id]
    again = result_of(run_playbook("pipeline_rerun.yml", area.vars(partition=day)), RERUN_TASK)
    assert again["changed"] is False and again["token_line"].endswith("action=none")


def test_an_ecs_smoke_runs_as_a_task_and_its_output_is_read_from_s3(sandbox, run_playbook, tmp_path):
    from tests.integration.ecs_sandbox import container_env, latest, private_family

    area = Area(tmp_path)
    partition = today(-1)
    daily(run_playbook, area, partition)
    family, prefix = private_family(sandbox)
    bucket = container_env(latest(sandbox, family))["JOBINTEL_S3_BUCKET"]
    smoke = {"executor": "ecs", "task_definition": family, "depends_on": ["features"],
             "output_uri": "s3://%s/%s/outbox/{smoke_run_id}/openai/cs/ranked_jobs.openai.cs.csv" % (bucket, prefix),
             "expect_columns": ["job_id", "score"], "min_rows": 1}
    area.candidate("m-ecs")
    run = run_playbook("pipeline_promote.yml", area.vars(model="minutes", run_id="m-ecs", pipeline_promote_smoke=smoke))
    assert run.rc == 0, run.stdout[-3000:]
    record = area.selector()["smoke"]
    assert record["executor"] == "ecs" and record["output"].startswith("s3://%s/%s/outbox/%s/" % (bucket, prefix, record["run_id"]))
    [task] = sandbox.boto3_client("ecs").describe_tasks(cluster=sandbox["SANDBOX_ECS_CLUSTER"], tasks=[record["ref"]])["tasks"]
    env = dict((e["name"], e["value"]) for e in task["overrides"]["containerOverrides"][0]["environment"])
    assert (env["PIPELINE_SMOKE"], env["PIPELINE_PUBLISH"], env["PIPELINE_MODEL_RUN_ID"], env["JOBINTEL_RUN_ID"]) == (
        "1", "0", "m-ecs", record["run_id"])
    assert env["PIPELINE_PARTITION"] == partition and env["PIPELINE_OUTPUT_URI"] == record["output"]

    # The same smoke failing in its task leaves the selector as it was.
    before = area.selector_bytes()
    area.candidate("m-ecs-bad")
    failing = dict(smoke, env={"JOBINTEL_FORCE_FAIL_STAGE": "scrape"})
    bad = run_playbook("pipeline_promote.yml", area.vars(model="minutes", run_id="m-ecs-bad", pipeline_promote_smoke=failing))
    assert bad.rc != 0 and "reason=smoke_failed" in result_of(bad, PROMOTE_TASK)["token_line"]
    assert area.selector_bytes() == before


@pytest.mark.parametrize("extra, token", [
    ({"model": "../etc"}, "pipeline_id_invalid"),
    ({"model": "minutes", "run_id": "m-1", "pipeline_promote_smoke": {}}, "invalid_input"),
    ({"model": "minutes", "run_id": "m-1", "pipeline_pointer_root": "relative/config"}, "invalid_input"),
    ({"model": "minutes", "run_id": "m-1", "smoke_partition": "2026-13-01"}, "partition_range_invalid"),
])
def test_bad_promotion_input_is_refused_before_any_write(run_playbook, tmp_path, extra, token):
    area = Area(tmp_path)
    area.candidate("m-1")
    run = run_playbook("pipeline_promote.yml", area.vars(**extra))
    assert run.rc != 0 and result_of(run, PROMOTE_TASK)["reason"] == token
    assert not area.config.exists() and not area.manifests.exists() and not (area.data / "_smoke").exists()
