#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: storage_s3_hardening
version_added: "0.2.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Plan and apply S3 buckets' versioning, lifecycle, public access block, encryption and replication
description:
  - Takes the desired state of each bucket's controls (O(buckets), in order), reads the current
    state and returns a plan (one line per change in RV(outputs.lines), the documents in
    RV(outputs.results) and C(--diff)).
  - Changes nothing unless O(apply=true), and never in check mode (M19 Phase A, C(make aws-s3-hardening)
    dry run, C(APPLY=1) to apply).
  - Every entry is checked before any request (C(bucket_unset), C(inventory_placeholder),
    C(lifecycle_rule_invalid), C(encryption_invalid)); buckets are then planned and applied one after
    the other, so the backup bucket listed first is versioned before a bucket replicating to it.
  - Settings left out are not managed. Documents are compared after normalisation (lifecycle
    C(Prefix)/C(Filter) forms, empty filters, rule and transition order, replication defaults), so a
    hardened bucket plans empty.
  - Replication needs versioning on the bucket and on the destination; the module fails before any
    write when either is missing, naming the bucket to harden first.
  - After an apply each bucket is read back (what C(get-bucket-versioning) and
    C(get-bucket-lifecycle-configuration) show) and the module fails with C(hardening_not_converged)
    when the read-back still differs.
  - Returns C(s3_hardening status=ok mode=plan buckets=<n> pending_changes=<n>) (dry run),
    C(status=ok mode=apply buckets=<n> applied=<n>) or in check mode
    C(status=planned mode=check buckets=<n> would_change=<n>), and one receipt (operation
    C(s3_hardening), phase C(plan) or C(apply)).
  - Unlike M(amazon.aws.s3_bucket) and M(community.aws.s3_lifecycle), it has a full check mode and
    manages replication.
options:
  buckets:
    description:
      - The buckets to harden, in order (the inventory's C(storage_hardening_buckets)).
    type: list
    elements: dict
    required: true
    suboptions:
      bucket:
        description: The bucket to harden; empty is refused with C(bucket_unset), C(REPLACE_...) with C(inventory_placeholder).
        type: str
        required: true
      versioning:
        description: Desired versioning status. Unset leaves versioning unmanaged.
        type: str
        choices: [enabled, suspended]
      public_access_block:
        description: Desired Block Public Access settings. Unset leaves them unmanaged.
        type: dict
        suboptions:
          block_public_acls:
            description: Reject new public ACLs.
            type: bool
            default: true
          ignore_public_acls:
            description: Ignore existing public ACLs.
            type: bool
            default: true
          block_public_policy:
            description: Reject public bucket policies.
            type: bool
            default: true
          restrict_public_buckets:
            description: Restrict access to buckets with public policies.
            type: bool
            default: true
      encryption:
        description: Desired default encryption. Unset leaves it unmanaged.
        type: dict
        suboptions:
          sse_algorithm:
            description: Server-side encryption algorithm.
            type: str
            choices: [AES256, "aws:kms", "aws:kms:dsse"]
            default: AES256
          kms_key_id:
            description: KMS key id, ARN or alias for V(aws:kms) or V(aws:kms:dsse); refused with V(AES256) (S3 rejects it).
            type: str
          bucket_key_enabled:
            description: Use an S3 Bucket Key for KMS encryption.
            type: bool
            default: false
      lifecycle_profile:
        description:
          - A key of O(lifecycle_profiles) whose rules are this bucket's lifecycle rules (instead of
            O(buckets[].lifecycle_rules)); an unknown profile is refused with C(lifecycle_rule_invalid).
        type: str
      lifecycle_rules:
        description:
          - Desired lifecycle rules. Unset leaves the lifecycle configuration unmanaged; an empty list
            with O(purge_lifecycle_rules=true) removes it.
        type: list
        elements: dict
        suboptions:
          id:
            description: Rule id (unique in the bucket); rules are matched by id.
            type: str
            required: true
          enabled:
            description: Whether the rule is enabled.
            type: bool
            default: true
          prefix:
            description: Key prefix the rule applies to; empty means the whole bucket.
            type: str
            default: ""
          transitions:
            description: Storage-class transitions by age, in increasing days.
            type: list
            elements: dict
            default: []
            suboptions:
              days:
                description: Days after creation.
                type: int
                required: true
              storage_class: &storage_class
                description: Target storage class.
                type: str
                required: true
                choices: [STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER, DEEP_ARCHIVE]
          expiration_days:
            description: Expire current versions this many days after creation.
            type: int
          expired_object_delete_marker:
            description: Remove delete markers with no noncurrent versions left.
            type: bool
            default: false
          noncurrent_version_expiration_days:
            description: Permanently delete noncurrent versions this many days after they become noncurrent.
            type: int
          noncurrent_versions_to_keep:
            description: Keep this many newest noncurrent versions regardless of age.
            type: int
          noncurrent_version_transitions:
            description: Storage-class transitions of noncurrent versions.
            type: list
            elements: dict
            default: []
            suboptions:
              days:
                description: Days after becoming noncurrent.
                type: int
                required: true
              storage_class: *storage_class
          abort_incomplete_multipart_upload_days:
            description: Abort multipart uploads not completed this many days after they started.
            type: int
      replication:
        description:
          - Desired replication of the whole bucket (or O(buckets[].replication.prefix)) to a backup bucket.
            Unset leaves replication unmanaged.
        type: dict
        suboptions:
          role_arn:
            description: The IAM role S3 assumes to replicate (C(arn:aws:iam::<account>:role/<name>)).
            type: str
            required: true
          destination_bucket:
            description:
              - The backup bucket's name (sent as C(arn:aws:s3:::<name>)) or its ARN (for other partitions); it must have versioning enabled.
            type: str
            required: true
          rule_id:
            description: Replication rule id.
            type: str
            default: replicate-to-backup
          prefix:
            description: Only replicate keys under this prefix; empty means the whole bucket.
            type: str
            default: ""
          priority:
            description: Rule priority.
            type: int
            default: 1
          storage_class:
            description: Storage class of the replicas (default is the source object's class).
            type: str
            choices: [STANDARD, REDUCED_REDUNDANCY, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER, DEEP_ARCHIVE, GLACIER_IR]
          delete_marker_replication:
            description: Replicate delete markers (off keeps the backup intact when objects are deleted).
            type: bool
            default: false
  lifecycle_profiles:
    description: Named lists of lifecycle rules (each rule as in O(buckets[].lifecycle_rules)) that entries name with C(lifecycle_profile).
    type: dict
    default: {}
  default_public_access_block:
    description:
      - Public access block for entries that set none (its flags as in O(buckets[].public_access_block); V({}) is all four on).
      - Null leaves it unmanaged.
    type: dict
  default_encryption:
    description:
      - Default encryption for entries that set none (as in O(buckets[].encryption)). Null leaves it unmanaged.
    type: dict
  apply:
    description:
      - V(false) (default) only plans. V(true) writes the planned changes (not in check mode).
    type: bool
    default: false
  purge_lifecycle_rules:
    description: Remove lifecycle rules a bucket has that its rules do not name.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reads and plans; never writes in check mode, even with O(apply=true) (the lines say what would change).
  diff_mode:
    support: full
    description: The normalised documents of the changed settings, before and after, per bucket.
seealso:
  - module: amazon.aws.s3_bucket
  - module: community.aws.s3_lifecycle
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt]
"""

EXAMPLES = r"""
- name: Plan the hardening of the artifact and backup buckets (dry run)
  signalcraft.ops.storage_s3_hardening:
    buckets:
      - bucket: jobintel-prod1-backup
        versioning: enabled
        lifecycle_profile: backup
      - bucket: jobintel-prod1
        versioning: enabled
        lifecycle_rules:
          - id: runs-tiering
            prefix: jobintel/runs/
            transitions: [{days: 30, storage_class: STANDARD_IA}, {days: 90, storage_class: GLACIER_IR}]
            noncurrent_version_expiration_days: 90
          - id: abort-multipart
            abort_incomplete_multipart_upload_days: 7
        replication:
          role_arn: arn:aws:iam::111122223333:role/jobintel-s3-replication
          destination_bucket: jobintel-prod1-backup
    lifecycle_profiles:
      backup:
        - id: noncurrent-versions
          noncurrent_version_expiration_days: 90
    default_public_access_block: {}
    default_encryption: {sse_algorithm: AES256}
  register: plan

- name: Apply it
  signalcraft.ops.storage_s3_hardening:
    buckets:
      - bucket: jobintel-prod1
        versioning: enabled
    apply: true
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: What was planned, written and read back.
  returned: always
  type: dict
  contains:
    mode:
      description: V(plan) (dry run), V(check) (check mode) or V(apply).
      returned: success
      type: str
    apply:
      description: Whether O(apply) was set.
      returned: success
      type: bool
    buckets:
      description: The bucket names, in order.
      returned: success
      type: list
      elements: str
    pending_changes:
      description: Planned changes over all buckets (0 when every bucket is hardened).
      returned: success
      type: int
    plan:
      description: Per bucket, one line per planned change.
      returned: success
      type: dict
      sample: {"jobintel-prod1": ["versioning: Disabled -> Enabled", "lifecycle: +abort-multipart, +runs-tiering"]}
    applied:
      description: Per bucket, the settings written in order (empty unless O(apply=true) outside check mode).
      returned: always
      type: dict
    controls:
      description:
        - Per bucket, the controls as read (after the apply when one happened), normalised, with C(versioning),
          C(lifecycle), C(public_access_block), C(encryption), C(replication) as C(get-bucket-versioning),
          C(get-bucket-lifecycle-configuration) and friends would show them.
      returned: success
      type: dict
    lines:
      description: The plan for an operator, one line per bucket and per change (what would change in check mode).
      returned: success
      type: list
      elements: str
    results:
      description:
        - Per bucket C(bucket), C(mode), C(managed), C(plan) (C(setting), C(action), normalised C(before)/C(after),
          C(summary)), C(summary), C(applied), C(pending), C(converged), C(controls).
      returned: success
      type: list
      elements: dict
    failed_bucket:
      description: The bucket being planned or applied when the run failed.
      returned: on failure after the entries were checked
      type: str
diff:
  description: Per bucket, the normalised documents of the changed settings (when a bucket has changes).
  returned: when something would change
  type: dict
"""

import json

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import hardening
from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws

_CLASSES = list(hardening.STORAGE_CLASSES)
_TRANSITION = dict(days=dict(type="int", required=True), storage_class=dict(type="str", required=True, choices=_CLASSES))
_PAB = dict(block_public_acls=dict(type="bool", default=True), ignore_public_acls=dict(type="bool", default=True),
            block_public_policy=dict(type="bool", default=True), restrict_public_buckets=dict(type="bool", default=True))
_ENCRYPTION = dict(sse_algorithm=dict(type="str", choices=list(hardening.SSE_ALGORITHMS), default="AES256"),
                   kms_key_id=dict(type="str"), bucket_key_enabled=dict(type="bool", default=False))
LIFECYCLE_RULE = dict(
    id=dict(type="str", required=True), enabled=dict(type="bool", default=True), prefix=dict(type="str", default=""),
    transitions=dict(type="list", elements="dict", default=[], options=_TRANSITION),
    expiration_days=dict(type="int"), expired_object_delete_marker=dict(type="bool", default=False),
    noncurrent_version_expiration_days=dict(type="int"), noncurrent_versions_to_keep=dict(type="int"),
    noncurrent_version_transitions=dict(type="list", elements="dict", default=[], options=_TRANSITION),
    abort_incomplete_multipart_upload_days=dict(type="int"))
BUCKET = dict(
    bucket=dict(type="str", required=True),
    versioning=dict(type="str", choices=["enabled", "suspended"]),
    public_access_block=dict(type="dict", options=_PAB),
    encryption=dict(type="dict", options=_ENCRYPTION),
    lifecycle_profile=dict(type="str"),
    lifecycle_rules=dict(type="list", elements="dict", options=LIFECYCLE_RULE),
    replication=dict(type="dict", options=dict(
        role_arn=dict(type="str", required=True), destination_bucket=dict(type="str", required=True),
        rule_id=dict(type="str", default="replicate-to-backup"), prefix=dict(type="str", default=""),
        priority=dict(type="int", default=1),
        storage_class=dict(type="str", choices=list(hardening.REPLICA_STORAGE_CLASSES)),
        delete_marker_replication=dict(type="bool", default=False))),
)
ARGUMENT_SPEC = dict(
    buckets=dict(type="list", elements="dict", required=True, options=BUCKET),
    lifecycle_profiles=dict(type="dict", default={}),
    default_public_access_block=dict(type="dict"),
    default_encryption=dict(type="dict"),
    apply=dict(type="bool", default=False),
    purge_lifecycle_rules=dict(type="bool", default=True),
)
APPLY_VARIABLE = "s3_hardening_apply"


def _normalised(options, spec, what):
    """``options`` with the spec's defaults and types (inventory values that bypass the module's own validation)."""
    result = ArgumentSpecValidator(spec).validate(dict(options))
    if result.error_messages:
        raise GuardError("lifecycle_rule_invalid" if "lifecycle" in what else "encryption_invalid",
                         "%s: %s" % (what, "; ".join(result.error_messages)))
    return result.validated_parameters


def _entries(params):
    """Every entry resolved and its desired documents built: bad input fails before any client exists."""
    profiles = {}
    for name, rules in (params["lifecycle_profiles"] or {}).items():
        if not isinstance(rules, list):
            raise GuardError("lifecycle_rule_invalid", "storage_lifecycle_profiles.%s must be a list of rules." % name)
        profiles[name] = [_normalised(r, LIFECYCLE_RULE, "storage_lifecycle_profiles.%s lifecycle rule" % name) for r in rules]
    default_pab = params["default_public_access_block"]
    if default_pab is not None:
        default_pab = _normalised(default_pab, _PAB, "s3_hardening_default_public_access_block")
    default_enc = params["default_encryption"]
    if default_enc is not None:
        default_enc = _normalised(default_enc, _ENCRYPTION, "s3_hardening_default_encryption")
    entries = hardening.resolve_entries(params["buckets"], profiles, default_pab, default_enc)
    for index, entry in enumerate(entries):
        try:
            hardening.desired_documents(entry)
        except GuardError as exc:
            exc.message = "%s[%d] (bucket %s): %s" % (hardening.BUCKETS_VARIABLE, index, entry["bucket"], exc.message)
            raise
    return entries


def _lines(results, check_mode, apply):
    lines = []
    for r in results:
        count = len(r["summary"])
        if not count:
            lines.append("%s %s: 0 changes, hardened" % (r["mode"], r["bucket"]))
            continue
        if r["applied"]:
            lines.append("apply %s: %d change(s) applied" % (r["bucket"], count))
        elif check_mode and apply:
            lines.append("check %s: %d change(s) would be applied (check mode writes nothing)" % (r["bucket"], count))
        elif check_mode:
            lines.append("check %s: %d change(s) planned (would be applied with -e %s=true and without --check)"
                         % (r["bucket"], count, APPLY_VARIABLE))
        else:
            lines.append("plan %s: %d change(s) pending (apply with -e %s=true)" % (r["bucket"], count, APPLY_VARIABLE))
        verb = "would change" if check_mode else ("changed" if r["applied"] else "plans")
        lines.extend("  %s %s %s" % (r["bucket"], verb, summary) for summary in r["summary"])
    return lines


def run(ops):
    params = ops.params
    apply = params["apply"]
    ops.phase = "apply" if apply else "plan"
    ops.record_inputs(buckets=[entry.get("bucket") for entry in params["buckets"]])
    entries = _entries(params)
    s3 = ops.client("s3")
    results, warnings, diff_before, diff_after = [], [], {}, {}
    written = {}
    for entry in entries:
        bucket = entry["bucket"]
        try:
            result = hardening.harden(s3, bucket, entry, apply=apply, check_mode=ops.check_mode)
        except GuardError as exc:
            exc.details.update(failed_bucket=bucket, applied=written)
            exc.changed_so_far = any(written.values())
            raise
        except aws.AWS_ERRORS as exc:  # pylint: disable=catching-non-exception
            done = dict(written)
            done[bucket] = getattr(exc, "applied", [])
            error = aws.to_ops_error(exc, "hardening bucket %s" % bucket)
            raise GuardError(error.reason, "%s%s" % (error.message, "; already written: %s (a rerun plans the rest)" % json.dumps(done)
                                                     if any(done.values()) else ""),
                             details={"failed_bucket": bucket, "applied": done}, changed_so_far=any(done.values()))
        diff = result.pop("diff")
        warnings.extend(result.pop("warnings"))
        result["pending"] = bool(result["plan"]) and not result["applied"]
        written[bucket] = result["applied"]
        if result["plan"]:
            diff_before[bucket] = json.loads(diff["before"])
            diff_after[bucket] = json.loads(diff["after"])
        results.append(result)
    pending = sum(len(r["summary"]) for r in results)
    applied = sum(len(r["applied"]) for r in results)
    mode = "apply" if apply and not ops.check_mode else ("check" if ops.check_mode else "plan")
    outputs = {
        "mode": mode, "apply": apply, "buckets": [r["bucket"] for r in results], "pending_changes": pending,
        "plan": {r["bucket"]: r["summary"] for r in results}, "applied": written,
        "controls": {r["bucket"]: r["controls"] for r in results},
        "lines": _lines(results, ops.check_mode, apply), "results": results,
    }
    if ops.check_mode:
        line = [("mode", mode), ("buckets", len(results)), ("would_change", pending)]
    elif apply:
        line = [("mode", mode), ("buckets", len(results)), ("applied", applied)]
    else:
        line = [("mode", mode), ("buckets", len(results)), ("pending_changes", pending)]
    outcome = dict(changed=applied > 0 or (ops.check_mode and apply and pending > 0), status="planned" if ops.check_mode else "ok",
                   outputs=outputs, line=line, warnings=warnings)
    if diff_before or diff_after:
        outcome["diff"] = {"before": json.dumps(diff_before, indent=2, sort_keys=True) + "\n",
                           "after": json.dumps(diff_after, indent=2, sort_keys=True) + "\n"}
    return outcome


def main():
    OpsModule(ARGUMENT_SPEC, operation="s3_hardening", phase="plan", status_key="s3_hardening", connections=[aws.AwsConnection],
              receipt_inputs=["apply", "purge_lifecycle_rules", "region"]).run(run)


if __name__ == "__main__":
    main()
