"""A real Prefect server for the pipeline tests: ``prefect server start`` on loopback with its embedded
SQLite in a private directory, and a process serving the test flow (``tests/sandbox/prefect_flows.py``:
one deployment ``signalcraft-step/<step>`` per pipeline step) so the flow runs the collection creates
really execute.

Both run under ``.venv-prefect`` (``make setup`` installs it; the collection's venv never has prefect).
Nothing leaves the machine: the server binds 127.0.0.1 on a free port, analytics and the UI are off,
and its database, home and logs live under the directory given.

    python -m tests.sandbox.prefect_server up --dir /tmp/prefect     # prints PREFECT_API_URL=...
    python -m tests.sandbox.prefect_server up --dir /tmp/prefect --auth-string ops:s3cret   # with basic auth
    python -m tests.sandbox.prefect_server down --dir /tmp/prefect

With ``auth_string`` (``user:password``) the server runs with ``PREFECT_SERVER_API_AUTH_STRING``: every call
but ``GET /health`` and ``GET /ready`` needs ``Authorization: Basic base64(user:password)`` (401
``{"exception_message": "Unauthorized"}`` otherwise; prefect/server/api/server.py), and the flow runner gets
the same string as ``PREFECT_API_AUTH_STRING`` (what Prefect's client sends).

``start`` returns once ``/api/health`` answers and every deployment is registered (each server starts
from a copy of an empty migrated database made once per ``.venv-prefect``); ``stop`` ends
exactly the two process groups ``start`` made (by pid; the flow runs are children of the serving one).
"""

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFECT_VENV = os.path.join(REPO_ROOT, ".venv-prefect")
PREFECT_BIN = os.path.join(PREFECT_VENV, "bin", "prefect")
PREFECT_PYTHON = os.path.join(PREFECT_VENV, "bin", "python")
FLOWS = os.path.join(REPO_ROOT, "tests", "sandbox", "prefect_flows.py")
FLOW_NAME = "signalcraft-step"
STEPS = ("ingest", "features", "scores")
START_TIMEOUT = 120
# An empty database with Prefect's migrations applied, made once per .venv-prefect (it goes with that Prefect
# version): copying it saves each fresh server the ~8 s its migrations take.
TEMPLATE_DB = os.path.join(PREFECT_VENV, "signalcraft-empty-prefect.db")


def _log(message):
    sys.stderr.write("prefect-sandbox: %s\n" % message)
    sys.stderr.flush()


def available():
    """True when ``.venv-prefect`` is installed (``make setup``)."""
    return os.access(PREFECT_BIN, os.X_OK) and os.access(PREFECT_PYTHON, os.X_OK)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(directory, api_url=None, server_auth_string=None, client_auth_string=None):
    """The environment of both processes: the caller's, less any PREFECT_* setting, plus a private home and database
    (and the server's or the client's auth string)."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("PREFECT_"))
    env.update({
        "PREFECT_HOME": os.path.join(directory, "home"),
        "PREFECT_API_DATABASE_CONNECTION_URL": "sqlite+aiosqlite:///%s" % os.path.join(directory, "prefect.db"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        # Services a test server does not need (no schedules, late runs, workers, automations, leases or event
        # history): they cost CPU on every flow run. The task run recorder stays (task runs reach the database as
        # events through it), and so does the event stream the runner watches for cancellations.
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_EVENT_LOGGER_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_REPOSSESSOR_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_CLEANUP_RECONCILER_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    })
    if api_url:
        env["PREFECT_API_URL"] = api_url
    if server_auth_string:
        env["PREFECT_SERVER_API_AUTH_STRING"] = server_auth_string
    if client_auth_string:
        env["PREFECT_API_AUTH_STRING"] = client_auth_string
    return env


def auth_headers(auth_string):
    """What Prefect's client sends for ``PREFECT_API_AUTH_STRING`` (prefect/client/orchestration/__init__.py)."""
    if not auth_string:
        return {}
    return {"Authorization": "Basic %s" % base64.b64encode(auth_string.encode("utf-8")).decode("ascii")}


def _get(url, body=None, timeout=2.0, auth_string=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = dict({"Content-Type": "application/json"}, **auth_headers(auth_string))
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET", headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec - loopback only
        return json.loads(response.read().decode() or "null")


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _stop_group(pid, grace=10.0):
    """SIGTERM the process group ``pid`` leads (we started it with a new session), then SIGKILL what is left."""
    if not pid or not _alive(pid):
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                finished, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                finished = pid if not _alive(pid) else 0
            if finished == pid:
                return
            time.sleep(0.1)


def template_db():
    """The migrated empty database, made on first use (``prefect server database upgrade``) and kept beside the venv."""
    if os.path.exists(TEMPLATE_DB):
        return TEMPLATE_DB
    work = "%s.%d.tmp" % (TEMPLATE_DB, os.getpid())
    os.makedirs(work, exist_ok=True)
    try:
        env = environment(work)
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = "sqlite+aiosqlite:///%s" % os.path.join(work, "prefect.db")
        subprocess.run([PREFECT_BIN, "server", "database", "upgrade", "-y"], env=env, cwd=work, stdin=subprocess.DEVNULL,
                       capture_output=True, check=True, timeout=300)
        os.replace(os.path.join(work, "prefect.db"), TEMPLATE_DB)  # atomic: a concurrent first use never copies half a file
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return TEMPLATE_DB


class PrefectServer:
    """A running server and flow runner: ``api_url``, and how long each took to come up."""

    def __init__(self, directory, port, server_pid, runner_pid, timings, auth_string=None):
        self.dir, self.port = directory, port
        self.api_url = "http://127.0.0.1:%d/api" % port
        self.server_pid, self.runner_pid, self.timings = server_pid, runner_pid, timings
        self.auth_string = auth_string

    def get(self, path):
        return _get(self.api_url + path, timeout=10, auth_string=self.auth_string)

    def post(self, path, body):
        return _get(self.api_url + path, body or {}, timeout=10, auth_string=self.auth_string)

    def state(self):
        # The auth string itself is not written down: `down` needs only the pids.
        return {"dir": self.dir, "port": self.port, "api_url": self.api_url, "server_pid": self.server_pid,
                "runner_pid": self.runner_pid, "timings": self.timings, "auth": bool(self.auth_string)}


def _wait(what, check, process, log_path, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with open(log_path, errors="replace") as handle:
                tail = handle.read()[-3000:]
            raise RuntimeError("%s exited with %s before it was ready:\n%s" % (what, process.returncode, tail))
        try:
            if check():
                return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError("%s not ready after %ss (log %s)" % (what, timeout, log_path))


def start(directory, steps=STEPS, timeout=START_TIMEOUT, auth_string=None):
    """Start the server and the flow runner under ``directory``; returns a ``PrefectServer``. With ``auth_string``
    (``user:password``) the server requires it (``PREFECT_SERVER_API_AUTH_STRING``) and the runner sends it."""
    if not available():
        raise RuntimeError("%s is missing: run `make setup` (it installs Prefect in its own virtualenv)" % PREFECT_BIN)
    directory = os.path.abspath(directory)
    os.makedirs(os.path.join(directory, "home"), exist_ok=True)
    started = time.monotonic()
    database = os.path.join(directory, "prefect.db")
    if not os.path.exists(database):
        shutil.copyfile(template_db(), database)
    port = free_port()
    api_url = "http://127.0.0.1:%d/api" % port
    server_log = os.path.join(directory, "server.log")
    with open(server_log, "ab") as log:
        server = subprocess.Popen([PREFECT_BIN, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui",
                                   "--analytics-off", "--no-scheduler", "--no-late-runs"],
                                  env=environment(directory, server_auth_string=auth_string), cwd=directory,
                                  stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    runner = None
    try:
        # The flow runner starts at once (importing prefect takes seconds) and waits for the server's /health itself.
        runner_log = os.path.join(directory, "runner.log")
        with open(runner_log, "ab") as log:
            runner = subprocess.Popen([PREFECT_PYTHON, FLOWS, "--steps", ",".join(steps)],
                                      env=environment(directory, api_url, client_auth_string=auth_string),
                                      cwd=directory, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        _wait("prefect server", lambda: _get(api_url + "/health") is True, server, server_log, timeout)
        server_ready = time.monotonic()

        def deployments_ready():
            names = set(d["name"] for d in _get(api_url + "/deployments/filter", {"limit": 200}, auth_string=auth_string) or [])
            return set(steps) <= names

        _wait("prefect flow runner", deployments_ready, runner, runner_log, timeout)
    except Exception:
        _stop_group(runner.pid if runner else None)
        _stop_group(server.pid)
        raise
    ready = time.monotonic()
    timings = {"server_s": round(server_ready - started, 2), "runner_s": round(ready - server_ready, 2), "total_s": round(ready - started, 2)}
    _log("server %s ready in %.1fs, flow runner (%s) in %.1fs more" % (api_url, timings["server_s"], ",".join(steps), timings["runner_s"]))
    box = PrefectServer(directory, port, server.pid, runner.pid, timings, auth_string=auth_string)
    with open(os.path.join(directory, "prefect.json"), "w") as handle:
        json.dump(box.state(), handle, indent=2)
    return box


def cpu_seconds(pid):
    """CPU seconds ``pid`` and its reaped children used (the runner's include its finished flow runs)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return None
    return round(sum(int(value) for value in fields[11:15]) / float(os.sysconf("SC_CLK_TCK")), 1)


def stop(box):
    """Stop the flow runner (and its flow runs), then the server; log the CPU each used."""
    used = {"server": cpu_seconds(box.server_pid), "runner_and_flow_runs": cpu_seconds(box.runner_pid)}
    _stop_group(box.runner_pid)
    _stop_group(box.server_pid)
    _log("stopped; CPU seconds used: %s" % ", ".join("%s=%s" % item for item in sorted(used.items())))
    return used


def _down(directory):
    path = os.path.join(os.path.abspath(directory), "prefect.json")
    if not os.path.exists(path):
        return
    with open(path) as handle:
        state = json.load(handle)
    for key in ("runner_pid", "server_pid"):
        pid = state.get(key)
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                ours = b"prefect" in handle.read()
        except (OSError, TypeError):
            ours = False
        if ours:  # never signal a recycled pid
            _stop_group(pid)
    os.remove(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description="A Prefect server and test flow runner on loopback.")
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--auth-string", default=None, help="user:password the server requires (PREFECT_SERVER_API_AUTH_STRING)")
    args = parser.parse_args(argv)
    if args.action == "up":
        box = start(args.dir, auth_string=args.auth_string)
        print("PREFECT_API_URL=%s" % box.api_url)
    else:
        _down(args.dir)


if __name__ == "__main__":
    main()
