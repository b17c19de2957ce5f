#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: backup_restore
short_description: Restore a DR backup's workloads into a namespace and its state archive to disk
version_added: "0.1.0"
description:
  - Checks the backup contract (see M(signalcraft.ops.backup_contract)), reads every manifest in
    C(manifests.tar.zst) and every member of C(state.tar.zst) (absolute paths, C(..), links and device files
    refuse the archive) -- all before anything is written.
  - Applies the manifests to O(namespace) with server-side apply, in archive order (their namespace is
    rewritten to O(namespace); server-populated fields are dropped). CronJobs get C(suspend=true) unless
    O(enable_triggers=true), which sets C(suspend=false).
  - Makes O(state_dir) hold exactly the files of C(state.tar.zst) and reads them back against the archive.
  - Fails with C(reason=restore_gate_failed) unless C(cronjob.batch/<required_cronjob>) exists afterwards.
  - A second run with the same backup changes nothing.
author:
  - signalcraft maintainers (@signalcraft)
options:
  backup_uri:
    description: C(s3://<bucket>/<prefix>/backups/<backup_id>).
    type: str
    required: true
  namespace:
    description: The namespace to restore into.
    type: str
    required: true
  state_dir:
    description: Directory that receives the files of C(state.tar.zst) (files not in the archive are removed).
    type: path
    required: true
  enable_triggers:
    description: Leave restored CronJobs unsuspended (C(suspend=false)). By default they are suspended.
    type: bool
    default: false
  required_cronjob:
    description: The restore gate. Empty disables the gate.
    type: str
    default: jobintel-daily
  verify_checksums:
    description: Compare the archives with the checksums in C(metadata.json).
    type: bool
    default: true
  require_checksums:
    description: Fail when C(metadata.json) lists no sha256 for an archive.
    type: bool
    default: false
  create_namespace:
    description: Create the namespace when it does not exist.
    type: bool
    default: true
  force_conflicts:
    description: Take over fields another field manager owns (server-side apply C(force)).
    type: bool
    default: false
extends_documentation_fragment:
  - signalcraft.ops.k8s
  - signalcraft.ops.aws
requirements:
  - kubernetes >= 30.1.0
  - zstandard
attributes:
  check_mode:
    support: full
    description: Server-side dry run (C(dryRun=All)); the state directory is not written.
  diff_mode:
    support: full
    description: Each object before and after (in RV(objects)).
seealso:
  - module: signalcraft.ops.backup_contract
  - module: signalcraft.ops.ecr_pull_secret
"""

EXAMPLES = r"""
- name: Restore the baseline workloads and state
  signalcraft.ops.backup_restore:
    backup_uri: s3://jobintel-backup/jobintel/backups/20260101T000000Z
    namespace: jobintel
    state_dir: /var/lib/signalcraft/receipts/dr-drill-1/state
    kubeconfig: /var/lib/signalcraft/receipts/dr-drill-1/kubeconfig.yaml
"""

RETURN = r"""
skipped_owned:
  description:
    - Objects of the backup that a controller owns (C(ownerReferences) with C(controller=true)), for example a Job's Pods;
      they are not applied because their owner recreates them. Each has C(source), C(kind) and C(name).
  returned: success
  type: list
  elements: dict
backup:
  description: The checked contract (C(backup_uri), C(objects), C(metadata), C(checksums_listed)).
  returned: success
  type: dict
objects:
  description: Per applied object C(kind), C(api_version), C(name), C(source) (path in the archive), C(changed), C(diff).
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
  description: Per state file C(path), C(sha256), C(size) (verified after writing).
  returned: success
  type: list
  elements: dict
state_changed_files:
  description: State files written or removed.
  returned: success
  type: list
  elements: str
gate:
  description: C(cronjob.batch/<name>) and whether it exists (C(passed)).
  returned: success
  type: dict
reason:
  description: Stable failure token.
  returned: failure
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.signalcraft.ops.plugins.module_utils.services import archives
from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import backup
from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import restore as k8s_restore
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError


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


def run(module):
    params = module.params
    check = module.check_mode
    s3 = aws.AwsClientFactory.from_params(params).client("s3")
    loaded = backup.load_backup(s3, params["backup_uri"], params["verify_checksums"], params["require_checksums"],
                                fetch=(backup.STATE_ARCHIVE, backup.MANIFESTS_ARCHIVE))
    documents = backup.manifests_from_archive(loaded["blobs"][backup.MANIFESTS_ARCHIVE])
    # Objects a controller made come back from their owner; restoring them too would leave orphans.
    skipped_owned = [{"source": d["source"], "kind": d["manifest"]["kind"], "name": d["manifest"]["metadata"]["name"]}
                     for d in documents if backup.controller_owned(d["manifest"])]
    documents = [d for d in documents if not backup.controller_owned(d["manifest"])]
    manifests = [backup.prepare_manifest(d["manifest"], params["namespace"], params["enable_triggers"]) for d in documents]
    state = backup.state_files(loaded["blobs"][backup.STATE_ARCHIVE])
    dyn = k8s.dynamic_client(params["kubeconfig"], params["context"])
    k8s_restore.resolve(dyn, manifests, params["namespace"])
    namespace = {"changed": False}
    if params["create_namespace"]:
        namespace = k8s_restore.ensure_namespace(dyn, params["namespace"], dry_run=check)
    applied = k8s_restore.apply_all(dyn, manifests, params["namespace"], dry_run=check, namespace_exists=not namespace["changed"],
                                    force=params["force_conflicts"])
    for entry, document in zip(applied, documents):
        entry["source"] = document["source"]
    state_changed = archives.write_tree(params["state_dir"], state, prune=True, check_mode=check)
    listing = [] if check else verify_state_dir(params["state_dir"], state)
    gate = {"object": None, "passed": None}
    if params["required_cronjob"]:
        gate["object"] = "cronjob.batch/%s" % params["required_cronjob"]
        if check and namespace["changed"]:
            gate["passed"] = any(m["kind"] == "CronJob" and m["metadata"]["name"] == params["required_cronjob"] for m in manifests)
            if not gate["passed"]:
                raise GuardError("restore_gate_failed", "%s is not among the backup's manifests." % gate["object"])
        else:
            k8s_restore.require_object(dyn, "batch/v1", "CronJob", params["required_cronjob"], params["namespace"])
            gate["passed"] = True
    changed = namespace["changed"] or bool(state_changed) or any(a["changed"] for a in applied)
    result = dict(changed=changed, backup=loaded["contract"], objects=applied, skipped_owned=skipped_owned, namespace_created=namespace["changed"],
                  state_dir=params["state_dir"], state_files=listing, state_changed_files=state_changed, gate=gate)
    if module._diff:
        result["diff"] = [dict(a["diff"], before_header="%s/%s" % (a["kind"], a["name"]), after_header="%s/%s" % (a["kind"], a["name"]))
                          for a in applied if a["changed"]]
    return result


def main():
    argument_spec = aws.aws_argument_spec()
    argument_spec.update(k8s.k8s_argument_spec())
    argument_spec.update(
        backup_uri=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        state_dir=dict(type="path", required=True),
        enable_triggers=dict(type="bool", default=False),
        required_cronjob=dict(type="str", default="jobintel-daily"),
        verify_checksums=dict(type="bool", default=True),
        require_checksums=dict(type="bool", default=False),
        create_namespace=dict(type="bool", default=True),
        force_conflicts=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    for available, name, error in ((aws.HAS_BOTO3, "boto3", aws.BOTO3_IMPORT_ERROR), (k8s.HAS_KUBERNETES, "kubernetes", k8s.KUBERNETES_IMPORT_ERROR)):
        if not available:
            module.fail_json(msg=missing_required_lib(name), exception=str(error))
    module.no_log_values.update(k8s.kubeconfig_secret_values(module.params["kubeconfig"]))
    try:
        result = run(module)
    except GuardError as exc:
        module.fail_json(msg="dr_restore status=fail reason=%s: %s" % (exc.reason, exc.message), reason=exc.reason)
    # pylint: disable-next=catching-non-exception  # a tuple of exception classes pylint cannot infer
    except k8s.K8S_ERRORS as exc:
        error = k8s.api_error(exc)
        module.fail_json(msg="dr_restore status=fail reason=k8s_error: %s (%s)" % (error["message"], error["code"]), reason="k8s_error")
    except aws.AWS_ERRORS + (ValueError, OSError) as exc:
        module.fail_json(msg="dr_restore status=fail reason=aws_error: %s" % aws.describe_error(exc, "restoring the backup"), reason="aws_error")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
