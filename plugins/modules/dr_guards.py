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
  - Returns C(guards status=ok account=<id> region=<region> image=pinned|none triggers=disabled|enabled).
author:
  - signalcraft maintainers (@signalcraft)
options:
  expected_account_id:
    description: The 12-digit account the caller must be in (the inventory's C(signalcraft_expected_account_id)).
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
# Every guard only reads, so it runs unchanged in check mode and has nothing to diff.
extends_documentation_fragment: [signalcraft.ops.read_only, signalcraft.ops.aws, signalcraft.ops.receipt]
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
status:
  description: C(ok) or C(fail).
  returned: always
  type: str
outputs:
  description: What the guards established.
  returned: always
  type: dict
  contains:
    identity:
      description: The caller's account and ARN and the region in use.
      returned: when the caller was identified
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

import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import check_account_region
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import runner
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecr
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    expected_account_id=dict(type="str", required=True),
    expected_region=dict(type="str", required=True),
    image_ref=dict(type="str", default=""),
    instance_type=dict(type="str", default=""),
    instance_family=dict(type="str", default="t4g"),
    enable_triggers=dict(type="bool", default=False),
)


def run(ops):
    p = ops.params
    checks = []
    outputs = dict(checks=checks, triggers="enabled" if p["enable_triggers"] else "disabled")
    try:
        if not p["expected_account_id"] or not re.match(r"^[0-9]{12}$", str(p["expected_account_id"])):
            # Bad input fails before any request (check_account_region words the refusal).
            check_account_region(None, None, p["expected_account_id"], p["expected_region"])
        connection = ops.connection("aws")
        identity = connection.factory.caller_identity()
        identity["region"] = connection.region
        outputs["identity"] = identity
        check_account_region(identity["account"], connection.region, p["expected_account_id"], p["expected_region"])
        checks.append({"name": "account_region", "status": "ok"})
        if p["instance_type"]:
            runner.check_instance_type(p["instance_type"], p["instance_family"])
            checks.append({"name": "instance_family", "status": "ok", "detail": p["instance_type"]})
        if p["image_ref"]:
            outputs["image"] = ecr.resolve_image(ops.client("ecr"), p["image_ref"], allow_tags=False, context="the DR drill")
            checks.append({"name": "image_ref", "status": "ok", "detail": outputs["image"]["digest"]})
    except OpsError as exc:
        checks.append({"name": "guard", "status": "fail", "reason": exc.reason})
        exc.details = dict(outputs, **exc.details)
        raise
    return dict(changed=False, outputs=outputs,
                line=[("account", identity["account"]), ("region", connection.region),
                      ("image", "pinned" if p["image_ref"] else "none"), ("triggers", outputs["triggers"])])


def main():
    OpsModule(ARGUMENT_SPEC, operation="dr_guards", phase="guards", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
