# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Preflight checks: the prod redaction contract, account/region, and the config contract (names only).

The checks see configuration *names* and the value of ``REDACTION_ENFORCE`` only; other values
never enter this code, so they cannot leak into results, receipts or ``-vvv`` output.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError, check_account_region
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import error_code

REDACTION_FLAG = "REDACTION_ENFORCE"
DEPLOYMENT_ENVS = ("local", "dev", "staging", "prod")


def task_definition_env(ecs, task_definition, container_name=None):
    """Names in a task definition's environment and secrets, and its REDACTION_ENFORCE value.

    Returns ``{"arn", "names", "redaction_enforce"}``; values other than the flag are dropped here.
    """
    try:
        described = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    except Exception as exc:  # botocore ClientError; its class lives on the client
        error = (getattr(exc, "response", None) or {}).get("Error", {})
        if error_code(exc) not in ("ClientException", "InvalidParameterException"):
            raise
        raise GuardError("task_definition_not_found",
                         "task definition %r could not be described (%s: %s); set jobintel_task_family to an existing "
                         "family, family:revision or ARN in this account and region." % (task_definition, error.get("Code"), error.get("Message")))
    containers = described.get("containerDefinitions", [])
    if container_name:
        containers = [c for c in containers if c.get("name") == container_name]
        if not containers:
            raise GuardError("container_not_found", "task definition %s has no container named %r; fix preflight_container_name." % (
                described["taskDefinitionArn"], container_name))
    names, flag = set(), None
    for container in containers:
        for entry in container.get("environment", []):
            names.add(entry["name"])
            if entry["name"] == REDACTION_FLAG:
                flag = entry.get("value")
        for entry in container.get("secrets", []):
            names.add(entry["name"])
    return {"arn": described["taskDefinitionArn"], "names": sorted(names), "redaction_enforce": flag}


def _check(name, ok, reason=None, detail=None, skipped=False):
    status = "skipped" if skipped else ("ok" if ok else "fail")
    return {"name": name, "status": status, "reason": None if ok or skipped else reason, "detail": detail}


def identity_check(identity, region, expected_account_id, expected_region):
    try:
        check_account_region(identity["account"], region, expected_account_id, expected_region)
    except GuardError as exc:
        return _check("account_region", False, exc.reason, exc.message)
    return _check("account_region", True, detail="account %s, region %s" % (identity["account"], region))


def redaction_check(deployment_env, flag_value):
    if deployment_env != "prod":
        return _check("redaction_contract", True, detail="not required outside prod (%s=%s)" % (
            REDACTION_FLAG, "set" if flag_value == "1" else "unset"), skipped=flag_value != "1")
    if flag_value == "1":
        return _check("redaction_contract", True, detail="%s=1 in the workload environment" % REDACTION_FLAG)
    return _check("redaction_contract", False, "redaction_not_enforced",
                  "prod requires %s=1 in the workload environment (inventory overlay or task definition); found %s." % (
                      REDACTION_FLAG, "no value" if flag_value in (None, "") else "a different value"))


def config_contract_check(required_names, present_names):
    missing = sorted(set(required_names) - set(present_names))
    if missing:
        return _check("config_contract", False, "missing_config",
                      "required configuration names are missing: %s" % ", ".join(missing)), missing
    return _check("config_contract", True, detail="%d required names present" % len(required_names)), []


def summarize(checks):
    """``(status, reason)``: the first failing check's reason, in the fixed order of ``checks``."""
    for check in checks:
        if check["status"] == "fail":
            return "fail", check["reason"]
    return "ok", None
