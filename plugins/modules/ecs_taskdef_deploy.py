#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ecs_taskdef_deploy
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Register a new ECS task-definition revision from the current one with a new image and environment
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
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt]
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
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: The task-definition revision registered (or the current one when nothing changed), its image and the changes from the previous one.
  returned: always
  type: dict
  contains:
    task_definition_arn:
      description: The revision that now describes the workload (new, or the unchanged latest). Null in check mode when a revision would be registered.
      returned: success
      type: str
      sample: arn:aws:ecs:us-east-1:111122223333:task-definition/jobintel-daily:7
    revision:
      description: Its revision number (null in check mode when a revision would be registered).
      returned: success
      type: int
      sample: 7
    previous_task_definition_arn:
      description: The latest ACTIVE revision before this run.
      returned: success
      type: str
    registered:
      description: Whether a revision was registered by this run.
      returned: success
      type: bool
    changes:
      description: What differs between the latest revision and the requested one (secret values redacted).
      returned: success
      type: list
      elements: str
      sample: ["container jobintel image: ...@sha256:aaa -> ...@sha256:bbb"]
    image:
      description: The image as resolved in ECR - C(pinned_ref) (C(<registry>/<repository>@<digest>), what the revision carries),
        C(digest), C(tag) (the tag given, if any), C(repository), C(registry_id), C(pushed_at).
      returned: success
      type: dict
diff:
  description: The normalised definition before and after (secret values redacted).
  returned: when the latest revision was described
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule, no_log_values_in
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError, require_values
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecr
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecs
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    family=dict(type="str", required=True),
    container_name=dict(type="str"),
    image_ref=dict(type="str", required=True),
    allow_image_tags=dict(type="bool", default=False),
    environment=dict(type="dict", default={}),
    purge_environment=dict(type="bool", default=False),
    remove_environment=dict(type="list", elements="str", default=[]),
    base_revision=dict(type="int"),
    deployment_env=dict(type="str", default="this environment"),
)


def run(ops):
    params = ops.params
    no_log_values_in(ops, [{"name": k, "value": v} for k, v in params["environment"].items()])
    require_values(params, ("family", "no task-definition family given; set jobintel_task_family in the inventory "
                                      "(or -e jobintel_task_family=<family>)."),
                   ("image_ref", "no image given; set jobintel_image_ref (-e jobintel_image_ref=<repo>@sha256:<digest>)."))
    try:
        image = ecr.resolve_image(ops.client("ecr"), params["image_ref"], allow_tags=params["allow_image_tags"],
                                  context=params["deployment_env"])
    except GuardError as exc:
        exc.message = "%s (-e jobintel_image_ref)" % exc.message
        raise
    plan = ecs.plan_revision(ops.client("ecs"), params["family"], params["container_name"], image["pinned_ref"],
                             params["environment"], params["purge_environment"], params["remove_environment"], params["base_revision"])
    current = ecs.definition_summary(plan["current"])
    outputs = dict(changed=plan["changed"], registered=False, changes=plan["changes"], image=image,
                   previous_task_definition_arn=current["arn"], task_definition_arn=current["arn"], revision=current["revision"])
    status = "ok"
    if ops.check_mode:
        status = "planned"
        if plan["changed"]:
            outputs.update(task_definition_arn=None, revision=None)
        line = [("family", params["family"]), ("would_register", plan["changed"]), ("changes", len(plan["changes"]))]
    else:
        if plan["changed"]:
            registered = ecs.definition_summary(ecs.register_revision(ops.client("ecs"), plan["request"], plan["current_tags"]))
            outputs.update(registered=True, task_definition_arn=registered["arn"], revision=registered["revision"])
        line = [("task_definition", outputs["task_definition_arn"]), ("registered", outputs["registered"]),
                ("changes", len(plan["changes"]))]
    outputs.pop("changed")
    diff = {"before": ecs.redact_definition(plan["before"]), "after": ecs.redact_definition(plan["after"]),
            "before_header": current["arn"], "after_header": outputs["task_definition_arn"] or "%s (new revision)" % params["family"]}
    return dict(changed=plan["changed"], status=status, outputs=outputs, line=line, diff=diff)


def main():
    OpsModule(ARGUMENT_SPEC, operation="deploy", phase="deploy", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
