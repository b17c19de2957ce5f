#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ops_daily
short_description: The ops_daily watchdog - healthy, insufficient_data or unhealthy from aggregate delivery metrics
version_added: "0.1.0"
description:
  - Replaces the scheduled C(ops_daily) job of the DB-backed service runbook.
  - Sums the delivery counts (delivered, held, suppressed, failed) of O(metrics_table) over
    O(window_days) days ending on O(as_of), and the second-touch summary when that table exists.
    Reads aggregates only; every returned line is safe to share.
  - C(ops_daily_watchdog status=insufficient_data reason=delivered_total_0) when there was no
    traffic; C(insufficient_data reason=attempted_total_below_min) below O(min_attempted_total);
    C(unhealthy reason=hold_rate_high|suppression_rate_high|failure_rate_high) when a rate is above
    its threshold; otherwise C(ops_daily_watchdog status=healthy).
  - Exit codes (C(exit_code)). With O(strict=true) (scheduled prod) C(unhealthy) and
    C(insufficient_data) are 2, unless O(scheduled=true) normalizes C(insufficient_data) to 0 and
    adds the line C(ops_ci_normalize status=normalized reason=insufficient_data). Without
    O(strict) the watchdog reports and exits 0. A failure (no tables, no connection) is 1.
  - No O(dsn) gives C(ops_daily_watchdog status=not_configured reason=missing_dsn) (exit 0), or
    C(status=fail reason=missing_dsn) (exit 1) when O(strict=true).
  - The task fails when C(exit_code) is not 0; the result still carries the lines and the receipt.
author:
  - signalcraft maintainers (@signalcraft)
options:
  dsn:
    description: The PostgreSQL connection string. Never logged.
    type: str
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
  connect_timeout:
    description: Seconds to wait for the connection.
    type: int
    default: 10
  statement_timeout_ms:
    description: Statement timeout for this session in milliseconds; 0 for none.
    type: int
    default: 60000
extends_documentation_fragment:
  - signalcraft.ops.receipt
attributes:
  check_mode:
    support: full
    description: Reads only; runs fully in check mode.
  diff_mode:
    support: none
    description: Nothing is changed.
"""

EXAMPLES = r"""
- name: Run the watchdog strictly, as the scheduled prod job does
  signalcraft.ops.ops_daily:
    dsn: "{{ db_ops_dsn }}"
    strict: true
    scheduled: true
    max_hold_rate: 0.05
  register: ops_daily
"""

RETURN = r"""
status:
  description: C(healthy), C(insufficient_data), C(unhealthy), C(not_configured) or C(fail).
  returned: always
  type: str
reason:
  description: The first reason token, or null when healthy.
  returned: always
  type: str
  sample: delivered_total_0
reasons:
  description: Every reason that applies (all exceeded rates).
  returned: always
  type: list
  elements: str
token_line:
  description: The watchdog's status line.
  returned: always
  type: str
  sample: ops_daily_watchdog status=insufficient_data reason=delivered_total_0
normalize_line:
  description: C(ops_ci_normalize status=normalized reason=insufficient_data) when a scheduled strict run normalized.
  returned: always
  type: str
lines:
  description: Every line to print, in order (metrics, second touch, watchdog, normalize).
  returned: always
  type: list
  elements: str
exit_code:
  description: The runbook's exit code for this outcome (0, 1 or 2).
  returned: always
  type: int
metrics:
  description: Aggregate counts and rates of the window.
  returned: always
  type: dict
  sample: {"delivered_total": 950, "held_total": 20, "hold_rate": 0.02}
window:
  description: The first and last day summed.
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
receipt:
  description: A receipt.v1 document (operation C(db_ops), phase C(ops_daily)).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.signalcraft.ops.plugins.module_utils.services import db
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.db import ops_health
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.db.migrations import MigrationError


def run(params):
    strict, scheduled = params["strict"], params["scheduled"]
    thresholds = {k: params[k] for k in ("min_attempted_total", "max_hold_rate", "max_suppression_rate", "max_failure_rate")}
    ops_health.check_thresholds(thresholds)
    first, last = ops_health.window(params["as_of"], params["window_days"])
    if not (params["dsn"] or "").strip():
        return ops_health.not_configured(strict), None
    database = db.open_session(params["dsn"], "signalcraft.ops.ops_daily", params["connect_timeout"], params["statement_timeout_ms"])
    try:
        counts, second = ops_health.read_counts(database, first, last, params["metrics_table"], params["second_touch_table"])
    finally:
        database.close()
    if counts is None:
        return ops_health.failed("missing_tables", strict, scheduled), \
            "table %s does not exist; run db_bootstrap apply_migrations." % params["metrics_table"]
    return ops_health.evaluate(counts, second, thresholds, strict, scheduled, first, last), None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dsn=dict(type="str", no_log=True),
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
            connect_timeout=dict(type="int", default=10),
            statement_timeout_ms=dict(type="int", default=60000),
            execution_id=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    started = receipts.utc_now()
    try:
        result, detail = run(params)
    except ops_health.HealthInputError as exc:
        result, detail = ops_health.failed("invalid_input", params["strict"], params["scheduled"]), str(exc)
    except (db.DbError, MigrationError) as exc:
        result, detail = ops_health.failed(exc.reason, params["strict"], params["scheduled"]), exc.message
    inputs = {k: params[k] for k in ("strict", "scheduled", "window_days", "as_of", "min_attempted_total", "max_hold_rate",
                                     "max_suppression_rate", "max_failure_rate", "metrics_table", "second_touch_table")}
    inputs["dsn_configured"] = bool((params["dsn"] or "").strip())
    result["receipt"] = receipts.build(
        "db_ops", "ops_daily", "success" if result["exit_code"] == 0 else "failed",
        receipts.execution_id(params["execution_id"], "ops_daily", started), started,
        inputs=inputs, outputs={k: v for k, v in result.items() if k != "receipt"},
        failure_code=result["reason"] or result["status"], message=detail, module="signalcraft.ops.ops_daily",
        secret_values=[params["dsn"] or "", db.dsn_password(params["dsn"]) or ""],
    )
    result["changed"] = False
    if result["exit_code"] != 0:
        module.fail_json(msg="%s%s" % (result["token_line"], (": " + detail) if detail else " (exit code %d)" % result["exit_code"]),
                         **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
