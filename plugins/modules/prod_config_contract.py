#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: prod_config_contract
short_description: Check that the prod config contract's required names are set, by name only
version_added: "0.1.0"
description:
  - Replaces C(python -m tools.prod_config_contract --mode=prod_required) of the DB-backed service runbook.
  - A required name is present when the environment the module runs in has it with a non-empty
    value (what cron, CI secrets or an AWX credential inject into C(ansible-playbook)), or when it
    is listed in O(present_names) (names the inventory overlay sets).
  - Returns C(prod_config status=ok) or C(prod_config status=fail reason=missing_env) with the
    missing names. Values are only tested for emptiness; they are never returned, logged or written
    to the receipt.
  - With O(mode=prod_required) the task fails when a name is missing (C(exit_code=1));
    O(mode=report) reports the same result with C(exit_code=0).
  - Reads only; runs fully in check mode.
author:
  - signalcraft maintainers (@signalcraft)
options:
  mode:
    description: V(prod_required) fails on a missing name; V(report) only reports.
    type: str
    choices: [prod_required, report]
    default: prod_required
  required_names:
    description: Environment variable names the service needs in prod. Names only, never values.
    type: list
    elements: str
    required: true
  present_names:
    description: Names set by other means (an inventory overlay, a task definition). Names only.
    type: list
    elements: str
    default: []
  check_environment:
    description: Count names set (non-empty) in the environment the module runs in.
    type: bool
    default: true
extends_documentation_fragment:
  - signalcraft.ops.receipt
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Nothing is changed.
seealso:
  - module: signalcraft.ops.preflight
"""

EXAMPLES = r"""
- name: Validate the prod config contract (names only)
  signalcraft.ops.prod_config_contract:
    required_names: [DATABASE_URL, DELIVERY_API_TOKEN, REDACTION_ENFORCE]
  register: prod_config
"""

RETURN = r"""
status:
  description: C(ok) or C(fail).
  returned: always
  type: str
reason:
  description: C(missing_env) when a required name is missing, otherwise null.
  returned: always
  type: str
token_line:
  description: The stable status line.
  returned: always
  type: str
  sample: prod_config status=fail reason=missing_env
exit_code:
  description: The runbook's exit code (0 ok or report mode, 1 fail).
  returned: always
  type: int
missing_names:
  description: Required names that are not set (names only).
  returned: always
  type: list
  elements: str
  sample: [DELIVERY_API_TOKEN]
required_count:
  description: How many distinct names are required.
  returned: always
  type: int
present_count:
  description: How many required names are present.
  returned: always
  type: int
sources:
  description: For each present name, where it was found (C(environment), C(declared)).
  returned: always
  type: dict
  sample: {"DATABASE_URL": ["environment"]}
receipt:
  description: A receipt.v1 document (operation C(db_ops), phase C(prod_config)).
  returned: always
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks import config_contract
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mode=dict(type="str", choices=list(config_contract.MODES), default="prod_required"),
            required_names=dict(type="list", elements="str", required=True),
            present_names=dict(type="list", elements="str", default=[]),
            check_environment=dict(type="bool", default=True),
            execution_id=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    started = receipts.utc_now()
    try:
        result = config_contract.evaluate(params["required_names"], os.environ if params["check_environment"] else {},
                                          params["present_names"], params["mode"])
    except config_contract.ContractInputError as exc:
        module.fail_json(msg="prod_config status=fail reason=invalid_input: %s" % exc, status="fail", reason="invalid_input",
                         token_line="prod_config status=fail reason=invalid_input", exit_code=1)
    result["receipt"] = receipts.build(
        "db_ops", "prod_config", "success" if result["exit_code"] == 0 else "failed",
        receipts.execution_id(params["execution_id"], "prod_config", started), started,
        inputs={k: params[k] for k in ("mode", "required_names", "present_names", "check_environment")},
        outputs={k: v for k, v in result.items() if k != "receipt"}, failure_code=result["reason"],
        module="signalcraft.ops.prod_config_contract",
    )
    result["changed"] = False
    if result["exit_code"] != 0:
        module.fail_json(msg="%s: required names not set: %s; set them (names only) in the environment or the inventory."
                         % (result["token_line"], ", ".join(result["missing_names"])), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
