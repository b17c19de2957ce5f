#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: bundle_configmaps
short_description: Render the control-plane bundle as ConfigMaps and apply them to a namespace
version_added: "0.1.0"
description:
  - Reads an extracted bundle (M(signalcraft.ops.bundle_fetch)'s C(bundle_dir)), verifies every file against
    its C(manifest.json) again, and renders one ConfigMap per section (C(<name_prefix>-candidates),
    C(-alerts), C(-providers), C(-scoring)) as deterministic YAML.
  - File paths become valid ConfigMap keys (C([-._a-zA-Z0-9]+); C(/) becomes C(__)); two paths that would
    share a key, and a ConfigMap over the 1 MiB Kubernetes limit, are refused before anything is applied.
    Text goes to C(data), other bytes to C(binaryData).
  - With O(render_only=true) only writes O(output_yaml). Otherwise applies the ConfigMaps with server-side
    apply (check mode is a C(dryRun=All) apply), creating the namespace first when missing.
  - Replaces C(scripts/control_plane/apply_bundle_k8s.sh).
author:
  - signalcraft maintainers (@signalcraft)
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
  create_namespace:
    description: Create the namespace when it does not exist.
    type: bool
    default: true
  force_conflicts:
    description: Take over fields another field manager owns (server-side apply C(force)).
    type: bool
    default: false
requirements:
  - kubernetes >= 30.1.0
  - PyYAML
attributes:
  check_mode:
    support: full
    description: Server-side dry run (C(dryRun=All)); the YAML file is not written.
  diff_mode:
    support: full
    description: Each ConfigMap before and after (in RV(configmaps)).
seealso:
  - module: signalcraft.ops.bundle_fetch
extends_documentation_fragment:
  - signalcraft.ops.k8s
"""

EXAMPLES = r"""
- name: Render the control-plane ConfigMaps without applying them
  signalcraft.ops.bundle_configmaps:
    bundle_dir: /tmp/control-plane-fetch/bundle/control-plane
    namespace: jobintel
    render_only: true
    output_yaml: /tmp/control-plane.configmaps.yaml

- name: Apply them to the DR cluster
  signalcraft.ops.bundle_configmaps:
    bundle_dir: /tmp/control-plane-fetch/bundle/control-plane
    namespace: jobintel
    kubeconfig: /tmp/dr/kubeconfig.yaml
"""

RETURN = r"""
yaml:
  description: The rendered multi-document YAML.
  returned: success
  type: str
output_yaml:
  description: The file the YAML was written to, when O(output_yaml) is set.
  returned: when output_yaml
  type: str
configmaps:
  description: Per ConfigMap C(name), C(keys), C(bytes), C(changed) and, when applied, C(diff).
  returned: success
  type: list
  elements: dict
namespace_created:
  description: Whether the namespace was (or would be) created.
  returned: unless render_only
  type: bool
reason:
  description: Stable failure token.
  returned: failure
  type: str
"""

import base64
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.signalcraft.ops.plugins.module_utils.services import archives
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import bundle
from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import restore as k8s_restore
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError


def _size(configmap):
    text = sum(len(v.encode("utf-8")) for v in configmap.get("data", {}).values())
    return text + sum(len(base64.b64decode(v)) for v in configmap.get("binaryData", {}).values())


def run(module):
    params = module.params
    opened = bundle.read_bundle_dir(params["bundle_dir"])
    configmaps = bundle.render_configmaps(opened["files"], params["namespace"], name_prefix=params["name_prefix"])
    text = bundle.to_yaml(configmaps)
    summary = [{"name": c["metadata"]["name"], "keys": sorted(list(c.get("data", {})) + list(c.get("binaryData", {}))),
                "bytes": _size(c), "changed": False} for c in configmaps]
    result = dict(changed=False, yaml=text, configmaps=summary)
    if params["output_yaml"]:
        directory, name = os.path.split(os.path.abspath(params["output_yaml"]))
        result["output_yaml"] = params["output_yaml"]
        if archives.write_tree(directory, {name: text.encode("utf-8")}, check_mode=module.check_mode):
            result["changed"] = True
    if params["render_only"]:
        return result
    dyn = k8s.dynamic_client(params["kubeconfig"], params["context"])
    namespace = {"changed": False}
    if params["create_namespace"]:
        namespace = k8s_restore.ensure_namespace(dyn, params["namespace"], dry_run=module.check_mode)
    applied = k8s_restore.apply_all(dyn, configmaps, params["namespace"], dry_run=module.check_mode,
                                    namespace_exists=not namespace["changed"], force=params["force_conflicts"])
    for entry, outcome in zip(summary, applied):
        entry.update(changed=outcome["changed"], diff=outcome["diff"])
    result["namespace_created"] = namespace["changed"]
    result["changed"] = result["changed"] or namespace["changed"] or any(e["changed"] for e in summary)
    if module._diff:
        result["diff"] = [dict(e["diff"], before_header=e["name"], after_header=e["name"]) for e in summary if e["changed"]]
    return result


def main():
    argument_spec = k8s.k8s_argument_spec()
    argument_spec.update(
        bundle_dir=dict(type="path", required=True),
        namespace=dict(type="str", required=True),
        name_prefix=dict(type="str", default="control-plane"),
        render_only=dict(type="bool", default=False),
        output_yaml=dict(type="path"),
        create_namespace=dict(type="bool", default=True),
        force_conflicts=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not k8s.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(k8s.KUBERNETES_IMPORT_ERROR))
    module.no_log_values.update(k8s.kubeconfig_secret_values(module.params["kubeconfig"]))
    try:
        result = run(module)
    except GuardError as exc:
        module.fail_json(msg="bundle_configmaps status=fail reason=%s: %s" % (exc.reason, exc.message), reason=exc.reason)
    # pylint: disable-next=catching-non-exception  # a tuple of exception classes pylint cannot infer
    except k8s.K8S_ERRORS as exc:
        error = k8s.api_error(exc)
        module.fail_json(msg="bundle_configmaps status=fail reason=k8s_error: applying the ConfigMaps failed: %s (%s)" % (
            error["message"], error["code"]), reason="k8s_error")
    except (ValueError, OSError) as exc:
        module.fail_json(msg="bundle_configmaps status=fail reason=invalid_input: %s" % exc, reason="invalid_input")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
