"""pipeline_backfill.yml and pipeline_status.yml on the local inventory: the example pipeline's steps run
as real subprocesses (the `local` executor); manifests are read back from disk (and from S3 in the
sandbox), summaries and receipts from where the runbook writes them.
"""

import datetime
import hashlib
import json
import os
import signal
import subprocess
import time
import uuid

import jsonschema
import pytest

from tests.conftest import REPO_ROOT

with open(os.path.join(REPO_ROOT, "schemas", "pipeline_manifest.v1.json")) as _handle:
    MANIFEST_SCHEMA = json.load(_handle)
with open(os.path.join(REPO_ROOT, "schemas", "receipt.v1.schema.json")) as _handle:
    RECEIPT_SCHEMA = json.load(_handle)
ASSETS = ("ingest", "features", "scores")


class Area:
    """A private manifest root, data root and receipt root for one test."""

    def __init__(self, tmp_path):
        self.manifests, self.data, self.receipts = tmp_path / "manifests", tmp_path / "data", tmp_path / "receipts"
        self.data.mkdir()

    def example(self, faults=None, sleep_s=0.0):
        (self.data / "_example.json").write_text(json.dumps({"faults": faults or {}, "sleep_s": sleep_s}))

    def vars(self, **extra):
        values = {"pipeline_manifest_root": str(self.manifests), "pipeline_data_root": str(self.data),
                  "signalcraft_receipt_root": str(self.receipts), "pipeline_retry_delay_s": 0.05}
        values.update(extra)
        return values

    def manifest(self, asset, partition, run_id):
        with open(self.manifests / asset / ("game_date=%s" % partition) / ("run=%s" % run_id) / "manifest.json") as handle:
            document = json.load(handle)
        jsonschema.validate(document, MANIFEST_SCHEMA)
        return document

    def manifest_bytes(self, asset, partition, run_id):
        return (self.manifests / asset / ("game_date=%s" % partition) / ("run=%s" % run_id) / "manifest.json").read_bytes()

    def runs(self, asset, partition):
        directory = self.manifests / asset / ("game_date=%s" % partition)
        return sorted(name[len("run="):] for name in os.listdir(directory)) if directory.exists() else []

    def summary(self, backfill_id):
        with open(self.manifests / "backfills" / backfill_id / "summary.json") as handle:
            return json.load(handle)

    def receipts_of(self, phase):
        found = []
        for execution in sorted(os.listdir(self.receipts)) if self.receipts.exists() else []:
            path = self.receipts / execution / ("%s.json" % phase)
            if path.exists():
                with open(path) as handle:
                    receipt = json.load(handle)
                jsonschema.validate(receipt, RECEIPT_SCHEMA)
                found.append(receipt)
        return sorted(found, key=lambda r: r["started_at"])


BACKFILL_TASK = "Run the backfill over every partition from start to end"
STATUS_TASK = "Check the partition's manifests (the daily checklist)"


def line(run, task=BACKFILL_TASK):
    """The task's status line as the module returned it (stdout wraps long lines)."""
    [result] = run.task_results(task)
    return result["token_line"]


def dates(start, count):
    first = datetime.date.fromisoformat(start)
    return [(first + datetime.timedelta(days=n)).isoformat() for n in range(count)]


def process_tree(pid):
    """``pid`` and every process below it (Ansible's workers call setsid, so a process group is not enough)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def kill_tree(pid):
    """SIGKILL the playbook, its worker, the module and the steps at once: the machine died."""
    for member in process_tree(pid):
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def partition_intervals(area, summary):
    """(first step start, last step end) of each partition's run, from its manifests."""
    intervals = []
    for entry in summary["partitions"]:
        documents = [area.manifest(asset, entry["partition"], entry["run_id"]) for asset in ASSETS]
        intervals.append((min(d["started_at"] for d in documents), max(d["finished_at"] for d in documents)))
    return intervals


def peak_overlap(intervals):
    return max(sum(1 for start, end in intervals if start <= moment < end) for moment, _end in intervals)


FAULTS = {
    # a different failure class in each of six partitions; network_once passes on its in-place retry
    "ingest@2026-01-02": "network",
    "features@2026-01-03": "contract",
    "features@2026-01-05": "permission",
    "scores@2026-01-06": "stale_snapshot",
    "scores@2026-01-08": "port_conflict",
    "features@2026-01-09": "missing_input",
    "ingest@2026-01-11": "network_once",
}
EXPECTED_CLASSES = {"2026-01-02": ("ingest", "network", "A"), "2026-01-03": ("features", "contract", "C"),
                    "2026-01-05": ("features", "permission", "C"), "2026-01-06": ("scores", "stale_snapshot", "B"),
                    "2026-01-08": ("scores", "port_conflict", "C"), "2026-01-09": ("features", "missing_input", "A")}


def test_backfill_with_failures_of_every_class_then_resume_finishes_only_the_failed(run_playbook, tmp_path):
    area = Area(tmp_path)
    area.example(FAULTS, sleep_s=0.25)
    partitions = dates("2026-01-01", 12)
    run = run_playbook("pipeline_backfill.yml", area.vars(start="2026-01-01", end="2026-01-12", max_parallel=3))
    assert run.rc != 0
    assert line(run).startswith("pipeline_backfill status=fail reason=partition_failed backfill_id=bf-2026-01-01-2026-01-12-pretip planned=12 ")

    backfill_id = "bf-2026-01-01-2026-01-12-pretip"
    summary = area.summary(backfill_id)
    assert (summary["status"], summary["planned"], summary["succeeded"], summary["failed"], summary["pending"]) == ("failed", 12, 6, 6, 0)
    assert summary["failed_by_class"] == {"network": 1, "contract": 1, "permission": 1, "stale_snapshot": 1, "port_conflict": 1,
                                          "missing_input": 1}
    by_partition = dict((p["partition"], p) for p in summary["partitions"])
    assert sorted(by_partition) == partitions
    for partition, (step, klass, category) in EXPECTED_CLASSES.items():
        entry = by_partition[partition]
        assert (entry["failed_step"], entry["failure_class"], entry["category"]) == (step, klass, category)
        failed = area.manifest(step, partition, entry["run_id"])
        assert failed["status"] == "failed" and failed["failure"]["class"] == klass and failed["run_as_of_ts"] == partition + "T23:00:00Z"
    # network: retried in place (1 + retries) before giving up; network_once passed on its second attempt
    network = area.manifest("ingest", "2026-01-02", by_partition["2026-01-02"]["run_id"])
    assert network["attempts"] == 3 and [a["failure_class"] for a in network["attempt_history"]] == ["network"] * 3
    recovered = area.manifest("ingest", "2026-01-11", by_partition["2026-01-11"]["run_id"])
    assert recovered["status"] == "success" and recovered["attempts"] == 2
    missing = area.manifest("features", "2026-01-09", by_partition["2026-01-09"]["run_id"])
    assert missing["failure"]["upstream_asset"] == "ingest"
    # every configured step has a manifest in every partition, one run_id per partition shared by its steps
    for partition in partitions:
        run_id = by_partition[partition]["run_id"]
        assert [area.runs(asset, partition) for asset in ASSETS] == [[run_id]] * 3
        assert all(area.manifest(asset, partition, run_id)["backfill_id"] == backfill_id for asset in ASSETS)
    downstream = area.manifest("scores", "2026-01-03", by_partition["2026-01-03"]["run_id"])
    assert downstream["status"] == "skipped" and "features" in downstream["skip_reason"]
    # parallelism, from the manifests' step intervals: partitions overlapped, never more than max_parallel
    assert 2 <= peak_overlap(partition_intervals(area, summary)) <= 3
    [receipt] = area.receipts_of("backfill")
    assert receipt["status"] == "failed" and receipt["failure_code"] == "partition_failed"
    assert receipt["outputs"]["failed_by_class"] == summary["failed_by_class"]

    # The daily check on a bad day and a good day.
    bad = run_playbook("pipeline_status.yml", area.vars(partition="2026-01-02"))
    assert bad.rc != 0
    assert line(bad, STATUS_TASK).startswith(
        "pipeline_status status=fail reason=step_failed partition=2026-01-02 steps_ok=0/3 failed_step=ingest attempts=3 failure_class=network")
    good = run_playbook("pipeline_status.yml", area.vars(partition="2026-01-01"))
    assert good.rc == 0
    # current=superseded: the partition's run succeeded and the current pointers have since moved on to a later partition
    assert line(good, STATUS_TASK) == "pipeline_status status=ok partition=2026-01-01 steps_ok=3/3 run_id=%s current=superseded" % (
        by_partition["2026-01-01"]["run_id"])
    statuses = area.receipts_of("status")
    assert [r["status"] for r in statuses] == ["failed", "success"] and statuses[0]["failure_code"] == "step_failed"

    # Triage of the backfill: each failed step's class, category and action, read from its manifest.
    triaged = run_playbook("pipeline_triage.yml", area.vars(backfill_id=backfill_id))
    [result] = triaged.task_results("Triage the failed steps from their manifests")
    assert triaged.rc == 0 and result["token_line"] == (
        "pipeline_triage status=ok backfill_id=%s failures=6 classes=contract:1,missing_input:1,network:1,permission:1,"
        "port_conflict:1,stale_snapshot:1" % backfill_id)
    assert sorted((f["partition"], f["asset"], f["class"], f["category"]) for f in result["outputs"]["findings"]) == sorted(
        (p, step, klass, category) for p, (step, klass, category) in EXPECTED_CLASSES.items())
    [missing_finding] = [f for f in result["outputs"]["findings"] if f["class"] == "missing_input"]
    assert missing_finding["upstream_asset"] == "ingest" and "ingest" in missing_finding["action"]

    # Without resume the same backfill is refused; with resume only the failed partitions run again.
    kept = dict((p, [area.manifest_bytes(a, p, by_partition[p]["run_id"]) for a in ASSETS]) for p in partitions if p not in EXPECTED_CLASSES)
    again = run_playbook("pipeline_backfill.yml", area.vars(start="2026-01-01", end="2026-01-12", max_parallel=3))
    assert again.rc != 0 and line(again) == "pipeline_backfill status=fail reason=backfill_exists"
    area.example({}, sleep_s=0.1)  # the causes are fixed
    resumed = run_playbook("pipeline_backfill.yml", area.vars(start="2026-01-01", end="2026-01-12", max_parallel=3, resume=True))
    assert resumed.rc == 0, resumed.stdout[-3000:]
    after = area.summary(backfill_id)
    assert (after["status"], after["planned"], after["to_run"], after["skipped"], after["succeeded"], after["failed"]) == (
        "succeeded", 12, 6, 6, 6, 0)
    assert after["invocation"] == 2
    resumed_by_partition = dict((p["partition"], p) for p in after["partitions"])
    for partition, parts in kept.items():
        assert resumed_by_partition[partition]["action"] == "skip"
        assert [area.manifest_bytes(a, partition, by_partition[partition]["run_id"]) for a in ASSETS] == parts  # untouched
    for partition, (step, klass, category) in EXPECTED_CLASSES.items():
        old_run, entry = by_partition[partition]["run_id"], resumed_by_partition[partition]
        if category == "A":
            # retried in place: same run_id, the steps that had succeeded in it are kept
            assert entry["action"] == "retry_in_place" and entry["run_id"] == old_run and area.runs(step, partition) == [old_run]
        else:
            # a new run_id; the failed run stays intact for forensics
            assert entry["action"] == "run" and entry["run_id"] != old_run
            assert sorted(area.runs(step, partition)) == sorted([old_run, entry["run_id"]])
            assert area.manifest(step, partition, old_run)["failure"]["class"] == klass
        assert all(area.manifest(a, partition, entry["run_id"])["status"] == "success" for a in ASSETS)
    features = area.manifest("features", "2026-01-09", by_partition["2026-01-09"]["run_id"])
    assert features["inputs"][0]["run_id"] == by_partition["2026-01-09"]["run_id"] and features["outputs"][0]["rows"] == 8

    # A second resume changes nothing: nothing runs, the summary stays as it is.
    summary_bytes = (area.manifests / "backfills" / backfill_id / "summary.json").read_bytes()
    idle = run_playbook("pipeline_backfill.yml", area.vars(start="2026-01-01", end="2026-01-12", max_parallel=3, resume=True))
    [result] = idle.task_results(BACKFILL_TASK)
    assert idle.rc == 0 and result["changed"] is False
    assert result["token_line"] == "pipeline_backfill status=ok backfill_id=%s planned=12 to_run=0 skipped=12" % backfill_id
    assert (area.manifests / "backfills" / backfill_id / "summary.json").read_bytes() == summary_bytes


def test_check_mode_lists_what_would_run_and_writes_nothing(run_playbook, tmp_path):
    area = Area(tmp_path)
    area.example()
    plan = run_playbook("pipeline_backfill.yml", area.vars(start="2026-02-01", end="2026-02-04", assets="features"), check=True)
    assert plan.rc == 0, plan.stdout[-3000:]
    assert line(plan).startswith("pipeline_backfill status=planned backfill_id=bf-2026-02-01-2026-02-04-pretip-")
    assert line(plan).endswith(" planned=4 to_run=4 skipped=0 max_parallel=4")
    [result] = plan.task_results(BACKFILL_TASK)
    assert [(p["partition"], p["action"]) for p in result["outputs"]["partitions"]] == [
        ("2026-02-0%d" % n, "run") for n in range(1, 5)]
    assert result["outputs"]["assets"] == ["ingest", "features"]
    assert not area.manifests.exists() and not area.receipts.exists()
    assert sorted(os.listdir(area.data)) == ["_example.json"]


@pytest.mark.parametrize("extra, token, variable", [
    ({"start": "2026-01-10", "end": "2026-01-01"}, "partition_range_invalid", "-e start"),
    ({"start": "2026-01-01", "end": "2026-13-01"}, "partition_range_invalid", "-e end"),
    ({"start": "2026-01-01", "end": "2026-01-02", "assets": "features,nope"}, "asset_unknown", "-e assets"),
    ({"start": "2026-01-01", "end": "2026-01-02", "max_parallel": 0}, "max_parallel_invalid", "-e max_parallel"),
    ({"start": "2026-01-01", "end": "2026-01-02", "backfill_id": "../../escape"}, "pipeline_id_invalid", "-e backfill_id"),
    ({"start": "2026-01-01", "end": "2026-01-02", "pipeline_steps": [{"asset": "a", "depends_on": ["b"], "command": ["true"]}]},
     "steps_invalid", "pipeline_steps"),
])
def test_bad_input_is_refused_before_anything_runs(run_playbook, tmp_path, extra, token, variable):
    area = Area(tmp_path)
    area.example()
    run = run_playbook("pipeline_backfill.yml", area.vars(**extra))
    assert run.rc != 0
    [result] = run.task_results(BACKFILL_TASK)
    assert result["token_line"] == "pipeline_backfill status=fail reason=%s" % token and variable in result["msg"]
    assert not area.manifests.exists() and sorted(os.listdir(area.data)) == ["_example.json"]
    [receipt] = area.receipts_of("backfill")
    assert receipt["status"] == "failed" and receipt["failure_code"] == token


def test_manifests_in_s3(sandbox, run_playbook, tmp_path):
    area = Area(tmp_path)
    area.example()
    bucket, prefix = sandbox["SANDBOX_ARTIFACT_BUCKET"], "pipeline-test/%s" % uuid.uuid4().hex[:10]
    root = "s3://%s/%s" % (bucket, prefix)
    run = run_playbook("pipeline_backfill.yml", area.vars(start="2026-03-01", end="2026-03-02", max_parallel=2, pipeline_manifest_root=root))
    assert run.rc == 0, run.stdout[-3000:]
    s3 = sandbox.boto3_client("s3")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")["Contents"])
    assert len([k for k in keys if k.endswith("/manifest.json")]) == 6
    summary = json.loads(s3.get_object(Bucket=bucket, Key="%s/backfills/bf-2026-03-01-2026-03-02-pretip/summary.json" % prefix)["Body"].read())
    assert summary["status"] == "succeeded" and summary["succeeded"] == 2
    for entry in summary["partitions"]:
        for asset in ASSETS:
            key = "%s/%s/game_date=%s/run=%s/manifest.json" % (prefix, asset, entry["partition"], entry["run_id"])
            document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            jsonschema.validate(document, MANIFEST_SCHEMA)
            assert document["status"] == "success" and document["run_id"] == entry["run_id"]
    status = run_playbook("pipeline_status.yml", area.vars(partition="2026-03-02", pipeline_manifest_root=root))
    assert status.rc == 0 and line(status, STATUS_TASK).startswith("pipeline_status status=ok partition=2026-03-02 steps_ok=3/3 ")
    assert not area.manifests.exists()


def test_a_backfill_killed_midway_resumes_without_cleanup(sandbox, tmp_path):
    area = Area(tmp_path)
    area.example(sleep_s=1.0)
    env = sandbox.process_env()
    env.update(ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, "collections"))
    argv = ["ansible-playbook", "-i", os.path.join(REPO_ROOT, "inventories", "local"), os.path.join(REPO_ROOT, "playbooks", "pipeline_backfill.yml"),
            "-e", json.dumps(area.vars(start="2026-04-01", end="2026-04-06", max_parallel=2))]
    process = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    summary_path = area.manifests / "backfills" / "bf-2026-04-01-2026-04-06-pretip" / "summary.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if summary_path.exists() and json.loads(summary_path.read_text())["succeeded"] >= 2:
            break
        time.sleep(0.2)
    kill_tree(process.pid)
    process.wait()
    time.sleep(0.5)
    killed = json.loads(summary_path.read_text())
    assert killed["status"] == "running" and killed["succeeded"] >= 2 and killed["pending"] >= 1
    interrupted = [p for p in killed["partitions"] if p["status"] == "pending"]
    running = [(a, p["partition"], p["run_id"]) for p in interrupted for a in ASSETS
               if (area.manifests / a / ("game_date=%s" % p["partition"]) / ("run=%s" % p["run_id"]) / "manifest.json").exists()
               and area.manifest(a, p["partition"], p["run_id"])["status"] == "running"]
    assert running, "the kill left no step mid-run"
    finished_before = dict(((a, part, run_id), area.manifest_bytes(a, part, run_id)) for p in interrupted for a in ASSETS
                           for part, run_id in [(p["partition"], p["run_id"])]
                           if (area.manifests / a / ("game_date=%s" % part) / ("run=%s" % run_id) / "manifest.json").exists()
                           and area.manifest(a, part, run_id)["status"] == "success")

    area.example(sleep_s=0.0)
    resumed = subprocess.run(argv[:-1] + [json.dumps(area.vars(start="2026-04-01", end="2026-04-06", max_parallel=2, resume=True))],
                             env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    done = json.loads(summary_path.read_text())
    assert done["status"] == "succeeded" and done["skipped"] == killed["succeeded"] and done["failed"] == 0
    by_partition = dict((p["partition"], p) for p in done["partitions"])
    for entry in interrupted:
        if entry["run_id"] and any(part == entry["partition"] for _a, part, _r in running):
            # the interrupted run continues under its run_id; nothing was cleaned up by hand
            assert by_partition[entry["partition"]]["action"] == "retry_in_place"
            assert by_partition[entry["partition"]]["run_id"] == entry["run_id"]
    for (asset, part, run_id), data in finished_before.items():
        assert area.manifest_bytes(asset, part, run_id) == data
    for entry in done["partitions"]:
        assert all(area.manifest(a, entry["partition"], entry["run_id"])["status"] == "success" for a in ASSETS)


# How ECS tasks end in the sandbox, per partition (and attempt): stop reasons as ECS reports tasks that could not
# reach a registry or were refused a secret, and a container that exited 1 (tests/sandbox/aws_layer/README.md).
ECS_NETWORK = ("CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "
               "111122223333.dkr.ecr.us-east-1.amazonaws.com/jobintel:latest: dial tcp 10.0.0.2:53: i/o timeout")
ECS_DENIED = ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable "
              "to retrieve secret from asm: AccessDeniedException: User: arn:aws:sts::111122223333:assumed-role/ecsTaskExecutionRole/x "
              "is not authorized to perform: secretsmanager:GetSecretValue")
ECS_OUTCOMES = {
    "2026-05-02#1": {"exit_code": 1, "stop_reason": ECS_NETWORK},   # ingest's first attempt only: retried in place, then fine
    "2026-05-04": {"exit_code": 1, "stop_reason": ECS_NETWORK},     # every attempt: persistent
    "2026-05-06": {"exit_code": 1, "stop_reason": ECS_DENIED},
}
ECS_EXPECTED = {"2026-05-04": ("ingest", "network", "A", 2), "2026-05-06": ("ingest", "permission", "C", 1),
                "2026-05-08": ("features", "unknown", "B", 1)}
# ECS tasks each partition's run started: ingest (attempts) + features (0 when ingest failed).
ECS_TASKS = dict((p, 2) for p in dates("2026-05-01", 10))
ECS_TASKS.update({"2026-05-02": 3, "2026-05-06": 1})


def ecs_tasks(sandbox, family):
    """Every task of ``family`` as ECS describes it (ListTasks, then DescribeTasks in pages of 100). The sandbox's
    ListTasks lists stopped tasks too; real ECS needs desiredStatus=STOPPED for them."""
    ecs = sandbox.boto3_client("ecs")
    arns = []
    for page in ecs.get_paginator("list_tasks").paginate(cluster=sandbox["SANDBOX_ECS_CLUSTER"], family=family):
        arns.extend(page["taskArns"])
    tasks = []
    for first in range(0, len(arns), 100):
        tasks.extend(ecs.describe_tasks(cluster=sandbox["SANDBOX_ECS_CLUSTER"], tasks=arns[first:first + 100])["tasks"])
    return tasks


def test_ecs_backfill_of_ten_partitions_three_at_a_time_with_failure_classes(sandbox, run_playbook, tmp_path):
    from tests.integration.ecs_sandbox import private_family

    area = Area(tmp_path)
    family, _prefix = private_family(sandbox)
    config = tmp_path / "config"
    config.mkdir()
    selector = {"model": "minutes", "run_id": "m-ecs-1", "artifact_uri": "s3://models/minutes/m-ecs-1"}
    (config / "minutes_current_run.json").write_text(json.dumps(selector))
    steps = [{"asset": "ingest", "executor": "ecs", "task_definition": family, "retries": 1,
              "env": {"SANDBOX_PARTITION_OUTCOMES": json.dumps(ECS_OUTCOMES)}},
             {"asset": "features", "executor": "ecs", "task_definition": family, "depends_on": ["ingest"], "models": ["minutes"],
              "env": {"SANDBOX_PARTITION_OUTCOMES": json.dumps({"2026-05-08": {"exit_code": 1}})}}]
    run = run_playbook("pipeline_backfill.yml", area.vars(start="2026-05-01", end="2026-05-10", max_parallel=3, pipeline_steps=steps,
                                                          as_of_mode="end_of_day", pipeline_pointer_root=str(config)))
    assert run.rc != 0 and line(run).startswith(
        "pipeline_backfill status=fail reason=partition_failed backfill_id=bf-2026-05-01-2026-05-10-end-of-day planned=10 to_run=10 "
        "succeeded=7 skipped=0 failed=3 max_parallel=3 "), line(run)
    summary = area.summary("bf-2026-05-01-2026-05-10-end-of-day")
    assert summary["failed_by_class"] == {"network": 1, "permission": 1, "unknown": 1}
    by_partition = dict((p["partition"], p) for p in summary["partitions"])
    for partition, (asset, klass, category, attempts) in ECS_EXPECTED.items():
        entry = by_partition[partition]
        assert (entry["failed_step"], entry["failure_class"], entry["category"], entry["attempts"]) == (asset, klass, category, attempts)
    retried = area.manifest("ingest", "2026-05-02", by_partition["2026-05-02"]["run_id"])
    assert retried["status"] == "success" and [a["failure_class"] for a in retried["attempt_history"]] == ["network", None]

    # Read back from ECS: every task the backfill started, which partition and attempt it ran, how it ended.
    tasks = ecs_tasks(sandbox, family)
    by_task = {}
    for task in tasks:
        env = dict((e["name"], e["value"]) for e in task["overrides"]["containerOverrides"][0]["environment"])
        assert task["lastStatus"] == "STOPPED" and env["PIPELINE_RUN_ID"] == env["JOBINTEL_RUN_ID"]
        by_task[task["taskArn"]] = (env, task)
    started = {}
    for env, _task in by_task.values():
        started[env["PIPELINE_PARTITION"]] = started.get(env["PIPELINE_PARTITION"], 0) + 1
    assert started == ECS_TASKS and len(tasks) == sum(ECS_TASKS.values())
    for partition, entry in by_partition.items():
        for asset in ("ingest", "features"):
            document = area.manifest(asset, partition, entry["run_id"])
            if document["status"] == "skipped":
                continue
            env, task = by_task[document["executor"]["ref"]]
            assert (env["PIPELINE_ASSET"], env["PIPELINE_RUN_ID"], env["PIPELINE_PARTITION"]) == (asset, entry["run_id"], partition)
            assert env["PIPELINE_RUN_AS_OF_TS"] == partition + "T23:59:59Z"
            assert (task["containers"][0]["exitCode"] == 0) == (document["status"] == "success")
            if asset == "features":
                # The model run the selector names reaches the task's environment and the manifest.
                assert env["PIPELINE_MODEL_RUN_ID"] == "m-ecs-1" and document["models"][0]["run_id"] == "m-ecs-1"
    denied = area.manifest("ingest", "2026-05-06", by_partition["2026-05-06"]["run_id"])
    assert "AccessDeniedException" in denied["failure"]["message"] and denied["failure"]["category"] == "C"

    # Parallelism, from ECS's own startedAt/stoppedAt: tasks (one per partition at a time) overlapped, never more than 3.
    intervals = [(task["startedAt"], task["stoppedAt"]) for _env, task in by_task.values()]
    assert 2 <= peak_overlap(intervals) <= 3, sorted(intervals)
    spans = {}
    for env, task in by_task.values():
        first, last = spans.get(env["PIPELINE_PARTITION"], (task["startedAt"], task["stoppedAt"]))
        spans[env["PIPELINE_PARTITION"]] = (min(first, task["startedAt"]), max(last, task["stoppedAt"]))
    assert 2 <= peak_overlap(list(spans.values())) <= 3
    serial = sum(p["duration_s"] for p in summary["partitions"])
    assert summary["wall_time_s"] < 0.6 * serial, (summary["wall_time_s"], serial)

    # Resume with the causes fixed: only the three failed partitions start tasks again (read back from ECS), the network
    # one in place under its run id (A), the others under new run ids (B, and C once fixed); the seven others keep theirs.
    fixed = [dict(step, env={}) for step in steps]
    resumed = run_playbook("pipeline_backfill.yml", area.vars(start="2026-05-01", end="2026-05-10", max_parallel=3, pipeline_steps=fixed,
                                                              as_of_mode="end_of_day", pipeline_pointer_root=str(config), resume=True))
    assert resumed.rc == 0, resumed.stdout[-3000:]
    after = area.summary("bf-2026-05-01-2026-05-10-end-of-day")
    assert (after["to_run"], after["skipped"], after["succeeded"], after["failed"]) == (3, 7, 3, 0)
    new_tasks = [t for t in ecs_tasks(sandbox, family) if t["taskArn"] not in by_task]
    ran = {}
    for task in new_tasks:
        env = dict((e["name"], e["value"]) for e in task["overrides"]["containerOverrides"][0]["environment"])
        assert task["containers"][0]["exitCode"] == 0
        ran.setdefault(env["PIPELINE_PARTITION"], set()).add((env["PIPELINE_ASSET"], env["PIPELINE_RUN_ID"]))
    resumed_by_partition = dict((p["partition"], p) for p in after["partitions"])
    assert sorted(ran) == sorted(ECS_EXPECTED)
    for partition in ECS_EXPECTED:
        run_id = resumed_by_partition[partition]["run_id"]
        assert ran[partition] == {("ingest", run_id), ("features", run_id)}
        assert (run_id == by_partition[partition]["run_id"]) == (ECS_EXPECTED[partition][2] == "A"), partition


RERUN_TASK = "Rerun the partition's run by its failure category"


def test_reruns_follow_the_safe_retry_rules_and_never_need_a_cleanup(run_playbook, tmp_path):
    area = Area(tmp_path)
    area.example({"scores@2026-06-01": "network", "features@2026-06-02": "contract", "scores@2026-06-03": "stale_snapshot"})
    first = run_playbook("pipeline_backfill.yml", area.vars(start="2026-06-01", end="2026-06-03", max_parallel=3))
    assert first.rc != 0
    runs = dict((p["partition"], p["run_id"]) for p in area.summary("bf-2026-06-01-2026-06-03-pretip")["partitions"])

    # Category A over a half-written run: the killed scores step left a torn file and a 'running' manifest.
    r1 = runs["2026-06-01"]
    out = area.data / "scores" / "game_date=2026-06-01" / ("run=%s" % r1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scores.csv").write_text("game_id,sco")
    stale = area.manifest("scores", "2026-06-01", r1)
    stale.update(status="running", finished_at=None, duration_s=None, failure=None)
    (area.manifests / "scores" / "game_date=2026-06-01" / ("run=%s" % r1) / "manifest.json").write_text(json.dumps(stale))
    kept = [area.manifest_bytes(a, "2026-06-01", r1) for a in ("ingest", "features")]
    area.example({"features@2026-06-02": "contract"})  # the network is back
    rerun = run_playbook("pipeline_rerun.yml", area.vars(partition="2026-06-01"))
    assert rerun.rc == 0, rerun.stdout[-3000:]
    assert line(rerun, RERUN_TASK) == ("pipeline_rerun status=ok partition=2026-06-01 previous_run_id=%s action=retry_in_place category=A "
                                       "run_id=%s reused=ingest,features" % (r1, r1))
    scores = area.manifest("scores", "2026-06-01", r1)
    assert scores["status"] == "success" and area.runs("scores", "2026-06-01") == [r1]
    [output] = scores["outputs"]
    text = (out / "scores.csv").read_text()
    assert text.startswith("game_id,score,as_of\n") and len(text.splitlines()) == 9 and output["rows"] == 8
    assert output["sha256"] == hashlib.sha256((out / "scores.csv").read_bytes()).hexdigest()
    assert [area.manifest_bytes(a, "2026-06-01", r1) for a in ("ingest", "features")] == kept

    # Category C is refused until fixed, then rerun under a new run_id; the failed run stays.
    r2 = runs["2026-06-02"]
    refused = run_playbook("pipeline_rerun.yml", area.vars(partition="2026-06-02"))
    assert refused.rc != 0 and line(refused, RERUN_TASK).startswith(
        "pipeline_rerun status=fail reason=rerun_refused partition=2026-06-02 previous_run_id=%s category=C failure_class=contract" % r2)
    assert [area.runs(a, "2026-06-02") for a in ASSETS] == [[r2]] * 3
    area.example({})
    fixed = run_playbook("pipeline_rerun.yml", area.vars(partition="2026-06-02", confirm_fixed=True))
    assert fixed.rc == 0, fixed.stdout[-3000:]
    [result] = fixed.task_results(RERUN_TASK)
    new = result["outputs"]["run_id"]
    assert new != r2 and result["outputs"]["action"] == "new_run" and sorted(area.runs("features", "2026-06-02")) == sorted([r2, new])
    assert area.manifest("features", "2026-06-02", r2)["failure"]["class"] == "contract"
    assert all(area.manifest(a, "2026-06-02", new)["status"] == "success" for a in ASSETS)

    # Category B: check mode plans a new run and writes nothing; the rerun gets a new run_id.
    r3 = runs["2026-06-03"]
    planned = run_playbook("pipeline_rerun.yml", area.vars(partition="2026-06-03"), check=True)
    assert planned.rc == 0 and line(planned, RERUN_TASK) == (
        "pipeline_rerun status=planned partition=2026-06-03 previous_run_id=%s action=new_run category=B run_id=new" % r3)
    assert [area.runs(a, "2026-06-03") for a in ASSETS] == [[r3]] * 3
    again = run_playbook("pipeline_rerun.yml", area.vars(partition="2026-06-03"))
    assert again.rc == 0
    new3 = again.task_results(RERUN_TASK)[0]["outputs"]["run_id"]
    assert new3 != r3 and area.manifest("scores", "2026-06-03", r3)["failure"]["class"] == "stale_snapshot"
    assert area.manifest("scores", "2026-06-03", new3)["run_as_of_ts"] == "2026-06-03T23:00:00Z"

    # A run that succeeded is left alone.
    idle = run_playbook("pipeline_rerun.yml", area.vars(partition="2026-06-01"))
    [result] = idle.task_results(RERUN_TASK)
    assert idle.rc == 0 and result["changed"] is False and result["outputs"]["action"] == "none"
    assert [r["status"] for r in area.receipts_of("rerun")] == ["success", "failed", "success", "success", "success"]
