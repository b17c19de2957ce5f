#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: db_verify
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Verify that the service database is reachable and has its tables
description:
  - Replaces C(python -m tools.db_verify) of the DB-backed service runbook.
  - Connects with O(dsn) and checks that every table in O(required_tables) exists (resolved with
    the connection's C(search_path); C(schema.table) works too). With O(migrations_dir), also
    checks that no migration of that directory is pending in O(migrations_table).
  - Returns the stable line C(db_verify status=ok), C(db_verify status=fail reason=<token>)
    (C(db_connect_failed), C(missing_tables), C(pending_migrations)) or, when O(dsn) is empty,
    the CI-safe C(db_verify status=not_configured reason=missing_dsn), and the runbook's exit code
    in RV(outputs.exit_code) (0 for ok and not_configured, 1 for fail).
  - Fails the task exactly when the exit code is not 0; the failed result still carries
    C(token_line), RV(outputs) and the C(receipt) (operation and phase C(db_verify)).
  - Reads only; runs fully in check mode. The DSN is never returned, logged or recorded.
options:
  required_tables:
    description:
      - Tables that must exist, as C(name) or C(schema.name) (lowercase identifiers).
      - The role sets it from C(db_ops_required_tables).
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
requirements:
  - psycopg >= 3 (C(psycopg[binary]))
seealso:
  - module: signalcraft.ops.db_bootstrap
extends_documentation_fragment: [signalcraft.ops.receipt, signalcraft.ops.read_only, signalcraft.ops.postgres]
"""

EXAMPLES = r"""
- name: Verify the service database
  signalcraft.ops.db_verify:
    dsn: "{{ db_ops_dsn }}"
    required_tables: [delivery_metrics, second_touch_summaries, ops_schema_migrations]
    migrations_dir: "{{ role_path }}/files/migrations"
  register: db_verify

- name: Print the status line
  ansible.builtin.debug:
    msg: "{{ db_verify.token_line }}"
"""

RETURN = r"""
status:
  description: C(ok), C(fail) or C(not_configured).
  returned: always
  type: str
  sample: ok
outputs:
  description: What was checked and found.
  returned: always
  type: dict
  contains:
    exit_code:
      description: The runbook's exit code (0 ok or not_configured, 1 fail); C(scripts/ops_db.py) exits with it.
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
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core import status_line
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.db import migrations
from ansible_collections.signalcraft.ops.plugins.module_utils.services.db import DbConnection, ops_database_argument_spec

ARGUMENT_SPEC = dict(
    **ops_database_argument_spec(),
    required_tables=dict(type="list", elements="str", default=[]),
    migrations_dir=dict(type="path"),
    migrations_table=dict(type="str", default=migrations.DEFAULT_TABLE),
)


def _describe(verdict):
    if verdict["missing_tables"]:
        return "missing tables %s; run db_bootstrap.yml -e db_ops_bootstrap_mode=apply_migrations (or fix db_ops_required_tables)." % (
            ", ".join(verdict["missing_tables"]))
    return "pending migrations %s; run db_bootstrap.yml -e db_ops_bootstrap_mode=apply_migrations." % (
        ", ".join(m["filename"] for m in verdict["pending_migrations"]))


def run(ops):
    params = ops.params
    configured = ops.connection("db").configured(params["dsn"])
    outputs = {"missing_tables": [], "pending_migrations": [], "checked_tables": [], "dsn_configured": configured,
               "exit_code": status_line.EXIT_OK}
    if not configured:
        # CI-safe: no database configured is reported, not failed.
        return dict(status="not_configured", reason="missing_dsn", outputs=outputs,
                    message="db_ops_dsn is empty; set it in the inventory to verify the database.")
    try:
        for name in params["required_tables"]:
            migrations.validate_table_name(name, "db_ops_required_tables")
        listed = migrations.discover(params["migrations_dir"]) if params["migrations_dir"] else None
        with ops.connection("db").session(params["dsn"], "signalcraft.ops.db_verify", params["connect_timeout"],
                                          params["statement_timeout_ms"]) as database:
            verdict = migrations.verify(database, params["required_tables"], listed, params["migrations_table"])
    except OpsError as exc:
        exc.add_context(dict(outputs, exit_code=status_line.EXIT_FAIL))
        raise
    outputs.update({k: verdict[k] for k in ("missing_tables", "pending_migrations", "checked_tables")})
    outputs["exit_code"] = verdict["exit_code"]
    if verdict["status"] == "fail":
        return dict(status="fail", reason=verdict["reason"], message=_describe(verdict), outputs=outputs)
    return dict(outputs=outputs)


def main():
    OpsModule(ARGUMENT_SPEC, operation="db_verify", phase=migrations.VERIFY_KEY, connections=[DbConnection]).run(run)


if __name__ == "__main__":
    main()
