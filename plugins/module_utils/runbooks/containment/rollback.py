# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollback of a containment toggle from the receipt of the run that set it.

Why the receipt: it is the one audit record every run writes (locally and to the receipt bucket),
it already holds the state before and after the change, and it survives the run (an AWX job's
container does not, so the bucket copy is read when the local file is not there). A rollback:

1. finds ``<receipt_root>/<execution id>/<phase>.json``, else ``s3://<bucket>/<prefix>/<execution id>/<phase>.json``;
2. accepts only a successful ``containment`` receipt of the same phase, for the same target, of a
   run that applied (a rollback of a rollback is a new apply; a purge cannot be undone);
3. compares the live state with what that run recorded (``decide``): still as the run left it ->
   restore the recorded previous state; already the previous state -> nothing to do (a second
   rollback changes nothing); anything else -> refuse (``rollback_drifted``): someone changed it
   since, and restoring blindly would undo their change.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import error_code
from ansible_collections.signalcraft.ops.plugins.module_utils.services.s3 import ALREADY_GONE

OPERATION = "containment"
APPLY = "apply"
ROLLBACK = "rollback"
_EXECUTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def argument_spec():
    """The typed confirmation and the rollback source (doc fragment signalcraft.ops.containment_toggle)."""
    return dict(
        confirm=dict(type="str"),
        rollback_of=dict(type="str"),
        receipt_root=dict(type="path"),
        receipt_bucket=dict(type="str"),
        receipt_prefix=dict(type="str", default="receipts"),
    )


def validate_rollback_of(rollback_of, current_execution_id):
    """The execution id to roll back: receipt.v1's execution id form, and not this run's own (whose receipt would
    replace the one being rolled back)."""
    if not _EXECUTION_ID.match(rollback_of or ""):
        raise OpsError("invalid_input", "containment_rollback_of %r is not an execution id (1-128 of A-Za-z0-9_.:- starting "
                       "alphanumeric); pass the signalcraft_execution_id of the run to roll back." % (rollback_of,))
    if rollback_of == current_execution_id:
        raise OpsError("invalid_input", "the rollback runs under execution id %r, the one it rolls back: its receipt would "
                       "replace that run's; give the rollback its own -e signalcraft_execution_id." % rollback_of)
    return rollback_of


def check_request(params, execution_id, exclusive=None):
    """Validate the rollback request before any call: ``exclusive`` is ``(option, -e variable)`` of the apply input that
    a rollback must not be given with (the two would ask for different end states)."""
    if not params.get("rollback_of"):
        return None
    if exclusive and params.get(exclusive[0]):
        raise OpsError("invalid_input", "give either %s or containment_rollback_of, not both." % exclusive[1])
    return validate_rollback_of(params["rollback_of"], execution_id)


def recorded_for(ops, phase, targets, actions=(APPLY,)):
    """``(recorded outputs, rolled_back_from)`` of the run ``ops.params["rollback_of"]`` names, read from its receipt
    (local first, then the receipt bucket) and checked against ``targets`` by ``recorded_outputs``."""
    params = ops.params
    receipt, where = find_receipt(params["rollback_of"], phase, params["receipt_root"],
                                  ops.client("s3") if params["receipt_bucket"] else None,
                                  params["receipt_bucket"], params["receipt_prefix"])
    recorded = recorded_outputs(receipt, phase, targets, where, actions=actions)
    return recorded, {"execution_id": params["rollback_of"], "receipt": where}


def parameter_line(outputs, execution_id=None, extra=()):
    """The status-line fields of a parameter toggle: action, value, previous, version (once written), ``extra``, and
    the execution id a rollback names (only when the run wrote: a check-mode run has nothing to roll back)."""
    fields = [("action", outputs["action"]), ("value", outputs["value"]), ("previous", outputs["previous_value"])]
    if outputs.get("version") is not None:
        fields.append(("version", outputs["version"]))
    fields.extend(extra)
    if execution_id:
        fields.append(("execution_id", execution_id))
    return fields


def receipt_location(execution_id, phase, receipt_root=None, bucket=None, prefix=None):
    """``(local path or None, s3 key or None)`` where the run's receipt of ``phase`` is filed."""
    path = os.path.join(receipt_root, execution_id, "%s.json" % phase) if receipt_root else None
    key = receipts.s3_key(prefix or "", {"execution_id": execution_id, "phase": phase}) if bucket else None
    return path, key


def find_receipt(execution_id, phase, receipt_root=None, s3=None, bucket=None, prefix=None):
    """``(receipt, where)``: the local file first, then the receipt bucket; ``rollback_receipt_not_found`` otherwise."""
    path, key = receipt_location(execution_id, phase, receipt_root, bucket, prefix)
    looked = []
    if path:
        looked.append(path)
        if os.path.exists(path):
            try:
                return receipts.load(path), path
            except (ValueError, receipts.ReceiptError) as exc:
                raise OpsError("receipt_invalid", "%s is not a receipt.v1 document: %s" % (path, exc))
    if key and s3 is not None:
        looked.append("s3://%s/%s" % (bucket, key))
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:  # botocore ClientError
            if error_code(exc) not in ALREADY_GONE:
                raise
        else:
            try:
                return receipts.validate(json.loads(body.decode("utf-8"))), "s3://%s/%s" % (bucket, key)
            except (ValueError, receipts.ReceiptError) as exc:
                raise OpsError("receipt_invalid", "s3://%s/%s is not a receipt.v1 document: %s" % (bucket, key, exc))
    raise OpsError("rollback_receipt_not_found", "no %s receipt of execution %r (looked in %s); pass the execution id the "
                   "containment run printed (execution_id=...) as -e containment_rollback_of." % (
                       phase, execution_id, ", ".join(looked) or "nowhere: no receipt root or bucket is set"))


def recorded_outputs(receipt, phase, targets, where="the receipt", actions=(APPLY,)):
    """The outputs of a successful run of ``phase`` (one of ``actions``) on the ``targets`` (``{output key: value}``).

    Pure; ``rollback_receipt_mismatch`` names every way the receipt is not one this rollback can undo.
    """
    outputs = receipt.get("outputs") or {}
    problems = []
    if receipt.get("operation") != OPERATION or receipt.get("phase") != phase:
        problems.append("it records %s/%s, not %s/%s" % (receipt.get("operation"), receipt.get("phase"), OPERATION, phase))
    elif receipt.get("status") != "success":
        problems.append("that run did not succeed (status %s)" % receipt.get("status"))
    elif outputs.get("action") not in actions:
        problems.append("that run was a %s, which has no rollback" % outputs.get("action"))
    else:
        for key, value in sorted(targets.items()):
            if outputs.get(key) != value:
                problems.append("it is about %s %r, not %r" % (key, outputs.get(key), value))
    if problems:
        raise OpsError("rollback_receipt_mismatch", "%s cannot be rolled back: %s." % (where, "; ".join(problems)))
    return outputs


def decide(current, previous, applied, what):
    """``"restore"`` (the state is as the run left it), ``"restored"`` (already the previous state) or
    ``rollback_drifted`` (changed since by someone else). Pure."""
    if current == previous:
        return "restored"
    if current == applied:
        return "restore"
    raise OpsError("rollback_drifted", "%s is now %r: neither what the run set (%r) nor what it found (%r); someone changed it "
                   "since, so it is left alone. Set it explicitly if %r is really wanted." % (what, current, applied, previous, previous))
