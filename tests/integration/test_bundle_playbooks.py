"""publish_bundle.yml, fetch_bundle.yml and apply_bundle.yml (render-only) against the sandbox.

Applying the ConfigMaps to a cluster is covered end to end by test_dr_restore.py.

State is read back independently: S3 objects and versions with boto3, ConfigMaps with the kubernetes
client, files and receipts on disk. Every test uses its own S3 prefix and namespace.
"""

import hashlib
import json
import os
import shutil
import uuid

import yaml
from kubernetes import client as k8s_client

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import bundle


def changed_tasks(run):
    stats = [e for e in run.events if e.get("event") == "playbook_on_stats"][0]["event_data"]
    return sum((stats.get("changed") or {}).values())


def flat(run):
    """The run's output with the callback's line wrapping undone (status lines are long)."""
    return " ".join(run.stdout.split())


def source_files(sandbox):
    return bundle.collect_sources(sandbox["SANDBOX_CONTROL_PLANE_SOURCE"])


def list_keys(s3, bucket, prefix):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def test_publish_is_deterministic_idempotent_and_check_mode_writes_nothing(sandbox, run_playbook, tmp_path):
    s3 = sandbox.boto3_client("s3")
    bucket, prefix = sandbox["SANDBOX_ARTIFACT_BUCKET"], "test-bundle-%s" % uuid.uuid4().hex[:10]
    receipts = tmp_path / "receipts"
    extravars = {"dr_bundle_prefix": prefix, "signalcraft_receipt_root": str(receipts), "execution_id": "pub-check"}

    checked = run_playbook("publish_bundle.yml", extravars, check=True)
    assert checked.rc == 0, checked.stdout
    assert list_keys(s3, bucket, prefix + "/") == []
    assert not (receipts / "pub-check").exists()
    assert "publish_bundle status=planned" in flat(checked) and "would_upload=true pointer=would_move" in flat(checked)

    extravars["execution_id"] = "pub-1"
    first = run_playbook("publish_bundle.yml", extravars)
    assert first.rc == 0, first.stdout
    bundles = list_keys(s3, bucket, prefix + "/control-plane/bundles/")
    assert len(bundles) == 1
    body = s3.get_object(Bucket=bucket, Key=bundles[0])["Body"].read()
    current = json.loads(s3.get_object(Bucket=bucket, Key=prefix + "/control-plane/current.json")["Body"].read())
    sha = hashlib.sha256(body).hexdigest()
    assert current["bundle_sha256"] == sha and current["bundle_uri"] == "s3://%s/%s" % (bucket, bundles[0])
    assert bundles[0].endswith("-%s.tar.gz" % sha[:12])
    assert current["image_ref_digest"] == sandbox["SANDBOX_IMAGE_REF"]
    assert set(current) >= {"bundle_uri", "bundle_sha256", "created_at", "git_sha", "image_ref_digest"}
    # The same bytes an independent build of the same sources gives.
    assert body == bundle.build_bundle(source_files(sandbox))["archive"]
    receipt = json.loads((receipts / "pub-1" / "publish.json").read_text())
    assert receipt["status"] == "success" and receipt["changed"] is True and receipt["outputs"]["bundle_sha256"] == sha
    assert "publish_bundle status=ok bundle_uri=%s bundle_sha256=%s uploaded=true pointer=moved" % (current["bundle_uri"], sha) in flat(first)

    # Same content from another directory with other mtimes: same hash, nothing written.
    copy = tmp_path / "copy"
    shutil.copytree(sandbox["SANDBOX_CONTROL_PLANE_SOURCE"], str(copy))
    for directory, _subdirs, names in os.walk(str(copy)):
        for name in names:
            os.utime(os.path.join(directory, name), (1500000000, 1500000000))
    extravars.update(execution_id="pub-2", dr_bundle_source_dir=str(copy), dr_bundle_git_sha=current["git_sha"])
    second = run_playbook("publish_bundle.yml", extravars)
    assert second.rc == 0, second.stdout
    assert changed_tasks(second) == 0
    assert "uploaded=false pointer=unchanged" in flat(second)
    assert list_keys(s3, bucket, prefix + "/control-plane/bundles/") == bundles
    versions = s3.list_object_versions(Bucket=bucket, Prefix=prefix + "/control-plane/current.json").get("Versions", [])
    assert len(versions) == 1


def test_fetch_verifies_and_extracts_and_render_only_writes_yaml(sandbox, run_playbook, tmp_path):
    s3 = sandbox.boto3_client("s3")
    prefix, namespace = "test-fetch-%s" % uuid.uuid4().hex[:10], "cp-%s" % uuid.uuid4().hex[:10]
    common = {"dr_bundle_prefix": prefix, "signalcraft_receipt_root": str(tmp_path / "receipts"), "dr_bundle_namespace": namespace}
    assert run_playbook("publish_bundle.yml", dict(common, execution_id="pub")).rc == 0

    fetched = run_playbook("fetch_bundle.yml", dict(common, execution_id="fetch", dr_bundle_dest_dir=str(tmp_path / "fetch")))
    assert fetched.rc == 0, fetched.stdout
    bundle_dir = tmp_path / "fetch" / "bundle" / "control-plane"
    on_disk = {os.path.relpath(os.path.join(d, n), str(bundle_dir)): open(os.path.join(d, n), "rb").read()
               for d, _s, names in os.walk(str(bundle_dir)) for n in names}
    manifest = json.loads(on_disk.pop("manifest.json"))
    assert on_disk == source_files(sandbox)
    assert {e["path"]: e["sha256"] for e in manifest["files"]} == {p: hashlib.sha256(d).hexdigest() for p, d in on_disk.items()}
    current = json.loads(s3.get_object(Bucket=sandbox["SANDBOX_ARTIFACT_BUCKET"], Key=prefix + "/control-plane/current.json")["Body"].read())
    fetch_receipt = json.loads((tmp_path / "receipts" / "fetch" / "fetch.json").read_text())
    assert fetch_receipt["outputs"]["bundle_sha256"] == current["bundle_sha256"]

    api = k8s_client.CoreV1Api(sandbox.k8s_api_client("dr"))
    output = tmp_path / "control-plane.configmaps.yaml"
    rendered = run_playbook("apply_bundle.yml", dict(common, execution_id="render", dr_bundle_dir=str(bundle_dir),
                                                     dr_bundle_render_only=True, dr_bundle_output_yaml=str(output)))
    assert rendered.rc == 0, rendered.stdout
    documents = list(yaml.safe_load_all(output.read_text()))
    assert [d["metadata"]["name"] for d in documents] == ["control-plane-%s" % s for s in bundle.SECTIONS]
    assert namespace not in [n.metadata.name for n in api.list_namespace().items]  # render-only never talks to the cluster
    assert documents[2]["data"]["openai.yaml"] == source_files(sandbox)["providers/openai.yaml"].decode()
