# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """The DR backup a module reads (dr_backup_contract, dr_restore); spec: runbooks/dr/backup.py argument_spec."""

    DOCUMENTATION = r"""
options:
  backup_uri:
    description: C(s3://<bucket>/<prefix>/backups/<backup_id>) (a trailing slash is fine).
    type: str
    required: true
  verify_checksums:
    description: Download the archives and compare them with the checksums in C(metadata.json).
    type: bool
    default: true
  require_checksums:
    description: Fail when C(metadata.json) lists no sha256 for an archive.
    type: bool
    default: false
"""
