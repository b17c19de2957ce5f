"""The DR drill survives a Kubernetes API that answers 500 and 429 (Retry-After) on a tenth of its requests.

Real API servers answer 429 under API priority and fairness (with Retry-After) and 500/503 when they or etcd
are overloaded; before, the first such answer failed the drill (``k8s_error``). Reads, server-side apply and
deletes are repeated by the client's transport (services/k8s.py ApiRetry); creates only on 429, and a Job
create answered 5xx is repeated with an AlreadyExists accepted as ours. The sandbox's fault counters prove
the faults were injected; the cluster's objects and the receipts prove the end state.
"""

import uuid

from kubernetes import client as k8s_client

from tests.integration.test_dr_drill import FAST, phase_receipts, summary, validate_jobs

FAULTS = {"seed": 7, "rules": [
    {"error": "500", "fraction": 0.1, "match": {"verb": "*"}},
    {"error": "429", "fraction": 0.1, "match": {"verb": "*"}},
]}


def test_a_drill_to_validate_finishes_through_500s_and_429s_on_both_clusters(sandbox, run_playbook, tmp_path, clean_faults):
    run_id, namespace = "test-k8s-faults-%s" % uuid.uuid4().hex[:8], "dr-faults-%s" % uuid.uuid4().hex[:6]
    for cluster in ("dr", "primary"):
        sandbox.control(cluster, "faults", FAULTS)
    try:
        run = run_playbook("dr_drill.yml", dict(FAST, receipt_dir=str(tmp_path / "drill"), run_id=run_id, stop_after="validate",
                                                teardown=False, dr_namespace=namespace))
        injected = {cluster: sandbox.control(cluster, "faults")["injected"] for cluster in ("dr", "primary")}
    finally:
        sandbox.clear_faults()
    assert run.rc == 0, run.stdout[-4000:]
    survived = sum(sum(counts.values()) for counts in injected.values())
    assert sum(injected["dr"].values()) >= 3 and survived >= 3, injected
    found = phase_receipts(tmp_path / "drill")
    assert {p: found[p]["status"] for p in ("guards", "bringup", "restore", "validate")} == dict.fromkeys(
        ("guards", "bringup", "restore", "validate"), "success")
    assert summary(tmp_path / "drill")["status"] == "success"
    # The end state, read from the DR cluster: the restored CronJob (suspended by restore) and one succeeded validate Job.
    batch = k8s_client.BatchV1Api(sandbox.k8s_api_client("dr"))
    assert batch.read_namespaced_cron_job("jobintel-daily", namespace).spec.suspend is True
    jobs = validate_jobs(batch, namespace, run_id)
    assert [j.status.succeeded for j in jobs] == [1]
