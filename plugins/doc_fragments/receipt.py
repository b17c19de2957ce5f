# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """Options of modules that return a receipt.v1 document for signalcraft.ops.receipt to write."""

    DOCUMENTATION = r"""
options:
  execution_id:
    description:
      - Groups the receipts of one execution (a drill, a daily run). Receipts land in
        C(<receipt_dir>/...) and C(s3://<bucket>/<prefix>/<execution_id>/<phase>.json).
      - Defaults to C(<operation>-<UTC timestamp>).
    type: str
notes:
  - The module returns a C(receipt) (schema C(receipt.v1), inputs and outputs already redacted);
    write it with M(signalcraft.ops.receipt), success or not.
"""
