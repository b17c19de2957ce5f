# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """What every signalcraft.ops module shares: the execution id, the result shape and its receipt."""

    DOCUMENTATION = r"""
options:
  execution_id:
    description:
      - Groups the receipts of one execution (a drill, a daily run). Receipts land in
        C(<signalcraft_receipt_root>/<execution_id>/<phase>.json) and
        C(s3://<signalcraft_receipt_bucket>/<signalcraft_receipt_prefix>/<execution_id>/<phase>.json).
      - Defaults to the inventory's C(signalcraft_execution_id), else C(<operation>-<UTC timestamp>).
    type: str
notes:
  - "Every signalcraft.ops module returns the same result shape: C(changed); C(status) (C(ok), C(fail)
    or a status the module documents); C(reason), the registered failure token (docs/tokens.md) or null;
    C(token_line), the stable C(<phase> status=<status> [reason=<token>] [k=v ...]) line; C(outputs),
    what the step found and did (documented per module); C(attempts), API attempts including retries;
    C(receipt), the step's C(receipt.v1) document, inputs and outputs already redacted; C(diff) where a
    change can be shown; C(msg), the status line and, on failure, what to fix."
  - The collection's action plugin writes the receipt (locally and to the receipt bucket; never in
    check mode), fills AWS connection options from the inventory's C(signalcraft_aws_*) variables, and
    checks the account and region once per play before the first AWS call.
"""
