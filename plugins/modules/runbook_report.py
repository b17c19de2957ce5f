#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: runbook_report
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Turn a receipt directory into one self-contained HTML page and a Markdown summary
description:
  - Reads every C(receipt.v1) document under O(receipt_dir) (a drill's C(phases/) and C(refusals/)
    included; summaries and other files are passed over) and writes a page with the status of each
    phase, what was skipped and why, each failure token with the meaning and next step from the token
    registry (docs/tokens.md), each phase's inputs (redacted again) and an SVG timeline of the phase
    durations; and a Markdown summary to paste into a ticket.
  - The page has no script and loads nothing from elsewhere, so it can be attached to a ticket.
  - The same receipts give the same bytes (no clock in the page), so a second run writes nothing and
    reports C(changed=false).
  - Reports on failures; it fails only when it cannot read the directory or it holds no receipt
    (C(receipts_not_found)).
options:
  receipt_dir:
    description:
      - The receipt directory of one execution, for example C(<signalcraft_receipt_root>/<execution_id>)
        or a drill's C(receipt_dir). Relative paths are taken from the directory the operator ran from.
    type: path
    required: true
  html_path:
    description: Where the page goes (default C(<receipt_dir>/report.html)).
    type: path
    default: ""
  markdown_path:
    description: Where the Markdown summary goes (default C(<receipt_dir>/report.md)).
    type: path
    default: ""
  title:
    description: The page's title (default C(<operations> <execution ids>) from the receipts).
    type: str
    default: ""
extends_documentation_fragment: [signalcraft.ops.receipt]
"""

EXAMPLES = r"""
- name: Report on a drill's receipts
  signalcraft.ops.runbook_report:
    receipt_dir: state/receipts/dr-iter-1

- name: Report on a daily run into a shared folder
  signalcraft.ops.runbook_report:
    receipt_dir: "{{ signalcraft_receipt_root }}/daily-20260301T060000Z"
    html_path: /srv/reports/daily-20260301.html
"""

RETURN = r"""
outputs:
  description: What the report found and wrote.
  returned: always
  type: dict
  contains:
    html_path:
      description: The page's path.
      type: str
    markdown_path:
      description: The Markdown summary's path.
      type: str
    report_status:
      description: The worst phase status (C(failed), else C(success); C(skipped) when every phase was skipped).
      type: str
    phase_count:
      description: Receipts reported on.
      type: int
    counts:
      description: Receipts by status.
      type: dict
    failed_phases:
      description: The failed phases with their tokens.
      type: list
      elements: dict
    written:
      description: The files this run wrote (empty when they already held the same report, or in check mode).
      type: list
      elements: str
    unreadable:
      description: Files under the directory that ended in C(.json) but could not be read.
      type: list
      elements: str
"""

import os

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks import report

ARGUMENT_SPEC = dict(
    receipt_dir=dict(type="path", required=True),  # empty is refused with a token, not by the spec
    html_path=dict(type="path", default=""),
    markdown_path=dict(type="path", default=""),
    title=dict(type="str", default=""),
)


def run(ops):
    params = ops.params
    receipt_dir = params["receipt_dir"]
    if not receipt_dir or not os.path.isdir(receipt_dir):
        raise OpsError("receipts_not_found", "receipt_dir %s is not a directory; pass -e receipt_dir=<a run's receipt "
                       "directory> (for example state/receipts/<execution_id>)." % receipt_dir)
    found, problems = report.load(receipt_dir)
    if not found:
        raise OpsError("receipts_not_found", "no receipt.v1 document under %s; pass -e receipt_dir=<a run's receipt "
                       "directory> (for example state/receipts/<execution_id>)." % receipt_dir,
                       details={"unreadable": problems})
    model = report.build(found, problems)
    html_path, markdown_path = report.output_paths(receipt_dir, params["html_path"], params["markdown_path"])
    pages = ((html_path, report.render_html(model, params["title"] or None)),
             (markdown_path, report.render_markdown(model, params["title"] or None)))
    written = []
    for path, text in pages:
        data = text.encode("utf-8")
        if ops.check_mode:
            if not (os.path.exists(path) and open(path, "rb").read() == data):
                written.append(path)
            continue
        directory = os.path.dirname(path)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory)
        if receipts.write_if_changed(path, data, mode=0o644):
            written.append(path)
    changed = bool(written)
    outputs = {
        "html_path": html_path, "markdown_path": markdown_path, "report_status": model["status"],
        "phase_count": len(model["phases"]), "counts": model["counts"],
        "failed_phases": [{"phase": p["phase"], "reason": p["reason"]} for p in model["failed"]],
        "written": [] if ops.check_mode else written, "unreadable": problems,
    }
    line = [("report_status", model["status"]), ("phases", len(model["phases"])),
            ("html" if not ops.check_mode else "would_write_html", html_path)]
    return {"changed": changed, "status": "planned" if ops.check_mode and changed else "ok", "outputs": outputs,
            "line": line, "diff": {"before": "", "after": "%s\n%s\n" % (html_path, markdown_path)} if changed else None}


def main():
    OpsModule(ARGUMENT_SPEC, operation="report", phase="report").run(run)


if __name__ == "__main__":
    main()
