"""report.yml against receipts real runs wrote: one execution with a success (preflight) and a refusal
(publish to a bucket that does not exist), both receipted by the collection's action plugin.

The page is parsed (html.parser) and compared with the receipt files on disk, not with our own output:
one row per receipt in the order they ran, the failure's token with the registry's next step, an SVG bar per
timed phase, no script and nothing loaded from elsewhere, no secret. A second run writes nothing, check
mode writes nothing, and where Chromium is installed the page is rendered to a PNG that is not blank.
"""

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core import reasons


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.rows, self.cells, self.failures = [], [], None, []
        self._table, self._cell, self._text = None, False, []
        self.rects, self.links = 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "table":
            self._table = attrs.get("id")
        elif tag == "tr" and self._table in ("phases", "failures"):
            self.cells = []
        elif tag == "td" and self.cells is not None:
            self._cell, self._text = True, []
        elif tag == "rect":
            self.rects += 1
        for name in ("src", "href"):
            if attrs.get(name):
                self.links.append(attrs[name])

    def handle_endtag(self, tag):
        if tag == "td" and self._cell:
            self.cells.append("".join(self._text).strip())
            self._cell = False
        elif tag == "tr" and self.cells:
            (self.rows if self._table == "phases" else self.failures).append(self.cells)
            self.cells = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell:
            self._text.append(data)


def _receipts(directory):
    found = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name)) as handle:
                document = json.load(handle)
            if document.get("schema_version") == "receipt.v1":
                found.append(document)
    return sorted(found, key=lambda r: r["started_at"])


def _mtimes(directory):
    return dict((name, os.stat(os.path.join(directory, name)).st_mtime_ns) for name in os.listdir(directory))


def test_report_of_a_run_with_a_success_and_a_refusal(sandbox, clean_faults, run_playbook, tmp_path):
    root = tmp_path / "receipts"
    common = {"signalcraft_receipt_root": str(root), "signalcraft_execution_id": "rep-1"}
    assert run_playbook("preflight.yml", common).rc == 0
    refused = run_playbook("publish.yml", dict(common, jobintel_bucket="sandbox-missing-report-bucket",
                                               publish_run_dir=str(tmp_path)))
    assert refused.rc != 0
    directory = root / "rep-1"
    on_disk = _receipts(directory)
    assert [r["status"] for r in on_disk] == ["success", "failed"]

    # Check mode: the line says what it would write, and nothing is written.
    before = _mtimes(directory)
    checked = run_playbook("report.yml", {"receipt_dir": str(directory), "signalcraft_receipt_write": False}, check=True)
    assert checked.rc == 0 and "report status=planned" in checked.stdout
    assert _mtimes(directory) == before

    result = run_playbook("report.yml", {"receipt_dir": str(directory), "signalcraft_receipt_root": str(tmp_path / "own")})
    assert result.rc == 0, result.stdout
    assert "report status=ok report_status=failed phases=2" in result.stdout
    page_text = (directory / "report.html").read_text()
    page = _Page()
    page.feed(page_text)
    # One row per receipt, in the order they ran, with each receipt's phase, operation and status.
    assert [(row[0], row[1], row[2]) for row in page.rows] == [(r["phase"], r["operation"], r["status"]) for r in on_disk]
    failure = on_disk[1]
    assert failure["failure_code"] == "bucket_not_found"
    assert page.failures == [[failure["phase"], "bucket_not_found", reasons.meaning("bucket_not_found"),
                              reasons.next_step("bucket_not_found"), failure["message"]]]
    assert page.rects == 2  # both phases have start and finish times
    assert "script" not in page.tags and page.links == []
    assert os.environ.get("AWS_SECRET_ACCESS_KEY", "testing") not in page_text.replace("testing-", "")
    summary = (directory / "report.md").read_text()
    assert "bucket_not_found" in summary and reasons.next_step("bucket_not_found") in summary

    # A second run: same bytes, nothing written, changed=false.
    before = _mtimes(directory)
    again = run_playbook("report.yml", {"receipt_dir": str(directory), "signalcraft_receipt_write": False})
    assert again.rc == 0
    assert [e for e in again.events if e.get("event") == "runner_on_ok" and e["event_data"]["res"].get("changed")] == []
    assert _mtimes(directory) == before

    # Rendered by a real browser: a PNG of the page's size that is not blank.
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("Chromium is not installed (apt-get install chromium): the page was parsed, not rendered")
    png = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--user-data-dir=%s" % (tmp_path / "chromium"), "--window-size=1000,800",
                    "--screenshot=%s" % png, "file://%s" % (directory / "report.html")],
                   capture_output=True, timeout=120, check=False)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1000, 800)
    assert len(data) > 20000  # a blank 1000x800 PNG compresses to a few kilobytes
