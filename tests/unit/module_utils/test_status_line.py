"""module_utils/status_line.py: the stable key status=... lines."""

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core import status_line


def test_format_and_parse_round_trip():
    line = status_line.format_line("db_bootstrap", "ok", fields=[("mode", "apply_migrations"), ("applied", 3), ("skipped", 0)])
    assert line == "db_bootstrap status=ok mode=apply_migrations applied=3 skipped=0"
    assert status_line.parse_line(line) == {"key": "db_bootstrap", "status": "ok", "reason": None, "mode": "apply_migrations",
                                            "applied": "3", "skipped": "0"}
    assert status_line.format_line("db_verify", "fail", "missing_tables") == "db_verify status=fail reason=missing_tables"


def test_values_that_would_break_the_line_are_refused():
    with pytest.raises(ValueError):
        status_line.format_line("x", "ok", fields=[("name", "two words")])
    with pytest.raises(ValueError):
        status_line.parse_line("no status here")


def test_plain_exit_codes():
    assert [status_line.exit_code(s) for s in ("ok", "not_configured", "fail")] == [0, 0, 1]


def test_token_fields_keeps_tokens_and_names_what_it_drops():
    from ansible_collections.signalcraft.ops.plugins.module_utils.core import status_line as sl

    kept, dropped = sl.token_fields([("run_id", "20260101T000000Z"), ("path", "/tmp/a b/c"), ("ok", True)])
    assert kept == [("run_id", "20260101T000000Z"), ("ok", True)] and dropped == ["path"]
    assert sl.format_line("publish", "ok", None, kept) == "publish status=ok run_id=20260101T000000Z ok=true"
