"""runbooks/pipeline/manifest.py: the pipeline_manifest.v1 schema, validation on write and read, paths, local stores."""

import json
import os

import jsonschema
import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import manifest
from tests.conftest import REPO_ROOT

SCHEMA_PATH = os.path.join(REPO_ROOT, "schemas", "pipeline_manifest.v1.json")


def sample(**overrides):
    fields = dict(asset="features", partition_key="game_date", partition_value="2026-01-03", run_id="20260103T230000Z-1a2b3c4d",
                  run_as_of_ts="2026-01-03T23:00:00Z", status="success", started_at="2026-01-04T00:00:00.000Z",
                  finished_at="2026-01-04T00:00:02.500Z", duration_s=2.5, executor_kind="local", executor_ref="4242", attempts=1,
                  attempt_history=[{"attempt": 1, "started_at": "2026-01-04T00:00:00.000Z", "finished_at": "2026-01-04T00:00:02.500Z",
                                    "exit_code": 0, "failure_class": None}],
                  inputs=[{"asset": "ingest", "run_id": "20260103T230000Z-1a2b3c4d", "status": "success",
                           "manifest": "/m/ingest/game_date=2026-01-03/run=20260103T230000Z-1a2b3c4d/manifest.json"}],
                  outputs=[{"path": "features.csv", "bytes": 120, "sha256": "a" * 64, "rows": 8}],
                  checks=[{"name": "required_columns", "status": "pass", "detail": None}], backfill_id="bf-1", execution_id="pipeline-1")
    fields.update(overrides)
    return manifest.build(**fields)


FAILURE = {"reason": "step_failed", "class": "contract", "category": "C", "message": "missing required columns ['minutes']",
           "action": "fix the contract", "upstream_asset": None, "log_tail": "ValueError: missing required columns ['minutes']"}


def test_the_schema_file_is_generated_from_the_definition_and_is_valid_json_schema():
    with open(SCHEMA_PATH) as handle:
        on_disk = json.load(handle)
    assert on_disk == json.loads(json.dumps(manifest.MANIFEST_V1_SCHEMA))
    jsonschema.Draft202012Validator.check_schema(on_disk)


@pytest.mark.parametrize("document", [
    sample(),
    sample(status="failed", failure=FAILURE, outputs=[], checks=[]),
    sample(status="running", finished_at=None, duration_s=None, outputs=[], checks=[]),
    sample(status="skipped", skip_reason="upstream step(s) ingest did not succeed in run r", attempts=0, attempt_history=[], inputs=[]),
])
def test_built_manifests_are_valid_for_jsonschema_too(document):
    with open(SCHEMA_PATH) as handle:
        jsonschema.validate(document, json.load(handle))


@pytest.mark.parametrize("change", [
    {"status": "done"},
    {"run_id": "../etc"},
    {"asset": "Features"},
    {"partition": {"key": "game_date", "value": "2026-1-3"}},
    {"attempts": -1},
    {"outputs": [{"path": "x.csv", "bytes": 1, "sha256": "nothex", "rows": 1}]},
    {"status": "failed", "failure": None},
    {"status": "success", "failure": FAILURE},
    {"extra": 1},
])
def test_the_subset_validator_and_jsonschema_refuse_the_same_documents(change):
    document = dict(sample(), **change)
    problems = manifest.problems_of(document)
    assert problems, change
    with open(SCHEMA_PATH) as handle:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(document, json.load(handle))
    with pytest.raises(OpsError) as refused:
        manifest.validate(document)
    assert refused.value.reason == "manifest_invalid"


def test_paths_follow_the_runbook_layout_and_refuse_traversal():
    assert manifest.manifest_path("features", "game_date", "2026-01-03", "r-1") == "features/game_date=2026-01-03/run=r-1/manifest.json"
    assert manifest.summary_path("bf-2026-01-01-2026-01-31-pretip") == "backfills/bf-2026-01-01-2026-01-31-pretip/summary.json"
    for bad in ("../x", "a/b", "a..b", "", ".hidden"):
        with pytest.raises(OpsError) as refused:
            manifest.manifest_path("features", "game_date", "2026-01-03", bad)
        assert refused.value.reason == "pipeline_id_invalid"
        with pytest.raises(OpsError):
            manifest.summary_path(bad)
    with pytest.raises(OpsError):
        manifest.manifest_path("../features", "game_date", "2026-01-03", "r")


@pytest.mark.parametrize("root, expected", [
    ("s3://bucket/pipeline/manifests/", ("s3", "bucket", "pipeline/manifests")),
    ("s3://bucket", ("s3", "bucket", "")),
    ("/srv/manifests", ("local", "/srv/manifests", "")),
])
def test_roots(root, expected):
    assert manifest.parse_root(root) == expected


@pytest.mark.parametrize("root", ["", "relative/dir", "s3://", "s3://bucket/a/../b", "s3://bucket/a//b"])
def test_bad_roots_are_refused(root):
    with pytest.raises(OpsError) as refused:
        manifest.parse_root(root)
    assert refused.value.reason == "manifest_root_invalid"


def test_local_store_writes_atomically_and_reads_back_validated(tmp_path):
    store = manifest.open_store(str(tmp_path))
    document = sample()
    path = manifest.write_manifest(store, document)
    assert path == str(tmp_path / "features/game_date=2026-01-03/run=20260103T230000Z-1a2b3c4d/manifest.json")
    assert os.listdir(os.path.dirname(path)) == ["manifest.json"]  # no temp file left behind
    assert manifest.read_manifest(store, "features", "game_date", "2026-01-03", document["run_id"]) == document
    assert manifest.run_ids(store, "features", "game_date", "2026-01-03") == [document["run_id"]]
    assert manifest.read_manifest(store, "features", "game_date", "2026-01-03", "other") is None


def test_a_manifest_is_validated_on_write_and_on_read(tmp_path):
    store = manifest.open_store(str(tmp_path))
    with pytest.raises(OpsError):
        manifest.write_manifest(store, dict(sample(), status="bogus"))
    assert not os.path.exists(tmp_path / "features")
    rel = manifest.manifest_path("features", "game_date", "2026-01-03", "r1")
    os.makedirs(os.path.dirname(str(tmp_path / rel)))
    (tmp_path / rel).write_text('{"asset": "features"')
    with pytest.raises(OpsError) as torn:
        manifest.read_manifest(store, "features", "game_date", "2026-01-03", "r1")
    assert torn.value.reason == "manifest_invalid" and "not JSON" in torn.value.message
    (tmp_path / rel).write_text(json.dumps(dict(sample(), run_id="r1", checks="none")))
    with pytest.raises(OpsError) as wrong:
        manifest.read_manifest(store, "features", "game_date", "2026-01-03", "r1")
    assert wrong.value.reason == "manifest_invalid" and "checks" in wrong.value.message


def test_an_unwritable_root_fails_with_local_write_failed(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OpsError) as refused:
        manifest.write_manifest(manifest.LocalStore(str(blocker)), sample())
    assert refused.value.reason == "local_write_failed"
