"""signalcraft.ops.receipt: validated, redacted, atomic, idempotent, nothing written in check mode."""

import json
import os

import yaml

RECEIPT = {
    "schema_version": "receipt.v1", "execution_id": "rcpt-idem", "operation": "dr_drill", "phase": "restore",
    "status": "success", "skip_reason": None, "failure_code": None, "message": None, "attempts": 1, "changed": True,
    "started_at": "2026-01-01T06:00:00.000Z", "finished_at": "2026-01-01T06:00:05.000Z", "duration_s": 5.0,
    "inputs": {"namespace": "jobintel"}, "outputs": {},
    "producer": {"collection": "signalcraft.ops", "version": "0.1.0", "module": "signalcraft.ops.test"},
}


def write_play(tmp_path, name, task_args):
    play = [{
        "name": "Exercise the receipt module", "hosts": "localhost", "gather_facts": False,
        "module_defaults": {"group/signalcraft.ops.aws": {
            "region": "{{ signalcraft_aws_region }}", "endpoint_url": "{{ signalcraft_aws_endpoint_url }}",
            "access_key": "{{ signalcraft_aws_access_key }}", "secret_key": "{{ signalcraft_aws_secret_key }}"}},
        "tasks": [{"name": "Write a receipt", "signalcraft.ops.receipt": task_args, "register": "out"}],
    }]
    path = tmp_path / ("%s.yml" % name)
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    return str(path)


def receipt_puts(sandbox, key):
    log = sandbox.control("aws", "requests?service=s3&operation=PutObject")
    entries = log["requests"] if isinstance(log, dict) else log
    return [e for e in entries if e.get("key") == key]


def test_same_receipt_twice_is_written_once(sandbox, run_playbook, tmp_path):
    args = {"receipt": RECEIPT, "receipt_dir": str(tmp_path / "out"), "s3_bucket": sandbox["SANDBOX_RECEIPT_BUCKET"],
            "s3_prefix": "tests"}
    play = write_play(tmp_path, "idem", args)
    first = run_playbook(play)
    second = run_playbook(play)
    assert first.rc == 0 and second.rc == 0, first.stdout + second.stdout
    assert first.task_results("Write a receipt")[0]["changed"] is True
    assert second.task_results("Write a receipt")[0]["changed"] is False
    with open(tmp_path / "out" / "restore.json") as handle:
        assert json.load(handle) == RECEIPT
    assert len(receipt_puts(sandbox, "tests/rcpt-idem/restore.json")) == 1


def test_check_mode_writes_nothing(sandbox, run_playbook, tmp_path):
    args = {"operation": "preflight", "phase": "verify", "status": "success", "execution_id": "rcpt-check",
            "receipt_dir": str(tmp_path / "out"), "s3_bucket": sandbox["SANDBOX_RECEIPT_BUCKET"], "s3_prefix": "tests"}
    result = run_playbook(write_play(tmp_path, "check", args), check=True)
    assert result.rc == 0, result.stdout
    assert not os.path.exists(tmp_path / "out")
    assert receipt_puts(sandbox, "tests/rcpt-check/verify.json") == []


def test_a_failed_receipt_without_failure_code_is_refused_before_writing(sandbox, run_playbook, tmp_path):
    args = {"operation": "preflight", "phase": "verify", "status": "failed", "execution_id": "rcpt-bad",
            "receipt_dir": str(tmp_path / "out")}
    result = run_playbook(write_play(tmp_path, "bad", args))
    assert result.rc != 0
    assert "failure_code" in result.task_results("Write a receipt")[0]["msg"]
    assert not os.path.exists(tmp_path / "out")


def test_secret_values_and_secret_names_are_redacted(sandbox, run_playbook, tmp_path):
    args = {"operation": "dr_drill", "phase": "bringup", "status": "failed", "failure_code": "ssh_failed",
            "execution_id": "rcpt-secret", "summary": "login with tok-0123456789 failed",
            "inputs": {"api_token": "abc-secret-1", "host": "runner-1"}, "secret_values": ["tok-0123456789"],
            "receipt_dir": str(tmp_path / "out")}
    result = run_playbook(write_play(tmp_path, "secret", args), verbosity=3)
    assert result.rc == 0, result.stdout
    text = (tmp_path / "out" / "bringup.json").read_text()
    for secret in ("tok-0123456789", "abc-secret-1"):
        assert secret not in text
        assert secret not in result.stdout.replace('"secret_values": ["tok-0123456789"]', "")
    assert json.loads(text)["inputs"]["host"] == "runner-1"
