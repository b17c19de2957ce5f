#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: db_failover
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Fail over an RDS (Aurora) DB cluster to a reader behind a typed confirmation
description:
  - Incident containment (database connectivity) - replaces
    C(aws rds failover-db-cluster --db-cluster-identifier <cluster>).
  - Describes the cluster first and fails before any write with C(cluster_not_found),
    C(target_not_member), C(no_failover_target) (no reader) or C(cluster_not_available).
  - Refuses to act unless O(confirm) is exactly O(db_cluster_identifier).
  - Calls FailoverDBCluster (to O(target_instance) when given, otherwise RDS promotes a reader by
    promotion tier), then with O(wait) waits until the cluster is C(available) with a new writer
    (the target, when named), failing with C(failover_timeout) after O(wait_timeout).
  - When O(target_instance) is already the writer nothing is done (C(changed=false)). Without
    O(target_instance) every run fails over again (a failover is an action, not a state).
  - Returns C(db_failover status=ok writer=<new> previous_writer=<old>), the diff and a receipt (operation
    C(containment), phase C(db_failover)). Check mode returns
    C(db_failover status=planned writer=<current> candidates=<reader>+<reader>) (readers in promotion order, or the
    target) and writes nothing.
options:
  db_cluster_identifier:
    description: The DB cluster to fail over.
    type: str
    required: true
  target_instance:
    description: The reader instance to promote. Default lets RDS choose by promotion tier.
    type: str
  wait:
    description: Wait until the cluster is available with its new writer.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait before failing with C(failover_timeout).
    type: int
    default: 900
attributes:
  check_mode:
    support: full
    description: Describes the cluster and returns the plan (current writer, candidates); writes nothing.
  diff_mode:
    support: full
    description: The writer before and after (null after when RDS will choose).
seealso:
  - module: signalcraft.ops.ecs_service_scale
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.containment]
"""

EXAMPLES = r"""
- name: Fail over the prod cluster (the operator confirms with the cluster name)
  signalcraft.ops.db_failover:
    db_cluster_identifier: author-prod
    confirm: "{{ containment_confirm }}"
  register: failover
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: The cluster's writer before and after, and the candidates.
  returned: always
  type: dict
  contains:
    writer:
      description: The writer instance after the run (the current one in check mode).
      returned: when the cluster was described
      type: str
    previous_writer:
      description: The writer instance before the run.
      returned: when the cluster was described
      type: str
    candidates:
      description: The readers RDS may promote, in promotion order (or the target).
      returned: when the cluster was described
      type: list
      elements: str
    cluster:
      description: The cluster's state after the run (status, writer, readers, members).
      returned: when the cluster was described
      type: dict
diff:
  description: The writer before and after (null after when RDS will choose).
  returned: when the cluster was described
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import containment
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    **containment.argument_spec(),
    db_cluster_identifier=dict(type="str", required=True),
    target_instance=dict(type="str"),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=900),
)


def run(ops):
    params = ops.params
    cluster_id, target = params["db_cluster_identifier"], params["target_instance"]
    containment.require_confirmed(ops, cluster_id)
    rds = ops.client("rds")
    state = containment.describe_cluster(rds, cluster_id)
    plan = containment.plan_failover(state, target)
    diff = {"before": plan["before"], "after": plan["after"]}
    outputs = {"previous_writer": state["writer"], "writer": state["writer"], "candidates": plan["candidates"], "cluster": state}
    if ops.check_mode:
        return dict(changed=plan["changed"], status="planned", diff=diff, outputs=outputs,
                    line=containment.failover_fields(writer=state["writer"], candidates=plan["candidates"]))
    if not plan["changed"]:
        return dict(changed=False, diff=diff, outputs=outputs, line=containment.failover_fields(writer=state["writer"]))
    state = containment.failover(rds, cluster_id, target)
    if params["wait"]:
        try:
            state = containment.wait_for_failover(rds, cluster_id, outputs["previous_writer"], target, params["wait_timeout"],
                                                  params["poll_interval"])
        except containment.ContainmentError as exc:
            last = exc.details.pop("state", None) or state
            exc.changed_so_far = True
            exc.details.update(outputs, cluster=last, writer=last["writer"],
                               line=containment.failover_fields(writer=last["writer"], previous=outputs["previous_writer"]))
            raise
    outputs.update(cluster=state, writer=state["writer"])
    return dict(changed=True, diff=diff, outputs=outputs, line=containment.failover_fields(
        writer=state["writer"] if params["wait"] else None, previous=outputs["previous_writer"]))


def main():
    OpsModule(ARGUMENT_SPEC, operation="containment", phase="db_failover", connections=[AwsConnection],
              receipt_inputs=["db_cluster_identifier", "target_instance", "wait", "wait_timeout", "region"]).run(run)


if __name__ == "__main__":
    main()
