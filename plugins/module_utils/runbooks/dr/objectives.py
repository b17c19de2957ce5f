# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recovery point and recovery time of a DR drill, and the inventory's targets (RPO, RTO).

Pure functions of timestamps: the drill summary (phases.summarize) calls them with the times its phase
receipts recorded, so the same receipts always give the same numbers, and the tests pass their own clock.

- Recovery point: how old the data the drill brought back was when restore took it up -- the backup
  (``metadata.json`` ``created_at``, else the S3 LastModified of ``metadata.json``) and the control-plane
  bundle (``current.json`` ``created_at``), each measured at the restore phase's start.
- Recovery time: from the bringup phase's start to the validate phase's end (DR proven to work) and to the
  promote phase's end (DR canonical, including the wait for approval). Receipts kept from an earlier
  invocation of the same run (``start_at``, ``resume``) count: the clock runs from the run's bringup.
- Targets (``dr_rpo_target_minutes``, ``dr_rto_target_minutes``): the RPO target is compared with the older
  of backup and bundle, the RTO target with the time to validate (promote waits on a person, which the
  target does not measure). A miss is a warning (``rpo_target_missed``, ``rto_target_missed``), not a
  failure: the drill did recover, just too stale or too slow, and the operator must see it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

_COMPACT = re.compile(r"^(\d{8})T(\d{6})Z$")


def parse_time(value):
    """A timezone-aware datetime from an ISO 8601 text (``...Z``, ``+00:00``, ``20260101T000000Z``) or a datetime; None if unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        text = str(value).strip()
        compact = _COMPACT.match(text)
        if compact:
            day, hour = compact.group(1), compact.group(2)
            text = "%s-%s-%sT%s:%s:%sZ" % (day[:4], day[4:6], day[6:], hour[:2], hour[2:4], hour[4:])
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def minutes_between(start, end):
    """Minutes from ``start`` to ``end`` (rounded to 0.01), or None when either is unknown."""
    start, end = parse_time(start), parse_time(end)
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() / 60.0, 2)


def _iso(value):
    moment = parse_time(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def recovery_point(restored_at, backup_created_at=None, backup_last_modified=None, bundle_created_at=None):
    """Ages (minutes) of the backup and the bundle at ``restored_at`` (the restore's start: the clock).

    ``worst_minutes`` is the older of the two: the data the drill recovered is as stale as its oldest part.
    """
    backup_time, backup_source = (backup_created_at, "metadata.created_at") if parse_time(backup_created_at) else (
        (backup_last_modified, "s3_last_modified") if parse_time(backup_last_modified) else (None, None))
    backup_age = minutes_between(backup_time, restored_at)
    bundle_age = minutes_between(bundle_created_at, restored_at)
    ages = [a for a in (backup_age, bundle_age) if a is not None]
    return {
        "restored_at": _iso(restored_at),
        "backup_created_at": _iso(backup_time), "backup_time_source": backup_source, "backup_age_minutes": backup_age,
        "bundle_created_at": _iso(bundle_created_at), "bundle_age_minutes": bundle_age,
        "worst_minutes": max(ages) if ages else None,
    }


def recovery_time(bringup_started_at, validate_finished_at=None, promote_finished_at=None):
    """Minutes from the bringup's start to validate's end and to promote's end (None where not reached)."""
    return {
        "bringup_started_at": _iso(bringup_started_at),
        "validated_at": _iso(validate_finished_at), "to_validate_minutes": minutes_between(bringup_started_at, validate_finished_at),
        "promoted_at": _iso(promote_finished_at), "to_promote_minutes": minutes_between(bringup_started_at, promote_finished_at),
    }


def _target(value):
    """A target in minutes (> 0) from the inventory, or None when unset/empty."""
    if value in (None, "", 0, "0"):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def compare(point, time_, rpo_target_minutes=None, rto_target_minutes=None):
    """The targets and what missed them: ``{"rpo_target_minutes", "rto_target_minutes", "status", "warnings": [...]}``.

    ``status`` is ``warn`` when a measured value exceeds its target, ``ok`` when every set target was
    measured and met, ``not_measured`` when a target is set but its value is unknown (the phase did not
    run in this run), ``no_targets`` when the inventory sets none.
    """
    rpo_target, rto_target = _target(rpo_target_minutes), _target(rto_target_minutes)
    checks = (
        (rpo_target, point.get("worst_minutes"), "rpo_target_missed",
         lambda value: "recovery point %.2f min (backup %s min, bundle %s min) exceeds dr_rpo_target_minutes=%g" % (
             value, point.get("backup_age_minutes"), point.get("bundle_age_minutes"), rpo_target)),
        (rto_target, time_.get("to_validate_minutes"), "rto_target_missed",
         lambda value: "recovery time %.2f min (bringup start to validate) exceeds dr_rto_target_minutes=%g" % (value, rto_target)),
    )
    warnings, unmeasured = [], False
    for target, value, reason, describe in checks:
        if target is None:
            continue
        if value is None:
            unmeasured = True
        elif value > target:
            warnings.append({"reason": reason, "message": describe(value)})
    if warnings:
        status = "warn"
    elif rpo_target is None and rto_target is None:
        status = "no_targets"
    else:
        status = "not_measured" if unmeasured else "ok"
    return {"rpo_target_minutes": rpo_target, "rto_target_minutes": rto_target, "status": status, "warnings": warnings}


def objectives(phase_receipts, rpo_target_minutes=None, rto_target_minutes=None):
    """RPO, RTO and the targets of one drill, from its phase receipts (``{phase: receipt.v1}``).

    Only successful phases count: a failed validate did not recover anything.
    """
    def ok(phase):
        receipt = phase_receipts.get(phase)
        return receipt if receipt and receipt.get("status") == "success" else None

    restore = ok("restore") or {}
    restored = restore.get("outputs") or {}
    point = recovery_point(restore.get("started_at"), restored.get("backup_created_at"), restored.get("backup_last_modified"),
                           restored.get("bundle_created_at"))
    promote = ok("promote")
    promoted = promote if promote and (promote.get("outputs") or {}).get("promoted") else None
    time_ = recovery_time((ok("bringup") or {}).get("started_at"), (ok("validate") or {}).get("finished_at"),
                          (promoted or {}).get("finished_at"))
    return {"recovery_point": point, "recovery_time": time_, "targets": compare(point, time_, rpo_target_minutes, rto_target_minutes)}
