"""Model promotion's pure planning (meta.json, smoke configuration, selector documents, output shapes), the
"current" pointer rules, and the local pointer store's compare-and-swap (threads racing on a real directory)."""

import json
import threading

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import current, executors, plan, pointer_store, promotion
from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers

STEPS = plan.normalise_steps([
    {"asset": "ingest", "command": ["python3", "step.py", "ingest"]},
    {"asset": "features", "depends_on": ["ingest"], "command": ["python3", "step.py", "features"]},
    {"asset": "scores", "depends_on": ["features"], "command": ["python3", "step.py", "scores"], "env": {"A": "1"}, "models": ["minutes"]},
])
KNOWN = {"local": executors.LocalExecutor(), "ecs": executors.EcsExecutor(None, "cluster")}
META = {"model": "minutes", "run_id": "m-1", "created_at": "2026-01-10T04:00:00Z", "metrics": {"mae": 3.1}, "files": ["model.bin"]}


def candidate(run_id, sha="a" * 64):
    return {"model": "minutes", "run_id": run_id, "artifact_uri": "/models/minutes/%s" % run_id, "meta_sha256": sha,
            "created_at": "2026-01-10T04:00:00Z", "metrics": {}}


SMOKE = {"partition": "2026-01-09", "run_id": "smoke-20260110T000000Z-abcdef12", "executor": "local", "ref": "1", "output": "/x/scores.csv",
         "rows": 8, "columns": ["game_id", "score"]}


def promote(previous, run_id, limit=20):
    return promotion.promoted_document(candidate(run_id), SMOKE, previous, "2026-01-10T05:00:00.000Z", "ops", "exec-1", None, limit)


# ---------------------------------------------------------------- candidate and smoke configuration

def test_a_meta_json_of_the_expected_shape_gives_its_run_id():
    assert promotion.validate_meta(dict(META), "minutes", None, "meta.json") == "m-1"
    assert promotion.validate_meta(dict(META), "minutes", "m-1", "meta.json") == "m-1"


@pytest.mark.parametrize("change, problem", [
    ({"model": "rates"}, "model is 'rates'"),
    ({"run_id": "m-2"}, "not the 'm-1' asked for"),
    ({"run_id": "../x"}, "is not a run id"),
    ({"created_at": "yesterday"}, "created_at"),
    ({"metrics": [1]}, "metrics is not an object"),
    ({"files": ["../etc/passwd"]}, "files must be"),
    ({"created_at": None}, "created_at"),
])
def test_a_meta_json_of_another_shape_is_refused_naming_the_problem(change, problem):
    meta = dict(META, **change)
    with pytest.raises(OpsError) as caught:
        promotion.validate_meta(meta, "minutes", "m-1", "/m/meta.json")
    assert caught.value.reason == "model_candidate_invalid" and problem in caught.value.message and "/m/meta.json" in caught.value.message


def test_a_meta_json_without_required_keys_or_not_an_object_is_refused():
    with pytest.raises(OpsError, match="missing model, created_at"):
        promotion.validate_meta({"run_id": "m-1"}, "minutes", None, "meta.json")
    with pytest.raises(OpsError, match="not a JSON object"):
        promotion.validate_meta([1], "minutes", None, "meta.json")


def test_the_artifact_location_comes_from_the_model_root_or_is_given():
    assert promotion.artifact_location("minutes", "m-1", model_root="/srv/models/") == "/srv/models/minutes/m-1"
    assert promotion.artifact_location("minutes", "m-1", model_root="s3://b/models") == "s3://b/models/minutes/m-1"
    assert promotion.artifact_location("minutes", None, artifact_dir="s3://b/x/m-1/") == "s3://b/x/m-1"
    for kwargs in ({"artifact_dir": "relative/dir"}, {"artifact_dir": "/a/../b"}, {}, {"model_root": ""}):
        with pytest.raises(OpsError) as caught:
            promotion.artifact_location("minutes", kwargs.pop("run_id", None if "artifact_dir" in kwargs else "m-1"), **kwargs)
        assert caught.value.reason == "invalid_input"


def test_the_smoke_reuses_a_configured_step_with_its_command_env_and_inputs():
    step, expect = promotion.normalise_smoke({"step": "scores", "output": "scores.csv", "expect_columns": ["game_id"], "env": {"B": "2"}},
                                             STEPS, KNOWN)
    assert step["asset"] == "scores" and step["command"] == ["python3", "step.py", "scores"] and step["retries"] == 0
    assert step["env"] == {"A": "1", "B": "2"} and step["depends_on"] == ["features"] and step["models"] == []
    assert expect == {"output": "scores.csv", "output_uri": None, "columns": ["game_id"], "min_rows": 1, "lookback_days": 7}


@pytest.mark.parametrize("smoke, fragment", [
    ({}, "no smoke scoring is configured"),
    ({"step": "scores", "output": "scores.csv", "publish": True}, "unknown keys publish"),
    ({"step": "nope", "output": "scores.csv"}, "not a configured step"),
    ({"step": "scores"}, "output must name the file"),
    ({"step": "scores", "output": "../scores.csv"}, "output must name the file"),
    ({"step": "scores", "output": "scores.parquet"}, "must be .csv, .json"),
    ({"executor": "ecs", "task_definition": "score", "depends_on": ["features"]}, "needs pipeline_promote_smoke.output_uri"),
    ({"executor": "local", "output": "s.csv"}, "needs command"),
    ({"step": "scores", "output": "s.csv", "depends_on": ["ghost"]}, "which no step produces"),
    ({"step": "scores", "output": "s.csv", "min_rows": -1}, "min_rows"),
    ({"step": "scores", "output": "s.csv", "expect_columns": "game_id"}, "expect_columns"),
])
def test_a_smoke_configured_wrongly_is_refused_before_anything_runs(smoke, fragment):
    with pytest.raises(OpsError) as caught:
        promotion.normalise_smoke(smoke, STEPS, KNOWN)
    assert caught.value.reason == "invalid_input" and fragment in caught.value.message and "pipeline_promote_smoke" in caught.value.message


def test_the_smoke_gets_the_candidate_as_its_model_with_publishing_disabled():
    env = promotion.smoke_environment("minutes", "m-2", "/models/minutes/m-2")
    assert env["PIPELINE_MODEL_RUN_ID"] == "m-2" and env["PIPELINE_MODEL_ARTIFACT_DIR"] == "/models/minutes/m-2"
    assert env["PIPELINE_PUBLISH"] == "0" and env["PIPELINE_SMOKE"] == "1"
    assert json.loads(env["PIPELINE_MODELS"]) == {"minutes": {"run_id": "m-2", "artifact_uri": "/models/minutes/m-2"}}
    assert promotion.render_output_uri("s3://b/{model}/{model_run_id}/{smoke_run_id}/{partition}.csv", "minutes", "m-2", "s-1",
                                       "2026-01-09") == "s3://b/minutes/m-2/s-1/2026-01-09.csv"


@pytest.mark.parametrize("name, data, shape", [
    ("s.csv", b"game_id,score\ng1,1\ng2,2\n\n", (["game_id", "score"], 2)),
    ("s.csv", b"", ([], 0)),
    ("s.json", b'[{"game_id": "g1", "score": 1}, {"game_id": "g2", "extra": 0}]', (["game_id", "score", "extra"], 2)),
    ("s.jsonl", b'{"game_id": "g1"}\n{"game_id": "g2"}\n', (["game_id"], 2)),
])
def test_output_shapes_are_read_from_csv_json_and_json_lines(name, data, shape):
    assert promotion.output_shape(data, name) == shape


def test_the_shape_check_names_missing_columns_and_too_few_rows():
    expect = {"columns": ["game_id", "score"], "min_rows": 1}
    assert promotion.check_shape(["game_id", "score", "as_of"], 8, expect) == []
    problems = promotion.check_shape(["game_id"], 0, expect)
    assert problems == ["missing required columns ['score'] (it has ['game_id'])", "0 row(s), fewer than min_rows=1"]


# ---------------------------------------------------------------- selector documents

def test_a_promotion_pushes_the_previous_contents_onto_the_history():
    first = promote(None, "m-1")
    assert first["history"] == [] and not promotion.problems_of(first)
    second = promote(first, "m-2")
    third = promote(second, "m-3")
    assert [h["run_id"] for h in third["history"]] == ["m-2", "m-1"]
    assert third["history"][0] == promotion.selection_of(second) and "history" not in third["history"][0]


def test_a_rollback_restores_the_previous_contents_byte_for_byte():
    first = promote(None, "m-1")
    second = promote(first, "m-2")
    third = promote(second, "m-3")
    back = promotion.rolled_back_document(third)
    assert pointer_store.serialize(back) == pointer_store.serialize(second)
    assert pointer_store.serialize(promotion.rolled_back_document(back)) == pointer_store.serialize(first)
    assert promotion.rolled_back_document(first) is None


def test_the_history_is_bounded_and_a_legacy_selector_is_kept_as_it_was():
    legacy = {"run_id": "legacy-run", "path": "/old/minutes"}
    document = promote(legacy, "m-1", limit=2)
    assert document["history"] == [legacy] and not promotion.problems_of(document)
    assert promotion.rolled_back_document(document) == legacy
    for n in range(2, 6):
        document = promote(document, "m-%d" % n, limit=2)
    assert [h["run_id"] for h in document["history"]] == ["m-4", "m-3"]


def test_promoting_the_current_run_again_is_recognised():
    current_doc = promote(None, "m-1")
    assert promotion.same_candidate(current_doc, candidate("m-1"))
    assert not promotion.same_candidate(current_doc, candidate("m-1", sha="b" * 64))  # retrained under the same id
    assert not promotion.same_candidate(None, candidate("m-1"))


def test_names_that_would_escape_the_pointer_root_are_refused():
    assert promotion.selector_path("usage_shares") == "usage_shares_current_run.json"
    for bad in ("../x", "Minutes", "a/b", ""):
        with pytest.raises(OpsError):
            promotion.selector_path(bad)


# ---------------------------------------------------------------- current pointers

def pointer(partition, run_id):
    return current.document("scores", "game_date", partition, run_id, partition + "T23:00:00Z", "m", "2026-01-10T00:00:00.000Z")


def test_current_pointers_move_forward_only_and_are_idempotent():
    at_5 = pointer("2026-01-05", "r5")
    assert current.advance(at_5)(None) is at_5
    assert current.advance(pointer("2026-01-03", "r3"))(at_5) is at_5          # an old partition never rewinds it
    newer = pointer("2026-01-05", "r5b")
    assert current.advance(newer)(at_5) is newer                                # a rerun of the same partition replaces it
    assert current.advance(pointer("2026-01-05", "r5"))(at_5) is at_5           # the same run: unchanged (keeps moved_at)
    assert current.advance(at_5)({"something": "else"}) is at_5                 # a foreign document is replaced


def test_the_daily_check_says_whether_current_moved_to_the_partitions_run():
    steps = [{"asset": "ingest", "status": "success", "run_id": "r5"}, {"asset": "scores", "status": "success", "run_id": "r5"}]
    moved = current.state("2026-01-05", steps, {"ingest": pointer("2026-01-05", "r5"), "scores": pointer("2026-01-05", "r5")})
    assert moved["state"] == "moved" and moved["assets"]["scores"] == {"state": "moved", "partition": "2026-01-05", "run_id": "r5"}
    later = current.state("2026-01-05", steps, {"ingest": pointer("2026-01-07", "r7"), "scores": pointer("2026-01-05", "r5")})
    assert later["state"] == "superseded"
    assert current.state("2026-01-05", steps, {"ingest": None, "scores": pointer("2026-01-05", "r5")})["state"] == "not_moved"
    failed = [dict(steps[0]), dict(steps[1], status="failed")]
    assert current.state("2026-01-05", failed, {"ingest": pointer("2026-01-07", "r7"), "scores": pointer("2026-01-07", "r7")})["state"] == \
        "not_moved"


# ---------------------------------------------------------------- the local store's compare-and-swap

def test_a_local_swap_writes_only_over_the_expected_contents(tmp_path):
    store = pointer_store.LocalPointerStore(str(tmp_path))
    assert store.read("a.json") is None
    etag = store.swap("a.json", {"n": 1}, None)
    with pytest.raises(pointers.PointerConflict):
        store.swap("a.json", {"n": 2}, None)                # it exists now: a create loses
    with pytest.raises(pointers.PointerConflict):
        store.swap("a.json", {"n": 2}, "0" * 64)            # a stale etag loses
    assert store.read("a.json")["document"] == {"n": 1} and store.read("a.json")["etag"] == etag
    store.swap("a.json", {"n": 2}, etag)
    assert json.loads((tmp_path / "a.json").read_text()) == {"n": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".a.json.lock", "a.json"]  # no temp file left behind


def test_an_unreadable_pointer_is_refused_not_overwritten(tmp_path):
    (tmp_path / "a.json").write_text("{torn")
    with pytest.raises(OpsError) as caught:
        pointer_store.LocalPointerStore(str(tmp_path)).read("a.json")
    assert caught.value.reason == "pipeline_pointer_invalid"


def test_racing_local_promotions_never_lose_an_update(tmp_path):
    """Eight writers read the same selector, then all commit at once: exactly one wins, the others get
    pointer_conflict and write nothing. Each loser then reruns on top of the new state, as an operator would,
    and the final selector's history holds every promotion exactly once."""
    store = pointer_store.LocalPointerStore(str(tmp_path))
    rel = promotion.selector_path("minutes")
    store.swap(rel, promote(None, "m-0"), None)
    writers = 8
    barrier = threading.Barrier(writers)
    outcomes = {}

    def writer(n):
        snapshot = store.read(rel)
        barrier.wait()
        try:
            promotion.commit(store, "minutes", promote(snapshot["document"], "m-%d" % n), snapshot["etag"])
            outcomes[n] = "won"
        except OpsError as exc:
            outcomes[n] = exc.reason

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(1, writers + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["pointer_conflict"] * (writers - 1) + ["won"]
    [winner] = [n for n, o in outcomes.items() if o == "won"]
    after_race = json.loads((tmp_path / rel).read_text())
    assert after_race["run_id"] == "m-%d" % winner and [h["run_id"] for h in after_race["history"]] == ["m-0"]

    def rerun(n):
        while True:
            snapshot = store.read(rel)
            try:
                return promotion.commit(store, "minutes", promote(snapshot["document"], "m-%d" % n), snapshot["etag"])
            except OpsError as exc:
                assert exc.reason == "pointer_conflict"

    threads = [threading.Thread(target=rerun, args=(n,)) for n in outcomes if n != winner]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = json.loads((tmp_path / rel).read_text())
    chain = [final["run_id"]] + [h["run_id"] for h in final["history"]]
    assert sorted(chain) == sorted("m-%d" % n for n in range(writers + 1)) and chain[-1] == "m-0" and chain[-2] == "m-%d" % winner


def test_the_move_loop_applies_a_pure_update_on_top_of_concurrent_moves(tmp_path):
    store = pointer_store.LocalPointerStore(str(tmp_path))
    store.swap("count.json", {"n": 0}, None)

    def bump():
        for dummy in range(10):
            pointer_store.move(store, "count.json", lambda doc: {"n": doc["n"] + 1}, max_attempts=200)

    threads = [threading.Thread(target=bump) for dummy in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert json.loads((tmp_path / "count.json").read_text()) == {"n": 50}
    unchanged = pointer_store.move(store, "count.json", lambda doc: doc)
    assert unchanged["changed"] is False and unchanged["attempts"] == 1


def test_the_change_journal_is_append_only(tmp_path):
    store = pointer_store.LocalPointerStore(str(tmp_path))
    assert store.create("_history/minutes/a.json", {"n": 1}) is True
    assert store.create("_history/minutes/a.json", {"n": 2}) is False
    assert store.read("_history/minutes/a.json")["document"] == {"n": 1} and store.list("_history/minutes") == ["a.json"]
