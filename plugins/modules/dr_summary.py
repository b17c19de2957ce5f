#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_summary
short_description: Write the DR drill's drill.summary.json, derived from its phase receipts only
version_added: "0.1.0"
description:
  - Reads every C(<receipt_dir>/phases/*.json) (receipt.v1, schema-validated) and writes
    C(<receipt_dir>/drill.summary.json) (C(dr_drill_summary.v1)) atomically; the summary is never kept separately.
  - With O(s3_bucket), also copies it to C(s3://<s3_bucket>/<s3_prefix>/<run_id>/drill.summary.json).
  - An identical summary already on disk and in S3 is left alone (C(changed=false)).
author:
  - signalcraft maintainers (@signalcraft)
options:
  receipt_dir:
    description: The drill's receipt directory.
    type: path
    required: true
  run_id:
    description: The drill's run id.
    type: str
    required: true
  s3_bucket:
    description: Receipt bucket for the S3 copy (empty to skip).
    type: str
  s3_prefix:
    description: Key prefix of the S3 copy.
    type: str
    default: receipts
extends_documentation_fragment:
  - signalcraft.ops.aws
attributes:
  check_mode:
    support: full
    description: Builds and returns the summary; writes nothing.
  diff_mode:
    support: none
    description: The summary is a derived report.
"""

EXAMPLES = r"""
- name: Summarize the drill from its phase receipts
  signalcraft.ops.dr_summary:
    receipt_dir: /var/lib/signalcraft/receipts/dr-20260101t000000z
    run_id: dr-20260101t000000z
"""

RETURN = r"""
summary:
  description: The C(dr_drill_summary.v1) document.
  returned: always
  type: dict
path:
  description: Where it was written.
  returned: always
  type: str
s3_uri:
  description: The S3 copy.
  returned: when s3_bucket
  type: str
"""

import glob
import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import phases
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_transfer


def main():
    argument_spec = aws.aws_argument_spec()
    argument_spec.update(
        receipt_dir=dict(type="path", required=True),
        run_id=dict(type="str", required=True),
        s3_bucket=dict(type="str"),
        s3_prefix=dict(type="str", default="receipts"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    found = {}
    try:
        for path in sorted(glob.glob(os.path.join(p["receipt_dir"], "phases", "*.json"))):
            receipt = receipts.load(path)
            found[receipt["phase"]] = receipt
    except (OSError, ValueError) as exc:
        module.fail_json(msg="dr_summary status=fail reason=receipt_invalid: %s" % exc, reason="receipt_invalid")
    summary = phases.summarize(p["run_id"], found, p["receipt_dir"])
    body = (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode("utf-8")
    path = os.path.join(p["receipt_dir"], "drill.summary.json")
    result = dict(changed=False, summary=summary, path=path)
    if module.check_mode:
        module.exit_json(**result)
    current = None
    if os.path.exists(path):
        with open(path, "rb") as handle:
            current = handle.read()
    if current != body:
        receipts.write_atomic(path, body)
        result["changed"] = True
    if p["s3_bucket"]:
        key = "/".join(x for x in ((p["s3_prefix"] or "").strip("/"), p["run_id"], "drill.summary.json") if x)
        result["s3_uri"] = "s3://%s/%s" % (p["s3_bucket"], key)
        try:
            s3 = aws.AwsClientFactory.from_params(p).client("s3")
            if s3_transfer.put_if_changed(s3, p["s3_bucket"], key, body):
                result["changed"] = True
        except aws.AWS_ERRORS + (ValueError,) as exc:
            module.fail_json(msg=aws.describe_error(exc, "copying the drill summary to S3"), reason="aws_error", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
