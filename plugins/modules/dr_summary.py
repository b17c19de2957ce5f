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
  - Its status line is the drill's own, C(dr_drill status=ok run_id=<id> summary=<path>); a drill with a failed phase
    fails with C(dr_drill status=fail reason=<the phase's failure_code> run_id=<id> failed_phase=<phase> summary=<path>)
    (the summary is written first). In check mode nothing is written and the line names no file
    (C(dr_drill status=planned run_id=<id>)).
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
  - signalcraft.ops.receipt
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
status:
  description: C(ok), C(planned) (check mode) or C(fail) (a phase failed, or a receipt is invalid).
  returned: always
  type: str
outputs:
  description: The summary and where it is.
  returned: always
  type: dict
  contains:
    summary:
      description: The C(dr_drill_summary.v1) document.
      returned: when the receipts could be read
      type: dict
    path:
      description: Where it was written (null in check mode).
      returned: when the receipts could be read
      type: str
    s3_uri:
      description: The S3 copy.
      returned: when s3_bucket and not check mode
      type: str
"""

import glob
import json
import os

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import phases
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_transfer
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    receipt_dir=dict(type="path", required=True),
    run_id=dict(type="str", required=True),
    s3_bucket=dict(type="str"),
    s3_prefix=dict(type="str", default="receipts"),
)


def run(ops):
    p = ops.params
    found = {}
    try:
        for path in sorted(glob.glob(os.path.join(p["receipt_dir"], "phases", "*.json"))):
            receipt = receipts.load(path)
            found[receipt["phase"]] = receipt
    except (OSError, ValueError) as exc:
        raise OpsError("receipt_invalid", "a phase receipt in %s/phases cannot be read: %s; fix or remove it, or use a new "
                                          "-e receipt_dir." % (p["receipt_dir"], exc))
    summary = phases.summarize(p["run_id"], found, p["receipt_dir"])
    if ops.check_mode:
        return dict(changed=False, status="planned", outputs=dict(summary=summary, path=None), line=[("run_id", p["run_id"])])
    body = (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode("utf-8")
    path = os.path.join(p["receipt_dir"], "drill.summary.json")
    outputs = dict(summary=summary, path=path)
    current = None
    if os.path.exists(path):
        with open(path, "rb") as handle:
            current = handle.read()
    changed = current != body
    if changed:
        receipts.write_atomic(path, body)
    if p["s3_bucket"]:
        key = "/".join(x for x in ((p["s3_prefix"] or "").strip("/"), p["run_id"], "drill.summary.json") if x)
        outputs["s3_uri"] = "s3://%s/%s" % (p["s3_bucket"], key)
        try:
            if s3_transfer.put_if_changed(ops.client("s3"), p["s3_bucket"], key, body):
                changed = True
        except OpsError as exc:
            exc.changed_so_far = exc.changed_so_far or changed
            exc.details = dict(outputs, **exc.details)
            raise
    line = [("run_id", p["run_id"])]
    if summary["status"] == "failed":
        line.append(("failed_phase", summary["failed_phase"]))
        line.append(("summary", path))
        failed = found[summary["failed_phase"]]
        message = "%s failed: %s (%s); receipts in %s" % (
            summary["failed_phase"], summary["failure_code"], failed.get("message") or "no message", p["receipt_dir"])
        raise OpsError(summary["failure_code"] or "failed", message,
                       details=dict(outputs, line=line), changed_so_far=changed)
    line.append(("summary", path))
    return dict(changed=changed, outputs=outputs, line=line)


def main():
    OpsModule(ARGUMENT_SPEC, operation="dr_drill", phase="summary", status_key="dr_drill", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
