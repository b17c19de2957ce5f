"""services/prefect.py, the prefect executor's pure parts and runbooks/pipeline/flow_runs.py: the state
mapping, names, tags, the failing task, the daily check's summary, and the REST client's retries and
errors against a real HTTP server on loopback (answering as Prefect's API does)."""

import json
import os
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


def test_an_auth_string_is_a_basic_header_that_wins_over_a_key_and_never_in_a_message(fake):
    # As Prefect's client (prefect/client/orchestration/__init__.py): Basic base64(user:password), over any API key;
    # a server started with PREFECT_SERVER_API_AUTH_STRING answers a wrong one with 401 {"exception_message": "Unauthorized"}.
    FakePrefect.script["/api/deployments/name/f/d"] = [(401, {"exception_message": "Unauthorized"})]
    with pytest.raises(prefect.PrefectError) as caught:
        client(fake, auth_string="ops:s3cret-basic", api_key="pnu_key").deployment("f/d")
    token = prefect.basic_token("ops:s3cret-basic")
    assert FakePrefect.seen[0][2]["Authorization"] == "Basic %s" % token == "Basic b3BzOnMzY3JldC1iYXNpYw=="
    assert caught.value.reason == "prefect_unauthorized" and "Unauthorized" in caught.value.message
    assert "the configured auth string" in caught.value.message and "signalcraft_pipeline_prefect_auth_string" in caught.value.message
    assert not any(secret in caught.value.message for secret in ("s3cret", token, "pnu_key"))
    with pytest.raises(prefect.PrefectError) as caught:
        client(fake).deployment("f/d")
    assert "with no credential" in caught.value.message and "Authorization" not in FakePrefect.seen[-1][2]


@pytest.fixture(scope="module")
def tls_server():
    """A Prefect-like HTTPS server whose certificate a private CA signed: (url, CA bundle path, requests seen)."""
    import tempfile

    from tests.sandbox.k8s_emulator import tlsutil

    ca_pem, cert_pem, key_pem = tlsutil.generate("prefect-unit")
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            payload = b"true"
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = tlsutil.server_context(cert_pem, key_pem)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as handle:
        handle.write(ca_pem)
    yield "https://127.0.0.1:%d/api" % server.server_address[1], handle.name, seen
    server.shutdown()
    server.server_close()
    os.remove(handle.name)


def test_tls_is_verified_against_the_ca_bundle_and_an_unverified_certificate_is_not_retried(tls_server):
    url, ca_path, seen = tls_server
    with pytest.raises(prefect.PrefectError) as caught:
        client(url, retries=3).health()
    assert caught.value.reason == "prefect_tls_failed" and "signalcraft_pipeline_prefect_ca_path" in caught.value.message
    assert "certificate verify failed" in caught.value.message.lower() and seen == []
    assert client(url, ca_path=ca_path).health() is True and seen == ["/api/health"]
    assert client(url, validate_certs=False).health() is True and len(seen) == 2
    assert prefect.tls_refusal(OSError("connection refused")) is False


class Scripted:
    """A client double of Prefect's answers for the executor's pure decisions (the REST calls are tested above)."""

    api_url = "http://127.0.0.1:4200/api"

    def __init__(self, runs=(), flow_run=None):
        self.runs, self.flow_run_answer, self.created = list(runs), flow_run, []

    def deployment(self, name):
        return {"id": "d-1", "name": name}

    def flow_runs(self, deployment_ids=None, tags=None, **_kwargs):
        return [r for r in self.runs if set(tags or ()) <= set(r.get("tags") or ())]

    def create_flow_run(self, deployment_id, parameters, key, tags, name):
        run = {"id": "new-%d" % (len(self.created) + 1), "name": name, "state_type": "SCHEDULED", "idempotency_key": key,
               "parameters": parameters, "tags": tags}
        self.created.append(run)
        return run, True

    def flow_run(self, flow_run_id):
        if isinstance(self.flow_run_answer, Exception):
            raise self.flow_run_answer
        return self.flow_run_answer


STEP = {"asset": "ingest", "executor": "prefect", "deployment": "signalcraft-step/ingest", "parameters": {"data_root": "/d"}}
RUN_ID = "20260101T000000Z-abcd1234"


def step_run(run_id, state_type, key, asset="ingest"):
    return {"id": run_id, "name": run_id, "state_type": state_type, "idempotency_key": key,
            "tags": ["run_id=%s" % RUN_ID, "asset=%s" % asset]}


@pytest.mark.parametrize("runs, adopted", [
    ([step_run("a", "FAILED", RUN_ID + ":ingest:1"), step_run("b", "RUNNING", RUN_ID + ":ingest:2")], "b"),
    ([step_run("a", "RUNNING", RUN_ID + ":ingest:1.2"), step_run("b", "COMPLETED", RUN_ID + ":ingest:2")], "b"),
    ([step_run("a", "SCHEDULED", RUN_ID + ":ingest:1")], "a"),
    ([step_run("a", "FAILED", RUN_ID + ":ingest:1"), step_run("c", "CANCELLING", RUN_ID + ":ingest:2")], None),
    ([step_run("m", "RUNNING", None)], None),                      # started by hand: not the pipeline's
    ([step_run("x", "RUNNING", "other-run:ingest:1")], None),
])
def test_a_step_follows_the_flow_run_it_already_has_and_starts_one_only_when_none_can_complete(runs, adopted):
    scripted = Scripted(runs)
    handle = executors.PrefectExecutor(scripted).start(STEP, context())
    if adopted:
        assert handle.ref == adopted and handle.state["adopted"] is True and scripted.created == []
    else:
        [created] = scripted.created
        assert handle.ref == created["id"] and handle.state["adopted"] is False and created["idempotency_key"] == RUN_ID + ":ingest:1"


def test_losing_prefect_while_following_ends_the_step_with_prefect_unreachable_and_its_flow_run_ref():
    lost = prefect.PrefectError("prefect_unreachable", "cannot reach Prefect at http://127.0.0.1:4200/api: [Errno 111] Connection refused")
    executor = executors.PrefectExecutor(Scripted(flow_run=lost), unreachable_grace_s=0)
    handle = executors.StepHandle("prefect", "fr-1", {"deployment": "f/d", "adopted": False, "name": "ingest-a1",
                                                      "idempotency_key": "k:ingest:1", "state_type": "RUNNING", "unreachable_since": None})
    result = executor.poll(handle)  # grace 0: the first miss (after the client's own retries) ends the step
    assert (result.state, result.reason, result.ref) == ("failed", "prefect_unreachable", "fr-1")
    assert result.detail["idempotency_key"] == "k:ingest:1" and result.detail["state_type"] == "RUNNING"
    assert "was not started again" in result.message
    patient = executors.PrefectExecutor(Scripted(flow_run=lost))
    assert patient.unreachable_grace_s == 120.0 and patient.poll(dict_handle()) is None


def dict_handle():
    return executors.StepHandle("prefect", "fr-2", {"deployment": "f/d", "adopted": False, "unreachable_since": None})


def test_model_runs_and_a_smoke_are_flow_parameters_and_a_smoke_is_never_the_partitions_run():
    models = [{"model": "minutes", "run_id": "m-2026-01-b", "artifact_uri": "/models/minutes/m-2026-01-b", "selector": "x"}]
    daily = executors.StepContext("game_date", "2026-01-02", RUN_ID, "2026-01-02T23:00:00Z", models=models)
    assert executors.flow_run_parameters(daily)["models"] == {"minutes": {"run_id": "m-2026-01-b", "artifact_uri": "/models/minutes/m-2026-01-b"}}
    assert "minutes_run_id=m-2026-01-b" in executors.flow_run_tags("scores", daily)
    smoke = executors.StepContext("game_date", "2026-01-02", "smoke-" + RUN_ID, "2026-01-02T23:00:00Z", models=models,
                                  smoke={"publish": False, "output_dir": "/d/_smoke", "output_uri": None, "inputs": {"features": RUN_ID}})
    assert executors.flow_run_parameters(smoke)["smoke"]["publish"] is False
    tags = executors.flow_run_tags("scores", smoke)
    assert "signalcraft-smoke" in tags and "smoke_partition=2026-01-02" in tags and "game_date=2026-01-02" not in tags
    as_run = run("s", "FAILED", tags, parameters=executors.flow_run_parameters(smoke))
    assert not flow_runs.belongs_to(as_run, "scores", "d-1", "game_date", "2026-01-02")
    with pytest.raises(executors.StepConfigError):
        executors.PrefectExecutor(api_url="http://127.0.0.1:4200/api").validate(dict(STEP, parameters={"models": {}}))


def test_prefect_tls_and_grace_options_are_checked_offline(tmp_path):
    base = params(prefect_api_url="https://prefect.internal/api")
    with pytest.raises(OpsError) as caught:
        config.validate(dict(base, prefect_ca_path=str(tmp_path / "missing.pem")))
    assert caught.value.reason == "invalid_input" and "signalcraft_pipeline_prefect_ca_path" in caught.value.message
    with pytest.raises(OpsError) as caught:
        config.validate(dict(base, prefect_unreachable_grace_s=-1))
    assert "pipeline_prefect_unreachable_grace_s" in caught.value.message
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    config.validate(dict(base, prefect_ca_path=str(bundle)))
    built = config.prefect_client(dict(base, prefect_ca_path=str(bundle), prefect_validate_certs=False, prefect_auth_string="u:p"))
    assert (built.ca_path, built.validate_certs, built.credential) == (str(bundle), False, "auth_string")
