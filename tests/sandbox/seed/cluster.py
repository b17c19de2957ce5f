"""Kubernetes part of the seed: the ``jobintel`` namespace of the primary cluster.

What the M21 stability harness observes on a fresh sandbox (docs/runs.md's smoke run): the workload
of the seeded backup (ServiceAccount, ConfigMap, CronJob ``jobintel-daily``, Deployment
``jobintel-dashboard``), with the CronJob enabled as on a primary, and an ``ecr-pull`` Secret linked
to the ServiceAccount so the kubelet can pull the ECR image. Idempotent: existing objects are kept.
"""

import base64
import json
import time

import boto3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from . import archives

NAMESPACE = "jobintel"
PULL_SECRET = "ecr-pull"


def _create(call, *args):
    try:
        call(*args)
    except ApiException as exc:
        if exc.status != 409:  # already there: keep it
            raise


def _pull_secret(endpoint_url, region, registry):
    ecr = boto3.client("ecr", endpoint_url=endpoint_url, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, _sep, password = base64.b64decode(token).decode().partition(":")
    auth = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    dockerconfig = json.dumps({"auths": {registry: {"username": user, "password": password, "auth": auth}}})
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": PULL_SECRET, "namespace": NAMESPACE},
            "data": {".dockerconfigjson": base64.b64encode(dockerconfig.encode()).decode()}}


def seed_primary(kubeconfig, seed_output):
    """Create the namespace and its objects in the cluster of ``kubeconfig``; returns the namespace."""
    api = config.new_client_from_config(config_file=kubeconfig)
    core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
    values = {"image_ref": seed_output["image_ref"], "artifact_bucket": seed_output["artifact_bucket"], "prefix": seed_output["prefix"]}
    _create(core.create_namespace, {"metadata": {"name": NAMESPACE, "labels": {"app.kubernetes.io/part-of": "jobintel"}}})
    registry = seed_output["image_ref"].split("/")[0]
    _create(core.create_namespaced_secret, NAMESPACE, _pull_secret(seed_output["endpoint_url"], seed_output["region"], registry))
    for name, data in sorted(archives.fixture_tree("k8s").items()):
        document = yaml.safe_load(archives.render_template(data, values))
        kind = document["kind"]
        if kind == "ServiceAccount":
            document["imagePullSecrets"] = [{"name": PULL_SECRET}]
            _create(core.create_namespaced_service_account, NAMESPACE, document)
        elif kind == "ConfigMap":
            _create(core.create_namespaced_config_map, NAMESPACE, document)
        elif kind == "CronJob":
            document["spec"]["suspend"] = False  # the primary runs the daily job; a DR restore keeps it suspended
            _create(batch.create_namespaced_cron_job, NAMESPACE, document)
        elif kind == "Deployment":
            _create(apps.create_namespaced_deployment, NAMESPACE, document)
        else:
            raise ValueError("fixture %s: no seed rule for kind %s" % (name, kind))
    # The primary's own objects that are not part of the seeded backup (a DR restore does not bring them).
    for name, data in sorted(archives.fixture_tree("k8s-primary").items()):
        document = yaml.safe_load(archives.render_template(data, values))
        if document["kind"] != "Service":
            raise ValueError("fixture %s: no seed rule for kind %s" % (name, document["kind"]))
        _create(core.create_namespaced_service, NAMESPACE, document)
    _wait_until_quiet(core)
    return NAMESPACE


def _wait_until_quiet(core, settle_s=3.0, timeout_s=60.0):
    """Return once the emulated controllers have finished reacting to the seed (pods created, Deployment
    available): the cluster's resourceVersion unchanged for ``settle_s``. Tests prove "nothing was
    written" by comparing resourceVersions, so the sandbox is ready only when it is quiet."""
    deadline = time.monotonic() + timeout_s
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        version = core.list_namespace().metadata.resource_version
        if version != last:
            last, since = version, time.monotonic()
        elif time.monotonic() - since >= settle_s:
            return
        time.sleep(0.5)
