#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_orchestrator
short_description: Deploy the DR orchestrator state machine, its schedule rule and its failure alarm
version_added: "0.2.0"
description:
  - Renders the orchestrator's Amazon States Language definition (bringup, restore, validate, approval wait on a task token,
    promote, teardown; see C(plugins/module_utils/runbooks/dr/orchestrator.py)), checks it against Step Functions' rules and
    creates or updates the state machine O(state_machine_name) (idempotent; the diff shows the definition before and after).
  - Each action is an ECS task (C(ecs:runTask.sync)) running C(ansible-playbook -i <inventory> playbooks/dr_drill.yml
    -e start_at=<phase> -e stop_after=<phase> -e run_id=<execution name>); after it the state machine writes
    C(s3://<receipts_bucket>/<receipts_prefix>/<execution name>/ecs-<phase>.json) (task ARN, exit code, times) and
    C(approval.json) after the approval wait.
  - Creates the EventBridge schedule rule O(rule_name) (target the state machine) and the CloudWatch alarm O(alarm_name) on
    failed executions; both are created B(disabled) (rule C(State=DISABLED), alarm C(ActionsEnabled=false)) unless
    O(enable_triggers=true).
  - Returns C(deploy status=ok state_machine=<name> triggers=disabled|enabled); in check mode C(status=planned) and nothing is written.
author:
  - signalcraft maintainers (@signalcraft)
options:
  state_machine_name:
    description: Name of the orchestrator state machine.
    type: str
    default: signalcraft-dr-orchestrator
  role_arn:
    description: IAM role Step Functions assumes (ecs:RunTask/DescribeTasks/StopTask, iam:PassRole, events for .sync, sns:Publish, s3:PutObject).
    type: str
    required: true
  cluster:
    description: ECS cluster the action tasks run in.
    type: str
    required: true
  task_definition:
    description: Task definition (family, family:revision or ARN) of the execution-environment image.
    type: str
    required: true
  container_name:
    description: The container whose command is overridden with the drill command (the first container; its exit code decides).
    type: str
    required: true
  subnets:
    description: Subnets of the tasks (awsvpc).
    type: list
    elements: str
    required: true
  security_groups:
    description: Security groups of the tasks.
    type: list
    elements: str
    default: []
  assign_public_ip:
    description: Give the tasks a public IP (public subnets without NAT).
    type: bool
    default: false
  launch_type:
    description: ECS launch type.
    type: str
    default: FARGATE
  inventory:
    description: The inventory the drill runs with inside the task (relative to the image's project directory).
    type: str
    required: true
  receipts_bucket:
    description: Bucket the state machine writes its receipts to (the suite's receipt bucket).
    type: str
    required: true
  receipts_prefix:
    description: Key prefix of those receipts (the suite's receipt prefix).
    type: str
    default: ""
  notification_topic_arn:
    description:
      - SNS topic the approval request (with its task token) and the alarm go to.
      - Empty to create (idempotently) a topic named O(state_machine_name).
    type: str
  approval_timeout_seconds:
    description: How long the approval wait lasts before the execution fails with C(approval_expired).
    type: int
    default: 86400
  action_timeout_seconds:
    description: How long one action's ECS task may run.
    type: int
    default: 3600
  teardown_on_failure:
    description: After a failed phase (or a rejected/expired approval) run teardown before the execution fails.
    type: bool
    default: true
  enable_triggers:
    description: Enable the schedule rule and the alarm's actions. Off by default (the runbook's safe default).
    type: bool
    default: false
  rule_name:
    description: Name of the EventBridge schedule rule.
    type: str
    default: signalcraft-dr-orchestrator-schedule
  schedule_expression:
    description: When the rule starts a drill (EventBridge schedule expression).
    type: str
    default: cron(0 7 ? * MON *)
  events_role_arn:
    description: IAM role EventBridge assumes to start the execution (states:StartExecution).
    type: str
    required: true
  alarm_name:
    description: Name of the CloudWatch alarm on failed executions.
    type: str
    default: signalcraft-dr-orchestrator-failed
attributes:
  check_mode:
    support: full
    description: Nothing is created or updated; the result and the diff say what would change.
  diff_mode:
    support: full
    description: The state machine (definition, role), rule and alarm before and after.
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt]
seealso:
  - module: signalcraft.ops.dr_status
  - module: signalcraft.ops.dr_approve
"""

EXAMPLES = r"""
- name: Deploy the orchestrator with its triggers disabled
  signalcraft.ops.dr_orchestrator:
    role_arn: arn:aws:iam::111122223333:role/signalcraft-dr-orchestrator
    events_role_arn: arn:aws:iam::111122223333:role/signalcraft-dr-orchestrator-events
    cluster: jobintel
    task_definition: signalcraft-ee
    container_name: ee
    subnets: [subnet-0abc]
    inventory: inventories/prod
    receipts_bucket: signalcraft-receipts
    receipts_prefix: receipts
    notification_topic_arn: arn:aws:sns:us-east-1:111122223333:signalcraft-dr-approvals
"""

RETURN = r"""
outputs:
  description: What was deployed.
  returned: always
  type: dict
  contains:
    state_machine_arn:
      description: The orchestrator state machine (a placeholder in check mode when it does not exist yet).
      returned: success
      type: str
    definition_changed:
      description: Whether the state machine was created or its definition/role updated.
      returned: success
      type: bool
    rule_name:
      description: The schedule rule.
      returned: success
      type: str
    rule_state:
      description: C(DISABLED) unless O(enable_triggers).
      returned: success
      type: str
    alarm_name:
      description: The alarm on failed executions.
      returned: success
      type: str
    alarm_actions_enabled:
      description: C(false) unless O(enable_triggers).
      returned: success
      type: bool
diff:
  description: State machine, rule and alarm before and after.
  returned: when changed
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import orchestrator
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    state_machine_name=dict(type="str", default="signalcraft-dr-orchestrator"),
    role_arn=dict(type="str", required=True),
    cluster=dict(type="str", required=True),
    task_definition=dict(type="str", required=True),
    container_name=dict(type="str", required=True),
    subnets=dict(type="list", elements="str", required=True),
    security_groups=dict(type="list", elements="str", default=[]),
    assign_public_ip=dict(type="bool", default=False),
    launch_type=dict(type="str", default="FARGATE"),
    inventory=dict(type="str", required=True),
    receipts_bucket=dict(type="str", required=True),
    receipts_prefix=dict(type="str", default=""),
    notification_topic_arn=dict(type="str"),
    approval_timeout_seconds=dict(type="int", default=86400),
    action_timeout_seconds=dict(type="int", default=3600),
    teardown_on_failure=dict(type="bool", default=True),
    enable_triggers=dict(type="bool", default=False),
    rule_name=dict(type="str", default="signalcraft-dr-orchestrator-schedule"),
    schedule_expression=dict(type="str", default="cron(0 7 ? * MON *)"),
    events_role_arn=dict(type="str", required=True),
    alarm_name=dict(type="str", default="signalcraft-dr-orchestrator-failed"),
)


def run(ops):
    p = ops.params
    settings = dict(p)
    region = ops.connection("aws").region
    settings["notification_topic_arn"] = p["notification_topic_arn"] or "arn:aws:sns:%s::%s" % (region, p["state_machine_name"])
    # Rendering validates every value (and the ASL) before any client is built.
    definition = orchestrator.render_definition(settings)
    if not p["notification_topic_arn"] and not ops.check_mode:
        # CreateTopic returns the existing topic's ARN.
        settings["notification_topic_arn"] = ops.client("sns").create_topic(Name=p["state_machine_name"])["TopicArn"]
        definition = orchestrator.render_definition(settings)
    sfn = ops.client("stepfunctions")
    changed, arn, before = orchestrator.ensure_state_machine(sfn, p["state_machine_name"], definition, p["role_arn"], check_mode=ops.check_mode)
    arn = arn or "arn:aws:states:%s::stateMachine:%s" % (region, p["state_machine_name"])
    rule = orchestrator.rule_spec(p["schedule_expression"], p["enable_triggers"], arn, p["events_role_arn"])
    rule_changed, rule_before = orchestrator.ensure_rule(ops.client("events"), p["rule_name"], rule, check_mode=ops.check_mode)
    alarm = orchestrator.alarm_spec(arn, settings["notification_topic_arn"], p["enable_triggers"])
    alarm_changed, alarm_before = orchestrator.ensure_alarm(ops.client("cloudwatch"), p["alarm_name"], alarm, check_mode=ops.check_mode)
    any_change = changed or rule_changed or alarm_changed
    triggers = "enabled" if p["enable_triggers"] else "disabled"
    result = dict(
        changed=any_change, status="planned" if ops.check_mode and any_change else "ok",
        outputs=dict(state_machine_arn=arn, definition_changed=changed, rule_name=p["rule_name"], rule_state=rule["state"],
                     alarm_name=p["alarm_name"], alarm_actions_enabled=alarm["actions_enabled"]),
        line=[("state_machine", p["state_machine_name"]), ("changed", "yes" if any_change else "no"), ("triggers", triggers)],
    )
    if any_change:
        result["diff"] = {"before": {"state_machine": before or {}, "rule": rule_before or {}, "alarm": alarm_before or {}},
                          "after": {"state_machine": {"definition": definition, "role_arn": p["role_arn"]}, "rule": rule, "alarm": alarm}}
    return result


def main():
    OpsModule(ARGUMENT_SPEC, operation="dr_orchestrator", phase="deploy", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
