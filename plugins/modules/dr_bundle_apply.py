#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_bundle_apply
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Render the control-plane bundle as ConfigMaps and apply them to a namespace
description:
  - Reads an extracted bundle (M(signalcraft.ops.dr_bundle_fetch)'s C(bundle_dir)), verifies every file against
    its C(manifest.json) again, and renders one ConfigMap per section (C(<name_prefix>-candidates),
    C(-alerts), C(-providers), C(-scoring)) as deterministic YAML.
  - File paths become valid ConfigMap keys (C([-._a-zA-Z0-9]+); C(/) becomes C(__)); two paths that would
    share a key, and a ConfigMap over the 1 MiB Kubernetes limit, are refused before anything is applied.
    Text goes to C(data), other bytes to C(binaryData).
  - With O(render_only=true) only writes O(output_yaml). Otherwise validates every ConfigMap offline against the
    Kubernetes schema of the cluster's version (its C(/version); kubernetes-validate) -- a rejected object fails with
    C(k8s_manifest_invalid) naming it and the schema error before anything is written -- then applies them with
    server-side apply (check mode is a C(dryRun=All) apply), creating the namespace first when missing.
  - The receipt phase is C(render) with O(render_only=true), else C(apply).
  - Prints C(apply_bundle status=ok namespace=<ns> render_only=<bool> configmaps=4 changed=<n> output_yaml=<file>); in check
    mode C(status=planned) and C(would_change=<n>).
  - Replaces C(scripts/control_plane/apply_bundle_k8s.sh).
options:
  bundle_dir:
    description: The extracted bundle directory (holds C(manifest.json)).
    type: path
    required: true
  namespace:
    description: Namespace the ConfigMaps belong to.
    type: str
    required: true
  name_prefix:
    description: ConfigMap names are C(<name_prefix>-<section>).
    type: str
    default: control-plane
  render_only:
    description: Only render (to O(output_yaml) and the result); do not talk to the cluster.
    type: bool
    default: false
  output_yaml:
    description: Also write the rendered YAML to this file (written only when it differs).
    type: path
attributes:
  check_mode:
    support: full
    description: Server-side dry run (C(dryRun=All)); the YAML file is not written.
  diff_mode:
    support: full
    description: Each changed ConfigMap before and after (and in RV(outputs.configmaps)).
requirements:
  - kubernetes >= 30.1.0
  - kubernetes-validate
  - PyYAML
seealso:
  - module: signalcraft.ops.dr_bundle_fetch
extends_documentation_fragment: [signalcraft.ops.k8s, signalcraft.ops.receipt, signalcraft.ops.k8s_namespace, signalcraft.ops.k8s_apply]
"""

EXAMPLES = r"""
- name: Render the control-plane ConfigMaps without applying them
  signalcraft.ops.dr_bundle_apply:
    bundle_dir: /tmp/control-plane-fetch/bundle/control-plane
    namespace: jobintel
    render_only: true
    output_yaml: /tmp/control-plane.configmaps.yaml

- name: Apply them to the DR cluster
  signalcraft.ops.dr_bundle_apply:
    bundle_dir: /tmp/control-plane-fetch/bundle/control-plane
    namespace: jobintel
    kubeconfig: /tmp/dr/kubeconfig.yaml

  register: configmaps
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: What the step rendered and applied.
  returned: always
  type: dict
  contains:
    yaml:
      description: The rendered multi-document YAML (with O(output_yaml) it is in that file instead).
      returned: when output_yaml is not set
      type: str
    output_yaml:
      description: The file the YAML was written to, when O(output_yaml) is set.
      returned: when output_yaml
      type: str
    configmaps:
      description: Per ConfigMap C(name), C(keys), C(bytes) and C(changed).
      returned: success
      type: list
      elements: dict
    namespace_created:
      description: Whether the namespace was (or would be) created.
      returned: unless render_only
      type: bool
    manifest_validation:
      description: C(schema_version), C(validated) and C(unchecked) of the offline schema check before the first write.
      returned: unless render_only
      type: dict
diff:
  description: Each changed ConfigMap before and after (with C(--diff)).
  returned: when diff mode is on and something changed
  type: list
  elements: dict
"""

import base64
import os

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import bundle
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import restore as k8s_restore
from ansible_collections.signalcraft.ops.plugins.module_utils.services import archives
from ansible_collections.signalcraft.ops.plugins.module_utils.services.k8s import K8sConnection, apply_argument_spec, namespace_argument_spec

ARGUMENT_SPEC = dict(
    **namespace_argument_spec(),
    **apply_argument_spec(),
    bundle_dir=dict(type="path", required=True),
    namespace=dict(type="str", required=True),
    name_prefix=dict(type="str", default="control-plane"),
    render_only=dict(type="bool", default=False),
    output_yaml=dict(type="path"),
)


def _size(configmap):
    text = sum(len(v.encode("utf-8")) for v in configmap.get("data", {}).values())
    return text + sum(len(base64.b64decode(v)) for v in configmap.get("binaryData", {}).values())


def run(ops):
    params = ops.params
    check = ops.check_mode
    opened = bundle.read_bundle_dir(params["bundle_dir"])
    configmaps = bundle.render_configmaps(opened["files"], params["namespace"], name_prefix=params["name_prefix"])
    text = bundle.to_yaml(configmaps)
    summary = [{"name": c["metadata"]["name"], "keys": sorted(list(c.get("data", {})) + list(c.get("binaryData", {}))),
                "bytes": _size(c), "changed": False} for c in configmaps]
    # The YAML goes to its file; only without one is it returned (a receipt keeps the summary, not every value).
    outputs = dict(configmaps=summary) if params["output_yaml"] else dict(yaml=text, configmaps=summary)
    changed = False
    if params["output_yaml"]:
        directory, name = os.path.split(os.path.abspath(params["output_yaml"]))
        outputs["output_yaml"] = params["output_yaml"]
        changed = bool(archives.write_tree(directory, {name: text.encode("utf-8")}, check_mode=check))
    diffs = []
    if not params["render_only"]:
        connection = ops.connection("k8s")
        # Offline, against the cluster's schema version, before the namespace or any ConfigMap is written.
        outputs["manifest_validation"] = connection.validate_manifests(configmaps, option="the bundle under -e dr_bundle_prefix")
        dyn = connection.dynamic()
        namespace = {"changed": False}
        if params["create_namespace"]:
            namespace = k8s_restore.ensure_namespace(dyn, params["namespace"], dry_run=check)
        applied = k8s_restore.apply_all(dyn, configmaps, params["namespace"], dry_run=check,
                                        namespace_exists=not namespace["changed"], force=params["force_conflicts"])
        for entry, outcome in zip(summary, applied):
            entry["changed"] = outcome["changed"]
            if outcome["changed"]:
                diffs.append(dict(outcome["diff"], before_header=entry["name"], after_header=entry["name"]))
        outputs["namespace_created"] = namespace["changed"]
        changed = changed or namespace["changed"] or any(e["changed"] for e in summary)
    count = sum(1 for e in summary if e["changed"])
    line = bundle.line_fields(("namespace", params["namespace"]), ("render_only", params["render_only"]), ("configmaps", len(summary)),
                              ("would_change" if check else "changed", count), ("output_yaml", params["output_yaml"]))
    result = dict(changed=changed, status="planned" if check else "ok", outputs=outputs, line=line)
    if diffs and getattr(ops.module, "_diff", False):
        result["diff"] = diffs
    return result


def main():
    ops = OpsModule(ARGUMENT_SPEC, operation="apply_bundle", phase="apply", status_key="apply_bundle", connections=[K8sConnection])
    if ops.params["render_only"]:
        # The receipt says what happened: a render writes no cluster object.
        ops.phase = "render"
    ops.run(run)


if __name__ == "__main__":
    main()
