import datetime
import json
import os

import jsonschema
import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from tests.conftest import REPO_ROOT

SCHEMA_PATH = os.path.join(REPO_ROOT, "schemas", "receipt.v1.schema.json")
T0 = datetime.datetime(2026, 1, 1, 6, 0, 0, tzinfo=datetime.timezone.utc)


def schema_file():
    with open(SCHEMA_PATH) as handle:
        return json.load(handle)


def test_schema_file_is_generated_from_the_module_util():
    assert schema_file() == json.loads(json.dumps(receipts.RECEIPT_V1_SCHEMA))


@pytest.mark.parametrize("status,extra", [
    ("success", {}),
    ("failed", {"failure_code": "account_mismatch"}),
    ("skipped", {"skip_reason": "stop_after=validate"}),
])
def test_built_receipts_validate_against_the_json_schema(status, extra):
    doc = receipts.build("dr_drill", "validate", status, "drill-1", T0, T0 + datetime.timedelta(seconds=2.5),
                         inputs={"image_ref": "x", "db_password": "hunter22"}, outputs={"n": 1}, **extra)
    jsonschema.validate(doc, schema_file())
    assert doc["duration_s"] == 2.5
    assert doc["inputs"]["db_password"] == "***REDACTED***"
    assert doc["attempts"] == (0 if status == "skipped" else 1)


def test_invalid_receipts_are_refused_by_both_validators():
    doc = receipts.build("preflight", "verify", "success", "p-1", T0)
    for broken in ({"status": "failed"}, {"status": "skipped"}, {"attempts": -1}, {"operation": "Bad Op"}, {"extra": 1}):
        candidate = dict(doc, **broken)
        with pytest.raises(receipts.ReceiptError):
            receipts.validate(candidate)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(candidate, schema_file())


def test_secret_values_never_reach_the_written_file(tmp_path):
    doc = receipts.build("preflight", "verify", "failed", "p-2", T0, failure_code="x",
                         message="token tok-ABCDEFGH rejected", inputs={"note": "uses tok-ABCDEFGH"},
                         secret_values=["tok-ABCDEFGH"])
    path = receipts.write(doc, str(tmp_path / "r"))
    text = open(path).read()
    assert "tok-ABCDEFGH" not in text
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert receipts.load(path) == doc
    assert [p.name for p in (tmp_path / "r").iterdir()] == ["verify.json"]  # no temp file left behind


def test_execution_id_is_the_given_one_or_the_prefix_and_start_time():
    started = receipts.parse_timestamp("2026-11-22T06:05:00.000Z")
    assert receipts.execution_id("exec-1", "deploy", started) == "exec-1"
    assert receipts.execution_id(None, "deploy", started) == "deploy-20261122T060500Z"
    assert receipts.execution_id("", "runs", started) == "runs-20261122T060500Z"


def test_write_if_changed_writes_once_and_leaves_identical_content_alone(tmp_path):
    from ansible_collections.signalcraft.ops.plugins.module_utils.core.receipts import write_if_changed

    path = str(tmp_path / "sub" / "x.json")
    assert write_if_changed(path, b"one\n") is True
    mtime = os.stat(path).st_mtime_ns
    assert write_if_changed(path, b"one\n") is False and os.stat(path).st_mtime_ns == mtime
    assert write_if_changed(path, b"two\n") is True
    with open(path, "rb") as handle:
        assert handle.read() == b"two\n"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
