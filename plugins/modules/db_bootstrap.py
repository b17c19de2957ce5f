#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: db_bootstrap
short_description: Validate the migration plan or apply pending schema migrations in order
version_added: "0.1.0"
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
  - A failing migration is rolled back alone; the migrations before it stay applied and the run
    stops with C(db_bootstrap status=fail reason=migration_failed ... failed_version=<v>).
  - Every outcome carries the documented C(exit_code) (0 ok, 1 fail) and a C(receipt); the task
    fails when C(exit_code) is not 0.
  - Idempotent; a second run applies nothing (C(applied=0), C(changed=false)).
author:
  - signalcraft maintainers (@signalcraft)
options:
  mode:
    description:
      - V(dry_run) validates the plan offline (no database needed). V(apply_migrations) applies.
    type: str
    required: true
    choices: [dry_run, apply_migrations]
  migrations_dir:
    description:
      - Directory of numbered C(.sql) migration files. Other files are ignored.
    type: path
    required: true
  dsn:
    description:
      - The PostgreSQL connection string. Required when O(mode=apply_migrations). Never logged.
    type: str
  migrations_table:
    description:
      - The table that records applied migrations (C(name) or C(schema.name)).
    type: str
    default: ops_schema_migrations
  allow_out_of_order:
    description:
      - Apply a pending migration whose version is below the highest applied version.
    type: bool
    default: false
  lock_wait:
    description:
      - Seconds to wait for another run's migration lock before failing with C(migration_lock_busy).
    type: float
    default: 30
  connect_timeout:
    description: Seconds to wait for the connection.
    type: int
    default: 10
  statement_timeout_ms:
    description:
      - Statement timeout applied to each migration's transaction in milliseconds; 0 for none.
    type: int
    default: 0
extends_documentation_fragment:
  - signalcraft.ops.receipt
attributes:
  check_mode:
    support: full
    description:
      - With O(mode=apply_migrations), connects, reads the migrations table and reports what would
        be applied (C(db_bootstrap_dry_run status=ok migrations=<pending>)) without writing.
  diff_mode:
    support: full
    description: Shows the applied versions before and after.
seealso:
  - module: signalcraft.ops.db_verify
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
"""

RETURN = r"""
status:
  description: C(ok) or C(fail).
  returned: always
  type: str
reason:
  description:
    - The stable reason token, or null. C(migrations_dir_missing), C(invalid_migration_name),
      C(duplicate_migration_version), C(empty_migration), C(transaction_control_in_migration), C(non_transactional_statement),
      C(missing_dsn), C(db_connect_failed), C(db_dsn_invalid), C(checksum_mismatch),
      C(out_of_order_migration), C(migration_lock_busy), C(migration_failed), C(invalid_table_name).
  returned: always
  type: str
token_line:
  description: The stable status line.
  returned: always
  type: str
  sample: db_bootstrap status=ok mode=apply_migrations applied=3 skipped=0
exit_code:
  description: The runbook's exit code for this outcome (0 ok, 1 fail).
  returned: always
  type: int
mode:
  description: The mode that ran (C(dry_run) also in check mode with O(mode=apply_migrations)).
  returned: always
  type: str
migrations:
  description: Every migration in the directory (version, name, filename, checksum).
  returned: when the directory was read
  type: list
  elements: dict
pending:
  description: Migrations not yet applied (before this run), when the database was read.
  returned: when mode=apply_migrations
  type: list
  elements: dict
applied:
  description: Migrations applied by this run, in order, with C(duration_ms).
  returned: when mode=apply_migrations
  type: list
  elements: dict
already_applied:
  description: Migrations already applied before this run (counted as C(skipped) in the status line).
  returned: when mode=apply_migrations
  type: list
  elements: dict
applied_count:
  description: How many migrations this run applied.
  returned: when mode=apply_migrations
  type: int
skipped_count:
  description: How many migrations were already applied.
  returned: when mode=apply_migrations
  type: int
failed_version:
  description: The version that failed and was rolled back.
  returned: when reason=migration_failed
  type: int
unknown_applied_versions:
  description: Versions recorded in the migrations table that the directory does not have.
  returned: when mode=apply_migrations
  type: list
  elements: int
receipt:
  description: A receipt.v1 document (operation C(db_ops), phase C(db_bootstrap_dry_run) or C(db_bootstrap)).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.signalcraft.ops.plugins.module_utils.services import db
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.db import migrations
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core import status_line
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.db.migrations import MigrationError


def _versions(items):
    return [m["version"] for m in items]


def apply(params, listed, execution_id, check_mode):
    """Plan (check mode) or apply against the database; returns the result dict."""
    if not (params["dsn"] or "").strip():
        raise MigrationError("missing_dsn", "mode=apply_migrations needs dsn; set it in the inventory (db_ops_dsn) "
                             "or run mode=dry_run to validate the plan without a database.")
    migrations.validate_table_name(params["migrations_table"])
    database = db.open_session(params["dsn"], "signalcraft.ops.db_bootstrap", params["connect_timeout"], None)
    try:
        runner = migrations.MigrationRunner(database, params["migrations_table"], execution_id=execution_id,
                                            statement_timeout_ms=params["statement_timeout_ms"], lock_wait_s=params["lock_wait"])
        before = runner.applied()
        plan = runner.plan(listed, before, params["allow_out_of_order"])
        pending = [migrations.public(m) for m in plan["pending"]]
        result = {"pending": pending, "unknown_applied_versions": plan["unknown_applied_versions"],
                  "already_applied": [migrations.public(m) for m in plan["skipped"]], "skipped_count": len(plan["skipped"])}
        result["diff"] = {"before": {"applied_versions": sorted(before)},
                          "after": {"applied_versions": sorted(set(before) | set(_versions(pending)))}}
        if check_mode:
            line = status_line.format_line(migrations.DRY_RUN_KEY, "ok", fields=[("migrations", len(pending))])
            result.update(status="ok", reason=None, mode="dry_run", token_line=line, exit_code=0, applied=[], applied_count=0,
                          changed=bool(pending))
            return result
        try:
            done = runner.apply(listed, params["allow_out_of_order"])
        except MigrationError as exc:
            if exc.reason != "migration_failed":
                raise
            applied = exc.details.get("applied", [])
            result.update(migrations.fail_result(migrations.APPLY_KEY, exc.reason, mode="apply_migrations", applied=len(applied),
                                                 skipped=len(exc.details.get("skipped", [])), failed_version=exc.details["failed_version"]))
            result.update(applied=applied, applied_count=len(applied), skipped_count=len(exc.details.get("skipped", [])),
                          changed=bool(applied) or exc.details.get("created_table", False), message=exc.message)
            result["diff"]["after"] = {"applied_versions": sorted(set(before) | set(_versions(applied)))}
            return result
        result.update(status="ok", reason=None, mode="apply_migrations", exit_code=0, applied=done["applied"],
                      applied_count=len(done["applied"]), already_applied=done["skipped"], skipped_count=len(done["skipped"]),
                      unknown_applied_versions=done["unknown_applied_versions"],
                      token_line=migrations.apply_token_line(len(done["applied"]), len(done["skipped"])),
                      changed=bool(done["applied"]) or done["created_table"])
        result["diff"]["after"] = {"applied_versions": sorted(set(before) | set(_versions(done["applied"])))}
        return result
    finally:
        database.close()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mode=dict(type="str", required=True, choices=["dry_run", "apply_migrations"]),
            migrations_dir=dict(type="path", required=True),
            dsn=dict(type="str", no_log=True),
            migrations_table=dict(type="str", default=migrations.DEFAULT_TABLE),
            allow_out_of_order=dict(type="bool", default=False),
            lock_wait=dict(type="float", default=30.0),
            connect_timeout=dict(type="int", default=10),
            statement_timeout_ms=dict(type="int", default=0),
            execution_id=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    started = receipts.utc_now()
    execution_id = receipts.execution_id(params["execution_id"], "db_bootstrap", started)
    key = migrations.DRY_RUN_KEY if params["mode"] == "dry_run" or module.check_mode else migrations.APPLY_KEY
    try:
        listed = migrations.discover(params["migrations_dir"])
        result = migrations.dry_run(params["migrations_dir"]) if params["mode"] == "dry_run" else \
            apply(params, listed, execution_id, module.check_mode)
        result["migrations"] = [migrations.public(m) for m in listed]
    except (db.DbError, MigrationError) as exc:
        result = migrations.fail_result(key, exc.reason, mode=params["mode"] if key == migrations.APPLY_KEY else None)
        result.update(mode=params["mode"], message=exc.message)
    result.setdefault("changed", False)
    detail = result.pop("message", None)
    outputs = {k: v for k, v in result.items() if k not in ("diff", "changed")}
    result["receipt"] = receipts.build(
        "db_ops", key, "success" if result["exit_code"] == 0 else "failed", execution_id, started,
        inputs={"mode": params["mode"], "migrations_dir": params["migrations_dir"], "migrations_table": params["migrations_table"],
                "allow_out_of_order": params["allow_out_of_order"], "dsn_configured": bool((params["dsn"] or "").strip()),
                "check_mode": module.check_mode},
        outputs=outputs, failure_code=result["reason"], message=detail, changed=result["changed"],
        module="signalcraft.ops.db_bootstrap", secret_values=[params["dsn"] or "", db.dsn_password(params["dsn"]) or ""],
    )
    if result["exit_code"] != 0:
        module.fail_json(msg="%s: %s" % (result["token_line"], detail), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
