#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: aws_account_guard
version_added: "0.2.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Refuse to go on unless the AWS caller is in the expected account and region
description:
  - Calls C(sts:GetCallerIdentity) and compares the caller's account with O(expected_account_id) and
    the configured region with O(expected_region). Fails closed - an unset, malformed or placeholder
    expected account is a refusal, not a pass.
  - The collection's action plugin runs this guard once per play before the first call of any
    AWS-facing signalcraft.ops module (and before a receipt is copied to S3), with the inventory's
    C(signalcraft_expected_account_id) and C(signalcraft_expected_region) (default
    C(signalcraft_aws_region)); playbooks need not call it themselves.
  - Read-only; runs the same way in check mode.
options:
  expected_account_id:
    description:
      - The 12-digit account id the caller must be in (inventory C(signalcraft_expected_account_id)).
    type: str
  expected_region:
    description:
      - The region the call must be configured for (inventory C(signalcraft_expected_region), else
        C(signalcraft_aws_region)). Unset means any region.
    type: str
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.read_only]
"""

EXAMPLES = r"""
- name: Refuse to continue outside the production account
  signalcraft.ops.aws_account_guard:
    expected_account_id: "{{ signalcraft_expected_account_id }}"
    expected_region: us-east-1
"""

RETURN = r"""
status:
  description: C(ok) or C(fail).
  returned: always
  type: str
outputs:
  description: C(account), C(arn) and C(region) of the caller, and the expected values.
  returned: always
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError, check_account_region
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    expected_account_id=dict(type="str"),
    expected_region=dict(type="str"),
)


def run(ops):
    expected = (ops.params["expected_account_id"] or "").strip()
    if "REPLACE" in expected.upper():
        raise GuardError("inventory_placeholder",
                         "signalcraft_expected_account_id is still the placeholder %r; fill in the account id in "
                         "inventories/<env>/group_vars/all/main.yml before running against this environment." % expected)
    if not expected:
        raise GuardError("expected_account_unset",
                         "signalcraft_expected_account_id is not set; set it in the inventory so the caller's account "
                         "can be checked before anything is written.")
    connection = ops.connection("aws")
    identity = connection.factory.caller_identity()
    outputs = dict(account=identity["account"], arn=identity["arn"], region=connection.region,
                   expected_account_id=expected, expected_region=ops.params["expected_region"])
    try:
        check_account_region(identity["account"], connection.region, expected, ops.params["expected_region"])
    except GuardError as exc:
        exc.details.update(outputs)
        raise
    return dict(outputs=outputs, line=[("account", identity["account"]), ("region", connection.region)])


def main():
    OpsModule(ARGUMENT_SPEC, operation="guard", phase="account_guard", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
