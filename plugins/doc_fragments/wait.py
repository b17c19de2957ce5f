# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """Polling of the modules that wait with a growing interval (ecs_run_task, ecs_service_update)."""

    DOCUMENTATION = r"""
options:
  wait_max_delay:
    description:
      - Longest pause between polls, in seconds.
    type: float
    default: 30
"""
