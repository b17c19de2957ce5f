# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """The containment modules (ecs_service_scale, db_failover): the typed confirmation they act behind and
    the interval at which they poll while waiting."""

    DOCUMENTATION = r"""
options:
  confirm:
    description:
      - Must be exactly the name of the resource the module acts on (its description says which option) for anything
        to change; the operator types it, C(-e containment_confirm=<name>) in the playbook.
      - Not needed in check mode, which only plans.
    type: str
  poll_interval:
    description: Seconds between describe calls while waiting.
    type: float
    default: 10
"""
