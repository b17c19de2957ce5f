#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_k8s_access
short_description: Ask a DR (or primary) cluster whether the kubeconfig may do what the planned phases will do
version_added: "0.1.0"
description:
  - Derives, from the phases that will run (O(phases)), every verb, resource and namespace their modules use
    (restore applies the namespace, ConfigMaps, the pull secret, its ServiceAccount and the backup's workloads;
    validate creates, watches and deletes a Job, reads its pods and their log, refreshes the pull secret;
    promote lists and patches CronJobs unless O(keep_suspended)), and asks the cluster for each with a
    C(SelfSubjectAccessReview) (C(authorization.k8s.io/v1)), the API C(kubectl auth can-i) uses.
  - Fails with C(k8s_forbidden) naming every verb, resource and namespace the identity may not use, before any
    phase runs (the drill's guards call it before bringup starts a runner). The same token is what a 403 met
    later maps to.
  - Reads only; nothing is stored by the server. Returns C(k8s_access status=ok cluster=<dr|primary> checked=<n>).
author:
  - signalcraft maintainers (@signalcraft)
options:
  phases:
    description: The phases that will run (others are ignored; C(bringup) and C(teardown) need nothing of the cluster).
    type: list
    elements: str
    required: true
  namespace:
    description: The namespace the phases work in.
    type: str
    required: true
  keep_suspended:
    description: Promote leaves the CronJobs suspended (a rehearsal), so no CronJob access is needed.
    type: bool
    default: false
  cluster:
    description: Which cluster this is, for the message and the status line.
    type: str
    choices: [dr, primary]
    default: dr
  kubeconfig_variable:
    description: The operator's variable that chose O(kubeconfig), named in a refusal (for example C(dr_bringup_kubeconfig_source_path)).
    type: str
extends_documentation_fragment: [signalcraft.ops.read_only, signalcraft.ops.k8s, signalcraft.ops.receipt]
seealso:
  - module: signalcraft.ops.dr_guards
"""

EXAMPLES = r"""
- name: Check the DR kubeconfig's permissions for restore, validate and promote
  signalcraft.ops.dr_k8s_access:
    kubeconfig: /var/lib/signalcraft/receipts/dr-20260101t000000z/kubeconfig.yaml
    namespace: jobintel
    phases: [restore, validate, promote]
"""

RETURN = r"""
status:
  description: C(ok) or C(fail).
  returned: always
  type: str
outputs:
  description: What was asked.
  returned: always
  type: dict
  contains:
    checked:
      description: Each requirement (C(phase), C(verb), C(group), C(resource), C(namespace), C(subresource)) with C(allowed).
      returned: always
      type: list
      elements: dict
    denied:
      description: The requirements refused, as C(<verb> <resource> in namespace <ns>).
      returned: on failure
      type: list
      elements: str
    namespace_exists:
      description: Whether the namespace exists (when it does not, restore needs to create it).
      returned: success
      type: bool
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import validate_k8s_name
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import access
from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s
from ansible_collections.signalcraft.ops.plugins.module_utils.services.k8s import K8sConnection

ARGUMENT_SPEC = dict(
    phases=dict(type="list", elements="str", required=True),
    namespace=dict(type="str", required=True),
    keep_suspended=dict(type="bool", default=False),
    cluster=dict(type="str", default="dr", choices=["dr", "primary"]),
    kubeconfig_variable=dict(type="str"),
)


def _namespace_exists(api, namespace):
    """Whether the namespace exists; an identity that may not read it is answered by the review of ``get namespaces``."""
    try:
        k8s.k8s_client.CoreV1Api(api).read_namespace(namespace)
        return True
    # pylint: disable-next=catching-non-exception  # a tuple of exception classes pylint cannot infer
    except k8s.K8S_ERRORS as exc:
        if getattr(exc, "status", None) in (403, 404):
            return getattr(exc, "status", None) == 403
        raise


def run(ops):
    p = ops.params
    validate_k8s_name(p["namespace"], kind="namespace", label=True)
    api = ops.connection("k8s").api()
    exists = _namespace_exists(api, p["namespace"]) if "restore" in p["phases"] else True
    wanted = access.requirements(p["phases"], p["namespace"], namespace_exists=exists, keep_suspended=p["keep_suspended"])
    option = "the kubeconfig from -e %s" % p["kubeconfig_variable"] if p["kubeconfig_variable"] else None
    checked = k8s.check_access(api, wanted, cluster=p["cluster"], option=option)
    return dict(changed=False, outputs=dict(checked=checked, namespace_exists=exists),
                line=[("cluster", p["cluster"]), ("namespace", p["namespace"]), ("checked", len(checked))])


def main():
    OpsModule(ARGUMENT_SPEC, operation="dr_k8s_access", phase="k8s_access", connections=[K8sConnection]).run(run)


if __name__ == "__main__":
    main()
