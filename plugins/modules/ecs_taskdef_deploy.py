#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ecs_taskdef_deploy
short_description: Register a new ECS task-definition revision from the current one with a new image and environment
version_added: "0.1.0"
description:
  - Derives the next revision of O(family) from its latest ACTIVE revision (or O(base_revision)),
    sets the image of one container to O(image_ref) and overlays O(environment) on its environment,
    and registers it only when the result differs from the latest revision.
  - The comparison is between I(normalised) definitions - read-only fields (C(taskDefinitionArn),
    C(revision), C(status), C(registeredAt), C(registeredBy), C(requiresAttributes),
    C(compatibilities)), the defaults ECS fills in (empty lists, C(essential=true), container
    C(cpu=0), C(tcp), awsvpc host ports) and the order of C(environment) and C(secrets) are
    ignored - so a second run with the same inputs reports C(changed=false) and registers nothing.
  - O(image_ref) must be digest-pinned (C(<repo>@sha256:<digest>)) unless O(allow_image_tags=true),
    and must exist in ECR. A tag is resolved to its digest, so the revision always carries a pinned
    reference.
  - Tags of the base revision (except AWS-reserved C(aws:) ones) are copied to the new revision.
  - Replaces C(deploy_ecs_rev.sh).
author:
  - signalcraft maintainers (@signalcraft)
options:
  family:
    description:
      - The task-definition family.
    type: str
    required: true
  container_name:
    description:
      - The container whose image and environment change. Default is the only container, or the
        first essential one.
    type: str
  image_ref:
    description:
      - The image, C(<account>.dkr.ecr.<region>.amazonaws.com/<repo>@sha256:<64 hex>).
    type: str
    required: true
  allow_image_tags:
    description:
      - Accept C(<repo>:<tag>) (resolved to its digest in ECR). Only for environments whose
        inventory allows tags (dev).
    type: bool
    default: false
  environment:
    description:
      - Environment overlay (name to value) on the container's environment. Values must be strings
        or numbers. Names the container takes from C(secrets) are refused.
      - Secrets do not belong here; values of secret-looking names are redacted from results.
    type: dict
    default: {}
  purge_environment:
    description:
      - Replace the container's environment with O(environment) instead of overlaying it.
    type: bool
    default: false
  remove_environment:
    description:
      - Names to remove from the container's environment.
    type: list
    elements: str
    default: []
  base_revision:
    description:
      - Derive the new revision from this revision instead of the latest ACTIVE one. The result is
        still compared with the latest ACTIVE revision.
    type: int
  deployment_env:
    description:
      - The environment being deployed to; named in the refusal message when a tag is given.
    type: str
    default: this environment
extends_documentation_fragment:
  - signalcraft.ops.aws
  - signalcraft.ops.receipt
attributes:
  check_mode:
    support: full
    description: Resolves the image and computes the difference; registers nothing.
  diff_mode:
    support: full
    description: Shows the normalised definition before and after (secret values redacted).
seealso:
  - module: signalcraft.ops.ecs_service_update
  - module: signalcraft.ops.ecs_run_task
"""

EXAMPLES = r"""
- name: Register a revision with a new image and the inventory's environment overlay
  signalcraft.ops.ecs_taskdef_deploy:
    family: jobintel-daily
    container_name: jobintel
    image_ref: 111122223333.dkr.ecr.us-east-1.amazonaws.com/jobintel@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    environment:
      REDACTION_ENFORCE: "1"
      JOBINTEL_S3_BUCKET: jobintel-prod1
  register: deployed

- name: Dev only - deploy a tag (resolved to its digest)
  signalcraft.ops.ecs_taskdef_deploy:
    family: jobintel-daily
    image_ref: 111122223333.dkr.ecr.us-east-1.amazonaws.com/jobintel:main
    allow_image_tags: true
    deployment_env: dev
"""

RETURN = r"""
task_definition_arn:
  description: The revision that now describes the workload (new, or the unchanged latest). Null in check mode when a revision would be registered.
  returned: always
  type: str
  sample: arn:aws:ecs:us-east-1:111122223333:task-definition/jobintel-daily:7
revision:
  description: Its revision number (null in check mode when a revision would be registered).
  returned: always
  type: int
  sample: 7
previous_task_definition_arn:
  description: The latest ACTIVE revision before this run.
  returned: always
  type: str
registered:
  description: Whether a revision was registered by this run.
  returned: always
  type: bool
changes:
  description: What differs between the latest revision and the requested one (secret values redacted).
  returned: always
  type: list
  elements: str
  sample: ["container jobintel image: ...@sha256:aaa -> ...@sha256:bbb"]
image:
  description: The image as resolved in ECR.
  returned: always
  type: dict
  contains:
    pinned_ref:
      description: C(<registry>/<repository>@<digest>), what the revision carries.
      type: str
    digest:
      description: The image digest.
      type: str
    tag:
      description: The tag given, if any.
      type: str
    pushed_at:
      description: When the image was pushed.
      type: str
attempts:
  description: API call attempts beyond the first (throttling retries) plus one.
  returned: always
  type: int
reason:
  description: The stable failure token (C(image_ref_not_pinned), C(image_not_found), C(task_definition_not_found), ...).
  returned: on failure
  type: str
  sample: image_ref_not_pinned
receipt:
  description: A receipt.v1 document (operation C(deploy), phase C(deploy)) for M(signalcraft.ops.receipt).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecr
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecs
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.redaction import secret_values_in

_INPUTS = ("family", "container_name", "image_ref", "allow_image_tags", "environment", "purge_environment",
           "remove_environment", "base_revision", "deployment_env", "region", "endpoint_url")


def run(module, factory, started):
    params = module.params
    image = ecr.resolve_image(factory.client("ecr"), params["image_ref"], allow_tags=params["allow_image_tags"],
                              context=params["deployment_env"])
    plan = ecs.plan_revision(factory.client("ecs"), params["family"], params["container_name"], image["pinned_ref"],
                             params["environment"], params["purge_environment"], params["remove_environment"], params["base_revision"])
    current = ecs.definition_summary(plan["current"])
    result = dict(changed=plan["changed"], registered=False, changes=plan["changes"], image=image,
                  previous_task_definition_arn=current["arn"], task_definition_arn=current["arn"], revision=current["revision"])
    if plan["changed"] and module.check_mode:
        result.update(task_definition_arn=None, revision=None)
    elif plan["changed"]:
        registered = ecs.definition_summary(ecs.register_revision(factory.client("ecs"), plan["request"], plan["current_tags"]))
        result.update(registered=True, task_definition_arn=registered["arn"], revision=registered["revision"])
    if module._diff:
        result["diff"] = {"before": ecs.redact_definition(plan["before"]), "after": ecs.redact_definition(plan["after"]),
                          "before_header": current["arn"], "after_header": result["task_definition_arn"] or "%s (new revision)" % params["family"]}
    return result


def main():
    argument_spec = aws.aws_argument_spec()
    argument_spec.update(
        family=dict(type="str", required=True),
        container_name=dict(type="str"),
        image_ref=dict(type="str", required=True),
        allow_image_tags=dict(type="bool", default=False),
        environment=dict(type="dict", default={}),
        purge_environment=dict(type="bool", default=False),
        remove_environment=dict(type="list", elements="str", default=[]),
        base_revision=dict(type="int"),
        deployment_env=dict(type="str", default="this environment"),
        execution_id=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(aws.BOTO3_IMPORT_ERROR))
    params = module.params
    module.no_log_values.update(secret_values_in([{"name": k, "value": v} for k, v in params["environment"].items()]))
    started = receipts.utc_now()
    execution_id = receipts.execution_id(params["execution_id"], "deploy", started)
    inputs = dict((k, params[k]) for k in _INPUTS)
    factory = aws.AwsClientFactory.from_params(params)
    status, reason, message, result = "success", None, None, dict(changed=False)
    try:
        result = run(module, factory, started)
    except GuardError as exc:
        status, reason, message = "failed", exc.reason, "deploy status=fail reason=%s: %s" % (exc.reason, exc.message)
    except aws.AWS_ERRORS + (ValueError,) as exc:
        status, reason, message = "failed", "aws_error", "deploy status=fail reason=aws_error: %s" % aws.describe_error(exc, "deploy")
    outputs = dict((k, result.get(k)) for k in ("task_definition_arn", "revision", "previous_task_definition_arn", "registered", "changes", "image"))
    result["attempts"] = 1 + factory.retries
    result["receipt"] = receipts.build(
        "deploy", "deploy", status, execution_id, started, inputs=inputs, outputs=outputs, failure_code=reason,
        message=message, attempts=result["attempts"], changed=bool(result.get("changed")) and not module.check_mode,
        module="signalcraft.ops.ecs_taskdef_deploy", secret_values=list(module.no_log_values))
    if status == "failed":
        module.fail_json(msg=message, reason=reason, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
