"""Fault injection rules, switchable at run time through ``/_sandbox/faults``.

A rule matches on service, operation and (for S3) key prefix. Of the requests it matches, the first
``skip_first`` pass untouched; after that each one is injected with probability ``fraction`` (drawn
from one RNG seeded by the POSTed ``seed``, so a single-threaded test sees a reproducible sequence)
until ``count`` injections have been made. Rules are tried in order and the first that injects
wins. ``latency`` delays the request and then lets it through; every other kind answers with the
service's own error instead of calling moto.
"""

import random
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Optional

from .protocol_errors import FAULT_KINDS

_COUNTERS = ("matched", "injected")
_RULE_FIELDS = ("service", "operation", "key_prefix", "fraction", "error", "latency_ms", "skip_first", "count")


class FaultConfigError(ValueError):
    """The POSTed fault configuration is invalid (answered with HTTP 400)."""


@dataclass
class FaultRule:
    """One injection rule plus its live counters (``matched``, ``injected``)."""

    service: str = "*"
    operation: str = "*"
    key_prefix: Optional[str] = None
    fraction: float = 1.0
    error: str = "throttle"
    latency_ms: int = 0
    skip_first: int = 0
    count: Optional[int] = None
    matched: int = 0
    injected: int = 0

    @classmethod
    def from_dict(cls, data):
        """Validate and build a rule from its JSON form."""
        if not isinstance(data, dict):
            raise FaultConfigError("each rule must be an object")
        unknown = set(data) - set(_RULE_FIELDS) - set(_COUNTERS)
        if unknown:
            raise FaultConfigError("unknown rule fields: %s" % ", ".join(sorted(unknown)))
        # Counters are accepted (so a GET result can be POSTed back) but always start at zero.
        rule = cls(**{name: value for name, value in data.items() if name in _RULE_FIELDS})
        rule.error = str(rule.error)
        if rule.error not in FAULT_KINDS:
            raise FaultConfigError("error must be one of %s" % ", ".join(FAULT_KINDS))
        try:
            rule.fraction = float(rule.fraction)
            rule.latency_ms = int(rule.latency_ms)
            rule.skip_first = int(rule.skip_first)
            rule.count = None if rule.count is None else int(rule.count)
        except (TypeError, ValueError) as exc:
            raise FaultConfigError("bad number in rule: %s" % exc) from exc
        if not 0.0 <= rule.fraction <= 1.0:
            raise FaultConfigError("fraction must be between 0 and 1")
        return rule

    def matches(self, info):
        """Whether the request falls under this rule (counters untouched)."""
        if self.service not in ("*", info.service) or self.operation not in ("*", info.operation):
            return False
        return self.key_prefix is None or (info.key or "").startswith(self.key_prefix)

    def to_dict(self):
        """JSON form, including the counters."""
        return asdict(self)


class FaultInjector:
    """Thread-safe holder of the active rules and the injection counters."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []
        self._seed = None
        self._rng = random.Random()
        self._injected = Counter()

    def configure(self, payload):
        """Replace all rules (and reset counters and RNG) from a POSTed ``{"seed", "rules"}``."""
        if not isinstance(payload, dict) or not isinstance(payload.get("rules", []), list):
            raise FaultConfigError('expected {"seed": int, "rules": [...]}')
        rules = [FaultRule.from_dict(item) for item in payload.get("rules", [])]
        with self._lock:
            self._rules = rules
            self._seed = payload.get("seed")
            self._rng = random.Random(self._seed)
            self._injected = Counter()

    def clear(self):
        """Remove every rule and reset the counters."""
        self.configure({"rules": []})

    def decide(self, info):
        """The rule to apply to this request, or None; updates the counters."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(info):
                    continue
                rule.matched += 1
                if rule.matched <= rule.skip_first or (rule.count is not None and rule.injected >= rule.count):
                    continue
                # Draw even for fraction 1.0 so the RNG sequence does not depend on the rule mix.
                if self._rng.random() < rule.fraction:
                    rule.injected += 1
                    self._injected[info.label] += 1
                    return FaultRule(**rule.to_dict())
        return None

    def snapshot(self):
        """``{"seed", "rules": [...], "injected": {"s3:PutObject": n}}``."""
        with self._lock:
            return {"seed": self._seed, "rules": [rule.to_dict() for rule in self._rules], "injected": dict(self._injected)}
