# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """Connection options of every Kubernetes-facing signalcraft.ops module (module_utils/k8s.py)."""

    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to the kubeconfig of the cluster. Falls back to E(K8S_AUTH_KUBECONFIG) then E(KUBECONFIG); in-cluster
        configuration when neither is set.
      - Its credentials (tokens, client keys, passwords) are added to the values Ansible never logs.
    type: path
  context:
    description:
      - The kubeconfig context to use. Falls back to E(K8S_AUTH_CONTEXT); default is the kubeconfig's current context.
    type: str
requirements:
  - kubernetes >= 30.1.0
notes:
  - Talks to the API server with the official C(kubernetes) Python client, never through C(kubectl).
  - Where the module writes, check mode is a server-side dry run (C(dryRun=All)).
"""
