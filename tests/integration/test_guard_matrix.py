"""The account/region guard is a property of the skeleton: every playbook is refused before any write.

One parametrized test over tests/integration/playbooks.yml (every playbook): each runs with a wrong expected
account and with a region the inventory does not expect, and the sandbox's own records prove that no
AWS write request reached the emulator and no Kubernetes object changed. The refusal is receipted
locally (never uploaded: the account was not verified).
"""

import json
import os
import re

import pytest
import yaml

from tests.conftest import REPO_ROOT

with open(os.path.join(REPO_ROOT, "tests", "integration", "playbooks.yml")) as _handle:
    PLAYBOOKS = yaml.safe_load(_handle)

# API operations that only read. Anything else in the request log is a write.
READ_PREFIXES = ("Get", "List", "Describe", "Head", "BatchGet", "Lookup", "Search", "Simulate", "Select")


def last_seq(sandbox):
    entries = sandbox.control("aws", "requests?limit=1")
    return entries[-1]["seq"] if entries else 0


def aws_writes_since(sandbox, seq):
    entries = sandbox.control("aws", "requests?limit=5000")
    return [(e["service"], e["operation"], e.get("bucket"), e.get("key")) for e in entries
            if e["seq"] > seq and not str(e["operation"]).startswith(READ_PREFIXES)]


def k8s_audit_marks(sandbox):
    """Where each cluster's audit log stands (see k8s_writes_since)."""
    return {cluster: sandbox.control(cluster, "audit?limit=1")["last_seq"] for cluster in ("primary", "dr")}


def k8s_writes_since(sandbox, marks):
    """Mutating API requests clients sent to either cluster after ``marks``, read from the emulators' audit logs.

    Not the resourceVersion: the emulator's controllers move it on their own (a CronJob that an earlier
    test's promote resumed fires on its schedule), which says nothing about what the playbook did.
    """
    return [(cluster, entry["method"], entry["path"]) for cluster, seq in marks.items()
            for entry in sandbox.control(cluster, "audit?since=%d" % seq)["items"] if entry["mutating"]]


def test_catalog_lists_every_playbook():
    on_disk = sorted(f for f in os.listdir(os.path.join(REPO_ROOT, "playbooks")) if f.endswith(".yml"))
    assert sorted(PLAYBOOKS) == on_disk, "add new playbooks to tests/integration/playbooks.yml (and remove deleted ones)"


def _first_role(playbook):
    with open(os.path.join(REPO_ROOT, "playbooks", playbook)) as handle:
        found = re.search(r"signalcraft\.ops\.([a-z_]+)", handle.read())
    return found.group(1) if found else playbook


def _one_per_role_family():
    """A playbook for each role a playbook starts with: the region reaches the guard through the same
    module_defaults as the account does, so the account case (every playbook) proves the guard runs, and
    this sample proves each role family hands the guard the region its clients use."""
    chosen = {}
    for playbook in sorted(PLAYBOOKS):
        chosen.setdefault(_first_role(playbook), playbook)
    return sorted(chosen.values())


CASES = [(p, "account") for p in sorted(PLAYBOOKS)] + [(p, "region") for p in _one_per_role_family()]


@pytest.mark.parametrize("playbook,wrong", CASES)
def test_wrong_account_or_region_is_refused_before_any_write(sandbox, run_playbook, tmp_path, playbook, wrong):
    root = tmp_path / "receipts"
    extravars = dict(PLAYBOOKS[playbook].get("vars") or {}, signalcraft_receipt_root=str(root),
                     signalcraft_execution_id="guard-%s" % wrong)
    if wrong == "account":
        extravars["signalcraft_expected_account_id"] = "999999999999"
        token = "account_mismatch"
    else:
        # The operator points the run at another region than the inventory expects.
        extravars["signalcraft_aws_region"] = "eu-west-1" if sandbox["AWS_DEFAULT_REGION"] != "eu-west-1" else "us-west-2"
        token = "region_mismatch"
    mark, k8s_before = last_seq(sandbox), k8s_audit_marks(sandbox)

    run = run_playbook(playbook, extravars)

    assert run.rc != 0, run.stdout[-3000:]
    assert "account_guard status=fail reason=%s" % token in run.stdout, run.stdout[-3000:]
    assert aws_writes_since(sandbox, mark) == []
    assert k8s_writes_since(sandbox, k8s_before) == []
    refusal = root / ("guard-%s" % wrong) / "account_guard.json"
    with open(refusal) as handle:
        receipt = json.load(handle)
    assert receipt["status"] == "failed" and receipt["failure_code"] == token
