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
  - Before the sweep (dry run, apply and check mode alike; it only reads) the IAM pre-flight asks
    C(iam:SimulatePrincipalPolicy) whether the caller's role (from C(sts:GetCallerIdentity); an assumed-role
    session is simulated as its role C(arn:aws:iam::<account>:role/<name>)) may C(s3:DeleteObject) one object per
    bucket and top-level prefix of what the sweep would delete (and C(s3:DeleteObjectVersion) on versioned buckets,
    where every version is deleted by id), and C(glacier:DeleteArchive) on O(glacier_vaults). Anything not
    C(allowed) fails closed with C(iam_action_denied) naming the action and resource; a caller that may not run
    the simulation fails with C(iam_simulation_denied). O(skip_iam_preflight=true) skips it (receipted as skipped).
  - The stale-object backlog (expired, unmarked, outside the window, no table legal hold) is reported in the
    line (C(backlog=<n>)) and outputs; above O(backlog_threshold) a dry run recommends a manual run
    (C(recommendation=manual_run)); with O(auto_run_above) a dry run whose backlog exceeds it proceeds to
    apply (C(auto_run=applied), receipt phase C(apply), C(outputs.backlog.auto_applied=true)).
  - Dry run by default (counts what would be deleted, reads only); O(apply=true) deletes. Nothing
    is written in check mode.
  - Reports C(deleted_count), C(skipped_legal_hold), C(errors), per-batch progress (also appended to
    O(progress_file) as JSON lines while the sweep runs) and the runbook's validation count
    C(select count(*) from recordings where deleted_at is null and expires_at < now()).
  - 'While the sweep runs, the operator sees C(progress retention: <examined>/<candidates> objects (<pct>%) <rate> objects/s,
    <s> s elapsed, deleted=<n> skipped_legal_hold=<n> errors=<n>) lines (C(would_delete=<n>) in a dry run), at most one
    every C(SIGNALCRAFT_PROGRESS_INTERVAL) seconds (default 2), in ansible-playbook''s output and as AWX job events.'
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
  skip_iam_preflight:
    description: Skip the IAM policy simulation (for a caller without C(iam:SimulatePrincipalPolicy)); receipted as skipped.
    type: bool
    default: false
  iam_principal_arn:
    description:
      - The IAM role or user ARN to simulate instead of the caller's. Needed when the caller's role has a path
        (an assumed-role session ARN does not carry it).
    type: str
  glacier_vaults:
    description:
      - S3 Glacier vault names (or vault ARNs) on which the role must be allowed C(glacier:DeleteArchive).
      - Empty (the default) when recordings are archived in S3 Glacier storage classes, which C(s3:DeleteObject) covers.
    type: list
    elements: str
    default: []
  backlog_threshold:
    description: Stale objects above which a dry run recommends a manual run (the runbook's 10k).
    type: int
    default: 10000
  auto_run_above:
    description: When set, a dry run whose stale-object backlog exceeds this number proceeds to apply. Unset never auto-applies.
    type: int
attributes:
  check_mode:
    support: full
    description: Runs the pre-flight checks (including the IAM simulation) and counts like a dry run; never deletes.
      With O(apply=true), or O(auto_run_above) exceeded, it reports C(changed) when the run would delete.
  diff_mode:
    support: partial
    description: The number of unmarked expired rows in O(buckets) before and after (planned in check mode with O(apply=true)).
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.postgres.recordings]
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
    iam_preflight:
      description:
        - C(status) (C(ok), C(skipped), C(fail)), C(principal) simulated, C(required) pairs, C(actions) checked and
          C(denied) (C(action), C(resource), C(decision)).
      returned: always
      type: dict
    backlog:
      description:
        - C(stale_objects), C(threshold), C(above_threshold), C(recommend_manual_run), C(auto_run_above), C(auto_applied).
      returned: success
      type: dict
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
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.services import db, iam
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import ACCESS_DENIED_CODES, AwsConnection, BotoCoreError, ClientError, error_code

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
    skip_iam_preflight=dict(type="bool", default=False),
    iam_principal_arn=dict(type="str"),
    glacier_vaults=dict(type="list", elements="str", default=[]),
    backlog_threshold=dict(type="int", default=retention.DEFAULT_BACKLOG_THRESHOLD),
    auto_run_above=dict(type="int"),
)


def iam_preflight(ops, database, features):
    """Simulate the deletes the sweep needs for the caller's role; raises before any delete."""
    p = ops.params
    if p["skip_iam_preflight"]:
        return {"status": "skipped", "detail": "skipped by -e retention_skip_iam_preflight=true"}
    aws = ops.connection("aws")
    ident = aws.factory.caller_identity()
    principal = iam.policy_source_arn(ident["arn"], p["iam_principal_arn"])
    vaults = [retention.glacier_vault_arn(v, aws.region, ident["account"]) for v in p["glacier_vaults"]]
    required = retention.iam_requirements(retention.iam_samples(database, p["buckets"], p["window_days"]), features, vaults)
    if not required:
        return {"status": "ok", "principal": principal, "required": 0, "actions": [], "denied": [],
                "detail": "nothing is due for deletion; no delete to simulate"}
    try:
        results = iam.simulate(ops.client("iam"), principal, required)
    except (ClientError, BotoCoreError) as exc:
        code = error_code(exc)
        if code in ACCESS_DENIED_CODES:
            raise GuardError("iam_simulation_denied", "%s may not run iam:SimulatePrincipalPolicy on %s (%s), so the IAM pre-flight "
                             "cannot check s3:DeleteObject; grant iam:SimulatePrincipalPolicy on %s to it, or skip the check "
                             "explicitly with -e retention_skip_iam_preflight=true (receipted as skipped). Nothing was deleted."
                             % (ident["arn"], principal, code, principal),
                             details={"iam_preflight": {"status": "fail", "principal": principal, "denied": []}})
        if code == "NoSuchEntity":
            raise GuardError("iam_principal_unsupported", "IAM has no principal %s (a role with a path?); pass "
                             "-e retention_iam_principal_arn=<the role's full ARN> or -e retention_skip_iam_preflight=true."
                             % principal, details={"iam_preflight": {"status": "fail", "principal": principal, "denied": []}})
        raise
    return retention.iam_verdict(principal, required, iam.denied(required, results))


def run(ops):
    p = ops.params
    ops.phase = "apply" if p["apply"] else "dry_run"
    retention.validate_inputs(p["buckets"], p["window_days"], p["batch_size"])
    retention.validate_backlog_inputs(p["backlog_threshold"], p["auto_run_above"])
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
        before = retention.breakdown(database, p["buckets"], p["window_days"])
        backlog = retention.backlog_plan(before["unexplained"], p["backlog_threshold"], p["auto_run_above"], p["apply"])
        apply = p["apply"] or backlog["auto_applied"]
        ops.phase = "apply" if apply else "dry_run"
        try:
            iam_check = iam_preflight(ops, database, features)
        except OpsError as exc:
            exc.details = dict(exc.details or {}, backlog=backlog,
                               line=[("backlog", backlog["stale_objects"]), ("iam_preflight", "fail")])
            raise
        checks.append(dict(name="iam_preflight", status=iam_check["status"],
                           detail=iam_check.get("detail") or "%s allowed for %s" % (", ".join(iam_check["actions"]), iam_check["principal"])))
        sweep = retention.Sweep(s3, database, p["buckets"], p["window_days"], apply=apply and not ops.check_mode,
                                batch_size=p["batch_size"], concurrency=p["concurrency"], legal_hold_mode=p["legal_hold_mode"],
                                max_batches=p["max_batches"], progress=progress, features=features,
                                tick=ops.progress)
        result = sweep.run(before=before)
        result.update(backlog=backlog, iam_preflight=iam_check)
    except retention.SweepStopped as exc:
        exc.details = dict(exc.result, progress=lines, line=retention.line_fields(exc.result))
        exc.details.pop("before", None)
        raise
    finally:
        database.close()
    result.update(checks=checks, progress=lines, log_json=retention.json_log(result))
    # Check mode with apply=true reports what the run would change (changed, diff of the unmarked expired rows).
    would = ops.check_mode and apply and result["would_delete_count"] > 0
    changed = result["deleted_count"] > 0 or would
    before = result["before"]["expired_unmarked"]
    diff = {"before": {"expired_unmarked": before},
            "after": {"expired_unmarked": before - result["would_delete_count"] if would else result["after"]["expired_unmarked"]}}
    outcome = dict(changed=changed, outputs=result, line=retention.line_fields(result), diff=diff if changed else None,
                   status="planned" if ops.check_mode else "ok")
    if backlog["recommend_manual_run"]:
        outcome["warnings"] = ["The stale-object backlog is %d (above %d): run the sweep now with -e retention_apply=true "
                               "(or let a plan-only run apply with -e retention_auto_run_above=<n>)."
                               % (backlog["stale_objects"], backlog["threshold"])]
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
