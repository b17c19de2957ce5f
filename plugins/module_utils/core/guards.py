# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guards: checks that must pass before anything is written, and that fail closed.

Each guard raises ``GuardError`` with a stable ``reason`` token (used in ``status=fail reason=...``
lines and receipts' ``failure_code``) and a message that names the bad input and the fix.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError


class GuardError(OpsError):
    """A guard refused to proceed before anything was written. ``reason`` is a registered token."""


_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# registry host[:port]/path/name(:tag)?(@sha256:hex)?  -- the docker reference grammar, simplified.
_IMAGE_REF = re.compile(
    # The first component is a registry only when it looks like a host (a dot, a port or localhost).
    r"^(?:(?P<registry>(?:[a-zA-Z0-9-]+\.)+[a-zA-Z0-9-]+(?::[0-9]+)?|[a-zA-Z0-9-]+:[0-9]+|localhost)/)?"
    r"(?P<repository>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?"
    r"(?:@(?P<digest>[a-z0-9]+:[A-Za-z0-9]+))?$"
)
_ECR_HOST = re.compile(r"^(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_account_region(actual_account, actual_region, expected_account_id, expected_region):
    """Refuse to act in the wrong AWS account or region."""
    if not expected_account_id:
        raise GuardError("expected_account_unset",
                         "expected_account_id is not set; set it in the inventory (group_vars) so the caller's account can be checked.")
    if not _ACCOUNT_ID.match(str(expected_account_id)):
        raise GuardError("expected_account_invalid",
                         "expected_account_id %r is not a 12-digit AWS account id." % (expected_account_id,))
    if str(actual_account) != str(expected_account_id):
        raise GuardError("account_mismatch",
                         "caller account %s is not expected_account_id %s; use credentials for the right account." % (
                             actual_account, expected_account_id))
    if expected_region and actual_region != expected_region:
        raise GuardError("region_mismatch",
                         "region %s is not the expected region %s; set region (or AWS_REGION) to %s." % (
                             actual_region, expected_region, expected_region))


def parse_image_ref(ref):
    """Split an image reference into registry, repository, tag and digest.

    ``{"registry", "repository", "tag", "digest", "pinned", "ecr_account", "ecr_region"}``; raises
    GuardError(reason=image_ref_invalid) when it is not a valid reference.
    """
    if not isinstance(ref, str) or not ref.strip():
        raise GuardError("image_ref_missing", "image_ref is empty; give <repo>@sha256:<64 hex>.")
    match = _IMAGE_REF.match(ref.strip())
    if not match:
        raise GuardError("image_ref_invalid", "image_ref %r is not a valid image reference (<registry>/<repo>@sha256:<64 hex>)." % ref)
    parts = match.groupdict()
    digest = parts["digest"]
    if digest is not None and not _DIGEST.match(digest):
        raise GuardError("image_ref_invalid", "image_ref %r has a malformed digest; expected sha256: and 64 lowercase hex digits." % ref)
    ecr = _ECR_HOST.match(parts["registry"] or "")
    return {
        "registry": parts["registry"],
        "repository": parts["repository"],
        "tag": parts["tag"],
        "digest": digest,
        "pinned": digest is not None,
        "ecr_account": ecr.group("account") if ecr else None,
        "ecr_region": ecr.group("region") if ecr else None,
    }


def require_pinned_image(ref, allow_tags=False, context="this environment"):
    """Parse ``ref`` and refuse tag-only references unless tags are explicitly allowed."""
    parsed = parse_image_ref(ref)
    if not parsed["pinned"] and not allow_tags:
        raise GuardError("image_ref_not_pinned",
                         "image_ref %r is not digest-pinned; %s requires <repo>@sha256:<digest> "
                         "(tags are allowed only where the inventory sets allow_image_tags: true)." % (ref, context))
    if not parsed["pinned"] and not parsed["tag"]:
        raise GuardError("image_ref_not_pinned", "image_ref %r has neither a tag nor a digest." % ref)
    return parsed


# What every inventory template under inventories/<env>/ puts where a real name must go.
INVENTORY_PLACEHOLDER = "REPLACE_WITH_"


def refuse_placeholder(value, variable, where="inventories/<env>/group_vars/all/"):
    """``inventory_placeholder`` when ``value`` is still the template's placeholder: a run against an environment whose
    inventory was never filled in stops before its first request, naming the variable and the file to edit."""
    if isinstance(value, str) and value.startswith(INVENTORY_PLACEHOLDER):
        raise GuardError("inventory_placeholder", "%s is the inventory placeholder %r; set it in %s (or pass -e %s=...)."
                         % (variable, value, where, variable))
    return value


def require_values(params, *required):
    """Refuse the first empty or blank input of ``required``, ``(option, message)`` pairs whose message names the
    variable the operator sets (reason ``invalid_input``): before any client exists, bad input costs no request."""
    for name, message in required:
        if not (params[name] or "").strip():
            raise OpsError("invalid_input", message)


def require_confirmation(given, expected, option_name):
    """Fail closed unless the operator typed exactly the expected confirmation string."""
    if given is None or str(given) != str(expected):
        raise GuardError("confirmation_missing",
                         "%s must be exactly %r to proceed (got %s)." % (option_name, expected, "nothing" if given is None else repr(given)))


def require_instance_family(instance_type, family):
    """Keep runners in one instance family (e.g. ARM ``t4g``) for architecture parity."""
    if not isinstance(instance_type, str) or not instance_type.startswith(family + "."):
        raise GuardError("instance_type_not_allowed",
                         "instance_type %r is outside the %s.* family; choose e.g. %s.medium." % (instance_type, family, family))


def validate_k8s_name(name, kind="object", label=False):
    """A Kubernetes object name: DNS-1123 subdomain (or label for namespaces/services)."""
    pattern, limit = (_DNS1123_LABEL, 63) if label else (_DNS1123_SUBDOMAIN, 253)
    if not isinstance(name, str) or not name or len(name) > limit or not pattern.match(name):
        raise GuardError("invalid_name",
                         "%s name %r is not a valid DNS-1123 %s (lowercase alphanumerics and '-', at most %d characters)." % (
                             kind, name, "label" if label else "subdomain", limit))
    return name


def safe_relative_path(path):
    """Normalise an archive member path; refuse absolute paths and any '..' component."""
    if not isinstance(path, str) or not path or "\x00" in path:
        raise GuardError("unsafe_path", "archive member %r has an empty or invalid name." % (path,))
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise GuardError("unsafe_path", "archive member %r is an absolute path; archives must hold relative paths only." % path)
    parts = path.replace("\\", "/").split("/")
    if ".." in parts:
        raise GuardError("unsafe_path", "archive member %r escapes the destination with '..'." % path)
    normalised = posixpath.normpath("/".join(p for p in parts if p not in ("", ".")))
    if normalised in ("", "."):
        raise GuardError("unsafe_path", "archive member %r has no file name." % path)
    return normalised


def validate_s3_prefix(prefix, option_name="prefix"):
    """A key prefix without leading/trailing slashes, '..' or empty components; '' is allowed."""
    if prefix in (None, ""):
        return ""
    if not isinstance(prefix, str) or prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
        raise GuardError("invalid_prefix", "%s %r must not start or end with '/' nor contain '//'." % (option_name, prefix))
    if ".." in prefix.split("/"):
        raise GuardError("invalid_prefix", "%s %r must not contain '..'." % (option_name, prefix))
    return prefix
