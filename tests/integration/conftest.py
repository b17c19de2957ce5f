"""Run playbooks through ansible-runner against the session's sandbox."""

import os
import shutil

import ansible_runner
import pytest

from tests.conftest import REPO_ROOT


class PlaybookRun:
    """The outcome of one ansible-playbook run: rc, status, full stdout and per-task results."""

    def __init__(self, runner):
        self.rc = runner.rc
        self.status = runner.status
        self.stdout = runner.stdout.read()
        self.events = list(runner.events)

    def task_results(self, task_name):
        return [e["event_data"]["res"] for e in self.events
                if e.get("event") in ("runner_on_ok", "runner_on_failed") and e["event_data"].get("task") == task_name]


@pytest.fixture
def run_playbook(sandbox, tmp_path):
    """``run_playbook("preflight.yml", extravars={...}, verbosity=0, check=False)``."""

    def _run(playbook, extravars=None, inventory="local", verbosity=0, check=False, envvars=None):
        private = tmp_path / ("runner-%s" % len(list(tmp_path.glob("runner-*"))))
        private.mkdir()
        env = {k: v for k, v in sandbox.process_env().items() if k.startswith(("AWS_", "SANDBOX_", "SIGNALCRAFT_"))}
        env.update(ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"),
                   ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, "collections"),
                   ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        env.update(envvars or {})
        cmdline = "--check --diff" if check else None
        runner = ansible_runner.run(
            private_data_dir=str(private), project_dir=REPO_ROOT,
            playbook=playbook if os.path.isabs(playbook) else os.path.join(REPO_ROOT, "playbooks", playbook),
            inventory=os.path.join(REPO_ROOT, "inventories", inventory), extravars=extravars or {}, envvars=env,
            verbosity=verbosity, cmdline=cmdline, quiet=True, suppress_env_files=True, timeout=600,
        )
        result = PlaybookRun(runner)
        shutil.rmtree(private / "artifacts", ignore_errors=True)
        return result

    return _run
