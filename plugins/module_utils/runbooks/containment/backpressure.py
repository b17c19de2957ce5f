# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ingestion gateway's backpressure toggle (runbook 003: "enable backpressure via the ingestion
gateway toggle").

The toggle is an SSM Parameter Store ``String`` parameter the gateway reads (e.g.
``/author/prod/ingestion/backpressure``), holding the inventory's on value or off value (``on``/``off``).
It is provisioned with the gateway, never created here: a flag created ad hoc during an incident is a
flag no gateway reads. A value that is neither the on nor the off value is refused: the gateway's
reading of it is unknown.

``plan_*`` are pure (state in, plan out); ``apply`` writes one version and reads it back.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.containment import rollback
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ssm as ssm_service

PHASE = "backpressure"
STATES = ("enabled", "disabled")


def validate_values(on_value, off_value):
    """Both values given, and different (else "enable" and "disable" would write the same thing)."""
    if not (on_value or "").strip() or not (off_value or "").strip():
        raise OpsError("invalid_input", "containment_backpressure_on_value and containment_backpressure_off_value must not be empty.")
    if on_value == off_value:
        raise OpsError("invalid_input", "containment_backpressure_on_value and containment_backpressure_off_value are both %r; "
                       "give the two values the gateway reads (e.g. on / off)." % on_value)


def plan_apply(current, state, on_value, off_value):
    """``{"action", "changed", "value", "before", "after"}`` for turning backpressure ``state``."""
    validate_values(on_value, off_value)
    if state not in STATES:
        raise OpsError("invalid_input", "containment_backpressure_state must be one of %s, got %r." % (", ".join(STATES), state))
    if current["value"] not in (on_value, off_value):
        raise OpsError("parameter_value_unexpected", "SSM parameter %r holds %r, neither the on value %r nor the off value %r, so "
                       "what the gateway makes of it is unknown; fix containment_backpressure_on_value/off_value or the parameter."
                       % (current["name"], current["value"], on_value, off_value))
    value = on_value if state == "enabled" else off_value
    return {"action": rollback.APPLY, "changed": current["value"] != value, "value": value,
            "before": {"value": current["value"]}, "after": {"value": value}}


def plan_rollback(current, recorded):
    """Restore the value the recorded run found, if the parameter still holds what it wrote."""
    decision = rollback.decide(current["value"], recorded["previous_value"], recorded["value"],
                               "SSM parameter %s" % current["name"])
    value = recorded["previous_value"]
    return {"action": rollback.ROLLBACK, "changed": decision == "restore", "value": value,
            "before": {"value": current["value"]}, "after": {"value": value}}


def apply(ssm, current, value):
    """Write ``value`` as a new version and read that version back; returns the parameter as written."""
    return ssm_service.put_and_read_back(ssm, current, value)
