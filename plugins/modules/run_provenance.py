#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: run_provenance
short_description: Show the build provenance of the last successful run from its pointer
version_added: "0.1.0"
description:
  - C(show_run_provenance.sh) as a module. Reads C(<prefix>/state/last_success.json), or
    C(<prefix>/state/<provider>/<profile>/last_success.json) when O(provider) and O(run_profile) are given, and returns
    the run id and its build provenance (C(git_sha), C(image_digest), C(ecs_task_arn)).
  - Returns the line C(provenance run_id=... git_sha=... image_digest=... ecs_task_arn=...) (C(-) for unknown).
  - Fails with C(provenance status=fail reason=<token>), C(pointer_missing), C(access_denied), C(pointer_invalid) or
    C(bucket_missing).
  - Reads only.
author:
  - signalcraft maintainers (@signalcraft)
options:
  bucket:
    description: The artifact bucket.
    type: str
    required: true
  prefix:
    description: Key prefix inside O(bucket), without leading or trailing C(/).
    type: str
    default: ""
  provider:
    description: With O(run_profile), read this provider/profile's pointer instead of C(last_success).
    type: str
  run_profile:
    description:
      - With O(provider), read this provider/profile's pointer instead of C(last_success).
      - Named C(run_profile) because C(profile) is the AWS config profile option.
    type: str
extends_documentation_fragment:
  - signalcraft.ops.aws
  - signalcraft.ops.receipt
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Nothing is changed.
seealso:
  - module: signalcraft.ops.s3_publish_run
  - module: signalcraft.ops.pointer_verify
"""

EXAMPLES = r"""
- name: Show the provenance of the last successful run
  signalcraft.ops.run_provenance:
    bucket: "{{ jobintel_bucket }}"
    prefix: jobintel

- name: Show the provenance of the last successful openai/cs run
  signalcraft.ops.run_provenance:
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
reason:
  description: The failure token, or null.
  returned: always
  type: str
token_line:
  description: C(provenance run_id=... git_sha=... image_digest=... ecs_task_arn=...), or C(provenance status=fail reason=...).
  returned: always
  type: str
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
receipt:
  description: A receipt.v1 document (operation C(provenance), phase C(provenance)) for M(signalcraft.ops.receipt).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import provenance
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import run_pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import publish as run_publish


def run(params, factory):
    s3 = factory.client("s3")
    key = run_pointers.pointer_key(params["prefix"], params["provider"], params["run_profile"])
    result = dict(changed=False, pointer_uri=pointers.s3_uri(params["bucket"], key))
    try:
        run_publish.check_bucket_name(params["bucket"])
        run_publish.check_bucket_exists(s3, params["bucket"])
        current = pointers.read_pointer(s3, params["bucket"], key)
    except run_publish.PublishError as exc:
        return dict(result, status="fail", reason=exc.reason, detail=exc.message)
    except pointers.PointerError as exc:
        return dict(result, status="fail", reason=exc.reason, detail=str(exc))
    if current is None:
        return dict(result, status="fail", reason="pointer_missing",
                    detail="%s does not exist; no run has been published there yet." % result["pointer_uri"])
    document = current["document"]
    problems = run_pointers.document_problems(document, params["provider"], params["run_profile"])
    if problems:
        return dict(result, status="fail", reason="pointer_invalid",
                    detail="%s is not a valid pointer.v1: %s." % (result["pointer_uri"], "; ".join(problems)))
    result.update(status="ok", reason=None, token_line=provenance.token_line(document), pointer_etag=current["etag"],
                  pointer_version_id=current["version_id"], provenance=document["provenance"])
    for name in ("run_id", "provider", "profile", "target", "published_at", "object_count"):
        result[name] = document[name]
    return result


def main():
    argument_spec = aws.aws_argument_spec()
    argument_spec.update(
        bucket=dict(type="str", required=True),
        prefix=dict(type="str", default=""),
        provider=dict(type="str"),
        run_profile=dict(type="str"),
        execution_id=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, required_together=[("provider", "run_profile")])
    if not aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(aws.BOTO3_IMPORT_ERROR))
    params = module.params
    bad = [n for n in (params["provider"], params["run_profile"]) if n is not None and not run_pointers.valid_name(n)]
    if bad:
        module.fail_json(msg="provenance status=fail reason=invalid_input: provider/profile %s must be lowercase tokens." % bad,
                         status="fail", reason="invalid_input")
    started = receipts.utc_now()
    factory = aws.AwsClientFactory.from_params(params)
    try:
        result = run(params, factory)
    # pylint: disable-next=catching-non-exception  # a tuple of exception classes pylint cannot infer
    except aws.AWS_ERRORS as exc:
        pointer_key = run_pointers.pointer_key(params["prefix"], params["provider"], params["run_profile"])
        result = dict(changed=False, status="fail", reason="aws_error", detail=aws.describe_error(exc, "provenance"),
                      pointer_uri=pointers.s3_uri(params["bucket"], pointer_key))
    if result["status"] == "fail":
        result["token_line"] = run_pointers.token_line("provenance", "fail", result["reason"])
    detail = result.pop("detail", None)
    outputs = dict((k, v) for k, v in result.items() if k not in ("changed",))
    result["receipt"] = receipts.build(
        "provenance", "provenance", "success" if result["status"] == "ok" else "failed",
        receipts.execution_id(params["execution_id"], "provenance", started), started,
        inputs=dict((k, params[k]) for k in ("bucket", "prefix", "provider", "run_profile", "region", "endpoint_url")),
        outputs=outputs, failure_code=result["reason"], attempts=1 + factory.retries, module="signalcraft.ops.run_provenance",
        message=detail,
    )
    if result["status"] == "fail":
        module.fail_json(msg="%s: %s" % (result["token_line"], detail), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
