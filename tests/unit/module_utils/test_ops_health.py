"""module_utils/ops_health.py: classification, exit codes and the aggregate read against the sandbox PostgreSQL."""

import datetime
import importlib.util
import os
import uuid

import psycopg
import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.services import db
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.db import migrations
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.db import ops_health
from tests.conftest import REPO_ROOT


def counts(delivered=0, held=0, suppressed=0, failed=0):
    return {"delivered_total": delivered, "held_total": held, "suppressed_total": suppressed, "failed_total": failed}


def test_no_traffic_is_insufficient_data_delivered_total_0():
    status, reason, reasons, metrics = ops_health.classify(counts())
    assert (status, reason, reasons) == ("insufficient_data", "delivered_total_0", ["delivered_total_0"])
    assert metrics["attempted_total"] == 0 and metrics["hold_rate"] == 0.0


def test_thresholds_decide_healthy_and_unhealthy():
    assert ops_health.classify(counts(delivered=1000, held=50, suppressed=100, failed=20))[0] == "healthy"  # exactly at limits
    status, reason, reasons, metrics = ops_health.classify(counts(delivered=800, held=100, suppressed=200, failed=30))
    assert status == "unhealthy" and reason == "hold_rate_high"
    assert reasons == ["hold_rate_high", "suppression_rate_high", "failure_rate_high"]
    assert metrics["hold_rate"] == round(100 / 1130.0, 6)
    # Everything held: traffic exists, so it is unhealthy, not "no data".
    assert ops_health.classify(counts(held=10))[:2] == ("unhealthy", "hold_rate_high")
    assert ops_health.classify(counts(delivered=5), {"min_attempted_total": 10})[:2] == ("insufficient_data", "attempted_total_below_min")
    assert ops_health.classify(counts(delivered=90, held=10), {"max_hold_rate": 0.2})[0] == "healthy"


def test_bad_thresholds_and_windows_are_refused():
    for bad in ({"max_hold_rate": 1.5}, {"max_failure_rate": -0.1}, {"min_attempted_total": 0}):
        with pytest.raises(ops_health.HealthInputError):
            ops_health.check_thresholds(bad)
    with pytest.raises(ops_health.HealthInputError):
        ops_health.window("2026-13-01", 1)
    with pytest.raises(ops_health.HealthInputError):
        ops_health.window("2026-01-01", 0)
    assert ops_health.window("2026-01-10", 3) == (datetime.date(2026, 1, 8), datetime.date(2026, 1, 10))
    # Without as_of the window ends on the last complete day.
    assert ops_health.window(None, 1, today=datetime.date(2026, 2, 1)) == (datetime.date(2026, 1, 31),) * 2
    assert ops_health.window(None, 7, today=datetime.date(2026, 2, 1)) == (datetime.date(2026, 1, 25), datetime.date(2026, 1, 31))


@pytest.mark.parametrize("status,strict,scheduled,code", [
    ("healthy", True, False, 0), ("healthy", False, False, 0),
    ("unhealthy", False, False, 0), ("unhealthy", True, False, 2), ("unhealthy", True, True, 2),
    ("insufficient_data", False, False, 0), ("insufficient_data", True, False, 2), ("insufficient_data", True, True, 0),
    ("fail", False, False, 1), ("not_configured", False, False, 0), ("not_configured", True, False, 1),
])
def test_exit_codes(status, strict, scheduled, code):
    assert ops_health.exit_code(status, strict, scheduled) == code


def test_lines_are_the_runbook_tokens():
    quiet = ops_health.evaluate(counts(), strict=True, scheduled=True)
    assert quiet["token_line"] == "ops_daily_watchdog status=insufficient_data reason=delivered_total_0"
    assert quiet["normalize_line"] == "ops_ci_normalize status=normalized reason=insufficient_data"
    assert quiet["lines"][-2:] == [quiet["token_line"], quiet["normalize_line"]] and quiet["exit_code"] == 0
    unscheduled = ops_health.evaluate(counts(), strict=True)
    assert unscheduled["normalize_line"] is None and unscheduled["exit_code"] == 2
    healthy = ops_health.evaluate(counts(delivered=10), second_touch={"eligible_total": 4, "second_touch_total": 1})
    assert healthy["token_line"] == "ops_daily_watchdog status=healthy"
    assert "ops_daily_second_touch status=ok eligible_total=4 second_touch_total=1 second_touch_rate=0.25" in healthy["lines"]
    assert ops_health.not_configured()["token_line"] == "ops_daily_watchdog status=not_configured reason=missing_dsn"
    assert ops_health.not_configured(strict=True)["exit_code"] == 1


def test_read_counts_sums_only_the_window(sandbox):
    name = "t_health_%s" % uuid.uuid4().hex[:10]
    admin = psycopg.connect(sandbox["SANDBOX_PG_DSN"], autocommit=True)
    admin.execute("create schema %s" % name)
    dsn = "%s?options=-csearch_path%%3D%s" % (sandbox["SANDBOX_PG_DSN"], name)
    try:
        with db.open_session(dsn) as database:
            assert ops_health.read_counts(database, datetime.date(2026, 1, 1), datetime.date(2026, 1, 1)) == (None, None)
            migrations.MigrationRunner(database).apply(migrations.discover(os.path.join(REPO_ROOT, "roles", "db_ops", "files", "migrations")))
        admin.execute("insert into %s.delivery_metrics (metric_date, channel, delivered_total, held_total, suppressed_total, failed_total) "
                      "values ('2026-01-09', 'email', 500, 1, 2, 3), ('2026-01-10', 'email', 100, 10, 0, 0), "
                      "('2026-01-10', 'sms', 50, 0, 5, 1), ('2026-01-11', 'email', 7, 7, 7, 7)" % name)
        admin.execute("insert into %s.second_touch_summaries (metric_date, channel, eligible_total, second_touch_total) "
                      "values ('2026-01-10', 'email', 40, 10)" % name)
        with db.open_session(dsn) as database:
            summed, second = ops_health.read_counts(database, datetime.date(2026, 1, 10), datetime.date(2026, 1, 10))
            two_days, second_two_days = ops_health.read_counts(database, datetime.date(2026, 1, 9), datetime.date(2026, 1, 10))
        assert summed == {"delivered_total": 150, "held_total": 10, "suppressed_total": 5, "failed_total": 1}
        assert second == {"eligible_total": 40, "second_touch_total": 10}
        assert two_days["delivered_total"] == 650 and second_two_days == second
    finally:
        admin.execute("drop schema %s cascade" % name)
        admin.close()


def test_refusals_are_ops_errors_naming_the_variable_to_set():
    with pytest.raises(OpsError) as info:
        ops_health.check_thresholds({"max_hold_rate": 1.5})
    assert isinstance(info.value, ops_health.HealthInputError) and isinstance(info.value, ValueError)
    assert info.value.reason == "invalid_input" and "db_ops_daily_max_hold_rate" in info.value.message
    with pytest.raises(OpsError) as info:
        ops_health.window("2026-01-01", 0)
    assert "db_ops_daily_window_days" in info.value.message


def test_explain_says_which_rate_is_over_which_threshold_and_the_exit_code():
    first = last = datetime.date(2026, 3, 11)
    strict = ops_health.evaluate(counts(delivered=100, held=40), strict=True, first_day=first, last_day=last)
    text = ops_health.explain(strict)
    assert text.startswith("ops_daily_watchdog status=unhealthy reason=hold_rate_high; a strict run (db_ops_daily_strict=true) exits 2")
    assert "hold_rate=0.285714 is above db_ops_daily_max_hold_rate=0.05 in the window 2026-03-11..2026-03-11" in text
    relaxed = ops_health.evaluate(counts(delivered=100, held=40), first_day=first, last_day=last)
    assert ops_health.explain(relaxed).endswith("not strict (db_ops_daily_strict=false), so exit code 0.")
    normalized = ops_health.evaluate(counts(), strict=True, scheduled=True, first_day=first, last_day=last)
    assert ops_health.explain(normalized).startswith("ops_ci_normalize status=normalized reason=insufficient_data; ")
    few = ops_health.evaluate(counts(delivered=5), thresholds={"min_attempted_total": 10}, first_day=first, last_day=last)
    assert "attempted_total=5 is below db_ops_daily_min_attempted_total=10" in ops_health.explain(few, {"min_attempted_total": 10})


def _wrapper():
    spec = importlib.util.spec_from_file_location("ops_db_wrapper", os.path.join(REPO_ROOT, "scripts", "ops_db.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("receipt,rc,expected", [
    # ops_daily, strict and unhealthy: the runbook's lines from outputs.lines, exit 2.
    ({"status": "failed", "failure_code": "hold_rate_high",
      "message": "ops_daily_watchdog status=fail reason=hold_rate_high health=unhealthy exit_code=2: ops_daily_watchdog ...",
      "outputs": {"exit_code": 2, "lines": ["ops_daily_metrics status=ok", "ops_daily_watchdog status=unhealthy reason=hold_rate_high"]}},
     2, (["ops_daily_metrics status=ok", "ops_daily_watchdog status=unhealthy reason=hold_rate_high"], 2)),
    # Not strict: a successful result with status unhealthy, exit 0.
    ({"status": "success", "message": "ops_daily_watchdog status=unhealthy reason=hold_rate_high: hold_rate=...",
      "outputs": {"exit_code": 0, "lines": ["ops_daily_watchdog status=unhealthy reason=hold_rate_high"]}},
     0, (["ops_daily_watchdog status=unhealthy reason=hold_rate_high"], 0)),
    # Other phases: the status line that starts the message.
    ({"status": "success", "message": "db_verify status=ok", "outputs": {"exit_code": 0}}, 0, (["db_verify status=ok"], 0)),
    ({"status": "failed", "failure_code": "missing_tables", "message": "db_verify status=fail reason=missing_tables: missing tables x",
      "outputs": {"exit_code": 1}}, 2, (["db_verify status=fail reason=missing_tables"], 1)),
    # A success the play did not survive.
    ({"status": "success", "message": "db_verify status=ok", "outputs": {"exit_code": 0}}, 2,
     (["db_verify status=ok", "ops_db status=fail reason=playbook_failed"], 1)),
    # No exit code (a missing library, the guard's refusal): the line of the message, else the failure code.
    ({"status": "failed", "failure_code": "account_mismatch", "message": "account_guard status=fail reason=account_mismatch: no",
      "outputs": {}}, 2, (["account_guard status=fail reason=account_mismatch"], 1)),
    ({"status": "failed", "failure_code": "module_error", "message": None, "outputs": {}}, 2,
     (["db_verify status=fail reason=module_error"], 1)),
])
def test_the_wrapper_reads_lines_and_exit_codes_from_receipts(receipt, rc, expected):
    assert _wrapper().outcome_from_receipt(receipt, "db_verify", rc) == expected
