#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_backup_contract
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Check the DR backup contract at a backup URI
description:
  - Checks that C(metadata.json), C(state.tar.zst) and C(manifests.tar.zst) exist under O(backup_uri) and are
    not empty, that C(metadata.json) is a JSON object, and (with O(verify_checksums)) that the archives match
    the sha256 and size C(metadata.json) lists for them (C(backup_metadata.v1) C(objects), or a flat
    C(checksums) map).
  - Fails with a stable reason (C(backup_object_missing), C(backup_object_empty), C(backup_metadata_invalid),
    C(backup_checksum_mismatch), C(backup_checksum_missing)) naming the object.
  - A C(REPLACE_) placeholder in O(backup_uri) fails with C(inventory_placeholder) before any AWS call.
  - Prints C(dr_contract status=ok backup_id=<id> checksums_verified=<n>).
  - Reads only. Replaces C(scripts/ops/dr_contract.py).
seealso:
  - module: signalcraft.ops.dr_restore
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.read_only, signalcraft.ops.dr_backup]
"""

EXAMPLES = r"""
- name: Check the backup before a restore
  signalcraft.ops.dr_backup_contract:
    backup_uri: s3://jobintel-backup/jobintel/backups/20260101T000000Z
  register: contract
"""

RETURN = r"""
status:
  description: C(ok) or C(fail).
  returned: always
  type: str
outputs:
  description: What the check found.
  returned: always
  type: dict
  contains:
    backup_uri:
      description: The URI that was checked.
      returned: success
      type: str
    objects:
      description: Per contract object C(key), C(uri), C(size), C(sha256) (when downloaded), C(verified) and C(last_modified) (S3).
      returned: success
      type: dict
    metadata:
      description: C(schema_version), C(backup_id), C(created_at), C(namespace), C(source_cluster), C(image_ref_digest) from C(metadata.json).
      returned: success
      type: dict
    checksums_listed:
      description: The objects C(metadata.json) lists a sha256 for.
      returned: success
      type: list
      elements: str
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import backup
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import bundle
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = backup.argument_spec()


def run(ops):
    params = ops.params
    backup.parse_s3_uri(params["backup_uri"], "dr_bundle_backup_uri")
    contract = backup.load_backup(ops.client("s3"), params["backup_uri"], params["verify_checksums"], params["require_checksums"])["contract"]
    verified = sum(1 for entry in contract["objects"].values() if entry["verified"])
    outputs = dict(backup_uri=contract["backup_uri"], objects=contract["objects"], metadata=contract["metadata"],
                   checksums_listed=contract["checksums_listed"])
    line = bundle.line_fields(("backup_id", contract["metadata"].get("backup_id")), ("checksums_verified", verified))
    return dict(changed=False, outputs=outputs, line=line)


def main():
    OpsModule(ARGUMENT_SPEC, operation="dr_contract", phase="contract", status_key="dr_contract", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
