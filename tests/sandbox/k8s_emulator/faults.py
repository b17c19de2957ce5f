"""Fault injection, switchable at run time through ``/_sandbox/faults`` (same shape as the AWS layer's).

API rules match on verb, resource, namespace and name. Of the requests a rule matches, the first
``skip_first`` pass untouched; after that each one is injected with probability ``fraction`` (drawn
from one RNG seeded by the POSTed ``seed``) until ``count`` injections were made. Rules are tried in
order and the first that injects wins. ``latency`` sleeps ``latency_ms`` and lets the request
through; ``500``/``429``/``503`` answer with the real server's Status instead.

Image-pull faults are not HTTP faults: ``{"pull": {"revoke_credentials": true}}`` records a
revocation time (pull secrets last written before it stop working) and ``{"pull": {"fail_images":
["substr"], "reason": "ErrImagePull"}}`` makes pulls of matching images fail.
"""

import random
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Optional

ERROR_KINDS = ("500", "429", "503", "latency")
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "*")
_MATCH_FIELDS = ("verb", "resource", "namespace", "name")
_RULE_FIELDS = ("match", "fraction", "error", "latency_ms", "skip_first", "count")
_COUNTERS = ("matched", "injected")


class FaultConfigError(ValueError):
    """The POSTed fault configuration is invalid (answered with HTTP 400)."""


@dataclass
class FaultRule:
    """One injection rule plus its live counters."""

    match: dict = field(default_factory=dict)
    fraction: float = 1.0
    error: str = "500"
    latency_ms: int = 0
    skip_first: int = 0
    count: Optional[int] = None
    matched: int = 0
    injected: int = 0

    @classmethod
    def from_dict(cls, data):
        """Validate and build a rule from its JSON form (counters are accepted but reset)."""
        if not isinstance(data, dict):
            raise FaultConfigError("each rule must be an object")
        unknown = set(data) - set(_RULE_FIELDS) - set(_COUNTERS)
        if unknown:
            raise FaultConfigError("unknown rule fields: %s" % ", ".join(sorted(unknown)))
        rule = cls(**{name: value for name, value in data.items() if name in _RULE_FIELDS})
        if not isinstance(rule.match, dict) or set(rule.match) - set(_MATCH_FIELDS):
            raise FaultConfigError("match may only hold %s" % ", ".join(_MATCH_FIELDS))
        if rule.match.get("verb", "*") not in VERBS:
            raise FaultConfigError("verb must be one of %s" % ", ".join(VERBS))
        rule.error = str(rule.error)
        if rule.error not in ERROR_KINDS:
            raise FaultConfigError("error must be one of %s" % ", ".join(ERROR_KINDS))
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

    def matches(self, request):
        """Whether ``request`` (a dict with verb/resource/namespace/name) falls under this rule."""
        for key in _MATCH_FIELDS:
            wanted = self.match.get(key, "*")
            if wanted not in ("*", None) and wanted != (request.get(key) or ""):
                return False
        return True

    def to_dict(self):
        """JSON form, including the counters."""
        return asdict(self)


class PullFaults:
    """Image-pull faults: credential revocation time and images that must fail."""

    def __init__(self):
        self.revoked_at = None
        self.fail_images = []
        self.reason = "ErrImagePull"
        self.message = "sandbox fault injection"

    def configure(self, data):
        """Merge a ``pull`` object into the settings."""
        if not isinstance(data, dict):
            raise FaultConfigError("pull must be an object")
        if data.get("revoke_credentials"):
            self.revoked_at = time.time()
        if "fail_images" in data:
            if not isinstance(data["fail_images"], list):
                raise FaultConfigError("fail_images must be a list of substrings")
            self.fail_images = [str(item) for item in data["fail_images"]]
        self.reason = str(data.get("reason", self.reason))
        self.message = str(data.get("message", self.message))

    def failing(self, image):
        """The injected failure for ``image`` as ``(reason, message)`` or None."""
        for fragment in self.fail_images:
            if fragment and fragment in image:
                return self.reason, self.message
        return None

    def to_dict(self):
        """JSON form."""
        return {"revoked_at": self.revoked_at, "fail_images": list(self.fail_images), "reason": self.reason, "message": self.message}


class FaultInjector:
    """Thread-safe holder of the active rules, pull faults and counters."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []
        self._seed = None
        self._rng = random.Random()
        self._injected = Counter()
        self.pull = PullFaults()

    def configure(self, payload):
        """Apply a POSTed ``{"seed", "rules", "pull"}``; ``rules`` (when given) replaces all rules."""
        if not isinstance(payload, dict) or not isinstance(payload.get("rules", []), list):
            raise FaultConfigError('expected {"seed": int, "rules": [...], "pull": {...}}')
        rules = [FaultRule.from_dict(item) for item in payload.get("rules", [])]
        with self._lock:
            if "rules" in payload or "seed" in payload:
                self._rules = rules
                self._seed = payload.get("seed")
                self._rng = random.Random(self._seed)
                self._injected = Counter()
            if "pull" in payload:
                self.pull.configure(payload["pull"])

    def clear(self):
        """Remove every rule, the pull faults and the counters."""
        with self._lock:
            self._rules = []
            self._seed = None
            self._rng = random.Random()
            self._injected = Counter()
            self.pull = PullFaults()

    def decide(self, request):
        """The rule to apply to ``request`` or None; updates the counters."""
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
                    self._injected["%s:%s" % (request.get("verb"), request.get("resource"))] += 1
                    return FaultRule(**rule.to_dict())
        return None

    def snapshot(self):
        """``{"seed", "rules": [...], "injected": {"create:configmaps": n}, "pull": {...}}``."""
        with self._lock:
            return {"seed": self._seed, "rules": [rule.to_dict() for rule in self._rules], "injected": dict(self._injected),
                    "pull": self.pull.to_dict()}
