# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A receipt directory as one page a person reads: status per phase, skips and why, failure tokens with
the registry's next step, inputs (redacted), and a timeline of phase durations.

Why a page and not the JSON: after a drill or a backfill an operator (or the person approving a
promotion) wants one answer -- what ran, what did not and why, what to do next -- and pastes a summary
into the ticket. The page is self-contained (inline CSS and SVG, no script, no external fetch) so it can
be attached to a ticket or opened from an S3 console. Rendering is pure: ``load`` reads, ``build``
derives the model, ``render_html``/``render_markdown`` format it; the same receipts give the same
bytes (no "generated at" clock), so a rerun rewrites nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import html
import json
import os

from ansible_collections.signalcraft.ops.plugins.module_utils.core import reasons
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core import redaction

RECEIPT_SCHEMA = "receipt.v1"
# Worst first: the page's overall status is the worst phase's.
_SEVERITY = {"failed": 0, "skipped": 1, "success": 2}
_COLOURS = {"success": "#2e7d32", "failed": "#c62828", "skipped": "#9e9e9e"}
_OUTPUT_NAMES = ("report.html", "report.md")


def load(receipt_dir):
    """``(receipts, problems)``: every receipt.v1 JSON document under ``receipt_dir`` (recursively, with its
    relative path as ``_file``), and the files that look like receipts but cannot be read.

    Other JSON (summaries, manifests) and other files (a kubeconfig) are not receipts and are passed over.
    """
    found, problems = [], []
    for base, dirs, files in os.walk(receipt_dir):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith(".json"):
                continue
            path = os.path.join(base, name)
            rel = os.path.relpath(path, receipt_dir)
            try:
                with open(path) as handle:
                    document = json.load(handle)
            except (OSError, ValueError) as exc:
                problems.append("%s: %s" % (rel, exc))
                continue
            if isinstance(document, dict) and document.get("schema_version") == RECEIPT_SCHEMA:
                document = dict(document, _file=rel)
                found.append(document)
            elif isinstance(document, dict) and name.endswith(".summary.json") and "phases" in document:
                # A phase engine's summary names the runbook the receipts belong to (the page's title).
                found.append({"_summary_of": name[:-len(".summary.json")], "_file": rel})
    return found, problems


def _order_key(receipt):
    # Phases in the order they ran; receipts without a start (a skip) after those that have one.
    started = receipt.get("started_at") or ""
    return (started == "", started, receipt.get("_file") or "")


def _reason(receipt):
    return receipt.get("failure_code") or None


def build(found, problems=None):
    """The page's model from loaded receipts (pure)."""
    runbooks = sorted(set(r["_summary_of"] for r in found if "_summary_of" in r))
    found = [r for r in found if "_summary_of" not in r]
    phases = []
    for receipt in sorted(found, key=_order_key):
        token = _reason(receipt)
        registered = bool(token) and reasons.is_registered(token)
        phases.append({
            "file": receipt.get("_file"),
            "operation": receipt.get("operation"),
            "phase": receipt.get("phase"),
            "status": receipt.get("status"),
            "reason": token,
            "meaning": reasons.meaning(token) if registered else None,
            "next_step": reasons.next_step(token) if registered else None,
            "skip_reason": receipt.get("skip_reason"),
            "message": receipt.get("message"),
            "changed": receipt.get("changed"),
            "attempts": receipt.get("attempts"),
            "started_at": receipt.get("started_at"),
            "finished_at": receipt.get("finished_at"),
            "duration_s": receipt.get("duration_s"),
            # Receipts are redacted when written; redacting again costs nothing and covers a receipt a
            # person or another tool wrote by hand.
            "inputs": redaction.redact(receipt.get("inputs") or {}),
        })
    statuses = [p["status"] for p in phases]
    overall = min(statuses, key=lambda s: _SEVERITY.get(s, 0)) if statuses else "empty"
    if overall == "skipped" and "success" in statuses:
        overall = "success"
    starts = [p["started_at"] for p in phases if p["started_at"]]
    ends = [p["finished_at"] for p in phases if p["finished_at"]]
    executions = sorted(set(r.get("execution_id") for r in found if r.get("execution_id")))
    operations = sorted(set(r.get("operation") for r in found if r.get("operation")))
    return {
        "runbooks": runbooks,
        "execution_ids": executions,
        "operations": operations,
        "status": overall,
        "started_at": min(starts) if starts else None,
        "finished_at": max(ends) if ends else None,
        "phases": phases,
        "failed": [p for p in phases if p["status"] == "failed"],
        "skipped": [p for p in phases if p["status"] == "skipped"],
        "problems": list(problems or []),
        "counts": dict((s, statuses.count(s)) for s in sorted(set(statuses))),
    }


def title_of(model, title=None):
    """The page's title: given, else the runbook (from its summary) or the operations, and the execution ids."""
    if title:
        return title
    what = " + ".join(model["runbooks"] or model["operations"]) or "receipts"
    return "%s %s" % (what, ", ".join(model["execution_ids"]))


def _seconds(start, end):
    first, last = receipts.parse_timestamp(start), receipts.parse_timestamp(end)
    if first is None or last is None:
        return None
    return (last - first).total_seconds()


def timeline_svg(model, width=720, row=22):
    """Phase durations as bars on one time axis (inline SVG; phases without times are listed, not drawn)."""
    timed = [p for p in model["phases"] if p["started_at"] and p["finished_at"]]
    if not timed or not model["started_at"]:
        return '<p class="muted">No phase recorded start and finish times.</p>'
    span = max(_seconds(model["started_at"], model["finished_at"]) or 0.0, 0.001)
    label_w, chart_w = 170, width - 170 - 80
    height = row * len(timed) + 30
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="phase timeline" width="%d" height="%d" '
             'viewBox="0 0 %d %d">' % (width, height, width, height)]
    for index, phase in enumerate(timed):
        offset = max(_seconds(model["started_at"], phase["started_at"]) or 0.0, 0.0)
        length = max(_seconds(phase["started_at"], phase["finished_at"]) or 0.0, 0.0)
        x = label_w + chart_w * offset / span
        w = max(chart_w * length / span, 2.0)
        y = 10 + index * row
        colour = _COLOURS.get(phase["status"], "#6d4c41")
        parts.append('<text x="0" y="%d" font-size="12" font-family="sans-serif">%s</text>' % (
            y + 13, html.escape(phase["phase"] or "?")))
        parts.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s %s %.1fs</title></rect>' % (
            x, y, w, row - 6, colour, html.escape(phase["phase"] or "?"), html.escape(phase["status"] or ""), length))
        parts.append('<text x="%.1f" y="%d" font-size="11" font-family="sans-serif">%.1fs</text>' % (
            min(x + w + 4, width - 60), y + 13, length))
    parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>' % (label_w, height - 12, label_w + chart_w, height - 12))
    parts.append('<text x="%d" y="%d" font-size="11" font-family="sans-serif">0s</text>' % (label_w, height - 1))
    parts.append('<text x="%d" y="%d" font-size="11" font-family="sans-serif" text-anchor="end">%.1fs</text>' % (
        label_w + chart_w, height - 1, span))
    parts.append("</svg>")
    return "".join(parts)


def _cell(value):
    if value is None or value == "":
        return '<span class="muted">-</span>'
    return html.escape(str(value))


_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px}
.muted{color:#888} table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #ddd;text-align:left;padding:5px 8px;vertical-align:top}
.badge{display:inline-block;padding:1px 8px;border-radius:9px;color:#fff;font-size:12px}
.success{background:#2e7d32}.failed{background:#c62828}.skipped{background:#9e9e9e}.empty{background:#6d4c41}
pre{background:#f6f6f6;padding:8px;font-size:12px;overflow:auto;max-height:240px}
"""


def render_html(model, title=None):
    """The self-contained page (no script, no external resource)."""
    title = title_of(model, title)
    out = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>%s</title><style>%s</style></head><body>" % (html.escape(title), _CSS),
           '<h1>%s <span class="badge %s" id="overall">%s</span></h1>' % (
               html.escape(title), html.escape(model["status"]), html.escape(model["status"])),
           '<p class="muted">%s &rarr; %s &middot; %s</p>' % (
               _cell(model["started_at"]), _cell(model["finished_at"]),
               ", ".join("%d %s" % (n, s) for s, n in sorted(model["counts"].items())) or "no receipts")]
    out.append("<h2>Phases</h2><table id=\"phases\"><tr><th>phase</th><th>operation</th><th>status</th><th>reason</th>"
               "<th>changed</th><th>attempts</th><th>duration</th><th>receipt</th></tr>")
    for phase in model["phases"]:
        out.append('<tr class="phase"><td>%s</td><td>%s</td><td><span class="badge %s">%s</span></td><td>%s</td><td>%s</td>'
                   "<td>%s</td><td>%s</td><td>%s</td></tr>" % (
                       _cell(phase["phase"]), _cell(phase["operation"]), html.escape(phase["status"] or ""),
                       _cell(phase["status"]), _cell(phase["reason"] or phase["skip_reason"]), _cell(phase["changed"]),
                       _cell(phase["attempts"]),
                       _cell("%.1fs" % phase["duration_s"] if isinstance(phase["duration_s"], (int, float)) else None),
                       _cell(phase["file"])))
    out.append("</table><h2>Timeline</h2>" + timeline_svg(model))
    if model["failed"]:
        out.append("<h2>Failures and what to do next</h2><table id=\"failures\"><tr><th>phase</th><th>token</th>"
                   "<th>meaning</th><th>next step</th><th>message</th></tr>")
        for phase in model["failed"]:
            out.append("<tr><td>%s</td><td><code>%s</code></td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
                _cell(phase["phase"]), _cell(phase["reason"]), _cell(phase["meaning"] or "not a registered token"),
                _cell(phase["next_step"]), _cell(phase["message"])))
        out.append("</table>")
    if model["skipped"]:
        out.append("<h2>Skipped</h2><ul id=\"skipped\">")
        for phase in model["skipped"]:
            out.append("<li><b>%s</b>: %s</li>" % (_cell(phase["phase"]), _cell(phase["skip_reason"] or phase["message"])))
        out.append("</ul>")
    out.append("<h2>Inputs (redacted)</h2>")
    for phase in model["phases"]:
        if phase["inputs"]:
            out.append("<h3>%s</h3><pre>%s</pre>" % (_cell(phase["phase"]), html.escape(
                json.dumps(phase["inputs"], indent=2, sort_keys=True, default=str))))
    if model["problems"]:
        out.append("<h2>Files that could not be read</h2><ul>%s</ul>" % "".join(
            "<li>%s</li>" % html.escape(p) for p in model["problems"]))
    out.append("</body></html>\n")
    return "\n".join(out)


def render_markdown(model, title=None):
    """A summary to paste into a ticket."""
    title = title_of(model, title)
    lines = ["**%s**: %s (%s → %s)" % (title, model["status"], model["started_at"] or "-", model["finished_at"] or "-"), "",
             "| phase | status | reason | duration |", "|---|---|---|---|"]
    for phase in model["phases"]:
        duration = "%.1fs" % phase["duration_s"] if isinstance(phase["duration_s"], (int, float)) else "-"
        lines.append("| %s | %s | %s | %s |" % (phase["phase"], phase["status"],
                                                phase["reason"] or phase["skip_reason"] or "", duration))
    for phase in model["failed"]:
        if phase["next_step"]:
            lines.append("")
            lines.append("Next step for `%s` (%s): %s" % (phase["reason"], phase["phase"], phase["next_step"]))
    return "\n".join(lines) + "\n"


def output_paths(receipt_dir, html_path="", markdown_path=""):
    return (html_path or os.path.join(receipt_dir, _OUTPUT_NAMES[0]),
            markdown_path or os.path.join(receipt_dir, _OUTPUT_NAMES[1]))
