#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_status
short_description: List the DR orchestrator's executions and which one waits for approval, at which phase
version_added: "0.2.0"
description:
  - Reads the orchestrator state machine's newest O(limit) executions (ListExecutions, newest first) and, for each running
    one, its history (GetExecutionHistory) to tell the phase it is in and whether it waits on the approval task token.
  - Lists the last O(drills) drills side by side (run id, status, recovery point = age of the older of backup and bundle
    restored, recovery time = bringup start to validate and to promote, targets met or missed), oldest first, so an
    operator sees whether DR is getting slower or staler.
  - Returns C(status status=ok orchestrator=deployed|missing executions=<n> running=<n> waiting=<execution name>|none
    [waiting_phase=approval] drills=<n>). Without the orchestrator it still lists the drills (a warning says so), unless
    there is no receipt bucket or O(drills=0), when it fails with C(orchestrator_missing).
  - Reads only. The account guard (C(signalcraft_expected_account_id)) runs before the first call.
author:
  - signalcraft maintainers (@signalcraft)
options:
  state_machine_arn:
    description: ARN of the orchestrator. Either this or O(state_machine_name).
    type: str
  state_machine_name:
    description: Name of the orchestrator (looked up).
    type: str
    default: signalcraft-dr-orchestrator
  limit:
    description: How many of the newest executions to list (1-100).
    type: int
    default: 10
  drills:
    description:
      - How many of the last drills to show side by side with their recovery point and time (0-100; 0 for none), from
        the drill index the drill's summary keeps in the receipt bucket (C(<s3_prefix>/index/dr_drill/)).
    type: int
    default: 5
  s3_bucket:
    description: The receipt bucket holding the drill index (C(signalcraft_receipt_bucket)); empty - no drills are listed.
    type: str
  s3_prefix:
    description: The receipt prefix (C(signalcraft_receipt_prefix)).
    type: str
    default: receipts
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.read_only]
seealso:
  - module: signalcraft.ops.dr_orchestrator
  - module: signalcraft.ops.dr_approve
"""

EXAMPLES = r"""
- name: Show the orchestrator's executions
  signalcraft.ops.dr_status:
    state_machine_name: signalcraft-dr-orchestrator
    limit: 5
"""

RETURN = r"""
outputs:
  description: The orchestrator's executions.
  returned: always
  type: dict
  contains:
    state_machine_arn:
      description: The orchestrator.
      returned: success
      type: str
    executions:
      description:
        - Newest first; each C({name, execution_arn, status, started_at, stopped_at, phase, state, waiting_for_approval,
          decision, failed_phase, phases}) (phase, state and phases only for running executions, from their history).
      returned: success
      type: list
      elements: dict
    waiting:
      description: The executions that wait for approval now (names and ARNs), newest first.
      returned: success
      type: list
      elements: dict
    drills:
      description:
        - The last drills, oldest first; each C({run_id, status, failed_phase, promoted, started_at, finished_at,
          recovery_point, recovery_time, targets, warnings}) as the drill's summary recorded them.
      returned: success
      type: list
      elements: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import approval
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import orchestrator
from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_service
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    state_machine_arn=dict(type="str"),
    state_machine_name=dict(type="str", default="signalcraft-dr-orchestrator"),
    limit=dict(type="int", default=10),
    drills=dict(type="int", default=5),
    s3_bucket=dict(type="str"),
    s3_prefix=dict(type="str", default="receipts"),
)


def _when(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def run(ops):
    p = ops.params
    if not 1 <= p["limit"] <= 100:
        raise OpsError("invalid_input", "limit %d is outside 1..100; pass -e limit=<1-100>." % p["limit"])
    if not 0 <= p["drills"] <= 100:
        raise OpsError("invalid_input", "drills %d is outside 0..100; pass -e drills=<0-100>." % p["drills"])
    sfn = ops.client("stepfunctions")
    arn = p["state_machine_arn"] or orchestrator.find_state_machine(sfn, p["state_machine_name"])
    if not arn and not (p["s3_bucket"] and p["drills"]):
        raise OpsError("orchestrator_missing", "state machine %s does not exist; deploy it with playbooks/dr_orchestrator.yml "
                                               "(or set dr_orchestrator_state_machine_name)." % p["state_machine_name"])
    if not arn:
        # Drills run without the orchestrator too: their RPO/RTO are still worth showing.
        ops.warn("state machine %s does not exist (deploy it with playbooks/dr_orchestrator.yml); only the last drills are "
                 "listed." % p["state_machine_name"])
    listed = []
    for execution in orchestrator.list_executions(sfn, arn, p["limit"]) if arn else []:
        entry = {"name": execution["name"], "execution_arn": execution["executionArn"], "status": execution["status"],
                 "started_at": _when(execution.get("startDate")), "stopped_at": _when(execution.get("stopDate"))}
        if execution["status"] == "RUNNING":
            entry.update(orchestrator.execution_state(approval.history(sfn, execution["executionArn"])))
        listed.append(entry)
    waiting = [{"name": e["name"], "execution_arn": e["execution_arn"], "phase": e["phase"]} for e in listed if e.get("waiting_for_approval")]
    line = [("orchestrator", "deployed" if arn else "missing"), ("executions", len(listed)), ("running", sum(1 for e in listed if e["status"] == "RUNNING")),
            ("waiting", waiting[0]["name"] if waiting else "none")]
    if waiting:
        line.append(("waiting_phase", waiting[0]["phase"]))
    drills = last_drills(ops.client("s3"), p["s3_bucket"], p["s3_prefix"], p["drills"]) if p["s3_bucket"] and p["drills"] else []
    line.append(("drills", len(drills)))
    return {"changed": False, "outputs": {"state_machine_arn": arn, "executions": listed, "waiting": waiting, "drills": drills},
            "line": line}


def last_drills(s3, bucket, prefix, count):
    """The newest ``count`` drill index entries (one per run id), oldest first."""
    base = "/".join(x for x in ((prefix or "").strip("/"), "index", "dr_drill", "") if x != "")
    keys = [key for key in s3_service.list_keys(s3, bucket, base + "/") if key.endswith(".json")]
    picked, seen = [], set()
    for key in sorted(keys, reverse=True):
        try:
            found = pointers.read_pointer(s3, bucket, key)
        except pointers.PointerInvalid:
            continue  # not an index entry (someone else's file): skipped, the rest still listed
        entry = (found or {}).get("document")
        if not entry or entry.get("run_id") in seen:
            continue
        seen.add(entry.get("run_id"))
        picked.append(entry)
        if len(picked) == count:
            break
    return list(reversed(picked))


def main():
    OpsModule(ARGUMENT_SPEC, operation="dr_status", phase="status", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
