# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Archives: deterministic tar writing and tar reading that refuses anything but plain files.

Writing: sorted members, fixed mtime/owner/mode, gzip without a file name or timestamp in its header,
so equal content always gives equal bytes and an equal sha256 (a bundle is named by its hash).

Reading: every archive we read comes from S3 and is extracted next to receipts on an operator's
machine, so a member that is absolute, climbs out with ``..``, is a link, a device or a FIFO, or is
duplicated refuses the whole archive before a single byte is written. Sizes are capped so a hostile
archive cannot fill the disk (a zstd frame can expand a thousandfold).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import hashlib
import io
import os
import tarfile

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError, safe_relative_path

try:
    import zstandard
    HAS_ZSTANDARD = True
except ImportError:  # pragma: no cover - reported when a .tar.zst is actually read
    HAS_ZSTANDARD = False

# 2026-01-01T00:00:00Z: every member carries it, so the build time never leaks into the bytes.
FIXED_MTIME = 1767225600
FILE_MODE = 0o644
# Defaults for what one archive may expand to; callers can lower or raise them.
MAX_MEMBER_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 512 * 1024 * 1024
MAX_MEMBERS = 10000


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def deterministic_tar(members):
    """An uncompressed tar of ``{archive path: bytes}``: sorted, root-owned, mode 0644, fixed mtime.

    PAX format so long or non-ASCII names survive; with integer mtimes and plain owners tarfile
    writes no extended header unless a name needs one, and that header is itself deterministic.
    """
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(members):
            info = tarfile.TarInfo(safe_relative_path(name))
            info.size = len(members[name])
            info.mtime = FIXED_MTIME
            info.mode = FILE_MODE
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            archive.addfile(info, io.BytesIO(members[name]))
    return raw.getvalue()


def deterministic_tar_gz(members):
    """``deterministic_tar`` gzipped with an empty file name and mtime 0 in the gzip header."""
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as handle:
        handle.write(deterministic_tar(members))
    return out.getvalue()


def decompress(data, compression, max_total_bytes=MAX_TOTAL_BYTES):
    """Raw tar bytes from ``gz``, ``zst`` or ``none``; refuses output over ``max_total_bytes``."""
    if compression == "none":
        return data
    try:
        if compression == "gz":
            with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as handle:
                raw = handle.read(max_total_bytes + 1)
        elif compression == "zst":
            if not HAS_ZSTANDARD:
                raise RuntimeError("the zstandard Python library is required to read .tar.zst archives")
            # A .zst may hold several frames (pzstd, zstd of concatenated streams); zstd -d reads them all.
            reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
            raw = reader.read(max_total_bytes + 1)
        else:
            raise ValueError("unknown compression %r (gz, zst or none)" % compression)
    except (OSError, EOFError) as exc:
        raise GuardError("archive_corrupt", "the archive cannot be decompressed (%s): %s" % (compression, exc))
    except Exception as exc:  # zstandard.ZstdError has no stable import path across versions
        if type(exc).__name__ == "ZstdError":
            raise GuardError("archive_corrupt", "the archive cannot be decompressed (zst): %s" % exc)
        raise
    if len(raw) > max_total_bytes:
        raise GuardError("archive_too_large", "the archive expands to more than %d bytes; refusing to read it." % max_total_bytes)
    return raw


def _member_kind(member):
    if member.issym():
        return "a symbolic link"
    if member.islnk():
        return "a hard link"
    if member.ischr() or member.isblk():
        return "a device file"
    if member.isfifo():
        return "a FIFO"
    if member.isdir():
        return "directory"
    if member.isfile():
        return "file"
    return "an unsupported member type %r" % member.type


def read_members(raw_tar, label="archive", max_member_bytes=MAX_MEMBER_BYTES, max_members=MAX_MEMBERS):
    """``{normalised path: bytes}`` of every regular file in an uncompressed tar.

    Raises GuardError (reason ``unsafe_archive_member``, ``unsafe_path`` or ``archive_corrupt``)
    before returning anything when any member is unsafe, so callers can verify the whole archive
    before they write. Directory entries are accepted and ignored.
    """
    files = {}
    try:
        archive = tarfile.open(fileobj=io.BytesIO(raw_tar), mode="r:")
    except tarfile.TarError as exc:
        raise GuardError("archive_corrupt", "%s is not a readable tar archive: %s" % (label, exc))
    with archive:
        try:
            members = archive.getmembers()
        except tarfile.TarError as exc:
            raise GuardError("archive_corrupt", "%s is not a readable tar archive: %s" % (label, exc))
        if len(members) > max_members:
            raise GuardError("archive_too_large", "%s has %d members, more than the %d allowed." % (label, len(members), max_members))
        for member in members:
            try:
                path = safe_relative_path(member.name)
            except GuardError as exc:
                raise GuardError(exc.reason, "%s: %s" % (label, exc.message))
            kind = _member_kind(member)
            if kind == "directory":
                continue
            if kind != "file":
                raise GuardError("unsafe_archive_member",
                                 "%s: member %r is %s; only regular files are accepted (rebuild the archive without it)." % (
                                     label, member.name, kind))
            if member.size > max_member_bytes:
                raise GuardError("archive_too_large", "%s: member %r is %d bytes, over the %d allowed." % (
                    label, member.name, member.size, max_member_bytes))
            if path in files:
                raise GuardError("unsafe_archive_member", "%s: member %r appears twice; refusing an ambiguous archive." % (label, path))
            handle = archive.extractfile(member)
            files[path] = handle.read() if handle is not None else b""
    return files


def write_tree(dest_dir, files, prune=False, check_mode=False):
    """Make ``dest_dir`` hold exactly ``files``; see ``_write_tree``. A disk error is OpsError ``local_write_failed``."""
    try:
        return _write_tree(dest_dir, files, prune=prune, check_mode=check_mode)
    except OSError as exc:
        raise OpsError("local_write_failed", "cannot write under %s: %s; fix the directory's permissions or free space, "
                                             "or choose another directory." % (dest_dir, exc))


def _write_tree(dest_dir, files, prune=False, check_mode=False):
    """Make ``dest_dir`` hold exactly ``files`` (``{relative path: bytes}``); return changed paths.

    Each file is written atomically and only when its bytes differ, so a second run changes
    nothing. With ``prune`` files under ``dest_dir`` that are not in ``files`` are removed. Paths
    were normalised by ``read_members``; they are checked again here because this writes to disk.
    Existing symlinks inside ``dest_dir`` are refused rather than followed.
    """
    changed = []
    root = os.path.realpath(dest_dir)
    for relative in sorted(files):
        relative = safe_relative_path(relative)
        path = os.path.join(root, relative)
        parent = os.path.dirname(path)
        if os.path.realpath(parent) != parent and os.path.exists(parent):
            raise GuardError("unsafe_path", "%s is reached through a symbolic link; remove it and rerun." % parent)
        if os.path.islink(path):
            raise GuardError("unsafe_path", "%s is a symbolic link; remove it and rerun." % path)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                if handle.read() == files[relative]:
                    continue
        changed.append(relative)
        if check_mode:
            continue
        os.makedirs(parent, exist_ok=True)
        tmp_path = "%s.tmp-%d" % (path, os.getpid())
        with open(tmp_path, "wb") as handle:
            handle.write(files[relative])
        os.chmod(tmp_path, 0o640)
        os.replace(tmp_path, path)
    if prune and os.path.isdir(root):
        wanted = set(safe_relative_path(p) for p in files)
        for directory, _subdirs, names in os.walk(root):
            for name in names:
                relative = os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/")
                if relative not in wanted:
                    changed.append(relative)
                    if not check_mode:
                        os.unlink(os.path.join(directory, name))
    return changed
