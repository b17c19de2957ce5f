#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: s3_bucket_hardening
short_description: Plan and apply an S3 bucket's versioning, lifecycle, public access block, encryption and replication
version_added: "0.2.0"
description:
  - Takes the desired state of one bucket's controls, reads the current state and returns a plan
    (one line per change in RV(summary), the documents in RV(plan) and C(--diff)).
  - Changes nothing unless O(apply=true), and never in check mode (M19 Phase A, C(make aws-s3-hardening)
    dry run, C(APPLY=1) to apply).
  - Settings left out are not managed. Documents are compared after normalisation (lifecycle
    C(Prefix)/C(Filter) forms, empty filters, rule and transition order, replication defaults), so a
    hardened bucket plans empty.
  - Replication needs versioning on the bucket and on the destination; the module fails before any
    write when either is missing, naming the bucket to harden first.
  - After an apply the bucket is read back (what C(get-bucket-versioning) and
    C(get-bucket-lifecycle-configuration) show) and the module fails with C(hardening_not_converged)
    when the read-back still differs.
  - Unlike M(amazon.aws.s3_bucket) and M(community.aws.s3_lifecycle), it has a full check mode and
    manages replication.
author:
  - signalcraft maintainers (@signalcraft)
options:
  bucket:
    description: The bucket to harden.
    type: str
    required: true
  apply:
    description:
      - V(false) (default) only plans. V(true) writes the planned changes (not in check mode).
    type: bool
    default: false
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
          storage_class:
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
          storage_class:
            description: Target storage class.
            type: str
            required: true
            choices: [STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER, DEEP_ARCHIVE]
      abort_incomplete_multipart_upload_days:
        description: Abort multipart uploads not completed this many days after they started.
        type: int
  purge_lifecycle_rules:
    description: Remove lifecycle rules the bucket has that O(lifecycle_rules) does not name.
    type: bool
    default: true
  replication:
    description:
      - Desired replication of the whole bucket (or O(replication.prefix)) to a backup bucket.
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
extends_documentation_fragment:
  - signalcraft.ops.aws
attributes:
  check_mode:
    support: full
    description: Reads and plans; never writes in check mode, even with O(apply=true).
  diff_mode:
    support: full
    description: The normalised documents of the changed settings, before and after.
seealso:
  - module: amazon.aws.s3_bucket
  - module: community.aws.s3_lifecycle
"""

EXAMPLES = r"""
- name: Plan the hardening of the artifact bucket (dry run)
  signalcraft.ops.s3_bucket_hardening:
    bucket: jobintel-prod1
    versioning: enabled
    public_access_block: {}
    encryption: {sse_algorithm: AES256}
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
  register: plan

- name: Apply it
  signalcraft.ops.s3_bucket_hardening:
    bucket: jobintel-prod1
    apply: true
    versioning: enabled
"""

RETURN = r"""
bucket:
  description: The bucket.
  returned: always
  type: str
mode:
  description: V(plan) (dry run), V(check) (check mode) or V(apply).
  returned: always
  type: str
  sample: plan
managed:
  description: The settings the options manage.
  returned: always
  type: list
  elements: str
  sample: [versioning, lifecycle]
plan:
  description: One entry per setting that differs, with C(setting), C(action) (create, update, delete), normalised C(before) and C(after) and C(summary).
  returned: always
  type: list
  elements: dict
summary:
  description: One line per planned change; empty when the bucket is already hardened.
  returned: always
  type: list
  elements: str
  sample: ["versioning: Disabled -> Enabled", "lifecycle: +abort-multipart, +runs-tiering"]
applied:
  description: The settings written, in order (empty unless O(apply=true) outside check mode).
  returned: always
  type: list
  elements: str
pending:
  description: True when the plan is not empty and nothing was applied (dry run or check mode).
  returned: always
  type: bool
controls:
  description:
    - The bucket's controls as read (after the apply when one happened), normalised; the validation
      C(get-bucket-versioning), C(get-bucket-lifecycle-configuration) and friends would show.
  returned: always
  type: dict
  contains:
    versioning:
      description: C({"Status"}) (C(Disabled) when versioning was never enabled).
      type: dict
    lifecycle:
      description: C({"Rules"}) or null.
      type: dict
    public_access_block:
      description: The four flags or null.
      type: dict
    encryption:
      description: C({"Rules"}) or null.
      type: dict
    replication:
      description: C({"Role", "Rules"}) or null.
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import hardening as s3_hardening
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError

_CLASSES = list(s3_hardening.STORAGE_CLASSES)
_TRANSITION = dict(days=dict(type="int", required=True), storage_class=dict(type="str", required=True, choices=_CLASSES))


def main():
    argument_spec = aws.aws_argument_spec()
    argument_spec.update(
        bucket=dict(type="str", required=True),
        apply=dict(type="bool", default=False),
        versioning=dict(type="str", choices=["enabled", "suspended"]),
        public_access_block=dict(type="dict", options=dict(
            block_public_acls=dict(type="bool", default=True), ignore_public_acls=dict(type="bool", default=True),
            block_public_policy=dict(type="bool", default=True), restrict_public_buckets=dict(type="bool", default=True))),
        encryption=dict(type="dict", options=dict(
            sse_algorithm=dict(type="str", choices=list(s3_hardening.SSE_ALGORITHMS), default="AES256"),
            kms_key_id=dict(type="str"), bucket_key_enabled=dict(type="bool", default=False))),
        lifecycle_rules=dict(type="list", elements="dict", options=dict(
            id=dict(type="str", required=True), enabled=dict(type="bool", default=True), prefix=dict(type="str", default=""),
            transitions=dict(type="list", elements="dict", default=[], options=_TRANSITION),
            expiration_days=dict(type="int"), expired_object_delete_marker=dict(type="bool", default=False),
            noncurrent_version_expiration_days=dict(type="int"), noncurrent_versions_to_keep=dict(type="int"),
            noncurrent_version_transitions=dict(type="list", elements="dict", default=[], options=_TRANSITION),
            abort_incomplete_multipart_upload_days=dict(type="int"))),
        purge_lifecycle_rules=dict(type="bool", default=True),
        replication=dict(type="dict", options=dict(
            role_arn=dict(type="str", required=True), destination_bucket=dict(type="str", required=True),
            rule_id=dict(type="str", default="replicate-to-backup"), prefix=dict(type="str", default=""),
            priority=dict(type="int", default=1),
            storage_class=dict(type="str", choices=list(s3_hardening.REPLICA_STORAGE_CLASSES)),
            delete_marker_replication=dict(type="bool", default=False))),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(aws.BOTO3_IMPORT_ERROR))
    params = module.params
    try:
        s3 = aws.AwsClientFactory.from_params(params).client("s3")
        result = s3_hardening.harden(s3, params["bucket"], params, apply=params["apply"], check_mode=module.check_mode)
    except GuardError as exc:
        module.fail_json(msg="s3_hardening status=fail reason=%s: %s" % (exc.reason, exc.message), reason=exc.reason)
    except aws.AWS_ERRORS + (ValueError,) as exc:
        applied = getattr(exc, "applied", [])  # a write failed after these were written
        module.fail_json(msg="s3_hardening status=fail reason=aws_error: %s%s" % (
            aws.describe_error(exc, "hardening %s" % params["bucket"]),
            "; already written: %s (a rerun plans the rest)" % ", ".join(applied) if applied else ""),
            reason="aws_error", applied=applied, changed=bool(applied))
    diff = result.pop("diff")
    for warning in result.pop("warnings"):
        module.warn(warning)
    result["pending"] = bool(result["plan"]) and not result["applied"]
    # changed: something was written, or check mode with apply=true would write it.
    changed = bool(result["applied"]) or (module.check_mode and params["apply"] and bool(result["plan"]))
    if result["plan"]:
        result["diff"] = diff
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
