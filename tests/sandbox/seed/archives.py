"""Fixture rendering and byte-for-byte reproducible ``.tar.zst`` archives for the seeded backup."""

import hashlib
import io
import os
import string
import tarfile

import zstandard

FIXTURES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
# Every archive member gets the same owner, mode and mtime so equal inputs give equal bytes.
ARCHIVE_MTIME = 1767225600  # 2026-01-01T00:00:00Z
ZSTD_LEVEL = 10


def fixture_path(*parts):
    """Absolute path of a file or directory under ``fixtures/``."""
    return os.path.join(FIXTURES_DIR, *parts)


def read_fixture(*parts):
    """Bytes of a fixture file."""
    with open(fixture_path(*parts), "rb") as handle:
        return handle.read()


def render_template(data, values):
    """Fill ``${name}`` placeholders; a missing value is an error, not silent text."""
    return string.Template(data.decode("utf-8")).substitute(values).encode("utf-8")


def fixture_tree(*parts):
    """``{relative path: bytes}`` of every file under a fixture directory, paths with ``/``."""
    root = fixture_path(*parts)
    files = {}
    for directory, _subdirs, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, root).replace(os.sep, "/")
            with open(path, "rb") as handle:
                files[relative] = handle.read()
    return files


def tar_zst(members):
    """A zstd-compressed tar of ``{archive path: bytes}``, deterministic for equal input."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            info.mtime = ARCHIVE_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            archive.addfile(info, io.BytesIO(members[name]))
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(raw.getvalue())


def untar_zst(data):
    """Inverse of tar_zst (used by tests and for verification)."""
    raw = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r") as archive:
        return {member.name: archive.extractfile(member).read() for member in archive.getmembers() if member.isfile()}


def describe(data):
    """``{"sha256", "size"}`` of a blob, as recorded in backup metadata."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
