# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ops_daily watchdog: ``healthy | insufficient_data | unhealthy`` from aggregate delivery metrics.

It reads only sums over a window of days from ``delivery_metrics`` (one row per day and channel,
written by the service) and ``second_touch_summaries``; no per-message or per-user data is read,
so every line it prints is safe to share (the runbook's "privacy-first: aggregate outputs only").

Classification, in this order:

1. no traffic at all (``attempted_total == 0``): ``insufficient_data reason=delivered_total_0``;
2. fewer attempts than ``min_attempted_total``: ``insufficient_data reason=attempted_total_below_min``;
3. a rate above its threshold: ``unhealthy reason=<first of hold_rate_high, suppression_rate_high,
   failure_rate_high>`` (all exceeded rates are listed in ``reasons``);
4. otherwise ``healthy``.

``attempted_total = delivered + held + suppressed + failed``; each rate is its count over it.

Exit codes: strict runs (scheduled prod) exit 2 on ``unhealthy`` and on ``insufficient_data``; a
scheduled run normalizes ``insufficient_data`` to 0 and says so with
``ops_ci_normalize status=normalized reason=insufficient_data``. A non-strict run reports and exits 0.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.signalcraft.ops.plugins.module_utils.core import status_line
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.db.migrations import validate_table_name

KEY = "ops_daily_watchdog"
NORMALIZE_KEY = "ops_ci_normalize"
METRICS_KEY = "ops_daily_metrics"
SECOND_TOUCH_KEY = "ops_daily_second_touch"
STATUSES = ("healthy", "insufficient_data", "unhealthy")
COUNTS = ("delivered_total", "held_total", "suppressed_total", "failed_total")
# (rate name, numerator, threshold option, reason token) in the order reasons are reported.
RATES = (
    ("hold_rate", "held_total", "max_hold_rate", "hold_rate_high"),
    ("suppression_rate", "suppressed_total", "max_suppression_rate", "suppression_rate_high"),
    ("failure_rate", "failed_total", "max_failure_rate", "failure_rate_high"),
)
DEFAULT_THRESHOLDS = {"min_attempted_total": 1, "max_hold_rate": 0.05, "max_suppression_rate": 0.10, "max_failure_rate": 0.02}


# The role variable an operator sets (-e) for each input of the watchdog, named in refusals.
VARIABLES = {
    "window_days": "db_ops_daily_window_days",
    "as_of": "db_ops_daily_as_of",
    "min_attempted_total": "db_ops_daily_min_attempted_total",
    "max_hold_rate": "db_ops_daily_max_hold_rate",
    "max_suppression_rate": "db_ops_daily_max_suppression_rate",
    "max_failure_rate": "db_ops_daily_max_failure_rate",
}


class HealthInputError(OpsError, ValueError):
    """A threshold or window is out of range (reason ``invalid_input``)."""

    def __init__(self, message, details=None):
        super(HealthInputError, self).__init__("invalid_input", message, details=details)


def window(as_of=None, window_days=1, today=None):
    """``(first_day, last_day)`` inclusive: ``window_days`` days ending on ``as_of``.

    Without ``as_of`` the window ends yesterday (UTC): the last complete day, so a daily run early
    in the morning does not judge a few hours of today's traffic.
    """
    if int(window_days) < 1:
        raise HealthInputError("%s must be at least 1, got %r." % (VARIABLES["window_days"], window_days))
    if as_of in (None, ""):
        last = (today or datetime.datetime.now(datetime.timezone.utc).date()) - datetime.timedelta(days=1)
    elif isinstance(as_of, datetime.date):
        last = as_of
    else:
        try:
            last = datetime.datetime.strptime(str(as_of), "%Y-%m-%d").date()
        except ValueError:
            raise HealthInputError("%s %r is not a date (YYYY-MM-DD)." % (VARIABLES["as_of"], as_of))
    return last - datetime.timedelta(days=int(window_days) - 1), last


def check_thresholds(thresholds):
    merged = dict(DEFAULT_THRESHOLDS)
    merged.update({k: v for k, v in (thresholds or {}).items() if v is not None})
    if int(merged["min_attempted_total"]) < 1:
        raise HealthInputError("%s must be at least 1 (0 would call an idle service healthy)." % VARIABLES["min_attempted_total"])
    for rate, _num, option, _reason in RATES:
        value = float(merged[option])
        if not 0.0 <= value <= 1.0:
            raise HealthInputError("%s must be a fraction between 0 and 1, got %r." % (VARIABLES[option], merged[option]))
        merged[option] = value
    merged["min_attempted_total"] = int(merged["min_attempted_total"])
    return merged


def _rate(numerator, denominator):
    return round(float(numerator) / denominator, 6) if denominator else 0.0


def classify(counts, thresholds=None):
    """``(status, reason, reasons, metrics)`` for the summed ``counts`` of a window."""
    limits = check_thresholds(thresholds)
    metrics = {name: int(counts.get(name) or 0) for name in COUNTS}
    attempted = sum(metrics.values())
    metrics["attempted_total"] = attempted
    for rate, numerator, _option, _reason in RATES:
        metrics[rate] = _rate(metrics[numerator], attempted)
    if attempted == 0:
        return "insufficient_data", "delivered_total_0", ["delivered_total_0"], metrics
    if attempted < limits["min_attempted_total"]:
        return "insufficient_data", "attempted_total_below_min", ["attempted_total_below_min"], metrics
    reasons = [reason for rate, _num, option, reason in RATES if metrics[rate] > limits[option]]
    if reasons:
        return "unhealthy", reasons[0], reasons, metrics
    return "healthy", None, [], metrics


def exit_code(status, strict=False, scheduled=False):
    """The documented exit code of a watchdog outcome (see the module docstring)."""
    if status == "fail":
        return status_line.EXIT_FAIL
    if status == "not_configured":
        return status_line.EXIT_FAIL if strict else status_line.EXIT_OK
    if not strict or status == "healthy":
        return status_line.EXIT_OK
    if status == "insufficient_data" and scheduled:
        return status_line.EXIT_OK
    return status_line.EXIT_UNHEALTHY


def evaluate(counts, second_touch=None, thresholds=None, strict=False, scheduled=False, first_day=None, last_day=None):
    """The full watchdog result: status, token lines, metrics and the exit code."""
    status, reason, reasons, metrics = classify(counts, thresholds)
    code = exit_code(status, strict, scheduled)
    lines = []
    window_fields = []
    if first_day and last_day:
        window_fields = [("window_start", first_day.isoformat()), ("window_end", last_day.isoformat())]
    lines.append(status_line.format_line(METRICS_KEY, "ok", fields=window_fields + [
        (name, metrics[name]) for name in ("attempted_total",) + COUNTS + tuple(r[0] for r in RATES)]))
    if second_touch is not None:
        eligible = int(second_touch.get("eligible_total") or 0)
        touched = int(second_touch.get("second_touch_total") or 0)
        metrics.update(second_touch_eligible_total=eligible, second_touch_total=touched,
                       second_touch_rate=_rate(touched, eligible))
        lines.append(status_line.format_line(SECOND_TOUCH_KEY, "ok", fields=[
            ("eligible_total", eligible), ("second_touch_total", touched), ("second_touch_rate", metrics["second_touch_rate"])]))
    token = status_line.format_line(KEY, status, reason)
    lines.append(token)
    normalize_line = None
    if strict and scheduled and status == "insufficient_data":
        normalize_line = status_line.format_line(NORMALIZE_KEY, "normalized", "insufficient_data")
        lines.append(normalize_line)
    return {"status": status, "reason": reason, "reasons": reasons, "token_line": token, "normalize_line": normalize_line,
            "lines": lines, "exit_code": code, "metrics": metrics, "strict": bool(strict), "scheduled": bool(scheduled),
            "window": {"start": first_day.isoformat(), "end": last_day.isoformat()} if first_day and last_day else None}


def not_configured(strict=False):
    """No DSN: ``not_configured reason=missing_dsn`` (CI-safe), or ``fail`` when strict (prod must be configured)."""
    status = "fail" if strict else "not_configured"
    token = status_line.format_line(KEY, status, "missing_dsn")
    return {"status": status, "reason": "missing_dsn", "reasons": ["missing_dsn"], "token_line": token, "normalize_line": None,
            "lines": [token], "exit_code": exit_code(status, strict), "metrics": {}, "strict": bool(strict),
            "scheduled": False, "window": None}


def failed(reason, strict=False, scheduled=False):
    token = status_line.format_line(KEY, "fail", reason)
    return {"status": "fail", "reason": reason, "reasons": [reason], "token_line": token, "normalize_line": None,
            "lines": [token], "exit_code": status_line.EXIT_FAIL, "metrics": {}, "strict": bool(strict),
            "scheduled": bool(scheduled), "window": None}


def explain(result, thresholds=None):
    """The human sentence of a watchdog outcome: which rate is over which threshold, and the exit code.

    ``result`` is what ``evaluate`` returned; the threshold names are the role variables an
    operator sets (``db_ops_daily_max_hold_rate``), never only the module options.
    """
    limits = check_thresholds(thresholds)
    metrics = result.get("metrics") or {}
    window_text = ""
    if result.get("window"):
        window_text = " in the window %s..%s" % (result["window"]["start"], result["window"]["end"])
    status = result["status"]
    if status == "unhealthy":
        facts = []
        for rate, _num, option, reason in RATES:
            if reason in result["reasons"]:
                facts.append("%s=%s is above %s=%s" % (rate, metrics.get(rate), VARIABLES[option], limits[option]))
        text = "; ".join(facts) + window_text
    elif result["reason"] == "delivered_total_0":
        text = "no deliveries were attempted%s" % window_text
    elif result["reason"] == "attempted_total_below_min":
        minimum = VARIABLES["min_attempted_total"]
        text = "attempted_total=%s is below %s=%s%s" % (metrics.get("attempted_total"), minimum, limits["min_attempted_total"], window_text)
    else:
        text = "every rate is within its threshold%s" % window_text
    code = result["exit_code"]
    if code == status_line.EXIT_UNHEALTHY:
        return ("%s; a strict run (db_ops_daily_strict=true) exits %d on %s: %s."
                % (result["token_line"], code, status, text))
    if result.get("normalize_line"):
        return ("%s; a scheduled strict run (db_ops_daily_scheduled=true) exits 0 on insufficient_data: %s."
                % (result["normalize_line"], text))
    if status in ("unhealthy", "insufficient_data"):
        return "%s; not strict (db_ops_daily_strict=false), so exit code 0." % text
    return "%s." % text


def read_counts(database, first_day, last_day, metrics_table="delivery_metrics", second_touch_table="second_touch_summaries"):
    """Sum the window's counts (aggregates only). ``second_touch`` is None when its table is absent.

    Returns ``(None, None)`` when the metrics table does not exist (the caller reports missing_tables).
    """
    quoted_metrics, quoted_second = (validate_table_name(metrics_table, "metrics_table"),
                                     validate_table_name(second_touch_table, "second_touch_table"))
    present = {t: database.scalar("select to_regclass(%s) is not null as present", (t,)) for t in (metrics_table, second_touch_table)}
    if not present[metrics_table]:
        return None, None
    counts = database.query(
        "select " + ", ".join("coalesce(sum(%s), 0)::bigint as %s" % (c, c) for c in COUNTS)
        + " from %s where metric_date between %%s and %%s" % quoted_metrics, (first_day, last_day))[0]
    second = None
    if present[second_touch_table]:
        second = database.query(
            "select coalesce(sum(eligible_total), 0)::bigint as eligible_total, "
            "coalesce(sum(second_touch_total), 0)::bigint as second_touch_total "
            "from %s where metric_date between %%s and %%s" % quoted_second, (first_day, last_day))[0]
    return counts, second
