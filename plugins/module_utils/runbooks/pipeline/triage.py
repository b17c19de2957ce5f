# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Triage: the runbook's flowchart as a pure function over a step's failure (message, log, exit).

``classify(text, exit_code=None, timed_out=False, upstream=())`` returns the failure's class, the
retry category and the operator's action:

==============  ========  ===============================================================================
class           category  from
==============  ========  ===============================================================================
network         A         ``Temporary failure in name resolution``, ``SSL handshake timed out``, resets, an ECS
                          task's ``dial tcp ...: i/o timeout`` / ``no such host`` (registry, secrets):
                          retried in place with backoff and jitter; persistent -> upstream outage
missing_input   A         ``FileNotFoundError`` / ``missing under`` / ``No such file``: rerun the upstream
                          step for the same partition under the same run_id (check run_id propagation)
contract        C         ``missing required columns [...]``, schema drift: never retried blindly
permission      C         ``Permission denied`` / ``PermissionError``: fix ownership first
port_conflict   C         ``address already in use``: a duplicate service holds the port
stale_snapshot  B         ``Roster snapshot is Xh old``: backfill with an as-of selection, new run_id
timeout         A         the step exceeded its timeout
unknown         B         anything else: keep the failed run, rerun under a new run_id
==============  ========  ===============================================================================

Categories (the runbook's safe-retry rules): A retry in place (same ``run_id``), B retry under a new
``run_id`` (the failed run stays for forensics), C do not retry until the cause is fixed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# (class, category, compiled signature, the operator's action), checked in order: the first match wins.
_RULES = (
    ("contract", "C", re.compile(r"missing required columns|schema (drift|violation|mismatch)|contract violation", re.I),
     "Schema drift or a broken data contract: inspect the upstream output schema (its manifest's outputs), fix the "
     "code or data contract, then rerun; never retry blindly."),
    ("permission", "C", re.compile(r"permission denied|PermissionError|EACCES|Operation not permitted|AccessDenied", re.I),
     "Inspect ownership and mode of the target directories (or the IAM role); fix them, then rerun."),
    ("port_conflict", "C", re.compile(r"address already in use|EADDRINUSE", re.I),
     "A duplicate service holds the port: check for port conflicts (two units on one port), fix the service config, then rerun."),
    ("stale_snapshot", "B", re.compile(r"Roster snapshot is [0-9.]+h old", re.I),
     "The run used a snapshot outside its as-of window: rerun the partition as a backfill with an as-of mode "
     "(-e as_of_mode=pretip), which gives it a new run_id."),
    ("network", "A", re.compile(r"Temporary failure in name resolution|Name or service not known|nodename nor servname|"
                                r"SSL handshake timed out|SSLError|certificate verify failed|Connection (refused|reset|aborted)|"
                                r"ConnectionError|Network is unreachable|timed out while connecting|getaddrinfo failed|"
                                r"dial tcp [^ ]*:? ?(i/o timeout|no such host|connect: connection refused)|lookup \S+ on \S+: no such host", re.I),
     "Network/DNS/TLS fragility: check the endpoint's availability; the step is retried with backoff and jitter; if it "
     "persists, mark an upstream outage and rerun with -e resume=true once it is back."),
    ("missing_input", "A", re.compile(r"FileNotFoundError|No such file or directory|missing under|input partition [^ ]* (is )?missing|"
                                      r"Requested run=\S+ missing", re.I),
     "An input partition is missing: check the upstream step's manifest for this partition, verify the run_id is the "
     "same across steps, rerun the upstream step for the same partition (-e resume=true reruns it under the same run_id)."),
)

CATEGORY_MEANING = {
    "A": "retry in place (same run_id)",
    "B": "retry under a new run_id (the failed run stays intact)",
    "C": "do not retry until the cause is fixed",
}
_TIMEOUT_ACTION = "The step exceeded its timeout: check what it waits on; raise the step's timeout_s or rerun with -e resume=true."
_UNKNOWN_ACTION = "Read the step's log tail in its manifest; fix the cause, then rerun with -e resume=true (a new run_id)."
# Classes a backfill retries by itself, in place, with backoff and jitter.
RETRIED_IN_PLACE = frozenset(("network",))


def classify(text, exit_code=None, timed_out=False, upstream=()):
    """``{"class", "category", "action", "signature", "upstream_asset"}`` for a step's failure text.

    ``upstream`` lists the step's upstream assets; for ``missing_input`` the first one named in the
    text (else the first one) is returned as ``upstream_asset``.
    """
    text = text or ""
    if timed_out:
        return {"class": "timeout", "category": "A", "action": _TIMEOUT_ACTION, "signature": None, "upstream_asset": None}
    for name, category, pattern, action in _RULES:
        match = pattern.search(text)
        if match:
            found = {"class": name, "category": category, "action": action, "signature": match.group(0), "upstream_asset": None}
            if name == "missing_input" and upstream:
                named = [asset for asset in upstream if re.search(r"\b%s\b" % re.escape(asset), text)]
                found["upstream_asset"] = (named or list(upstream))[0]
                found["action"] = "Input from upstream step %s is missing: %s" % (found["upstream_asset"], action)
            return found
    return {"class": "unknown", "category": "B", "action": _UNKNOWN_ACTION, "signature": None, "upstream_asset": None}


def of_manifest(document):
    """The triage of a failed step's manifest (pure): its class, category, the category's meaning and the
    action; None for a manifest that did not fail. Reclassifies from the recorded message and log tail,
    so a manifest written by another tool (or an older version) gets today's rules."""
    failure = (document or {}).get("failure")
    if not failure or document.get("status") != "failed":
        return None
    timed_out = failure.get("class") == "timeout"
    found = classify("%s\n%s" % (failure.get("message") or "", failure.get("log_tail") or ""), timed_out=timed_out,
                     upstream=[i["asset"] for i in document.get("inputs") or []])
    found.update(asset=document["asset"], run_id=document["run_id"], attempts=document.get("attempts"),
                 category_meaning=CATEGORY_MEANING[found["category"]], recorded_class=failure.get("class"))
    return found


def last_error_line(text, limit=300):
    """The last non-empty line of a log (the exception line of a Python traceback), shortened."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return (lines[-1] if lines else "")[:limit]


def partition_category(failures):
    """The category a failed partition is rerun under: A only when every failure is A, else the strictest."""
    categories = set(f.get("category") for f in failures if f)
    if not categories or categories == {"A"}:
        return "A"
    return "C" if "C" in categories else "B"
