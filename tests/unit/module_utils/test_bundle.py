"""bundle.py and archives.py: deterministic bytes, verification, hostile archives, ConfigMap rendering."""

import base64
import gzip
import io
import json
import os
import shutil
import tarfile

import pytest
import yaml

from ansible_collections.signalcraft.ops.plugins.module_utils.services import archives
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import bundle
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from tests.conftest import REPO_ROOT

SOURCE = os.path.join(REPO_ROOT, "tests", "sandbox", "seed", "fixtures", "control-plane")


def _copy_source(tmp_path, name="src"):
    target = tmp_path / name
    shutil.copytree(SOURCE, str(target))
    return target


def test_same_content_gives_the_same_bytes_whatever_the_mtimes_and_directory(tmp_path):
    first = bundle.build_bundle(bundle.collect_sources(SOURCE))
    copy = _copy_source(tmp_path)
    for directory, _subdirs, names in os.walk(str(copy)):
        for name in names:
            os.utime(os.path.join(directory, name), (1000000000, 1000000000))
            os.chmod(os.path.join(directory, name), 0o600)
    second = bundle.build_bundle(bundle.collect_sources(str(copy)))
    assert first["archive"] == second["archive"] and first["sha256"] == second["sha256"]
    # The gzip header carries no file name and no time; members are root-owned with the fixed mtime.
    assert first["archive"][3] == 0 and first["archive"][4:8] == b"\x00\x00\x00\x00"
    with tarfile.open(fileobj=io.BytesIO(first["archive"]), mode="r:gz") as archive:
        members = archive.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert "control-plane/manifest.json" in names and "control-plane/alerts/rules.yaml" in names
    assert {(m.mtime, m.uid, m.gid, m.mode, m.uname) for m in members} == {(archives.FIXED_MTIME, 0, 0, 0o644, "")}


def test_changed_content_changes_the_hash_and_the_manifest_lists_every_file(tmp_path):
    copy = _copy_source(tmp_path)
    before = bundle.build_bundle(bundle.collect_sources(str(copy)))
    (copy / "scoring" / "weights.yaml").write_text("weights: {}\n")
    after = bundle.build_bundle(bundle.collect_sources(str(copy)))
    assert before["sha256"] != after["sha256"]
    entries = {e["path"]: e for e in after["manifest"]["files"]}
    assert set(entries) == {"alerts/routing.json", "alerts/rules.yaml", "candidates/local.yaml", "providers/anthropic.yaml",
                            "providers/openai.yaml", "scoring/weights.yaml"}
    assert entries["scoring/weights.yaml"]["size"] == len(b"weights: {}\n")


def test_sources_with_links_or_missing_sections_are_refused(tmp_path):
    copy = _copy_source(tmp_path)
    os.symlink("/etc/passwd", str(copy / "alerts" / "passwd"))
    with pytest.raises(GuardError) as refused:
        bundle.collect_sources(str(copy))
    assert refused.value.reason == "bundle_source_invalid" and "symbolic link" in refused.value.message
    other = _copy_source(tmp_path, "other")
    shutil.rmtree(str(other / "scoring"))
    with pytest.raises(GuardError, match="no scoring/ directory"):
        bundle.collect_sources(str(other))


def test_open_bundle_round_trips_and_refuses_a_wrong_hash():
    built = bundle.build_bundle(bundle.collect_sources(SOURCE))
    opened = bundle.open_bundle(built["archive"], built["sha256"])
    assert opened["files"] == bundle.collect_sources(SOURCE)
    with pytest.raises(GuardError) as refused:
        bundle.open_bundle(built["archive"], "0" * 64)
    assert refused.value.reason == "bundle_hash_mismatch"


def _gz(members, extra=None):
    """A tar.gz of {name: bytes} plus raw TarInfo entries (links, devices) -- built by hand, as an attacker would."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra or []:
            archive.addfile(info)
    return gzip.compress(raw.getvalue())


def _valid_members(files=None):
    files = files if files is not None else {"alerts/rules.yaml": b"rules: []\n"}
    members = {"control-plane/" + p: d for p, d in files.items()}
    members["control-plane/manifest.json"] = bundle.manifest_bytes(bundle.build_manifest(files))
    return members


def _link(name, kind, target="x"):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize("extra_member, extra_info, reason", [
    ({"control-plane/../../etc/cron.d/evil": b"x"}, None, "unsafe_path"),
    ({"/etc/passwd": b"x"}, None, "unsafe_path"),
    ({}, _link("control-plane/alerts/link", tarfile.SYMTYPE, "/etc/passwd"), "unsafe_archive_member"),
    ({}, _link("control-plane/alerts/hard", tarfile.LNKTYPE, "control-plane/alerts/rules.yaml"), "unsafe_archive_member"),
    ({}, _link("control-plane/alerts/dev", tarfile.CHRTYPE), "unsafe_archive_member"),
    ({}, _link("control-plane/alerts/fifo", tarfile.FIFOTYPE), "unsafe_archive_member"),
    ({"elsewhere/file": b"x"}, None, "unsafe_archive_member"),
])
def test_hostile_archive_members_refuse_the_whole_bundle(extra_member, extra_info, reason):
    members = _valid_members()
    members.update(extra_member)
    data = _gz(members, [extra_info] if extra_info else None)
    with pytest.raises(GuardError) as refused:
        bundle.open_bundle(data, archives.sha256_hex(data))
    assert refused.value.reason == reason


@pytest.mark.parametrize("mutate, problem", [
    (lambda m: m.update({"control-plane/alerts/rules.yaml": b"rules: [evil]\n"}), "does not match"),
    (lambda m: m.pop("control-plane/alerts/rules.yaml"), "listed but missing"),
    (lambda m: m.update({"control-plane/alerts/extra.yaml": b"x: 1\n"}), "not in the manifest"),
])
def test_a_tampered_manifest_entry_is_refused(mutate, problem):
    members = _valid_members()
    mutate(members)
    data = _gz(members)
    with pytest.raises(GuardError) as refused:
        bundle.open_bundle(data, archives.sha256_hex(data))
    assert refused.value.reason == "bundle_manifest_mismatch" and problem in refused.value.message


def test_write_tree_is_idempotent_prunes_and_refuses_symlinks(tmp_path):
    dest = tmp_path / "out"
    files = {"a/b.txt": b"1", "c.txt": b"2"}
    assert archives.write_tree(str(dest), files, check_mode=True) == ["a/b.txt", "c.txt"]
    assert not dest.exists()
    assert archives.write_tree(str(dest), files) == ["a/b.txt", "c.txt"]
    assert archives.write_tree(str(dest), files) == []
    (dest / "stale.txt").write_bytes(b"old")
    assert archives.write_tree(str(dest), files, prune=True) == ["stale.txt"]
    assert not (dest / "stale.txt").exists()
    os.unlink(str(dest / "c.txt"))
    os.symlink("/etc/hostname", str(dest / "c.txt"))
    with pytest.raises(GuardError, match="symbolic link"):
        archives.write_tree(str(dest), files)


def test_read_bundle_dir_notices_a_file_edited_after_the_fetch(tmp_path):
    built = bundle.build_bundle(bundle.collect_sources(SOURCE))
    opened = bundle.open_bundle(built["archive"], built["sha256"])
    files = dict(opened["files"], **{"manifest.json": bundle.manifest_bytes(opened["manifest"])})
    archives.write_tree(str(tmp_path), files)
    assert bundle.read_bundle_dir(str(tmp_path))["files"] == opened["files"]
    (tmp_path / "providers" / "openai.yaml").write_text("enabled: false\n")
    with pytest.raises(GuardError) as refused:
        bundle.read_bundle_dir(str(tmp_path))
    assert refused.value.reason == "bundle_manifest_mismatch"


def test_configmaps_are_deterministic_with_valid_keys_and_binary_data():
    files = {"alerts/rules.yaml": b"a: 1\n", "alerts/sub dir/r@1.yaml": b"b: 2\n", "scoring/model.bin": b"\xff\x00\xfe",
             "candidates/x.yaml": b"c: 3\n"}
    rendered = bundle.render_configmaps(files, "jobintel")
    expected = ["control-plane-candidates", "control-plane-alerts", "control-plane-providers", "control-plane-scoring"]
    assert [c["metadata"]["name"] for c in rendered] == expected
    alerts = rendered[1]
    assert sorted(alerts["data"]) == ["rules.yaml", "sub_dir__r_1.yaml"]
    assert json.loads(alerts["metadata"]["annotations"][bundle.ANNOTATION_PATHS])["sub_dir__r_1.yaml"] == "alerts/sub dir/r@1.yaml"
    assert base64.b64decode(rendered[3]["binaryData"]["model.bin"]) == b"\xff\x00\xfe"
    assert rendered[2]["data"] == {}
    text = bundle.to_yaml(rendered)
    assert text == bundle.to_yaml(bundle.render_configmaps(dict(reversed(list(files.items()))), "jobintel"))
    assert list(yaml.safe_load_all(text)) == rendered


def test_key_collisions_and_configmaps_over_one_mib_are_refused():
    with pytest.raises(GuardError) as collision:
        bundle.render_configmaps({"alerts/a b.yaml": b"1", "alerts/a_b.yaml": b"2"}, "jobintel")
    assert collision.value.reason == "configmap_key_collision"
    big = {"scoring/a.txt": b"x" * (bundle.CONFIGMAP_MAX_BYTES // 2), "scoring/b.txt": b"y" * (bundle.CONFIGMAP_MAX_BYTES // 2 + 1)}
    with pytest.raises(GuardError) as too_large:
        bundle.render_configmaps(big, "jobintel")
    assert too_large.value.reason == "configmap_too_large"
    assert "control-plane-scoring" in too_large.value.message and "1048576" in too_large.value.message
    exact = {"scoring/a.txt": b"x" * bundle.CONFIGMAP_MAX_BYTES}
    assert len(bundle.render_configmaps(exact, "jobintel")[3]["data"]["a.txt"]) == bundle.CONFIGMAP_MAX_BYTES


def test_an_invalid_namespace_is_refused_before_rendering():
    with pytest.raises(GuardError) as refused:
        bundle.render_configmaps({"alerts/a": b"1"}, "Not_A_Namespace")
    assert refused.value.reason == "invalid_name"


def test_a_multi_frame_zst_archive_is_read_whole():
    """pzstd and concatenated zstd streams give several frames; stopping after the first would drop members silently."""
    zstandard = pytest.importorskip("zstandard")
    raw = archives.deterministic_tar({"a.yaml": b"a" * 600, "b.yaml": b"b" * 10})
    split = 512 + 1024  # header + padded data of a.yaml: the first frame ends on a member boundary
    compressor = zstandard.ZstdCompressor()
    data = compressor.compress(raw[:split]) + compressor.compress(raw[split:])
    assert archives.decompress(data, "zst") == raw
    assert archives.read_members(archives.decompress(data, "zst")) == {"a.yaml": b"a" * 600, "b.yaml": b"b" * 10}


def test_unset_and_placeholder_inputs_are_refused_before_any_client(tmp_path):
    from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import control_plane

    for value, reason in (("", "bucket_unset"), ("  ", "bucket_unset"), ("REPLACE_WITH_BUCKET", "inventory_placeholder")):
        with pytest.raises(GuardError) as refused:
            control_plane.require_bucket(value, "dr_bundle_bucket")
        assert refused.value.reason == reason and "dr_bundle_bucket" in refused.value.message
    assert control_plane.require_bucket("jobintel-artifacts") == "jobintel-artifacts"
    with pytest.raises(GuardError) as refused:
        bundle.collect_sources("REPLACE_WITH_CONTROL_PLANE_SOURCE_DIR")
    assert refused.value.reason == "inventory_placeholder" and "dr_bundle_source_dir" in refused.value.message


def test_write_errors_are_local_write_failed(tmp_path):
    from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OpsError) as failed:
        archives.write_tree(str(blocker / "sub"), {"a.txt": b"x"})
    assert failed.value.reason == "local_write_failed"


def test_line_fields_keep_only_tokens():
    assert bundle.line_fields(("a", 1), ("b", None), ("c", ""), ("d", "/tmp/with space"), ("e", True)) == [("a", 1), ("e", True)]
