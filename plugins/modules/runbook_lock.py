#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: runbook_lock
version_added: "0.3.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Take, renew, release or show the lock that keeps two runbook runs off one environment
description:
  - The phase engine (role C(signalcraft.ops.runbook)) takes the runbook's lock (C(runbook_lock), e.g. C(dr/<environment>)
    for the DR drill and failback) before its first phase that may write, and releases it when the run ends, so two drills,
    or a drill and a failback, never run against the same DR environment at once.
  - The lock is C(s3://<s3_bucket>/<s3_prefix>/locks/<name>.json), created with a conditional write (C(If-None-Match) C(*)) and
    replaced or deleted only with C(If-Match) on the ETag it was read with, so of two runs starting together exactly one gets it.
    Without O(s3_bucket) it is the file C(<lock_dir>/<name>.json), created with C(O_EXCL).
  - C(acquire) is re-entrant for the execution that holds it (a resumed or C(start_at) run renews it). A lock whose
    holder has not renewed it for O(ttl_minutes) is stale and is taken over; O(break_lock) takes over a live one. Both
    name the replaced holder in C(outputs.previous), so the run's receipt records who was displaced.
  - A lock held by another execution fails with C(lock_held), naming the holder, when it started and until when it
    counts as held. Nothing is written.
  - C(release) deletes the lock only if this execution holds it; a lock another run broke and took stays (C(not_ours)).
  - C(status) reads the lock.
options:
  action:
    description: What to do.
    type: str
    choices: [acquire, release, status]
    default: acquire
  name:
    description: The lock's name, 1-4 segments of letters, digits, C(.), C(_) or C(-) separated by C(/) (C(dr/prod)).
    type: str
    required: true
  operation:
    description: The runbook taking the lock, recorded as the holder's operation (C(dr_drill), C(dr_failback)).
    type: str
    default: runbook
  ttl_minutes:
    description:
      - How long after its last renewal the lock still counts as held. Set it above the longest run the lock guards
        (a drill that stops at validate and is resumed later releases the lock in between).
    type: int
    default: 360
  break_lock:
    description: Take over a lock another live execution holds. Only when that run is known to be dead; receipted.
    type: bool
    default: false
  s3_bucket:
    description: The bucket of the lock (the receipt bucket). Empty - the local file under O(lock_dir).
    type: str
  s3_prefix:
    description: Prefix under which C(locks/<name>.json) lives (the receipt prefix).
    type: str
    default: receipts
  lock_dir:
    description: Directory of the lock file when there is no O(s3_bucket).
    type: path
attributes:
  check_mode:
    support: full
    description: Reads the lock and says what would happen (C(would_acquire), C(would_release)); a held lock is still refused.
  diff_mode:
    support: full
    description: The lock document before and after.
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt]
seealso:
  - module: signalcraft.ops.runbook_plan
  - module: signalcraft.ops.runbook_summary
"""

EXAMPLES = r"""
- name: Keep other runs off the DR environment while this one works
  signalcraft.ops.runbook_lock:
    action: acquire
    name: dr/prod
    operation: dr_drill
    s3_bucket: signalcraft-receipts-prod
    ttl_minutes: 360

- name: Take over the lock of a run that died (recorded as outputs.previous)
  signalcraft.ops.runbook_lock:
    name: dr/prod
    operation: dr_failback
    s3_bucket: signalcraft-receipts-prod
    break_lock: true

- name: Release it at the end
  signalcraft.ops.runbook_lock:
    action: release
    name: dr/prod
    s3_bucket: signalcraft-receipts-prod
"""

RETURN = r"""
outputs:
  description: The lock and what was done with it.
  returned: always
  type: dict
  contains:
    action:
      description:
        - C(acquire) (it was free), C(renew) (this execution held it), C(take_stale) (the holder stopped renewing it),
          C(break) (O(break_lock)), C(released), C(absent) (nothing to release), C(not_ours) (another execution holds it),
          C(held)/C(free) (status); prefixed C(would_) in check mode.
      returned: success
      type: str
    uri:
      description: Where the lock lives (C(s3://...) or a path).
      returned: always
      type: str
    lock:
      description: The lock document now (C(holder), C(acquired_at), C(renewed_at), C(ttl_seconds), C(expires_at)); null when free.
      returned: success
      type: dict
    previous:
      description: The holder's lock document this run took over (stale or broken), else null.
      returned: success
      type: dict
"""

import getpass
import os
import socket

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.services import locks
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    action=dict(type="str", default="acquire", choices=["acquire", "release", "status"]),
    name=dict(type="str", required=True),
    operation=dict(type="str", default="runbook"),
    ttl_minutes=dict(type="int", default=360),
    break_lock=dict(type="bool", default=False),
    s3_bucket=dict(type="str"),
    s3_prefix=dict(type="str", default="receipts"),
    lock_dir=dict(type="path"),
)


def _holder(ops):
    """Who holds the lock: the execution, and where a person finds the run (AWX job id when AWX runs it)."""
    try:
        user = getpass.getuser()
    # No passwd entry for the uid in some containers.
    except Exception:  # pylint: disable=broad-except
        user = os.environ.get("USER") or "unknown"
    holder = {"execution_id": ops.execution_id, "operation": ops.params["operation"], "user": user, "host": socket.gethostname()}
    if os.environ.get("JOB_ID"):
        holder["awx_job_id"] = os.environ["JOB_ID"]
    return holder


def _store(ops):
    p = ops.params
    if p["s3_bucket"]:
        return locks.S3LockStore(ops.client("s3"), p["s3_bucket"], p["s3_prefix"])
    if not p["lock_dir"]:
        raise OpsError("invalid_input", "neither s3_bucket nor lock_dir is set; set signalcraft_receipt_bucket in the inventory "
                                        "(or lock_dir for a local run).")
    if p["action"] == "acquire":
        ops.warn("lock %s is a file on this controller (%s): it keeps runs from this controller apart, not runs from another "
                 "machine or AWX node; set signalcraft_receipt_bucket to hold it in S3." % (p["name"], p["lock_dir"]))
    return locks.FileLockStore(p["lock_dir"])


def run(ops):
    p = ops.params
    locks.check_name(p["name"])
    if p["ttl_minutes"] < 1:
        raise OpsError("invalid_input", "ttl_minutes %d is below 1; pass a lock ttl in minutes above the longest run." % p["ttl_minutes"])
    store = _store(ops)
    prefix = "would_" if ops.check_mode else ""
    if p["action"] == "status":
        current, dummy = store.read(p["name"])
        state = "held" if current and not locks.is_stale(current, locks.utc()) else ("stale" if current else "free")
        holder = (current or {}).get("holder") or {}
        return {"changed": False, "outputs": {"action": state, "uri": store.uri(p["name"]), "lock": current, "previous": None},
                "line": [("name", p["name"]), ("state", state), ("holder", holder.get("execution_id") or "none")]}
    if p["action"] == "release":
        before, dummy = store.read(p["name"])
        done = locks.release(store, p["name"], ops.execution_id, check_mode=ops.check_mode)
        if done["action"] == "not_ours":
            ops.warn("lock %s is held by execution %s now (this run's lock was broken); left as it is." % (
                p["name"], (done["holder"] or {}).get("execution_id")))
        after = None if done["action"] == "released" else before
        action = prefix + done["action"] if done["changed"] else done["action"]
        return {"changed": done["changed"], "outputs": {"action": action, "uri": done["uri"], "lock": after, "previous": None},
                "line": [("name", p["name"]), ("action", action)], "diff": {"before": before or {}, "after": after or {}}}
    before, dummy = store.read(p["name"])
    done = locks.acquire(store, p["name"], _holder(ops), p["ttl_minutes"] * 60, break_lock=p["break_lock"], check_mode=ops.check_mode)
    line = [("name", p["name"]), ("action", prefix + done["action"]), ("until", done["lock"]["expires_at"])]
    if done["previous"]:
        line.append(("previous", (done["previous"].get("holder") or {}).get("execution_id")))
        ops.warn("lock %s: took over from execution %s (%s)." % (p["name"], (done["previous"].get("holder") or {}).get("execution_id"),
                                                                 "stale" if done["action"] == locks.TAKE_STALE else "break_lock"))
    return {"changed": done["changed"], "outputs": {"action": prefix + done["action"], "uri": done["uri"], "lock": done["lock"],
                                                    "previous": done["previous"]},
            "line": line, "diff": {"before": before or {}, "after": done["lock"]}}


def main():
    OpsModule(ARGUMENT_SPEC, operation="runbook", phase="lock", status_key="lock", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
