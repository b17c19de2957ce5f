#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: storage_retention_schedule
version_added: "0.2.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Create or update the retention job's EventBridge schedule rule, disabled unless enabled
description:
  - The runbook runs the retention job hourly in production and nightly in staging. This module keeps an
    EventBridge rule with that schedule expression (C(PutRule)), C(DISABLED) unless O(enabled=true), so
    creating the schedule never starts deletions by itself.
  - The rule gets no target here. The runner of the scheduled job is the AWX schedule of the
    C(signalcraft retention) template (awx/configs/controller_schedules.yml, also disabled by default); an
    environment that runs the job from EventBridge instead attaches its runner (ECS task, Lambda) as the
    rule's target outside this module, and the rule keeps its targets when this module updates it.
  - Idempotent (C(DescribeRule) first; C(PutRule) only when the expression, state or description differ);
    check mode writes nothing and reports the diff.
  - Prints C(retention_schedule status=ok rule=<name> state=ENABLED|DISABLED action=created|updated|unchanged).
options:
  name:
    description: The rule name.
    type: str
    required: true
  schedule_expression:
    description: C(rate(<n> <unit>)) or C(cron(<6 fields>)) (EventBridge syntax, UTC).
    type: str
    required: true
  enabled:
    description: Create or switch the rule C(ENABLED). Off (the default) keeps it C(DISABLED).
    type: bool
    default: false
  description:
    description: The rule's description.
    type: str
    default: signalcraft.ops retention sweep schedule
attributes:
  check_mode:
    support: full
    description: Reads the rule and reports what would change; writes nothing.
  diff_mode:
    support: full
    description: The rule's expression, state and description before and after.
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt]
"""

EXAMPLES = r"""
- name: Keep the hourly retention rule (disabled)
  signalcraft.ops.storage_retention_schedule:
    name: signalcraft-retention-prod
    schedule_expression: rate(1 hour)
"""

RETURN = r"""
outputs:
  description: The rule after the run (planned in check mode).
  returned: success
  type: dict
  contains:
    rule:
      description: The rule name.
      returned: success
      type: str
    arn:
      description: The rule ARN (empty in check mode before it exists).
      returned: success
      type: str
    state:
      description: C(ENABLED) or C(DISABLED).
      returned: success
      type: str
    schedule_expression:
      description: The schedule expression.
      returned: success
      type: str
    action:
      description: C(created), C(updated) or C(unchanged).
      returned: success
      type: str
"""

import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection, error_code

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    schedule_expression=dict(type="str", required=True),
    enabled=dict(type="bool", default=False),
    description=dict(type="str", default="signalcraft.ops retention sweep schedule"),
)

# EventBridge: rate(value unit) with a singular unit for 1, cron(...) with six fields.
_RATE = re.compile(r"^rate\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\)$")
_CRON = re.compile(r"^cron\(\S+( \S+){5}\)$")
_NAME = re.compile(r"^[.\-_A-Za-z0-9]{1,64}$")


def validate(name, expression):
    if not _NAME.match(name or ""):
        raise GuardError("eventbridge_schedule_invalid", "retention_schedule_rule %r is not an EventBridge rule name "
                         "(1-64 of letters, digits, . - _)." % name)
    if not (_RATE.match(expression or "") or _CRON.match(expression or "")):
        raise GuardError("eventbridge_schedule_invalid", "retention_schedule_expression %r is neither rate(<n> <unit>) nor "
                         "cron(<min> <hour> <day> <month> <weekday> <year>); e.g. rate(1 hour) or cron(0 2 * * ? *)." % expression)


def run(ops):
    p = ops.params
    validate(p["name"], p["schedule_expression"])
    events = ops.client("events")
    want = {"schedule_expression": p["schedule_expression"], "state": "ENABLED" if p["enabled"] else "DISABLED",
            "description": p["description"]}
    try:
        rule = events.describe_rule(Name=p["name"])
        have = {"schedule_expression": rule.get("ScheduleExpression"), "state": rule.get("State"),
                "description": rule.get("Description", "")}
        arn = rule["Arn"]
    except Exception as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
        have, arn = None, ""
    action = "created" if have is None else ("unchanged" if have == want else "updated")
    if action != "unchanged" and not ops.check_mode:
        arn = events.put_rule(Name=p["name"], ScheduleExpression=want["schedule_expression"], State=want["state"],
                              Description=want["description"])["RuleArn"]
    outputs = dict(rule=p["name"], arn=arn, action=action, **want)
    return {"changed": action != "unchanged", "status": "planned" if ops.check_mode else "ok", "outputs": outputs,
            "line": [("rule", p["name"]), ("state", want["state"]), ("action", action)],
            "diff": {"before": have or {}, "after": want} if action != "unchanged" else None}


def main():
    OpsModule(ARGUMENT_SPEC, operation="retention", phase="schedule", status_key="retention_schedule",
              connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
