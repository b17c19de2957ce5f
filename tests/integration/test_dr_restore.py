"""dr_restore.yml against the sandbox's S3, ECR and the ``dr`` Kubernetes emulator.

Read back independently: the namespace, ConfigMaps, Secret, ServiceAccount, CronJob and Deployment
through the kubernetes client; the state directory against the backup's own archive; receipts on disk
and in S3. Each test restores into its own namespace from a bundle under its own prefix.
"""

import base64
import io
import json
import os
import tarfile
import uuid

import pytest
import yaml
import zstandard
from kubernetes import client as k8s_client

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import backup
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import bundle
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import control_plane
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from tests.sandbox.seed import archives as seed_archives


def changed_tasks(run):
    stats = [e for e in run.events if e.get("event") == "playbook_on_stats"][0]["event_data"]
    return sum((stats.get("changed") or {}).values())


def publish(sandbox, prefix):
    """Put a bundle and current.json under ``prefix`` (the publish playbook is tested in test_bundle_playbooks.py)."""
    built = bundle.build_bundle(bundle.collect_sources(sandbox["SANDBOX_CONTROL_PLANE_SOURCE"]))
    control_plane.publish(sandbox.boto3_client("s3"), sandbox["SANDBOX_ARTIFACT_BUCKET"], prefix, built, "0" * 40,
                          sandbox["SANDBOX_IMAGE_REF"], receipts.format_timestamp(receipts.utc_now()))
    return built


def namespaces(api):
    return [n.metadata.name for n in api.list_namespace().items]


def restore_vars(tmp_path, prefix, namespace, execution_id, **extra):
    values = {"dr_bundle_prefix": prefix, "dr_bundle_namespace": namespace, "signalcraft_execution_id": execution_id,
              "signalcraft_receipt_root": str(tmp_path / "receipts")}
    values.update(extra)
    return values


def test_restore_end_to_end_and_a_second_restore_changes_nothing(sandbox, run_playbook, tmp_path):
    prefix, namespace = "test-restore-%s" % uuid.uuid4().hex[:10], "dr-%s" % uuid.uuid4().hex[:10]
    built = publish(sandbox, prefix)
    first = run_playbook("dr_restore.yml", restore_vars(tmp_path, prefix, namespace, "restore-1"))
    assert first.rc == 0, first.stdout
    api_client = sandbox.k8s_api_client("dr")
    core, batch, apps = k8s_client.CoreV1Api(api_client), k8s_client.BatchV1Api(api_client), k8s_client.AppsV1Api(api_client)

    assert namespace in namespaces(core)
    for section in bundle.SECTIONS:
        data = core.read_namespaced_config_map("control-plane-%s" % section, namespace).data or {}
        assert {"%s/%s" % (section, k): v.encode() for k, v in data.items()} == \
            {p: d for p, d in built_files(sandbox).items() if p.startswith(section + "/")}
    secret = core.read_namespaced_secret("ecr-pull", namespace)
    assert secret.type == "kubernetes.io/dockerconfigjson"
    auths = json.loads(base64.b64decode(secret.data[".dockerconfigjson"]))["auths"]
    token = sandbox.boto3_client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    registry = sandbox["SANDBOX_IMAGE_REF"].split("/")[0]
    assert base64.b64decode(auths[registry]["auth"]).decode() == base64.b64decode(token).decode()
    account = core.read_namespaced_service_account("jobintel", namespace)
    assert [s.name for s in account.image_pull_secrets] == ["ecr-pull"]
    assert account.automount_service_account_token is False  # from the backup's manifest
    cronjob = batch.read_namespaced_cron_job("jobintel-daily", namespace)
    assert cronjob.spec.suspend is True
    assert cronjob.spec.job_template.spec.template.spec.containers[0].image == sandbox["SANDBOX_IMAGE_REF"]
    assert apps.read_namespaced_deployment("jobintel-dashboard", namespace).spec.replicas == 1
    assert core.read_namespaced_config_map("jobintel-config", namespace).data["REDACTION_ENFORCE"] == "1"

    # The state directory holds exactly what the backup's own state archive holds.
    bucket, key = backup.parse_s3_uri(sandbox["SANDBOX_BACKUP_URI"])
    blob = sandbox.boto3_client("s3").get_object(Bucket=bucket, Key=key + "/state.tar.zst")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(zstandard.ZstdDecompressor().decompressobj().decompress(blob))) as archive:
        expected = {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}
    state_dir = tmp_path / "receipts" / "restore-1" / "state"
    found = {os.path.relpath(os.path.join(d, n), str(state_dir)): open(os.path.join(d, n), "rb").read()
             for d, _s, names in os.walk(str(state_dir)) for n in names}
    assert found == expected

    receipt = json.loads((tmp_path / "receipts" / "restore-1" / "restore.json").read_text())
    assert receipt["status"] == "success" and receipt["changed"] is True and receipt["operation"] == "dr_restore"
    assert receipt["outputs"]["bundle_sha256"] == built["sha256"]
    assert receipt["outputs"]["bundle_uri"].endswith("-%s.tar.gz" % built["sha256"][:12])
    # Every step left its own receipt under the one execution id.
    for phase in ("contract", "fetch", "pull_secret", "apply"):
        assert json.loads((tmp_path / "receipts" / "restore-1" / ("%s.json" % phase)).read_text())["status"] == "success"
    assert receipt["outputs"]["gate"] == {"object": "cronjob.batch/jobintel-daily", "passed": True}
    s3_copy = sandbox.boto3_client("s3").get_object(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Key="receipts/restore-1/restore.json")
    assert json.loads(s3_copy["Body"].read()) == receipt
    kubeconfig_token = open(sandbox["SANDBOX_DR_KUBECONFIG"]).read().split("token:")[1].split()[0].strip("'\"")
    assert kubeconfig_token not in first.stdout

    versions = {"cronjob": cronjob.metadata.resource_version, "secret": secret.metadata.resource_version,
                "sa": account.metadata.resource_version}
    second = run_playbook("dr_restore.yml", restore_vars(tmp_path, prefix, namespace, "restore-1"))
    assert second.rc == 0, second.stdout
    assert changed_tasks(second) == 0
    assert json.loads((tmp_path / "receipts" / "restore-1" / "restore.json").read_text())["changed"] is False
    assert versions == {"cronjob": batch.read_namespaced_cron_job("jobintel-daily", namespace).metadata.resource_version,
                        "secret": core.read_namespaced_secret("ecr-pull", namespace).metadata.resource_version,
                        "sa": core.read_namespaced_service_account("jobintel", namespace).metadata.resource_version}


def built_files(sandbox):
    return bundle.collect_sources(sandbox["SANDBOX_CONTROL_PLANE_SOURCE"])


def _missing_pointer(sandbox, prefix):
    return {}


def _tampered_bundle(sandbox, prefix):
    s3 = sandbox.boto3_client("s3")
    publish(sandbox, prefix)
    current = json.loads(s3.get_object(Bucket=sandbox["SANDBOX_ARTIFACT_BUCKET"], Key=prefix + "/control-plane/current.json")["Body"].read())
    bucket, key = backup.parse_s3_uri(current["bundle_uri"])
    files = built_files(sandbox)
    files["providers/anthropic.yaml"] = b"enabled: true\n"  # a consistent manifest, but not the published bytes
    s3.put_object(Bucket=bucket, Key=key, Body=bundle.build_bundle(files)["archive"])
    return {}


def _changed_backup(sandbox, prefix):
    publish(sandbox, prefix)
    s3 = sandbox.boto3_client("s3")
    bucket, source = backup.parse_s3_uri(sandbox["SANDBOX_BACKUP_URI"])
    target = "test-restore-backup/%s" % prefix
    for name in backup.CONTRACT_OBJECTS:
        s3.copy_object(Bucket=bucket, Key="%s/%s" % (target, name), CopySource={"Bucket": bucket, "Key": "%s/%s" % (source, name)})
    data = bytearray(s3.get_object(Bucket=bucket, Key=target + "/manifests.tar.zst")["Body"].read())
    data[-2] ^= 0x01
    s3.put_object(Bucket=bucket, Key=target + "/manifests.tar.zst", Body=bytes(data))
    return {"dr_bundle_backup_uri": "s3://%s/%s" % (bucket, target)}


def _schema_rejected_backup(sandbox, prefix):
    """A backup whose Deployment says ``replicas: two``: consistent checksums, but the Kubernetes schema rejects it."""
    publish(sandbox, prefix)
    s3 = sandbox.boto3_client("s3")
    bucket, source = backup.parse_s3_uri(sandbox["SANDBOX_BACKUP_URI"])
    target = "test-restore-schema/%s" % prefix
    blobs = {name: s3.get_object(Bucket=bucket, Key="%s/%s" % (source, name))["Body"].read() for name in backup.CONTRACT_OBJECTS}
    members = seed_archives.untar_zst(blobs["manifests.tar.zst"])
    for name, data in members.items():
        document = yaml.safe_load(data)
        if document.get("kind") == "Deployment":
            document["spec"]["replicas"] = "two"
            members[name] = yaml.safe_dump(document).encode()
    blobs["manifests.tar.zst"] = seed_archives.tar_zst(members)
    metadata = json.loads(blobs["metadata.json"])
    metadata["objects"] = {name: seed_archives.describe(data) for name, data in blobs.items() if name != "metadata.json"}
    blobs["metadata.json"] = json.dumps(metadata).encode()
    for name, data in blobs.items():
        s3.put_object(Bucket=bucket, Key="%s/%s" % (target, name), Body=data)
    return {"dr_bundle_backup_uri": "s3://%s/%s" % (bucket, target)}


@pytest.mark.parametrize("prepare, reason, words, phase", [
    (_missing_pointer, "control_plane_pointer_missing", "publish from primary first", "fetch"),
    # Validated offline against the DR cluster's schema version before the first write: nothing reaches the cluster.
    (_schema_rejected_backup, "k8s_manifest_invalid", "deployment/jobintel-dashboard does not validate against the kubernetes 1.32 schema at spec.replicas",
     "restore_validate"),
    (_tampered_bundle, "bundle_hash_mismatch", "republish from primary", "fetch"),
    (_changed_backup, "backup_checksum_mismatch", "manifests.tar.zst has sha256", "contract"),
])
def test_restore_refuses_before_any_change_in_the_cluster(sandbox, run_playbook, tmp_path, prepare, reason, words, phase):
    prefix, namespace = "test-refuse-%s" % uuid.uuid4().hex[:10], "dr-%s" % uuid.uuid4().hex[:10]
    extra = prepare(sandbox, prefix)
    result = run_playbook("dr_restore.yml", restore_vars(tmp_path, prefix, namespace, "refused", **extra))
    assert result.rc != 0
    assert "reason=%s" % reason in result.stdout and words in result.stdout.lower()
    # The failed step's own receipt says why; the restore step never ran.
    receipt = json.loads((tmp_path / "receipts" / "refused" / ("%s.json" % phase)).read_text())
    assert receipt["status"] == "failed" and receipt["failure_code"] == reason
    assert not (tmp_path / "receipts" / "refused" / "restore.json").exists()
    assert namespace not in namespaces(k8s_client.CoreV1Api(sandbox.k8s_api_client("dr")))
