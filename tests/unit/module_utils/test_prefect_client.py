"""services/prefect.py, the prefect executor's pure parts and runbooks/pipeline/flow_runs.py: the state
mapping, names, tags, the failing task, the daily check's summary, and the REST client's retries and
errors against a real HTTP server on loopback (answering as Prefect's API does)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import config, executors, flow_runs
from ansible_collections.signalcraft.ops.plugins.module_utils.services import prefect


@pytest.mark.parametrize("state_type, expected", [
    ("COMPLETED", "succeeded"),
    ("FAILED", "failed"), ("CRASHED", "failed"), ("CANCELLED", "failed"),
    ("SCHEDULED", "running"), ("PENDING", "running"), ("RUNNING", "running"), ("PAUSED", "running"), ("CANCELLING", "running"),
    ("completed", "succeeded"), (None, "running"), ("SOMETHING_NEW", "running"),
])
def test_flow_run_state_types_map_to_a_step_outcome(state_type, expected):
    assert prefect.step_state(state_type) == expected


def test_every_prefect_3_state_type_is_mapped():
    # Prefect 3's StateType enum (prefect/client/schemas/objects.py).
    assert prefect.STATE_TYPES == {"SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "CRASHED", "PAUSED", "CANCELLING"}


@pytest.mark.parametrize("name, expected", [
    ("signalcraft-step/ingest", ("signalcraft-step", "ingest")),
    ("my flow/prod deployment", ("my flow", "prod deployment")),
])
def test_deployment_names_split_into_flow_and_deployment(name, expected):
    assert prefect.parse_deployment_name(name) == expected


@pytest.mark.parametrize("name", [None, "", "ingest", "a/b/c", "/b", "a/", " a/b", 42])
def test_malformed_deployment_names_are_refused(name):
    with pytest.raises(ValueError):
        prefect.parse_deployment_name(name)


def test_api_urls():
    assert prefect.normalise_api_url("http://127.0.0.1:4200/api/") == "http://127.0.0.1:4200/api"
    assert prefect.normalise_api_url("https://api.prefect.cloud/api/accounts/a/workspaces/w")
    for bad in ("", "prefect:4200", "ftp://x/api", "http://", "http://host/api?x=1"):
        with pytest.raises(ValueError):
            prefect.normalise_api_url(bad)


def test_the_failing_task_is_the_last_failed_task_run_with_its_retries():
    runs = [
        {"id": "1", "name": "fetch-source-d48", "state_type": "COMPLETED", "run_count": 2, "end_time": "2026-01-01T00:00:02Z"},
        {"id": "2", "name": "check-contract-0ce", "state_type": "FAILED", "run_count": 1, "end_time": "2026-01-01T00:00:03Z",
         "state": {"message": "Task run encountered an exception ValueError: missing required columns ['minutes']"}},
        {"id": "3", "name": "write-outputs-2f0", "state_type": "FAILED", "run_count": 3, "end_time": "2026-01-01T00:00:09Z",
         "state": {"message": "Task run encountered an exception PermissionError"}},
    ]
    found = prefect.failing_task(runs)
    assert (found["task"], found["task_run"], found["retries"], found["run_count"]) == ("write-outputs", "write-outputs-2f0", 2, 3)
    assert prefect.failing_task(runs[:1]) is None and prefect.failing_task([]) is None
    assert prefect.task_retries({"run_count": 0}) == 0 and prefect.task_name({"name": "my-task"}) == "my-task"


def test_a_flow_run_without_a_state_message_is_described_by_its_state():
    assert prefect.state_message({"name": "tidy-otter", "state": {"name": "Crashed", "message": None}}) == "flow run tidy-otter is Crashed"
    assert prefect.state_message({"state": {"message": "Flow run encountered an exception: X"}}) == "Flow run encountered an exception: X"


def context(attempt=1, backfill_id=None):
    return executors.StepContext("game_date", "2026-01-02", "20260101T000000Z-abcd1234", "2026-01-02T23:00:00Z", attempt=attempt,
                                 backfill_id=backfill_id)


def test_flow_runs_get_the_partitions_parameters_tags_and_an_idempotency_key_per_attempt():
    assert executors.flow_run_parameters(context()) == {"partition": "2026-01-02", "run_id": "20260101T000000Z-abcd1234",
                                                        "run_as_of_ts": "2026-01-02T23:00:00Z"}
    assert executors.idempotency_key("20260101T000000Z-abcd1234", "ingest", 2) == "20260101T000000Z-abcd1234:ingest:2"
    assert executors.flow_run_tags("ingest", context(3, "bf-x")) == [
        "signalcraft-pipeline", "asset=ingest", "game_date=2026-01-02", "run_id=20260101T000000Z-abcd1234", "attempt=3", "backfill_id=bf-x"]


@pytest.mark.parametrize("step, words", [
    ({"asset": "a", "executor": "prefect"}, "deployment: <flow>/<deployment>"),
    ({"asset": "a", "executor": "prefect", "deployment": "flow-only"}, "deployment: <flow>/<deployment>"),
    ({"asset": "a", "executor": "prefect", "deployment": "f/d", "parameters": ["x"]}, "parameters must be a mapping"),
    ({"asset": "a", "executor": "prefect", "deployment": "f/d", "parameters": {"run_id": "x"}}, "set by the pipeline"),
])
def test_prefect_steps_are_checked_offline(step, words):
    with pytest.raises(executors.StepConfigError) as caught:
        executors.PrefectExecutor(api_url="http://127.0.0.1:4200/api").validate(step)
    assert caught.value.reason == "steps_invalid" and words in caught.value.message


def params(**extra):
    values = {"manifest_root": "/tmp/m", "data_root": None, "partition_key": "game_date", "ecs_cluster": "", "ecs_subnets": [],
              "ecs_security_groups": [], "ecs_assign_public_ip": False, "ecs_launch_type": "FARGATE", "prefect_api_url": "",
              "prefect_api_key": None, "prefect_timeout_s": 10.0,
              "steps": [{"asset": "ingest", "executor": "prefect", "deployment": "signalcraft-step/ingest"}]}
    values.update(extra)
    return values


def test_prefect_configuration_is_refused_before_anything_runs():
    with pytest.raises(OpsError) as caught:
        config.validate(params())
    assert caught.value.reason == "steps_invalid" and "signalcraft_pipeline_prefect_api_url" in caught.value.message
    with pytest.raises(OpsError) as caught:
        config.validate(params(prefect_api_url="prefect:4200"))
    assert caught.value.reason == "invalid_input" and "http://host:4200/api" in caught.value.message
    [step] = config.validate(params(prefect_api_url="http://127.0.0.1:4200/api"))
    assert step["executor"] == "prefect" and config.prefect_client(params()) is None


DEPLOYMENT = {"id": "d-1"}


def run(run_id, state_type, tags=(), parameters=None, expected="2026-01-02T10:00:00Z", deployment="d-1", message=None):
    return {"id": run_id, "name": "run-%s" % run_id, "deployment_id": deployment, "state_type": state_type, "state_name": state_type.title(),
            "tags": list(tags), "parameters": parameters or {}, "expected_start_time": expected, "state": {"message": message}}


STEPS = [{"asset": "ingest", "executor": "prefect", "deployment": "f/ingest"},
         {"asset": "features", "executor": "prefect", "deployment": "f/features"},
         {"asset": "local_step", "executor": "local"}]
DEPLOYMENTS = {"ingest": {"id": "d-1"}, "features": {"id": "d-2"}}


def test_the_daily_summary_takes_each_steps_newest_run_of_the_partition():
    runs = [run("old", "FAILED", ["game_date=2026-01-02", "asset=ingest"], expected="2026-01-02T09:00:00Z"),
            run("new", "COMPLETED", ["game_date=2026-01-02", "asset=ingest", "run_id=r2"], expected="2026-01-02T11:00:00Z"),
            run("other-day", "FAILED", ["game_date=2026-01-03", "asset=ingest"], expected="2026-01-03T11:00:00Z"),
            run("f", "COMPLETED", [], parameters={"partition": "2026-01-02", "run_id": "manual"}, deployment="d-2")]
    summary = flow_runs.summarise(STEPS, DEPLOYMENTS, runs, "game_date", "2026-01-02")
    assert summary["state"] == "COMPLETED" and summary["failing"] == [] and summary["missing"] == []
    ingest, features = summary["steps"]
    assert (ingest["flow_run_id"], ingest["flow_runs"], ingest["run_id"]) == ("new", 2, "r2")
    assert (features["flow_run_id"], features["run_id"]) == ("f", "manual")  # found by its partition parameter


def test_the_daily_summary_names_the_failing_task_and_its_retries():
    runs = [run("i", "COMPLETED", ["game_date=2026-01-02", "asset=ingest"]),
            run("x", "CRASHED", ["game_date=2026-01-02", "asset=features"], deployment="d-2", message="Process exited with code 137")]
    failing = {"x": {"task": "fetch-source", "retries": 2, "message": "killed"}}
    summary = flow_runs.summarise(STEPS, DEPLOYMENTS, runs, "game_date", "2026-01-02", failing)
    assert summary["state"] == "CRASHED"
    [bad] = summary["failing"]
    assert (bad["asset"], bad["failing_task"], bad["task_retries"]) == ("features", "fetch-source", 2)
    assert bad["message"] == "Process exited with code 137"


@pytest.mark.parametrize("states, expected", [
    (("COMPLETED", "RUNNING"), "RUNNING"), (("COMPLETED", "SCHEDULED"), "RUNNING"), (("COMPLETED", None), "NONE"),
    (("FAILED", "RUNNING"), "FAILED"), ((None, None), "NONE"), (("CANCELLED", "COMPLETED"), "CANCELLED"),
])
def test_the_partitions_flow_run_state(states, expected):
    runs = [run("r%d" % n, state, ["game_date=2026-01-02"], deployment="d-%d" % (n + 1)) for n, state in enumerate(states) if state]
    assert flow_runs.summarise(STEPS, DEPLOYMENTS, runs, "game_date", "2026-01-02")["state"] == expected


def test_a_run_tagged_for_another_asset_of_a_shared_deployment_is_not_the_steps():
    assert not flow_runs.belongs_to(run("a", "COMPLETED", ["game_date=2026-01-02", "asset=features"]), "ingest", "d-1", "game_date", "2026-01-02")
    assert not flow_runs.belongs_to(run("a", "COMPLETED", ["game_date=2026-01-02"], deployment="d-9"), "ingest", "d-1", "game_date", "2026-01-02")
    assert flow_runs.belongs_to(run("a", "COMPLETED", ["game_date=2026-01-02"]), "ingest", "d-1", "game_date", "2026-01-02")


class FakePrefect(BaseHTTPRequestHandler):
    """Answers like Prefect's API: a scripted list of (status, body) per path; records every request."""

    script, seen = {}, []

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        FakePrefect.seen.append((self.command, self.path, dict(self.headers), body))
        answers = FakePrefect.script.get(self.path) or [(404, {"detail": "Not Found"})]
        status, document = answers.pop(0) if len(answers) > 1 else answers[0]
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def fake():
    FakePrefect.script, FakePrefect.seen = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePrefect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/api" % server.server_address[1]
    server.shutdown()
    server.server_close()


def client(url, **extra):
    return prefect.PrefectClient(url, sleep=lambda seconds: None, **extra)


def test_5xx_answers_are_retried_with_backoff_then_succeed(fake):
    FakePrefect.script["/api/deployments/name/signalcraft-step/ingest"] = [
        (503, {"detail": "busy"}), (500, {"detail": "oops"}), (200, {"id": "d-1", "name": "ingest"})]
    delays = []
    found = prefect.PrefectClient(fake, sleep=delays.append, rng=lambda: 0.5).deployment("signalcraft-step/ingest")
    assert found["id"] == "d-1" and len(FakePrefect.seen) == 3
    assert delays == [0.5, 1.0]  # 0.5 s doubling, jitter factor 1.0 at rng=0.5


def test_a_server_that_keeps_failing_is_unreachable_after_the_retries(fake):
    FakePrefect.script["/api/health"] = [(502, {"detail": "bad gateway"})]
    with pytest.raises(prefect.PrefectError) as caught:
        client(fake, retries=2).health()
    assert caught.value.reason == "prefect_unreachable" and "3 tries" in caught.value.message and len(FakePrefect.seen) == 3


def test_a_closed_port_is_unreachable():
    with pytest.raises(prefect.PrefectError) as caught:
        client("http://127.0.0.1:9/api", retries=1).health()
    assert caught.value.reason == "prefect_unreachable" and "signalcraft_pipeline_prefect_api_url" in caught.value.message


def test_the_api_key_is_a_bearer_header_and_never_in_a_message(fake):
    FakePrefect.script["/api/deployments/name/f/d"] = [(401, {"detail": "Unauthorized"})]
    with pytest.raises(prefect.PrefectError) as caught:
        client(fake, api_key="pnu_secret_key_123").deployment("f/d")
    assert caught.value.reason == "prefect_unauthorized" and "pnu_secret_key_123" not in caught.value.message
    assert FakePrefect.seen[0][2]["Authorization"] == "Bearer pnu_secret_key_123"
    FakePrefect.script["/api/health"] = [(200, True)]
    client(fake).health()
    assert "Authorization" not in FakePrefect.seen[-1][2]


def test_refusals_name_the_deployment_and_prefects_detail(fake):
    with pytest.raises(prefect.PrefectError) as caught:
        client(fake).deployment("signalcraft-step/nope")
    assert caught.value.reason == "prefect_deployment_not_found" and "signalcraft-step/nope" in caught.value.message
    FakePrefect.script["/api/deployments/d-1/create_flow_run"] = [(409, {"detail": "Error creating flow run: 'partition' is required"})]
    with pytest.raises(prefect.PrefectError) as caught:
        client(fake).create_flow_run("d-1", {})
    assert caught.value.reason == "prefect_api_error" and "'partition' is required" in caught.value.message


def test_create_flow_run_sends_the_documented_body_and_tells_new_from_existing(fake):
    FakePrefect.script["/api/deployments/d-1/create_flow_run"] = [(201, {"id": "fr-1", "state_type": "SCHEDULED"}),
                                                                  (200, {"id": "fr-1", "state_type": "RUNNING"})]
    first, created = client(fake).create_flow_run("d-1", {"partition": "2026-01-02"}, "r:ingest:1", ["game_date=2026-01-02"], "ingest-a1")
    again, created_again = client(fake).create_flow_run("d-1", {"partition": "2026-01-02"}, "r:ingest:1", ["game_date=2026-01-02"])
    assert (first["id"], created, again["id"], created_again) == ("fr-1", True, "fr-1", False)
    method, path, headers, body = FakePrefect.seen[0]
    assert (method, path, headers["Content-Type"]) == ("POST", "/api/deployments/d-1/create_flow_run", "application/json")
    assert body == {"parameters": {"partition": "2026-01-02"}, "tags": ["game_date=2026-01-02"], "idempotency_key": "r:ingest:1",
                    "name": "ingest-a1"}


def test_filters_use_prefects_filter_bodies(fake):
    FakePrefect.script.update({"/api/flow_runs/filter": [(200, [])], "/api/task_runs/filter": [(200, [])], "/api/logs/filter": [(200, [])],
                               "/api/flow_runs/fr-1/set_state": [(201, {"status": "ACCEPT"})]})
    c = client(fake)
    c.flow_runs(["d-1"], tags=["game_date=2026-01-02"])
    c.task_runs("fr-1")
    c.error_logs("fr-1")
    assert c.set_flow_run_state("fr-1", "CANCELLING", "timeout")["status"] == "ACCEPT"
    bodies = [body for _m, _p, _h, body in FakePrefect.seen]
    assert bodies[0] == {"sort": "EXPECTED_START_TIME_DESC", "limit": 200, "flow_runs": {"tags": {"all_": ["game_date=2026-01-02"]}},
                         "deployments": {"id": {"any_": ["d-1"]}}}
    assert bodies[1]["flow_runs"] == {"id": {"any_": ["fr-1"]}}
    assert bodies[2]["logs"] == {"flow_run_id": {"any_": ["fr-1"]}, "level": {"ge_": 40}} and bodies[2]["sort"] == "TIMESTAMP_ASC"
    assert bodies[3] == {"state": {"type": "CANCELLING", "message": "timeout"}, "force": False}
