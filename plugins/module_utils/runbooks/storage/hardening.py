# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3 bucket hardening as desired state: read, normalise, plan, apply, read back.

A bucket's controls are five documents -- versioning, public access block, default encryption,
lifecycle configuration, replication configuration. ``desired_documents`` turns module options into
the API's documents, ``read_current`` fetches the bucket's, ``normalise_*`` puts both into one
canonical form (the API fills defaults and reorders: lifecycle ``Prefix`` vs ``Filter`` forms, empty
filters, rule and transition order, replication's ``Filter: {Prefix: ""}``), and ``plan`` compares
them setting by setting. A setting left out of the desired state (``None``) is not managed and never
planned. ``apply_plan`` writes only the settings the plan lists, in dependency order (versioning
before replication).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import error_code

SETTINGS = ("versioning", "public_access_block", "encryption", "lifecycle", "replication")
# Apply order: replication needs versioning on; lifecycle last-but-one so noncurrent rules meet a versioned bucket.
APPLY_ORDER = ("versioning", "public_access_block", "encryption", "lifecycle", "replication")
STORAGE_CLASSES = ("STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE")
REPLICA_STORAGE_CLASSES = ("STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
                           "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR")
SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
# Minimum days before a transition into each class is allowed (S3 rejects earlier ones).
_MIN_TRANSITION_DAYS = {"STANDARD_IA": 30, "ONEZONE_IA": 30}
_NOT_CONFIGURED = {
    "lifecycle": ("NoSuchLifecycleConfiguration",),
    "replication": ("ReplicationConfigurationNotFoundError",),
    "encryption": ("ServerSideEncryptionConfigurationNotFoundError",),
    "public_access_block": ("NoSuchPublicAccessBlockConfiguration",),
}


# --------------------------------------------------------------------------------------------
# the inventory's bucket list (storage_hardening_buckets)
# --------------------------------------------------------------------------------------------
BUCKETS_VARIABLE = "storage_hardening_buckets"


def _placeholder(value):
    return str(value or "").startswith("REPLACE_")


def resolve_entries(entries, lifecycle_profiles=None, default_public_access_block=None, default_encryption=None):
    """The inventory's bucket entries as module-style parameters, checked before any request.

    ``lifecycle_profile`` becomes that profile's ``lifecycle_rules``; entries that set no public
    access block or encryption get the defaults (``None`` leaves the setting unmanaged). An empty
    bucket is ``bucket_unset``, a ``REPLACE_`` value ``inventory_placeholder``, an unknown profile
    ``lifecycle_rule_invalid``; each message names the entry in ``storage_hardening_buckets``.
    """
    profiles = lifecycle_profiles or {}
    resolved = []
    if not entries:
        raise GuardError("bucket_unset", "No buckets to harden; set %s in inventories/<env>/group_vars/all/storage.yml."
                         % BUCKETS_VARIABLE)
    for index, entry in enumerate(entries):
        bucket = entry.get("bucket")
        where = "%s[%d]" % (BUCKETS_VARIABLE, index)
        if not bucket or not str(bucket).strip():
            raise GuardError("bucket_unset", "%s has an empty bucket; set it in inventories/<env>/group_vars/all/storage.yml." % where)
        if _placeholder(bucket):
            raise GuardError("inventory_placeholder", "%s bucket is the placeholder %r; set it in "
                             "inventories/<env>/group_vars/all/storage.yml." % (where, bucket))
        replication = entry.get("replication") or {}
        for key in ("role_arn", "destination_bucket"):
            if key in replication and (not replication[key] or _placeholder(replication[key])):
                raise GuardError("inventory_placeholder", "%s (bucket %s) replication.%s is empty or the placeholder %r; set it "
                                 "(storage_replication_role_arn, storage_backup_bucket) in the inventory."
                                 % (where, bucket, key, replication[key]))
        params = dict(entry)
        profile = params.pop("lifecycle_profile", None)
        if profile is not None:
            if profile not in profiles:
                raise GuardError("lifecycle_rule_invalid", "%s (bucket %s) names lifecycle_profile %r, which is not in "
                                 "storage_lifecycle_profiles (known: %s)." % (where, bucket, profile, ", ".join(sorted(profiles)) or "none"))
            if params.get("lifecycle_rules") is not None:
                raise GuardError("lifecycle_rule_invalid", "%s (bucket %s) sets both lifecycle_profile and lifecycle_rules; keep one."
                                 % (where, bucket))
            params["lifecycle_rules"] = profiles[profile]
        if params.get("public_access_block") is None:
            params["public_access_block"] = default_public_access_block
        if params.get("encryption") is None:
            params["encryption"] = default_encryption
        params["lifecycle_profile"] = profile
        resolved.append(params)
    return resolved


# --------------------------------------------------------------------------------------------
# desired state from module options
# --------------------------------------------------------------------------------------------
def _lifecycle_rule(rule):
    doc = {"ID": rule["id"], "Status": "Enabled" if rule.get("enabled", True) else "Disabled",
           "Filter": {"Prefix": rule["prefix"]} if rule.get("prefix") else {}}
    transitions = rule.get("transitions") or []
    if transitions:
        doc["Transitions"] = [{"Days": int(t["days"]), "StorageClass": t["storage_class"]} for t in transitions]
    expiration = {}
    if rule.get("expiration_days") is not None:
        expiration["Days"] = int(rule["expiration_days"])
    if rule.get("expired_object_delete_marker"):
        expiration["ExpiredObjectDeleteMarker"] = True
    if expiration:
        doc["Expiration"] = expiration
    if rule.get("noncurrent_version_expiration_days") is not None:
        nve = {"NoncurrentDays": int(rule["noncurrent_version_expiration_days"])}
        if rule.get("noncurrent_versions_to_keep"):
            nve["NewerNoncurrentVersions"] = int(rule["noncurrent_versions_to_keep"])
        doc["NoncurrentVersionExpiration"] = nve
    nvt = rule.get("noncurrent_version_transitions") or []
    if nvt:
        doc["NoncurrentVersionTransitions"] = [{"NoncurrentDays": int(t["days"]), "StorageClass": t["storage_class"]} for t in nvt]
    if rule.get("abort_incomplete_multipart_upload_days") is not None:
        doc["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(rule["abort_incomplete_multipart_upload_days"])}
    return doc


def _check_transitions(rid, transitions, option, unit):
    """S3's constraints on one rule's (current or noncurrent) transitions; returns their days."""
    days_seen = []
    for t in transitions:
        if t["storage_class"] not in STORAGE_CLASSES:
            raise GuardError("lifecycle_rule_invalid", "Lifecycle rule %r: storage class %r in %s is not one of %s."
                             % (rid, t["storage_class"], option, ", ".join(STORAGE_CLASSES)))
        if int(t["days"]) < 0:
            raise GuardError("lifecycle_rule_invalid", "Lifecycle rule %r: %s days must be 0 or more, not %s." % (rid, option, t["days"]))
        minimum = _MIN_TRANSITION_DAYS.get(t["storage_class"], 0)
        if int(t["days"]) < minimum:
            detail = (rid, t["storage_class"], minimum, unit, t["days"], minimum, option)
            raise GuardError("lifecycle_rule_invalid", "Lifecycle rule %r: S3 allows transitions to %s only after %d %s, "
                             "not %s; raise days to %d or pick another class (%s)." % detail)
        days_seen.append(int(t["days"]))
    ia_days = [int(t["days"]) for t in transitions if t["storage_class"] in ("STANDARD_IA", "ONEZONE_IA")]
    for t in transitions:
        if ia_days and t["storage_class"] in ("GLACIER", "DEEP_ARCHIVE", "GLACIER_IR") and int(t["days"]) < max(ia_days) + 30:
            detail = (rid, t["storage_class"], max(ia_days) + 30, t["days"], option)
            raise GuardError("lifecycle_rule_invalid", "Lifecycle rule %r: S3 keeps objects in an IA class at least 30 days, so the "
                             "%s transition must be at day %d or later, not %s (%s)." % detail)
    if days_seen != sorted(days_seen) or len(set(days_seen)) != len(days_seen):
        raise GuardError("lifecycle_rule_invalid", "Lifecycle rule %r: %s must be listed by increasing, distinct days; got %s."
                         % (rid, option, days_seen))
    return days_seen


def validate_lifecycle_rules(rules):
    """Fail before any write on rules S3 would reject or that cannot mean what the operator wants."""
    seen = set()
    for rule in rules:
        rid = rule.get("id")
        if not rid or len(rid) > 255:
            raise GuardError("lifecycle_rule_invalid", "Every lifecycle rule needs an id of 1-255 characters; got %r." % rid)
        if rid in seen:
            raise GuardError("lifecycle_rule_invalid", "Lifecycle rule id %r appears twice; rule ids must be unique." % rid)
        seen.add(rid)
        actions = [rule.get(k) for k in ("transitions", "expiration_days", "expired_object_delete_marker",
                                         "noncurrent_version_expiration_days", "noncurrent_version_transitions",
                                         "abort_incomplete_multipart_upload_days")]
        if not any(a not in (None, [], False) for a in actions):
            raise GuardError("lifecycle_rule_invalid", "Lifecycle rule %r has no action; give transitions, expiration_days, "
                             "noncurrent_version_expiration_days or abort_incomplete_multipart_upload_days." % rid)
        days_seen = _check_transitions(rid, rule.get("transitions") or [], "transitions", "days")
        nc_days = _check_transitions(rid, rule.get("noncurrent_version_transitions") or [], "noncurrent_version_transitions",
                                     "noncurrent days")
        for option in ("expiration_days", "noncurrent_version_expiration_days", "abort_incomplete_multipart_upload_days"):
            if rule.get(option) is not None and int(rule[option]) < 1:
                raise GuardError("lifecycle_rule_invalid", "Lifecycle rule %r: %s must be a positive number of days, not %s."
                                 % (rid, option, rule[option]))
        nc_exp = rule.get("noncurrent_version_expiration_days")
        if nc_exp is not None and nc_days and int(nc_exp) <= max(nc_days):
            raise GuardError("lifecycle_rule_invalid", "Lifecycle rule %r: noncurrent_version_expiration_days %s must come after the "
                             "last noncurrent version transition (%d days)." % (rid, nc_exp, max(nc_days)))
        keep = rule.get("noncurrent_versions_to_keep")
        if keep is not None and (nc_exp is None or not 1 <= int(keep) <= 100):
            raise GuardError("lifecycle_rule_invalid", "Lifecycle rule %r: noncurrent_versions_to_keep (%s) must be 1-100 and needs "
                             "noncurrent_version_expiration_days; set both or neither." % (rid, keep))
        exp = rule.get("expiration_days")
        if exp is not None and days_seen and int(exp) <= max(days_seen):
            raise GuardError("lifecycle_rule_invalid", "Lifecycle rule %r: expiration_days %s must come after the last transition (%d days)."
                             % (rid, exp, max(days_seen)))
        if exp is not None and rule.get("expired_object_delete_marker"):
            raise GuardError("lifecycle_rule_invalid", "Lifecycle rule %r: S3 does not allow expiration_days together with "
                             "expired_object_delete_marker; use two rules." % rid)


def desired_documents(params):
    """The API documents the options ask for; ``None`` for each setting that is not managed."""
    desired = dict.fromkeys(SETTINGS)
    if params.get("versioning"):
        desired["versioning"] = {"Status": "Enabled" if params["versioning"] == "enabled" else "Suspended"}
    pab = params.get("public_access_block")
    if pab is not None:
        desired["public_access_block"] = {
            "BlockPublicAcls": bool(pab.get("block_public_acls", True)),
            "IgnorePublicAcls": bool(pab.get("ignore_public_acls", True)),
            "BlockPublicPolicy": bool(pab.get("block_public_policy", True)),
            "RestrictPublicBuckets": bool(pab.get("restrict_public_buckets", True)),
        }
    enc = params.get("encryption")
    if enc is not None:
        default = {"SSEAlgorithm": enc.get("sse_algorithm") or "AES256"}
        if enc.get("kms_key_id"):
            if default["SSEAlgorithm"] == "AES256":
                # S3 answers InvalidArgument ("KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms").
                raise GuardError("encryption_invalid", "encryption.kms_key_id is set but sse_algorithm is AES256 (SSE-S3), which takes "
                                 "no key; set sse_algorithm: aws:kms (or aws:kms:dsse) or remove kms_key_id.")
            default["KMSMasterKeyID"] = enc["kms_key_id"]
        desired["encryption"] = {"Rules": [{"ApplyServerSideEncryptionByDefault": default,
                                            "BucketKeyEnabled": bool(enc.get("bucket_key_enabled", False))}]}
    rules = params.get("lifecycle_rules")
    if rules is not None:
        validate_lifecycle_rules(rules)
        desired["lifecycle"] = {"Rules": [_lifecycle_rule(r) for r in rules]}
    rep = params.get("replication")
    if rep is not None:
        # A name becomes an ARN in the aws partition; an ARN (e.g. arn:aws-cn:s3:::name) is kept as given.
        target = rep["destination_bucket"]
        dest = {"Bucket": target if target.startswith("arn:") else "arn:aws:s3:::%s" % target}
        if rep.get("storage_class"):
            dest["StorageClass"] = rep["storage_class"]
        desired["replication"] = {"Role": rep["role_arn"], "Rules": [{
            "ID": rep.get("rule_id") or "replicate-to-backup", "Priority": int(rep.get("priority") or 1), "Status": "Enabled",
            "Filter": {"Prefix": rep["prefix"]} if rep.get("prefix") else {},
            "DeleteMarkerReplication": {"Status": "Enabled" if rep.get("delete_marker_replication") else "Disabled"},
            "Destination": dest,
        }]}
    return desired


# --------------------------------------------------------------------------------------------
# normalisation: one canonical form for what we send and what the API returns
# --------------------------------------------------------------------------------------------
def _normal_filter(rule):
    """Filter/Prefix forms -> {"Prefix": p} or {"Tag": ..} / {"And": ..} or {} (everything)."""
    flt = rule.get("Filter")
    if flt is None:
        prefix = rule.get("Prefix") or ""
        return {"Prefix": prefix} if prefix else {}
    flt = copy.deepcopy(flt)
    if "And" in flt:
        and_part = flt["And"]
        tags = sorted(and_part.get("Tags") or [], key=lambda t: (t.get("Key"), t.get("Value")))
        out = {k: v for k, v in and_part.items() if k != "Tags" and v not in (None, "")}
        if tags:
            out["Tags"] = tags
        if list(out) == ["Prefix"]:
            return {"Prefix": out["Prefix"]}
        if list(out) == ["Tags"] and len(tags) == 1:
            return {"Tag": tags[0]}
        return {"And": out} if out else {}
    return {k: v for k, v in flt.items() if v not in (None, "")}


def normalise_lifecycle(doc):
    if not doc or not doc.get("Rules"):
        return None
    rules = []
    for rule in doc["Rules"]:
        out = {"ID": rule.get("ID", ""), "Status": rule.get("Status", "Enabled"), "Filter": _normal_filter(rule)}
        if rule.get("Transitions"):
            out["Transitions"] = sorted(({k: v for k, v in t.items() if v is not None} for t in rule["Transitions"]),
                                        key=lambda t: (t.get("Days", 0), str(t.get("Date", ""))))
        exp = {k: v for k, v in (rule.get("Expiration") or {}).items() if v not in (None, False)}
        if exp:
            out["Expiration"] = exp
        for key in ("NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"):
            value = {k: v for k, v in (rule.get(key) or {}).items() if v is not None}
            if value:
                out[key] = value
        if rule.get("NoncurrentVersionTransitions"):
            out["NoncurrentVersionTransitions"] = sorted(rule["NoncurrentVersionTransitions"], key=lambda t: t.get("NoncurrentDays", 0))
        rules.append(out)
    return {"Rules": sorted(rules, key=lambda r: r["ID"])}


def normalise_replication(doc):
    if not doc or not doc.get("Rules"):
        return None
    rules = []
    for rule in doc["Rules"]:
        out = {"ID": rule.get("ID", ""), "Priority": int(rule.get("Priority") or 0), "Status": rule.get("Status", "Enabled"),
               "Filter": _normal_filter(rule),
               "DeleteMarkerReplication": {"Status": (rule.get("DeleteMarkerReplication") or {}).get("Status", "Disabled")},
               "Destination": {k: v for k, v in (rule.get("Destination") or {}).items() if v is not None}}
        if out["Destination"].get("StorageClass") == "STANDARD":
            out["Destination"].pop("StorageClass")  # the API's default; equal to leaving it out
        rules.append(out)
    return {"Role": doc.get("Role", ""), "Rules": sorted(rules, key=lambda r: (r["Priority"], r["ID"]))}


def normalise_encryption(doc):
    if not doc or not doc.get("Rules"):
        return None
    rules = []
    for rule in doc["Rules"]:
        default = {k: v for k, v in (rule.get("ApplyServerSideEncryptionByDefault") or {}).items() if v}
        rules.append({"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": bool(rule.get("BucketKeyEnabled", False))})
    return {"Rules": rules}


def normalise_versioning(doc):
    status = (doc or {}).get("Status")
    # A bucket that never had versioning has no Status; that is not "Suspended", but it is not "Enabled" either.
    return {"Status": status or "Disabled"}


def normalise_public_access_block(doc):
    if not doc:
        return None
    return {k: bool(doc.get(k, False)) for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")}


NORMALISERS = {
    "versioning": normalise_versioning, "public_access_block": normalise_public_access_block,
    "encryption": normalise_encryption, "lifecycle": normalise_lifecycle, "replication": normalise_replication,
}


def normalise(documents):
    return {name: NORMALISERS[name](documents.get(name)) for name in SETTINGS if name in documents}


# --------------------------------------------------------------------------------------------
# reading the bucket
# --------------------------------------------------------------------------------------------
def _read(s3, name, bucket):
    try:
        if name == "versioning":
            resp = s3.get_bucket_versioning(Bucket=bucket)
            return {k: v for k, v in resp.items() if k in ("Status", "MFADelete")}
        if name == "public_access_block":
            return s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        if name == "encryption":
            return s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        if name == "lifecycle":
            return {"Rules": s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
        if name == "replication":
            return s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]
    except Exception as exc:  # ClientError; anything else propagates below
        if error_code(exc) in _NOT_CONFIGURED.get(name, ()):
            return None
        raise
    raise ValueError(name)


def read_current(s3, bucket, settings=SETTINGS):
    """The bucket's documents for ``settings`` (None where nothing is configured)."""
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception as exc:
        if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            raise GuardError("bucket_not_found", "Bucket %r does not exist (or is not visible to this caller); "
                             "check the bucket name in the inventory and the region." % bucket)
        raise
    return {name: _read(s3, name, bucket) for name in settings}


# --------------------------------------------------------------------------------------------
# planning
# --------------------------------------------------------------------------------------------
def _describe(name, before, after):
    """One line per change, the way an operator reads a plan."""
    if name == "versioning":
        return "versioning: %s -> %s" % (before["Status"], after["Status"])
    if name == "public_access_block":
        if before is None:
            return "public_access_block: none -> %s" % ", ".join("%s=%s" % (k, str(v).lower()) for k, v in after.items())
        changes = ["%s %s -> %s" % (k, str(before[k]).lower(), str(after[k]).lower()) for k in after if before.get(k) != after[k]]
        return "public_access_block: " + ", ".join(changes)
    if name == "encryption":
        def alg(doc):
            if doc is None:
                return "none"
            default = doc["Rules"][0]["ApplyServerSideEncryptionByDefault"]
            return default.get("SSEAlgorithm", "?") + (" key=%s" % default["KMSMasterKeyID"] if default.get("KMSMasterKeyID") else "") + \
                (" bucket_key" if doc["Rules"][0].get("BucketKeyEnabled") else "")
        return "encryption: %s -> %s" % (alg(before), alg(after))
    if name in ("lifecycle", "replication"):
        before_rules = {r["ID"]: r for r in (before or {}).get("Rules", [])}
        after_rules = {r["ID"]: r for r in (after or {}).get("Rules", [])}
        parts = ["+%s" % i for i in sorted(set(after_rules) - set(before_rules))]
        parts += ["-%s" % i for i in sorted(set(before_rules) - set(after_rules))]
        parts += ["~%s" % i for i in sorted(set(after_rules) & set(before_rules)) if after_rules[i] != before_rules[i]]
        if name == "replication" and before and after and before.get("Role") != after.get("Role"):
            parts.append("role %s -> %s" % (before.get("Role"), after.get("Role")))
        if after is None:
            return "%s: remove configuration (%s)" % (name, ", ".join(parts))
        return "%s: %s" % (name, ", ".join(parts) or "update")
    return "%s: update" % name


def _merge_lifecycle(current, desired, purge):
    """With purge off, rules the bucket has and the options do not name are kept."""
    if purge or not current:
        return desired
    named = {r["ID"] for r in (desired or {}).get("Rules", [])}
    kept = [r for r in current["Rules"] if r["ID"] not in named]
    merged = {"Rules": (desired or {}).get("Rules", []) + kept}
    return normalise_lifecycle(merged)


def plan(current, desired, purge_lifecycle_rules=True):
    """Compare normalised documents; return ``{"changes": [...], "before": {...}, "after": {...}}``.

    Each change is ``{"setting", "action" (create|update|delete), "before", "after", "summary"}``.
    """
    cur = normalise(current)
    want = {}
    for name in SETTINGS:
        if desired.get(name) is None:
            continue
        want[name] = NORMALISERS[name](desired[name])
    if "lifecycle" in want:
        want["lifecycle"] = _merge_lifecycle(cur.get("lifecycle"), want["lifecycle"], purge_lifecycle_rules)
    changes = []
    for name in SETTINGS:
        if name not in want:
            continue
        before, after = cur.get(name), want[name]
        if name == "versioning" and before["Status"] == "Disabled" and after["Status"] == "Suspended":
            continue  # never-versioned already means "no versions are kept"
        if before == after:
            continue
        action = "create" if before in (None, {"Status": "Disabled"}) else ("delete" if after is None else "update")
        changes.append({"setting": name, "action": action, "before": before, "after": after,
                        "summary": _describe(name, before, after)})
    managed = [c["setting"] for c in changes]
    return {"changes": changes,
            "before": {name: cur.get(name) for name in managed},
            "after": {name: want[name] for name in managed}}


def check_replication_prerequisites(s3, bucket, desired, current):
    """Replication needs versioning on the source (now or by this plan) and on the destination bucket.

    Returns warnings: a destination in another account usually denies GetBucketVersioning to this
    caller; that is not an error (PutBucketReplication itself refuses an unversioned destination).
    """
    warnings = []
    rep = desired.get("replication")
    if not rep:
        return warnings
    source_status = (desired.get("versioning") or current.get("versioning") or {}).get("Status")
    if source_status != "Enabled":
        raise GuardError("replication_requires_versioning", "Replication of %r needs versioning enabled on it; "
                         "set versioning: enabled for this bucket." % bucket)
    for rule in rep["Rules"]:
        dest = rule["Destination"]["Bucket"].split(":::", 1)[-1]
        if dest == bucket:
            raise GuardError("replication_destination_invalid", "Bucket %r cannot replicate to itself; set a separate backup bucket." % bucket)
        try:
            status = s3.get_bucket_versioning(Bucket=dest).get("Status")
        except Exception as exc:
            if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                raise GuardError("replication_destination_invalid", "Replication destination bucket %r does not exist; "
                                 "create it or fix the backup bucket name in the inventory." % dest)
            if error_code(exc) in ("AccessDenied", "403"):
                warnings.append("replication_destination_unverified: cannot read the versioning of destination bucket %r "
                                "(AccessDenied; another account?); make sure it is versioned -- S3 refuses the replication "
                                "configuration otherwise." % dest)
                continue
            raise
        if status != "Enabled":
            raise GuardError("replication_destination_unversioned", "Replication destination bucket %r has versioning %s; "
                             "S3 requires versioning on both buckets -- harden %r (versioning: enabled) first."
                             % (dest, status or "never enabled", dest))
    role = rep.get("Role", "")
    if not role.startswith("arn:") or ":role/" not in role:
        raise GuardError("replication_role_invalid", "Replication needs the ARN of an IAM role S3 can assume "
                         "(arn:aws:iam::<account>:role/<name>); got %r." % role)
    return warnings


# --------------------------------------------------------------------------------------------
# applying
# --------------------------------------------------------------------------------------------
# Each deletable setting: (its put call, the put call's document argument, its delete call).
_WRITERS = {
    "public_access_block": ("put_public_access_block", "PublicAccessBlockConfiguration", "delete_public_access_block"),
    "encryption": ("put_bucket_encryption", "ServerSideEncryptionConfiguration", "delete_bucket_encryption"),
    "lifecycle": ("put_bucket_lifecycle_configuration", "LifecycleConfiguration", "delete_bucket_lifecycle"),
    "replication": ("put_bucket_replication", "ReplicationConfiguration", "delete_bucket_replication"),
}


def _write(s3, bucket, name, after):
    if name == "versioning":
        # Versioning cannot be deleted, only suspended: always a put.
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": after["Status"]})
        return
    put, document, delete = _WRITERS[name]
    if after is None:
        getattr(s3, delete)(Bucket=bucket)
    else:
        getattr(s3, put)(Bucket=bucket, **{document: after})


def apply_plan(s3, bucket, planned):
    """Write each planned setting in dependency order. Returns the settings written, in order.

    When a write fails, the exception carries ``applied``: the settings written before it.
    """
    written = []
    by_name = {c["setting"]: c for c in planned["changes"]}
    for name in APPLY_ORDER:
        if name in by_name:
            try:
                _write(s3, bucket, name, by_name[name]["after"])
            except Exception as exc:
                exc.applied = list(written)
                raise
            written.append(name)
    return written


def controls(current):
    """What ``get-bucket-versioning`` / ``get-bucket-lifecycle-configuration`` etc. show, normalised."""
    return normalise(current)


def diff_text(planned):
    """``{"before": str, "after": str}`` for Ansible's --diff (stable JSON)."""
    return {"before": json.dumps(planned["before"], indent=2, sort_keys=True) + "\n",
            "after": json.dumps(planned["after"], indent=2, sort_keys=True) + "\n"}


def harden(s3, bucket, params, apply=False, check_mode=False):
    """Plan (and with ``apply`` outside check mode, apply and read back) one bucket's controls."""
    desired = desired_documents(params)
    managed = [n for n in SETTINGS if desired.get(n) is not None]
    current = read_current(s3, bucket, SETTINGS)
    warnings = []
    try:
        warnings.extend(check_replication_prerequisites(s3, bucket, desired, current))
    except GuardError as exc:
        # A plan may harden the backup bucket earlier in the same run; only a write must refuse.
        if exc.reason != "replication_destination_unversioned" or (apply and not check_mode):
            raise
        warnings.append("%s: %s" % (exc.reason, exc.message))
    planned = plan(current, desired, params.get("purge_lifecycle_rules", True))
    result = {"bucket": bucket, "managed": managed, "plan": planned["changes"],
              "summary": [c["summary"] for c in planned["changes"]], "applied": [], "diff": diff_text(planned),
              "mode": "apply" if apply and not check_mode else ("check" if check_mode else "plan"), "warnings": warnings}
    if apply and not check_mode and planned["changes"]:
        result["applied"] = apply_plan(s3, bucket, planned)
        current = read_current(s3, bucket, SETTINGS)
        remaining = plan(current, desired, params.get("purge_lifecycle_rules", True))
        if remaining["changes"]:
            raise GuardError("hardening_not_converged", "Bucket %r still differs after apply: %s; the API did not keep what "
                             "was written (check bucket policy/SCPs)." % (bucket, "; ".join(c["summary"] for c in remaining["changes"])))
    result["controls"] = controls(current)
    result["converged"] = not planned["changes"] or bool(result["applied"])
    return result
