# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The example pipeline of the local inventory: three steps that read and write a partition.

    step.py ingest     writes games.csv (game_id, team, minutes) for the partition
    step.py features   reads ingest's games.csv, checks its columns, writes features.csv
    step.py scores     reads features.csv, writes scores.csv

Everything comes from the environment the pipeline executor sets: PIPELINE_PARTITION,
PIPELINE_RUN_ID, PIPELINE_RUN_AS_OF_TS, PIPELINE_ATTEMPT, PIPELINE_OUTPUT_DIR, PIPELINE_INPUTS
(upstream asset -> its output directory) and PIPELINE_STEP_REPORT (where to put row counts and checks).

``scores`` scores with the model run it is handed (PIPELINE_MODEL_ARTIFACT_DIR: the run the
minutes selector names, or the candidate of a promotion's smoke scoring): its meta.json's
``params.scale`` multiplies the score (1.0 without a model).

For demos and tests, ``<PIPELINE_DATA_ROOT>/_example.json`` may hold ``{"sleep_s": 0.5, "faults":
{"<asset>@<partition>": "<fault>"}}`` with a fault of network, network_once (fails the first attempt
only), missing_input, contract, permission, port_conflict or stale_snapshot: the step then fails
with the signature the runbook lists for that failure. A smoke scoring (PIPELINE_SMOKE=1) also
looks up ``"smoke@<model run>"``, and with ``"smoke_barrier": n`` waits until n smoke scorings are
running at once (to make promotions race in tests).
"""

import csv
import hashlib
import json
import os
import sys
import time

SIGNATURES = {
    "network": "urllib.error.URLError: <urlopen error [Errno -3] Temporary failure in name resolution>",
    "contract": "ValueError: missing required columns ['minutes'] in games.csv",
    "permission": "PermissionError: [Errno 13] Permission denied: '/srv/projections/features'",
    "port_conflict": "OSError: [Errno 98] address already in use (0.0.0.0:8501)",
    "stale_snapshot": "RuntimeError: Roster snapshot is 30h old",
}


def example_settings():
    path = os.path.join(os.environ.get("PIPELINE_DATA_ROOT", ""), "_example.json")
    if os.environ.get("PIPELINE_DATA_ROOT") and os.path.exists(path):
        with open(path) as handle:
            return json.load(handle)
    return {}


def inject(asset, partition, settings):
    fault = (settings.get("faults") or {}).get("%s@%s" % (asset, partition))
    if os.environ.get("PIPELINE_SMOKE") == "1":
        fault = (settings.get("faults") or {}).get("smoke@%s" % os.environ.get("PIPELINE_MODEL_RUN_ID")) or fault
    if not fault:
        return
    if fault == "network_once":
        if os.environ.get("PIPELINE_ATTEMPT") == "1":
            raise SystemExit(SIGNATURES["network"])
        return
    if fault == "missing_input":
        open(os.path.join(os.environ["PIPELINE_OUTPUT_DIR"], "..", "..", "nonexistent", "games.csv"))
    raise SystemExit(SIGNATURES[fault])


def smoke_barrier(settings):
    """Wait (at most 60 s) until ``smoke_barrier`` smoke scorings have reached this point."""
    count = int(settings.get("smoke_barrier") or 0)
    if os.environ.get("PIPELINE_SMOKE") != "1" or count < 2:
        return
    directory = os.path.join(os.environ["PIPELINE_DATA_ROOT"], "_smoke_barrier")
    os.makedirs(directory, exist_ok=True)
    open(os.path.join(directory, os.environ["PIPELINE_RUN_ID"]), "w").close()
    deadline = time.monotonic() + 60
    while len(os.listdir(directory)) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def model_scale():
    """``params.scale`` of the model run the step is handed (1.0 without one)."""
    artifact = os.environ.get("PIPELINE_MODEL_ARTIFACT_DIR")
    if not artifact or not os.path.exists(os.path.join(artifact, "meta.json")):
        return 1.0
    with open(os.path.join(artifact, "meta.json")) as handle:
        return float((json.load(handle).get("params") or {}).get("scale", 1.0))


def write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return len(rows)


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def main(asset):
    partition = os.environ["PIPELINE_PARTITION"]
    out = os.environ["PIPELINE_OUTPUT_DIR"]
    inputs = json.loads(os.environ.get("PIPELINE_INPUTS") or "{}")
    settings = example_settings()
    time.sleep(float(settings.get("sleep_s", 0)))
    smoke_barrier(settings)
    inject(asset, partition, settings)
    os.makedirs(out, exist_ok=True)
    checks = []
    if asset == "ingest":
        seed = int(hashlib.sha256(partition.encode()).hexdigest()[:8], 16)
        rows = [("g%s-%d" % (partition, n), "team%d" % ((seed + n) % 30), 20 + (seed >> n) % 20) for n in range(8)]
        counts = {"games.csv": write_csv(os.path.join(out, "games.csv"), ["game_id", "team", "minutes"], rows)}
    elif asset == "features":
        games = read_csv(os.path.join(inputs["ingest"], "games.csv"))
        missing = [c for c in ("game_id", "team", "minutes") if games and c not in games[0]]
        if missing:
            raise SystemExit("ValueError: missing required columns %s in games.csv" % missing)
        checks.append({"name": "required_columns", "status": "pass", "detail": None})
        rows = [(g["game_id"], g["team"], int(g["minutes"]) / 48.0) for g in games]
        counts = {"features.csv": write_csv(os.path.join(out, "features.csv"), ["game_id", "team", "minutes_share"], rows)}
    elif asset == "scores":
        features = read_csv(os.path.join(inputs["features"], "features.csv"))
        scale = model_scale()
        rows = [(f["game_id"], round(float(f["minutes_share"]) * 100 * scale, 2), os.environ["PIPELINE_RUN_AS_OF_TS"]) for f in features]
        counts = {"scores.csv": write_csv(os.path.join(out, "scores.csv"), ["game_id", "score", "as_of"], rows)}
        checks.append({"name": "non_empty", "status": "pass" if rows else "fail", "detail": "%d rows" % len(rows)})
    else:
        raise SystemExit("unknown asset %s" % asset)
    with open(os.environ["PIPELINE_STEP_REPORT"], "w") as handle:
        json.dump({"rows": counts, "checks": checks}, handle)
    print("%s partition=%s run_id=%s rows=%s model_run=%s publish=%s" % (
        asset, partition, os.environ["PIPELINE_RUN_ID"], sum(counts.values()), os.environ.get("PIPELINE_MODEL_RUN_ID") or "none",
        os.environ.get("PIPELINE_PUBLISH", "1")))


if __name__ == "__main__":
    main(sys.argv[1])
