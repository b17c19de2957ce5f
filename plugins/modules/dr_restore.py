#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_restore
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Restore a DR backup's workloads into a namespace and its state archive to disk
description:
  - Checks the backup contract (see M(signalcraft.ops.dr_backup_contract)), reads every manifest in
    C(manifests.tar.zst) and every member of C(state.tar.zst) (absolute paths, C(..), links and device files
    refuse the archive) -- all before anything is written.
  - Validates every manifest offline against the Kubernetes schema of the cluster's version (its C(/version);
    kubernetes-validate) before the first write; an object the schema rejects fails with C(k8s_manifest_invalid)
    naming it and the schema error, and nothing is written. With O(validate_only) that is all it does.
  - Applies the manifests to O(namespace) with server-side apply, in archive order (their namespace is
    rewritten to O(namespace); server-populated fields are dropped). Every CronJob is restored suspended
    (C(suspend=true)) and carries the annotation C(signalcraft.io/suspended-by=dr-restore);
    M(signalcraft.ops.dr_promote) resumes exactly those.
  - Makes O(state_dir) hold exactly the files of C(state.tar.zst) and reads them back against the archive.
  - Fails with C(reason=restore_gate_failed) unless C(cronjob.batch/<required_cronjob>) exists afterwards.
  - A second run with the same backup changes nothing.
  - Prints C(dr_restore status=ok namespace=<ns> objects=<n> changed_objects=<n> state_files=<n> gate=passed bundle_sha256=<sha>);
    in check mode C(status=planned) and C(would_change=<n>).
options:
  namespace:
    description: The namespace to restore into.
    type: str
    required: true
  state_dir:
    description: Directory that receives the files of C(state.tar.zst) (files not in the archive are removed).
    type: path
    required: true
  enable_triggers:
    description:
      - Deprecated and ignored (a warning says so). Restored CronJobs are always suspended; promotion resumes them
        (M(signalcraft.ops.dr_promote), C(keep_suspended) for a rehearsal). C(enable_triggers) is the DR orchestrator's
        EventBridge schedule and alarm switch, not the workload's.
    type: bool
  validate_only:
    description: Read the backup and validate every manifest against the cluster's schema; apply and write nothing.
    type: bool
    default: false
  required_cronjob:
    description: The restore gate. Empty disables the gate.
    type: str
    default: jobintel-daily
  bundle_uri:
    description:
      - The control-plane bundle restored alongside (M(signalcraft.ops.dr_bundle_fetch)'s C(outputs.bundle_uri)); recorded in
        RV(outputs.bundle_uri) so a later step (the drill's promote) reads it from this restore's result and receipt.
    type: str
  bundle_sha256:
    description: The sha256 of that bundle, recorded in RV(outputs.bundle_sha256).
    type: str
attributes:
  check_mode:
    support: full
    description: Server-side dry run (C(dryRun=All)); the state directory is not written.
  diff_mode:
    support: full
    description: Each changed object before and after (Secret values masked).
requirements:
  - kubernetes >= 30.1.0
  - kubernetes-validate
  - zstandard
seealso:
  - module: signalcraft.ops.dr_backup_contract
  - module: signalcraft.ops.dr_pull_secret
extends_documentation_fragment: [signalcraft.ops.k8s, signalcraft.ops.aws, signalcraft.ops.receipt,
  signalcraft.ops.k8s_namespace, signalcraft.ops.k8s_apply, signalcraft.ops.dr_backup]
"""

EXAMPLES = r"""
- name: Restore the baseline workloads and state
  signalcraft.ops.dr_restore:
    backup_uri: s3://jobintel-backup/jobintel/backups/20260101T000000Z
    namespace: jobintel
    state_dir: /var/lib/signalcraft/receipts/dr-drill-1/state
    kubeconfig: /var/lib/signalcraft/receipts/dr-drill-1/kubeconfig.yaml
  register: restored
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: What the restore checked, applied and wrote.
  returned: always
  type: dict
  contains:
    namespace:
      description: The namespace restored into.
      returned: success
      type: str
    backup_id:
      description: C(backup_id) from the backup's C(metadata.json).
      returned: success
      type: str
    bundle_uri:
      description: O(bundle_uri), when given.
      returned: success
      type: str
    bundle_sha256:
      description: O(bundle_sha256), when given.
      returned: success
      type: str
    backup:
      description: The checked contract (C(backup_uri), C(objects), C(metadata), C(checksums_listed)).
      returned: success
      type: dict
    objects:
      description: Per applied object C(kind), C(api_version), C(name), C(source) (path in the archive) and C(changed).
      returned: success
      type: list
      elements: dict
    skipped_owned:
      description:
        - Objects of the backup that a controller owns (C(ownerReferences) with C(controller=true)), for example a Job's Pods;
          they are not applied because their owner recreates them. Each has C(source), C(kind) and C(name).
      returned: success
      type: list
      elements: dict
    namespace_created:
      description: Whether the namespace was (or would be) created.
      returned: success
      type: bool
    state_dir:
      description: Where the state archive was extracted.
      returned: success
      type: str
    state_files:
      description: Per state file C(path), C(sha256), C(size) (verified after writing; empty in check mode).
      returned: success
      type: list
      elements: dict
    state_changed_files:
      description: State files written or removed (or that would be).
      returned: success
      type: list
      elements: str
    gate:
      description: C(object) (C(cronjob.batch/<name>)) and whether it exists (C(passed)).
      returned: success
      type: dict
    refrozen_cronjobs:
      description: Live CronJobs that were running (a promoted namespace) and were suspended again before the apply.
      returned: success
      type: list
      elements: str
    suspended_cronjobs:
      description: The CronJobs this restore left suspended (marked for promote to resume).
      returned: success
      type: list
      elements: str
    manifest_validation:
      description: C(schema_version), C(validated) (objects checked offline) and C(unchecked) (kinds without a bundled schema).
      returned: success
      type: dict
diff:
  description: Each changed object before and after (with C(--diff); Secret values masked).
  returned: when diff mode is on and something changed
  type: list
  elements: dict
"""

import os

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import backup
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import bundle
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import restore as k8s_restore
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import scheduling
from ansible_collections.signalcraft.ops.plugins.module_utils.services import archives
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection
from ansible_collections.signalcraft.ops.plugins.module_utils.services.k8s import K8sConnection, apply_argument_spec, namespace_argument_spec

ARGUMENT_SPEC = dict(
    **backup.argument_spec(),
    **namespace_argument_spec(),
    **apply_argument_spec(),
    namespace=dict(type="str", required=True),
    state_dir=dict(type="path", required=True),
    enable_triggers=dict(type="bool", removed_in_version="2.0.0", removed_from_collection="signalcraft.ops"),
    validate_only=dict(type="bool", default=False),
    required_cronjob=dict(type="str", default="jobintel-daily"),
    bundle_uri=dict(type="str"),
    bundle_sha256=dict(type="str"),
)


def verify_state_dir(state_dir, files):
    """Read every restored file back and compare it with the archive member."""
    listing = []
    for path in sorted(files):
        with open(os.path.join(state_dir, path), "rb") as handle:
            data = handle.read()
        if data != files[path]:
            raise GuardError("state_verify_failed", "%s differs from state.tar.zst after extraction; check the disk and rerun." % path)
        listing.append({"path": path, "sha256": archives.sha256_hex(data), "size": len(data)})
    return listing


def _gate(dyn, params, manifests, namespace_created, check):
    gate = {"object": None, "passed": None}
    if not params["required_cronjob"]:
        return gate
    gate["object"] = "cronjob.batch/%s" % params["required_cronjob"]
    if check and namespace_created:
        # Nothing exists yet to read back: the dry run can only say whether the backup brings it.
        gate["passed"] = any(m["kind"] == "CronJob" and m["metadata"]["name"] == params["required_cronjob"] for m in manifests)
        if not gate["passed"]:
            raise GuardError("restore_gate_failed", "%s is not among the backup's manifests (dr_bundle_backup_uri)." % gate["object"])
    else:
        k8s_restore.require_object(dyn, "batch/v1", "CronJob", params["required_cronjob"], params["namespace"])
        gate["passed"] = True
    return gate


def run(ops):
    params = ops.params
    check = ops.check_mode
    backup.parse_s3_uri(params["backup_uri"], "dr_bundle_backup_uri")
    # The contract, every manifest and every state member are read and checked before the cluster is touched.
    loaded = backup.load_backup(ops.client("s3"), params["backup_uri"], params["verify_checksums"], params["require_checksums"],
                                fetch=(backup.STATE_ARCHIVE, backup.MANIFESTS_ARCHIVE))
    documents = backup.manifests_from_archive(loaded["blobs"][backup.MANIFESTS_ARCHIVE])
    # Objects a controller made come back from their owner; restoring them too would leave orphans.
    skipped_owned = [{"source": d["source"], "kind": d["manifest"]["kind"], "name": d["manifest"]["metadata"]["name"]}
                     for d in documents if backup.controller_owned(d["manifest"])]
    documents = [d for d in documents if not backup.controller_owned(d["manifest"])]
    if params["enable_triggers"]:
        ops.warn("enable_triggers no longer leaves restored CronJobs running: restore always suspends them and promote resumes them "
                 "(dr_promote_keep_suspended=true keeps them suspended). enable_triggers is the DR orchestrator's schedule/alarm switch.")
    manifests = [backup.prepare_manifest(d["manifest"], params["namespace"]) for d in documents]
    suspended = [m["metadata"]["name"] for m in manifests
                 if m["kind"] == "CronJob" and (m["metadata"].get("annotations") or {}).get(scheduling.SUSPENDED_BY)]
    state = backup.state_files(loaded["blobs"][backup.STATE_ARCHIVE])
    connection = ops.connection("k8s")
    # Offline, against the cluster's own schema version, before anything is written.
    validation = connection.validate_manifests(manifests, option="the backup -e dr_bundle_backup_uri")
    outputs = dict(namespace=params["namespace"], backup_id=loaded["contract"]["metadata"].get("backup_id"),
                   bundle_uri=params["bundle_uri"], bundle_sha256=params["bundle_sha256"], backup=loaded["contract"],
                   objects=[], skipped_owned=skipped_owned, namespace_created=False, state_dir=params["state_dir"],
                   state_files=[], state_changed_files=[], gate={"object": None, "passed": None},
                   suspended_cronjobs=suspended, manifest_validation=validation)
    if params["validate_only"]:
        return dict(changed=False, outputs=outputs,
                    line=bundle.line_fields(("namespace", params["namespace"]), ("validate_only", True), ("objects", len(manifests)),
                                            ("schema", validation["schema_version"])))
    dyn = connection.dynamic()
    k8s_restore.resolve(dyn, manifests, params["namespace"])
    changed = False
    try:
        namespace = {"changed": False}
        if params["create_namespace"]:
            namespace = k8s_restore.ensure_namespace(dyn, params["namespace"], dry_run=check)
        outputs["namespace_created"] = changed = namespace["changed"]
        # A CronJob a promotion resumed is suspended again first (its resume owns spec.suspend), so the apply agrees.
        frozen = [] if namespace["changed"] else scheduling.freeze_for_restore(dyn, params["namespace"], manifests, dry_run=check)
        outputs["refrozen_cronjobs"] = frozen
        changed = changed or (bool(frozen) and not check)
        applied = k8s_restore.apply_all(dyn, manifests, params["namespace"], dry_run=check, namespace_exists=not namespace["changed"],
                                        force=params["force_conflicts"], forced=[("CronJob", n) for n in frozen] if check else ())
        changed = changed or any(a["changed"] for a in applied)
        for entry, document in zip(applied, documents):
            entry["source"] = document["source"]
        outputs["objects"] = [{k: v for k, v in a.items() if k != "diff"} for a in applied]
        outputs["state_changed_files"] = archives.write_tree(params["state_dir"], state, prune=True, check_mode=check)
        changed = changed or bool(outputs["state_changed_files"])
        outputs["state_files"] = [] if check else verify_state_dir(params["state_dir"], state)
        outputs["gate"] = _gate(dyn, params, manifests, namespace["changed"], check)
    except OpsError as exc:
        # What was applied before the failure stays in the result and the receipt.
        exc.add_context(outputs, changed_so_far=changed and not check)
        raise
    count = sum(1 for a in applied if a["changed"])
    line = bundle.line_fields(("namespace", params["namespace"]), ("objects", len(applied)), ("would_change" if check else "changed_objects", count),
                              ("state_files", len(state)), ("gate", "passed" if outputs["gate"]["passed"] else "off"),
                              ("bundle_sha256", params["bundle_sha256"]))
    result = dict(changed=changed, status="planned" if check else "ok", outputs=outputs, line=line)
    if count and getattr(ops.module, "_diff", False):
        result["diff"] = [dict(a["diff"], before_header="%s/%s" % (a["kind"], a["name"]), after_header="%s/%s" % (a["kind"], a["name"]))
                          for a in applied if a["changed"]]
    return result


def main():
    ops = OpsModule(ARGUMENT_SPEC, operation="dr_restore", phase="restore", status_key="dr_restore",
                    connections=[AwsConnection, K8sConnection])
    if ops.params["validate_only"]:
        # Its own receipt: the restore's receipt stays the one of the run that applied.
        ops.phase = "restore_validate"
    ops.run(run)


if __name__ == "__main__":
    main()
