#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: storage_orphans
version_added: "0.2.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: List recordings objects without a metadata row and rows without an object (read-only)
description:
  - The storage runbook's weekly orphan check (C(scripts/storage/list_orphans.py)). Reads only.
  - Lists the objects of O(bucket) under O(prefix) (ListObjectsV2, paginated) and the C(recordings)
    rows of that bucket whose C(object_key) starts with O(prefix) (keyset-paginated), and walks both
    in the same byte order as a merge join, so memory stays one page per side.
  - An object is an orphan when no row has it as C(object_key) or C(archive_key). A row is an orphan
    when C(deleted_at) is null and neither its C(object_key) nor its C(archive_key) exists.
  - Objects modified and rows created within O(grace_minutes) are not judged (an upload writes its
    object and its row one after the other); they are counted as C(skipped_recent).
  - Objects whose row is already marked deleted are reported separately (C(objects_with_deleted_row)).
  - Prints C(storage_orphans status=ok bucket=<b> prefix=<p> objects_scanned=<n> rows_scanned=<n> objects_without_row=<n> ...)
    and returns one receipt (operation C(storage_orphans), phase C(report)); with O(fail_on_orphans) any orphan
    fails the run with C(storage_orphans status=fail reason=orphans_found ...) and the same counts.
options:
  bucket:
    description: The recordings bucket.
    type: str
    required: true
  prefix:
    description: Key prefix to scan (empty for the whole bucket).
    type: str
    default: ""
  sample_size:
    description: At most this many keys/ids are returned per kind of orphan (0 to 1000); the counts are always complete.
    type: int
    default: 20
  page_size:
    description: Objects per ListObjectsV2 page and rows per query page (1 to 1000).
    type: int
    default: 1000
  grace_minutes:
    description: Objects and rows younger than this are not judged (uploads in flight).
    type: int
    default: 60
  fail_on_orphans:
    description: Fail (reason C(orphans_found)) when any orphan is found, for scheduled checks that should alert.
    type: bool
    default: false
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.read_only, signalcraft.ops.postgres.recordings]
"""

EXAMPLES = r"""
- name: List orphans of the recordings bucket
  signalcraft.ops.storage_orphans:
    dsn: "{{ storage_pg_dsn }}"
    bucket: "{{ storage_recordings_bucket }}"
    prefix: recordings/
    sample_size: 50
  register: orphans

- name: Show how many
  ansible.builtin.debug:
    msg: "{{ orphans.objects_without_row }} objects without row, {{ orphans.rows_without_object }} rows without object"
"""

RETURN = r"""
status:
  description: C(ok) or C(fail).
  returned: always
  type: str
outputs:
  description: The scan's counts and samples (also returned with C(orphans_found)).
  returned: always
  type: dict
  contains:
    bucket:
      description: The bucket scanned.
      returned: success
      type: str
    prefix:
      description: The prefix scanned.
      returned: success
      type: str
    objects_scanned:
      description: Objects listed under the prefix.
      returned: success
      type: int
    objects_scanned_bytes:
      description: Their total size in bytes.
      returned: success
      type: int
    rows_scanned:
      description: C(recordings) rows of the bucket under the prefix (deleted or not).
      returned: success
      type: int
    objects_without_row:
      description: Objects no row names (as C(object_key) or C(archive_key)).
      returned: success
      type: int
    objects_without_row_bytes:
      description: Their total size in bytes.
      returned: success
      type: int
    objects_without_row_sample:
      description: Up to O(sample_size) of them, in key order, with C(key), C(size), C(last_modified).
      returned: success
      type: list
      elements: dict
    rows_without_object:
      description: Rows with C(deleted_at) null whose object (and archive copy, if any) is missing.
      returned: success
      type: int
    rows_without_object_sample:
      description: Up to O(sample_size) of them with C(id), C(key), C(archive_key).
      returned: success
      type: list
      elements: dict
    objects_with_deleted_row:
      description: Objects that exist although their row is marked deleted.
      returned: success
      type: int
    objects_with_deleted_row_sample:
      description: Up to O(sample_size) of them with C(id), C(key).
      returned: success
      type: list
      elements: dict
    archive_copies:
      description: Objects without a row of their own that a row names as its C(archive_key).
      returned: success
      type: int
    skipped_recent:
      description: Objects and rows not judged because they are younger than O(grace_minutes).
      returned: success
      type: int
    grace_cutoff:
      description: Objects modified and rows created after this time (UTC) were not judged.
      returned: success
      type: str
    orphans_total:
      description: C(objects_without_row) + C(rows_without_object).
      returned: success
      type: int
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import maintenance as storage
from ansible_collections.signalcraft.ops.plugins.module_utils.services import db
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    **db.recordings_argument_spec(),
    bucket=dict(type="str", required=True),
    prefix=dict(type="str", default=""),
    sample_size=dict(type="int", default=20),
    page_size=dict(type="int", default=1000),
    grace_minutes=dict(type="int", default=60),
    fail_on_orphans=dict(type="bool", default=False),
)


def run(ops):
    p = ops.params
    database = db.Database(p["dsn"], application_name="signalcraft.ops.storage_orphans")
    try:
        # The constructor validates the inputs: bad ones fail before any client is built or call made.
        scan = storage.OrphanScan(None, database, p["bucket"], p["prefix"], p["sample_size"], p["page_size"], p["grace_minutes"])
        scan.s3 = ops.client("s3")
        report = scan.run()
    finally:
        database.close()
    outcome = dict(changed=False, outputs=report, line=storage.orphans_fields(report))
    if p["fail_on_orphans"] and report["orphans_total"]:
        outcome.update(status="fail", reason="orphans_found",
                       message="%d orphan(s) found (see outputs.objects_without_row_sample and rows_without_object_sample); "
                               "-e storage_orphans_fail_on_orphans=false only reports them." % report["orphans_total"])
    return outcome


def main():
    OpsModule(ARGUMENT_SPEC, operation="storage_orphans", phase="report", status_key="storage_orphans",
              connections=[AwsConnection, db.DbConnection]).run(run)


if __name__ == "__main__":
    main()
