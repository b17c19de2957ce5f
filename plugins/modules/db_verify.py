#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: db_verify
short_description: Verify that the service database is reachable and has its tables
version_added: "0.1.0"
description:
  - Replaces C(python -m tools.db_verify) of the DB-backed service runbook.
  - Connects with O(dsn) and checks that every table in O(required_tables) exists (resolved with
    the connection's C(search_path); C(schema.table) works too). With O(migrations_dir), also
    checks that no migration of that directory is pending in O(migrations_table).
  - Returns the stable line C(db_verify status=ok), C(db_verify status=fail reason=<token>)
    (C(db_connect_failed), C(missing_tables), C(pending_migrations)) or, when O(dsn) is empty,
    the CI-safe C(db_verify status=not_configured reason=missing_dsn), and the documented
    C(exit_code) (0 for ok and not_configured, 1 for fail).
  - Fails the task when C(exit_code) is not 0; the result still carries C(token_line),
    C(exit_code) and the C(receipt).
  - Reads only; runs fully in check mode. The DSN is never returned or logged.
author:
  - signalcraft maintainers (@signalcraft)
options:
  dsn:
    description:
      - The PostgreSQL connection string (C(postgresql://user:password@host:5432/db) or key/value form).
      - Empty or omitted means the database is not configured (status C(not_configured)).
    type: str
  required_tables:
    description:
      - Tables that must exist, as C(name) or C(schema.name) (lowercase identifiers).
    type: list
    elements: str
    default: []
  migrations_dir:
    description:
      - Also fail with C(pending_migrations) when a migration in this directory is not applied.
    type: path
  migrations_table:
    description:
      - The table that records applied migrations (see M(signalcraft.ops.db_bootstrap)).
    type: str
    default: ops_schema_migrations
  connect_timeout:
    description: Seconds to wait for the connection.
    type: int
    default: 10
  statement_timeout_ms:
    description: Statement timeout for this session in milliseconds; 0 for none.
    type: int
    default: 60000
extends_documentation_fragment:
  - signalcraft.ops.receipt
attributes:
  check_mode:
    support: full
    description: Reads only; every check runs in check mode.
  diff_mode:
    support: none
    description: Nothing is changed.
seealso:
  - module: signalcraft.ops.db_bootstrap
"""

EXAMPLES = r"""
- name: Verify the service database
  signalcraft.ops.db_verify:
    dsn: "{{ db_ops_dsn }}"
    required_tables: [delivery_metrics, second_touch_summaries, ops_schema_migrations]
    migrations_dir: "{{ role_path }}/files/migrations"
  register: db_verify
"""

RETURN = r"""
status:
  description: C(ok), C(fail) or C(not_configured).
  returned: always
  type: str
  sample: ok
reason:
  description: The stable reason token, or null when ok.
  returned: always
  type: str
  sample: missing_tables
token_line:
  description: The stable status line.
  returned: always
  type: str
  sample: db_verify status=ok
exit_code:
  description: The runbook's exit code for this outcome (0 ok or not_configured, 1 fail).
  returned: always
  type: int
  sample: 0
missing_tables:
  description: Required tables that do not exist.
  returned: always
  type: list
  elements: str
  sample: [delivery_metrics]
pending_migrations:
  description: Migrations of O(migrations_dir) not yet applied (version, name, filename, checksum).
  returned: always
  type: list
  elements: dict
checked_tables:
  description: The tables that were checked.
  returned: always
  type: list
  elements: str
dsn_configured:
  description: Whether a DSN was given (the DSN itself is never returned).
  returned: always
  type: bool
receipt:
  description: A receipt.v1 document (operation C(db_ops), phase C(db_verify)).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.signalcraft.ops.plugins.module_utils.services import db
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.db import migrations
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts


def run(params, started):
    if not (params["dsn"] or "").strip():
        return migrations.verify_not_configured()
    listed = migrations.discover(params["migrations_dir"]) if params["migrations_dir"] else None
    database = db.open_session(params["dsn"], "signalcraft.ops.db_verify", params["connect_timeout"], params["statement_timeout_ms"])
    try:
        return migrations.verify(database, params["required_tables"], listed, params["migrations_table"])
    finally:
        database.close()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dsn=dict(type="str", no_log=True),
            required_tables=dict(type="list", elements="str", default=[]),
            migrations_dir=dict(type="path"),
            migrations_table=dict(type="str", default=migrations.DEFAULT_TABLE),
            connect_timeout=dict(type="int", default=10),
            statement_timeout_ms=dict(type="int", default=60000),
            execution_id=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    started = receipts.utc_now()
    detail = None
    try:
        result = run(params, started)
    except (db.DbError, migrations.MigrationError) as exc:
        result, detail = migrations.verify_failed(exc.reason), exc.message
    result["dsn_configured"] = bool((params["dsn"] or "").strip())
    inputs = {k: params[k] for k in ("required_tables", "migrations_dir", "migrations_table")}
    inputs["dsn_configured"] = result["dsn_configured"]
    result["receipt"] = receipts.build(
        "db_ops", "db_verify", "success" if result["exit_code"] == 0 else "failed",
        receipts.execution_id(params["execution_id"], "db_verify", started), started,
        inputs=inputs, outputs={k: v for k, v in result.items() if k != "receipt"}, failure_code=result["reason"],
        message=detail, module="signalcraft.ops.db_verify", secret_values=[params["dsn"] or "", db.dsn_password(params["dsn"]) or ""],
    )
    result["changed"] = False
    if result["exit_code"] != 0:
        module.fail_json(msg="%s: %s" % (result["token_line"], detail or _describe(result)), **result)
    module.exit_json(**result)


def _describe(result):
    if result["missing_tables"]:
        return "missing tables %s; run db_bootstrap apply_migrations." % ", ".join(result["missing_tables"])
    if result["pending_migrations"]:
        return "pending migrations %s; run db_bootstrap apply_migrations." % ", ".join(
            m["filename"] for m in result["pending_migrations"])
    return "see the receipt"


if __name__ == "__main__":
    main()
