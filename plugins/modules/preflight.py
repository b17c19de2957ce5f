#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: preflight
short_description: Verify the prod redaction contract, the AWS account and region, and the config contract
version_added: "0.1.0"
description:
  - Runs the checks an operator runs before deploying or running a workload
    (C(preflight_env.py --mode verify --deployment-env prod)).
  - In C(prod), fails unless C(REDACTION_ENFORCE=1) is in the environment the workload will get,
    taken from O(redaction_enforce) (the inventory overlay) or, when that is not given, from the
    task definition named by O(task_definition).
  - Checks the caller's account and region (STS GetCallerIdentity) against O(expected_account_id)
    and O(expected_region). Fails closed when O(expected_account_id) is not set.
  - Checks that every name in O(required_config_names) is present in the workload environment
    (O(workload_env_names) and the task definition's environment and secrets). Only names are
    compared and reported; values are never read, returned or logged.
  - Returns the stable line C(preflight status=ok) or C(preflight status=fail reason=<token>) and a
    C(receipt.v1) document to write with M(signalcraft.ops.receipt).
  - Reads only; never changes anything, so check mode runs every check.
author:
  - signalcraft maintainers (@signalcraft)
options:
  mode:
    description:
      - V(verify) fails the task when a check fails. V(report) returns the same result without failing.
    type: str
    choices: [verify, report]
    default: verify
  deployment_env:
    description:
      - The environment being deployed to. The redaction contract is enforced in V(prod) only.
    type: str
    required: true
    choices: [local, dev, staging, prod]
  redaction_enforce:
    description:
      - The value C(REDACTION_ENFORCE) will have in the workload environment (inventory overlay).
      - When omitted, the value from O(task_definition) is used; when neither has it, it is unset.
    type: str
  workload_env_names:
    description:
      - Names of the variables the workload environment overlay sets. Names only, never values.
    type: list
    elements: str
    default: []
  required_config_names:
    description:
      - Names that must be present in the workload environment (the prod config contract).
    type: list
    elements: str
    default: []
  task_definition:
    description:
      - A task definition (C(family), C(family:revision) or ARN) whose container environment and
        secrets names count as present, and whose C(REDACTION_ENFORCE) is used when
        O(redaction_enforce) is omitted.
    type: str
  container_name:
    description:
      - Only look at this container of O(task_definition). Default is every container.
    type: str
  check_identity:
    description:
      - Check the caller's account and region. Turn off only for offline rendering.
    type: bool
    default: true
  expected_account_id:
    description:
      - The 12-digit AWS account the caller must be in. Required when O(check_identity=true).
    type: str
  expected_region:
    description:
      - The region the caller must be using. Defaults to O(region).
    type: str
extends_documentation_fragment:
  - signalcraft.ops.aws
  - signalcraft.ops.receipt
attributes:
  check_mode:
    support: full
    description: Reads only; every check runs in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to diff.
seealso:
  - module: signalcraft.ops.receipt
"""

EXAMPLES = r"""
- name: Verify the prod redaction contract and config contract (names only)
  signalcraft.ops.preflight:
    deployment_env: prod
    expected_account_id: "111122223333"
    region: us-east-1
    redaction_enforce: "{{ jobintel_workload_env.REDACTION_ENFORCE | default(omit) }}"
    workload_env_names: "{{ jobintel_workload_env.keys() | list }}"
    required_config_names: [JOBINTEL_S3_BUCKET, JOBINTEL_S3_PREFIX, OPENAI_API_KEY]
    task_definition: jobintel-daily
  register: preflight

- name: Report without failing, against a local emulator
  signalcraft.ops.preflight:
    mode: report
    deployment_env: local
    expected_account_id: "111122223333"
    endpoint_url: http://127.0.0.1:5000
  register: preflight_report
"""

RETURN = r"""
status:
  description: C(ok) when every check passed, otherwise C(fail).
  returned: always
  type: str
  sample: fail
reason:
  description: The failing check's stable reason token, or null.
  returned: always
  type: str
  sample: redaction_not_enforced
token_line:
  description: The stable status line operators grep for.
  returned: always
  type: str
  sample: preflight status=fail reason=redaction_not_enforced
checks:
  description: Each check with C(status) (ok, fail, skipped), C(reason) and a human C(detail).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "redaction_contract", "status": "fail", "reason": "redaction_not_enforced", "detail": "..."}]
missing_config_names:
  description: Required names absent from the workload environment (names only).
  returned: always
  type: list
  elements: str
  sample: [OPENAI_API_KEY]
identity:
  description: The caller's account and ARN and the region in use, when O(check_identity=true).
  returned: when check_identity
  type: dict
  sample: {"account": "111122223333", "arn": "arn:aws:iam::111122223333:user/ops", "region": "us-east-1"}
task_definition_arn:
  description: The task definition revision whose environment was read.
  returned: when task_definition is given
  type: str
receipt:
  description: A receipt.v1 document (operation C(preflight), phase C(verify)) for M(signalcraft.ops.receipt).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import preflight
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError


def run(module):
    params = module.params
    started = receipts.utc_now()
    checks, identity, tdef = [], None, None
    factory = aws.AwsClientFactory.from_params(params)
    if params["check_identity"]:
        identity = factory.caller_identity()
        identity["region"] = factory.region
        checks.append(preflight.identity_check(identity, factory.region, params["expected_account_id"],
                                               params["expected_region"] or params["region"]))
    if params["task_definition"]:
        tdef = preflight.task_definition_env(factory.client("ecs"), params["task_definition"], params["container_name"])
    flag = params["redaction_enforce"]
    if flag is None and tdef is not None:
        flag = tdef["redaction_enforce"]
    checks.append(preflight.redaction_check(params["deployment_env"], flag))
    present = set(params["workload_env_names"]) | set(tdef["names"] if tdef else [])
    contract, missing = preflight.config_contract_check(params["required_config_names"], present)
    checks.append(contract)

    status, reason = preflight.summarize(checks)
    result = dict(changed=False, status=status, reason=reason, token_line=preflight.token_line(status, reason),
                  checks=checks, missing_config_names=missing)
    if identity:
        result["identity"] = identity
    if tdef:
        result["task_definition_arn"] = tdef["arn"]
    inputs = {k: params[k] for k in ("mode", "deployment_env", "workload_env_names", "required_config_names",
                                     "task_definition", "expected_account_id", "expected_region", "region", "endpoint_url")}
    result["receipt"] = receipts.build(
        "preflight", "verify", "success" if status == "ok" else "failed",
        receipts.execution_id(params["execution_id"], "preflight", started), started,
        inputs=inputs, outputs={k: result[k] for k in ("status", "reason", "token_line", "checks", "missing_config_names")},
        failure_code=reason, attempts=1 + factory.retries, module="signalcraft.ops.preflight",
    )
    return result


def main():
    argument_spec = aws.aws_argument_spec()
    argument_spec.update(
        mode=dict(type="str", choices=["verify", "report"], default="verify"),
        deployment_env=dict(type="str", required=True, choices=list(preflight.DEPLOYMENT_ENVS)),
        redaction_enforce=dict(type="str"),
        workload_env_names=dict(type="list", elements="str", default=[]),
        required_config_names=dict(type="list", elements="str", default=[]),
        task_definition=dict(type="str"),
        container_name=dict(type="str"),
        check_identity=dict(type="bool", default=True),
        expected_account_id=dict(type="str"),
        expected_region=dict(type="str"),
        execution_id=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(aws.BOTO3_IMPORT_ERROR))
    try:
        result = run(module)
    except GuardError as exc:
        module.fail_json(msg="%s: %s" % (preflight.token_line("fail", exc.reason), exc.message), status="fail", reason=exc.reason)
    except aws.AWS_ERRORS + (ValueError,) as exc:
        module.fail_json(msg="%s: %s" % (preflight.token_line("fail", "aws_error"), aws.describe_error(exc, "preflight")),
                         status="fail", reason="aws_error")
    if result["status"] == "fail" and module.params["mode"] == "verify":
        details = "; ".join(c["detail"] for c in result["checks"] if c["status"] == "fail")
        module.fail_json(msg="%s: %s" % (result["token_line"], details), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
