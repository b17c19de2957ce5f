#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: storage_temp_uploads_cleanup
version_added: "0.2.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Delete temporary uploads older than a threshold and abort stale multipart uploads
description:
  - The storage runbook's "empty the temporary-uploads bucket every 24 hours" (the scheduled cleanup
    Lambda), run on demand.
  - Lists every object under O(prefix) (ListObjectsV2, paginated) and every incomplete multipart
    upload (ListMultipartUploads). Objects whose C(LastModified), and uploads whose C(Initiated), is
    more than O(older_than_hours) ago are eligible.
  - Dry run by default (counts and bytes of the backlog and of what would go). With O(apply=true)
    the eligible objects are deleted with DeleteObjects in batches of at most 1,000 keys and the
    stale multipart uploads are aborted; the backlog is then listed again and reported as C(after).
  - C(backlog_over_threshold) says whether the backlog exceeds O(backlog_threshold_bytes) (the
    runbook's 1 GB trigger).
  - Nothing is written in check mode.
  - Prints C(temp_uploads_cleanup status=ok mode=dry_run|apply bucket=<b> before_count=<n> ... errors=<n>)
    (C(status=planned) in check mode) and returns one receipt (operation C(temp_uploads_cleanup), phase
    C(dry_run) or C(apply)). Objects or uploads that could not be removed fail the run with C(delete_errors).
options:
  bucket:
    description: The temporary-uploads bucket.
    type: str
    required: true
  prefix:
    description: Only objects and uploads under this key prefix (empty for the whole bucket).
    type: str
    default: ""
  older_than_hours:
    description: Age threshold in hours; 0 makes everything present eligible.
    type: float
    default: 24
  apply:
    description: Delete and abort. Off (the default) is a dry run that only counts.
    type: bool
    default: false
  sample_size:
    description: At most this many eligible keys are returned in C(eligible_sample) (0 to 1000).
    type: int
    default: 20
  backlog_threshold_bytes:
    description: Backlog size above which C(backlog_over_threshold) is true.
    type: int
    default: 1073741824
attributes:
  check_mode:
    support: full
    description: Counts like a dry run; never deletes or aborts.
  diff_mode:
    support: full
    description: Object count and bytes before and after.
notes:
  - An object overwritten between the listing and the delete is deleted with its new content; the
    bucket is for temporary uploads only, which makes that acceptable.
  - On a versioned bucket deletes leave noncurrent versions (a warning says so) until the lifecycle
    rule's noncurrent-version expiration removes them.
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt]
"""

EXAMPLES = r"""
- name: Count the temporary-uploads backlog older than 24 hours
  signalcraft.ops.storage_temp_uploads_cleanup:
    bucket: "{{ storage_temporary_uploads_bucket }}"

- name: Delete it
  signalcraft.ops.storage_temp_uploads_cleanup:
    bucket: "{{ storage_temporary_uploads_bucket }}"
    older_than_hours: 24
    apply: true
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: The cleanup's counts (also returned with C(delete_errors)).
  returned: always
  type: dict
  contains:
    bucket:
      description: The bucket cleaned.
      returned: always
      type: str
    prefix:
      description: The prefix cleaned.
      returned: success
      type: str
    apply:
      description: Whether deletes were made (false in a dry run and in check mode).
      returned: success
      type: bool
    older_than_hours:
      description: The threshold used.
      returned: success
      type: float
    cutoff:
      description: Objects modified before this time (UTC) were eligible.
      returned: success
      type: str
    versioned:
      description: Whether the bucket has versioning enabled or suspended.
      returned: success
      type: bool
    before:
      description: C(count) and C(bytes) of the objects under the prefix before the run.
      returned: success
      type: dict
    after:
      description: The same, listed again after an apply (equal to C(before) in a dry run).
      returned: success
      type: dict
    eligible:
      description: C(count) and C(bytes) of the objects older than the threshold.
      returned: success
      type: dict
    eligible_sample:
      description: Up to O(sample_size) eligible keys.
      returned: success
      type: list
      elements: str
    backlog_threshold_bytes:
      description: The threshold compared against.
      returned: success
      type: int
    backlog_over_threshold:
      description: Whether objects plus stale multipart parts exceed O(backlog_threshold_bytes).
      returned: success
      type: bool
    multipart_uploads:
      description: Incomplete multipart uploads found.
      returned: success
      type: int
    multipart_stale:
      description: Of those, initiated before the cutoff.
      returned: success
      type: int
    multipart_stale_bytes:
      description: Bytes of the parts uploaded to the stale ones.
      returned: success
      type: int
    deleted_count:
      description: Objects deleted.
      returned: success
      type: int
    deleted_bytes:
      description: Their bytes.
      returned: success
      type: int
    multipart_aborted:
      description: Multipart uploads aborted.
      returned: success
      type: int
    would_delete_count:
      description: In a dry run, the objects that would be deleted.
      returned: success
      type: int
    would_delete_bytes:
      description: In a dry run, their bytes.
      returned: success
      type: int
    would_abort:
      description: In a dry run, the multipart uploads that would be aborted.
      returned: success
      type: int
    delete_requests:
      description: Keys per DeleteObjects request (each at most 1000).
      returned: success
      type: list
      elements: int
    errors:
      description: Objects or uploads that could not be deleted or aborted.
      returned: success
      type: int
    error_samples:
      description: Up to 50 errors with C(key), C(code), C(detail).
      returned: success
      type: list
      elements: dict
diff:
  description: Object count, bytes and multipart uploads before and after (what an apply would leave, in a dry run).
  returned: when the bucket was listed
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import maintenance as storage
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    bucket=dict(type="str", required=True),
    prefix=dict(type="str", default=""),
    older_than_hours=dict(type="float", default=24),
    apply=dict(type="bool", default=False),
    sample_size=dict(type="int", default=20),
    backlog_threshold_bytes=dict(type="int", default=storage.DEFAULT_BACKLOG_THRESHOLD_BYTES),
)


def run(ops):
    p = ops.params
    ops.phase = "apply" if p["apply"] else "dry_run"
    storage.validate_temp_cleanup(p["bucket"], p["older_than_hours"], p["sample_size"])
    report = storage.clean_temp_uploads(ops.client("s3"), p["bucket"], p["older_than_hours"], apply=p["apply"] and not ops.check_mode,
                                        prefix=p["prefix"], sample_size=p["sample_size"],
                                        backlog_threshold_bytes=p["backlog_threshold_bytes"])
    warnings = report.pop("warnings", [])
    changed = report["deleted_count"] + report["multipart_aborted"] > 0
    projected = report["after"]
    if not p["apply"] or ops.check_mode:
        # What an apply would leave, for --check --diff.
        projected = {"count": report["before"]["count"] - report["eligible"]["count"],
                     "bytes": report["before"]["bytes"] - report["eligible"]["bytes"]}
    diff = {"before": dict(report["before"], multipart_uploads=report["multipart_uploads"]),
            "after": dict(projected, multipart_uploads=report["multipart_uploads"] - report["multipart_stale"])}
    would = ops.check_mode and p["apply"] and report["eligible"]["count"] + report["multipart_stale"] > 0
    outcome = dict(changed=changed or would, outputs=report, line=storage.temp_cleanup_fields(report), diff=diff, warnings=warnings,
                   status="planned" if ops.check_mode else "ok")
    if report["errors"]:
        outcome.update(status="fail", reason="delete_errors", changed=changed,
                       message="%d object(s)/upload(s) were not removed (see outputs.error_samples); rerun to retry." % report["errors"])
    return outcome


def main():
    OpsModule(ARGUMENT_SPEC, operation="temp_uploads_cleanup", phase="dry_run", status_key="temp_uploads_cleanup",
              connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
