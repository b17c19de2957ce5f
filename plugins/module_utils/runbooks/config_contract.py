# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The prod config contract of the DB-backed service: required names are present, by name only.

Replaces ``python -m tools.prod_config_contract --mode=prod_required``. A name is present when
the process environment (what cron, CI secrets or an AWX credential inject) holds it with a
non-empty value, or when the caller lists it as set elsewhere (an inventory overlay). Values are
only tested for emptiness here and never returned, so they cannot reach results, receipts or logs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core import status_line
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError

KEY = "prod_config"
MODES = ("prod_required", "report")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ContractInputError(OpsError, ValueError):
    """A required name is not a valid environment variable name (reason ``invalid_input``)."""

    def __init__(self, message):
        super(ContractInputError, self).__init__("invalid_input", message)


def validate_names(names, option_name="required_names"):
    """Refuse names that cannot be environment variables (a value pasted by mistake, say)."""
    bad = [n for n in names if not isinstance(n, str) or not _ENV_NAME.match(n)]
    if bad:
        # Do not echo the bad entries: someone may have pasted a value instead of a name.
        raise ContractInputError("%s has %d entr%s that %s not a valid environment variable name "
                                 "([A-Za-z_][A-Za-z0-9_]*); list names only, never values."
                                 % (option_name, len(bad), "y" if len(bad) == 1 else "ies", "is" if len(bad) == 1 else "are"))
    return sorted(set(names))


def present_in_environment(environ, names):
    """The subset of ``names`` set to a non-empty value in ``environ`` (values are not kept)."""
    return sorted(n for n in names if str(environ.get(n, "") or "").strip() != "")


def evaluate(required_names, environ=None, declared_names=None, mode="prod_required"):
    """Check the contract.

    Returns ``{"status", "reason", "token_line", "exit_code", "missing_names", "required_count",
    "present_count", "sources"}``; ``sources`` maps each present name to where it was found.
    In ``report`` mode a failed contract still reports ``status=fail`` but ``exit_code`` is 0.
    """
    if mode not in MODES:
        raise ContractInputError("mode %r is not one of %s." % (mode, ", ".join(MODES)))
    required = validate_names(required_names)
    declared = set(validate_names(declared_names or [], "present_names"))
    in_env = set(present_in_environment(environ or {}, required))
    sources = {}
    for name in required:
        where = [s for s, found in (("environment", name in in_env), ("declared", name in declared)) if found]
        if where:
            sources[name] = where
    missing = [n for n in required if n not in sources]
    status = "fail" if missing else "ok"
    reason = "missing_env" if missing else None
    code = status_line.exit_code(status) if mode == "prod_required" else status_line.EXIT_OK
    return {
        "status": status,
        "reason": reason,
        "token_line": status_line.format_line(KEY, status, reason),
        "exit_code": code,
        "missing_names": missing,
        "required_count": len(required),
        "present_count": len(sources),
        "sources": sources,
    }
