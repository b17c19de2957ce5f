"""Standard five-field cron schedules (the subset ``robfig/cron``'s ParseStandard accepts)."""

import datetime

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_MONTHS = {name: i + 1 for i, name in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
_DAYS = {name: i for i, name in enumerate("sun mon tue wed thu fri sat".split())}
# (name, minimum, maximum, names)
_FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}), ("month", 1, 12, _MONTHS),
           ("day of week", 0, 6, _DAYS))


class CronError(ValueError):
    """Unparseable schedule; the message is worded like robfig/cron's."""


def _number(text, names):
    lowered = text.lower()
    if lowered in names:
        return names[lowered]
    try:
        return int(text)
    except ValueError as exc:
        raise CronError("failed to parse int from %s: strconv.Atoi: parsing \"%s\": invalid syntax" % (text, text)) from exc


def _parse_field(text, low, high, names):
    values = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = _number(step_text, {})
            if step <= 0:
                raise CronError("step of range should be a positive number: %s" % text)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _number(first, names), _number(last, names)
        else:
            start = _number(part, names)
            end = high if step > 1 else start
        if start < low:
            raise CronError("beginning of range (%d) below minimum (%d): %s" % (start, low, text))
        if end > high:
            raise CronError("end of range (%d) above maximum (%d): %s" % (end, high, text))
        if start > end:
            raise CronError("beginning of range (%d) beyond end of range (%d): %s" % (start, end, text))
        values.update(range(start, end + 1, step))
    return values


class Schedule:
    """A parsed schedule; :meth:`matches` tells whether a minute fires."""

    def __init__(self, text):
        spec = (text or "").strip()
        if spec.startswith("@"):
            if spec not in _DESCRIPTORS:
                raise CronError("unrecognized descriptor: %s" % spec)
            spec = _DESCRIPTORS[spec]
        parts = spec.split()
        if len(parts) != 5:
            raise CronError("expected exactly 5 fields, found %d: %s" % (len(parts), text))
        self.sets = [_parse_field(part, low, high, names) for part, (dummy, low, high, names) in zip(parts, _FIELDS)]
        # robfig/cron: when either day field is unrestricted ("*"/"?") both must match, otherwise either.
        self.dom_star = parts[2] in ("*", "?") or parts[2].startswith("*")
        self.dow_star = parts[4] in ("*", "?") or parts[4].startswith("*")

    def matches(self, moment):
        """Whether the schedule fires in the minute of ``moment``."""
        minutes, hours, doms, months, dows = self.sets
        if moment.minute not in minutes or moment.hour not in hours or moment.month not in months:
            return False
        dom_ok = moment.day in doms
        dow_ok = moment.isoweekday() % 7 in dows
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def next_after(self, moment, limit_minutes=366 * 24 * 60):
        """The first firing minute strictly after ``moment`` (None when none within ``limit_minutes``)."""
        probe = moment.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
        for dummy in range(limit_minutes):
            if self.matches(probe):
                return probe
            probe += datetime.timedelta(minutes=1)
        return None
