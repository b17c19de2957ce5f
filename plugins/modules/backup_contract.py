#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: backup_contract
short_description: Check the DR backup contract at a backup URI
version_added: "0.1.0"
description:
  - Checks that C(metadata.json), C(state.tar.zst) and C(manifests.tar.zst) exist under O(backup_uri) and are
    not empty, that C(metadata.json) is a JSON object, and (with O(verify_checksums)) that the archives match
    the sha256 and size C(metadata.json) lists for them (C(backup_metadata.v1) C(objects), or a flat
    C(checksums) map).
  - Fails with a stable reason (C(backup_object_missing), C(backup_object_empty), C(backup_metadata_invalid),
    C(backup_checksum_mismatch), C(backup_checksum_missing)) naming the object.
  - Reads only. Replaces C(scripts/ops/dr_contract.py).
author:
  - signalcraft maintainers (@signalcraft)
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
extends_documentation_fragment:
  - signalcraft.ops.aws
attributes:
  check_mode:
    support: full
    description: Reads only; the same checks run in check mode.
  diff_mode:
    support: none
    description: Nothing is changed.
seealso:
  - module: signalcraft.ops.backup_restore
"""

EXAMPLES = r"""
- name: Check the backup before a restore
  signalcraft.ops.backup_contract:
    backup_uri: s3://jobintel-backup/jobintel/backups/20260101T000000Z
  register: contract
"""

RETURN = r"""
backup_uri:
  description: The URI that was checked.
  returned: success
  type: str
objects:
  description: Per contract object C(key), C(uri), C(size), C(sha256) (when downloaded) and C(verified).
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
reason:
  description: Stable failure token.
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import backup
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError


def main():
    argument_spec = aws.aws_argument_spec()
    argument_spec.update(
        backup_uri=dict(type="str", required=True),
        verify_checksums=dict(type="bool", default=True),
        require_checksums=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(aws.BOTO3_IMPORT_ERROR))
    params = module.params
    try:
        s3 = aws.AwsClientFactory.from_params(params).client("s3")
        contract = backup.load_backup(s3, params["backup_uri"], params["verify_checksums"], params["require_checksums"])["contract"]
    except GuardError as exc:
        module.fail_json(msg="dr_contract status=fail reason=%s: %s" % (exc.reason, exc.message), reason=exc.reason)
    except aws.AWS_ERRORS + (ValueError,) as exc:
        module.fail_json(msg="dr_contract status=fail reason=aws_error: %s" % aws.describe_error(exc, "reading the backup"), reason="aws_error")
    module.exit_json(changed=False, backup_uri=contract["backup_uri"], objects=contract["objects"], metadata=contract["metadata"],
                     checksums_listed=contract["checksums_listed"])


if __name__ == "__main__":
    main()
