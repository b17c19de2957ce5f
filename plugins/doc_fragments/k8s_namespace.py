# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """The namespace option every Kubernetes-writing module shares."""

    DOCUMENTATION = r"""
options:
  create_namespace:
    description: Create the namespace when it does not exist.
    type: bool
    default: true
"""
