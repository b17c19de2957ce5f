"""The phase engine (role signalcraft.ops.runbook): receipts per phase, stop at a failure, resume.

A toy runbook one -> two -> three, where two fails until told otherwise: the failure stops the run
with its token and receipts the rest as skipped; a resume under the same execution id skips one
(done in its receipt), hands one's recorded output to two, and finishes.
"""

import json
import os

from tests.conftest import REPO_ROOT

PLAYBOOK = os.path.join(REPO_ROOT, "tests", "integration", "engine", "engine.yml")


def receipt(root, execution_id, phase):
    with open(os.path.join(root, execution_id, "%s.json" % phase)) as handle:
        return json.load(handle)


def test_failure_stops_the_run_and_resume_finishes_it(run_playbook, tmp_path):
    root = str(tmp_path / "receipts")
    base = {"signalcraft_receipt_root": root, "signalcraft_execution_id": "engine-1"}

    failed = run_playbook(PLAYBOOK, base)
    assert failed.rc != 0
    assert "engine_test status=fail reason=phase_failed" in failed.stdout
    assert receipt(root, "engine-1", "one")["status"] == "success"
    assert receipt(root, "engine-1", "two")["failure_code"] == "phase_failed"
    assert receipt(root, "engine-1", "three")["skip_reason"] == "stopped: two failed"
    first_one = receipt(root, "engine-1", "one")

    resumed = run_playbook(PLAYBOOK, dict(base, resume=True, engine_fail=False))
    assert resumed.rc == 0, resumed.stdout[-2000:]
    assert "engine_test status=ok" in resumed.stdout
    assert receipt(root, "engine-1", "one") == first_one  # kept, not rewritten
    assert receipt(root, "engine-1", "two")["outputs"]["value"] == 2  # one's output from its receipt
    assert receipt(root, "engine-1", "three")["outputs"]["value"] == 3
    with open(os.path.join(root, "engine-1", "engine_test.summary.json")) as handle:
        summary = json.load(handle)
    assert summary["status"] == "ok" and [p["status"] for p in summary["phases"]] == ["success"] * 3


def test_start_at_stop_after_and_refusals(run_playbook, tmp_path):
    root = str(tmp_path / "receipts")
    base = {"signalcraft_receipt_root": root, "engine_fail": False}

    only_one = run_playbook(PLAYBOOK, dict(base, signalcraft_execution_id="engine-2", stop_after="one"))
    assert only_one.rc == 0
    assert receipt(root, "engine-2", "two")["skip_reason"] == "stop_after=one"

    inverted = run_playbook(PLAYBOOK, dict(base, signalcraft_execution_id="engine-3", start_at="three", stop_after="one"))
    assert inverted.rc != 0 and "plan status=fail reason=phase_order_invalid" in inverted.stdout
    assert not os.path.exists(os.path.join(root, "engine-3", "one.json"))

    unknown = run_playbook(PLAYBOOK, dict(base, signalcraft_execution_id="engine-4", start_at="four"))
    assert unknown.rc != 0 and "plan status=fail reason=phase_unknown" in unknown.stdout

    check = run_playbook(PLAYBOOK, dict(base, signalcraft_execution_id="engine-5"), check=True)
    assert check.rc == 0 and not os.path.exists(os.path.join(root, "engine-5"))
