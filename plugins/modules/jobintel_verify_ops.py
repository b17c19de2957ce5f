#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: jobintel_verify_ops
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Verify the last_success pointers of published runs and the objects they name
description:
  - The checks of C(verify_ops.sh) as a module. Reads C(<prefix>/state/last_success.json) and, for every provider and
    profile, C(<prefix>/state/<provider>/<profile>/last_success.json).
  - Each pointer must exist, parse as C(pointer.v1) for its provider/profile, and name a target under which at least
    C(object_count) objects exist. With O(check_latest), C(latest/<provider>/<profile>/) must hold exactly the
    objects of the target (same keys, same SHA-256 or ETag).
  - Tells the failure kinds apart with stable tokens, C(pointer_missing), C(access_denied), C(target_missing),
    C(pointer_invalid), C(target_incomplete), C(latest_mismatch), C(bucket_not_found), C(bucket_unset),
    C(inventory_placeholder), and returns
    C(verify_ops status=ok) or C(verify_ops status=fail reason=<token>) (the first failing check's token).
  - Reads only.
options:
  providers:
    description: Providers whose pointers are checked, crossed with O(profiles). Empty checks only C(last_success).
    type: list
    elements: str
    default: []
  profiles:
    description: Profiles whose pointers are checked, crossed with O(providers).
    type: list
    elements: str
    default: []
  check_latest:
    description: Also compare C(latest/<provider>/<profile>/) with the target of that pair's pointer.
    type: bool
    default: true
  mode:
    description: V(verify) fails the task when a check fails; V(report) returns the same result without failing.
    type: str
    choices: [verify, report]
    default: verify
  concurrency:
    description: Threads for the checksum reads of the C(latest/) comparison.
    type: int
    default: 8
seealso:
  - module: signalcraft.ops.jobintel_publish
  - module: signalcraft.ops.jobintel_provenance
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.read_only, signalcraft.ops.s3_location]
"""

EXAMPLES = r"""
- name: Verify the published-run pointers
  signalcraft.ops.jobintel_verify_ops:
    bucket: "{{ jobintel_bucket }}"
    prefix: jobintel
    providers: [openai]
    profiles: [cs]
  register: verify_ops
"""

RETURN = r"""
status:
  description: C(ok) when every check passed, otherwise C(fail) (with O(mode=report), C(warn) and the task does not fail).
  returned: always
  type: str
outputs:
  description: The checks.
  returned: always
  type: dict
  contains:
    checks:
      description:
        - One per pointer, C(name) (C(last_success) or C(<provider>/<profile>)), C(pointer_key), C(status), C(reason),
          C(detail), and when readable C(run_id), C(target), C(object_count), C(found_count), C(published_at).
      returned: always
      type: list
      elements: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import publish as run_publish
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import run_pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection
from ansible_collections.signalcraft.ops.plugins.module_utils.services.s3 import location_argument_spec

ARGUMENT_SPEC = dict(
    **location_argument_spec(),
    providers=dict(type="list", elements="str", default=[]),
    profiles=dict(type="list", elements="str", default=[]),
    check_latest=dict(type="bool", default=True),
    mode=dict(type="str", choices=["verify", "report"], default="verify"),
    concurrency=dict(type="int", default=8),
)


def run(ops):
    params = ops.params
    bad = [n for n in params["providers"] + params["profiles"] if not run_pointers.valid_name(n)]
    if bad or (params["prefix"] or "").strip("/") != (params["prefix"] or ""):
        raise OpsError("invalid_input", "jobintel_prefix must not start or end with '/' and jobintel_publish_providers/"
                       "jobintel_publish_profiles must be lowercase tokens (got %s)." % (bad or params["prefix"]))
    checks = []
    try:
        run_publish.check_bucket_name(params["bucket"])
    except run_publish.PublishError as exc:
        checks.append({"name": "bucket", "pointer_key": None, "status": "fail", "reason": exc.reason, "detail": exc.message})
    if not checks:
        s3 = ops.client("s3")
        try:
            run_publish.check_bucket_exists(s3, params["bucket"])
        except run_publish.PublishError as exc:
            checks.append({"name": "bucket", "pointer_key": None, "status": "fail", "reason": exc.reason, "detail": exc.message})
    if not checks:
        checks.append(run_pointers.check_pointer(s3, params["bucket"], params["prefix"], concurrency=params["concurrency"]))
        for provider in params["providers"]:
            for profile in params["profiles"]:
                checks.append(run_pointers.check_pointer(s3, params["bucket"], params["prefix"], provider, profile,
                                                         check_latest=params["check_latest"], concurrency=params["concurrency"]))
    status, reason = run_pointers.summarize(checks)
    if status == "fail":
        details = "; ".join("%s: %s" % (c["name"], c["detail"]) for c in checks if c["status"] == "fail")
        if params["mode"] == "verify":
            raise OpsError(reason, details, details={"checks": checks})
        return dict(changed=False, status="warn", reason=reason, outputs={"checks": checks}, message=details)
    return dict(changed=False, outputs={"checks": checks})


def main():
    OpsModule(ARGUMENT_SPEC, operation="verify_ops", phase="verify_ops", connections=[AwsConnection],
              required_together=[("providers", "profiles")]).run(run)


if __name__ == "__main__":
    main()
