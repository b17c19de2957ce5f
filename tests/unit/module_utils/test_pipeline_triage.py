"""runbooks/pipeline/triage.py: the runbook's failure signatures map to a class, a retry category and an action."""

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import triage


@pytest.mark.parametrize("text, klass, category", [
    ("urllib.error.URLError: <urlopen error [Errno -3] Temporary failure in name resolution>", "network", "A"),
    ("ssl.SSLError: _ssl.c:980: The handshake operation timed out (SSL handshake timed out)", "network", "A"),
    ("ConnectionResetError: [Errno 104] Connection reset by peer", "network", "A"),
    # ECS stop reasons of a task that could not reach its registry or secrets (the Go agent's errors)
    ("CannotPullContainerError: failed to resolve ref 1111.dkr.ecr.us-east-1.amazonaws.com/x:y: dial tcp 10.0.0.2:53: i/o timeout",
     "network", "A"),
    ("ResourceInitializationError: ... Post \"https://api.ecr.us-east-1.amazonaws.com/\": dial tcp: lookup api.ecr.us-east-1.amazonaws.com "
     "on 10.0.0.2:53: no such host", "network", "A"),
    ("ResourceInitializationError: unable to retrieve secret from asm: AccessDeniedException: User: arn:aws:sts::1:assumed-role/r/x "
     "is not authorized to perform: secretsmanager:GetSecretValue", "permission", "C"),
    ("Requested run=20251219T010000Z missing under /data/features_minutes_v1/game_date=2025-12-18", "missing_input", "A"),
    ("FileNotFoundError: [Errno 2] No such file or directory: '/data/ingest/games.csv'", "missing_input", "A"),
    ("ValueError: missing required columns ['minutes', 'team']", "contract", "C"),
    ("PermissionError: [Errno 13] Permission denied: '/srv/projections'", "permission", "C"),
    ("OSError: [Errno 98] address already in use (0.0.0.0:8501)", "port_conflict", "C"),
    ("RuntimeError: Roster snapshot is 30h old", "stale_snapshot", "B"),
    ("ZeroDivisionError: division by zero", "unknown", "B"),
    ("", "unknown", "B"),
])
def test_runbook_signatures(text, klass, category):
    found = triage.classify(text, exit_code=1)
    assert (found["class"], found["category"]) == (klass, category)
    assert found["action"]


def test_contract_wins_over_a_missing_file_in_the_same_log():
    text = "FileNotFoundError: cache miss (ignored)\nValueError: missing required columns ['minutes']"
    assert triage.classify(text)["class"] == "contract"


def test_permission_is_not_taken_for_a_missing_input():
    assert triage.classify("PermissionError: [Errno 13] Permission denied: '/x/No such file'")["class"] == "permission"


def test_missing_input_names_the_upstream_step():
    found = triage.classify("FileNotFoundError: /data/ingest/game_date=2026-01-01/run=r/games.csv", upstream=["calendar", "ingest"])
    assert found["upstream_asset"] == "ingest" and "ingest" in found["action"]
    assert triage.classify("FileNotFoundError: x", upstream=["calendar"])["upstream_asset"] == "calendar"


def test_a_timeout_is_its_own_class_whatever_the_log_says():
    assert triage.classify("Permission denied", timed_out=True)["class"] == "timeout"


def test_only_network_failures_are_retried_in_place_automatically():
    assert triage.RETRIED_IN_PLACE == frozenset(("network",))


@pytest.mark.parametrize("failures, category", [
    ([], "A"),
    ([{"category": "A"}, {"category": "A"}], "A"),
    ([{"category": "A"}, {"category": "B"}], "B"),
    ([{"category": "B"}, {"category": "C"}], "C"),
    ([None], "A"),
])
def test_partition_category(failures, category):
    assert triage.partition_category(failures) == category


def test_a_failed_manifest_is_triaged_from_what_it_recorded():
    document = {"asset": "features", "run_id": "r1", "status": "failed", "attempts": 1,
                "inputs": [{"asset": "ingest", "run_id": "r1", "manifest": "m", "status": "success"}],
                "failure": {"reason": "step_failed", "class": "unknown", "category": "B", "message": "exited 1",
                            "log_tail": "Traceback...\nFileNotFoundError: /data/ingest/games.csv"}}
    found = triage.of_manifest(document)
    assert (found["class"], found["category"], found["upstream_asset"], found["recorded_class"]) == ("missing_input", "A", "ingest", "unknown")
    assert found["category_meaning"] == "retry in place (same run_id)" and found["asset"] == "features"
    assert triage.of_manifest(dict(document, status="success", failure=None)) is None
