#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: db_prod_config_contract
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Check that the prod config contract's required names are set, by name only
description:
  - Replaces C(python -m tools.prod_config_contract --mode=prod_required) of the DB-backed service runbook.
  - A required name is present when the environment the module runs in has it with a non-empty
    value (what cron, CI secrets or an AWX credential inject into C(ansible-playbook)), or when it
    is listed in O(present_names) (names the inventory overlay sets).
  - Returns C(prod_config status=ok), or C(prod_config status=fail reason=missing_env) with the
    missing names. Values are only tested for emptiness; they are never returned, logged or written
    to the receipt.
  - With O(mode=prod_required) the task fails when a name is missing (RV(outputs.exit_code) 1);
    O(mode=report) reports the same finding as C(prod_config status=warn reason=missing_env) and does
    not fail (RV(outputs.exit_code) 0).
  - The receipt has operation C(prod_config_contract) and phase C(prod_config); the collection's
    action plugin writes it.
  - Reads only; runs fully in check mode.
options:
  mode:
    description:
      - V(prod_required) fails on a missing name; V(report) only reports (status C(warn)).
      - The role sets it from C(db_ops_config_mode).
    type: str
    choices: [prod_required, report]
    default: prod_required
  required_names:
    description:
      - Environment variable names the service needs in prod. Names only, never values.
      - The role sets it from C(db_ops_required_env_names).
    type: list
    elements: str
    required: true
  present_names:
    description:
      - Names set by other means (an inventory overlay, a task definition). Names only.
      - The role sets it from C(db_ops_present_env_names).
    type: list
    elements: str
    default: []
  check_environment:
    description: Count names set (non-empty) in the environment the module runs in.
    type: bool
    default: true
seealso:
  - module: signalcraft.ops.jobintel_preflight
extends_documentation_fragment: [signalcraft.ops.receipt, signalcraft.ops.read_only]
"""

EXAMPLES = r"""
- name: Validate the prod config contract (names only)
  signalcraft.ops.db_prod_config_contract:
    required_names: [DATABASE_URL, DELIVERY_API_TOKEN, REDACTION_ENFORCE]
  register: prod_config

- name: Print the status line
  ansible.builtin.debug:
    msg: "{{ prod_config.token_line }}"
"""

RETURN = r"""
status:
  description: C(ok), C(fail) (O(mode=prod_required)) or C(warn) (O(mode=report)) when a name is missing.
  returned: always
  type: str
outputs:
  description: What the contract found (names only).
  returned: always
  type: dict
  contains:
    exit_code:
      description: The runbook's exit code (0 ok or report mode, 1 fail); C(scripts/ops_db.py) exits with it.
      returned: always
      type: int
    mode:
      description: The mode that ran.
      returned: always
      type: str
    missing_names:
      description: Required names that are not set (names only).
      returned: when the names were valid
      type: list
      elements: str
      sample: [DELIVERY_API_TOKEN]
    required_count:
      description: How many distinct names are required.
      returned: when the names were valid
      type: int
    present_count:
      description: How many required names are present.
      returned: when the names were valid
      type: int
    sources:
      description: For each present name, where it was found (C(environment), C(declared)).
      returned: when the names were valid
      type: dict
      sample: {"DATABASE_URL": ["environment"]}
"""

import os

from ansible_collections.signalcraft.ops.plugins.module_utils.core import status_line
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks import config_contract

ARGUMENT_SPEC = dict(
    mode=dict(type="str", choices=list(config_contract.MODES), default="prod_required"),
    required_names=dict(type="list", elements="str", required=True),
    present_names=dict(type="list", elements="str", default=[]),
    check_environment=dict(type="bool", default=True),
)


def run(ops):
    params = ops.params
    try:
        # Named as the operator sets them; the entries themselves are never echoed (a pasted value).
        config_contract.validate_names(params["required_names"], "db_ops_required_env_names")
        config_contract.validate_names(params["present_names"], "db_ops_present_env_names")
    except config_contract.ContractInputError as exc:
        exc.details = dict(exc.details, mode=params["mode"], exit_code=status_line.EXIT_FAIL)
        raise
    result = config_contract.evaluate(params["required_names"], os.environ if params["check_environment"] else {},
                                      params["present_names"], params["mode"])
    outputs = {k: result[k] for k in ("exit_code", "missing_names", "required_count", "present_count", "sources")}
    outputs["mode"] = params["mode"]
    if not result["missing_names"]:
        return dict(outputs=outputs)
    message = "required names not set: %s; set them (names only) in the environment of ansible-playbook or list them in " \
              "db_ops_present_env_names." % ", ".join(result["missing_names"])
    if params["mode"] == "report":
        return dict(status="warn", reason=result["reason"], outputs=outputs,
                    message=message + " Report mode (db_ops_config_mode=report): exit code 0.")
    return dict(status="fail", reason=result["reason"], outputs=outputs, message=message)


def main():
    OpsModule(ARGUMENT_SPEC, operation="prod_config_contract", phase=config_contract.KEY).run(run)


if __name__ == "__main__":
    main()
