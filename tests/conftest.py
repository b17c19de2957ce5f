"""Shared fixtures: the collection on sys.path, and one sandbox per test session.

The session starts its own sandbox in a temporary directory and stops it at the end, so tests never
depend on (or disturb) a developer's ``.sandbox``. Set ``SIGNALCRAFT_TEST_SANDBOX_DIR`` to reuse a
running sandbox while iterating (it is then left running).
"""

import json
import os
import subprocess
import sys
import urllib.request

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS_DIR = os.path.join(REPO_ROOT, "collections")
for path in (REPO_ROOT, COLLECTIONS_DIR):
    if path not in sys.path:
        sys.path.insert(0, path)
from tests.sandbox import launcher, tools  # noqa: E402  pylint: disable=wrong-import-position

# ansible-playbook, ansible-doc and friends from the same virtualenv as this interpreter; then kubectl from
# the tools virtualenv `make setup` installs (.venv-tools/bin), as the Makefile orders them.
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), tools.tools_bin_dir(), os.environ.get("PATH", "")])


class Sandbox:
    """What a test needs to reach the sandbox: its env values, clients and control endpoints."""

    def __init__(self, directory, env):
        self.dir = directory
        self.env = env

    def __getitem__(self, name):
        return self.env[name]

    def boto3_client(self, service):
        import boto3
        from botocore.config import Config

        return boto3.client(service, endpoint_url=self.env["AWS_ENDPOINT_URL"], region_name=self.env["AWS_DEFAULT_REGION"],
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}))

    def k8s_api_client(self, cluster="primary"):
        from kubernetes import config

        return config.new_client_from_config(config_file=self.env["SANDBOX_%s_KUBECONFIG" % cluster.upper()])

    def control(self, component, path, body=None, method=None):
        """Call a control endpoint (``component`` aws|primary|dr), e.g. ``control("aws", "faults", {...})``."""
        base = self.env["SANDBOX_AWS_CONTROL_URL"] if component == "aws" else self.env["SANDBOX_%s_CONTROL_URL" % component.upper()]
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request("%s/%s" % (base, path), data=data, method=method or ("POST" if data else "GET"),
                                         headers={"Content-Type": "application/json"})
        context = None
        if base.startswith("https"):
            import ssl
            context = ssl._create_unverified_context()  # our own emulator's self-signed control endpoint
        with urllib.request.urlopen(request, timeout=10, context=context) as response:  # nosec - loopback
            text = response.read().decode()
        return json.loads(text) if text else None

    def clear_faults(self):
        for component in ("aws", "primary", "dr"):
            self.control(component, "faults", method="DELETE")

    def process_env(self):
        """Environment for subprocesses (ansible-playbook, aws CLI) pointed at this sandbox."""
        env = dict(os.environ)
        env.update(self.env)
        env["SIGNALCRAFT_SANDBOX_DIR"] = self.dir
        return env


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    reuse = os.environ.get("SIGNALCRAFT_TEST_SANDBOX_DIR")
    directory = reuse or str(tmp_path_factory.mktemp("sandbox"))
    state = launcher.up(directory)
    box = Sandbox(os.path.abspath(directory), launcher.env_exports(state))
    yield box
    if not reuse:
        launcher.down(directory)


@pytest.fixture
def clean_faults(sandbox):
    sandbox.clear_faults()
    yield sandbox
    sandbox.clear_faults()


def run_quiet(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
