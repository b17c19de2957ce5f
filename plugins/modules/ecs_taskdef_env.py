#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ecs_taskdef_env
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Show the image and environment of an ECS task-definition revision, secrets redacted
description:
  - Describes a task-definition revision and returns each container's image, environment and
    secret references. Replaces C(print_taskdef_env.sh TASKDEF_REV=<rev>).
  - Values of secret-looking names (C(*_PASSWORD), C(*_TOKEN), C(*_API_KEY), C(DSN), ...) and every
    C(secrets[].valueFrom) reference are replaced with C(***REDACTED***); the values are also
    masked in everything Ansible prints.
  - Prints C(taskdef_env status=ok task_definition=<arn> containers=<n>).
  - Reads only.
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
seealso:
  - module: signalcraft.ops.ecs_taskdef_deploy
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.read_only]
"""

EXAMPLES = r"""
- name: Show the environment of revision 7
  signalcraft.ops.ecs_taskdef_env:
    task_definition: jobintel-daily:7
  register: taskdef_env

- name: Print it
  ansible.builtin.debug:
    msg: "{{ taskdef_env.outputs.lines }}"
"""

RETURN = r"""
status:
  description: C(ok) or C(fail).
  returned: always
  type: str
outputs:
  description: The revision's image and environment, secret values redacted.
  returned: always
  type: dict
  contains:
    task_definition_arn:
      description: The revision described.
      returned: success
      type: str
    family:
      description: Its family.
      returned: success
      type: str
    revision:
      description: Its revision number.
      returned: success
      type: int
    containers:
      description:
        - Per container C(name), C(image), C(environment) (list of C(name)/C(value), secret values redacted)
          and C(secrets) (C(name), C(valueFrom) redacted).
      returned: success
      type: list
      elements: dict
      sample: [{"name": "jobintel", "image": "...@sha256:...", "environment": [{"name": "REDACTION_ENFORCE", "value": "1"}],
                "secrets": [{"name": "OPENAI_API_KEY", "valueFrom": "***REDACTED***"}]}]
    lines:
      description: C(container=... image=...), then C(NAME=value) lines and C(NAME=<secret ***REDACTED***>) for secrets.
      returned: success
      type: list
      elements: str
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import require_values
from ansible_collections.signalcraft.ops.plugins.module_utils.core.redaction import secret_values_in
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecs
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    task_definition=dict(type="str", required=True),
    container_name=dict(type="str"),
)


def run(ops):
    params = ops.params
    require_values(params, ("task_definition", "no task definition given; set jobintel_task_family (and -e taskdef_rev=<revision>)."))
    described, _tags = ecs.describe_task_definition(ops.client("ecs"), params["task_definition"])
    secrets = set()
    for container in described.get("containerDefinitions") or []:
        secrets |= secret_values_in(container.get("environment") or [])
    ops.add_secret(*sorted(secrets))
    containers = ecs.taskdef_environment(described, params["container_name"], sorted(secrets))
    summary = ecs.definition_summary(described)
    outputs = dict(task_definition_arn=summary["arn"], family=summary["family"], revision=summary["revision"],
                   containers=containers, lines=ecs.environment_lines(containers))
    return dict(changed=False, outputs=outputs, line=[("task_definition", summary["arn"]), ("containers", len(containers))])


def main():
    OpsModule(ARGUMENT_SPEC, operation="print_taskdef_env", phase="taskdef_env", connections=[AwsConnection],
              receipt_inputs=["task_definition", "container_name", "region", "endpoint_url"]).run(run)


if __name__ == "__main__":
    main()
