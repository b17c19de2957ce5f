# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """The ECS cluster of the ECS modules."""

    DOCUMENTATION = r"""
options:
  cluster:
    description:
      - The ECS cluster name or ARN.
    type: str
    required: true
"""
