#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: s3_publish_run
short_description: Publish a run to S3 with verified SHA-256 checksums, then move latest/ and the last_success pointers
version_added: "0.1.0"
description:
  - Publishes one run (C(PUBLISH_S3=1 run_daily.py) as a module) to C(s3://<bucket>/<prefix>/runs/<run_id>/), keeping
    the source's inner layout (C(run_summary.v1.json), C(run_health.v1.json), C(artifacts/...),
    C(<provider>/<profile>/...)).
  - The source is a local run directory (O(run_dir)) uploaded with PutObject, or an S3 prefix (O(source_prefix), by
    default C(<prefix>/outbox/<run_id>/) where the ECS task leaves its run) copied server-side with CopyObject.
  - All transfers run concurrently in this one task (O(concurrency) threads sharing one client and one retry policy).
    Each object is sent with a SHA-256 checksum; objects already stored with the same SHA-256 and size are skipped;
    afterwards every object's SHA-256 is read back with HeadObject (C(ChecksumMode=ENABLED)) and compared.
  - Only after that, and only when C(run_health.v1.json) says C(healthy) or C(degraded), for each provider/profile
    the outputs are copied to C(latest/<provider>/<profile>/) (verified, then stale keys deleted) and the pointer
    C(state/<provider>/<profile>/last_success.json) moves by compare-and-swap; C(state/last_success.json) moves last.
    A pointer therefore never names a run that is not fully published.
  - A run whose health is C(failed) has its objects published under C(runs/) (the terminal run invariant keeps its
    failure evidence) but no pointer and nothing under C(latest/) moves.
  - Inputs and buckets are checked before any write; C(publish status=fail reason=<token>) names what is wrong
    (C(publish_disabled), C(bucket_unset), C(bucket_missing), C(access_denied), C(run_dir_missing),
    C(run_health_missing), C(run_id_mismatch), C(run_object_conflict), C(checksum_mismatch), C(upload_failed),
    C(copy_failed), C(pointer_conflict), C(run_failed), ...).
  - Pointer documents are C(pointer.v1) with C(run_id), C(provider), C(profile), C(target), C(published_at),
    C(object_count) and C(provenance) (C(git_sha), C(image_digest), C(ecs_task_arn)). Provenance comes from the
    options, else the run's C(run_summary.v1.json), else the ECS task metadata endpoint
    (C(ECS_CONTAINER_METADATA_URI_V4)/task) when running inside ECS.
  - A pointer is not moved back to an older run id unless O(allow_rewind=true). Republishing the run a pointer
    already names leaves the pointer (and its C(published_at)) as it is.
author:
  - signalcraft maintainers (@signalcraft)
options:
  enabled:
    description:
      - The C(PUBLISH_S3) switch. V(false) fails with C(reason=publish_disabled) before any AWS call.
    type: bool
    default: true
  bucket:
    description:
      - The artifact bucket. Empty or a C(REPLACE_WITH_) placeholder fails with C(reason=bucket_unset); a bucket that
        does not exist fails with C(reason=bucket_missing). Either way nothing is written.
    type: str
    required: true
  prefix:
    description: Key prefix inside O(bucket), without leading or trailing C(/).
    type: str
    default: ""
  run_id:
    description:
      - The run id. Defaults to C(run_id) in the source's C(run_summary.v1.json); when both are known they must agree.
      - With neither O(run_dir) nor O(source_prefix), the source is C(<prefix>/outbox/<run_id>/) in O(bucket).
    type: str
  run_dir:
    description: Local run directory holding C(run_summary.v1.json) and C(run_health.v1.json).
    type: path
  source_prefix:
    description: Key prefix of the run in O(source_bucket), for example C(jobintel/outbox/20260101T060000Z).
    type: str
  source_bucket:
    description: Bucket of O(source_prefix). Defaults to O(bucket).
    type: str
  providers:
    description:
      - Providers whose C(latest/) and pointer move. Default is C(providers) in C(run_summary.v1.json).
      - A provider/profile without outputs in the run is reported in RV(pairs_skipped) and left alone.
    type: list
    elements: str
    default: []
  profiles:
    description: Profiles whose C(latest/) and pointer move. Default is C(profiles) in C(run_summary.v1.json).
    type: list
    elements: str
    default: []
  concurrency:
    description: Threads for hashing, uploads, copies and checksum reads.
    type: int
    default: 16
  fail_on_failed_run:
    description:
      - Fail (C(reason=run_failed)) after publishing the objects of a run whose health is C(failed).
        Pointers never move for such a run either way.
    type: bool
    default: true
  allow_rewind:
    description: Allow a pointer to move to a run id that sorts before the one it names.
    type: bool
    default: false
  replace_changed:
    description:
      - Overwrite objects under C(runs/<run_id>/) whose content differs from the source. When V(false) such a
        difference fails with C(reason=run_object_conflict) before anything is written.
    type: bool
    default: false
  delete_stale_latest:
    description: Delete keys under C(latest/<provider>/<profile>/) that are not part of the new run.
    type: bool
    default: true
  git_sha:
    description: Provenance override for C(git_sha).
    type: str
  image_digest:
    description: Provenance override for C(image_digest) (C(sha256:<64 hex>)).
    type: str
  ecs_task_arn:
    description: Provenance override for C(ecs_task_arn).
    type: str
  task_metadata_uri:
    description:
      - ECS task metadata v4 base URI, read only when the image digest or task ARN is not known otherwise.
      - Inside an ECS task the agent sets C(ECS_CONTAINER_METADATA_URI_V4), which is the default.
    type: str
extends_documentation_fragment:
  - signalcraft.ops.aws
  - signalcraft.ops.receipt
attributes:
  check_mode:
    support: full
    description: Lists, hashes and reads only; returns what would be written, copied, deleted and moved.
  diff_mode:
    support: full
    description: The run id each pointer names before and after.
notes:
  - Objects larger than 5 GiB (the single-request limit) are refused before anything is written.
  - Run ids are UTC timestamps (C(YYYYMMDDTHHMMSSZ), optionally with a suffix), so a larger one is a later run.
seealso:
  - module: signalcraft.ops.pointer_verify
  - module: signalcraft.ops.run_provenance
"""

EXAMPLES = r"""
- name: Publish a local run directory
  signalcraft.ops.s3_publish_run:
    bucket: "{{ jobintel_bucket }}"
    prefix: jobintel
    run_dir: /var/lib/jobintel/runs/20260101T060000Z
  register: published

- name: Publish what the ECS task left in the outbox (server-side copies)
  signalcraft.ops.s3_publish_run:
    bucket: "{{ jobintel_bucket }}"
    prefix: jobintel
    run_id: "{{ run_once.run_id }}"
    source_prefix: "jobintel/outbox/{{ run_once.run_id }}"
    concurrency: 32
"""

RETURN = r"""
status:
  description: C(ok), or C(fail) on failure.
  returned: always
  type: str
reason:
  description: The failure's stable token, or null.
  returned: always
  type: str
  sample: bucket_missing
token_line:
  description: C(publish status=ok run_id=... run_status=... written=N skipped=M pointers=moved|unchanged|held|skipped).
  returned: always
  type: str
run_id:
  description: The published run.
  returned: when the source was read
  type: str
run_status:
  description: C(healthy), C(degraded) or C(failed), from C(run_health.v1.json).
  returned: when the source was read
  type: str
failed_stage:
  description: The failed stage from C(run_health.v1.json), or null.
  returned: when the source was read
  type: str
failure_codes:
  description: C(failure_codes) from C(run_health.v1.json).
  returned: when the source was read
  type: list
  elements: str
source:
  description: The run directory or C(s3://) prefix that was published.
  returned: when the source was read
  type: str
target:
  description: C(s3://<bucket>/<prefix>/runs/<run_id>/).
  returned: when the source was read
  type: str
object_count:
  description: Number of objects in the run.
  returned: when the source was read
  type: int
uploaded:
  description: Keys written with PutObject (in check mode, that would be).
  returned: always
  type: list
  elements: str
copied:
  description: Keys written with CopyObject from the S3 source (in check mode, that would be).
  returned: always
  type: list
  elements: str
uploaded_count:
  description: Length of RV(uploaded).
  returned: when the source was read
  type: int
copied_count:
  description: Length of RV(copied).
  returned: when the source was read
  type: int
skipped_count:
  description: Run objects already stored with the same SHA-256 and size.
  returned: always
  type: int
verified_count:
  description: Run objects whose SHA-256 and size were read back and matched.
  returned: when not in check mode and the objects were written
  type: int
latest:
  description: Per provider/profile, the C(latest/) prefix, keys copied (C(copy)), unchanged (C(skip_count)) and deleted (C(delete)).
  returned: always
  type: list
  elements: dict
pointers:
  description:
    - Per pointer, C(key), C(before_run_id), C(after_run_id), C(action) (moved, unchanged, held), C(changed),
      and after a write C(etag), C(version_id), C(cas_attempts); C(held_reason) when held.
  returned: always
  type: list
  elements: dict
pointers_moved:
  description: Whether any pointer now names this run that did not before.
  returned: always
  type: bool
pointer_skip_reason:
  description: C(run_failed) when the run's health kept every pointer where it was.
  returned: when the run failed
  type: str
pairs_skipped:
  description: Provider/profile pairs with no outputs in the run (their pointer and C(latest/) stay).
  returned: always
  type: list
  elements: dict
provenance:
  description: C(git_sha), C(image_digest), C(ecs_task_arn) written into the pointers.
  returned: when the source was read
  type: dict
provenance_sources:
  description: Where each provenance value came from (override, run_summary, task_metadata, unknown).
  returned: when the source was read
  type: dict
attempts:
  description: 1 plus the retries the shared retry policy made (throttling, 5xx).
  returned: always
  type: int
receipt:
  description: A receipt.v1 document (operation C(publish), phase C(publish)) for M(signalcraft.ops.receipt).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import publish as run_publish
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel.provenance import METADATA_ENV, ProvenanceError
from ansible_collections.signalcraft.ops.plugins.module_utils.services.s3 import TransferError

_INPUTS = ("enabled", "bucket", "prefix", "run_id", "run_dir", "source_prefix", "source_bucket", "providers", "profiles",
           "concurrency", "fail_on_failed_run", "allow_rewind", "replace_changed", "delete_stale_latest", "git_sha",
           "image_digest", "ecs_task_arn", "task_metadata_uri", "region", "endpoint_url")
_OUTPUTS = ("status", "reason", "token_line", "run_id", "run_status", "failed_stage", "failure_codes", "source", "target",
            "object_count", "uploaded_count", "copied_count", "skipped_count", "verified_count", "latest", "pointers",
            "pointers_moved", "pointer_skip_reason", "pairs_skipped", "provenance", "provenance_sources", "attempts")


def publisher_params(params):
    mapped = dict(params)
    mapped["publish_enabled"] = params["enabled"]
    return mapped


def receipt_for(module, result, started, status, factory):
    result["attempts"] = 1 + (factory.retries if factory else 0)
    return receipts.build(
        "publish", "publish", status, receipts.execution_id(module.params["execution_id"], "publish", started),
        started, inputs=dict((k, module.params[k]) for k in _INPUTS),
        outputs=dict((k, result[k]) for k in _OUTPUTS if k in result), failure_code=result.get("reason"),
        attempts=result["attempts"], changed=result.get("changed", False), module="signalcraft.ops.s3_publish_run",
        message=result.get("msg"),
    )


def fail(module, started, factory, reason, text, partial=None):
    result = dict(partial or {})
    for key in ("uploaded", "copied", "latest", "pointers", "pairs_skipped"):
        result.setdefault(key, [])
    result.setdefault("skipped_count", 0)
    result.setdefault("pointers_moved", False)
    line = "publish status=fail reason=%s" % reason
    result.update(status="fail", reason=reason, token_line=line, msg="%s: %s" % (line, text))
    result["changed"] = bool(result["uploaded"] or result["copied"])
    result.pop("diff", None)
    result["receipt"] = receipt_for(module, result, started, "failed", factory)
    module.fail_json(**result)


def main():
    argument_spec = aws.aws_argument_spec()
    argument_spec.update(
        enabled=dict(type="bool", default=True),
        bucket=dict(type="str", required=True),
        prefix=dict(type="str", default=""),
        run_id=dict(type="str"),
        run_dir=dict(type="path"),
        source_prefix=dict(type="str"),
        source_bucket=dict(type="str"),
        providers=dict(type="list", elements="str", default=[]),
        profiles=dict(type="list", elements="str", default=[]),
        concurrency=dict(type="int", default=16),
        fail_on_failed_run=dict(type="bool", default=True),
        allow_rewind=dict(type="bool", default=False),
        replace_changed=dict(type="bool", default=False),
        delete_stale_latest=dict(type="bool", default=True),
        git_sha=dict(type="str"),
        image_digest=dict(type="str"),
        ecs_task_arn=dict(type="str"),
        task_metadata_uri=dict(type="str", fallback=(env_fallback, [METADATA_ENV])),
        execution_id=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[("run_dir", "source_prefix")],
                           required_one_of=[("run_dir", "source_prefix", "run_id")],
                           required_by={"source_bucket": "source_prefix"})
    if not aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(aws.BOTO3_IMPORT_ERROR))
    started = receipts.utc_now()
    factory = None
    publisher = None
    try:
        run_publish.validate(publisher_params(module.params))  # no client, no AWS call when the inputs are wrong
        factory = aws.AwsClientFactory.from_params(module.params)
        publisher = run_publish.Publisher(factory.client("s3"), publisher_params(module.params), check_mode=module.check_mode)
        result = publisher.run()
    except run_publish.PublishError as exc:
        fail(module, started, factory, exc.reason, exc.message, publisher.result if publisher else None)
    except TransferError as exc:
        fail(module, started, factory, exc.reason, exc.message, publisher.result if publisher else None)
    except (pointers.PointerError, ProvenanceError) as exc:
        fail(module, started, factory, exc.reason, str(exc), publisher.result if publisher else None)
    except aws.AWS_ERRORS + (ValueError,) as exc:
        fail(module, started, factory, "aws_error" if isinstance(exc, aws.AWS_ERRORS) else "invalid_input",
             aws.describe_error(exc, "publish"), publisher.result if publisher else None)
    if result["run_status"] == "failed" and module.params["fail_on_failed_run"]:
        detail = (result["run_id"], result.get("failed_stage"), ",".join(result.get("failure_codes") or []) or "-",
                  result["object_count"], result["target"])
        fail(module, started, factory, "run_failed",
             "run %s failed (failed_stage=%s, failure_codes=%s); its %d objects are under %s for inspection and no pointer moved." % detail,
             result)
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    result["receipt"] = receipt_for(module, result, started, "success", factory)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
