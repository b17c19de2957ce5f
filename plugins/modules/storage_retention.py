#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: storage_retention
version_added: "0.2.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Delete expired recordings from S3 and mark their PostgreSQL rows, honouring legal holds
description:
  - The retention job of the recordings runbook. Runs the pre-flight checks first (database
    privileges, S3 read access to each bucket, outstanding legal holds) and fails before any write
    when one fails.
  - A recording is deleted when its row is not marked deleted, its C(expires_at) has passed, it was
    created more than O(window_days) ago, no outstanding row in C(legal_holds) names it and, on
    S3 Object Lock buckets, no version of its object has a legal hold.
  - Per batch of at most 1,000 keys (one DeleteObjects request each) the object is deleted (every
    version on versioned buckets), confirmed gone with HeadObject, and only then its row gets
    C(deleted_at). A crash between the two writes is repaired by the next run.
  - Dry run by default (counts what would be deleted, reads only); O(apply=true) deletes. Nothing
    is written in check mode.
  - Reports C(deleted_count), C(skipped_legal_hold), C(errors), per-batch progress (also appended to
    O(progress_file) as JSON lines while the sweep runs) and the runbook's validation count
    C(select count(*) from recordings where deleted_at is null and expires_at < now()).
  - Prints C(retention status=ok mode=dry_run|apply deleted_count=<n> would_delete_count=<n> skipped_legal_hold=<n>
    skipped_in_window=<n> errors=<n>) (C(status=planned) in check mode) and returns one receipt (operation
    C(retention), phase C(dry_run) or C(apply)). Objects that could not be deleted fail the run with
    C(delete_errors) after the sweep; their rows stay unmarked and the next run retries them.
options:
  buckets:
    description: Buckets the sweep may delete from; rows of other buckets are left alone.
    type: list
    elements: str
    required: true
  window_days:
    description: The retention window; nothing created within it is deleted, whatever its C(expires_at).
    type: int
    required: true
  apply:
    description: Delete. Off (the default) is a dry run that only counts.
    type: bool
    default: false
  legal_hold_mode:
    description:
      - V(skip) deletes everything else and skips recordings under an outstanding hold.
      - V(block) refuses the whole run while any expired recording in O(buckets) has an outstanding hold.
    type: str
    choices: [skip, block]
    default: skip
  batch_size:
    description: Rows per batch (and keys per DeleteObjects request), 1 to 1000.
    type: int
    default: 1000
  concurrency:
    description: Parallel S3 reads (legal hold, version listing, delete confirmation).
    type: int
    default: 16
  max_batches:
    description: Stop after this many batches (0 means no limit); the next run continues.
    type: int
    default: 0
  progress_file:
    description: Append one JSON line per batch to this file while the sweep runs (tail it during long sweeps); not written in check mode.
    type: path
attributes:
  check_mode:
    support: full
    description: Runs the pre-flight checks and counts like a dry run; never deletes. With O(apply=true) it reports
      C(changed) when the run would delete.
  diff_mode:
    support: partial
    description: The number of unmarked expired rows in O(buckets) before and after (planned in check mode with O(apply=true)).
extends_documentation_fragment:
  - signalcraft.ops.aws
  - signalcraft.ops.receipt
  - signalcraft.ops.postgres.recordings
"""

EXAMPLES = r"""
- name: Count what the retention sweep would delete
  signalcraft.ops.storage_retention:
    dsn: "{{ storage_pg_dsn }}"
    buckets: [author-recordings-prod]
    window_days: 45
  no_log: false

- name: Delete expired recordings
  signalcraft.ops.storage_retention:
    dsn: "{{ storage_pg_dsn }}"
    buckets: [author-recordings-prod]
    window_days: 45
    apply: true
    progress_file: /var/log/signalcraft/retention-progress.jsonl
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: What the sweep found and did.
  returned: always
  type: dict
  contains:
    log_json:
      description: The counts as one JSON object (the runbook's structured log).
      returned: success
      type: str
    apply:
      description: Whether deletions were made.
      returned: success
      type: bool
    deleted_count:
      description: Rows marked deleted after their object was confirmed gone.
      returned: success
      type: int
    would_delete_count:
      description: In a dry run, the recordings that would be deleted.
      returned: success
      type: int
    skipped_legal_hold:
      description: Expired recordings skipped for a legal hold (table and S3 Object Lock).
      returned: success
      type: int
    skipped_legal_hold_table:
      description: Of those, held by an outstanding row in C(legal_holds).
      returned: success
      type: int
    skipped_legal_hold_s3:
      description: Of those, held by an S3 Object Lock legal hold.
      returned: success
      type: int
    skipped_in_window:
      description: Expired recordings not deleted because they were created within the window.
      returned: success
      type: int
    errors:
      description: Objects that could not be deleted or confirmed gone this run (their rows stay unmarked).
      returned: success
      type: int
    error_samples:
      description: Up to 50 errors with C(bucket), C(key), C(code) and C(detail).
      returned: success
      type: list
      elements: dict
    batches:
      description: Per batch C(batch), C(rows), C(deleted), C(skipped_legal_hold), C(errors).
      returned: success
      type: list
      elements: dict
    progress:
      description: One progress line per batch.
      returned: success
      type: list
      elements: str
    delete_requests:
      description: The number of keys in each DeleteObjects request (each at most 1000).
      returned: success
      type: list
      elements: int
    complete:
      description: False when O(max_batches) stopped the sweep before the end.
      returned: success
      type: bool
    checks:
      description: The pre-flight checks.
      returned: success
      type: list
      elements: dict
    before:
      description:
        - Counts before the sweep (C(dangling_count) is the runbook's query; C(expired_unmarked), C(held), C(in_window),
          C(unexplained) for O(buckets)).
      returned: success
      type: dict
    after:
      description: The same counts after the sweep; C(unexplained) reaches 0 when the sweep converged.
      returned: success
      type: dict
diff:
  description: The number of unmarked expired rows in O(buckets) before and after (planned in check mode with O(apply=true)).
  returned: when the run changes (or would change) something
  type: dict
"""

import json
import os

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import retention
from ansible_collections.signalcraft.ops.plugins.module_utils.services import db
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    **db.recordings_argument_spec(),
    buckets=dict(type="list", elements="str", required=True),
    window_days=dict(type="int", required=True),
    apply=dict(type="bool", default=False),
    legal_hold_mode=dict(type="str", choices=["skip", "block"], default="skip"),
    batch_size=dict(type="int", default=retention.MAX_DELETE_KEYS),
    concurrency=dict(type="int", default=16),
    max_batches=dict(type="int", default=0),
    progress_file=dict(type="path"),
)


def run(ops):
    p = ops.params
    ops.phase = "apply" if p["apply"] else "dry_run"
    retention.validate_inputs(p["buckets"], p["window_days"], p["batch_size"])
    lines = []

    def progress(line):
        lines.append(line)
        ops.module.log(line)
        if p["progress_file"] and not ops.check_mode:  # check mode writes nothing, not even the progress log
            with open(p["progress_file"], "a") as handle:
                handle.write(json.dumps({"line": line}) + "\n")

    if p["progress_file"] and not ops.check_mode:
        os.makedirs(os.path.dirname(os.path.abspath(p["progress_file"])), exist_ok=True)
    s3 = ops.client("s3")
    database = db.Database(p["dsn"], application_name="signalcraft.ops.storage_retention")
    try:
        checks, features = retention.preflight(s3, database, p["buckets"], p["legal_hold_mode"], p["window_days"])
        sweep = retention.Sweep(s3, database, p["buckets"], p["window_days"], apply=p["apply"] and not ops.check_mode,
                                batch_size=p["batch_size"], concurrency=p["concurrency"], legal_hold_mode=p["legal_hold_mode"],
                                max_batches=p["max_batches"], progress=progress, features=features)
        result = sweep.run()
    except retention.SweepStopped as exc:
        exc.details = dict(exc.result, progress=lines, line=retention.line_fields(exc.result))
        exc.details.pop("before", None)
        raise
    finally:
        database.close()
    result.update(checks=checks, progress=lines, log_json=retention.json_log(result))
    # Check mode with apply=true reports what the run would change (changed, diff of the unmarked expired rows).
    would = ops.check_mode and p["apply"] and result["would_delete_count"] > 0
    changed = result["deleted_count"] > 0 or would
    before = result["before"]["expired_unmarked"]
    diff = {"before": {"expired_unmarked": before},
            "after": {"expired_unmarked": before - result["would_delete_count"] if would else result["after"]["expired_unmarked"]}}
    outcome = dict(changed=changed, outputs=result, line=retention.line_fields(result), diff=diff if changed else None,
                   status="planned" if ops.check_mode else "ok")
    if result["errors"]:
        outcome.update(status="fail", reason="delete_errors",
                       message="%d object(s) were not deleted; their rows stay unmarked and the next run retries them "
                               "(see outputs.error_samples)." % result["errors"])
    return outcome


def main():
    OpsModule(ARGUMENT_SPEC, operation="retention", phase="dry_run", status_key="retention",
              connections=[AwsConnection, db.DbConnection]).run(run)


if __name__ == "__main__":
    main()
