# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The commit a directory's files came from, read from the git metadata without running git.

Publishing records provenance (``git_sha``) and must work on an AWX execution environment that
has no git binary; reading ``HEAD``, loose refs, ``packed-refs`` and worktree ``gitdir`` files is
all that takes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError

UNKNOWN = "unknown"
_SHA = re.compile(r"^[0-9a-f]{7,40}$")


def validate_git_sha(value):
    if not _SHA.match(str(value or "")):
        raise GuardError("invalid_git_sha",
                         "dr_bundle_git_sha %r is not 7-40 lowercase hex digits; pass the commit (git rev-parse HEAD)." % (value,))
    return value


def _read(path):
    with open(path) as handle:
        return handle.read().strip()


def _git_dir(start):
    current = os.path.abspath(start)
    while True:
        candidate = os.path.join(current, ".git")
        if os.path.isdir(candidate):
            return candidate
        if os.path.isfile(candidate):
            text = _read(candidate)
            if text.startswith("gitdir:"):
                path = text.split(":", 1)[1].strip()
                return path if os.path.isabs(path) else os.path.normpath(os.path.join(current, path))
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _resolve_ref(git_dir, ref):
    common = git_dir
    if os.path.isfile(os.path.join(git_dir, "commondir")):
        common = os.path.normpath(os.path.join(git_dir, _read(os.path.join(git_dir, "commondir"))))
    for base in (git_dir, common):
        loose = os.path.join(base, ref)
        if os.path.isfile(loose):
            return _read(loose)
    packed = os.path.join(common, "packed-refs")
    if os.path.isfile(packed):
        for line in _read(packed).splitlines():
            parts = line.split(" ", 1)
            if len(parts) == 2 and parts[1].strip() == ref:
                return parts[0]
    return None


def head_sha(path):
    """The commit HEAD points at for the checkout holding ``path``, or ``unknown``."""
    try:
        git_dir = _git_dir(path)
        if not git_dir:
            return UNKNOWN
        head = _read(os.path.join(git_dir, "HEAD"))
        sha = _resolve_ref(git_dir, head[4:].strip()) if head.startswith("ref:") else head
    except (OSError, ValueError):
        return UNKNOWN
    return sha if sha and _SHA.match(sha) else UNKNOWN
