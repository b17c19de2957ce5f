#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_promote
short_description: Make DR live in batch mode - resume DR scheduling and record the DR publish pointers canonical
version_added: "0.1.0"
description:
  - Moves the pointer O(pointer_key) in O(bucket) (default layout C(<prefix>/dr/canonical.json)) by compare-and-swap
    to a C(dr_canonical.v1) document naming the drill run, image, control-plane bundle and the approval
    (approver, ticket and gate execution for C(manual); C(bypass) for a rehearsal that skipped the gate).
  - Resumes DR scheduling - every CronJob in O(namespace) that the restore left suspended (annotation
    C(signalcraft.io/suspended-by=dr-restore)) gets C(spec.suspend=false) by a server-side merge patch - unless
    O(keep_suspended=true) (a rehearsal). Any other suspended CronJob is left alone. The CronJobs are listed
    before the pointer moves, so a cluster the kubeconfig cannot reach fails before anything changes.
  - No DNS or endpoint cutover and no traffic switching.
  - Promoting the same run again with the same approval returns C(changed=false) and keeps C(promoted_at).
  - Refuses a C(manual) promotion without approver and ticket (C(approval_incomplete)) and a C(bypass) without
    O(allow_bypass) (C(promote_bypass_not_allowed)), before any request.
  - Returns C(promote status=ok run_id=<id> approval_mode=manual|bypass pointer=moved|unchanged scheduling=resumed|running|kept_suspended
    resumed=<cronjobs>); check mode is a server-side dry run and says C(status=planned pointer=would_move|unchanged
    scheduling=would_resume) and shows the pointer document before and after as the diff.
author:
  - signalcraft maintainers (@signalcraft)
options:
  bucket:
    description: Bucket of the pointer (the publish bucket).
    type: str
    required: true
  pointer_key:
    description: Key of the canonical pointer, for example C(jobintel/dr/canonical.json).
    type: str
    required: true
  run_id:
    description: The drill run being promoted.
    type: str
    required: true
  approval_mode:
    description: V(manual) (approved through the gate) or V(bypass) (rehearsal with C(allow_promote_bypass)).
    type: str
    required: true
    choices: [manual, bypass]
  allow_bypass:
    description:
      - Allow O(approval_mode=bypass) (the drill's C(allow_promote_bypass), rehearsals only).
    type: bool
    default: false
  approver:
    description: Who approved (required for V(manual)).
    type: str
  ticket:
    description: The change ticket (required for V(manual)).
    type: str
  execution_arn:
    description: The gate execution that carried the approval.
    type: str
  image_ref:
    description: The validated image.
    type: str
  bundle_uri:
    description: The control-plane bundle restored.
    type: str
  bundle_sha256:
    description: Its sha256.
    type: str
  publish_prefix:
    description: The publish prefix whose pointers become canonical.
    type: str
  namespace:
    description: The DR namespace whose CronJobs are resumed.
    type: str
    default: jobintel
  keep_suspended:
    description: Leave the CronJobs suspended (a rehearsal promotion); only the pointer moves.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads the pointer and reports whether it would move; the CronJob patches are server-side dry runs (C(dryRun=All)).
  diff_mode:
    support: full
    description: The pointer document before and after.
extends_documentation_fragment: [signalcraft.ops.k8s, signalcraft.ops.aws, signalcraft.ops.receipt]
seealso:
  - module: signalcraft.ops.dr_approve
"""

EXAMPLES = r"""
- name: Promote the approved drill run
  signalcraft.ops.dr_promote:
    bucket: artifacts-bucket
    pointer_key: jobintel/dr/canonical.json
    run_id: dr-20260101t000000z
    approval_mode: manual
    approver: alice
    ticket: CHG-1234
    execution_arn: arn:aws:states:us-east-1:111122223333:execution:signalcraft-dr-promote-gate:dr-promote-dr-20260101t000000z
    kubeconfig: /var/lib/signalcraft/receipts/dr-20260101t000000z/kubeconfig.yaml
    namespace: jobintel
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: The promotion.
  returned: always
  type: dict
  contains:
    pointer_uri:
      description: The canonical pointer.
      returned: success
      type: str
    document:
      description: The pointer's value after the call (what it would be in check mode).
      returned: success
      type: dict
    previous:
      description: The value it replaced (null when it was created).
      returned: success
      type: dict
    version_id:
      description: The S3 version written (rollback target history).
      returned: success
      type: str
    approval_mode:
      description: C(manual) or C(bypass).
      returned: success
      type: str
    scheduling:
      description: C(resumed), C(running) (nothing was suspended), C(kept_suspended), or C(would_resume) in check mode.
      returned: success
      type: str
    cronjobs:
      description:
        - Per CronJob of the namespace C(name) and C(action) (C(resumed), C(would_resume), C(running), C(kept_suspended),
          C(left_suspended) for one no DR restore left suspended) with C(suspend) as the server answered.
      returned: success
      type: list
      elements: dict
    resumed:
      description: The CronJobs resumed (would be, in check mode).
      returned: success
      type: list
      elements: str
diff:
  description: The pointer document before and after.
  returned: success
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError, validate_k8s_name
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import promotion
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import scheduling
from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection
from ansible_collections.signalcraft.ops.plugins.module_utils.services.k8s import K8sConnection

ARGUMENT_SPEC = dict(
    bucket=dict(type="str", required=True),
    pointer_key=dict(type="str", required=True, no_log=False),
    run_id=dict(type="str", required=True),
    approval_mode=dict(type="str", required=True, choices=["manual", "bypass"]),
    allow_bypass=dict(type="bool", default=False),
    approver=dict(type="str"),
    ticket=dict(type="str"),
    execution_arn=dict(type="str"),
    image_ref=dict(type="str"),
    bundle_uri=dict(type="str"),
    bundle_sha256=dict(type="str"),
    publish_prefix=dict(type="str"),
    namespace=dict(type="str", default="jobintel"),
    keep_suspended=dict(type="bool", default=False),
)


def run(ops):
    p = ops.params
    if p["approval_mode"] == "bypass" and not p["allow_bypass"]:
        raise GuardError("promote_bypass_not_allowed", "auto_promote=true skips the manual approval gate; it is allowed only in "
                                                       "rehearsals with -e allow_promote_bypass=true (dr_promote_allow_promote_bypass).")
    if p["approval_mode"] == "manual" and not (p["approver"] and p["ticket"]):
        raise GuardError("approval_incomplete", "a manual promotion needs the approver and the ticket from the gate; approve it with "
                                                "playbooks/dr_approve.yml -e run_id=%s -e approver=<who> -e ticket=<change>." % p["run_id"])
    document = promotion.canonical_document(
        p["run_id"], {"mode": p["approval_mode"], "approver": p["approver"], "ticket": p["ticket"], "execution_arn": p["execution_arn"]},
        image_ref=p["image_ref"], bundle_uri=p["bundle_uri"], bundle_sha256=p["bundle_sha256"], publish_prefix=p["publish_prefix"],
        promoted_at=receipts.format_timestamp(receipts.utc_now()))
    validate_k8s_name(p["namespace"], kind="namespace", label=True)
    # Read before anything moves: a DR cluster the kubeconfig cannot reach (or may not list) fails here.
    dyn = ops.connection("k8s").dynamic()
    plan = scheduling.plan_resume(scheduling.list_cronjobs(dyn, p["namespace"]))
    moved = promotion.promote(ops.client("s3"), p["bucket"], p["pointer_key"], document, check_mode=ops.check_mode)
    if ops.check_mode:
        pointer = "would_move" if moved["changed"] else "unchanged"
    else:
        pointer = "moved" if moved["changed"] else "unchanged"
    outputs = dict(pointer_uri=pointers.s3_uri(p["bucket"], p["pointer_key"]), document=moved["document"], previous=moved["previous"],
                   version_id=moved["version_id"], approval_mode=p["approval_mode"])
    try:
        outputs.update(promotion.resume_scheduling(dyn, p["namespace"], plan, keep_suspended=p["keep_suspended"], dry_run=ops.check_mode))
    except OpsError as exc:
        # The pointer moved: the receipt says so, and a rerun (pointer unchanged) resumes what is left.
        exc.add_context(outputs, changed_so_far=moved["changed"] and not ops.check_mode)
        raise
    changed = moved["changed"] or bool(outputs["resumed"])
    return dict(changed=changed, status="planned" if ops.check_mode else "ok", outputs=outputs,
                line=[("run_id", p["run_id"]), ("approval_mode", p["approval_mode"]), ("pointer", pointer),
                      ("scheduling", outputs["scheduling"]), ("resumed", ",".join(outputs["resumed"]) or "none")],
                diff={"before": moved["previous"] or {}, "after": moved["document"]})


def main():
    OpsModule(ARGUMENT_SPEC, operation="dr_promote", phase="promote", connections=[AwsConnection, K8sConnection]).run(run)


if __name__ == "__main__":
    main()
