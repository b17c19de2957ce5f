# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stable ``<key> status=<status> [reason=<token>] [k=v ...]`` lines and the exit codes they map to.

Operators, cron and CI grep these lines and branch on the process exit code, so both are a
contract (the DB-backed service runbook calls them "authoritative"):

====  ==========================================================================================
code  meaning
====  ==========================================================================================
0     ``status=ok``, ``healthy``, ``not_configured`` (CI-safe), ``insufficient_data`` when not
      strict or normalized for a scheduled run
1     ``status=fail reason=<token>``: a check or a step failed
2     ``ops_daily_watchdog`` in strict mode: ``unhealthy``, or ``insufficient_data`` that a
      scheduled run did not normalize (the runbook's ``unexpected_exit_2``)
====  ==========================================================================================

The wrapper ``scripts/ops_db.py`` adds 64 (usage error) and 70 (the run left no receipt).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_UNHEALTHY = 2

_TOKEN = re.compile(r"^[A-Za-z0-9/.][A-Za-z0-9_.,:/+@-]*$")


def token_fields(fields):
    """``(kept, dropped)``: the fields whose values are tokens, and the names of those that are not.

    A value with a space (a path the operator chose) cannot go on the line; it stays in the
    result's outputs, so the line drops it rather than the module failing.
    """
    kept, dropped = [], []
    for name, value in fields or ():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        (kept if _TOKEN.match(text) else dropped).append((name, value) if _TOKEN.match(text) else name)
    return kept, dropped


def format_line(key, status, reason=None, fields=None):
    """``key status=<status>[ reason=<reason>][ k=v...]``; ``fields`` is a list of (name, value) pairs.

    Values must be tokens (no spaces, no ``=``) so a line always splits on spaces and ``=``.
    """
    parts = ["%s status=%s" % (key, status)]
    if reason:
        parts.append("reason=%s" % reason)
    for name, value in fields or ():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if not _TOKEN.match(text):
            raise ValueError("status line field %s=%r is not a token (no spaces, no =)" % (name, text))
        parts.append("%s=%s" % (name, text))
    return " ".join(parts)


def parse_line(line):
    """The inverse of ``format_line``: ``{"key": ..., "status": ..., "reason": ..., <field>: ...}``."""
    words = line.strip().split()
    if len(words) < 2 or "=" in words[0]:
        raise ValueError("not a status line: %r" % line)
    parsed = {"key": words[0], "reason": None}
    for word in words[1:]:
        name, sep, value = word.partition("=")
        if not sep:
            raise ValueError("not a status line: %r" % line)
        parsed[name] = value
    if "status" not in parsed:
        raise ValueError("status line without status=: %r" % line)
    return parsed


def exit_code(status):
    """The exit code of a plain ok/fail/not_configured status (ops_daily has its own rules)."""
    if status in ("ok", "not_configured"):
        return EXIT_OK
    return EXIT_FAIL
