"""Small helpers shared by the emulator modules (time stamps, copies, random names)."""

import copy
import datetime
import random
import string

# The alphabet the real apiserver uses for generateName suffixes (no vowels, no look-alikes).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_RNG = random.SystemRandom()

MISSING = object()


def now():
    """The current UTC time as an aware datetime."""
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment=None):
    """RFC 3339 with second precision, the way metav1.Time serialises."""
    return (moment or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text):
    """Parse an RFC 3339 time stamp written by :func:`iso` (or with fractions / offsets)."""
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def deep(value):
    """Deep copy of a JSON-like value."""
    return copy.deepcopy(value)


def name_suffix(length=5):
    """A random suffix like the apiserver's ``generateName`` one."""
    return "".join(_RNG.choice(_NAME_ALPHABET) for dummy in range(length))


def random_hex(length=16):
    """Random lowercase hex digits (event name suffixes, container ids)."""
    return "".join(_RNG.choice(string.hexdigits[:16]) for dummy in range(length))


def dig(obj, *path, default=None):
    """``obj[p0][p1]...`` for nested dicts, or ``default`` when any step is missing."""
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return default
        obj = obj[key]
    return obj


def humanize_age(created, moment=None):
    """kubectl-style short duration (``5s``, ``3m``, ``2h``, ``4d``)."""
    start = parse_iso(created)
    if start is None:
        return "<unknown>"
    seconds = max(0, int(((moment or now()) - start).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return "%d%s" % (seconds // size, unit)
    return "%ds" % seconds
