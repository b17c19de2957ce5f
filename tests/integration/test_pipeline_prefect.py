"""The `prefect` step executor against a real Prefect server (tests/sandbox/prefect_server.py): a Prefect 3
server on loopback with its SQLite database, and a process serving the test flow as one deployment per
step (`signalcraft-step/<step>`), whose tasks write the step's outputs and fail on demand with each
failure class the triage knows. The playbooks run through the collection; every assertion reads state
back from Prefect's REST API or from the manifests and outputs on disk.
"""

import csv
import datetime
import hashlib
import json
import os
import re
import threading
import time
import urllib.request

import jsonschema
import pytest

from tests.conftest import REPO_ROOT
from tests.sandbox import prefect_server
from tests.sandbox.k8s_emulator import tlsutil
from tests.sandbox.tcp_proxy import TcpProxy

with open(os.path.join(REPO_ROOT, "schemas", "pipeline_manifest.v1.json")) as _handle:
    MANIFEST_SCHEMA = json.load(_handle)
ASSETS = ("ingest", "features")
BACKFILL_TASK = "Run the backfill over every partition from start to end"
STATUS_TASK = "Check the partition's manifests (the daily checklist)"
PROMOTE_TASK = "Promote the candidate model run after its smoke scoring"
# The server runs with PREFECT_SERVER_API_AUTH_STRING: every call but /health needs it as Basic auth, so every
# test here also proves it is sent; none of them may find it (or its base64 token) in receipts or output.
AUTH_STRING = "signalcraft-ops:pf-basic-Zq7-not-for-receipts"
SECRETS = (AUTH_STRING, prefect_server.auth_headers(AUTH_STRING)["Authorization"].split()[1], "pf-basic-Zq7-not-for-receipts")


@pytest.fixture(scope="module")
def prefect(tmp_path_factory):
    """One Prefect server (with an auth string) and flow runner for this module (started in ~8 s; stopped at the end)."""
    if not prefect_server.available():
        pytest.fail("%s is missing: run `make setup` (it installs Prefect in .venv-prefect)" % prefect_server.PREFECT_BIN)
    box = prefect_server.start(str(tmp_path_factory.mktemp("prefect")), steps=ASSETS + ("scores",), auth_string=AUTH_STRING)
    yield box
    prefect_server.stop(box)


def assert_no_secret(area, *runs):
    """Neither the auth string nor its Basic token is in any receipt of the area or in the playbooks' output."""
    texts = area.receipt_texts() + [run.stdout for run in runs]
    assert texts and not [secret for secret in SECRETS for text in texts if secret in text]


class Area:
    """A private manifest root, data root (shared with the flow runs) and receipt root for one test."""

    def __init__(self, tmp_path, box):
        self.box = box
        self.manifests, self.data, self.receipts = tmp_path / "manifests", tmp_path / "data", tmp_path / "receipts"
        self.data.mkdir()

    def faults(self, faults=None, sleep_s=0.0):
        (self.data / "_example.json").write_text(json.dumps({"faults": faults or {}, "sleep_s": sleep_s}))

    def steps(self, **overrides):
        steps = []
        for asset, upstream in zip(ASSETS, (None, "ingest")):
            step = {"asset": asset, "executor": "prefect", "deployment": "signalcraft-step/%s" % asset,
                    "parameters": {"data_root": str(self.data)}, "timeout_s": 120}
            if upstream:
                step["depends_on"] = [upstream]
            step.update(overrides.get(asset, {}))
            steps.append(step)
        return steps

    def vars(self, **extra):
        values = {"pipeline_manifest_root": str(self.manifests), "pipeline_data_root": str(self.data),
                  "signalcraft_receipt_root": str(self.receipts), "pipeline_retry_delay_s": 0.05,
                  "pipeline_prefect_api_url": self.box.api_url, "pipeline_prefect_auth_string": self.box.auth_string,
                  "pipeline_steps": self.steps()}
        values.update(extra)
        return values

    def manifest(self, asset, partition, run_id):
        with open(self.manifests / asset / ("game_date=%s" % partition) / ("run=%s" % run_id) / "manifest.json") as handle:
            document = json.load(handle)
        jsonschema.validate(document, MANIFEST_SCHEMA)
        return document

    def manifest_bytes(self, asset, partition, run_id):
        return (self.manifests / asset / ("game_date=%s" % partition) / ("run=%s" % run_id) / "manifest.json").read_bytes()

    def summary(self, backfill_id):
        with open(self.manifests / "backfills" / backfill_id / "summary.json") as handle:
            return json.load(handle)

    def receipt_texts(self):
        return [p.read_text() for p in self.receipts.rglob("*.json")]


def flow_run(box, flow_run_id):
    return box.get("/flow_runs/%s" % flow_run_id)


def flow_runs(box, *tags):
    return box.post("/flow_runs/filter", {"flow_runs": {"tags": {"all_": list(tags)}}, "sort": "EXPECTED_START_TIME_ASC", "limit": 200})


def task_runs(box, flow_run_id):
    return box.post("/task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}}})


def line(run, task=BACKFILL_TASK):
    [result] = run.task_results(task)
    return result["token_line"]


def status_line(run):
    """The daily check's line without its last field, current=<state> (the current pointers; tested with promotion)."""
    return re.sub(r" current=[a-z_]+$", "", line(run, STATUS_TASK))


def dates(start, count):
    first = datetime.date.fromisoformat(start)
    return [(first + datetime.timedelta(days=n)).isoformat() for n in range(count)]


def peak_overlap(intervals):
    return max(sum(1 for start, end in intervals if start <= moment < end) for moment, _end in intervals)


FAULTS = {
    "ingest@2026-01-02": "network",         # every try, even Prefect's task retry: the pipeline retries the step in place
    "features@2026-01-03": "contract",
    "features@2026-01-05": "permission",
    "ingest@2026-01-06": "stale_snapshot",
    "ingest@2026-01-07": "network_once",    # Prefect's own task retry recovers inside the flow run
    "ingest@2026-01-08": "port_conflict",
    "features@2026-01-09": "missing_input",
}
# partition: (failed step, class, category, the failing task Prefect records)
EXPECTED = {"2026-01-02": ("ingest", "network", "A", "fetch-source"),
            "2026-01-03": ("features", "contract", "C", "check-contract"), "2026-01-05": ("features", "permission", "C", "write-outputs"),
            "2026-01-06": ("ingest", "stale_snapshot", "B", "fetch-source"), "2026-01-08": ("ingest", "port_conflict", "C", "write-outputs"),
            "2026-01-09": ("features", "missing_input", "A", "fetch-source")}
BACKFILL_ID = "bf-2026-01-01-2026-01-10-pretip"


def backfill_runs(box):
    return box.post("/flow_runs/filter", {"flow_runs": {"tags": {"all_": ["backfill_id=%s" % BACKFILL_ID]}}, "limit": 200})


def test_backfill_on_prefect_with_every_failure_class_then_resume_and_the_daily_check(prefect, run_playbook, tmp_path):
    area = Area(tmp_path, prefect)
    area.faults(FAULTS, sleep_s=0.2)
    steps = area.steps(ingest={"retries": 1})
    partitions = dates("2026-01-01", 10)
    run = run_playbook("pipeline_backfill.yml", area.vars(start="2026-01-01", end="2026-01-10", max_parallel=3, pipeline_steps=steps))
    assert run.rc != 0
    assert line(run).startswith("pipeline_backfill status=fail reason=partition_failed backfill_id=%s planned=10 " % BACKFILL_ID)
    summary = area.summary(BACKFILL_ID)
    assert (summary["planned"], summary["succeeded"], summary["failed"], summary["pending"]) == (10, 4, 6, 0)
    assert summary["failed_by_class"] == {"network": 1, "contract": 1, "permission": 1, "stale_snapshot": 1, "port_conflict": 1,
                                          "missing_input": 1}
    by_partition = dict((p["partition"], p) for p in summary["partitions"])

    # Every step's manifest names its flow run; Prefect has that run with the partition's parameters and tags.
    for partition in partitions:
        run_id = by_partition[partition]["run_id"]
        for asset in ASSETS:
            document = area.manifest(asset, partition, run_id)
            if document["status"] == "skipped":
                assert document["executor"]["ref"] is None
                continue
            assert document["executor"]["kind"] == "prefect"
            remote = flow_run(prefect, document["executor"]["ref"])
            assert remote["parameters"] == {"step": asset, "partition": partition, "run_id": run_id,
                                            "run_as_of_ts": partition + "T23:00:00Z", "data_root": str(area.data)}
            assert {"game_date=%s" % partition, "asset=%s" % asset, "run_id=%s" % run_id, "backfill_id=%s" % BACKFILL_ID} <= set(remote["tags"])
            assert remote["idempotency_key"] == "%s:%s:%d" % (run_id, asset, document["attempts"])
            assert document["executor"]["detail"]["state_type"] == remote["state_type"]
            assert (document["status"] == "success") == (remote["state_type"] == "COMPLETED")

    # Each failure class, as the triage read it from the flow run's state message and error logs; the
    # failing task and its retry count as Prefect's task runs record them.
    for partition, (asset, klass, category, task) in EXPECTED.items():
        entry = by_partition[partition]
        assert (entry["failed_step"], entry["failure_class"], entry["category"]) == (asset, klass, category)
        failed = area.manifest(asset, partition, entry["run_id"])
        assert failed["failure"]["class"] == klass
        remote = flow_run(prefect, failed["executor"]["ref"])
        assert remote["state_type"] == "FAILED" and remote["state"]["message"] in failed["failure"]["message"]
        [failing] = [t for t in task_runs(prefect, remote["id"]) if t["state_type"] == "FAILED"]
        assert failing["name"].startswith(task) and failed["executor"]["detail"]["failing_task"] == task
        assert failed["executor"]["detail"]["failing_task_retries"] == failing["run_count"] - 1
    missing = area.manifest("features", "2026-01-09", by_partition["2026-01-09"]["run_id"])
    assert missing["failure"]["upstream_asset"] == "ingest"
    assert area.manifest("features", "2026-01-06", by_partition["2026-01-06"]["run_id"])["status"] == "skipped"

    # network: Prefect retried the task once in each flow run, the pipeline retried the step once in place.
    network = area.manifest("ingest", "2026-01-02", by_partition["2026-01-02"]["run_id"])
    assert network["attempts"] == 2 and [a["failure_class"] for a in network["attempt_history"]] == ["network"] * 2
    tries = flow_runs(prefect, "run_id=%s" % network["run_id"], "asset=ingest")
    assert [r["state_type"] for r in tries] == ["FAILED", "FAILED"]
    assert [t["run_count"] for r in tries for t in task_runs(prefect, r["id"]) if t["name"].startswith("fetch-source")] == [2, 2]
    # network_once: Prefect's own task retry recovered inside one flow run.
    recovered = area.manifest("ingest", "2026-01-07", by_partition["2026-01-07"]["run_id"])
    assert recovered["status"] == "success" and recovered["attempts"] == 1 and recovered["executor"]["detail"]["task_retries"] == 1
    [fetch] = [t for t in task_runs(prefect, recovered["executor"]["ref"]) if t["name"].startswith("fetch-source")]
    assert fetch["run_count"] == 2 and fetch["state_type"] == "COMPLETED"
    # The flow's outputs are recorded like a local step's (the runner shares the file system).
    features = area.manifest("features", "2026-01-04", by_partition["2026-01-04"]["run_id"])
    [output] = features["outputs"]
    path = area.data / "features" / "game_date=2026-01-04" / ("run=%s" % features["run_id"]) / "features.csv"
    assert output["rows"] == 8 and output["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert features["checks"] == [{"name": "required_columns", "status": "pass", "detail": None}]

    # Parallelism, from Prefect's own start/end times of the flow runs: partitions overlapped, never more than 3.
    intervals = []
    for partition in partitions:
        runs = [r for r in flow_runs(prefect, "game_date=%s" % partition, "backfill_id=%s" % BACKFILL_ID) if r["start_time"]]
        intervals.append((min(r["start_time"] for r in runs), max(r["end_time"] or r["state"]["timestamp"] for r in runs)))
    assert 2 <= peak_overlap(intervals) <= 3
    serial = sum(p["duration_s"] for p in summary["partitions"])
    assert summary["wall_time_s"] < 0.7 * serial, (summary["wall_time_s"], serial)

    # The daily check: a bad day and a good day, with the flow run state read from Prefect.
    bad = run_playbook("pipeline_status.yml", area.vars(partition="2026-01-03", pipeline_steps=steps))
    assert bad.rc != 0
    bad_run = by_partition["2026-01-03"]["run_id"]
    assert status_line(bad) == ("pipeline_status status=fail reason=step_failed partition=2026-01-03 steps_ok=1/2 flow_run_state=FAILED "
                                "failed_step=features attempts=1 failure_class=contract run_id=%s failing_task=check-contract "
                                "task_retries=0" % bad_run)
    [result] = bad.task_results(STATUS_TASK)
    reported = dict((s["asset"], s) for s in result["outputs"]["prefect"]["steps"])
    remote = flow_run(prefect, reported["features"]["flow_run_id"])
    assert remote["state_type"] == reported["features"]["state_type"] == "FAILED" and remote["parameters"]["partition"] == "2026-01-03"
    assert flow_run(prefect, reported["ingest"]["flow_run_id"])["state_type"] == reported["ingest"]["state_type"] == "COMPLETED"
    good = run_playbook("pipeline_status.yml", area.vars(partition="2026-01-04", pipeline_steps=steps,
                                                         pipeline_prefect_api_key="pf-test-key-not-for-receipts"), verbosity=3)
    assert good.rc == 0, good.stdout[-3000:]
    good_run = by_partition["2026-01-04"]["run_id"]
    assert status_line(good) == "pipeline_status status=ok partition=2026-01-04 steps_ok=2/2 flow_run_state=COMPLETED run_id=%s" % good_run
    [result] = good.task_results(STATUS_TASK)
    for entry in result["outputs"]["prefect"]["steps"]:
        assert flow_run(prefect, entry["flow_run_id"])["state_type"] == "COMPLETED" and entry["run_id"] == good_run
    assert not any("pf-test-key-not-for-receipts" in text for text in area.receipt_texts())
    assert "pf-test-key-not-for-receipts" not in good.stdout
    # The auth string won over the key (as in Prefect's client: the server accepts only Basic), and is nowhere either.
    assert_no_secret(area, run, bad, good)

    # Resume with the causes fixed: only the failed partitions run; category A in place (a new flow run
    # under <key>.2, as the failed one holds the key), B and C under a new run_id; nothing else is touched.
    kept = dict((p, [area.manifest_bytes(a, p, by_partition[p]["run_id"]) for a in ASSETS]) for p in partitions if p not in EXPECTED)
    runs_before = len(backfill_runs(prefect))
    area.faults({})
    resumed = run_playbook("pipeline_backfill.yml", area.vars(start="2026-01-01", end="2026-01-10", max_parallel=3, resume=True,
                                                              pipeline_steps=steps))
    assert resumed.rc == 0, resumed.stdout[-3000:]
    after = area.summary(BACKFILL_ID)
    assert (after["status"], after["to_run"], after["skipped"], after["succeeded"], after["failed"]) == ("succeeded", 6, 4, 6, 0)
    again = dict((p["partition"], p) for p in after["partitions"])
    for partition, parts in kept.items():
        assert again[partition]["action"] == "skip"
        assert [area.manifest_bytes(a, partition, by_partition[partition]["run_id"]) for a in ASSETS] == parts
        # no flow run was created for a skipped partition: it still has one per step
        assert sorted(r["parameters"]["step"] for r in flow_runs(prefect, "game_date=%s" % partition)) == sorted(ASSETS)
    for partition, (asset, klass, category, _task) in EXPECTED.items():
        old_run, entry = by_partition[partition]["run_id"], again[partition]
        if category == "A":
            assert entry["action"] == "retry_in_place" and entry["run_id"] == old_run
            redone = flow_run(prefect, area.manifest(asset, partition, old_run)["executor"]["ref"])
            assert redone["idempotency_key"] == "%s:%s:1.2" % (old_run, asset)
        else:
            assert entry["action"] == "run" and entry["run_id"] != old_run
            assert area.manifest(asset, partition, old_run)["failure"]["class"] == klass  # the failed run stays
        for a in ASSETS:
            document = area.manifest(a, partition, entry["run_id"])
            assert document["status"] == "success" and flow_run(prefect, document["executor"]["ref"])["state_type"] == "COMPLETED"
    # New flow runs: 2 for each new run (03, 05, 06, 08) and for 02 (in place), 1 for 09 (in place, its ingest kept).
    assert len(backfill_runs(prefect)) == runs_before + 11


def test_a_step_past_its_timeout_is_cancelled_in_prefect_and_resumed_in_place(prefect, run_playbook, tmp_path):
    area = Area(tmp_path, prefect)
    area.faults({"features@2026-04-01": "slow"})
    steps = area.steps(features={"timeout_s": 8})
    run = run_playbook("pipeline_backfill.yml", area.vars(start="2026-04-01", end="2026-04-01", pipeline_steps=steps))
    assert run.rc != 0
    [entry] = area.summary("bf-2026-04-01-2026-04-01-pretip")["partitions"]
    assert (entry["failed_step"], entry["failure_class"], entry["category"]) == ("features", "timeout", "A")
    failed = area.manifest("features", "2026-04-01", entry["run_id"])
    assert failed["failure"]["message"] == "step features exceeded timeout_s=8 and was stopped"
    # The pipeline set CANCELLING; the runner kills the flow run's process and Prefect records CANCELLED.
    deadline = time.monotonic() + 60
    while flow_run(prefect, failed["executor"]["ref"])["state_type"] == "CANCELLING" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert flow_run(prefect, failed["executor"]["ref"])["state_type"] == "CANCELLED"
    # Category A: resumed under the same run_id; the cancelled run holds the idempotency key, so a new flow run gets <key>.2.
    area.faults({})
    resumed = run_playbook("pipeline_backfill.yml", area.vars(start="2026-04-01", end="2026-04-01", resume=True, pipeline_steps=steps))
    assert resumed.rc == 0, resumed.stdout[-3000:]
    redone = area.manifest("features", "2026-04-01", entry["run_id"])
    remote = flow_run(prefect, redone["executor"]["ref"])
    assert redone["status"] == "success" and remote["state_type"] == "COMPLETED"
    assert remote["idempotency_key"] == "%s:features:1.2" % entry["run_id"] and remote["id"] != failed["executor"]["ref"]


def test_a_second_start_of_the_same_attempt_follows_the_existing_flow_run(prefect, tmp_path):
    """What a controller that died mid-step does on resume: the idempotency key gives back the run it started."""
    from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import executors
    from ansible_collections.signalcraft.ops.plugins.module_utils.services import prefect as prefect_service

    area = Area(tmp_path, prefect)
    area.faults({}, sleep_s=3.0)
    step = area.steps()[0]
    executor = executors.PrefectExecutor(prefect_service.PrefectClient(prefect.api_url, auth_string=prefect.auth_string))
    executor.prepare([step])
    context = executors.StepContext("game_date", "2026-05-01", "20260501T000000Z-0000abcd", "2026-05-01T23:00:00Z", attempt=1)
    first = executor.start(step, context)
    second = executor.start(step, context)  # while the first is still going
    assert second.ref == first.ref and second.state["adopted"] is True and first.state["adopted"] is False
    result = executor.run(step, context)  # after it finished: the COMPLETED run is adopted, not started again
    assert result.succeeded and result.ref == first.ref and result.detail["adopted"] is True
    runs = flow_runs(prefect, "game_date=2026-05-01")
    assert [(r["id"], r["state_type"], r["idempotency_key"]) for r in runs] == [(first.ref, "COMPLETED", "20260501T000000Z-0000abcd:ingest:1")]
    assert (area.data / "ingest" / "game_date=2026-05-01" / "run=20260501T000000Z-0000abcd" / "games.csv").exists()


def test_prefect_refusals_come_before_anything_runs(prefect, run_playbook, tmp_path):
    area = Area(tmp_path, prefect)
    area.faults()
    # An unknown deployment: looked up before any partition starts.
    steps = area.steps(features={"deployment": "signalcraft-step/nope"})
    run = run_playbook("pipeline_backfill.yml", area.vars(start="2026-02-01", end="2026-02-02", pipeline_steps=steps))
    assert run.rc != 0
    [result] = run.task_results(BACKFILL_TASK)
    assert result["token_line"] == "pipeline_backfill status=fail reason=prefect_deployment_not_found"
    assert "signalcraft-step/nope" in result["msg"] and "pipeline_steps" in result["msg"]
    assert not area.manifests.exists()
    assert prefect.post("/flow_runs/filter", {"flow_runs": {"tags": {"all_": ["game_date=2026-02-01"]}}}) == []
    # A server that does not answer: retried with backoff, then refused; the daily check says so too.
    dead = "http://127.0.0.1:%d/api" % prefect_server.free_port()
    run = run_playbook("pipeline_backfill.yml", area.vars(start="2026-02-01", end="2026-02-02", pipeline_prefect_api_url=dead))
    assert run.rc != 0 and line(run) == "pipeline_backfill status=fail reason=prefect_unreachable"
    assert not area.manifests.exists()
    status = run_playbook("pipeline_status.yml", area.vars(partition="2026-02-01", pipeline_prefect_api_url=dead))
    assert status.rc != 0 and status_line(status) == "pipeline_status status=fail reason=prefect_unreachable"
    # No API URL for prefect steps: refused offline.
    run = run_playbook("pipeline_backfill.yml", area.vars(start="2026-02-01", end="2026-02-02", pipeline_prefect_api_url=""))
    [result] = run.task_results(BACKFILL_TASK)
    assert result["token_line"] == "pipeline_backfill status=fail reason=steps_invalid" and "signalcraft_pipeline_prefect_api_url" in result["msg"]
    # The server requires its auth string: a wrong one, or none, is refused at the deployment lookup, before any flow run.
    # (No credential at all is the same 401; tests/unit/module_utils/test_prefect_client.py has its message.)
    run = run_playbook("pipeline_backfill.yml", area.vars(start="2026-02-01", end="2026-02-02",
                                                          pipeline_prefect_auth_string="signalcraft-ops:wrong-pw-Kx2"))
    [result] = run.task_results(BACKFILL_TASK)
    assert run.rc != 0 and result["token_line"] == "pipeline_backfill status=fail reason=prefect_unauthorized"
    assert "HTTP 401" in result["msg"] and "the configured auth string" in result["msg"]
    assert "signalcraft_pipeline_prefect_auth_string" in result["msg"]
    refused = [run]
    status = run_playbook("pipeline_status.yml", area.vars(partition="2026-02-01", pipeline_prefect_auth_string="signalcraft-ops:wrong-pw-Kx2"))
    assert status.rc != 0 and status_line(status) == "pipeline_status status=fail reason=prefect_unauthorized"
    assert not area.manifests.exists()
    assert prefect.post("/flow_runs/filter", {"flow_runs": {"tags": {"all_": ["game_date=2026-02-01"]}}}) == []
    assert not [r for r in refused + [status] if "wrong-pw-Kx2" in r.stdout]
    assert not [t for t in area.receipt_texts() if "wrong-pw-Kx2" in t]
    assert_no_secret(area, *refused)


def test_prefect_behind_tls_is_verified_against_its_ca_bundle(prefect, run_playbook, tmp_path):
    """Prefect behind a TLS proxy whose certificate a private CA signed (as behind an ingress): refused at once
    without the CA (not retried), accepted with pipeline_prefect_ca_path, or with validate_certs off."""
    ca_pem, cert_pem, key_pem = tlsutil.generate("prefect")
    bundle = tmp_path / "prefect-ca.pem"
    bundle.write_bytes(ca_pem)
    proxy = TcpProxy(("127.0.0.1", prefect.port), tls=(cert_pem, key_pem)).start()
    try:
        area = Area(tmp_path, prefect)
        url = proxy.url("https")
        refused = run_playbook("pipeline_status.yml", area.vars(partition="2026-02-10", pipeline_prefect_api_url=url))
        assert refused.rc != 0 and status_line(refused) == "pipeline_status status=fail reason=prefect_tls_failed"
        [result] = refused.task_results(STATUS_TASK)
        assert "certificate verify failed" in result["msg"].lower() and "signalcraft_pipeline_prefect_ca_path" in result["msg"]
        assert proxy.accepted == 1  # not retried: the certificate would be the same
        # With the CA bundle (and the auth string, through TLS), Prefect answers: the day has no flow runs yet.
        expected = ("pipeline_status status=fail reason=manifests_missing partition=2026-02-10 steps_ok=0/2 flow_run_state=NONE "
                    "missing=ingest,features")
        for extra in ({"pipeline_prefect_ca_path": str(bundle)}, {"pipeline_prefect_validate_certs": False}):
            checked = run_playbook("pipeline_status.yml", area.vars(partition="2026-02-10", pipeline_prefect_api_url=url, **extra))
            assert status_line(checked) == expected, checked.stdout[-2000:]
            [result] = checked.task_results(STATUS_TASK)
            assert result["outputs"]["prefect"]["api_url"] == url
    finally:
        proxy.stop()


def test_losing_prefect_mid_follow_never_starts_a_step_twice_and_resume_adopts_its_flow_run(prefect, run_playbook, tmp_path, request):
    """Prefect becomes unreachable (the network to it is cut) while a step's flow run is followed, for longer than
    the grace: the step fails with prefect_unreachable and is not retried in place; the flow run goes on in Prefect.
    Once Prefect answers again, resume follows that same flow run: one flow run per (partition, step), read back
    from Prefect."""
    area = Area(tmp_path, prefect)
    partition = "2026-06-01"
    area.faults({"ingest@%s" % partition: "sleep:12"})
    proxy = TcpProxy(("127.0.0.1", prefect.port)).start()
    request.addfinalizer(proxy.stop)
    values = area.vars(start=partition, end=partition, pipeline_prefect_api_url=proxy.url(), pipeline_prefect_unreachable_grace_s=1.0,
                       pipeline_steps=area.steps(ingest={"retries": 2}))
    outcome = {}
    follower = threading.Thread(target=lambda: outcome.update(run=run_playbook("pipeline_backfill.yml", values)))
    follower.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # straight from Prefect, not through the proxy
            started = [r for r in flow_runs(prefect, "game_date=%s" % partition, "asset=ingest") if r["state_type"] == "RUNNING"]
            if started:
                break
            time.sleep(0.3)
        [lost] = started
        proxy.cut()
        follower.join(300)
    finally:
        proxy.restore()
    run = outcome["run"]
    assert run.rc != 0 and line(run).startswith("pipeline_backfill status=fail reason=prefect_unreachable backfill_id=bf-2026-06-01-"), (
        run.stdout[-3000:])
    [result] = run.task_results(BACKFILL_TASK)
    assert "-e resume=true" in result["msg"] and "idempotency key" in result["msg"]
    [entry] = area.summary("bf-2026-06-01-2026-06-01-pretip")["partitions"]
    assert (entry["failed_step"], entry["failure_reason"], entry["failure_class"], entry["category"]) == (
        "ingest", "prefect_unreachable", "network", "A")
    failed = area.manifest("ingest", partition, entry["run_id"])
    # Not retried in place (retries=2 would have): one attempt, its flow run recorded, the operator's action named.
    assert failed["attempts"] == 1 and failed["executor"]["ref"] == lost["id"] and failed["failure"]["reason"] == "prefect_unreachable"
    assert "resume=true" in failed["failure"]["action"] and failed["executor"]["detail"]["idempotency_key"] == "%s:ingest:1" % entry["run_id"]
    assert area.manifest("features", partition, entry["run_id"])["status"] == "skipped"
    [still] = flow_runs(prefect, "run_id=%s" % entry["run_id"], "asset=ingest")
    assert still["id"] == lost["id"] and still["state_type"] in ("RUNNING", "COMPLETED")  # the flow run went on

    resumed = run_playbook("pipeline_backfill.yml", dict(values, resume=True))
    assert resumed.rc == 0, resumed.stdout[-3000:]
    [again] = area.summary("bf-2026-06-01-2026-06-01-pretip")["partitions"]
    assert (again["action"], again["run_id"], again["status"]) == ("retry_in_place", entry["run_id"], "succeeded")
    adopted = area.manifest("ingest", partition, entry["run_id"])
    assert adopted["status"] == "success" and adopted["executor"]["ref"] == lost["id"] and adopted["executor"]["detail"]["adopted"] is True
    # Prefect's own record: exactly one flow run per (partition, step), each under its first idempotency key.
    runs = flow_runs(prefect, "game_date=%s" % partition)
    assert sorted((r["parameters"]["step"], r["idempotency_key"], r["state_type"]) for r in runs) == [
        ("features", "%s:features:1" % entry["run_id"], "COMPLETED"), ("ingest", "%s:ingest:1" % entry["run_id"], "COMPLETED")]
    assert_no_secret(area, run, resumed)


def candidate(models_root, run_id):
    directory = models_root / "minutes" / run_id
    directory.mkdir(parents=True)
    (directory / "model.bin").write_bytes(b"weights of " + run_id.encode())
    (directory / "meta.json").write_text(json.dumps({"model": "minutes", "run_id": run_id, "created_at": "2026-07-01T04:00:00Z",
                                                     "metrics": {"mae": 3.1}, "files": ["model.bin"]}))
    return directory


def test_model_runs_reach_prefect_flow_runs_and_a_promotion_smokes_through_prefect(prefect, run_playbook, tmp_path):
    area = Area(tmp_path, prefect)
    area.faults()
    partition = "2026-07-01"
    config_root, models_root = tmp_path / "config", tmp_path / "models"
    steps = area.steps() + [{"asset": "scores", "executor": "prefect", "deployment": "signalcraft-step/scores", "depends_on": ["features"],
                             "models": ["minutes"], "parameters": {"data_root": str(area.data)}, "timeout_s": 120}]
    smoke = {"step": "scores", "output": "scores.csv", "expect_columns": ["game_id", "score", "model_run_id"], "min_rows": 1}
    common = dict(pipeline_steps=steps, pipeline_pointer_root=str(config_root), pipeline_model_root=str(models_root),
                  pipeline_promote_smoke=smoke, smoke_partition=partition)

    def daily(backfill_id):
        run = run_playbook("pipeline_backfill.yml", area.vars(start=partition, end=partition, backfill_id=backfill_id, **common))
        assert run.rc == 0, run.stdout[-3000:]
        [entry] = area.summary(backfill_id)["partitions"]
        scores = area.manifest("scores", partition, entry["run_id"])
        return entry["run_id"], scores, flow_run(prefect, scores["executor"]["ref"])

    # Before any promotion: the flow run is told that the model has no selector.
    first_run, scores, remote = daily("daily-1")
    assert remote["parameters"]["models"] == {"minutes": {"run_id": None, "artifact_uri": None}}

    # The smoke scoring runs as a flow run of the scores deployment, with the candidate and publishing off.
    candidate(models_root, "m-2026-07-a")
    promoted = run_playbook("pipeline_promote.yml", area.vars(model="minutes", run_id="m-2026-07-a", **common))
    assert promoted.rc == 0, promoted.stdout[-3000:]
    assert result_line(promoted).endswith("smoke_partition=%s smoke_rows=8 smoke=passed selector=moved" % partition)
    selector = json.loads((config_root / "minutes_current_run.json").read_text())
    assert selector["run_id"] == "m-2026-07-a" and selector["smoke"]["executor"] == "prefect"
    smoked = flow_run(prefect, selector["smoke"]["ref"])
    assert smoked["state_type"] == "COMPLETED" and smoked["parameters"]["run_id"] == selector["smoke"]["run_id"]
    assert smoked["parameters"]["models"]["minutes"] == {"run_id": "m-2026-07-a", "artifact_uri": str(models_root / "minutes" / "m-2026-07-a")}
    assert smoked["parameters"]["smoke"] == {"publish": False, "output_dir": os.path.dirname(selector["smoke"]["output"]), "output_uri": None,
                                             "inputs": {"features": first_run}}
    assert "signalcraft-smoke" in smoked["tags"] and "game_date=%s" % partition not in smoked["tags"]
    with open(selector["smoke"]["output"]) as handle:
        assert set(row["model_run_id"] for row in csv.DictReader(handle)) == {"m-2026-07-a"}

    # A candidate whose smoke flow run fails leaves the selector as it was; the daily check never counts a smoke run.
    before = (config_root / "minutes_current_run.json").read_bytes()
    area.faults({"scores@%s" % partition: "contract"})
    candidate(models_root, "m-2026-07-bad")
    bad = run_playbook("pipeline_promote.yml", area.vars(model="minutes", run_id="m-2026-07-bad", **common))
    assert bad.rc != 0 and "reason=smoke_failed" in result_line(bad) and "selector=unchanged" in result_line(bad)
    assert (config_root / "minutes_current_run.json").read_bytes() == before
    [failed_smoke] = flow_runs(prefect, "signalcraft-smoke", "minutes_run_id=m-2026-07-bad")
    assert failed_smoke["state_type"] == "FAILED" and failed_smoke["parameters"]["models"]["minutes"]["run_id"] == "m-2026-07-bad"
    area.faults()
    status = run_playbook("pipeline_status.yml", area.vars(partition=partition, **common))
    assert status_line(status) == ("pipeline_status status=ok partition=%s steps_ok=3/3 flow_run_state=COMPLETED run_id=%s" % (
        partition, first_run)), status.stdout[-2000:]

    # The next daily run scores with the promoted run: Prefect's flow run parameters, the flow's output and the manifest agree.
    second_run, scores, remote = daily("daily-2")
    assert remote["parameters"]["models"]["minutes"]["run_id"] == "m-2026-07-a" == scores["models"][0]["run_id"]
    assert "minutes_run_id=m-2026-07-a" in remote["tags"]
    with open(area.data / "scores" / ("game_date=%s" % partition) / ("run=%s" % second_run) / "scores.csv") as handle:
        assert set(row["model_run_id"] for row in csv.DictReader(handle)) == {"m-2026-07-a"}
    assert_no_secret(area, promoted, bad)


def result_line(run):
    [result] = run.task_results(PROMOTE_TASK)
    return result["token_line"]


def test_daily_check_of_today_without_runs_and_of_a_run_prefect_started_itself(prefect, run_playbook, tmp_path):
    area = Area(tmp_path, prefect)
    area.faults({"ingest@%s" % "2026-03-01": "stale_snapshot"})
    # Today (the default partition) has neither manifests nor flow runs.
    today = run_playbook("pipeline_status.yml", area.vars())
    assert today.rc != 0
    assert status_line(today) == ("pipeline_status status=fail reason=manifests_missing partition=%s steps_ok=0/2 flow_run_state=NONE "
                                  "missing=ingest,features" % datetime.datetime.now(datetime.timezone.utc).date().isoformat())
    [result] = today.task_results(STATUS_TASK)
    assert result["outputs"]["prefect"]["state"] == "NONE" and result["outputs"]["prefect"]["missing"] == list(ASSETS)
    # A flow run started in Prefect (its UI, a schedule) with the partition parameter: the check finds it by that
    # parameter, and its failure fails the check even though no manifest shows it.
    deployment = prefect.get("/deployments/name/signalcraft-step/ingest")
    request = urllib.request.Request(
        "%s/deployments/%s/create_flow_run" % (prefect.api_url, deployment["id"]), method="POST",
        headers=dict({"Content-Type": "application/json"}, **prefect_server.auth_headers(prefect.auth_string)),
        data=json.dumps({"parameters": {"partition": "2026-03-01", "run_id": "manual-1", "run_as_of_ts": "2026-03-01T23:00:00Z",
                                        "data_root": str(area.data)}}).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        created = json.loads(response.read())
    deadline = time.monotonic() + 60
    while flow_run(prefect, created["id"])["state_type"] not in ("FAILED", "COMPLETED", "CRASHED") and time.monotonic() < deadline:
        time.sleep(0.5)
    status = run_playbook("pipeline_status.yml", area.vars(partition="2026-03-01"))
    assert status.rc != 0
    assert status_line(status) == ("pipeline_status status=fail reason=step_failed partition=2026-03-01 steps_ok=0/2 flow_run_state=FAILED "
                                   "failed_step=ingest failing_task=fetch-source task_retries=1 run_id=manual-1")
    [result] = status.task_results(STATUS_TASK)
    assert "Roster snapshot is 30h old" in result["msg"] and created["id"] in result["msg"]
