"""Start and stop the layer as a subprocess, and talk to its control API (for tests and harnesses).

    with SandboxEndpoint(workdir) as endpoint:
        endpoint.url                       # http://127.0.0.1:<port>
        endpoint.control("POST", "/_sandbox/faults", {"rules": [...]})
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
SANDBOX_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class EndpointError(RuntimeError):
    """The endpoint did not come up, or the seed failed (the log is in the message)."""


def sandbox_env(region="us-east-1"):
    """Environment for child processes: sandbox credentials, no profile/config from the host."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(SANDBOX_CREDENTIALS, AWS_DEFAULT_REGION=region, AWS_EC2_METADATA_DISABLED="true")
    return env


class SandboxEndpoint:
    """One ``python -m tests.sandbox.aws_layer`` process on an ephemeral loopback port."""

    def __init__(self, workdir, account_id="111122223333", region="us-east-1", python=sys.executable):
        self.workdir = str(workdir)
        self.account_id = account_id
        self.region = region
        self.python = python
        self.ready_file = os.path.join(self.workdir, "aws-layer.ready.json")
        self.log_file = os.path.join(self.workdir, "aws-layer.log")
        self.process = None
        self.ready = None

    @property
    def url(self):
        """``http://127.0.0.1:<port>``."""
        return self.ready["url"]

    def start(self, timeout=30.0):
        """Spawn the server and wait for its ready file."""
        command = [self.python, "-m", "tests.sandbox.aws_layer", "--host", "127.0.0.1", "--port", "0",
                   "--account-id", self.account_id, "--region", self.region, "--ready-file", self.ready_file]
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=sandbox_env(self.region),  # pylint: disable=consider-using-with
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EndpointError("aws layer exited with %s:\n%s" % (self.process.returncode, self.log()))
            if os.path.exists(self.ready_file):
                with open(self.ready_file, encoding="utf-8") as handle:
                    self.ready = json.load(handle)
                return self
            time.sleep(0.05)
        self.stop()
        raise EndpointError("aws layer not ready after %ss:\n%s" % (timeout, self.log()))

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit status."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout)

    def log(self):
        """The server's combined stdout/stderr so far."""
        with open(self.log_file, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def control(self, method, path, payload=None):
        """Call a ``/_sandbox/`` endpoint; returns ``(status, decoded JSON)``."""
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # nosec - loopback URL we started
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def run_seed(url, out_path, account_id="111122223333", region="us-east-1", prefix="jobintel", python=sys.executable):
    """Run ``python -m tests.sandbox.seed`` against ``url``; returns the output document."""
    command = [python, "-m", "tests.sandbox.seed", "--endpoint-url", url, "--region", region,
               "--account-id", account_id, "--out", str(out_path), "--prefix", prefix]
    result = subprocess.run(command, cwd=REPO_ROOT, env=sandbox_env(region), check=False, capture_output=True, timeout=120)
    if result.returncode != 0:
        raise EndpointError("seed failed (%s):\n%s" % (result.returncode, result.stderr.decode("utf-8", "replace")))
    with open(out_path, encoding="utf-8") as handle:
        return json.load(handle)
