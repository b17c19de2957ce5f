#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: storage_archive_restore
version_added: "0.2.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Restore an archived recording found by recordings.archive_key and report its restore status
description:
  - The storage runbook's "Restoring archived assets". Looks the recording up in PostgreSQL by
    O(recording_id) or O(object_key) (its C(object_key) or C(archive_key), within O(bucket)) and
    restores the object at its C(archive_key) in the row's bucket.
  - Reads HeadObject first. An object that is not archived (C(STANDARD), C(STANDARD_IA),
    C(GLACIER_IR), ...) is reported as readable now with C(changed=false). A restore already running
    (C(ongoing-request="true")) or done (C(ongoing-request="false", expiry-date=...)) is reported
    with C(changed=false) and no RestoreObject call; so is C(RestoreAlreadyInProgress) from a
    concurrent request.
  - O(tier=Expedited) is refused for C(DEEP_ARCHIVE) (and the Intelligent-Tiering Deep Archive
    Access tier) before any write.
  - Otherwise requests RestoreObject with O(days) and O(tier) and reports the state read back
    (C(in_progress) until S3 finishes, hours on real S3; C(restored) with the expiry date after).
  - Nothing is written in check mode.
  - Prints C(archive_restore status=ok bucket=<b> key=<k> storage_class=<c> tier=<t> days=<n> result=<r> ongoing=<bool>
    expiry_date=<UTC time or ->) (C(status=planned result=would_restore) in check mode) and returns one receipt
    (operation C(archive_restore), phase C(restore)).
options:
  recording_id:
    description: The C(recordings.id) of the recording to restore.
    type: int
  object_key:
    description: The recording's C(object_key) or C(archive_key); needs O(bucket).
    type: str
  bucket:
    description:
      - The recordings bucket. Required with O(object_key); with O(recording_id) the row must be in it.
    type: str
  days:
    description: How many days the restored copy stays readable (ignored by Intelligent-Tiering archive tiers).
    type: int
    default: 5
  tier:
    description:
      - Retrieval tier. V(Expedited) (minutes) is not available for Deep Archive; V(Standard) takes
        hours (up to 12 on Deep Archive), V(Bulk) up to 48 hours and costs least.
    type: str
    choices: [Standard, Bulk, Expedited]
    default: Standard
attributes:
  check_mode:
    support: full
    description: Looks the object up and says whether a restore would be requested; never requests one.
  diff_mode:
    support: full
    description: The restore state before and after.
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.postgres.recordings]
"""

EXAMPLES = r"""
- name: Restore recording 4711 for 5 days
  signalcraft.ops.storage_archive_restore:
    dsn: "{{ storage_pg_dsn }}"
    recording_id: 4711
    days: 5
    tier: Standard

- name: Restore by key (same as aws s3api restore-object ... Days=5,Tier=Bulk)
  signalcraft.ops.storage_archive_restore:
    dsn: "{{ storage_pg_dsn }}"
    bucket: "{{ storage_recordings_bucket }}"
    object_key: recordings/2026/01/exam-123.webm
    tier: Bulk
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: The recording, the request and the restore state before and after.
  returned: always
  type: dict
  contains:
    recording_id:
      description: The C(recordings.id) found.
      returned: success
      type: int
    bucket:
      description: The bucket of the archived object.
      returned: success
      type: str
    key:
      description: The archived object's key (the row's C(archive_key)).
      returned: success
      type: str
    days:
      description: The days requested.
      returned: success
      type: int
    tier:
      description: The tier requested.
      returned: success
      type: str
    result:
      description: >-
        V(not_archived), V(in_progress), V(restored), V(requested) (accepted, state not yet visible) or
        V(would_restore) (check mode).
      returned: success
      type: str
    detail:
      description: The outcome in one sentence.
      returned: success
      type: str
    requested:
      description: Whether this run sent RestoreObject and S3 accepted it.
      returned: success
      type: bool
    before:
      description: >-
        State read from HeadObject before: C(state) (not_archived, archived, in_progress, restored),
        C(storage_class), C(archive_status), C(ongoing), C(expiry_date), C(restore_header).
      returned: success
      type: dict
    after:
      description: The same, read back after the request.
      returned: success
      type: dict
diff:
  description: The restore state before and after.
  returned: when the object was read
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import maintenance as storage
from ansible_collections.signalcraft.ops.plugins.module_utils.services import db
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    **db.recordings_argument_spec(),
    recording_id=dict(type="int"),
    object_key=dict(type="str", no_log=False),
    bucket=dict(type="str"),
    days=dict(type="int", default=5),
    tier=dict(type="str", choices=list(storage.RESTORE_TIERS), default="Standard"),
)


def run(ops):
    p = ops.params
    storage.validate_restore(p["days"], p["tier"])
    database = db.Database(p["dsn"], application_name="signalcraft.ops.storage_archive_restore")
    try:
        row = storage.find_recording(database, p["recording_id"], p["object_key"], p["bucket"])
    finally:
        database.close()
    report = storage.restore_archived(ops.client("s3"), row["bucket"], row["archive_key"], p["days"], p["tier"], apply=not ops.check_mode)
    report["recording_id"] = row["id"]
    changed = report.pop("changed")
    diff = {"before": report["before"], "after": report["after"]}
    if report["result"] == "would_restore":
        diff["after"] = dict(report["before"], state="in_progress", ongoing=True)
    return dict(changed=changed, outputs=report, line=storage.restore_fields(report), diff=diff,
                status="planned" if ops.check_mode else "ok")


def main():
    OpsModule(ARGUMENT_SPEC, operation="archive_restore", phase="restore", status_key="archive_restore",
              connections=[AwsConnection, db.DbConnection],
              mutually_exclusive=[("recording_id", "object_key")], required_one_of=[("recording_id", "object_key")],
              required_by={"object_key": ["bucket"]}).run(run)


if __name__ == "__main__":
    main()
