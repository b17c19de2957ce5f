# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """Server-side apply of the modules that apply manifests (dr_bundle_apply, dr_restore); spec: services/k8s.py."""

    DOCUMENTATION = r"""
options:
  force_conflicts:
    description: Take over fields another field manager owns (server-side apply C(force)).
    type: bool
    default: false
"""
