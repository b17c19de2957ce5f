"""Every command README.md and docs/*.md show, run as an operator pastes it, against the sandbox.

The commands and what each must do come from the doc-test markers in the Markdown (see
tests/doc_commands.py): the exit code, the status line(s) it prints, and for a ``--check`` command
that the sandbox is unchanged afterwards (S3 keys/versions/ETags of every bucket, ECS task
definitions and services, the RDS cluster's writer, SSM parameter versions and labels, SQS message
counts, both clusters' namespaces and objects, every PostgreSQL row). A command the sandbox cannot serve is skipped for the reason its page states.

Commands run from the repository root with bash, ``.venv/bin`` first on PATH and the session
sandbox's environment (``.sandbox/`` in a ``source`` line means the session's sandbox directory;
``make`` gets it as ``SANDBOX_DIR``). They run in page order; ``setup=`` runs an earlier command of
the page first when a single command is selected. A command shown on two pages runs once (``again``
in its marker runs it anew).
"""

import hashlib
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests import doc_commands
from tests.conftest import REPO_ROOT, Sandbox
from tests.sandbox import launcher


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """The documented commands get a sandbox of their own: they publish to the seeded prefix, move its
    pointers and run the demo, as an operator would, and the other test files of this worker read the
    seeded state as it was seeded."""
    directory = str(tmp_path_factory.mktemp("doc-sandbox"))
    state = launcher.up(directory)
    box = Sandbox(os.path.abspath(directory), launcher.env_exports(state))
    yield box
    launcher.down(directory)


COMMANDS, PROBLEMS = doc_commands.collect(REPO_ROOT)
VENV_BIN = os.path.dirname(sys.executable)
# How long each command took (printed at the end with -s, and kept for the report).
TIMINGS = {}


def _env(sandbox):
    env = sandbox.process_env()
    # As pasted in a shell at the repository root: ansible.cfg there, not a test's overrides.
    for name in ("ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS"):
        env.pop(name, None)
    env.update(PATH=os.pathsep.join([VENV_BIN, env.get("PATH", "")]), SANDBOX_DIR=sandbox.dir, ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", PYTHONWARNINGS="ignore")
    return env


def _script(command, sandbox):
    preludes = [p.replace(".sandbox/", sandbox.dir.rstrip("/") + "/") for p in command.preludes]
    return "set -e\n%s\n%s\n" % ("\n".join(preludes), command.text) if preludes else command.text + "\n"


# ------------------------------------------------------------------------------------------
# What "unchanged" means for a --check command
# ------------------------------------------------------------------------------------------

def _s3(sandbox):
    s3 = sandbox.boto3_client("s3")
    state = {}
    for bucket in sorted(b["Name"] for b in s3.list_buckets()["Buckets"]):
        entries = []
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            entries += [(v["Key"], v.get("VersionId"), v.get("ETag")) for v in page.get("Versions", [])]
            entries += [(d["Key"], d.get("VersionId"), "delete-marker") for d in page.get("DeleteMarkers", [])]
        uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        state[bucket] = (sorted(entries), sorted(u["UploadId"] for u in uploads))
    return state


def _ecs(sandbox):
    ecs = sandbox.boto3_client("ecs")
    definitions = []
    for status in ("ACTIVE", "INACTIVE"):
        for page in ecs.get_paginator("list_task_definitions").paginate(status=status):
            definitions += page["taskDefinitionArns"]
    services = {}
    for cluster in ecs.list_clusters()["clusterArns"]:
        arns = [a for page in ecs.get_paginator("list_services").paginate(cluster=cluster) for a in page["serviceArns"]]
        for start in range(0, len(arns), 10):
            for s in ecs.describe_services(cluster=cluster, services=arns[start:start + 10])["services"]:
                services[s["serviceArn"]] = (s["status"], s["taskDefinition"], s["desiredCount"])
    return sorted(definitions), services


def _rds(sandbox):
    clusters = sandbox.boto3_client("rds").describe_db_clusters()["DBClusters"]
    return {c["DBClusterIdentifier"]: sorted((m["DBInstanceIdentifier"], m["IsClusterWriter"]) for m in c.get("DBClusterMembers", []))
            for c in clusters}


def _ssm(sandbox):
    """Every parameter's version (a write always adds one) and labels."""
    ssm = sandbox.boto3_client("ssm")
    state = {}
    for page in ssm.get_paginator("describe_parameters").paginate():
        for parameter in page["Parameters"]:
            history = ssm.get_parameter_history(Name=parameter["Name"])["Parameters"]
            state[parameter["Name"]] = (parameter["Version"], sorted((h["Version"], tuple(h.get("Labels") or [])) for h in history))
    return state


def _sqs(sandbox):
    """Every queue's message count (visible + in flight + delayed: a delay or visibility timeout ending moves
    messages between the three, a purge or a receive-and-delete lowers the sum)."""
    sqs = sandbox.boto3_client("sqs")
    names = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")
    state = {}
    for url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names))["Attributes"]
        state[url] = sum(int(attributes.get(name, 0)) for name in names)
    return state


def _k8s(sandbox, cluster):
    """Namespaces and every object no controller owns (a controller's pods come and go by themselves)."""
    from kubernetes import client

    api = sandbox.k8s_api_client(cluster)
    core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
    listings = {"configmaps": core.list_config_map_for_all_namespaces, "secrets": core.list_secret_for_all_namespaces,
                "serviceaccounts": core.list_service_account_for_all_namespaces,
                "deployments": apps.list_deployment_for_all_namespaces, "cronjobs": batch.list_cron_job_for_all_namespaces,
                "jobs": batch.list_job_for_all_namespaces, "pods": core.list_pod_for_all_namespaces}
    state = {"namespaces": sorted((n.metadata.name, n.status.phase) for n in core.list_namespace().items)}
    for kind, listing in listings.items():
        objects = []
        for item in listing().items:
            meta = item.metadata
            if meta.owner_references:
                continue
            # generation moves with the spec only; objects without one (ConfigMaps, Secrets) by resourceVersion.
            objects.append((meta.namespace, meta.name, meta.uid, meta.generation or meta.resource_version))
        state[kind] = sorted(objects)
    return state


def _postgres(sandbox):
    import psycopg

    state = {}
    with psycopg.connect(sandbox["SANDBOX_PG_DSN"]) as conn:
        tables = conn.execute("select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE' "
                              "and table_schema not in ('pg_catalog', 'information_schema') order by 1, 2").fetchall()
        for schema, table in tables:
            rows = conn.execute('select t::text from "%s"."%s" t' % (schema, table)).fetchall()
            state["%s.%s" % (schema, table)] = (len(rows), hashlib.sha256("\n".join(sorted(r[0] for r in rows)).encode()).hexdigest())
    return state


def snapshot(sandbox):
    return {"s3": _s3(sandbox), "ecs": _ecs(sandbox), "rds": _rds(sandbox), "ssm": _ssm(sandbox), "sqs": _sqs(sandbox),
            "k8s_primary": _k8s(sandbox, "primary"),
            "k8s_dr": _k8s(sandbox, "dr"), "postgres": _postgres(sandbox)}


def differences(before, after):
    """Readable differences between two snapshots (empty when equal)."""
    found = []
    for store in before:
        if before[store] == after[store]:
            continue
        b, a = before[store], after[store]
        if isinstance(b, dict):
            for name in sorted(set(b) | set(a)):
                if b.get(name) != a.get(name):
                    found.append("%s %s: %s -> %s" % (store, name, str(b.get(name))[:300], str(a.get(name))[:300]))
        else:
            found.append("%s: %s -> %s" % (store, str(b)[:300], str(a)[:300]))
    return found


# ------------------------------------------------------------------------------------------
# Running the commands
# ------------------------------------------------------------------------------------------

class DocRunner:
    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.env = _env(sandbox)
        self.results = {}
        self.by_text = {}

    def run(self, command):
        if command.key in self.results:
            return self.results[command.key]
        # The same command shown on two pages (README's daily.yml and docs/ecs.md's) runs once and is
        # checked against both markers, unless a marker says to run it again (a resumed harness).
        same = (command.preludes, command.text)
        if same in self.by_text and not command.again:
            self.results[command.key] = self.by_text[same]
            return self.by_text[same]
        for dependency in command.setup:
            earlier = doc_commands.by_name(COMMANDS, command.page, dependency)
            if earlier.key not in self.results:
                result = self.run(earlier)
                assert result.returncode == earlier.exit, "setup %s (%s) failed:\n%s" % (dependency, earlier.key, tail(result))
        if command.fresh:
            shutil.rmtree(os.path.join(REPO_ROOT, command.fresh), ignore_errors=True)
        started = time.monotonic()
        result = subprocess.run(["bash", "-c", _script(command, self.sandbox)], cwd=REPO_ROOT, env=self.env, capture_output=True,
                                text=True, timeout=command.timeout, check=False)
        TIMINGS[command.key] = time.monotonic() - started
        log_dir = os.environ.get("SIGNALCRAFT_DOC_TEST_LOG_DIR")  # every command's output, for reading a CI failure
        if log_dir:
            os.makedirs(log_dir, exist_ok=True)
            with open(os.path.join(log_dir, command.key.replace("/", "_").replace(":", "_") + ".log"), "w") as handle:
                handle.write("%s\n%.1fs\n%s" % (command.text, TIMINGS[command.key], tail(result, limit=10 ** 7)))
        self.results[command.key] = self.by_text[same] = result
        return result


def tail(result, limit=6000):
    text = "rc=%s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (result.returncode, result.stdout, result.stderr)
    return text if len(text) <= limit else "...\n" + text[-limit:]


@pytest.fixture(scope="module")
def doc_runner(sandbox):
    runner = DocRunner(sandbox)
    yield runner
    total = sum(TIMINGS.values())
    sys.stderr.write("\ndoc commands: %d run in %.0f s; slowest: %s\n" % (len(TIMINGS), total, ", ".join(
        "%s %.0fs" % (key, seconds) for key, seconds in sorted(TIMINGS.items(), key=lambda kv: -kv[1])[:5])))


def test_every_shown_command_is_marked():
    """The same check as tests/unit/test_doc_markers.py: a test run never silently skips an unmarked command."""
    assert not PROBLEMS, "\n".join(PROBLEMS)


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS, ids=[c.key for c in COMMANDS])
def test_doc_command(command, doc_runner, sandbox):
    if command.skip:
        pytest.skip(command.skip)
    before = snapshot(sandbox) if command.check_mode else None
    result = doc_runner.run(command)
    # Ansible's YAML callback folds long status lines: compare with whitespace collapsed.
    output = " ".join((result.stdout + "\n" + result.stderr).split())
    assert result.returncode == command.exit, "%s: %s\nexpected exit %d\n%s" % (command.key, command.text, command.exit, tail(result))
    for line in command.lines:
        assert " ".join(line.split()) in output, "%s: %s\ndoes not print %r\n%s" % (command.key, command.text, line, tail(result))
    if before is not None:
        changed = differences(before, snapshot(sandbox))
        assert not changed, "%s: %s (check mode) changed the sandbox:\n%s" % (command.key, command.text, "\n".join(changed))
