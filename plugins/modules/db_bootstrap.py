#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: db_bootstrap
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Validate the migration plan or apply pending schema migrations in order
description:
  - Replaces C(python -m tools.db_bootstrap --dry-run) and C(... apply_migrations) of the DB-backed
    service runbook.
  - O(mode=dry_run) validates the migrations directory without a database (names
    C(<version>_<name>.sql), unique versions, no empty files, no C(BEGIN)/C(COMMIT) of their own) and
    returns C(db_bootstrap_dry_run status=ok migrations=<n>) with the list of migrations.
  - O(mode=apply_migrations) creates the migrations table when missing, takes an advisory lock,
    refuses migrations edited after they were applied (C(checksum_mismatch)) and pending versions
    below the highest applied one (C(out_of_order_migration)) unless O(allow_out_of_order), then
    applies each pending migration in its own transaction together with its row in
    O(migrations_table). Returns C(db_bootstrap status=ok mode=apply_migrations applied=<n> skipped=<n>).
  - A failing migration is rolled back alone; the migrations before it stay applied and the task
    fails with C(db_bootstrap status=fail reason=migration_failed ... failed_version=<v>).
  - Every outcome carries the runbook's exit code in RV(outputs.exit_code) (0 ok, 1 fail); the task
    fails exactly when it is not 0.
  - The receipt has operation C(db_bootstrap) and phase C(db_bootstrap_dry_run) (O(mode=dry_run), or
    check mode) or C(db_bootstrap) (O(mode=apply_migrations)); the collection's action plugin writes it.
  - Idempotent; a second run applies nothing (C(applied=0), C(changed=false)).
  - Only O(mode=apply_migrations) needs O(dsn); without one it fails with C(missing_dsn).
options:
  mode:
    description:
      - V(dry_run) validates the plan offline (no database needed). V(apply_migrations) applies.
      - The role sets it from C(db_ops_bootstrap_mode).
    type: str
    required: true
    choices: [dry_run, apply_migrations]
  migrations_dir:
    description:
      - Directory of numbered C(.sql) migration files. Other files are ignored.
      - The role sets it from C(db_ops_migrations_dir).
    type: path
    required: true
  migrations_table:
    description:
      - The table that records applied migrations (C(name) or C(schema.name)).
    type: str
    default: ops_schema_migrations
  allow_out_of_order:
    description:
      - Apply a pending migration whose version is below the highest applied version
        (C(-e db_ops_allow_out_of_order=true)).
    type: bool
    default: false
  lock_wait:
    description:
      - Seconds to wait for another run's migration lock before failing with C(migration_lock_busy).
    type: float
    default: 30
  statement_timeout_ms:
    description:
      - Statement timeout applied to each migration's transaction in milliseconds; 0 for none.
    type: int
    default: 0
attributes:
  check_mode:
    support: full
    description:
      - With O(mode=apply_migrations), connects, reads the migrations table and reports what would
        be applied (C(db_bootstrap_dry_run status=ok migrations=<pending>)) without writing.
  diff_mode:
    support: full
    description: Shows the applied versions before and after.
requirements:
  - psycopg >= 3 (C(psycopg[binary]))
seealso:
  - module: signalcraft.ops.db_verify
extends_documentation_fragment: [signalcraft.ops.receipt, signalcraft.ops.postgres]
"""

EXAMPLES = r"""
- name: Validate the migration plan (no database needed)
  signalcraft.ops.db_bootstrap:
    mode: dry_run
    migrations_dir: "{{ role_path }}/files/migrations"

- name: Apply pending migrations
  signalcraft.ops.db_bootstrap:
    mode: apply_migrations
    migrations_dir: "{{ role_path }}/files/migrations"
    dsn: "{{ db_ops_dsn }}"
  register: bootstrap

- name: Print the status line
  ansible.builtin.debug:
    msg: "{{ bootstrap.token_line }}"
"""

RETURN = r"""
status:
  description: C(ok) or C(fail).
  returned: always
  type: str
outputs:
  description: The migration plan, the versions applied or already present, and the runbook's exit code.
  returned: always
  type: dict
  contains:
    exit_code:
      description: The runbook's exit code for this outcome (0 ok, 1 fail); C(scripts/ops_db.py) exits with it.
      returned: always
      type: int
    mode:
      description: The mode that ran (C(dry_run) also in check mode with O(mode=apply_migrations)).
      returned: always
      type: str
    dsn_configured:
      description: Whether a DSN was given (the DSN itself is never returned).
      returned: always
      type: bool
    migrations:
      description: Every migration in the directory (version, name, filename, checksum).
      returned: when the directory was read
      type: list
      elements: dict
    migration_count:
      description: How many migrations the directory holds.
      returned: when the directory was read
      type: int
    pending:
      description: Migrations not yet applied (before this run).
      returned: when mode=apply_migrations read the database
      type: list
      elements: dict
    applied:
      description: Migrations applied by this run, in order, with C(duration_ms).
      returned: when mode=apply_migrations read the database
      type: list
      elements: dict
    already_applied:
      description: Migrations already applied before this run (counted as C(skipped) in the status line).
      returned: when mode=apply_migrations read the database
      type: list
      elements: dict
    applied_count:
      description: How many migrations this run applied.
      returned: when mode=apply_migrations read the database
      type: int
    skipped_count:
      description: How many migrations were already applied.
      returned: when mode=apply_migrations read the database
      type: int
    unknown_applied_versions:
      description: Versions recorded in the migrations table that the directory does not have.
      returned: when mode=apply_migrations read the database
      type: list
      elements: int
    failed_version:
      description: The version that failed and was rolled back.
      returned: when reason=migration_failed
      type: int
diff:
  description: The applied versions before and after.
  returned: when mode=apply_migrations read the database
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core import status_line
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.db import migrations
from ansible_collections.signalcraft.ops.plugins.module_utils.services.db import DbConnection, ops_database_argument_spec

ARGUMENT_SPEC = dict(
    ops_database_argument_spec(),
    mode=dict(type="str", required=True, choices=["dry_run", "apply_migrations"]),
    migrations_dir=dict(type="path", required=True),
    migrations_table=dict(type="str", default=migrations.DEFAULT_TABLE),
    allow_out_of_order=dict(type="bool", default=False),
    lock_wait=dict(type="float", default=30.0),
    # Overrides the session default: applied to each migration's transaction, and none (0) unless set.
    statement_timeout_ms=dict(type="int", default=0),
)


def _versions(items):
    return [m["version"] for m in items]


def _diff(before, applied):
    return {"before": {"applied_versions": sorted(before)},
            "after": {"applied_versions": sorted(set(before) | set(_versions(applied)))}}


def _apply(ops, listed, outputs):
    """Plan (check mode) or apply against the database; returns the outcome."""
    params = ops.params
    migrations.validate_table_name(params["migrations_table"])
    with ops.connection("db").session(params["dsn"], "signalcraft.ops.db_bootstrap", params["connect_timeout"], None) as database:
        runner = migrations.MigrationRunner(database, params["migrations_table"], execution_id=ops.execution_id,
                                            statement_timeout_ms=params["statement_timeout_ms"], lock_wait_s=params["lock_wait"])
        before = runner.applied()
        plan = runner.plan(listed, before, params["allow_out_of_order"])
        pending = [migrations.public(m) for m in plan["pending"]]
        outputs.update(pending=pending, unknown_applied_versions=plan["unknown_applied_versions"],
                       already_applied=[migrations.public(m) for m in plan["skipped"]], skipped_count=len(plan["skipped"]))
        if ops.check_mode:
            outputs.update(mode="dry_run", applied=[], applied_count=0)
            return dict(changed=bool(pending), outputs=outputs, diff=_diff(before, pending), line=[("migrations", len(pending))])
        try:
            done = runner.apply(listed, params["allow_out_of_order"])
        except migrations.MigrationError as exc:
            if exc.reason != "migration_failed":
                raise
            applied = exc.details.get("applied", [])
            skipped = len(exc.details.get("skipped", []))
            outputs.update(applied=applied, applied_count=len(applied), skipped_count=skipped,
                           failed_version=exc.details["failed_version"], exit_code=status_line.EXIT_FAIL)
            # A status=fail outcome (rather than a raise) keeps the diff of what did get applied.
            return dict(status="fail", reason=exc.reason, message=exc.message, outputs=outputs, diff=_diff(before, applied),
                        changed=bool(applied) or exc.details.get("created_table", False),
                        line=[("mode", "apply_migrations"), ("applied", len(applied)), ("skipped", skipped),
                              ("failed_version", exc.details["failed_version"])])
    outputs.update(applied=done["applied"], applied_count=len(done["applied"]), already_applied=done["skipped"],
                   skipped_count=len(done["skipped"]), unknown_applied_versions=done["unknown_applied_versions"])
    return dict(changed=bool(done["applied"]) or done["created_table"], outputs=outputs, diff=_diff(before, done["applied"]),
                line=[("mode", "apply_migrations"), ("applied", len(done["applied"])), ("skipped", len(done["skipped"]))])


def run(ops):
    params = ops.params
    configured = ops.connection("db").configured(params["dsn"])
    applying = params["mode"] == "apply_migrations"
    outputs = {"mode": params["mode"], "dsn_configured": configured, "exit_code": status_line.EXIT_OK}
    try:
        if applying and not configured:
            raise migrations.MigrationError(
                "missing_dsn", "mode=apply_migrations needs a database; set db_ops_dsn in the inventory (or -e db_ops_dsn=...), "
                "or run -e db_ops_bootstrap_mode=dry_run to validate the plan without a database.")
        listed = migrations.discover(params["migrations_dir"])
        outputs.update(migrations=[migrations.public(m) for m in listed], migration_count=len(listed))
        if not applying:
            return dict(changed=False, outputs=outputs, line=[("migrations", len(listed))])
        return _apply(ops, listed, outputs)
    except OpsError as exc:
        exc.add_context(dict(outputs, exit_code=status_line.EXIT_FAIL))
        if applying and not ops.check_mode:
            exc.details["line"] = [("mode", "apply_migrations")]
        raise


def main():
    ops = OpsModule(ARGUMENT_SPEC, operation="db_bootstrap", phase=migrations.APPLY_KEY, connections=[DbConnection])
    # The phase (and status line key) follow the mode: a dry run, or check mode, only plans.
    if ops.params["mode"] == "dry_run" or ops.check_mode:
        ops.phase = ops.status_key = migrations.DRY_RUN_KEY
    ops.run(run)


if __name__ == "__main__":
    main()
