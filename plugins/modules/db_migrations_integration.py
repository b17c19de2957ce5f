#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: db_migrations_integration
version_added: "0.2.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Apply every migration to a throwaway database and verify it, as the pre-deploy CI gate
description:
  - The C(db_migrations_integration) gate of the DB-backed service runbook, so CI can run it before a
    deploy; when it fails the runbook says to roll back the recent migration change or fix forward.
  - Validates the migrations directory offline first (as C(db_bootstrap) does with C(mode=dry_run)), then creates
    an empty database named C(<database_prefix>_<suffix>) on the server of O(dsn), applies every
    migration in order (each in its own transaction, as C(db_bootstrap) does), runs C(db_verify)
    against it (required tables present, nothing pending), and drops the database again
    (C(DROP DATABASE ... WITH (FORCE)), PostgreSQL 13 or later) whatever happened, unless O(keep_database).
  - A failing migration fails with C(db_migrations_integration status=fail reason=migration_failed
    migration=<file>); tables the migrations do not create fail with C(reason=missing_tables).
  - The role of O(dsn) needs C(CREATEDB). Point it at a CI or sandbox server, never at production;
    the gate needs no data, only the server version the service runs.
  - The receipt has operation C(db_migrations_integration); the collection's action plugin writes it.
options:
  dsn:
    description:
      - A connection string to the server the check runs on (any existing database of it, e.g. C(postgres)).
      - The role sets it from C(db_ops_integration_dsn) (no default; never the service's own database).
    type: str
    required: true
  migrations_dir:
    description:
      - Directory of numbered C(.sql) migration files, as for C(db_bootstrap).
    type: path
    required: true
  migrations_table:
    description:
      - The table that records applied migrations.
    type: str
    default: ops_schema_migrations
  required_tables:
    description:
      - Tables that must exist once every migration is applied (C(db_ops_required_tables)).
    type: list
    elements: str
    default: []
  database_prefix:
    description:
      - Prefix of the throwaway database's name (lower-case letters, digits, C(_); at most 41 characters).
    type: str
    default: signalcraft_migcheck
  keep_database:
    description:
      - Leave the throwaway database for inspection instead of dropping it (its name is in RV(outputs.database)).
    type: bool
    default: false
  connect_timeout:
    description: Seconds to wait for each connection.
    type: int
    default: 10
  statement_timeout_ms:
    description: Statement timeout of each migration's transaction in milliseconds; 0 for none.
    type: int
    default: 0
attributes:
  check_mode:
    support: full
    description: Validates the migrations offline and says which database it would create; connects to nothing.
  diff_mode:
    support: none
    description: The database it creates is dropped again; nothing is left to compare.
requirements:
  - psycopg >= 3 (C(psycopg[binary]))
seealso:
  - module: signalcraft.ops.db_bootstrap
  - module: signalcraft.ops.db_verify
extends_documentation_fragment: [signalcraft.ops.receipt]
"""

EXAMPLES = r"""
- name: Apply every migration to an empty database and verify it (CI, before a deploy)
  signalcraft.ops.db_migrations_integration:
    dsn: "{{ db_ops_integration_dsn }}"
    migrations_dir: "{{ role_path }}/files/migrations"
    required_tables: [delivery_metrics, second_touch_summaries, ops_schema_migrations]
  register: gate

- name: Keep the throwaway database of a failing gate to inspect it (its name is in outputs.database)
  signalcraft.ops.db_migrations_integration:
    dsn: "{{ db_ops_integration_dsn }}"
    migrations_dir: "{{ role_path }}/files/migrations"
    keep_database: true
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: The throwaway database, the migrations applied to it and the verdict.
  returned: always
  type: dict
  contains:
    database:
      description: Name of the throwaway database (dropped unless O(keep_database)).
      returned: always
      type: str
    migration_count:
      description: How many migrations the directory holds.
      returned: when the directory was read
      type: int
    applied:
      description: The migrations applied, in order, with C(duration_ms).
      returned: success
      type: list
      elements: dict
    verify:
      description: The C(db_verify) status line against the throwaway database.
      returned: success
      type: str
    dropped:
      description: Whether the throwaway database was dropped.
      returned: success
      type: bool
    migration:
      description: The file of the migration that failed.
      returned: when a migration failed
      type: str
    exit_code:
      description: The runbook's exit code (0 ok, 1 fail).
      returned: always
      type: int
"""

import secrets

from ansible_collections.signalcraft.ops.plugins.module_utils.core import status_line
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.db import migrations
from ansible_collections.signalcraft.ops.plugins.module_utils.services import db
from ansible_collections.signalcraft.ops.plugins.module_utils.services.db import DbConnection

ARGUMENT_SPEC = dict(
    dsn=dict(type="str", required=True, no_log=True),
    migrations_dir=dict(type="path", required=True),
    migrations_table=dict(type="str", default=migrations.DEFAULT_TABLE),
    required_tables=dict(type="list", elements="str", default=[]),
    database_prefix=dict(type="str", default="signalcraft_migcheck"),
    keep_database=dict(type="bool", default=False),
    connect_timeout=dict(type="int", default=10),
    statement_timeout_ms=dict(type="int", default=0),
)


def run(ops):
    params = ops.params
    # Bad input fails before any connection: the plan, the table names and the database name.
    listed = migrations.discover(params["migrations_dir"])
    migrations.validate_table_name(params["migrations_table"])
    for name in params["required_tables"]:
        migrations.validate_table_name(name, "db_ops_required_tables")
    name = migrations.throwaway_database_name(params["database_prefix"], secrets.token_hex(4))
    outputs = {"database": name, "migration_count": len(listed), "exit_code": status_line.EXIT_OK}
    if not (params["dsn"] or "").strip():
        raise migrations.MigrationError("missing_dsn", "the gate needs a server to create its throwaway database on; set "
                                        "db_ops_integration_dsn (or db_ops_dsn) to a CI or sandbox PostgreSQL whose role may CREATE DATABASE.",
                                        **outputs)
    if ops.check_mode:
        return dict(status="planned", changed=False, outputs=outputs, line=[("migrations", len(listed))],
                    message="would create database %s, apply %d migrations and verify it, then drop it" % (name, len(listed)))
    connection = ops.connection("db")

    def open_database(database):
        return connection.session(db.dsn_for_database(params["dsn"], database), connect_timeout=params["connect_timeout"],
                                  statement_timeout_ms=0)

    try:
        with connection.session(params["dsn"], connect_timeout=params["connect_timeout"], statement_timeout_ms=0) as admin:
            result = migrations.integration_check(admin, open_database, name, listed, params["required_tables"],
                                                  params["migrations_table"], execution_id=ops.execution_id,
                                                  statement_timeout_ms=params["statement_timeout_ms"],
                                                  keep_database=params["keep_database"])
    except OpsError as exc:
        failed = exc.details.get("filename")
        exc.add_context(dict(outputs, exit_code=status_line.EXIT_FAIL, **({"migration": failed} if failed else {})))
        exc.details["line"] = [("migration", failed)] if failed else [("migrations", len(listed))]
        raise
    outputs.update(result)
    # The database is gone again: nothing changed, unless it was kept.
    return dict(changed=params["keep_database"], outputs=outputs,
                line=[("migrations", len(listed)), ("applied", len(result["applied"]))])


def main():
    OpsModule(ARGUMENT_SPEC, operation=migrations.INTEGRATION_KEY, phase=migrations.INTEGRATION_KEY, connections=[DbConnection]).run(run)


if __name__ == "__main__":
    main()
