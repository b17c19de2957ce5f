"""A throwaway PostgreSQL cluster on a free loopback port for the sandbox.

initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` user (its data
directory is a fresh temporary directory that user owns); as any other user it runs as that user.
"""

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pg_schema.sql")
DATABASE = "signalcraft"
ROLE = "signalcraft"
CI_ROLE = "signalcraft_ci"


def _bin(name):
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/%s" % name), reverse=True)
    if not candidates:
        raise RuntimeError("PostgreSQL binary %s not found; install postgresql (Debian: apt-get install postgresql)." % name)
    return candidates[0]


def _as_db_owner(argv):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + argv
    return argv


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(log_path):
    """initdb + start + create role/database + schema. Returns the component record."""
    base = tempfile.mkdtemp(prefix="signalcraft-pg-")
    data_dir = os.path.join(base, "data")
    password = secrets.token_urlsafe(18)
    pwfile = os.path.join(base, "pwfile")
    with open(pwfile, "w") as handle:
        handle.write(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    os.chmod(pwfile, 0o600)
    subprocess.run(_as_db_owner([_bin("initdb"), "-D", data_dir, "-U", "postgres", "--auth=scram-sha-256",
                                 "--pwfile", pwfile, "-E", "UTF8", "--locale=C.UTF-8"]),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.unlink(pwfile)
    for attempt in range(5):
        port = free_port()
        proc = subprocess.run(_as_db_owner([_bin("pg_ctl"), "-D", data_dir, "-l", os.path.join(base, "server.log"), "-w", "-t", "60",
                                            "-o", "-h 127.0.0.1 -p %d -k %s" % (port, base), "start"]),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        if proc.returncode == 0:
            break
        if attempt == 4:
            raise RuntimeError("PostgreSQL did not start: %s" % proc.stderr.decode(errors="replace"))
    with open(os.path.join(data_dir, "postmaster.pid")) as handle:
        pid = int(handle.readline().strip())
    admin_env = dict(os.environ, PGPASSWORD=password)
    psql = [_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
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
    return {"pid": pid, "port": port, "base_dir": base, "data_dir": data_dir,
            "dsn": "postgresql://%s:%s@127.0.0.1:%d/%s" % (ROLE, password, port, DATABASE),
            "ci_dsn": "postgresql://%s:%s@127.0.0.1:%d/postgres" % (CI_ROLE, password, port)}


def healthy(record):
    proc = subprocess.run([_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(record["port"]), "-t", "3"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return proc.returncode == 0


def stop(record, timeout=30):
    """Stop the cluster we started (pg_ctl on its data directory) and remove its files."""
    data_dir = record.get("data_dir")
    if data_dir and os.path.exists(os.path.join(data_dir, "postmaster.pid")):
        subprocess.run(_as_db_owner([_bin("pg_ctl"), "-D", data_dir, "-m", "fast", "-w", "-t", str(timeout), "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
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
