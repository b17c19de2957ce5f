"""runbooks/pipeline/plan.py: the DAG, asset selection, partition ranges, as-of timestamps, refusals."""

import datetime

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import plan

STEPS = [
    {"asset": "scores", "depends_on": ["features", "calendar"], "command": ["python3", "scores.py"]},
    {"asset": "features", "depends_on": ["ingest"], "command": ["python3", "features.py"]},
    {"asset": "ingest", "command": ["python3", "ingest.py"]},
    {"asset": "calendar", "command": ["python3", "calendar.py"]},
]


def refused(reason, function, *args):
    with pytest.raises(OpsError) as caught:
        function(*args)
    assert caught.value.reason == reason, caught.value.message
    return caught.value.message


def test_steps_come_out_in_dependency_order_with_defaults():
    order = plan.normalise_steps(STEPS)
    names = [s["asset"] for s in order]
    assert names.index("ingest") < names.index("features") < names.index("scores")
    assert names.index("calendar") < names.index("scores")
    assert all(s["executor"] == "local" and s["retries"] == 2 and s["timeout_s"] == 3600 for s in order)


@pytest.mark.parametrize("steps, words", [
    ([], "empty"),
    ([{"asset": "a", "command": ["x"]}, {"asset": "a", "command": ["x"]}], "twice"),
    ([{"asset": "a", "depends_on": ["b"], "command": ["x"]}], "no step produces"),
    ([{"asset": "a", "depends_on": ["b"], "command": ["x"]}, {"asset": "b", "depends_on": ["a"], "command": ["x"]}], "cycle"),
    ([{"asset": "a", "executor": "prefect"}], "deployment: <flow>/<deployment>"),
    ([{"asset": "a", "executor": "k8s"}], "not one of"),
    ([{"asset": "a", "commnd": ["x"]}], "unknown keys"),
    ([{"asset": "A b", "command": ["x"]}], "lowercase"),
    ([{"asset": "a", "command": "python3 a.py"}], "argv list"),
    ([{"asset": "a", "executor": "ecs"}], "task_definition"),
])
def test_broken_dags_are_refused_with_steps_invalid(steps, words):
    from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import executors
    known = {"local": executors.LocalExecutor(), "ecs": executors.EcsExecutor(None, "cluster"),
             "prefect": executors.PrefectExecutor(api_url="http://127.0.0.1:4200/api")}
    message = refused("steps_invalid", plan.normalise_steps, steps, known)
    assert words in message and "pipeline_steps" in message


def test_selecting_an_asset_brings_its_upstream_and_unknown_assets_are_refused():
    order = plan.normalise_steps(STEPS)
    assert [s["asset"] for s in plan.select_assets(order, ["features"])] == ["ingest", "features"]
    assert len(plan.select_assets(order, [])) == 4
    assert "-e assets" in refused("asset_unknown", plan.select_assets, order, ["features", "nope"])


def test_partitions_cover_start_to_end_inclusive():
    assert plan.partitions("2024-02-27", "2024-03-01") == ["2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01"]
    assert plan.partitions("2026-01-01", "2026-01-01") == ["2026-01-01"]


@pytest.mark.parametrize("start, end, words", [
    ("2026-01-05", "2026-01-01", "inverted"),
    ("2026-1-5", "2026-01-06", "YYYY-MM-DD"),
    ("2026-02-30", "2026-03-01", "calendar date"),
    ("", "2026-01-01", "-e start"),
    ("2000-01-01", "2026-01-01", "split"),
])
def test_bad_ranges_are_refused(start, end, words):
    assert words in refused("partition_range_invalid", plan.partitions, start, end)


def test_as_of_modes():
    now = datetime.datetime(2026, 12, 7, 12, 0, 5, tzinfo=datetime.timezone.utc)
    assert plan.run_as_of_ts("2026-01-03", "pretip", now, "22:30") == "2026-01-03T22:30:00Z"
    assert plan.run_as_of_ts("2026-01-03", "end_of_day", now) == "2026-01-03T23:59:59Z"
    assert plan.run_as_of_ts("2026-01-03", "start_of_day", now) == "2026-01-03T00:00:00Z"
    assert plan.run_as_of_ts("2026-01-03", "now", now) == "2026-12-07T12:00:05Z"
    refused("invalid_input", plan.run_as_of_ts, "2026-01-03", "pretip", now, "25:00")


@pytest.mark.parametrize("value", [0, -1, 65, "4", True, None])
def test_max_parallel_below_one_or_not_a_number_is_refused(value):
    refused("max_parallel_invalid", plan.validate_max_parallel, value)


def test_backfill_ids_are_stable_and_safe():
    assert plan.backfill_id("2026-01-01", "2026-01-31", "end_of_day", []) == "bf-2026-01-01-2026-01-31-end-of-day"
    with_assets = plan.backfill_id("2026-01-01", "2026-01-31", "pretip", ["scores", "features"])
    assert with_assets == plan.backfill_id("2026-01-01", "2026-01-31", "pretip", ["features", "scores"]) != plan.backfill_id(
        "2026-01-01", "2026-01-31", "pretip", [])
    assert plan.backfill_id("x", "y", "pretip", [], "my-backfill") == "my-backfill"
    refused("pipeline_id_invalid", plan.backfill_id, "x", "y", "pretip", [], "../../etc")
