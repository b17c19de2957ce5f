#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: rds_failover
short_description: Fail over an RDS (Aurora) DB cluster to a reader behind a typed confirmation
version_added: "0.1.0"
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
  - Returns C(db_failover status=ok writer=<new> previous_writer=<old>), the diff and a receipt.
author:
  - signalcraft maintainers (@signalcraft)
options:
  db_cluster_identifier:
    description: The DB cluster to fail over.
    type: str
    required: true
  target_instance:
    description: The reader instance to promote. Default lets RDS choose by promotion tier.
    type: str
  confirm:
    description:
      - Must be exactly O(db_cluster_identifier) for the failover to run (the operator types the cluster name).
      - Not needed in check mode, which only plans.
    type: str
  wait:
    description: Wait until the cluster is available with its new writer.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait before failing with C(failover_timeout).
    type: int
    default: 900
  poll_interval:
    description: Seconds between describe calls while waiting.
    type: float
    default: 10
extends_documentation_fragment:
  - signalcraft.ops.aws
  - signalcraft.ops.receipt
attributes:
  check_mode:
    support: full
    description: Describes the cluster and returns the plan (current writer, candidates); writes nothing.
  diff_mode:
    support: full
    description: The writer before and after (null after when RDS will choose).
seealso:
  - module: signalcraft.ops.ecs_service_scale
"""

EXAMPLES = r"""
- name: Fail over the prod cluster (the operator confirms with the cluster name)
  signalcraft.ops.rds_failover:
    db_cluster_identifier: author-prod
    confirm: "{{ containment_confirm }}"
  register: failover
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
reason:
  description:
    - The stable reason token, or null. C(confirmation_missing), C(cluster_not_found), C(target_not_member),
      C(no_failover_target), C(cluster_not_available), C(failover_timeout), C(aws_error).
  returned: always
  type: str
token_line:
  description: The stable status line.
  returned: always
  type: str
  sample: db_failover status=ok writer=author-prod-2 previous_writer=author-prod-1
writer:
  description: The writer instance after the run (the current one in check mode).
  returned: when the cluster was described
  type: str
previous_writer:
  description: The writer instance before the run.
  returned: when the cluster was described
  type: str
candidates:
  description: The instances RDS may promote (check mode and plan).
  returned: when the cluster was described
  type: list
  elements: str
cluster:
  description: The cluster's state after the run (status, writer, readers, members).
  returned: when the cluster was described
  type: dict
receipt:
  description: A receipt.v1 document (operation C(containment), phase C(db_failover)).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import containment
from ansible_collections.signalcraft.ops.plugins.module_utils.core import guards
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage.containment import ContainmentError


def run(module, factory):
    params = module.params
    cluster_id, target = params["db_cluster_identifier"], params["target_instance"]
    if not module.check_mode:
        guards.require_confirmation(params["confirm"], cluster_id, "confirm")
    rds = factory.client("rds")
    state = containment.describe_cluster(rds, cluster_id)
    plan = containment.plan_failover(state, target)
    result = {"changed": plan["changed"], "diff": {"before": plan["before"], "after": plan["after"]},
              "previous_writer": state["writer"], "writer": state["writer"], "candidates": plan["candidates"], "cluster": state}
    if module.check_mode or not plan["changed"]:
        status = "planned" if module.check_mode else "ok"
        result.update(status=status, reason=None, token_line=containment.failover_line(status, writer=state["writer"]))
        return result
    state = containment.failover(rds, cluster_id, target)
    if params["wait"]:
        state = containment.wait_for_failover(rds, cluster_id, result["previous_writer"], target, params["wait_timeout"],
                                              params["poll_interval"])
    result.update(status="ok", reason=None, cluster=state, writer=state["writer"], token_line=containment.failover_line(
        "ok", writer=state["writer"] if params["wait"] else None, previous=result["previous_writer"]))
    return result


def main():
    argument_spec = aws.aws_argument_spec()
    argument_spec.update(
        db_cluster_identifier=dict(type="str", required=True),
        target_instance=dict(type="str"),
        confirm=dict(type="str"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=900),
        poll_interval=dict(type="float", default=10.0),
        execution_id=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(aws.BOTO3_IMPORT_ERROR))
    params = module.params
    started = receipts.utc_now()
    factory = aws.AwsClientFactory.from_params(params)
    detail = None
    try:
        result = run(module, factory)
    except (guards.GuardError, ContainmentError) as exc:
        state = getattr(exc, "details", {}).get("state")
        result = {"status": "fail", "reason": exc.reason, "changed": exc.reason == "failover_timeout",
                  "token_line": containment.failover_line("fail", exc.reason)}
        if state:
            result.update(cluster=state, writer=state["writer"])
        detail = exc.message
    except aws.AWS_ERRORS + (ValueError,) as exc:
        detail = aws.describe_error(exc, "failing over DB cluster %s" % params["db_cluster_identifier"])
        result = {"status": "fail", "reason": "aws_error", "changed": False, "token_line": containment.failover_line("fail", "aws_error")}
    inputs = {k: params[k] for k in ("db_cluster_identifier", "target_instance", "wait", "wait_timeout", "region")}
    inputs.update(confirmed=params["confirm"] == params["db_cluster_identifier"], check_mode=module.check_mode)
    result["receipt"] = receipts.build(
        "containment", "db_failover", "failed" if result["status"] == "fail" else "success",
        receipts.execution_id(params["execution_id"], "containment", started), started, inputs=inputs,
        outputs={k: v for k, v in result.items() if k not in ("diff", "receipt")}, failure_code=result["reason"],
        message=detail, attempts=1 + factory.retries, changed=result["changed"], module="signalcraft.ops.rds_failover",
    )
    if result["status"] == "fail":
        module.fail_json(msg="%s: %s" % (result["token_line"], detail), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
