#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: jobintel_publish
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Publish a run to S3 with verified SHA-256 checksums, then move latest/ and the last_success pointers
description:
  - Publishes one run (C(PUBLISH_S3=1 run_daily.py) as a module) to C(s3://<bucket>/<prefix>/runs/<run_id>/), keeping
    the source's inner layout (C(run_summary.v1.json), C(run_health.v1.json), C(artifacts/...),
    C(<provider>/<profile>/...)).
  - The source is a local run directory (O(run_dir)) uploaded with PutObject, or an S3 prefix (O(source_prefix), by
    default C(<prefix>/outbox/<run_id>/) where the ECS task leaves its run) copied server-side with CopyObject.
  - All transfers run concurrently in this one task (O(concurrency) threads sharing one client and one retry policy).
    Each object is sent with a SHA-256 checksum; objects already stored with the same SHA-256 and size are skipped;
    afterwards every object's SHA-256 is read back with HeadObject (C(ChecksumMode=ENABLED)) and compared.
  - 'While it runs, the operator sees progress lines, at most one every C(SIGNALCRAFT_PROGRESS_INTERVAL) seconds
    (default 2) plus the last of each stage, in ansible-playbook''s output and as AWX job events -
    C(progress publish read) (hashing the source), C(progress publish) (uploads or copies, for example
    C(progress publish: 1200/2000 objects (60%) 850 objects/s, 12.3 s elapsed)), C(progress publish verify)
    (the read-back) and C(progress publish latest) (copies to latest/). Lines carry counts only. In check mode only
    the reads are reported.'
  - Only after that, and only when C(run_health.v1.json) says C(healthy) or C(degraded), for each provider/profile
    the outputs are copied to C(latest/<provider>/<profile>/) (verified, then stale keys deleted) and the pointer
    C(state/<provider>/<profile>/last_success.json) moves by compare-and-swap; C(state/last_success.json) moves last.
    A pointer therefore never names a run that is not fully published.
  - A run whose health is C(failed) has its objects published under C(runs/) (the terminal run invariant keeps its
    failure evidence) but no pointer and nothing under C(latest/) moves.
  - Inputs and buckets are checked before any write; C(publish status=fail reason=<token>) names what is wrong
    (C(publish_disabled), C(bucket_unset), C(inventory_placeholder), C(bucket_not_found), C(access_denied),
    C(run_dir_missing), C(run_health_missing), C(run_id_mismatch), C(run_order_unknown), C(run_object_conflict),
    C(checksum_mismatch), C(upload_failed), C(copy_failed), C(pointer_conflict), C(run_failed), ...).
  - Pointer documents are C(pointer.v1) with C(run_id), C(provider), C(profile), C(target), C(published_at),
    C(object_count) and C(provenance) (C(git_sha), C(image_digest), C(ecs_task_arn)). Provenance comes from the
    options, else the run's C(run_summary.v1.json), else the ECS task metadata endpoint
    (C(ECS_CONTAINER_METADATA_URI_V4)/task) when running inside ECS.
  - Runs are ordered by what they are, never by how their ids sort as strings - by the run's own start time
    (C(started_at), else C(finished_at), in C(run_summary.v1.json)), else by the UTC timestamp its id begins with
    (C(YYYYMMDDTHHMMSSZ)); the run a pointer names is ordered the same way from its published C(run_summary.v1.json),
    else by the pointer's C(published_at). A run that cannot be ordered is refused before anything is written
    (C(run_order_unknown)) unless O(allow_rewind=true).
  - A pointer is not moved back to an older run unless O(allow_rewind=true). A publish whose pointers were held
    that way returns C(publish status=warn reason=pointer_held ... pointer_run_id=<the run the pointer names>).
    Republishing the run a pointer already names leaves the pointer (and its C(published_at)) as it is.
options:
  enabled:
    description:
      - The C(PUBLISH_S3) switch. V(false) fails with C(reason=publish_disabled) before any AWS call.
    type: bool
    default: true
  bucket:
    description:
      - The artifact bucket (C(jobintel_bucket)). Empty fails with C(reason=bucket_unset), a C(REPLACE_) placeholder
        with C(reason=inventory_placeholder); a bucket that does not exist fails with C(reason=bucket_not_found).
        Either way nothing is written.
    type: str
    required: true
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
      - A provider/profile without outputs in the run is reported in RV(outputs.pairs_skipped) and left alone.
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
    description:
      - Allow a pointer to move to a run that started before the one it names, and publish a run that cannot be
        ordered (C(publish_allow_rewind)).
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
attributes:
  check_mode:
    support: full
    description:
      - Lists, hashes and reads only; returns what would be written, copied, deleted and moved
        (C(publish status=planned ... would_write=N pointers=would_move)).
  diff_mode:
    support: full
    description: The run id each pointer names before and after (in check mode, would name).
notes:
  - Objects larger than 5 GiB (the single-request limit) are refused before anything is written.
  - Run ids such as C(manual-1) are fine when the run's C(run_summary.v1.json) has C(started_at).
seealso:
  - module: signalcraft.ops.jobintel_verify_ops
  - module: signalcraft.ops.jobintel_provenance
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.s3_location]
"""

EXAMPLES = r"""
- name: Publish a local run directory
  signalcraft.ops.jobintel_publish:
    bucket: "{{ jobintel_bucket }}"
    prefix: jobintel
    run_dir: /var/lib/jobintel/runs/20260101T060000Z
  register: published

- name: Publish what the ECS task left in the outbox (server-side copies)
  signalcraft.ops.jobintel_publish:
    bucket: "{{ jobintel_bucket }}"
    prefix: jobintel
    run_id: "{{ signalcraft_results.run_once.outputs.run_id }}"
    source_prefix: "jobintel/outbox/{{ signalcraft_results.run_once.outputs.run_id }}"
    concurrency: 32
"""

RETURN = r"""
status:
  description:
    - C(ok); C(warn) when a pointer was held because it names a later run (C(reason=pointer_held));
      C(planned) in check mode; C(fail) on failure.
  returned: always
  type: str
outputs:
  description: What the publish found and did.
  returned: always
  type: dict
  contains:
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
      description: Length of RV(outputs.uploaded).
      returned: when the source was read
      type: int
    copied_count:
      description: Length of RV(outputs.copied).
      returned: when the source was read
      type: int
    written_count:
      description: RV(outputs.uploaded_count) plus RV(outputs.copied_count).
      returned: when the source was read
      type: int
    skipped_count:
      description:
        - Run objects already stored with the same content and size, by their SHA-256, or by their MD5 ETag
          for objects stored without a SHA-256 (RV(outputs.skipped_by_etag_count)).
      returned: always
      type: int
    skipped_by_etag_count:
      description:
        - Of RV(outputs.skipped_count), the objects stored without a SHA-256 checksum (put by another tool)
          whose ETag is their MD5 (single request, no SSE-KMS) and equals the MD5 of the source.
      returned: when the source was read
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
          and after a write C(etag), C(version_id), C(cas_attempts); C(held_reason) when held; C(order) (the two
          runs' times and where each came from) when the pointer named another run.
      returned: always
      type: list
      elements: dict
    pointers_moved:
      description: Whether any pointer now names this run that did not before.
      returned: always
      type: bool
    pointers_word:
      description: What the status line says about the pointers (moved, unchanged, held, skipped).
      returned: when the source was read
      type: str
    pointers_held:
      description: Keys of the pointers held because they name a later run.
      returned: when a pointer was held
      type: list
      elements: str
    pointer_run_id:
      description: The run a held pointer still names (C(last_success) when it was held, else the first held pair).
      returned: when a pointer was held
      type: str
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
    run_time:
      description: The time that orders this run (UTC) and C(run_time_source) where it came from (run_summary, run_id).
      returned: when the source was read
      type: str
diff:
  description: The run id each pointer names before and after.
  returned: when the source was read
  type: dict
"""

from ansible.module_utils.basic import env_fallback

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import publish as run_publish
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel.provenance import METADATA_ENV
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection
from ansible_collections.signalcraft.ops.plugins.module_utils.services.s3 import location_argument_spec

ARGUMENT_SPEC = dict(
    **location_argument_spec(),
    enabled=dict(type="bool", default=True),
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
)
# Result keys that are not outputs (the rest of the publisher's result is).
_NOT_OUTPUTS = ("changed", "diff")


def publisher_params(params):
    mapped = dict(params)
    mapped["publish_enabled"] = params["enabled"]
    return mapped


def _outputs(result):
    outputs = dict((k, v) for k, v in result.items() if k not in _NOT_OUTPUTS)
    for key in ("uploaded", "copied", "latest", "pointers", "pairs_skipped"):
        outputs.setdefault(key, [])
    outputs.setdefault("skipped_count", 0)
    outputs.setdefault("pointers_moved", False)
    return outputs


def _line(result, check_mode):
    fields = [("run_id", result["run_id"]), ("run_status", result["run_status"])]
    word = result["pointers_word"]
    if check_mode:
        fields.append(("would_write", result["written_count"]))
        word = "would_move" if word == "moved" else word
    else:
        fields.append(("written", result["written_count"]))
    fields += [("skipped", result["skipped_count"]), ("pointers", word)]
    if result.get("pointer_run_id"):
        fields.append(("pointer_run_id", result["pointer_run_id"]))
    return fields


def run(ops):
    params = publisher_params(ops.params)
    run_publish.validate(params)  # no client, no AWS call when the inputs are wrong
    publisher = run_publish.Publisher(ops.client("s3"), params, check_mode=ops.check_mode, progress=ops.progress)
    try:
        result = publisher.run()
    except OpsError as exc:
        written = exc.add_context(_outputs(publisher.result)).details
        exc.changed_so_far = exc.changed_so_far or (not ops.check_mode and bool(written["uploaded"] or written["copied"]))
        raise
    except ValueError as exc:  # a provenance override that is not a digest
        raise OpsError("invalid_input", "%s (set -e publish_image_digest=sha256:<64 hex> or leave it empty)" % exc,
                       details=_outputs(publisher.result))
    outputs = _outputs(result)
    if publisher.new_time is not None:
        outputs.update(run_time=publisher.new_time.strftime("%Y-%m-%dT%H:%M:%SZ"), run_time_source=publisher.new_time_source)
    if result["run_status"] == "failed" and params["fail_on_failed_run"]:
        detail = (result["run_id"], result.get("failed_stage"), ",".join(result.get("failure_codes") or []) or "-",
                  result["object_count"], result["target"])
        outputs["line"] = [("run_id", result["run_id"])]
        raise OpsError("run_failed", "run %s failed (failed_stage=%s, failure_codes=%s); its %d objects are under %s for "
                       "inspection and no pointer moved (-e publish_fail_on_failed_run=false reports it without failing)." % detail,
                       details=outputs, changed_so_far=result["changed"] and not ops.check_mode)
    outcome = dict(changed=result["changed"], outputs=outputs, diff=result["diff"], line=_line(result, ops.check_mode))
    if ops.check_mode:
        outcome["status"] = "planned"
    elif result.get("pointers_held"):
        outcome.update(status="warn", reason="pointer_held", warnings=[
            "pointer(s) %s still name run %s, which started after run %s; nothing moved them back. Publish a newer run, "
            "or set -e publish_allow_rewind=true to move them to this one." % (
                ", ".join(result["pointers_held"]), result["pointer_run_id"], result["run_id"])])
    return outcome


def main():
    OpsModule(ARGUMENT_SPEC, operation="publish", phase="publish", connections=[AwsConnection],
              mutually_exclusive=[("run_dir", "source_prefix")],
              required_one_of=[("run_dir", "source_prefix", "run_id")],
              required_by={"source_bucket": "source_prefix"}).run(run)


if __name__ == "__main__":
    main()
