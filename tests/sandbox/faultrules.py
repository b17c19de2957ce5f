"""Fault-rule scheduling shared by the AWS layer and the Kubernetes emulator.

A rule says *which* requests it matches (each component defines that) and *how often* to inject:
of the requests it matches, the first ``skip_first`` pass untouched; after that each one is
injected with probability ``fraction`` (drawn from one RNG seeded by the POSTed ``seed``, so a
single-threaded test sees a reproducible sequence) until ``count`` injections have been made.
Rules are tried in order and the first that injects wins.
"""

import random
import threading
from collections import Counter
from dataclasses import asdict, dataclass, fields
from typing import Optional

COUNTERS = ("matched", "injected")


class FaultConfigError(ValueError):
    """The POSTed fault configuration is invalid (answered with HTTP 400)."""


@dataclass
class ScheduledRule:
    """When a matching request is injected; subclasses add the match fields and ``matches()``."""

    fraction: float = 1.0
    error: str = ""
    latency_ms: int = 0
    skip_first: int = 0
    count: Optional[int] = None
    matched: int = 0
    injected: int = 0

    ERROR_KINDS = ()

    @classmethod
    def from_dict(cls, data):
        """Validate and build a rule from its JSON form (counters are accepted but reset to zero)."""
        if not isinstance(data, dict):
            raise FaultConfigError("each rule must be an object")
        names = [f.name for f in fields(cls) if f.name not in COUNTERS]
        unknown = set(data) - set(names) - set(COUNTERS)
        if unknown:
            raise FaultConfigError("unknown rule fields: %s" % ", ".join(sorted(unknown)))
        rule = cls(**{name: value for name, value in data.items() if name in names})
        rule.error = str(rule.error or cls.ERROR_KINDS[0])
        if rule.error not in cls.ERROR_KINDS:
            raise FaultConfigError("error must be one of %s" % ", ".join(cls.ERROR_KINDS))
        try:
            rule.fraction = float(rule.fraction)
            rule.latency_ms = int(rule.latency_ms)
            rule.skip_first = int(rule.skip_first)
            rule.count = None if rule.count is None else int(rule.count)
        except (TypeError, ValueError) as exc:
            raise FaultConfigError("bad number in rule: %s" % exc) from exc
        if not 0.0 <= rule.fraction <= 1.0:
            raise FaultConfigError("fraction must be between 0 and 1")
        rule.validate_match()
        return rule

    def validate_match(self):
        """Subclasses check their match fields here (raise FaultConfigError)."""

    def matches(self, request):
        """Whether ``request`` falls under this rule (counters untouched)."""
        raise NotImplementedError

    def to_dict(self):
        """JSON form, including the counters."""
        return asdict(self)


class RuleEngine:
    """Thread-safe holder of the active rules, their RNG and the injection counters."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []
        self._seed = None
        self._rng = random.Random()
        self._injected = Counter()

    def replace_rules(self, rules, seed=None):
        """Install ``rules`` (already validated), reset counters and reseed the RNG."""
        with self._lock:
            self._rules = list(rules)
            self._seed = seed
            self._rng = random.Random(seed)
            self._injected = Counter()

    def decide(self, request, label):
        """The rule to apply to ``request`` (a copy) or None; counts injections under ``label``."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(request):
                    continue
                rule.matched += 1
                if rule.matched <= rule.skip_first or (rule.count is not None and rule.injected >= rule.count):
                    continue
                # Draw even for fraction 1.0 so the RNG sequence does not depend on the rule mix.
                if self._rng.random() < rule.fraction:
                    rule.injected += 1
                    self._injected[label] += 1
                    return type(rule)(**rule.to_dict())
        return None

    def snapshot(self):
        """``{"seed", "rules": [...], "injected": {label: n}}``."""
        with self._lock:
            return {"seed": self._seed, "rules": [rule.to_dict() for rule in self._rules], "injected": dict(self._injected)}
