"""An inventory that still holds REPLACE_ placeholders stops a run before any call, naming what to fill in.

dev, staging and prod ship with placeholders (the account id first of all). Run against the sandbox's
endpoints (so a call that slipped through would be in its request log), every playbook that talks to AWS
is refused by the account guard with ``reason=inventory_placeholder`` and the variable's name, and the
sandbox records no request at all, read or write, and no Kubernetes change. prod is run with every such
playbook; dev and staging with one playbook per runbook family (the guard is the same code).
"""

import os

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.integration.test_guard_matrix import k8s_audit_marks, last_seq

with open(os.path.join(REPO_ROOT, "tests", "integration", "playbooks.yml")) as _handle:
    PLAYBOOKS = yaml.safe_load(_handle)

AWS_PLAYBOOKS = sorted(name for name, entry in PLAYBOOKS.items() if "aws" in (entry.get("writes") or []))
CASES = [("prod", name) for name in AWS_PLAYBOOKS]
CASES += [(env, name) for env in ("dev", "staging") for name in ("daily.yml", "retention.yml", "dr_drill.yml")]


# Playbooks that refuse an inventory like this one even earlier, for their own reason (still before any call).
EARLIER = {"force_fail_demo.yml": "force_fail_demo status=fail reason=invalid_input"}
PLACEHOLDER = "account_guard status=fail reason=inventory_placeholder: signalcraft_expected_account_id"


def requests_since(sandbox, seq):
    return [(e["service"], e["operation"]) for e in sandbox.control("aws", "requests?limit=5000") if e["seq"] > seq]


@pytest.mark.parametrize("environment,playbook", CASES)
def test_a_placeholder_inventory_stops_before_any_call(sandbox, run_playbook, tmp_path, environment, playbook):
    mark, k8s_before = last_seq(sandbox), k8s_audit_marks(sandbox)
    extravars = dict(PLAYBOOKS[playbook].get("vars") or {}, signalcraft_receipt_root=str(tmp_path / "receipts"))
    run = run_playbook(playbook, extravars, inventory=environment)
    assert run.rc != 0, run.stdout[-3000:]
    assert EARLIER.get(playbook, PLACEHOLDER) in " ".join(run.stdout.split()), run.stdout[-3000:]
    assert requests_since(sandbox, mark) == []
    # Not one Kubernetes request either, read or write (the clusters' audit logs).
    assert [(cluster, entry["method"], entry["path"]) for cluster, seq in k8s_before.items()
            for entry in sandbox.control(cluster, "audit?since=%d" % seq)["items"]] == []
