#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_guards
short_description: The DR drill's guards - account, region, digest-pinned image in ECR, ARM runner family
version_added: "0.1.0"
description:
  - Reads only, and runs before the drill changes anything. Fails closed with a stable reason token.
  - The caller's account and region (STS) must equal O(expected_account_id) and O(expected_region).
  - O(image_ref) must be digest-pinned (C(<repo>@sha256:<digest>)); tags are dev-only and refused for DR.
    It must exist in ECR.
  - O(instance_type) must be in O(instance_family) (ARM C(t4g) by default).
  - Reports whether triggers stay disabled (O(enable_triggers=false), the default).
author:
  - signalcraft maintainers (@signalcraft)
options:
  expected_account_id:
    description: The 12-digit account the caller must be in.
    type: str
    required: true
  expected_region:
    description: The region the caller must use.
    type: str
    required: true
  image_ref:
    description: The image the drill validates. Empty skips the image checks (a teardown-only run).
    type: str
    default: ""
  instance_type:
    description: Runner instance type. Empty skips the check (no bringup in the plan).
    type: str
    default: ""
  instance_family:
    description: The family the runner must belong to.
    type: str
    default: t4g
  enable_triggers:
    description: Whether restored CronJobs and schedules will be enabled (recorded; C(false) keeps them suspended).
    type: bool
    default: false
extends_documentation_fragment:
  - signalcraft.ops.aws
attributes:
  check_mode:
    support: full
    description: Reads only; every guard runs in check mode.
  diff_mode:
    support: none
    description: Nothing changes.
"""

EXAMPLES = r"""
- name: Guard the drill before any change
  signalcraft.ops.dr_guards:
    expected_account_id: "111122223333"
    expected_region: us-east-1
    image_ref: 111122223333.dkr.ecr.us-east-1.amazonaws.com/jobintel@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    instance_type: t4g.medium
"""

RETURN = r"""
identity:
  description: The caller's account and ARN and the region in use.
  returned: always
  type: dict
image:
  description: What O(image_ref) resolved to in ECR (repository, digest, pinned_ref, pushed_at).
  returned: when image_ref
  type: dict
checks:
  description: Each guard that ran, with its outcome.
  returned: always
  type: list
  elements: dict
triggers:
  description: C(disabled) or C(enabled).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecr
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import runner
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError, check_account_region


def main():
    argument_spec = aws.aws_argument_spec()
    argument_spec.update(
        expected_account_id=dict(type="str", required=True),
        expected_region=dict(type="str", required=True),
        image_ref=dict(type="str", default=""),
        instance_type=dict(type="str", default=""),
        instance_family=dict(type="str", default="t4g"),
        enable_triggers=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(aws.BOTO3_IMPORT_ERROR))
    p = module.params
    checks = []
    result = dict(changed=False, checks=checks, triggers="enabled" if p["enable_triggers"] else "disabled")
    try:
        factory = aws.AwsClientFactory.from_params(p)
        identity = factory.caller_identity()
        identity["region"] = factory.region
        result["identity"] = identity
        check_account_region(identity["account"], factory.region, p["expected_account_id"], p["expected_region"])
        checks.append({"name": "account_region", "status": "ok"})
        if p["instance_type"]:
            runner.check_instance_type(p["instance_type"], p["instance_family"])
            checks.append({"name": "instance_family", "status": "ok", "detail": p["instance_type"]})
        if p["image_ref"]:
            result["image"] = ecr.resolve_image(factory.client("ecr"), p["image_ref"], allow_tags=False, context="the DR drill")
            checks.append({"name": "image_ref", "status": "ok", "detail": result["image"]["digest"]})
    except GuardError as exc:
        checks.append({"name": "guard", "status": "fail", "reason": exc.reason})
        module.fail_json(msg="dr_guards status=fail reason=%s: %s" % (exc.reason, exc.message), reason=exc.reason, **result)
    except aws.AWS_ERRORS + (ValueError,) as exc:
        module.fail_json(msg="dr_guards status=fail reason=aws_error: %s" % aws.describe_error(exc, "checking the DR guards"),
                         reason="aws_error", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
