#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ecs_taskdef_env
short_description: Show the image and environment of an ECS task-definition revision, secrets redacted
version_added: "0.1.0"
description:
  - Describes a task-definition revision and returns each container's image, environment and
    secret references. Replaces C(print_taskdef_env.sh TASKDEF_REV=<rev>).
  - Values of secret-looking names (C(*_PASSWORD), C(*_TOKEN), C(*_API_KEY), C(DSN), ...) and every
    C(secrets[].valueFrom) reference are replaced with C(***REDACTED***); the values are also
    masked in everything Ansible prints.
  - Reads only.
author:
  - signalcraft maintainers (@signalcraft)
options:
  task_definition:
    description:
      - The revision, as C(family:revision), ARN, or C(family) for the latest ACTIVE revision.
    type: str
    required: true
  container_name:
    description:
      - Only this container. Default is every container.
    type: str
extends_documentation_fragment:
  - signalcraft.ops.aws
  - signalcraft.ops.receipt
attributes:
  check_mode:
    support: full
    description: Reads only; runs unchanged in check mode.
  diff_mode:
    support: none
    description: Nothing is changed.
seealso:
  - module: signalcraft.ops.ecs_taskdef_deploy
"""

EXAMPLES = r"""
- name: Show the environment of revision 7
  signalcraft.ops.ecs_taskdef_env:
    task_definition: jobintel-daily:7
  register: taskdef_env

- name: Print it
  ansible.builtin.debug:
    msg: "{{ taskdef_env.lines }}"
"""

RETURN = r"""
task_definition_arn:
  description: The revision described.
  returned: on success
  type: str
family:
  description: Its family.
  returned: on success
  type: str
revision:
  description: Its revision number.
  returned: on success
  type: int
containers:
  description:
    - Per container C(name), C(image), C(environment) (list of C(name)/C(value), secret values redacted)
      and C(secrets) (C(name), C(valueFrom) redacted).
  returned: on success
  type: list
  elements: dict
  sample: [{"name": "jobintel", "image": "...@sha256:...", "environment": [{"name": "REDACTION_ENFORCE", "value": "1"}],
            "secrets": [{"name": "OPENAI_API_KEY", "valueFrom": "***REDACTED***"}]}]
lines:
  description: C(container=... image=...), then C(NAME=value) lines and C(NAME=<secret ***REDACTED***>) for secrets.
  returned: on success
  type: list
  elements: str
reason:
  description: The stable failure token (C(task_definition_not_found), C(container_not_found), C(aws_error)).
  returned: on failure
  type: str
receipt:
  description: A receipt.v1 document (operation C(print_taskdef_env), phase C(taskdef_env)) for M(signalcraft.ops.receipt).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecs
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.redaction import secret_values_in


def main():
    argument_spec = aws.aws_argument_spec()
    argument_spec.update(
        task_definition=dict(type="str", required=True),
        container_name=dict(type="str"),
        execution_id=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(aws.BOTO3_IMPORT_ERROR))
    params = module.params
    started = receipts.utc_now()
    factory = aws.AwsClientFactory.from_params(params)
    result = dict(changed=False)
    status, reason, message = "success", None, None
    try:
        described, _tags = ecs.describe_task_definition(factory.client("ecs"), params["task_definition"])
        for container in described.get("containerDefinitions") or []:
            module.no_log_values.update(secret_values_in(container.get("environment") or []))
        containers = ecs.taskdef_environment(described, params["container_name"], list(module.no_log_values))
        summary = ecs.definition_summary(described)
        result.update(task_definition_arn=summary["arn"], family=summary["family"], revision=summary["revision"],
                      containers=containers, lines=ecs.environment_lines(containers))
    except GuardError as exc:
        status, reason, message = "failed", exc.reason, "taskdef_env status=fail reason=%s: %s" % (exc.reason, exc.message)
    except aws.AWS_ERRORS + (ValueError,) as exc:
        status, reason, message = "failed", "aws_error", "taskdef_env status=fail reason=aws_error: %s" % aws.describe_error(
            exc, "describe_task_definition")
    result["receipt"] = receipts.build(
        "print_taskdef_env", "taskdef_env", status, receipts.execution_id(params["execution_id"], "print_taskdef_env", started),
        started, inputs=dict((k, params[k]) for k in ("task_definition", "container_name", "region", "endpoint_url")),
        outputs=dict((k, result.get(k)) for k in ("task_definition_arn", "revision", "containers")), failure_code=reason, message=message,
        attempts=1 + factory.retries, module="signalcraft.ops.ecs_taskdef_env", secret_values=list(module.no_log_values))
    if status == "failed":
        module.fail_json(msg=message, reason=reason, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
