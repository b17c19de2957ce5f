#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_failback
short_description: One gate or step of the DR failback - confirmations, promoted, freeze, divergence, primary canonical again
version_added: "0.3.0"
description:
  - The steps of C(playbooks/dr_failback.yml) (role C(signalcraft.ops.dr_failback) on the phase engine), one per call,
    chosen by O(step). Each is a phase with its own receipt; the first that fails stops the failback.
  - O(step=confirm) checks the two typed confirmations, O(confirm1=FAILBACK) and O(confirm2=CONFIRM-<dr_run_id>)
    (C(confirmation_missing)); it makes no request.
  - O(step=promoted) reads the canonical pointer O(pointer_key) and refuses (C(not_promoted)) unless it names
    O(dr_run_id) as the canonical DR run; one this failback already moved back from that run passes as
    C(state=failed_back), so a second run changes nothing. Returns the document and its ETag for the later
    compare-and-swap.
  - O(step=freeze) suspends every running CronJob of O(namespace) in the DR cluster (O(kubeconfig)) with a merge patch of
    C(spec.suspend), then waits up to O(job_wait_timeout) seconds for every Job there to be Complete or Failed. A Job
    still running then is refused (C(jobs_in_flight)) after the CronJobs it suspended are resumed again - DR stays the
    live side until the canonical pointer moves back.
  - O(step=divergence) lists what DR published since its promotion (under the canonical document's C(publish_prefix) -
    C(runs/), C(latest/) and C(state/) pointers, for O(publish_provider)/O(publish_profile) when set) and compares each key with the
    primary's (O(bucket)/O(prefix)) by SHA-256 and size (the MD5 ETag where S3 keeps no SHA-256). A run object the primary
    holds with other content, or a pointer or C(latest/) object the primary itself rewrote since the promotion, is a
    conflict (C(failback_divergence)) unless O(allow_overwrite) names its key; the refusal first resumes the CronJobs
    in O(thaw) (the ones the freeze suspended). When DR published under the primary's own prefix there is nothing to
    carry over (C(mode=shared)).
  - O(step=primary) plans the same again (and refuses the same), copies DR's publications to the primary's prefix
    (server-side copy pinned to the ETag that was hashed, then read back), moves the primary's pointers by
    compare-and-swap to DR's (their targets rebased to the primary's prefix), resumes every suspended CronJob of
    O(namespace) in the primary cluster (O(kubeconfig)), and moves the canonical pointer back to C(canonical=primary)
    by compare-and-swap against O(canonical_etag) (C(pointer_conflict) when it moved since the promoted gate read it).
  - Check mode (also the runbook's C(dry_run=true)) performs every check, reads everything and writes nothing - the
    CronJob patches are server-side dry runs (C(dryRun=All)), the copies and pointer moves are only planned.
author:
  - signalcraft maintainers (@signalcraft)
options:
  step:
    description: The gate or step to run.
    type: str
    required: true
    choices: [confirm, promoted, freeze, divergence, primary]
  dr_run_id:
    description: The promoted DR (drill) run to fail back from; lowercase letters, digits and C(-).
    type: str
    required: true
  confirm1:
    description: The first confirmation; must be exactly C(FAILBACK) (O(step=confirm)).
    type: str
  confirm2:
    description: The second confirmation; must be exactly C(CONFIRM-<dr_run_id>) (O(step=confirm)).
    type: str
  bucket:
    description: The publish bucket (the primary's and DR's publications, the canonical pointer).
    type: str
  prefix:
    description: The primary's publish prefix (C(jobintel_prefix)), without leading or trailing C(/).
    type: str
    default: ""
  pointer_key:
    description: Key of the canonical pointer promote wrote (default layout C(<prefix>/dr/canonical.json)).
    type: str
  namespace:
    description: The jobintel namespace; in the DR cluster for O(step=freeze)/O(step=divergence), in the primary for O(step=primary).
    type: str
    default: jobintel
  job_wait_timeout:
    description: Seconds O(step=freeze) waits for the Jobs of the DR namespace to finish before it refuses.
    type: float
    default: 300
  poll_interval:
    description: Seconds between two looks at the Jobs.
    type: float
    default: 5
  thaw:
    description: CronJobs the freeze suspended, resumed again when O(step=divergence) refuses.
    type: list
    elements: str
    default: []
  allow_overwrite:
    description:
      - Keys relative to the publish prefix (C(runs/<run>/...), C(state/last_success.json), ...) whose primary copy DR's
        may replace although they differ (a reconciled conflict).
    type: list
    elements: str
    default: []
  publish_provider:
    description: Limit C(latest/) and the pair pointers to this provider (with O(publish_profile)); empty for every pair.
    type: str
    default: ""
  publish_profile:
    description: Limit C(latest/) and the pair pointers to this profile (with O(publish_provider)); empty for every pair.
    type: str
    default: ""
  canonical_etag:
    description: The canonical pointer's ETag as the promoted gate read it; O(step=primary) moves the pointer only from it.
    type: str
  image_ref:
    description:
      - The image DR ran (digest-pinned). O(step=primary) warns when the primary's CronJobs run another image (deploy it
        on the primary first); nothing is patched.
    type: str
  concurrency:
    description: Parallel S3 requests when hashing and copying.
    type: int
    default: 8
attributes:
  check_mode:
    support: full
    description: Every check and read; the CronJob patches are server-side dry runs, no S3 object or pointer is written.
  diff_mode:
    support: full
    description: O(step=primary) shows the canonical pointer before and after; O(step=freeze) the CronJobs' suspend flags.
extends_documentation_fragment: [signalcraft.ops.k8s, signalcraft.ops.aws, signalcraft.ops.receipt]
seealso:
  - module: signalcraft.ops.dr_promote
  - module: signalcraft.ops.dr_runner
"""

EXAMPLES = r"""
- name: Check the confirmations
  signalcraft.ops.dr_failback:
    step: confirm
    dr_run_id: dr-20260101t000000z
    confirm1: FAILBACK
    confirm2: CONFIRM-dr-20260101t000000z

- name: Freeze DR scheduling and wait for its Jobs
  signalcraft.ops.dr_failback:
    step: freeze
    dr_run_id: dr-20260101t000000z
    kubeconfig: /var/lib/signalcraft/receipts/dr-20260101t000000z/kubeconfig.yaml
    namespace: jobintel
    job_wait_timeout: 600

- name: Make the primary canonical again
  signalcraft.ops.dr_failback:
    step: primary
    dr_run_id: dr-20260101t000000z
    bucket: artifacts-bucket
    prefix: jobintel
    pointer_key: jobintel/dr/canonical.json
    canonical_etag: '"0123456789abcdef0123456789abcdef"'
    kubeconfig: /etc/signalcraft/primary.kubeconfig
    namespace: jobintel
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: What the step found and did.
  returned: always
  type: dict
  contains:
    dry_run:
      description: True in check mode (the runbook's dry run).
      type: bool
    state:
      description: O(step=promoted) - C(promoted) or C(failed_back) (this failback already moved the pointer back).
      type: str
      returned: step=promoted
    canonical:
      description: O(step=promoted) - the canonical document; O(step=primary) C(canonical_before) and C(canonical_after).
      type: dict
      returned: step=promoted
    canonical_etag:
      description: O(step=promoted) - its ETag, for the compare-and-swap.
      type: str
      returned: step=promoted
    frozen:
      description: O(step=freeze) - CronJobs this call suspended (none in check mode; see C(would_freeze)).
      type: list
      elements: str
      returned: step=freeze
    in_flight:
      description: O(step=freeze) - Jobs still running when the wait ended.
      type: list
      elements: str
      returned: step=freeze
    thawed:
      description: CronJobs resumed again because the gate refused.
      type: list
      elements: str
      returned: on refusal after a freeze
    mode:
      description: O(step=divergence)/O(step=primary) - C(carry) (DR published under its own prefix) or C(shared).
      type: str
      returned: step=divergence or step=primary
    copy:
      description: Keys (relative to the prefix) DR published that the primary lacks.
      type: list
      elements: str
      returned: step=divergence or step=primary
    replace:
      description: Pointers and C(latest/) objects DR moved that the primary has not touched since the promotion.
      type: list
      elements: str
      returned: step=divergence or step=primary
    overwrite:
      description: Conflicting keys O(allow_overwrite) lets DR's copy win.
      type: list
      elements: str
      returned: step=divergence or step=primary
    delete:
      description:
        - The primary's C(latest/<provider>/<profile>/) keys that DR's C(latest/) no longer has, for the pairs DR published;
          O(step=primary) deletes them after the copies, so the primary's C(latest/) ends as DR's (as publish leaves it).
          One the primary rewrote itself since the promotion is a conflict instead, unless O(allow_overwrite) names it.
      type: list
      elements: str
      returned: step=divergence or step=primary
    conflict:
      description: Conflicting keys (the refusal names them).
      type: list
      elements: str
      returned: step=divergence
    pointers:
      description: O(step=primary) - per primary pointer key C(moved), C(would_move) or C(unchanged).
      type: dict
      returned: step=primary
    resumed:
      description: O(step=primary) - the primary CronJobs resumed (would be, in check mode).
      type: list
      elements: str
      returned: step=primary
    transitions:
      description: C([name, before, after]) for each state the step moved (written to C(state_transitions.log)).
      type: list
      elements: list
"""

import time

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import (
    GuardError, parse_image_ref, require_values, validate_k8s_name, validate_s3_prefix)
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import failback
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import phases as dr_phases
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import scheduling
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import layout
from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s
from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_helpers
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection
from ansible_collections.signalcraft.ops.plugins.module_utils.services.k8s import K8sConnection

ARGUMENT_SPEC = dict(
    step=dict(type="str", required=True, choices=["confirm", "promoted", "freeze", "divergence", "primary"]),
    dr_run_id=dict(type="str", required=True),
    confirm1=dict(type="str", no_log=False),
    confirm2=dict(type="str", no_log=False),
    bucket=dict(type="str"),
    prefix=dict(type="str", default=""),
    pointer_key=dict(type="str", no_log=False),
    namespace=dict(type="str", default="jobintel"),
    job_wait_timeout=dict(type="float", default=300),
    poll_interval=dict(type="float", default=5),
    thaw=dict(type="list", elements="str", default=[]),
    allow_overwrite=dict(type="list", elements="str", default=[]),
    publish_provider=dict(type="str", default=""),
    publish_profile=dict(type="str", default=""),
    canonical_etag=dict(type="str", no_log=False),
    image_ref=dict(type="str"),
    concurrency=dict(type="int", default=8),
)


# -- Kubernetes: CronJobs and Jobs of one namespace ------------------------------------------------------------------

def _items(dyn, kind, namespace):
    if kind == "CronJob":
        return scheduling.list_cronjobs(dyn, namespace)
    resource = dyn.resources.get(api_version="batch/v1", kind=kind)
    return [item.to_dict() for item in resource.get(namespace=namespace).items]


def _set_suspend(dyn, namespace, names, suspend, dry_run):
    """scheduling.set_suspend (the one CronJob suspend patch); the names whose ``spec.suspend`` the server now holds as asked."""
    return [r["name"] for r in scheduling.set_suspend(dyn, namespace, names, suspend, dry_run=dry_run) if r["suspend_after"] == bool(suspend)]


def _thaw(ops, names, action):
    """Resume the CronJobs a freeze suspended (never in check mode, where none was); the names resumed."""
    if ops.check_mode or not names:
        return []
    dyn = ops.connection("k8s").dynamic()
    try:
        return _set_suspend(dyn, ops.params["namespace"], names, False, dry_run=False)
    # pylint: disable-next=catching-non-exception  # a tuple of exception classes pylint cannot infer
    except k8s.K8S_ERRORS as exc:
        raise k8s.to_ops_error(exc, action="resuming the DR CronJobs %s after %s (resume them by hand)" % (",".join(names), action))


# -- S3: what DR published since the promotion, what the primary holds -----------------------------------------------

def _gather(ops, promoted):
    """Read both sides and plan (failback.plan_divergence). Returns ``(mode, plan, dr_objects, primary)``."""
    p, s3 = ops.params, ops.client("s3")
    bucket, prefix = p["bucket"], p["prefix"]
    dr_prefix = (promoted.get("publish_prefix") or "").strip("/")
    promoted_at = receipts.parse_timestamp(promoted["promoted_at"])
    if dr_prefix == prefix:
        return "shared", dict(failback.plan_divergence({}, {}, promoted_at), dr_prefix=dr_prefix, dr_pointers={}, delete=[]), {}, {}
    base = (dr_prefix + "/") if dr_prefix else ""
    listing = list(s3_helpers.list_objects(s3, bucket, base))
    etags = dict((item["Key"], item.get("ETag")) for item in listing)
    rels = [r for r in failback.published_since(listing, dr_prefix, promoted_at) if failback.in_scope(r, p["publish_provider"], p["publish_profile"])]

    def describe(rel):
        sha, size, etag = s3_helpers.hash_s3_object(s3, bucket, base + rel, etags.get(base + rel))
        return {"rel": rel, "key": base + rel, "sha256": sha, "size": size, "etag": etag}

    described, errors = s3_helpers.parallel(describe, rels, p["concurrency"])
    if errors:
        raise errors[0][1]
    dr_objects = dict((d["rel"], d) for d in described)
    dr_pointers = {}
    for rel in rels:
        if failback.is_pointer(rel):
            current = pointers.read_pointer(s3, bucket, base + rel)
            if current is not None:
                dr_pointers[rel] = failback.rebase_pointer(current["document"], bucket, dr_prefix, prefix)
    primary_base = (prefix + "/") if prefix else ""
    primary_listing = list(s3_helpers.list_objects(s3, bucket, primary_base))
    present = dict((item["Key"], item) for item in primary_listing if failback.relative(item["Key"], prefix) in dr_objects)
    # The primary's latest/ keys DR's latest/ no longer has, for the pairs DR published (publish deletes those too).
    dr_rels = [failback.relative(item["Key"], dr_prefix) for item in listing]
    primary_latest = dict((failback.relative(item["Key"], prefix), item["LastModified"]) for item in primary_listing
                          if (failback.relative(item["Key"], prefix) or "").startswith(layout.LATEST + "/")
                          and failback.in_scope(failback.relative(item["Key"], prefix), p["publish_provider"], p["publish_profile"]))
    stale = failback.plan_stale_latest(rels, dr_rels, primary_latest, promoted_at, p["allow_overwrite"])

    def head(rel):
        item = present.get(primary_base + rel)
        if item is None:
            return None
        found = s3_helpers.head_checksum(s3, bucket, primary_base + rel)
        if found is None:
            return None
        if not found["sha256"] and not found["md5"]:
            # No checksum S3 keeps for it: hash it, so that identical bytes are not taken for a conflict.
            found["sha256"] = s3_helpers.hash_s3_object(s3, bucket, primary_base + rel, found["etag"])[0]
        found["last_modified"] = item["LastModified"]
        if rel in dr_pointers:
            current = pointers.read_pointer(s3, bucket, primary_base + rel)
            found["document"] = current["document"] if current else None
        return found

    heads, errors = s3_helpers.parallel(head, sorted(dr_objects), p["concurrency"])
    if errors:
        raise errors[0][1]
    primary = dict(zip(sorted(dr_objects), heads))
    plan = failback.plan_divergence(dr_objects, primary, promoted_at, p["allow_overwrite"], dr_pointers)
    plan["dr_prefix"], plan["dr_pointers"] = dr_prefix, dr_pointers
    plan["delete"] = stale["delete"]
    plan["conflict"] = sorted(plan["conflict"] + stale["conflict"])
    for rel in stale["conflict"] + [r for r in stale["delete"] if r in set(a.strip("/") for a in p["allow_overwrite"] or ())]:
        plan["details"][rel] = {"dr_sha256": None, "dr_size": None, "primary_last_modified": receipts.format_timestamp(primary_latest[rel]),
                                "stale": True}
    plan["unused_allow"] = sorted(set(plan["unused_allow"]) - set(stale["delete"]))
    return "carry", plan, dr_objects, primary


def _plan_outputs(mode, plan):
    return dict(mode=mode, dr_prefix=plan.get("dr_prefix"), copy=plan["copy"], replace=plan["replace"], overwrite=plan["overwrite"],
                delete=plan["delete"], conflict=plan["conflict"], same=len(plan["same"]), unused_allow=plan["unused_allow"],
                details=plan["details"])


# -- the steps -------------------------------------------------------------------------------------------------------

def _promotion(current, state):
    """The promotion failback starts from: the canonical document, or the one a completed failback recorded."""
    return current["document"]["failed_back_from"] if state == "failed_back" else current["document"]


def step_confirm(ops):
    p = ops.params
    failback.check_confirmations(p["dr_run_id"], p["confirm1"], p["confirm2"])
    return dict(outputs=dict(confirmed=True, dry_run=ops.check_mode), line=[("dr_run_id", p["dr_run_id"])])


def _canonical(ops):
    p = ops.params
    uri = pointers.s3_uri(p["bucket"], p["pointer_key"])
    current = pointers.read_pointer(ops.client("s3"), p["bucket"], p["pointer_key"])
    state = failback.check_promoted(current["document"] if current else None, p["dr_run_id"], uri)
    return uri, current, state


def step_promoted(ops):
    p = ops.params
    uri, current, state = _canonical(ops)
    if state == "promoted" and not current["document"].get("promoted_at"):
        raise GuardError("not_promoted", "%s names DR run %s but no promoted_at; promote it again (dr_drill.yml -e start_at=promote)." % (
            uri, p["dr_run_id"]))
    return dict(outputs=dict(state=state, pointer_uri=uri, canonical=current["document"], canonical_etag=current["etag"],
                             dry_run=ops.check_mode),
                line=[("dr_run_id", p["dr_run_id"]), ("state", state)])


def step_freeze(ops):
    p = ops.params
    dyn = ops.connection("k8s").dynamic()
    plan = failback.plan_freeze(_items(dyn, "CronJob", p["namespace"]))
    frozen = _set_suspend(dyn, p["namespace"], plan["freeze"], True, dry_run=ops.check_mode)
    outputs = dict(frozen=[] if ops.check_mode else frozen, would_freeze=plan["freeze"] if ops.check_mode else [],
                   already_suspended=plan["suspended"], dry_run=ops.check_mode,
                   transitions=[["dr_cronjob/%s" % n, "running", "suspended"] for n in frozen] if not ops.check_mode else [])
    wait = failback.wait_for_jobs(lambda: _items(dyn, "Job", p["namespace"]), p["job_wait_timeout"], p["poll_interval"],
                                  time.monotonic, time.sleep)
    outputs.update(in_flight=wait["in_flight"], waited_s=wait["waited_s"])
    if wait["in_flight"]:
        outputs["thawed"] = _thaw(ops, outputs["frozen"], "Jobs in flight")
        outputs["transitions"] += [["dr_cronjob/%s" % n, "suspended", "running"] for n in outputs["thawed"]]
        raise OpsError("jobs_in_flight", "%d Job(s) in namespace %s of the DR cluster still run after %ss: %s; DR scheduling was resumed "
                                         "again (%s). Let them finish (or raise -e job_wait_timeout) and rerun the failback." % (
                                             len(wait["in_flight"]), p["namespace"], int(p["job_wait_timeout"]),
                                             ", ".join(wait["in_flight"][:10]), ", ".join(outputs["thawed"]) or "nothing was suspended"),
                       details=dict(outputs, line=[("in_flight", len(wait["in_flight"])), ("thawed", len(outputs["thawed"]))]))
    key = "would_freeze" if ops.check_mode else "frozen"
    return dict(changed=bool(frozen), status="planned" if ops.check_mode else "ok", outputs=outputs,
                line=[(key, len(frozen)), ("in_flight", 0), ("namespace", p["namespace"])],
                diff={"before": {"suspended": plan["suspended"]}, "after": {"suspended": sorted(plan["suspended"] + frozen)}})


def step_divergence(ops, promoted):
    p = ops.params
    mode, plan, _dr_objects, _primary = _gather(ops, promoted)
    outputs = dict(_plan_outputs(mode, plan), dry_run=ops.check_mode)
    error = failback.divergence_error(plan, p["bucket"], p["prefix"])
    if error is not None:
        outputs["thawed"] = _thaw(ops, p["thaw"], "the divergence refusal")
        outputs["transitions"] = [["dr_cronjob/%s" % n, "suspended", "running"] for n in outputs["thawed"]]
        error.add_context(outputs)
        raise error
    return dict(outputs=outputs, line=[("mode", mode), ("copy", len(plan["copy"])), ("replace", len(plan["replace"])),
                                       ("overwrite", len(plan["overwrite"])), ("conflicts", 0)])


def _copy(ops, plan, dr_objects, prefix):
    """Copy DR's objects (not pointers) the plan names to the primary's prefix, pinned to the hashed ETag; read back."""
    p = ops.params
    base = (prefix + "/") if prefix else ""
    objects = [s3_helpers.SourceObject(rel, base + rel, dr_objects[rel]["sha256"], dr_objects[rel]["size"], source_bucket=p["bucket"],
                                       source_key=dr_objects[rel]["key"], source_etag=dr_objects[rel]["etag"])
               for rel in plan["copy"] + plan["replace"] + plan["overwrite"] if rel not in plan["dr_pointers"]]
    if ops.check_mode or not objects:
        return [o.rel for o in objects]
    s3 = ops.client("s3")
    s3_helpers.write(s3, p["bucket"], objects, p["concurrency"])
    s3_helpers.verify(s3, p["bucket"], objects, p["concurrency"])
    return [o.rel for o in objects]


def step_primary(ops, canonical):
    p = ops.params
    uri, current, state = canonical
    transitions, warnings = [], []
    mode, plan, dr_objects, primary = _gather(ops, _promotion(current, state))
    error = failback.divergence_error(plan, p["bucket"], p["prefix"])
    if error is not None:
        raise error
    dyn = ops.connection("k8s").dynamic()
    cronjobs = _items(dyn, "CronJob", p["namespace"])
    if p["image_ref"]:
        others = sorted(set(c["image"] for cj in cronjobs for c in (((cj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {})
                            .get("template", {}).get("spec", {}).get("containers", []) if c.get("image") != p["image_ref"]))
        if others:
            warnings.append("the primary's CronJobs in %s run %s, not %s that DR ran; deploy it on the primary." % (
                p["namespace"], ", ".join(others), p["image_ref"]))
    changed = False
    copied = _copy(ops, plan, dr_objects, p["prefix"])
    changed = changed or (bool(copied) and not ops.check_mode)
    # latest/ ends as DR's: the primary's keys DR's latest/ no longer has go, after the new ones are in (as publish does).
    base_keys = [((p["prefix"] + "/") if p["prefix"] else "") + rel for rel in plan["delete"]]
    if base_keys and not ops.check_mode:
        s3_helpers.delete_keys(ops.client("s3"), p["bucket"], base_keys)
        changed = True
    transitions += [[rel, "present", "deleted"] for rel in plan["delete"]]
    moved = {}
    s3 = ops.client("s3")
    base = (p["prefix"] + "/") if p["prefix"] else ""
    for rel in sorted(r for r in plan["dr_pointers"] if r in plan["copy"] + plan["replace"] + plan["overwrite"]):
        desired = plan["dr_pointers"][rel]
        before = (primary.get(rel) or {}).get("document")
        if ops.check_mode:
            moved[rel] = "would_move"
        else:
            expected = (primary.get(rel) or {}).get("etag")
            if expected:
                written = pointers.write_pointer(s3, p["bucket"], base + rel, desired, expected_etag=expected)
            else:
                written = pointers.write_pointer(s3, p["bucket"], base + rel, desired)
            moved[rel] = "moved" if written["changed"] else "unchanged"
            changed = changed or written["changed"]
        transitions.append(["pointer/%s" % rel, (before or {}).get("run_id") or "none", desired.get("run_id")])
    suspended = sorted(cj["metadata"]["name"] for cj in cronjobs if (cj.get("spec") or {}).get("suspend"))
    resumed = _set_suspend(dyn, p["namespace"], suspended, False, dry_run=ops.check_mode)
    changed = changed or (bool(resumed) and not ops.check_mode)
    transitions += [["primary_cronjob/%s" % n, "suspended", "running"] for n in resumed]
    # The canonical pointer moves last: once it names the primary, the failback is done.
    desired = failback.failback_document(current["document"], p["prefix"], receipts.format_timestamp(receipts.utc_now()))
    if state == "failed_back":
        canonical, after = "unchanged", current["document"]
    elif ops.check_mode:
        canonical, after = "would_move", desired
    else:
        try:
            pointers.write_pointer(s3, p["bucket"], p["pointer_key"], desired, expected_etag=p["canonical_etag"] or current["etag"])
        except pointers.PointerConflict as exc:
            raise pointers.PointerConflict("%s moved since the promoted gate read it (%s); someone promoted or failed back meanwhile. "
                                           "Read it and rerun the failback." % (uri, exc), changed_so_far=changed)
        canonical, after, changed = "moved", desired, True
    if canonical != "unchanged":
        transitions.append(["canonical", "dr/%s" % p["dr_run_id"], "primary"])
    outputs = dict(_plan_outputs(mode, plan), copied=copied, pointers=moved, resumed=resumed, canonical=canonical, pointer_uri=uri,
                   canonical_before=current["document"], canonical_after=after, transitions=transitions, dry_run=ops.check_mode)
    return dict(changed=changed, status="planned" if ops.check_mode else "ok", outputs=outputs, warnings=warnings,
                line=[("canonical", canonical), ("copied", len(copied)), ("deleted", len(plan["delete"])), ("pointers", len(moved)),
                      ("resumed", len(resumed))],
                diff={"before": current["document"], "after": after})


def _validate(p):
    """Bad input fails before any client is built."""
    dr_phases.validate_run_id(p["dr_run_id"])
    if p["step"] in ("promoted", "divergence", "primary"):
        require_values(p, ("bucket", "bucket is empty; set -e bucket (or jobintel_bucket in the inventory)."),
                       ("pointer_key", "pointer_key is empty; set -e dr_failback_pointer_key (or dr_promote_pointer_key)."))
        validate_s3_prefix(p["prefix"], "-e prefix")
    if p["step"] in ("freeze", "divergence", "primary"):
        validate_k8s_name(p["namespace"], kind="namespace", label=True)
    if p["step"] == "freeze" and (p["job_wait_timeout"] < 0 or p["poll_interval"] <= 0):
        raise OpsError("invalid_input", "-e job_wait_timeout must be >= 0 and dr_failback_poll_interval > 0 (seconds).")
    if bool(p["publish_provider"]) != bool(p["publish_profile"]):
        raise OpsError("invalid_input", "set both -e provider and -e profile, or neither.")
    if p["image_ref"]:
        parse_image_ref(p["image_ref"])


def run(ops):
    p = ops.params
    # Each step is its own phase: its receipt, its status line.
    ops.phase = ops.status_key = p["step"]
    _validate(p)
    if p["step"] == "confirm":
        return step_confirm(ops)
    if p["step"] == "promoted":
        return step_promoted(ops)
    if p["step"] == "freeze":
        return step_freeze(ops)
    canonical = _canonical(ops)
    if p["step"] == "divergence":
        return step_divergence(ops, _promotion(canonical[1], canonical[2]))
    return step_primary(ops, canonical)


def main():
    OpsModule(ARGUMENT_SPEC, operation="dr_failback", phase="failback", connections=[AwsConnection, K8sConnection]).run(run)


if __name__ == "__main__":
    main()
