#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: jobintel_dashboard_sanity
version_added: "0.2.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Check that the jobintel dashboard is available and answers its health endpoint, through the Kubernetes API only
description:
  - The CI-safe minimal dashboard check of the jobintel runbook (C(make dashboard-sanity)), for the primary or the
    DR cluster.
  - Reads the dashboard Deployment; it must have the C(Available) condition C(True) and at least
    O(min_available) available replicas.
  - Then sends C(GET <health_path>) to the dashboard Service through the API server's service proxy
    (C(/api/v1/namespaces/<ns>/services/<service>:<port>/proxy/<path>)); no port-forward and no ingress, so a
    kubeconfig whose identity may C(get) C(deployments) and C(services/proxy) is all it needs. A 2xx answer is healthy.
  - As the real API server does, a named Service port is matched by name; O(port) must be the Service port's name
    (or its number, which the API server translates to the name).
  - Failure tokens C(dashboard_unavailable) (Deployment missing or not available), C(dashboard_service_missing),
    C(dashboard_no_endpoints) (the proxy found no ready endpoint on that port) and C(dashboard_unhealthy) (the
    dashboard answered non-2xx); C(k8s_forbidden) when RBAC refuses a read.
  - With O(timeout), probes again every O(poll_interval) seconds until healthy or the timeout has passed.
  - Reads only.
options:
  cluster:
    description:
      - Which cluster this is; named in the status line and the messages, and in the receipt's phase
        (C(dashboard_sanity_primary), C(dashboard_sanity_dr)) so that one run checking both keeps both receipts.
    type: str
    choices: [primary, dr]
    default: primary
  namespace:
    description: The dashboard's namespace.
    type: str
    default: jobintel
  deployment:
    description: The dashboard Deployment.
    type: str
    default: jobintel-dashboard
  service:
    description: The dashboard Service.
    type: str
    default: jobintel-dashboard
  port:
    description: The Service port's name (or number) to send the health request to.
    type: str
    default: http
  health_path:
    description: The path of the health endpoint (starts with C(/)).
    type: str
    default: /healthz
  min_available:
    description: Available replicas needed.
    type: int
    default: 1
  timeout:
    description: Seconds to keep probing until healthy; 0 probes once.
    type: float
    default: 0
  poll_interval:
    description: Seconds between probes when O(timeout) is set.
    type: float
    default: 5
  request_timeout:
    description: Seconds each API request may take.
    type: int
    default: 10
seealso:
  - module: signalcraft.ops.dr_validate
  - name: Manually constructing apiserver proxy URLs
    description: How the API server proxies to a Service.
    link: https://kubernetes.io/docs/tasks/access-application-cluster/access-cluster-services/#manually-constructing-apiserver-proxy-urls
extends_documentation_fragment: [signalcraft.ops.k8s, signalcraft.ops.receipt, signalcraft.ops.read_only]
"""

EXAMPLES = r"""
- name: Check the dashboard in the DR cluster after a promotion
  signalcraft.ops.jobintel_dashboard_sanity:
    cluster: dr
    kubeconfig: "{{ dr_bundle_kubeconfig }}"
    timeout: 120
  register: dashboard

- name: Fail a CI job when the dashboard does not answer (the task already fails; this shows the line)
  ansible.builtin.assert:
    that: dashboard.status == 'ok'
    fail_msg: "{{ dashboard.token_line }}"
"""

RETURN = r"""
outputs:
  description: What was read.
  returned: always
  type: dict
  contains:
    cluster:
      description: The cluster checked (O(cluster)).
      returned: always
      type: str
    deployment:
      description: C(replicas), C(ready), C(available), C(available_condition) of the Deployment; null when it does not exist.
      returned: when the cluster was read
      type: dict
    health:
      description: C(code) and the first 512 characters of C(body) of the proxied health request.
      returned: when the cluster was read
      type: dict
    proxy_path:
      description: The API path of the health request.
      returned: always
      type: str
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import dashboard
from ansible_collections.signalcraft.ops.plugins.module_utils.services.k8s import K8sConnection

ARGUMENT_SPEC = dict(
    cluster=dict(type="str", default="primary", choices=["primary", "dr"]),
    namespace=dict(type="str", default="jobintel"),
    deployment=dict(type="str", default="jobintel-dashboard"),
    service=dict(type="str", default="jobintel-dashboard"),
    port=dict(type="str", default="http"),
    health_path=dict(type="str", default="/healthz"),
    min_available=dict(type="int", default=1),
    timeout=dict(type="float", default=0),
    poll_interval=dict(type="float", default=5),
    request_timeout=dict(type="int", default=10),
)


def run(ops):
    params = ops.params
    names = {key: params[key] for key in ("cluster", "namespace", "deployment", "service", "port", "health_path")}
    dashboard.require_inputs(names, params["kubeconfig"])
    path = dashboard.proxy_path(params["namespace"], params["service"], params["port"], params["health_path"])
    outputs = {"cluster": params["cluster"], "proxy_path": path}
    reason, message, state, health, attempts = dashboard.check(
        ops.connection("k8s").api(), names, params["min_available"], params["timeout"], params["poll_interval"], params["request_timeout"])
    outputs.update(deployment=state, health=health)
    line = [("cluster", params["cluster"])]
    if reason:
        raise OpsError(reason, message, details=dict(outputs, line=line + [("code", health.get("code"))]))
    return dict(changed=False, outputs=outputs, attempts=attempts, message=message,
                line=line + [("available", "%d/%d" % (state["available"], state["replicas"])), ("code", health["code"])])


def main():
    ops = OpsModule(ARGUMENT_SPEC, operation=dashboard.KEY, phase=dashboard.KEY, connections=[K8sConnection])
    # One receipt per cluster (a run checks both); the status line keeps the runbook's one key.
    ops.phase = "%s_%s" % (dashboard.KEY, ops.params["cluster"])
    ops.status_key = dashboard.KEY
    ops.run(run)


if __name__ == "__main__":
    main()
