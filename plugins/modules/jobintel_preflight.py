#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: jobintel_preflight
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Verify the prod redaction contract, the AWS account and region, and the config contract
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
    C(receipt.v1) document (operation C(preflight), phase C(verify)) that the collection's action plugin writes.
  - In V(report) mode a failed check does not fail the task; the line is C(preflight status=warn reason=<token>).
  - The collection's action plugin also runs M(signalcraft.ops.aws_account_guard) before the first AWS module of a
    play, so a wrong account may be refused there first (C(account_guard status=fail reason=account_mismatch)).
  - Reads only; never changes anything, so check mode runs every check.
options:
  mode:
    description:
      - V(verify) fails the task when a check fails. V(report) returns the same result without failing
        (status C(warn) with the failing check's reason).
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
seealso:
  - module: signalcraft.ops.aws_account_guard
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.read_only]
"""

EXAMPLES = r"""
- name: Verify the prod redaction contract and config contract (names only)
  signalcraft.ops.jobintel_preflight:
    deployment_env: prod
    expected_account_id: "111122223333"
    region: us-east-1
    redaction_enforce: "{{ jobintel_workload_env.REDACTION_ENFORCE | default(omit) }}"
    workload_env_names: "{{ jobintel_workload_env.keys() | list }}"
    required_config_names: [JOBINTEL_S3_BUCKET, JOBINTEL_S3_PREFIX, OPENAI_API_KEY]
    task_definition: jobintel-daily
  register: preflight

- name: Report without failing, against a local emulator
  signalcraft.ops.jobintel_preflight:
    mode: report
    deployment_env: local
    expected_account_id: "111122223333"
    endpoint_url: http://127.0.0.1:5000
  register: preflight_report

- name: Print the status line
  ansible.builtin.debug:
    msg: "{{ preflight_report.token_line }} missing={{ preflight_report.outputs.missing_config_names | join(',') }}"
"""

RETURN = r"""
status:
  description: C(ok) when every check passed, C(fail) when one failed in V(verify) mode, C(warn) when one failed in V(report) mode.
  returned: always
  type: str
  sample: fail
outputs:
  description: Each check and what it found (names only, never values).
  returned: always
  type: dict
  contains:
    checks:
      description: Each check with C(name), C(status) (ok, fail, skipped), C(reason) and a human C(detail).
      returned: when the checks ran
      type: list
      elements: dict
      sample: [{"name": "redaction_contract", "status": "fail", "reason": "redaction_not_enforced", "detail": "..."}]
    missing_config_names:
      description: Required names absent from the workload environment (names only).
      returned: when the checks ran
      type: list
      elements: str
      sample: [OPENAI_API_KEY]
    identity:
      description: The caller's account and ARN and the region in use.
      returned: when check_identity
      type: dict
      sample: {"account": "111122223333", "arn": "arn:aws:iam::111122223333:user/ops", "region": "us-east-1"}
    task_definition_arn:
      description: The task definition revision whose environment was read.
      returned: when task_definition is given
      type: str
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import preflight
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
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
)
_RECEIPT_INPUTS = ["mode", "deployment_env", "workload_env_names", "required_config_names", "task_definition",
                   "expected_account_id", "expected_region", "region", "endpoint_url"]


def run(ops):
    params = ops.params
    checks, outputs = [], {}
    if params["check_identity"]:
        caller = ops.client("sts").get_caller_identity()
        region = ops.connection("aws").region
        identity = {"account": caller["Account"], "arn": caller["Arn"], "region": region}
        outputs["identity"] = identity
        checks.append(preflight.identity_check(identity, region, params["expected_account_id"],
                                               params["expected_region"] or params["region"]))
    tdef = None
    if params["task_definition"]:
        tdef = preflight.task_definition_env(ops.client("ecs"), params["task_definition"], params["container_name"])
        outputs["task_definition_arn"] = tdef["arn"]
    flag = params["redaction_enforce"]
    if flag is None and tdef is not None:
        flag = tdef["redaction_enforce"]
    checks.append(preflight.redaction_check(params["deployment_env"], flag))
    present = set(params["workload_env_names"]) | set(tdef["names"] if tdef else [])
    contract, missing = preflight.config_contract_check(params["required_config_names"], present)
    checks.append(contract)
    outputs.update(checks=checks, missing_config_names=missing)

    status, reason = preflight.summarize(checks)
    if status == "ok":
        return dict(changed=False, outputs=outputs)
    details = "; ".join(c["detail"] for c in checks if c["status"] == "fail")
    return dict(changed=False, status="fail" if params["mode"] == "verify" else "warn", reason=reason, message=details, outputs=outputs)


def main():
    OpsModule(ARGUMENT_SPEC, operation="preflight", phase="verify", status_key="preflight", connections=[AwsConnection],
              receipt_inputs=_RECEIPT_INPUTS).run(run)


if __name__ == "__main__":
    main()
