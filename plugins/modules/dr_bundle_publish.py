#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_bundle_publish
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Publish the control-plane bundle to S3 and move control-plane/current.json to it
description:
  - Builds a deterministic C(tar.gz) of C(candidates/ alerts/ providers/ scoring/) from O(source_dir) plus
    C(manifest.json) (per-file sha256 and size) under C(control-plane/) -- sorted members, fixed mtime,
    owner and mode, a gzip header without name or time -- so the same files always give the same bytes.
  - Uploads it once to C(s3://<bucket>/<prefix>/control-plane/bundles/<UTC timestamp>-<sha256[:12]>.tar.gz)
    (never overwritten; a bundle with the same sha256 is reused) and moves C(<prefix>/control-plane/current.json)
    (C(bundle_uri), C(bundle_sha256), C(created_at), C(git_sha), C(image_ref_digest)) by compare-and-swap.
  - Publishing the same content again with the same provenance changes nothing.
  - Every input is checked before any AWS call (C(bucket_unset), C(inventory_placeholder), C(invalid_prefix),
    C(image_ref_not_pinned), C(invalid_git_sha), C(bundle_source_invalid)).
  - Prints C(publish_bundle status=ok bundle_uri=<uri> bundle_sha256=<sha> uploaded=<bool> pointer=moved|unchanged);
    in check mode C(status=planned) with C(would_upload) and C(pointer=would_move|unchanged).
  - Replaces C(scripts/control_plane/publish_bundle.sh).
options:
  source_dir:
    description: Directory holding the C(candidates), C(alerts), C(providers) and C(scoring) directories.
    type: path
    required: true
  image_ref_digest:
    description: The digest-pinned image (C(<repo>@sha256:<digest>)) this control plane goes with.
    type: str
    required: true
  verify_image:
    description: Check that O(image_ref_digest) exists in ECR before publishing.
    type: bool
    default: true
  git_sha:
    description:
      - Commit of the control-plane sources. When omitted, read from the git checkout holding O(source_dir),
        or C(unknown) outside a checkout.
    type: str
attributes:
  check_mode:
    support: full
    description: Builds the bundle and reports what would be uploaded and where the pointer would move; writes nothing.
  diff_mode:
    support: full
    description: The pointer document before and after.
seealso:
  - module: signalcraft.ops.dr_bundle_fetch
  - module: signalcraft.ops.dr_bundle_apply
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.s3_location.control_plane]
"""

EXAMPLES = r"""
- name: Publish the control-plane bundle from primary
  signalcraft.ops.dr_bundle_publish:
    source_dir: /srv/jobintel/control-plane
    bucket: jobintel-artifacts
    prefix: jobintel
    image_ref_digest: 111122223333.dkr.ecr.us-east-1.amazonaws.com/jobintel@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  register: published
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: The bundle uploaded (or reused), its manifest, and the C(current.json) pointer before and after.
  returned: always
  type: dict
  contains:
    bundle_uri:
      description: The bundle C(current.json) names (or would name).
      returned: success
      type: str
      sample: s3://jobintel-artifacts/jobintel/control-plane/bundles/20260101T000000Z-0123456789ab.tar.gz
    bundle_sha256:
      description: sha256 of the bundle archive.
      returned: success
      type: str
    bundle_size:
      description: Size of the bundle archive in bytes.
      returned: success
      type: int
    uploaded:
      description: Whether a new bundle object was (or in check mode would be) uploaded.
      returned: success
      type: bool
    pointer_uri:
      description: The C(current.json) pointer.
      returned: success
      type: str
    pointer:
      description: The pointer document after the run (in check mode, what it would be).
      returned: success
      type: dict
    previous_pointer:
      description: The pointer document before the run (null when it did not exist).
      returned: success
      type: dict
    manifest:
      description: The bundle's C(manifest.json) (schema C(control_plane_manifest.v1)).
      returned: success
      type: dict
diff:
  description: The pointer document before and after.
  returned: success
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError, require_pinned_image
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import bundle
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import control_plane
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecr
from ansible_collections.signalcraft.ops.plugins.module_utils.services import gitinfo
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection
from ansible_collections.signalcraft.ops.plugins.module_utils.services.s3 import location_argument_spec

ARGUMENT_SPEC = dict(
    **location_argument_spec(),
    source_dir=dict(type="path", required=True),
    image_ref_digest=dict(type="str", required=True),
    verify_image=dict(type="bool", default=True),
    git_sha=dict(type="str"),
)


def run(ops):
    params = ops.params
    # Every input first: nothing below builds a client until all of them passed.
    bucket, prefix = control_plane.require_location(params["bucket"], params["prefix"])
    try:
        require_pinned_image(params["image_ref_digest"], context="the control-plane bundle")
    except GuardError as exc:
        raise GuardError(exc.reason, "dr_bundle_image_ref: %s" % exc.message)
    git_sha = gitinfo.validate_git_sha(params["git_sha"]) if params["git_sha"] else gitinfo.head_sha(params["source_dir"])
    built = bundle.build_bundle(bundle.collect_sources(params["source_dir"]))
    if params["verify_image"]:
        ecr.resolve_image(ops.client("ecr"), params["image_ref_digest"], context="the control-plane bundle")
    outcome = control_plane.publish(ops.client("s3"), bucket, prefix, built, git_sha, params["image_ref_digest"],
                                    receipts.format_timestamp(receipts.utc_now()), check_mode=ops.check_mode)
    moved = outcome["before"] != outcome["after"]
    outputs = dict(bundle_uri=outcome["bundle_uri"], bundle_sha256=built["sha256"], bundle_size=built["size"],
                   uploaded=outcome["uploaded"], pointer_uri=outcome["pointer_uri"], pointer=outcome["after"],
                   previous_pointer=outcome["before"], manifest=built["manifest"])
    diff = {"before": outcome["before"] or {}, "after": outcome["after"]}
    if ops.check_mode:
        line = bundle.line_fields(("bundle_uri", outcome["bundle_uri"]), ("bundle_sha256", built["sha256"]),
                                  ("would_upload", outcome["uploaded"]), ("pointer", "would_move" if moved else "unchanged"))
        return dict(changed=outcome["changed"], status="planned", outputs=outputs, diff=diff, line=line)
    line = bundle.line_fields(("bundle_uri", outcome["bundle_uri"]), ("bundle_sha256", built["sha256"]),
                              ("uploaded", outcome["uploaded"]), ("pointer", "moved" if moved else "unchanged"))
    return dict(changed=outcome["changed"], outputs=outputs, diff=diff, line=line)


def main():
    OpsModule(ARGUMENT_SPEC, operation="publish_bundle", phase="publish", status_key="publish_bundle", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
