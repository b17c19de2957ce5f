"""IAM ``SimulatePrincipalPolicy``, which moto 5.2.5 does not implement (its IAM responses have no such action).

Evaluated like IAM's policy simulator for identity-based policies: every inline and attached managed
policy of the role, or of the user and its groups (plus ``PolicyInputList``), decides each
(action, resource) pair -- an explicit ``Deny`` wins (``explicitDeny``), else an ``Allow`` (``allowed``),
else ``implicitDeny``. ``Action``/``NotAction`` match case-insensitively with ``*``/``?`` wildcards,
``Resource``/``NotResource`` case-sensitively. Without ``ResourceArns`` the resource is ``*``.

Not modelled (documented in the README): ``Condition`` blocks (a statement with one never matches, as
when the simulation supplies no context values), permissions boundaries, SCPs and resource policies.

The caller needs ``iam:SimulatePrincipalPolicy`` on the simulated principal, as in IAM: a caller
holding moto-issued credentials (an assumed role or an IAM user's access key) is evaluated the same
way and answered 403 ``AccessDenied`` when its policies do not allow it. The sandbox's anonymous
caller (any other key; moto names it ``arn:aws:sts::<account>:user/moto``) stands for the sandbox
administrator: it may simulate anything, and simulating it allows everything.
"""

import fnmatch
import json
import re
import uuid
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from .protocol_errors import _query_error

PARTITION = "aws"
_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
_AKID_RE = re.compile(r"Credential=([^/,\s]+)/")


def is_simulation(info):
    return info.service == "iam" and info.operation == "SimulatePrincipalPolicy"


def _listed(params, name):
    prefix = name + ".member."
    items = sorted(((int(k[len(prefix):]), v[0]) for k, v in params.items() if k.startswith(prefix)), key=lambda kv: kv[0])
    return [v for _n, v in items]


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _load(document):
    if isinstance(document, dict):
        return document
    try:
        return json.loads(document)
    except ValueError:
        return json.loads(unquote(document))


def _wildcard(pattern, value, case_sensitive):
    regex = fnmatch.translate(pattern)  # '*' and '?' are IAM's wildcards; '[' does not occur in ARNs or actions
    return re.match(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _matches(statement, action, resource):
    if "Condition" in statement:
        return False
    if "Action" in statement:
        ok = any(_wildcard(p, action, False) for p in _as_list(statement["Action"]))
    else:
        ok = not any(_wildcard(p, action, False) for p in _as_list(statement.get("NotAction")))
    if not ok:
        return False
    if "Resource" in statement:
        return any(_wildcard(p, resource, True) for p in _as_list(statement["Resource"]))
    return not any(_wildcard(p, resource, True) for p in _as_list(statement.get("NotResource")))


def evaluate(documents, action, resource):
    """``(decision, matched_statement_ids)`` for one pair over ``[(source_id, document), ...]``."""
    allowed, denied = [], []
    for source, document in documents:
        for statement in _as_list(_load(document).get("Statement")):
            if _matches(statement, action, resource):
                (denied if statement.get("Effect") == "Deny" else allowed).append(source)
    if denied:
        return "explicitDeny", denied
    if allowed:
        return "allowed", allowed
    return "implicitDeny", []


def _managed_document(policy):
    for version in getattr(policy, "versions", []):
        if getattr(version, "is_default", False):
            return version.document
    return getattr(policy, "document", "{}")


def _entity_documents(entity):
    docs = list(entity.policies.items())
    docs += [(arn, _managed_document(policy)) for arn, policy in entity.managed_policies.items()]
    return docs


class _NoSuchEntity(Exception):
    pass


def _principal_documents(account_id, arn):
    """Identity policies of a role or user ARN; None for the sandbox's anonymous administrator."""
    from moto.iam.models import iam_backends  # pylint: disable=import-outside-toplevel
    from moto.core.exceptions import ServiceException  # pylint: disable=import-outside-toplevel

    if arn == "arn:%s:sts::%s:user/moto" % (PARTITION, account_id):
        return None
    backend = iam_backends[account_id][PARTITION]
    kind = arn.split(":", 5)[-1] if arn.count(":") >= 5 else ""
    name = kind.rsplit("/", 1)[-1]
    try:
        if arn.startswith("arn:%s:iam::" % PARTITION) and kind.startswith("role/"):
            role = backend.get_role(name)
            if role.arn != arn:  # the path is part of a role's ARN
                raise _NoSuchEntity()
            return _entity_documents(role)
        if arn.startswith("arn:%s:iam::" % PARTITION) and kind.startswith("user/"):
            user = backend.get_user(name)
            if user.arn != arn:
                raise _NoSuchEntity()
            docs = _entity_documents(user)
            for group in backend.get_groups_for_user(name):
                docs += _entity_documents(group)
            return docs
    except ServiceException:
        raise _NoSuchEntity()
    raise _NoSuchEntity()


def _caller_arn(environ):
    """The ARN behind the request's access key, as GetCallerIdentity would answer."""
    from moto.sts.models import sts_backends  # pylint: disable=import-outside-toplevel
    from moto.iam.models import iam_backends  # pylint: disable=import-outside-toplevel

    match = _AKID_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    akid = match.group(1) if match else ""
    for account in list(sts_backends.keys()):
        backend = sts_backends[account].get(PARTITION) if hasattr(sts_backends[account], "get") else None
        assumed = backend.get_assumed_role_from_access_key(akid) if backend is not None else None
        if assumed is not None:
            role_name = assumed.role_arn.rsplit("/", 1)[-1]
            return assumed.arn, iam_backends[assumed.account_id][PARTITION].get_role(role_name).arn
    for account in list(iam_backends.keys()):
        user = iam_backends[account][PARTITION].get_user_from_access_key_id(akid)
        if user is not None:
            return user.arn, user.arn
    return None, None


def answer(environ, body, account_id):
    """The complete response ``(status, headers, body)`` for a SimulatePrincipalPolicy request."""
    params = parse_qs((body or b"").decode("utf-8", "replace"), keep_blank_values=True)
    source = (params.get("PolicySourceArn") or [""])[0]
    actions = _listed(params, "ActionNames")
    resources = _listed(params, "ResourceArns") or ["*"]
    extra = [("PolicyInputList.%d" % (i + 1), doc) for i, doc in enumerate(_listed(params, "PolicyInputList"))]
    if not source or not actions:
        return _query_error(400, "InvalidInput", "PolicySourceArn and ActionNames are required.")
    caller, caller_principal = _caller_arn(environ)
    if caller_principal is not None:
        decision, _m = evaluate(_principal_documents(account_id, caller_principal), "iam:SimulatePrincipalPolicy", source)
        if decision != "allowed":
            return _query_error(403, "AccessDenied", "User: %s is not authorized to perform: iam:SimulatePrincipalPolicy on resource: %s"
                                % (caller, source))
    try:
        documents = _principal_documents(account_id, source)
    except _NoSuchEntity:
        return _query_error(404, "NoSuchEntity", "The principal %s cannot be found." % source)
    members = []
    for action in actions:
        for resource in resources:
            if documents is None:
                decision, matched = "allowed", []
            else:
                decision, matched = evaluate(documents + extra, action, resource)
            statements = "".join("<member><SourcePolicyId>%s</SourcePolicyId><SourcePolicyType>IAM Policy</SourcePolicyType></member>"
                                 % escape(m) for m in matched)
            members.append("<member><EvalActionName>%s</EvalActionName><EvalResourceName>%s</EvalResourceName>"
                           "<EvalDecision>%s</EvalDecision><MatchedStatements>%s</MatchedStatements>"
                           "<MissingContextValues></MissingContextValues></member>"
                           % (escape(action), escape(resource), decision, statements))
    xml = ('<SimulatePrincipalPolicyResponse xmlns="%s"><SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated>'
           "<EvaluationResults>%s</EvaluationResults></SimulatePrincipalPolicyResult>"
           "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>"
           % (_NS, "".join(members), uuid.uuid4())).encode("utf-8")
    return "200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(xml)))], xml
