# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SSM Parameter Store: read a parameter and its history, write a new version, label versions.

What the API does that the callers rely on (AWS Systems Manager API reference):

- ``PutParameter`` with ``Overwrite=true`` always creates a new version, even for the same value,
  so a converging caller compares first and writes only a difference;
- a parameter keeps at most 100 versions: the oldest is deleted on the 101st write, unless it carries
  a label, in which case ``PutParameter`` fails with ``ParameterMaxVersionLimitExceeded``;
- ``GetParameterHistory`` pages by ``NextToken`` (``MaxResults`` at most 50) and returns every version
  with its ``Labels``; a label belongs to one version at a time (labelling another version moves it),
  and may not start with ``aws``/``ssm`` or a digit;
- names: ``a-zA-Z0-9_.-`` and ``/`` for hierarchies (a hierarchical name starts with ``/``), at most
  1011 characters and 15 levels, never prefixed ``aws``/``ssm``.

Only ``String`` parameters are handled: a ``SecureString`` would need ``kms:Decrypt`` and its value
kept out of every receipt, and a flag or a model version is no secret.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import refuse_placeholder
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import error_code

_NAME = re.compile(r"^[A-Za-z0-9_.\-/]{1,1011}$")
_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,99}$")
HISTORY_PAGE = 50
MAX_VERSIONS = 100


def validate_name(name, variable):
    """Refuse a name Parameter Store would refuse (or an inventory placeholder), naming ``variable``."""
    name = name or ""
    refuse_placeholder(name, variable, "inventories/<env>/group_vars/all/db_ops.yml")
    bare = name.lstrip("/")
    problems = []
    if not _NAME.match(name) or "//" in name or name.endswith("/"):
        problems.append("use only a-zA-Z0-9_.- and '/' between levels")
    if "/" in bare and not name.startswith("/"):
        problems.append("a hierarchical name starts with '/'")
    if bare.lower().startswith(("aws", "ssm")):
        problems.append("it may not start with aws or ssm")
    if name.count("/") > 15:
        problems.append("at most 15 levels")
    if problems:
        raise OpsError("invalid_input", "%s %r is not a Parameter Store name (%s)." % (variable, name, "; ".join(problems)))
    return name


def validate_label(label, variable):
    if not _LABEL.match(label or "") or label.lower().startswith(("aws", "ssm")):
        raise OpsError("invalid_input", "%s %r is not a parameter label (a letter first, then a-zA-Z0-9_.-, at most 100, "
                       "not starting with aws or ssm)." % (variable, label))
    return label


def parameter_state(parameter):
    """The fields of a parameter (GetParameter's or one history entry) the containment moves use."""
    return {
        "name": parameter.get("Name"),
        "type": parameter.get("Type"),
        "value": parameter.get("Value"),
        "version": int(parameter.get("Version") or 0),
        "last_modified": parameter.get("LastModifiedDate"),
        "arn": parameter.get("ARN"),
        "labels": list(parameter.get("Labels") or []),
    }


def _not_found(name, variable):
    return OpsError("parameter_not_found", "SSM parameter %r does not exist in this account and region; the parameter is "
                    "provisioned with the service (infrastructure code), not by this playbook: fix %s or create it with "
                    "its current value first." % (name, variable))


def get_parameter(ssm, name, variable="the parameter"):
    """GetParameter of a ``String`` parameter; ``parameter_not_found`` / ``parameter_type_unsupported`` otherwise."""
    try:
        parameter = ssm.get_parameter(Name=name)["Parameter"]
    except Exception as exc:  # botocore ClientError; its class lives on the client
        if error_code(exc) == "ParameterNotFound":
            raise _not_found(name, variable)
        raise
    state = parameter_state(parameter)
    if state["type"] != "String":
        raise OpsError("parameter_type_unsupported", "SSM parameter %r is a %s; the containment moves only change String "
                       "parameters (a flag or a version is no secret)." % (name, state["type"]))
    return state


def history(ssm, name, variable="the parameter"):
    """Every stored version of the parameter (oldest first, by version number), each with its labels."""
    versions = []
    kwargs = {"Name": name, "MaxResults": HISTORY_PAGE}
    while True:
        try:
            page = ssm.get_parameter_history(**kwargs)
        except Exception as exc:  # botocore ClientError
            if error_code(exc) == "ParameterNotFound":
                raise _not_found(name, variable)
            raise
        versions.extend(parameter_state(p) for p in page.get("Parameters") or [])
        token = page.get("NextToken")
        if not token:
            break
        kwargs["NextToken"] = token
    return sorted(versions, key=lambda v: v["version"])


def put_value(ssm, name, value):
    """PutParameter (Overwrite) of a new String version; returns the new version number.

    Only the name, the value and the type (String, as it is) are sent: never a description, allowed
    pattern, tier or policy, which belong to whoever provisions the parameter.
    """
    try:
        return int(ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)["Version"])
    except Exception as exc:  # botocore ClientError
        code = error_code(exc)
        if code == "ParameterMaxVersionLimitExceeded":
            raise OpsError("parameter_version_limit", "SSM parameter %r holds %d versions and its oldest carries a label, so "
                           "Parameter Store refuses a new version; move or remove that label (aws ssm "
                           "unlabel-parameter-version) and rerun." % (name, MAX_VERSIONS))
        if code == "ParameterPatternMismatchException":
            raise OpsError("parameter_pattern_mismatch", "the value %r does not match the AllowedPattern of SSM parameter %r; "
                           "fix the value in the inventory (or the parameter's pattern)." % (value, name))
        raise


def put_and_read_back(ssm, current, value):
    """PutParameter, then GetParameter of exactly the new version (``name:version``); ``current`` as written.

    Reading the version just written (not the latest) proves the write landed as sent even when
    another writer follows at once.
    """
    name = current["name"]
    version = put_value(ssm, name, value)
    written = get_parameter(ssm, "%s:%d" % (name, version), name)
    if written["value"] != value:
        raise OpsError("parameter_readback_mismatch", "SSM parameter %r version %d reads %r right after it was written as %r; "
                       "read its history (aws ssm get-parameter-history) before acting again." % (name, version, written["value"], value),
                       changed_so_far=True)
    return dict(current, value=value, version=version, last_modified=written["last_modified"], labels=[])


def label_version(ssm, name, version, label):
    """LabelParameterVersion: put ``label`` on ``version`` (moving it from any other version)."""
    response = ssm.label_parameter_version(Name=name, ParameterVersion=int(version), Labels=[label])
    if response.get("InvalidLabels"):
        raise OpsError("invalid_input", "Parameter Store refused the label %r on %s version %d." % (label, name, int(version)))


def unlabel_version(ssm, name, version, label):
    """UnlabelParameterVersion: remove ``label`` from ``version`` (so a version does not keep a label forever)."""
    ssm.unlabel_parameter_version(Name=name, ParameterVersion=int(version), Labels=[label])


def references(valueFrom, name):
    """Whether an ECS ``secrets[].valueFrom`` names the parameter ``name`` (by name or by ARN).

    ECS takes the name for a parameter in the task's region, or the ARN
    ``arn:<partition>:ssm:<region>:<account>:parameter/<name without its leading slash>``.
    """
    text = valueFrom or ""
    if text == name:
        return True
    match = re.match(r"^arn:[a-z-]+:ssm:[a-z0-9-]*:[0-9]*:parameter(/.*)$", text)
    return bool(match) and match.group(1).lstrip("/") == name.lstrip("/")
