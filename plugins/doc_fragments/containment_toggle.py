# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """The containment toggles (containment_backpressure, containment_queue, containment_model_pin): the typed
    confirmation they act behind and the receipt a rollback restores from."""

    DOCUMENTATION = r"""
options:
  confirm:
    description:
      - Must be exactly the name of what the module changes (its description says which) for anything to change;
        the operator types it, C(-e containment_confirm=<name>) in the playbook.
      - Not needed in check mode, which only plans, nor for a read-only report.
    type: str
  rollback_of:
    description:
      - The execution id of an earlier run of the same module to roll back. Its receipt (C(<phase>.json)) is read
        from O(receipt_root), else from O(receipt_bucket); the state that run found is restored when the target is
        still as that run left it (C(changed=false) when it is already restored; C(rollback_drifted) when someone
        changed it since).
      - Must differ from this run's own execution id.
    type: str
  receipt_root:
    description: The local receipt root (the inventory's C(signalcraft_receipt_root)) a rollback reads from first.
    type: path
  receipt_bucket:
    description: The receipt bucket (the inventory's C(signalcraft_receipt_bucket)) a rollback reads from when the local
      receipt is not there (a new AWX job container, another machine).
    type: str
  receipt_prefix:
    description: The key prefix of the receipts in O(receipt_bucket).
    type: str
    default: receipts
"""
