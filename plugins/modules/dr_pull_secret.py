#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_pull_secret
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Create or refresh the ECR image-pull Secret and link it to a ServiceAccount
description:
  - Builds a C(kubernetes.io/dockerconfigjson) Secret from ECR's authorization token for the registry of
    O(image_ref) (or O(registry_id), or the caller's account) and server-side applies it to O(namespace).
  - ECR tokens live 12 hours and every call returns a new one, so the Secret is rewritten only when it is
    missing, not of that type, for another registry, older than O(max_age_hours), or when O(refresh=always)
    (what the drill uses before retrying a pod stuck on an image-pull authorization error). Otherwise the run
    reports no change.
  - Adds the Secret to the ServiceAccount's C(imagePullSecrets) with a JSON patch (guarded by the
    resourceVersion), keeping every other entry; creates the ServiceAccount when it does not exist.
  - The token and the Secret's contents are never returned or logged.
  - Prints C(ecr_pull_secret status=ok secret=<name> secret_changed=<bool> service_account=<name> registry=<host>); in check
    mode C(status=planned) with C(would_write) instead of C(secret_changed).
  - Replaces C(scripts/ops/dr_ensure_ecr_pull_secret.sh); its C(--dry-run) is check mode (C(dryRun=All)).
options:
  namespace:
    description: Namespace of the Secret and the ServiceAccount.
    type: str
    required: true
  secret_name:
    description: Name of the pull Secret.
    type: str
    default: ecr-pull
  service_account:
    description: ServiceAccount to link the Secret to. Empty to skip the link.
    type: str
    default: jobintel
  image_ref:
    description:
      - An ECR image reference (C(<account>.dkr.ecr.<region>.amazonaws.com/<repo>@sha256:...)); its registry is the one
        the Secret authenticates to and it must exist in ECR.
    type: str
  registry_id:
    description: The registry (12-digit account id) to get a token for, when O(image_ref) is not given.
    type: str
  refresh:
    description: V(auto) rewrites the Secret only when needed (see above); V(always) rewrites it every run.
    type: str
    choices: [auto, always]
    default: auto
  max_age_hours:
    description: With O(refresh=auto), rewrite a Secret written longer ago than this (ECR tokens last 12 hours).
    type: float
    default: 6.0
  create_service_account:
    description: Create O(service_account) when it does not exist (otherwise fail).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Server-side dry run (C(dryRun=All)) of the Secret and the ServiceAccount patch; nothing is stored.
  diff_mode:
    support: partial
    description: The ServiceAccount's imagePullSecrets names before and after; the Secret's content is never shown.
requirements:
  - kubernetes >= 30.1.0
seealso:
  - module: signalcraft.ops.dr_restore
extends_documentation_fragment: [signalcraft.ops.k8s, signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.k8s_namespace]
"""

EXAMPLES = r"""
- name: Ensure the ECR pull secret for the DR namespace
  signalcraft.ops.dr_pull_secret:
    namespace: jobintel
    image_ref: 111122223333.dkr.ecr.us-east-1.amazonaws.com/jobintel@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    kubeconfig: /tmp/dr/kubeconfig.yaml

- name: Refresh it before retrying a pod stuck on ErrImagePull
  signalcraft.ops.dr_pull_secret:
    namespace: jobintel
    image_ref: "{{ image_ref }}"
    refresh: always
    kubeconfig: /tmp/dr/kubeconfig.yaml
  register: pull_secret
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: What the step found and wrote (never the token or the Secret's contents).
  returned: always
  type: dict
  contains:
    secret_name:
      description: The pull Secret.
      returned: success
      type: str
    registry:
      description: The registry host the Secret authenticates to.
      returned: success
      type: str
    secret_changed:
      description: Whether the Secret was (or in check mode would be) written.
      returned: success
      type: bool
    refresh_reason:
      description: Why the Secret was written (C(missing), C(refresh=always), C(older than 6.0 hours)...), or null.
      returned: success
      type: str
    token_expires_at:
      description: When the ECR token in the Secret expires, as ECR reported it.
      returned: success
      type: str
    service_account:
      description: C(name), C(changed), C(created), C(image_pull_secrets_before) and C(image_pull_secrets_after).
      returned: when service_account
      type: dict
    namespace_created:
      description: Whether the namespace was (or would be) created.
      returned: success
      type: bool
diff:
  description: The ServiceAccount's imagePullSecrets names before and after (never the Secret).
  returned: when the ServiceAccount link changed
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import parse_image_ref
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import bundle
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import pull_secret
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import restore as k8s_restore
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecr
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection
from ansible_collections.signalcraft.ops.plugins.module_utils.services.k8s import K8sConnection, namespace_argument_spec

ARGUMENT_SPEC = dict(
    **namespace_argument_spec(),
    namespace=dict(type="str", required=True),
    secret_name=dict(type="str", default="ecr-pull"),
    service_account=dict(type="str", default="jobintel"),
    image_ref=dict(type="str"),
    registry_id=dict(type="str"),
    refresh=dict(type="str", choices=["auto", "always"], default="auto"),
    max_age_hours=dict(type="float", default=6.0),
    create_service_account=dict(type="bool", default=True),
)


def run(ops):
    params = ops.params
    check = ops.check_mode
    registry_id, registry_hint = params["registry_id"], None
    if params["image_ref"]:
        registry_hint = parse_image_ref(params["image_ref"])["registry"]
        image = ecr.resolve_image(ops.client("ecr"), params["image_ref"], allow_tags=True, context="the pull secret")
        registry_id = image["registry_id"]
    elif registry_id:
        pull_secret.validate_registry_id(registry_id)
    dyn = ops.connection("k8s").dynamic()
    namespace = {"changed": False}
    if params["create_namespace"]:
        namespace = k8s_restore.ensure_namespace(dyn, params["namespace"], dry_run=check)
    exists = not namespace["changed"]

    def credentials():
        found = ecr.pull_credentials(ops.client("ecr"), registry_id)
        # The token is a secret from the moment it exists: never in output, diff or receipt.
        ops.add_secret(found.get("password"))
        return found

    secret = pull_secret.ensure_secret(
        dyn, params["namespace"], params["secret_name"], credentials, ecr.dockerconfigjson, receipts.utc_now(), dry_run=check,
        refresh=params["refresh"], max_age_hours=params["max_age_hours"], registry_hint=registry_hint, namespace_exists=exists)
    ops.add_secret(*secret.pop("secret_values"))
    outputs = dict(secret_name=params["secret_name"], registry=secret["registry"], secret_changed=secret["changed"],
                   refresh_reason=secret["reason"], token_expires_at=secret["expires_at"], namespace_created=namespace["changed"])
    changed = namespace["changed"] or secret["changed"]
    result = dict(status="planned" if check else "ok")
    if params["service_account"]:
        link = pull_secret.link_service_account(dyn, params["namespace"], params["service_account"], params["secret_name"], dry_run=check,
                                                create_missing=params["create_service_account"], namespace_exists=exists)
        outputs["service_account"] = {"name": params["service_account"], "changed": link["changed"], "created": link["created"],
                                      "image_pull_secrets_before": link["before"], "image_pull_secrets_after": link["after"]}
        changed = changed or link["changed"]
        if link["changed"]:
            result["diff"] = {"before": {"imagePullSecrets": link["before"]}, "after": {"imagePullSecrets": link["after"]},
                              "before_header": "serviceaccount/%s" % params["service_account"],
                              "after_header": "serviceaccount/%s" % params["service_account"]}
    result.update(changed=changed, outputs=outputs,
                  line=bundle.line_fields(("secret", params["secret_name"]), ("would_write" if check else "secret_changed", secret["changed"]),
                                          ("service_account", params["service_account"]), ("registry", secret["registry"])))
    return result


def main():
    OpsModule(ARGUMENT_SPEC, operation="ecr_pull_secret", phase="pull_secret", status_key="ecr_pull_secret",
              connections=[AwsConnection, K8sConnection], mutually_exclusive=[("image_ref", "registry_id")]).run(run)


if __name__ == "__main__":
    main()
