#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: db_ops_daily
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: The ops_daily watchdog - healthy, insufficient_data or unhealthy from aggregate delivery metrics
description:
  - Replaces the scheduled C(ops_daily) job of the DB-backed service runbook.
  - Sums the delivery counts (delivered, held, suppressed, failed) of O(metrics_table) over
    O(window_days) days ending on O(as_of), and the second-touch summary when that table exists.
    Reads aggregates only; every returned line is safe to share.
  - C(ops_daily_watchdog status=insufficient_data reason=delivered_total_0) when there was no
    traffic; C(insufficient_data reason=attempted_total_below_min) below O(min_attempted_total);
    C(unhealthy reason=hold_rate_high|suppression_rate_high|failure_rate_high) when a rate is above
    its threshold; otherwise C(ops_daily_watchdog status=healthy).
  - Exit codes (RV(outputs.exit_code), what C(scripts/ops_db.py) exits with). Without O(strict) the
    watchdog reports and exits 0 - C(unhealthy) and C(insufficient_data) are results with that
    status, not failures. With O(strict=true) (scheduled prod) C(unhealthy) and C(insufficient_data)
    exit 2 and fail the task with the watchdog's reason token
    (C(ops_daily_watchdog status=fail reason=hold_rate_high health=unhealthy exit_code=2); RV(outputs.lines)
    keep the runbook's C(ops_daily_watchdog status=unhealthy reason=hold_rate_high)), unless O(scheduled=true)
    normalizes C(insufficient_data) to 0 and adds the line C(ops_ci_normalize status=normalized reason=insufficient_data).
    A failure (no tables, no connection, bad thresholds) is 1.
  - No O(dsn) gives C(ops_daily_watchdog status=not_configured reason=missing_dsn) (exit 0), or
    C(status=fail reason=missing_dsn) (exit 1) when O(strict=true).
  - The receipt has operation and phase C(ops_daily); the collection's action plugin writes it.
options:
  strict:
    description: Exit 2 on C(unhealthy) and C(insufficient_data) (the scheduled prod run).
    type: bool
    default: false
  scheduled:
    description: A scheduled run; with O(strict), C(insufficient_data) is normalized to exit 0.
    type: bool
    default: false
  window_days:
    description: How many days, ending on O(as_of), to sum.
    type: int
    default: 1
  as_of:
    description: The last day of the window (C(YYYY-MM-DD)). Defaults to yesterday, the last complete UTC day.
    type: str
  min_attempted_total:
    description: Fewer attempts than this in the window is C(insufficient_data).
    type: int
    default: 1
  max_hold_rate:
    description: Held over attempted above this fraction is C(unhealthy) (C(hold_rate_high)).
    type: float
    default: 0.05
  max_suppression_rate:
    description: Suppressed over attempted above this fraction is C(unhealthy) (C(suppression_rate_high)).
    type: float
    default: 0.10
  max_failure_rate:
    description: Failed over attempted above this fraction is C(unhealthy) (C(failure_rate_high)).
    type: float
    default: 0.02
  metrics_table:
    description: The daily delivery metrics table (see the shipped migrations).
    type: str
    default: delivery_metrics
  second_touch_table:
    description: The daily second-touch summary table; skipped when it does not exist.
    type: str
    default: second_touch_summaries
requirements:
  - psycopg >= 3 (C(psycopg[binary]))
extends_documentation_fragment: [signalcraft.ops.receipt, signalcraft.ops.read_only, signalcraft.ops.postgres]
"""

EXAMPLES = r"""
- name: Run the watchdog strictly, as the scheduled prod job does
  signalcraft.ops.db_ops_daily:
    dsn: "{{ db_ops_dsn }}"
    strict: true
    scheduled: true
    max_hold_rate: 0.05
  register: ops_daily

- name: Print the metric and watchdog lines
  ansible.builtin.debug:
    msg: "{{ ops_daily.outputs.lines }}"
"""

RETURN = r"""
status:
  description:
    - C(healthy), C(insufficient_data), C(unhealthy), C(not_configured) or C(fail).
    - A strict run that exits 2 is C(fail) with the watchdog's reason; RV(outputs.health) keeps its classification.
  returned: always
  type: str
outputs:
  description: The aggregate metrics, the classification and the runbook's lines and exit code.
  returned: always
  type: dict
  contains:
    exit_code:
      description: The runbook's exit code for this outcome (0, 1 or 2); C(scripts/ops_db.py) exits with it.
      returned: always
      type: int
    health:
      description: The watchdog's classification (C(healthy), C(insufficient_data), C(unhealthy)), or C(not_configured).
      returned: when the metrics were classified or no DSN was given
      type: str
    reasons:
      description: Every reason that applies (all exceeded rates).
      returned: when the metrics were classified or no DSN was given
      type: list
      elements: str
    lines:
      description:
        - The runbook's lines, in order (metrics, second touch, watchdog, normalize), exactly as C(scripts/ops_db.py) prints them.
      returned: when the metrics were classified or no DSN was given
      type: list
      elements: str
    normalize_line:
      description: C(ops_ci_normalize status=normalized reason=insufficient_data) when a scheduled strict run normalized, else null.
      returned: when the metrics were classified or no DSN was given
      type: str
    metrics:
      description: Aggregate counts and rates of the window.
      returned: when the metrics were read
      type: dict
      sample: {"delivered_total": 950, "held_total": 20, "hold_rate": 0.02}
    window:
      description: The first and last day summed (C(start), C(end)).
      returned: when the metrics were read
      type: dict
    strict:
      description: Whether the run was strict.
      returned: always
      type: bool
    scheduled:
      description: Whether the run was a scheduled one.
      returned: always
      type: bool
    dsn_configured:
      description: Whether a DSN was given (the DSN itself is never returned).
      returned: always
      type: bool
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core import status_line
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.db import ops_health
from ansible_collections.signalcraft.ops.plugins.module_utils.services.db import DbConnection, ops_database_argument_spec

ARGUMENT_SPEC = dict(
    **ops_database_argument_spec(),
    strict=dict(type="bool", default=False),
    scheduled=dict(type="bool", default=False),
    window_days=dict(type="int", default=1),
    as_of=dict(type="str"),
    min_attempted_total=dict(type="int", default=1),
    max_hold_rate=dict(type="float", default=0.05),
    max_suppression_rate=dict(type="float", default=0.10),
    max_failure_rate=dict(type="float", default=0.02),
    metrics_table=dict(type="str", default="delivery_metrics"),
    second_touch_table=dict(type="str", default="second_touch_summaries"),
)
# The classification's keys that are outputs (the status and reason are the result's own).
OUTPUT_KEYS = ("reasons", "lines", "normalize_line", "exit_code", "metrics", "strict", "scheduled", "window")


def _outputs(result, configured):
    outputs = {k: result[k] for k in OUTPUT_KEYS}
    outputs.update(health=result["status"], dsn_configured=configured)
    return outputs


def _classify(ops, thresholds, configured):
    params = ops.params
    strict, scheduled = params["strict"], params["scheduled"]
    first, last = ops_health.window(params["as_of"], params["window_days"])
    ops_health.validate_table_name(params["metrics_table"], "metrics_table")
    ops_health.validate_table_name(params["second_touch_table"], "second_touch_table")
    if not configured:
        result = ops_health.not_configured(strict)
        outputs = dict(_outputs(result, configured), health="not_configured")
        if strict:
            raise OpsError("missing_dsn", "a strict run (db_ops_daily_strict=true) needs the database; set db_ops_dsn in the "
                           "inventory (prod reads DATABASE_URL).", details=outputs)
        return dict(status=result["status"], reason=result["reason"], outputs=outputs,
                    message="db_ops_dsn is empty; set it in the inventory to run the watchdog.")
    with ops.connection("db").session(params["dsn"], "signalcraft.ops.db_ops_daily", params["connect_timeout"],
                                      params["statement_timeout_ms"]) as database:
        counts, second = ops_health.read_counts(database, first, last, params["metrics_table"], params["second_touch_table"])
    if counts is None:
        raise OpsError("missing_tables", "table %s does not exist; run db_bootstrap.yml -e db_ops_bootstrap_mode=apply_migrations."
                       % params["metrics_table"], details={"strict": strict, "scheduled": scheduled})
    result = ops_health.evaluate(counts, second, thresholds, strict, scheduled, first, last)
    message = ops_health.explain(result, thresholds)
    if result["exit_code"] != status_line.EXIT_OK:
        # Strict: unhealthy, or insufficient_data a scheduled run did not normalize, exits 2. The
        # failure carries the watchdog's reason; outputs.lines keep the runbook's own lines.
        details = _outputs(result, configured)
        details["line"] = [("health", result["status"]), ("exit_code", result["exit_code"])]
        raise OpsError(result["reason"], message, details=details)
    return dict(status=result["status"], reason=result["reason"], outputs=_outputs(result, configured), message=message)


def run(ops):
    params = ops.params
    configured = ops.connection("db").configured(params["dsn"])
    try:
        thresholds = ops_health.check_thresholds(
            {k: params[k] for k in ("min_attempted_total", "max_hold_rate", "max_suppression_rate", "max_failure_rate")})
        return _classify(ops, thresholds, configured)
    except OpsError as exc:
        exc.add_context({"exit_code": status_line.EXIT_FAIL, "strict": params["strict"], "scheduled": params["scheduled"],
                         "dsn_configured": configured})
        raise


def main():
    OpsModule(ARGUMENT_SPEC, operation="ops_daily", phase="ops_daily", status_key=ops_health.KEY, connections=[DbConnection]).run(run)


if __name__ == "__main__":
    main()
