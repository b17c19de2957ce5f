# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IAM policy simulation: may this principal do these actions on these resources? (reads only)

``iam:SimulatePrincipalPolicy`` evaluates the identity-based policies of a user, group or role -- not
an STS session. ``sts:GetCallerIdentity`` answers an assumed role as
``arn:aws:sts::<account>:assumed-role/<role>/<session>``; the policies belong to
``arn:aws:iam::<account>:role/<role>``. The session ARN carries no role path, so a role created with a
path (``role/service/x``) must be named explicitly (``principal_override``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError

_ARN_RE = re.compile(r"^arn:(?P<partition>[a-z-]+):(?P<service>iam|sts)::(?P<account>\d{12}):(?P<resource>.+)$")
# SimulatePrincipalPolicy takes at most this many resource ARNs per call (documented limit of ResourceArns is not
# fixed; keep calls small so one denial names few pairs and each call stays well under the 2048-char ARN limit).
_RESOURCES_PER_CALL = 20


def policy_source_arn(caller_arn, override=None):
    """The ARN whose policies decide what ``caller_arn`` may do; raises ``iam_principal_unsupported``."""
    if override:
        if not _ARN_RE.match(override) or ":iam::" not in override:
            raise OpsError("iam_principal_unsupported", "retention_iam_principal_arn %r is not an IAM user or role ARN "
                           "(arn:aws:iam::<account>:role/<name>)." % override)
        return override
    match = _ARN_RE.match(caller_arn or "")
    if not match:
        raise OpsError("iam_principal_unsupported", "The caller %r is not an IAM or STS principal ARN." % caller_arn)
    resource = match.group("resource")
    if match.group("service") == "sts" and resource.startswith("assumed-role/"):
        role = resource.split("/")[1]
        return "arn:%s:iam::%s:role/%s" % (match.group("partition"), match.group("account"), role)
    if resource == "root" or resource.startswith("federated-user/"):
        raise OpsError("iam_principal_unsupported", "The caller %s cannot be simulated (IAM simulates users, groups and roles); "
                       "run as the retention role or pass -e retention_iam_principal_arn=<role ARN>." % caller_arn)
    return caller_arn


def simulate(iam, principal, pairs):
    """SimulatePrincipalPolicy for ``[(action, resource), ...]``: ``[{action, resource, decision}]``.

    Pairs are grouped by action (one call evaluates every action x resource of the call). The
    caller needs ``iam:SimulatePrincipalPolicy`` on ``principal``; its AccessDenied propagates.
    """
    by_action = {}
    for action, resource in pairs:
        by_action.setdefault(action, [])
        if resource not in by_action[action]:
            by_action[action].append(resource)
    results = []
    for action in sorted(by_action):
        resources = by_action[action]
        for start in range(0, len(resources), _RESOURCES_PER_CALL):
            kwargs = {"PolicySourceArn": principal, "ActionNames": [action], "ResourceArns": resources[start:start + _RESOURCES_PER_CALL]}
            for page in iam.get_paginator("simulate_principal_policy").paginate(**kwargs):
                for item in page.get("EvaluationResults", []):
                    results.append({"action": item["EvalActionName"], "resource": item.get("EvalResourceName", "*"),
                                    "decision": item["EvalDecision"]})
    return results


def denied(required, results):
    """The required ``(action, resource)`` pairs the simulation did not allow, with their decision.

    Pure: a pair missing from the results counts as denied (fail closed), so does any decision other
    than ``allowed`` (``implicitDeny``, ``explicitDeny``).
    """
    decisions = {(r["action"].lower(), r["resource"]): r["decision"] for r in results}
    out = []
    for action, resource in required:
        decision = decisions.get((action.lower(), resource), "not_evaluated")
        if decision != "allowed":
            out.append({"action": action, "resource": resource, "decision": decision})
    return out
