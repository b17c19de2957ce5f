#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_bundle_fetch
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Fetch the control-plane bundle named by current.json, verify it and extract it
description:
  - Reads C(<prefix>/control-plane/current.json), downloads the bundle it names, checks the archive's sha256
    against C(bundle_sha256), refuses absolute paths, C(..), links, device files and FIFOs in the archive and
    checks every file against C(manifest.json) (present, sha256 and size match, nothing unlisted) -- all before
    writing anything.
  - Then makes C(<dest_dir>/bundle/control-plane/) hold exactly the bundle's files (written only when they
    differ, so a second fetch reports no change).
  - When C(current.json) is missing it fails with C(reason=control_plane_pointer_missing) and says to publish
    from primary first (the bootstrap rule).
  - Prints C(fetch_bundle status=ok bundle_sha256=<sha> bundle_dir=<dir> changed_files=<n>); in check mode
    C(status=planned) and C(would_change=<n>).
  - Replaces C(scripts/control_plane/fetch_bundle.sh).
options:
  dest_dir:
    description: The bundle is extracted to C(<dest_dir>/bundle/control-plane/).
    type: path
    required: true
attributes:
  check_mode:
    support: full
    description: Downloads and verifies everything; writes nothing to disk.
  diff_mode:
    support: none
    description: Reports the files that changed in RV(outputs.changed_files).
seealso:
  - module: signalcraft.ops.dr_bundle_publish
  - module: signalcraft.ops.dr_bundle_apply
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.s3_location.control_plane]
"""

EXAMPLES = r"""
- name: Fetch and verify the control-plane bundle
  signalcraft.ops.dr_bundle_fetch:
    bucket: jobintel-artifacts
    prefix: jobintel
    dest_dir: /tmp/control-plane-fetch
  register: fetched
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: The bundle that C(current.json) names, its verified manifest, and the files written or removed under O(dest_dir).
  returned: always
  type: dict
  contains:
    bundle_dir:
      description: The extracted bundle (holds C(manifest.json) and the section directories).
      returned: success
      type: str
      sample: /tmp/control-plane-fetch/bundle/control-plane
    bundle_uri:
      description: The bundle C(current.json) names.
      returned: success
      type: str
    bundle_sha256:
      description: The verified sha256 of the bundle archive.
      returned: success
      type: str
    pointer:
      description: The C(current.json) document.
      returned: success
      type: dict
    manifest:
      description: The verified C(manifest.json).
      returned: success
      type: dict
    changed_files:
      description: Paths under RV(outputs.bundle_dir) that were (or in check mode would be) written or removed.
      returned: success
      type: list
      elements: str
"""

import os

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import bundle
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import control_plane
from ansible_collections.signalcraft.ops.plugins.module_utils.services import archives
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection
from ansible_collections.signalcraft.ops.plugins.module_utils.services.s3 import location_argument_spec

ARGUMENT_SPEC = dict(
    **location_argument_spec(),
    dest_dir=dict(type="path", required=True),
)


def run(ops):
    params = ops.params
    bucket, prefix = control_plane.require_location(params["bucket"], params["prefix"])
    s3 = ops.client("s3")
    document = control_plane.read_current(s3, bucket, prefix)["document"]
    data = control_plane.download_bundle(s3, document["bundle_uri"])
    # Everything is verified in memory before the first byte is written.
    opened = bundle.open_bundle(data, document["bundle_sha256"], label=document["bundle_uri"])
    files = dict(opened["files"])
    files[bundle.MANIFEST_NAME] = bundle.manifest_bytes(opened["manifest"])
    bundle_dir = os.path.join(params["dest_dir"], "bundle", bundle.ROOT)
    changed_files = archives.write_tree(bundle_dir, files, prune=True, check_mode=ops.check_mode)
    outputs = dict(bundle_dir=bundle_dir, bundle_uri=document["bundle_uri"], bundle_sha256=opened["sha256"], pointer=document,
                   manifest=opened["manifest"], changed_files=changed_files)
    count = "would_change" if ops.check_mode else "changed_files"
    line = bundle.line_fields(("bundle_sha256", opened["sha256"]), ("bundle_dir", bundle_dir), (count, len(changed_files)))
    return dict(changed=bool(changed_files), status="planned" if ops.check_mode else "ok", outputs=outputs, line=line)


def main():
    OpsModule(ARGUMENT_SPEC, operation="fetch_bundle", phase="fetch", status_key="fetch_bundle", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
