# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """The execution a runbook step belongs to: the runbook, its phases and its receipt directory
    (runbook_plan, runbook_summary)."""

    DOCUMENTATION = r"""
options:
  runbook:
    description: The runbook's name (the receipts' operation), e.g. C(daily).
    type: str
    required: true
  phases:
    description: The runbook's phases in order.
    type: list
    elements: str
    required: true
  receipt_dir:
    description: The execution's receipt directory (C(<signalcraft_receipt_root>/<execution_id>)).
    type: path
    required: true
"""
