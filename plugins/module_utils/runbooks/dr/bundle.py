# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The control-plane bundle: deterministic archive + manifest, verification, ConfigMap rendering.

A bundle is ``control-plane/{candidates,alerts,providers,scoring}/...`` plus
``control-plane/manifest.json`` (per-file sha256 and size), as a deterministic ``tar.gz``: the same
files always give the same bytes, so the bundle is named by its sha256 and publishing unchanged
content is a no-op. Provenance (git sha, image digest, time) lives in the pointer, not in the bytes.

No S3 or Kubernetes here (see control_plane.py and the modules): only bytes and files.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import re

from ansible_collections.signalcraft.ops.plugins.module_utils.services import archives
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError, safe_relative_path, validate_k8s_name

SECTIONS = ("candidates", "alerts", "providers", "scoring")
ROOT = "control-plane"
MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA_VERSION = "control_plane_manifest.v1"
# The API server's limit on a ConfigMap's data + binaryData values (core.MaxSecretSize).
CONFIGMAP_MAX_BYTES = 1024 * 1024
_CONFIGMAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_CONFIGMAP_KEY_MAX = 253
# What a status line field value may be (core/status_line.py refuses anything else).
_LINE_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/+-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
LABEL_SECTION = "signalcraft.ops/control-plane-section"
ANNOTATION_CONTENT = "signalcraft.ops/content-sha256"
ANNOTATION_PATHS = "signalcraft.ops/source-paths"


def line_fields(*pairs):
    """Status line ``(name, value)`` pairs without empty values and values that are not tokens (a path with spaces)."""
    fields = []
    for name, value in pairs:
        if value is None or value == "":
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if _LINE_TOKEN.match(text):
            fields.append((name, value))
    return fields


def collect_sources(source_dir, sections=SECTIONS):
    """``{"<section>/<relative path>": bytes}`` of every file under the sections of ``source_dir``.

    Fails (GuardError ``bundle_source_invalid``) when a section directory is missing, when the
    sources hold a symlink or anything but regular files and directories, or when there are no
    files at all -- a bundle of nothing would wipe the DR ConfigMaps.
    """
    if source_dir and "REPLACE_" in source_dir:
        raise GuardError("inventory_placeholder", "dr_bundle_source_dir is still the placeholder %r; set it in "
                                                  "inventories/<env>/group_vars/all/dr_bundle.yml or pass -e dr_bundle_source_dir=<dir>."
                         % source_dir)
    if not source_dir or not os.path.isdir(source_dir):
        raise GuardError("bundle_source_invalid", "dr_bundle_source_dir %r is not a directory; point it at the control-plane "
                                                  "sources (a directory holding %s)." % (source_dir, ", ".join(sections)))
    files = {}
    for section in sections:
        top = os.path.join(source_dir, section)
        if os.path.islink(top) or not os.path.isdir(top):
            raise GuardError("bundle_source_invalid", "dr_bundle_source_dir %s has no %s/ directory (a real directory, not a link); "
                                                      "create it (it may be empty) or fix dr_bundle_source_dir." % (source_dir, section))
        for directory, subdirs, names in os.walk(top):
            subdirs.sort()
            for name in list(subdirs) + sorted(names):
                path = os.path.join(directory, name)
                relative = os.path.relpath(path, source_dir).replace(os.sep, "/")
                if os.path.islink(path):
                    raise GuardError("bundle_source_invalid", "%s is a symbolic link; bundles hold regular files only." % path)
                if name in subdirs:
                    continue
                if not os.path.isfile(path):
                    raise GuardError("bundle_source_invalid", "%s is not a regular file; bundles hold regular files only." % path)
                with open(path, "rb") as handle:
                    files[safe_relative_path(relative)] = handle.read()
    if not files:
        raise GuardError("bundle_source_invalid", "dr_bundle_source_dir %s holds no files under %s; refusing to publish an empty bundle." % (
            source_dir, ", ".join(sections)))
    return files


def build_manifest(files, sections=SECTIONS):
    """The manifest: schema version, sections, and per-file path/sha256/size, sorted by path."""
    entries = [{"path": path, "sha256": archives.sha256_hex(data), "size": len(data)} for path, data in sorted(files.items())]
    return {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "sections": list(sections),
        "files": entries,
        "file_count": len(entries),
        "total_bytes": sum(e["size"] for e in entries),
    }


def manifest_bytes(manifest):
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")


def build_bundle(files, sections=SECTIONS):
    """``{"archive": bytes, "sha256", "size", "manifest"}`` for ``{path: bytes}`` from collect_sources."""
    manifest = build_manifest(files, sections)
    members = dict(("%s/%s" % (ROOT, path), data) for path, data in files.items())
    members["%s/%s" % (ROOT, MANIFEST_NAME)] = manifest_bytes(manifest)
    archive = archives.deterministic_tar_gz(members)
    return {"archive": archive, "sha256": archives.sha256_hex(archive), "size": len(archive), "manifest": manifest}


def verify_files(files, manifest, label="bundle"):
    """Check ``{path: bytes}`` (paths relative to ``control-plane/``) against a manifest.

    Every manifest entry must be present with its sha256 and size, and no file may be present that
    the manifest does not list. Raises GuardError ``bundle_manifest_mismatch``.
    """
    if not isinstance(manifest, dict) or manifest.get("schema_version") != MANIFEST_SCHEMA_VERSION \
            or not isinstance(manifest.get("files"), list):
        raise GuardError("bundle_manifest_invalid", "%s: manifest.json is not a %s document." % (label, MANIFEST_SCHEMA_VERSION))
    listed = {}
    for entry in manifest["files"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not _SHA256.match(str(entry.get("sha256"))):
            raise GuardError("bundle_manifest_invalid", "%s: manifest entry %r needs a path and a sha256." % (label, entry))
        listed[safe_relative_path(entry["path"])] = entry
    problems = []
    for path, entry in sorted(listed.items()):
        if path not in files:
            problems.append("%s is listed but missing" % path)
        elif archives.sha256_hex(files[path]) != entry["sha256"] or len(files[path]) != entry.get("size", len(files[path])):
            problems.append("%s does not match its sha256/size" % path)
    for path in sorted(set(files) - set(listed)):
        problems.append("%s is not in the manifest" % path)
    if problems:
        raise GuardError("bundle_manifest_mismatch", "%s was modified after it was published: %s. Republish the bundle from "
                                                     "primary; nothing was applied." % (label, "; ".join(problems)))
    return listed


def open_bundle(archive, expected_sha256=None, label="bundle"):
    """Verify a bundle archive completely and return ``{"files", "manifest", "sha256"}``.

    Order: whole-archive sha256 (when expected), then every member's safety, then the manifest.
    Nothing is written; callers extract only after this returned.
    """
    actual = archives.sha256_hex(archive)
    if expected_sha256 and actual != expected_sha256:
        raise GuardError("bundle_hash_mismatch", "%s has sha256 %s but current.json says %s; the object was changed or "
                                                 "replaced after publishing. Republish from primary; nothing was applied." % (
                                                     label, actual, expected_sha256))
    members = archives.read_members(archives.decompress(archive, "gz"), label=label)
    files = {}
    for path, data in members.items():
        head, sep, rest = path.partition("/")
        if head != ROOT or not sep or not rest:
            raise GuardError("unsafe_archive_member", "%s: member %r is outside %s/." % (label, path, ROOT))
        files[rest] = data
    if MANIFEST_NAME not in files:
        raise GuardError("bundle_manifest_invalid", "%s has no %s/%s." % (label, ROOT, MANIFEST_NAME))
    try:
        manifest = json.loads(files.pop(MANIFEST_NAME).decode("utf-8"))
    except ValueError as exc:
        raise GuardError("bundle_manifest_invalid", "%s: manifest.json is not JSON: %s" % (label, exc))
    verify_files(files, manifest, label)
    return {"files": files, "manifest": manifest, "sha256": actual}


def read_bundle_dir(bundle_dir):
    """Read an extracted bundle directory (``.../control-plane``) and verify it against its manifest."""
    manifest_path = os.path.join(bundle_dir or "", MANIFEST_NAME)
    if not bundle_dir or not os.path.isfile(manifest_path):
        raise GuardError("bundle_dir_invalid", "dr_bundle_dir %r has no %s; fetch the bundle first (playbooks/fetch_bundle.yml) "
                                               "and pass its control-plane directory." % (bundle_dir, MANIFEST_NAME))
    with open(manifest_path, "rb") as handle:
        try:
            manifest = json.loads(handle.read().decode("utf-8"))
        except ValueError as exc:
            raise GuardError("bundle_manifest_invalid", "%s is not JSON: %s" % (manifest_path, exc))
    files = {}
    for directory, _subdirs, names in os.walk(bundle_dir):
        for name in names:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, bundle_dir).replace(os.sep, "/")
            if relative == MANIFEST_NAME:
                continue
            if os.path.islink(path) or not os.path.isfile(path):
                raise GuardError("unsafe_archive_member", "%s is not a regular file." % path)
            with open(path, "rb") as handle:
                files[relative] = handle.read()
    verify_files(files, manifest, label=bundle_dir)
    return {"files": files, "manifest": manifest}


def configmap_key(relative_path):
    """A ConfigMap data key for a path inside a section: ``/`` becomes ``__``, other invalid characters ``_``."""
    key = relative_path.replace("/", "__")
    key = re.sub(r"[^-._a-zA-Z0-9]", "_", key)
    if key in (".", ".."):
        key = key.replace(".", "_")
    return key


def configmap_name(section, name_prefix="control-plane"):
    return validate_k8s_name("%s-%s" % (name_prefix, section), kind="ConfigMap")


def render_configmaps(files, namespace, sections=SECTIONS, name_prefix="control-plane", labels=None):
    """One ConfigMap per section, deterministic; keys made valid, collisions and >1 MiB refused.

    UTF-8 text goes to ``data``, anything else to ``binaryData``. Each ConfigMap carries the
    sha256 of its section's content and the key -> source path map as annotations.
    """
    validate_k8s_name(namespace, kind="namespace", label=True)
    rendered = []
    for section in sections:
        name = configmap_name(section, name_prefix)
        data, binary, paths, size = {}, {}, {}, 0
        prefix = section + "/"
        for path in sorted(p for p in files if p.startswith(prefix)):
            key = configmap_key(path[len(prefix):])
            if len(key) > _CONFIGMAP_KEY_MAX or not _CONFIGMAP_KEY.match(key):
                raise GuardError("configmap_key_invalid", "%s cannot become a ConfigMap key (got %r, must match [-._a-zA-Z0-9]+ "
                                                          "and be at most %d characters); rename the file." % (path, key, _CONFIGMAP_KEY_MAX))
            if key in paths:
                raise GuardError("configmap_key_collision", "%s and %s both become key %r of ConfigMap %s; rename one of them." % (
                    paths[key], path, key, name))
            paths[key] = path
            content = files[path]
            try:
                data[key] = content.decode("utf-8")
            except UnicodeDecodeError:
                binary[key] = base64.b64encode(content).decode("ascii")
            size += len(content)
        if size > CONFIGMAP_MAX_BYTES:
            raise GuardError("configmap_too_large", "ConfigMap %s (section %s/) would hold %d bytes, over the Kubernetes limit of "
                                                    "1 MiB (%d bytes); split the section or move large files out of the bundle. "
                                                    "Nothing was applied." % (name, section, size, CONFIGMAP_MAX_BYTES))
        content_hash = archives.sha256_hex(json.dumps([[k, archives.sha256_hex(files[paths[k]])] for k in sorted(paths)]).encode())
        metadata = {
            "name": name, "namespace": namespace,
            "labels": dict(labels or {}, **{"app.kubernetes.io/managed-by": "signalcraft.ops", LABEL_SECTION: section}),
            "annotations": {ANNOTATION_CONTENT: content_hash, ANNOTATION_PATHS: json.dumps(paths, sort_keys=True)},
        }
        configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}
        if binary:
            configmap["binaryData"] = binary
        rendered.append(configmap)
    return rendered


def to_yaml(documents):
    """Deterministic multi-document YAML (sorted keys, block scalars for multi-line text)."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper, value):
        # PyYAML falls back to a quoted style by itself when a literal block cannot hold the text.
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    chunks = [yaml.dump(doc, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=4096)
              for doc in documents]
    return "".join("---\n" + chunk for chunk in chunks)
