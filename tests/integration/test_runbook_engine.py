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


FEATURES = os.path.join(REPO_ROOT, "tests", "integration", "engine", "features.yml")


def phase_receipt(root, execution_id, phase):
    with open(os.path.join(root, execution_id, "phases", "%s.json" % phase)) as handle:
        return json.load(handle)


def test_guard_always_result_and_skip_phases(run_playbook, tmp_path, sandbox):
    root = str(tmp_path / "receipts")
    base = {"signalcraft_receipt_root": root, "signalcraft_execution_id": "features-1"}

    # two fails: three is skipped, cleanup (always) still runs and its receipt is the result it passed.
    failed = run_playbook(FEATURES, base)
    assert failed.rc != 0 and "engine_features status=fail reason=phase_failed" in failed.stdout, failed.stdout
    assert phase_receipt(root, "features-1", "check")["status"] == "success"
    assert phase_receipt(root, "features-1", "three")["skip_reason"] == "stopped: two failed"
    cleanup = phase_receipt(root, "features-1", "cleanup")
    assert (cleanup["status"], cleanup["attempts"], cleanup["changed"], cleanup["outputs"]) == ("success", 2, True, {"cleaned": 1})
    assert cleanup["inputs"]["toy"] is True and cleanup["message"] == "cleaned up"
    assert phase_receipt(root, "features-1", "extra")["skip_reason"] == "engine_extra=false"
    s3 = sandbox.boto3_client("s3")
    copy = json.loads(s3.get_object(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Key="receipts/features-1/cleanup.json")["Body"].read())
    assert copy == cleanup
    first_one = phase_receipt(root, "features-1", "one")

    # resume: the guard checks again, one keeps its receipt and hands its output on, the rest runs.
    resumed = run_playbook(FEATURES, dict(base, resume=True, engine_fail=False, engine_extra=True))
    assert resumed.rc == 0, resumed.stdout[-3000:]
    assert phase_receipt(root, "features-1", "one") == first_one
    assert [phase_receipt(root, "features-1", p)["status"] for p in ("check", "two", "three", "cleanup", "extra")] == ["success"] * 5
    assert phase_receipt(root, "features-1", "extra")["outputs"]["value"] == 2
    with open(os.path.join(root, "features-1", "engine_features.summary.json")) as handle:
        assert json.load(handle)["status"] == "ok"
    summary_copy = s3.get_object(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Key="receipts/features-1/engine_features.summary.json")
    assert json.loads(summary_copy["Body"].read())["status"] == "ok"

    # A failed guard stops everything, the always phase too.
    guarded = run_playbook(FEATURES, dict(base, signalcraft_execution_id="features-2", engine_guard_fail=True))
    assert guarded.rc != 0 and "failed_phase=check" in guarded.stdout
    assert phase_receipt(root, "features-2", "check")["failure_code"] == "phase_failed"
    for phase in ("one", "two", "three", "cleanup"):
        assert phase_receipt(root, "features-2", phase)["skip_reason"] == "stopped: check failed"

    # A refused plan against an execution's receipts is kept beside them and touches nothing else.
    before = sorted(os.listdir(os.path.join(root, "features-1", "phases")))
    refused = run_playbook(FEATURES, dict(base, resume=True, start_at="two"))
    assert refused.rc != 0 and "plan status=fail reason=plan_invalid" in refused.stdout
    assert sorted(os.listdir(os.path.join(root, "features-1", "phases"))) == before
    with open(os.path.join(root, "features-1", "refusals", "plan.json")) as handle:
        assert json.load(handle)["failure_code"] == "plan_invalid"
