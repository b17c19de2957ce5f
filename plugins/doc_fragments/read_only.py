# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """Attributes of the modules that only read: check mode runs them unchanged and there is nothing to diff."""

    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    description: Reads only; runs unchanged in check mode.
  diff_mode:
    support: none
    description: Nothing is changed.
"""
