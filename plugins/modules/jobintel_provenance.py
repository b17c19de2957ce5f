#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: jobintel_provenance
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Show the build provenance of the last successful run from its pointer
description:
  - C(show_run_provenance.sh) as a module. Reads C(<prefix>/state/last_success.json), or
    C(<prefix>/state/<provider>/<profile>/last_success.json) when O(provider) and O(run_profile) are given, and returns
    the run id and its build provenance (C(git_sha), C(image_digest), C(ecs_task_arn)).
  - Returns the line C(provenance status=ok run_id=... git_sha=... image_digest=... ecs_task_arn=...) (C(none) for unknown).
  - Fails with C(provenance status=fail reason=<token>), C(pointer_missing), C(access_denied), C(pointer_invalid),
    C(bucket_unset), C(inventory_placeholder) or C(bucket_not_found).
  - Reads only.
options:
  provider:
    description: With O(run_profile), read this provider/profile's pointer instead of C(last_success).
    type: str
  run_profile:
    description:
      - With O(provider), read this provider/profile's pointer instead of C(last_success).
      - Named C(run_profile) because C(profile) is the AWS config profile option.
    type: str
seealso:
  - module: signalcraft.ops.jobintel_publish
  - module: signalcraft.ops.jobintel_verify_ops
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.read_only, signalcraft.ops.s3_location]
"""

EXAMPLES = r"""
- name: Show the provenance of the last successful run
  signalcraft.ops.jobintel_provenance:
    bucket: "{{ jobintel_bucket }}"
    prefix: jobintel

- name: Show the provenance of the last successful openai/cs run
  signalcraft.ops.jobintel_provenance:
    bucket: "{{ jobintel_bucket }}"
    prefix: jobintel
    provider: openai
    run_profile: cs
"""

RETURN = r"""
status:
  description: C(ok) or C(fail).
  returned: always
  type: str
outputs:
  description: The pointer and the provenance it records.
  returned: always
  type: dict
  contains:
    pointer_uri:
      description: The pointer that was read.
      returned: always
      type: str
    run_id:
      description: The run the pointer names.
      returned: success
      type: str
    provider:
      description: The pointer's provider (null for C(last_success)).
      returned: success
      type: str
    profile:
      description: The pointer's profile (null for C(last_success)).
      returned: success
      type: str
    target:
      description: The C(s3://) prefix the pointer names.
      returned: success
      type: str
    published_at:
      description: When the pointer was moved to this run.
      returned: success
      type: str
    object_count:
      description: Objects under the target when it was published.
      returned: success
      type: int
    provenance:
      description: C(git_sha), C(image_digest) and C(ecs_task_arn) of the run.
      returned: success
      type: dict
      sample: {"git_sha": "5eed0000...", "image_digest": "sha256:ac12...", "ecs_task_arn": "arn:aws:ecs:us-east-1:111122223333:task/jobintel/5eed..."}
    pointer_etag:
      description: ETag of the pointer object that was read (for a later compare-and-swap).
      returned: success
      type: str
    pointer_version_id:
      description: Version id of the pointer object that was read (for a rollback).
      returned: success
      type: str
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import layout
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import provenance
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import publish as run_publish
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import run_pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection
from ansible_collections.signalcraft.ops.plugins.module_utils.services.s3 import location_argument_spec

ARGUMENT_SPEC = dict(
    **location_argument_spec(),
    provider=dict(type="str"),
    run_profile=dict(type="str"),
)


def run(ops):
    params = ops.params
    bad = [n for n in (params["provider"], params["run_profile"]) if n is not None and not run_pointers.valid_name(n)]
    if bad:
        raise OpsError("invalid_input", "provenance_provider/provenance_profile %s must be lowercase tokens." % bad)
    key = layout.pointer_key(params["prefix"], params["provider"], params["run_profile"])
    found = {"pointer_uri": pointers.s3_uri(params["bucket"], key)}
    try:
        run_publish.check_bucket_name(params["bucket"])
        s3 = ops.client("s3")
        run_publish.check_bucket_exists(s3, params["bucket"])
        current = pointers.read_pointer(s3, params["bucket"], key)
    except OpsError as exc:
        exc.add_context(found)
        raise
    if current is None:
        raise OpsError("pointer_missing", "%s does not exist; no run has been published there yet (playbooks/publish.yml)." % (
            found["pointer_uri"]), details=found)
    document = current["document"]
    problems = run_pointers.document_problems(document, params["provider"], params["run_profile"])
    if problems:
        raise OpsError("pointer_invalid", "%s is not a valid pointer.v1: %s." % (found["pointer_uri"], "; ".join(problems)),
                       details=found)
    found.update(pointer_etag=current["etag"], pointer_version_id=current["version_id"], provenance=document["provenance"])
    for name in ("run_id", "provider", "profile", "target", "published_at", "object_count"):
        found[name] = document[name]
    return dict(changed=False, outputs=found, line=provenance.line_fields(document))


def main():
    OpsModule(ARGUMENT_SPEC, operation="provenance", phase="provenance", connections=[AwsConnection],
              required_together=[("provider", "run_profile")]).run(run)


if __name__ == "__main__":
    main()
