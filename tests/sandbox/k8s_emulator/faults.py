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

import time
from dataclasses import dataclass, field

from tests.sandbox.faultrules import FaultConfigError, RuleEngine, ScheduledRule

__all__ = ["FaultConfigError", "FaultInjector", "FaultRule", "PullFaults"]

ERROR_KINDS = ("500", "429", "503", "latency")
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "*")
_MATCH_FIELDS = ("verb", "resource", "namespace", "name")


@dataclass
class FaultRule(ScheduledRule):
    """One injection rule (``match`` on verb/resource/namespace/name) plus its live counters."""

    match: dict = field(default_factory=dict)

    ERROR_KINDS = ERROR_KINDS

    def validate_match(self):
        if not isinstance(self.match, dict) or set(self.match) - set(_MATCH_FIELDS):
            raise FaultConfigError("match may only hold %s" % ", ".join(_MATCH_FIELDS))
        if self.match.get("verb", "*") not in VERBS:
            raise FaultConfigError("verb must be one of %s" % ", ".join(VERBS))

    def matches(self, request):
        """Whether ``request`` (a dict with verb/resource/namespace/name) falls under this rule."""
        for key in _MATCH_FIELDS:
            wanted = self.match.get(key, "*")
            if wanted not in ("*", None) and wanted != (request.get(key) or ""):
                return False
        return True


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


class FaultInjector(RuleEngine):
    """The emulator's API rules (counters labelled ``verb:resource``) plus image-pull faults."""

    def __init__(self):
        super().__init__()
        self.pull = PullFaults()

    def configure(self, payload):
        """Apply a POSTed ``{"seed", "rules", "pull"}``; ``rules`` (when given) replaces all rules."""
        if not isinstance(payload, dict) or not isinstance(payload.get("rules", []), list):
            raise FaultConfigError('expected {"seed": int, "rules": [...], "pull": {...}}')
        rules = [FaultRule.from_dict(item) for item in payload.get("rules", [])]
        if "pull" in payload:
            self.pull.configure(payload["pull"])
        if "rules" in payload or "seed" in payload:
            self.replace_rules(rules, payload.get("seed"))

    def clear(self):
        """Remove every rule, the pull faults and the counters."""
        self.replace_rules([])
        self.pull = PullFaults()

    def decide(self, request, label=None):
        """The rule to apply to ``request`` or None; updates the counters."""
        return super().decide(request, label or "%s:%s" % (request.get("verb"), request.get("resource")))

    def snapshot(self):
        """``{"seed", "rules": [...], "injected": {"create:configmaps": n}, "pull": {...}}``."""
        result = super().snapshot()
        result["pull"] = self.pull.to_dict()
        return result
