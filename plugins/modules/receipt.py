#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: receipt
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Record a receipt.v1 audit record for a phase no module receipted
description:
  - Builds one C(receipt.v1) document (one phase of one runbook execution); the collection's action
    plugin writes it, as it writes every module's receipt, atomically to
    C(<signalcraft_receipt_dir>) or C(<signalcraft_receipt_root>/<execution_id>/) and, when
    C(signalcraft_receipt_bucket) is set, to C(s3://<bucket>/<signalcraft_receipt_prefix>/<execution_id>/<phase>.json).
  - Only for phases where no signalcraft.ops module ran (a skip, a refusal before any module); every
    module returns and gets written its own receipt.
  - Takes the receipt a signalcraft.ops module returned (O(receipt)), builds one from the
    individual options, or both (individual options override the given receipt), so a role can
    record a failure in C(rescue) or a skip even when the module produced nothing.
  - Inputs, outputs and message are redacted again before writing (values of secret-looking names,
    every value in O(secret_values), and passwords in URLs).
  - The document is validated against the receipt.v1 schema before anything is written.
options:
  receipt:
    description:
      - A receipt.v1 document returned by another signalcraft.ops module.
    type: dict
  operation:
    description: The runbook, for example C(preflight) or C(dr_drill). Lowercase token.
    type: str
  phase:
    description: The phase within the runbook, for example C(verify) or C(restore). Lowercase token.
    type: str
  status:
    description: The phase outcome.
    type: str
    choices: [success, failed, skipped]
  execution_id:
    description: Groups the receipts of one execution.
    type: str
  started_at:
    description: When the phase started (ISO 8601 UTC, C(...Z)). Defaults to now.
    type: str
  failure_code:
    description: Stable reason token. Required when O(status=failed).
    type: str
  skip_reason:
    description: Why the phase was skipped. Required when O(status=skipped).
    type: str
  summary:
    description: A human-readable line, stored as the receipt's C(message).
    type: str
  attempts:
    description: How many attempts the phase made (0 when skipped).
    type: int
  changed:
    description: Whether the phase changed anything.
    type: bool
  inputs:
    description: The phase's inputs; redacted before writing.
    type: dict
  outputs:
    description: The phase's outputs; redacted before writing.
    type: dict
  secret_values:
    description: Literal values that must not appear anywhere in the receipt.
    type: list
    elements: str
    default: []
  receipt_dir:
    description:
      - Directory to write the receipt into, created when missing; overrides C(signalcraft_receipt_dir)
        and C(<signalcraft_receipt_root>/<execution_id>).
    type: path
  filename:
    description: File name inside the receipt directory. Defaults to C(<phase>.json).
    type: str
  s3_bucket:
    description: Copy the receipt to this bucket instead of C(signalcraft_receipt_bucket); empty for no copy.
    type: str
  s3_prefix:
    description: Key prefix for the S3 copy instead of C(signalcraft_receipt_prefix).
    type: str
attributes:
  check_mode:
    support: full
    description: In check mode the receipt is built and validated and returned, but nothing is written.
  diff_mode:
    support: none
    description: A receipt is a new record, not a change to existing state.
notes:
  - Roles mark this task C(changed_when=false) because an audit record is not a change to the managed system.
seealso:
  - module: signalcraft.ops.jobintel_preflight
extends_documentation_fragment: [signalcraft.ops.aws]
"""

EXAMPLES = r"""
- name: Write the preflight receipt, success or not
  signalcraft.ops.receipt:
    receipt: "{{ preflight_result.receipt | default(omit) }}"
    operation: preflight
    phase: verify
    status: "{{ omit if preflight_result.receipt is defined else 'failed' }}"
    failure_code: "{{ omit if preflight_result.receipt is defined else (preflight_result.reason | default('module_error')) }}"
    summary: "{{ preflight_result.msg | default(omit) }}"
    receipt_dir: "{{ receipt_dir }}"
    s3_bucket: "{{ receipt_bucket | default(omit) }}"
    s3_prefix: receipts

- name: Record a skipped phase
  signalcraft.ops.receipt:
    operation: dr_drill
    phase: promote
    status: skipped
    skip_reason: stop_after=validate
    execution_id: "{{ drill_run_id }}"
    receipt_dir: "{{ receipt_dir }}/phases"
"""

RETURN = r"""
path:
  description: Where the receipt was (or in check mode would be) written.
  returned: always
  type: str
  sample: /var/lib/signalcraft/receipts/preflight-20260101T000000Z/verify.json
s3_uri:
  description: The S3 copy, when O(s3_bucket) is set and not in check mode.
  returned: when s3_bucket
  type: str
  sample: s3://receipts-bucket/receipts/preflight-20260101T000000Z/verify.json
written:
  description: Whether anything was written (false in check mode and when the identical file existed).
  returned: always
  type: bool
"""


from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.redaction import secret_values_in
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

# Module option -> receipt field ("message" is reserved by AnsibleModule, so the option is "summary").
_FIELDS = {"operation": "operation", "phase": "phase", "status": "status", "execution_id": "execution_id",
           "started_at": "started_at", "failure_code": "failure_code", "skip_reason": "skip_reason", "summary": "message",
           "attempts": "attempts", "changed": "changed", "inputs": "inputs", "outputs": "outputs"}

ARGUMENT_SPEC = dict(
    receipt=dict(type="dict"),
    operation=dict(type="str"),
    phase=dict(type="str"),
    status=dict(type="str", choices=list(receipts.STATUSES)),
    started_at=dict(type="str"),
    failure_code=dict(type="str"),
    skip_reason=dict(type="str"),
    summary=dict(type="str"),
    attempts=dict(type="int"),
    changed=dict(type="bool"),
    inputs=dict(type="dict"),
    outputs=dict(type="dict"),
    secret_values=dict(type="list", elements="str", default=[], no_log=True),
    # Where the action plugin stores it; validated here so a bad name fails before anything is written.
    receipt_dir=dict(type="path"),
    filename=dict(type="str"),
    s3_bucket=dict(type="str"),
    s3_prefix=dict(type="str"),
)


def merged_receipt(params):
    """Start from the given receipt (if any) and let explicitly set options override it."""
    base = dict(params["receipt"] or {})
    for option, field in _FIELDS.items():
        if params[option] is not None:
            base[field] = params[option]
    missing = [n for n in ("operation", "phase", "status") if not base.get(n)]
    if missing:
        raise OpsError("receipt_invalid", "the receipt needs %s: pass a receipt from a signalcraft.ops module or set "
                                          "these options." % ", ".join(missing))
    started = base.get("started_at") or receipts.format_timestamp(receipts.utc_now())
    try:
        return receipts.build(
            base["operation"], base["phase"], base["status"],
            base.get("execution_id") or "%s-%s" % (base["operation"], started[:19].replace("-", "").replace(":", "") + "Z"),
            started, finished_at=base.get("finished_at"), inputs=base.get("inputs"), outputs=base.get("outputs"),
            failure_code=base.get("failure_code"), skip_reason=base.get("skip_reason"), message=base.get("message"),
            attempts=base.get("attempts", 1), changed=base.get("changed", False),
            module=(base.get("producer") or {}).get("module", "signalcraft.ops.receipt"), secret_values=params["secret_values"],
        )
    except (ValueError, receipts.ReceiptError) as exc:
        raise OpsError("receipt_invalid", "cannot build the receipt: %s" % exc)


def run(ops):
    params = ops.params
    # inputs/outputs are free-form: mask secret-named values in everything Ansible prints (-vvv echoes args).
    for source in (params["inputs"], params["outputs"], params["receipt"]):
        ops.add_secret(*secret_values_in(source))
    filename = params["filename"]
    if filename is not None and ("/" in filename or filename in ("", ".", "..")):
        raise OpsError("receipt_invalid", "filename %r must be a plain file name inside the receipt directory." % filename)
    document = merged_receipt(params)
    return dict(receipt=document, outputs={"phase": document["phase"], "status": document["status"]},
                line=[("phase", document["phase"]), ("recorded", document["status"])])


def main():
    OpsModule(ARGUMENT_SPEC, operation="receipt", phase="receipt", connections=[AwsConnection], receipt_inputs=[]).run(run)


if __name__ == "__main__":
    main()
