"""The Prefect side of the pipeline tests: one flow whose tasks run a pipeline step, served as one
deployment per step (``signalcraft-step/<step>``), so flow runs the collection creates really execute.

Runs under ``.venv-prefect`` (never the collection's venv), started by ``tests/sandbox/prefect_server.py``:

    .venv-prefect/bin/python tests/sandbox/prefect_flows.py --steps ingest,features,scores

The flow ``signalcraft-step(step, partition, run_id, run_as_of_ts, data_root, models, smoke)`` writes the
example pipeline's CSVs (the same as ``roles/pipeline/files/example/step.py``) under
``<data_root>/<step>/game_date=<partition>/run=<run_id>/`` with a ``_step_report.json``, which is where
the collection's engine looks for a step's outputs. ``models`` (model -> ``{"run_id", "artifact_uri"}``,
what the pipeline passes a step with ``models``) is recorded: the scores carry a ``model_run_id`` column
and the step report a ``models`` entry. ``smoke`` (a promotion's smoke scoring: ``publish``,
``output_dir`` or ``output_uri``, ``inputs`` = upstream step -> its run_id) makes it read the upstream
runs named there and write into ``output_dir`` instead of a partition's run. Its tasks:

``fetch-source`` (retries=1, Prefect's own task retry)
    ingest makes the partition's games; features/scores read the upstream step's CSV of the same run.
``check-contract``
    the required columns.
``write-outputs``
    the CSV and the step report.

``<data_root>/_example.json`` (the example pipeline's fault file, ``{"sleep_s": 0.5, "faults":
{"<step>@<partition>": "<fault>"}}``) makes a task fail with the signature the runbook's triage knows:
network (every try of fetch-source), network_once (fetch-source's first try only: Prefect's task retry
recovers), stale_snapshot and missing_input (fetch-source), contract (check-contract), permission and
port_conflict (write-outputs); slow makes fetch-source hang (for the step's ``timeout_s``, which cancels the run);
``sleep:<seconds>`` makes it take that long and then succeed.
"""

import argparse
import csv
import errno
import hashlib
import json
import os
import time
import urllib.request
from typing import Optional

from prefect import flow, serve, task
from prefect.runtime import task_run

FLOW_NAME = "signalcraft-step"
PARTITION_KEY = "game_date"


def _settings(data_root):
    path = os.path.join(data_root or "", "_example.json")
    if data_root and os.path.exists(path):
        with open(path) as handle:
            return json.load(handle)
    return {}


def _fault(settings, step, partition):
    return (settings.get("faults") or {}).get("%s@%s" % (step, partition))


def _run_dir(data_root, step, partition, run_id):
    return os.path.join(data_root, step, "%s=%s" % (PARTITION_KEY, partition), "run=%s" % run_id)


def _read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


UPSTREAM = {"features": ("ingest", "games.csv"), "scores": ("features", "features.csv")}


@task(name="fetch-source", retries=1, retry_delay_seconds=0)
def fetch_source(step, partition, run_id, data_root, fault, sleep_s, upstream_runs=None):
    time.sleep(sleep_s)
    if fault == "slow":
        time.sleep(300)  # a hung source: the pipeline's timeout_s cancels the flow run
    if fault and fault.startswith("sleep:"):
        time.sleep(float(fault.split(":", 1)[1]))  # a long step that then succeeds
    if fault == "network" or (fault == "network_once" and task_run.run_count <= 1):
        raise ConnectionError("urllib.error.URLError: <urlopen error [Errno -3] Temporary failure in name resolution>")
    if fault == "stale_snapshot":
        raise RuntimeError("Roster snapshot is 30h old")
    if step == "ingest":
        seed = int(hashlib.sha256(partition.encode()).hexdigest()[:8], 16)
        return [{"game_id": "g%s-%d" % (partition, n), "team": "team%d" % ((seed + n) % 30), "minutes": str(20 + (seed >> n) % 20)}
                for n in range(8)]
    upstream, name = UPSTREAM[step]
    directory = _run_dir(data_root, upstream, partition, (upstream_runs or {}).get(upstream) or run_id)
    if fault == "missing_input":
        directory = os.path.join(directory, "nonexistent")
    return _read_csv(os.path.join(directory, name))


# The columns each step needs in the rows it reads (its source or the upstream step's CSV).
REQUIRED = {"ingest": ("game_id", "team", "minutes"), "features": ("game_id", "team", "minutes"), "scores": ("game_id", "minutes_share")}


@task(name="check-contract")
def check_contract(step, rows, fault):
    columns = set(rows[0]) if rows else set()
    if fault == "contract":
        columns.discard("minutes")  # schema drift upstream: a column disappeared
        columns.discard("minutes_share")
    missing = [c for c in REQUIRED[step] if c not in columns]
    if missing:
        raise ValueError("missing required columns %s in %s" % (missing, UPSTREAM.get(step, ("", "the source"))[1]))
    return {"name": "required_columns", "status": "pass", "detail": None}


@task(name="write-outputs")
def write_outputs(step, partition, run_id, run_as_of_ts, data_root, rows, check, fault, models=None, out=None):
    if fault == "permission":
        raise PermissionError(errno.EACCES, "Permission denied", "/srv/projections/%s" % step)
    if fault == "port_conflict":
        raise OSError(errno.EADDRINUSE, "address already in use (0.0.0.0:8501)")
    out = out or _run_dir(data_root, step, partition, run_id)
    os.makedirs(out, exist_ok=True)
    if step == "ingest":
        name, header = "games.csv", ["game_id", "team", "minutes"]
        table = [(r["game_id"], r["team"], r["minutes"]) for r in rows]
    elif step == "features":
        name, header = "features.csv", ["game_id", "team", "minutes_share"]
        table = [(r["game_id"], r["team"], int(r["minutes"]) / 48.0) for r in rows]
    else:
        name, header = "scores.csv", ["game_id", "score", "as_of"]
        table = [(r["game_id"], round(float(r["minutes_share"]) * 100, 2), run_as_of_ts) for r in rows]
        if models:
            # The model run each score came from (a scorer of one model: the first one passed).
            model_run_id = sorted(models.items())[0][1].get("run_id") or ""
            header.append("model_run_id")
            table = [row + (model_run_id,) for row in table]
    with open(os.path.join(out, name), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(table)
    report = {"rows": {name: len(table)}, "checks": [check]}
    if models:
        report["models"] = models
    with open(os.path.join(out, "_step_report.json"), "w") as handle:
        json.dump(report, handle)
    return {name: len(table)}


@flow(name=FLOW_NAME)
def pipeline_step(step: str, partition: str, run_id: str, run_as_of_ts: str, data_root: str = "", models: Optional[dict] = None,
                  smoke: Optional[dict] = None) -> dict:
    """One step of one partition's run (or a promotion's smoke scoring of it)."""
    settings = _settings(data_root)
    fault = _fault(settings, step, partition)
    rows = fetch_source(step, partition, run_id, data_root, fault, float(settings.get("sleep_s", 0)), (smoke or {}).get("inputs"))
    check = check_contract(step, rows, fault)
    out = (smoke or {}).get("output_dir") or None
    return write_outputs(step, partition, run_id, run_as_of_ts, data_root, rows, check, fault, models, out)


def wait_for_server(timeout=120.0):
    """The launcher starts this process alongside the server (importing prefect overlaps its start): wait for /health."""
    url = os.environ["PREFECT_API_URL"].rstrip("/") + "/health"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # nosec - the loopback server
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the Prefect server at %s did not answer within %ss" % (url, timeout))
        time.sleep(0.2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="ingest,features,scores")
    parser.add_argument("--limit", type=int, default=8, help="flow runs this process executes at once")
    parser.add_argument("--query-seconds", type=float, default=0.5, help="how often it polls the server for scheduled runs")
    args = parser.parse_args()
    wait_for_server()
    deployments = [pipeline_step.to_deployment(name=step, parameters={"step": step}, tags=["signalcraft-test"])
                   for step in args.steps.split(",") if step]
    serve(*deployments, limit=args.limit, query_seconds=args.query_seconds, pause_on_shutdown=False, print_starting_message=True)


if __name__ == "__main__":
    main()
