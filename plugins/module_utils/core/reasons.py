# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one registry of failure tokens (``reason``): what each means and what the operator does next.

Operators, cron jobs and AWX grep ``status=fail reason=<token>`` lines, so a token is a contract:
tests/unit/test_reasons.py fails when a module, role or doc uses a token not registered here, and
docs/tokens.md is generated from this table (``make docs-tokens``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# token: (meaning, next step)
REASONS = {
    "account_mismatch": ("The AWS caller is not in the inventory's account.",
                         "Use credentials for signalcraft_expected_account_id, or fix the inventory."),
    "region_mismatch": ("The configured region is not the inventory's expected region.",
                        "Set signalcraft_aws_region (or AWS_REGION) to signalcraft_expected_region."),
    "expected_account_unset": ("signalcraft_expected_account_id is empty, so the account cannot be checked.",
                               "Set signalcraft_expected_account_id in inventories/<env>/group_vars/all/main.yml."),
    "expected_account_invalid": ("signalcraft_expected_account_id is not a 12-digit account id.",
                                 "Fix signalcraft_expected_account_id in the inventory."),
    "inventory_placeholder": ("An inventory value is still a REPLACE_... placeholder.",
                              "Fill in the named variable in inventories/<env>/group_vars/all/."),
    "access_denied": ("AWS refused the call for this identity (IAM, bucket policy, SCP or KMS).",
                      "Grant the named action to the role the run uses, or use the right role."),
    "aws_error": ("An AWS call failed for a reason that is not a refusal or a missing resource.",
                  "Read the AWS error code in the message; rerun when it was transient."),
    "aws_config_invalid": ("The AWS connection settings cannot build a client.",
                           "Fix signalcraft_aws_region / profile / endpoint in the inventory."),
    "region_unset": ("No AWS region is configured.", "Set signalcraft_aws_region in the inventory or AWS_REGION."),
    "k8s_forbidden": ("The Kubernetes API refused the call (RBAC) for the kubeconfig's identity.",
                      "Grant the verb on the resource in the namespace, or use a kubeconfig that has it."),
    "k8s_error": ("A Kubernetes API call failed.", "Read the API status in the message; rerun when it was transient."),
    "kubeconfig_invalid": ("The kubeconfig is missing or unreadable.", "Pass the path of a readable kubeconfig."),
    "missing_dependency": ("A Python library the module needs is not installed on the controller.",
                           "Install the named library in the Python that runs Ansible (make setup)."),
    "module_error": ("The module failed unexpectedly; the receipt keeps the exception.",
                     "Report it with the receipt; rerun once the cause is fixed."),
    "confirmation_missing": ("The typed confirmation is missing or not exactly what was asked for.",
                             "Pass the confirmation the message names (-e ..._confirm=<value>)."),
}


def meaning(token):
    return REASONS[token][0]


def next_step(token):
    return REASONS[token][1]


def is_registered(token):
    return token in REASONS
