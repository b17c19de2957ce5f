"""Fault injection rules, switchable at run time through ``/_sandbox/faults``.

A rule matches on service, operation and (for S3) key prefix. Of the requests it matches, the first
``skip_first`` pass untouched; after that each one is injected with probability ``fraction`` (drawn
from one RNG seeded by the POSTed ``seed``, so a single-threaded test sees a reproducible sequence)
until ``count`` injections have been made. Rules are tried in order and the first that injects
wins. ``latency`` delays the request and then lets it through; every other kind answers with the
service's own error instead of calling moto.
"""

from dataclasses import dataclass
from typing import Optional

from tests.sandbox.faultrules import FaultConfigError, RuleEngine, ScheduledRule

from .protocol_errors import FAULT_KINDS

__all__ = ["FaultConfigError", "FaultInjector", "FaultRule"]


@dataclass
class FaultRule(ScheduledRule):
    """One injection rule (service, operation, S3 key prefix) plus its live counters."""

    service: str = "*"
    operation: str = "*"
    key_prefix: Optional[str] = None

    ERROR_KINDS = FAULT_KINDS

    def matches(self, request):
        """Whether the request falls under this rule (counters untouched)."""
        if self.service not in ("*", request.service) or self.operation not in ("*", request.operation):
            return False
        return self.key_prefix is None or (request.key or "").startswith(self.key_prefix)


class FaultInjector(RuleEngine):
    """The AWS layer's rules; counters are labelled ``service:Operation``."""

    def configure(self, payload):
        """Replace all rules (and reset counters and RNG) from a POSTed ``{"seed", "rules"}``."""
        if not isinstance(payload, dict) or not isinstance(payload.get("rules", []), list):
            raise FaultConfigError('expected {"seed": int, "rules": [...]}')
        self.replace_rules([FaultRule.from_dict(item) for item in payload.get("rules", [])], payload.get("seed"))

    def clear(self):
        """Remove every rule and reset the counters."""
        self.replace_rules([])

    def decide(self, request, label=None):
        """The rule to apply to this request, or None; updates the counters."""
        return super().decide(request, label or request.label)
