"""Start, reuse and stop the local sandbox: AWS layer (moto), two Kubernetes emulators, PostgreSQL.

``up`` is idempotent: a healthy sandbox recorded in ``<dir>/state.json`` is reused as it is. ``down``
stops exactly the processes ``up`` started, by pid (checking the pid still runs our command line so a
recycled pid is never signalled), never by name.
"""

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request

from tests.sandbox import postgres

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ACCOUNT_ID = "111122223333"
REGION = "us-east-1"
CLUSTERS = ("primary", "dr")
START_TIMEOUT = 90


def _log(message):
    sys.stderr.write("sandbox: %s\n" % message)
    sys.stderr.flush()


def _state_path(sandbox_dir):
    return os.path.join(sandbox_dir, "state.json")


def load_state(sandbox_dir):
    try:
        with open(_state_path(sandbox_dir)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
    os.replace(tmp, path)


def _pid_runs(pid, marker):
    """True when ``pid`` is alive and its command line still contains ``marker``."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return marker.encode() in handle.read()
    except OSError:
        return False


def _http_ok(url):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # control endpoint of our own self-signed emulator on loopback
    try:
        with urllib.request.urlopen(url, timeout=3, context=context) as response:  # nosec - loopback only
            return response.status == 200
    except OSError:
        return False


def _spawn(sandbox_dir, name, argv):
    """Start a component in its own session; wait for its ready file. Returns the ready record."""
    ready = os.path.join(sandbox_dir, "run", "%s.ready.json" % name)
    if os.path.exists(ready):
        os.unlink(ready)
    log = open(os.path.join(sandbox_dir, "logs", "%s.log" % name), "ab")
    proc = subprocess.Popen(argv + ["--ready-file", ready], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + START_TIMEOUT
    while time.time() < deadline:
        if os.path.exists(ready):
            with open(ready) as handle:
                record = json.load(handle)
            record.update(pid=proc.pid, marker="\x00".join(argv[2:5]))
            return record
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s before it was ready; see %s" % (name, proc.returncode, log.name))
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("%s was not ready after %ss; see %s" % (name, START_TIMEOUT, log.name))


def healthy(state):
    if not state:
        return False
    components = state.get("components", {})
    for name, record in components.items():
        if name == "postgres":
            if not postgres.healthy(record):
                return False
        elif not (_pid_runs(record["pid"], record["marker"]) and _http_ok(record["url"] + "/_sandbox/health")):
            return False
    return set(components) == {"aws", "postgres"} | {"k8s_%s" % c for c in CLUSTERS}


def env_exports(state):
    """The variables ``.sandbox/env.sh`` exports (and the integration tests use)."""
    seed = state["seed"]
    comps = state["components"]
    env = {
        "AWS_ENDPOINT_URL": comps["aws"]["url"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "SANDBOX_ACCOUNT_ID": ACCOUNT_ID,
        "SANDBOX_AWS_CONTROL_URL": comps["aws"]["url"] + "/_sandbox",
        "SANDBOX_PRIMARY_KUBECONFIG": comps["k8s_primary"]["kubeconfig"],
        "SANDBOX_DR_KUBECONFIG": comps["k8s_dr"]["kubeconfig"],
        "SANDBOX_PRIMARY_CONTROL_URL": comps["k8s_primary"]["url"] + "/_sandbox",
        "SANDBOX_DR_CONTROL_URL": comps["k8s_dr"]["url"] + "/_sandbox",
        "SANDBOX_PG_DSN": comps["postgres"]["dsn"],
        "SANDBOX_PG_CI_DSN": comps["postgres"].get("ci_dsn", ""),
        "SANDBOX_ARTIFACT_BUCKET": seed["artifact_bucket"],
        "SANDBOX_BACKUP_BUCKET": seed["backup_bucket"],
        "SANDBOX_RECEIPT_BUCKET": seed["receipt_bucket"],
        "SANDBOX_TEMPORARY_UPLOADS_BUCKET": seed["temporary_uploads_bucket"],
        "SANDBOX_RECORDINGS_BUCKET": seed["recordings_bucket"],
        "SANDBOX_EXPORTS_BUCKET": seed["exports_bucket"],
        "SANDBOX_PREFIX": seed["prefix"],
        "SANDBOX_BACKUP_URI": seed["backup_uri"],
        "SANDBOX_IMAGE_REF": seed["image_ref"],
        "SANDBOX_IMAGE_TAG_REF": seed["image_tag_ref"],
        "SANDBOX_ECS_CLUSTER": seed["ecs_cluster"],
        "SANDBOX_TASK_FAMILY": seed["task_family"],
        "SANDBOX_ECS_SUBNETS": ",".join(seed["ecs_subnets"]),
        "SANDBOX_ECS_SECURITY_GROUPS": ",".join(seed["ecs_security_groups"]),
        "SANDBOX_CONTROL_PLANE_SOURCE": seed["control_plane_source_dir"],
        "SANDBOX_PUBLISHED_RUN_ID": seed["published_run_id"],
    }
    return env


def _write_env_sh(sandbox_dir, state):
    lines = ["# Written by `make sandbox-up`; source it to point tools at the local sandbox."]
    for name, value in sorted(env_exports(state).items()):
        lines.append("export %s='%s'" % (name, str(value).replace("'", "'\\''")))
    path = os.path.join(sandbox_dir, "env.sh")
    with open(path + ".tmp", "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(path + ".tmp", 0o600)
    os.replace(path + ".tmp", path)
    # The same values as JSON for inventories/local (read with the file lookup, no sourcing needed).
    _write_json(os.path.join(sandbox_dir, "env.json"), env_exports(state))
    os.chmod(os.path.join(sandbox_dir, "env.json"), 0o600)


def up(sandbox_dir):
    """Start the sandbox (or reuse a healthy one). Returns the state record."""
    sandbox_dir = os.path.abspath(sandbox_dir)
    state = load_state(sandbox_dir)
    if healthy(state):
        _write_env_sh(sandbox_dir, state)
        _log("reusing the healthy sandbox in %s" % sandbox_dir)
        return state
    if state:
        _log("previous sandbox is not healthy; stopping what is left of it")
        down(sandbox_dir)
    for sub in ("run", "logs"):
        os.makedirs(os.path.join(sandbox_dir, sub), exist_ok=True)
    os.chmod(sandbox_dir, 0o700)
    python = sys.executable
    state = {"components": {}, "account_id": ACCOUNT_ID, "region": REGION}
    try:
        aws = _spawn(sandbox_dir, "aws", [python, "-m", "tests.sandbox.aws_layer", "--host", "127.0.0.1", "--port", "0",
                                          "--account-id", ACCOUNT_ID, "--region", REGION])
        state["components"]["aws"] = aws
        _write_json(_state_path(sandbox_dir), state)
        seed_out = os.path.join(sandbox_dir, "seed.json")
        subprocess.run([python, "-m", "tests.sandbox.seed", "--endpoint-url", aws["url"], "--region", REGION,
                        "--account-id", ACCOUNT_ID, "--out", seed_out], cwd=REPO_ROOT, check=True,
                       env=dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"))
        with open(seed_out) as handle:
            state["seed"] = json.load(handle)
        for cluster in CLUSTERS:
            kubeconfig = os.path.join(sandbox_dir, "kubeconfig-%s.yaml" % cluster)
            record = _spawn(sandbox_dir, "k8s_%s" % cluster, [
                python, "-m", "tests.sandbox.k8s_emulator", "--name", cluster, "--host", "127.0.0.1", "--port", "0",
                "--kubeconfig-out", kubeconfig, "--aws-endpoint-url", aws["url"], "--aws-region", REGION,
                "--account-id", ACCOUNT_ID])
            record["kubeconfig"] = kubeconfig
            state["components"]["k8s_%s" % cluster] = record
            _write_json(_state_path(sandbox_dir), state)
        state["components"]["postgres"] = postgres.start(os.path.join(sandbox_dir, "logs", "postgres.log"))
        _write_json(_state_path(sandbox_dir), state)
        # What the docs' examples need beyond the AWS seed: the primary cluster's jobintel namespace
        # (the M21 smoke run) and the recordings' rows (the storage examples).
        from tests.sandbox.seed import cluster, recordings  # pylint: disable=import-outside-toplevel
        state["seed"]["primary_namespace"] = cluster.seed_primary(state["components"]["k8s_primary"]["kubeconfig"], state["seed"])
        state["seed"]["recording_ids"] = recordings.seed(state["components"]["postgres"]["dsn"], state["seed"]["recordings"])
        _write_json(_state_path(sandbox_dir), state)
    except BaseException:
        _log("start failed; stopping what was started")
        down(sandbox_dir)
        raise
    _write_env_sh(sandbox_dir, state)
    _log("ready; source %s" % os.path.join(sandbox_dir, "env.sh"))
    return state


def _terminate(record, timeout=15):
    pid = record.get("pid")
    if not pid or not _pid_runs(pid, record.get("marker", "")):
        return
    try:
        os.killpg(pid, signal.SIGTERM)  # the component leads its own session (start_new_session)
    except OSError:
        return
    deadline = time.time() + timeout
    while time.time() < deadline and _pid_runs(pid, record["marker"]):
        time.sleep(0.1)
    if _pid_runs(pid, record["marker"]):
        os.killpg(pid, signal.SIGKILL)


def down(sandbox_dir):
    """Stop every process the recorded sandbox started; remove its state and env file."""
    sandbox_dir = os.path.abspath(sandbox_dir)
    state = load_state(sandbox_dir)
    if not state:
        _log("no sandbox recorded in %s" % sandbox_dir)
        return
    for name, record in state.get("components", {}).items():
        if name == "postgres":
            postgres.stop(record)
        else:
            _terminate(record)
    for name in ("state.json", "env.sh", "env.json", "seed.json"):
        path = os.path.join(sandbox_dir, name)
        if os.path.exists(path):
            os.unlink(path)
    _log("stopped")


def status(sandbox_dir):
    state = load_state(os.path.abspath(sandbox_dir))
    return {"recorded": bool(state), "healthy": healthy(state),
            "components": {k: {"pid": v.get("pid"), "url": v.get("url"), "port": v.get("port")}
                           for k, v in (state or {}).get("components", {}).items()}}
