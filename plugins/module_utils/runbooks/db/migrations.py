# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Schema migrations: numbered ``.sql`` files applied in order, each in its own transaction.

Replaces ``tools.db_bootstrap --dry-run`` and ``tools.db_bootstrap apply_migrations``.

* A migrations directory holds ``<version>_<name>.sql`` files (``0001_delivery_metrics.sql``);
  versions are integers, unique, applied in ascending order. Other files (a README) are ignored.
* Each migration runs in one transaction together with the row that records it in the migrations
  table (``version, name, checksum, applied_at, execution_id, duration_ms``), so a migration is
  either applied and recorded or neither. A failing migration rolls back alone; the ones before it
  stay applied, and the run stops there.
* An applied migration whose file changed (checksum) stops the run before anything is applied:
  fix forward with a new migration instead of editing an applied one.
* A pending version lower than the highest applied one is refused unless out-of-order is allowed.
* Concurrent runs serialise on a session advisory lock, so two operators cannot both apply.
* Migration files must not contain their own transaction control (``BEGIN``/``COMMIT``...).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re
import time

from ansible_collections.signalcraft.ops.plugins.module_utils.core import status_line
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.services.db import DbError

DRY_RUN_KEY = "db_bootstrap_dry_run"
APPLY_KEY = "db_bootstrap"
DEFAULT_TABLE = "ops_schema_migrations"
# First half of the two-int advisory lock key: "signalcraft migrations"; the second is the table's hash.
_LOCK_CLASS = 0x5C0A
_FILENAME = re.compile(r"^(?P<version>[0-9]{1,18})_(?P<name>[a-z0-9][a-z0-9_]*)\.sql$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Transaction control at the start of a statement (after the previous one's ";"), outside what a function body
# would hold; a CASE expression's END that happens to start a line is not one.
_TX_CONTROL = re.compile(r"(?is)(?:^|;)\s*(begin|commit|rollback|abort|start\s+transaction|end|savepoint|release)\b[^;]*;")
# Comments and dollar-quoted bodies (functions, DO blocks) are blanked before looking for BEGIN/COMMIT,
# so a PL/pgSQL "END;" or a procedure's COMMIT is not mistaken for the migration's own.
# Statements PostgreSQL refuses inside a transaction block ("... cannot run inside a transaction block"),
# at the start of a statement: a migration holding one would pass the dry run and fail at apply.
_NO_TRANSACTION = re.compile(
    r"(?is)(?:^|;)\s*(?P<stmt>create\s+(?:unique\s+)?index\s+concurrently|drop\s+index\s+concurrently"
    r"|reindex\b[^;]*?\bconcurrently|vacuum\b|(?:create|drop)\s+(?:database|tablespace)\b|alter\s+system\b"
    r"|alter\s+table\b[^;]*?\bdetach\s+partition\b[^;]*?\bconcurrently)")
_NOT_CODE = re.compile(r"--[^\n]*|/\*.*?\*/|\$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$", re.DOTALL)


class MigrationError(OpsError):
    """A migration step failed; ``reason`` is the token in ``db_bootstrap... status=fail reason=...``.

    Keyword arguments are the ``details`` (they become the module's ``outputs``).
    """

    def __init__(self, reason, message, **details):
        super(MigrationError, self).__init__(reason, message, details=details)


def validate_table_name(table, option_name="db_ops_migrations_table"):
    """``table`` or ``schema.table``, lowercase identifiers; returns the quoted SQL name."""
    parts = table.split(".") if isinstance(table, str) else []
    if not 1 <= len(parts) <= 2 or not all(_IDENTIFIER.match(p) for p in parts):
        raise MigrationError("invalid_table_name",
                             "%s %r must be a lowercase identifier or schema.identifier "
                             "(letters, digits, '_'; at most 63 characters each)." % (option_name, table))
    return ".".join('"%s"' % p for p in parts)


def discover(directory):
    """The migrations in ``directory``, sorted by version.

    Each is ``{"version", "name", "filename", "checksum", "sql"}``. Raises MigrationError with
    ``migrations_dir_missing``, ``invalid_migration_name``, ``duplicate_migration_version``,
    ``empty_migration``, ``transaction_control_in_migration`` or ``non_transactional_statement``.
    """
    if not directory or not os.path.isdir(directory):
        raise MigrationError("migrations_dir_missing",
                             "db_ops_migrations_dir %r is not a directory; point it at the directory of numbered .sql files." % (directory,))
    found, by_version = [], {}
    for filename in sorted(os.listdir(directory)):
        path = os.path.join(directory, filename)
        if filename.startswith(".") or not filename.endswith(".sql") or not os.path.isfile(path):
            continue
        match = _FILENAME.match(filename)
        if not match:
            raise MigrationError("invalid_migration_name",
                                 "migration file %r does not match <version>_<name>.sql (digits, '_', lowercase name), "
                                 "e.g. 0004_add_index.sql; rename it." % filename, filename=filename)
        version = int(match.group("version"))
        if version in by_version:
            raise MigrationError("duplicate_migration_version",
                                 "migrations %r and %r share version %d; give one of them the next free number."
                                 % (by_version[version], filename, version), filename=filename)
        with open(path, "rb") as handle:
            data = handle.read()
        sql = data.decode("utf-8")
        code = _NOT_CODE.sub(" ", sql)
        if not code.strip().strip(";").strip():
            raise MigrationError("empty_migration", "migration %r has no SQL statements." % filename, filename=filename)
        if _TX_CONTROL.search(code):
            raise MigrationError("transaction_control_in_migration",
                                 "migration %r contains its own BEGIN/COMMIT/ROLLBACK; remove them: each migration "
                                 "already runs in one transaction with its bookkeeping row." % filename, filename=filename)
        no_tx = _NO_TRANSACTION.search(code)
        if no_tx:
            statement = " ".join(no_tx.group("stmt").split()[:4]).upper()
            raise MigrationError("non_transactional_statement",
                                 "migration %r contains %s, which PostgreSQL cannot run inside a transaction block, and "
                                 "each migration runs in one transaction; drop CONCURRENTLY (or move the statement out of "
                                 "the migrations and run it by hand)." % (filename, statement), filename=filename)
        by_version[version] = filename
        found.append({"version": version, "name": match.group("name"), "filename": filename,
                      "checksum": "sha256:" + hashlib.sha256(data).hexdigest(), "sql": sql})
    return sorted(found, key=lambda m: m["version"])


def public(migration):
    """A migration without its SQL text, for results and receipts."""
    return {k: migration[k] for k in ("version", "name", "filename", "checksum")}


def dry_run(directory):
    """Validate the migration plan without a database (runbook step 2)."""
    migrations = discover(directory)
    return {
        "status": "ok", "reason": None, "mode": "dry_run",
        "token_line": status_line.format_line(DRY_RUN_KEY, "ok", fields=[("migrations", len(migrations))]),
        "exit_code": status_line.EXIT_OK,
        "migrations": [public(m) for m in migrations],
        "migration_count": len(migrations),
    }


def fail_result(key, reason, **fields):
    """The result shape of a failed dry run or apply (status line, exit code 1)."""
    ordered = [(k, fields[k]) for k in ("mode", "applied", "skipped", "failed_version") if fields.get(k) is not None]
    result = {"status": "fail", "reason": reason, "token_line": status_line.format_line(key, "fail", reason, ordered),
              "exit_code": status_line.EXIT_FAIL}
    # Counts stay in the line; a result key named "skipped" would make Ansible report the task as skipped.
    result.update({k: v for k, v in fields.items() if k in ("mode", "failed_version")})
    return result


class MigrationRunner:
    """Reads and applies migrations through a ``db.Database`` (autocommit; transactions explicit)."""

    def __init__(self, database, table=DEFAULT_TABLE, execution_id=None, statement_timeout_ms=0,
                 lock_wait_s=30.0, clock=time.monotonic, sleep=time.sleep):
        self.db = database
        self.table = table
        self.quoted_table = validate_table_name(table)
        self.execution_id = execution_id
        self.statement_timeout_ms = int(statement_timeout_ms or 0)
        self.lock_wait_s = lock_wait_s
        self._clock = clock
        self._sleep = sleep
        self._locked = False

    # -- reading -----------------------------------------------------------------------------
    def table_exists(self):
        return self.db.scalar("select to_regclass(%s) is not null as present", (self.table,)) is True

    def applied(self):
        """``{version: row}`` of applied migrations; ``{}`` when the table does not exist yet."""
        if not self.table_exists():
            return {}
        rows = self.db.query("select version, name, checksum, applied_at, execution_id from %s order by version" % self.quoted_table)
        return {int(r["version"]): r for r in rows}

    @staticmethod
    def plan(migrations, applied, allow_out_of_order=False):
        """Split ``migrations`` into pending and already applied; refuse edited or out-of-order ones.

        Returns ``{"pending": [...], "skipped": [...], "unknown_applied_versions": [...]}``.
        """
        by_version = {m["version"]: m for m in migrations}
        changed = [v for v in sorted(applied) if v in by_version and applied[v]["checksum"] != by_version[v]["checksum"]]
        if changed:
            first = by_version[changed[0]]
            raise MigrationError("checksum_mismatch",
                                 "migration %s was changed after it was applied (checksum differs from the migrations table); "
                                 "restore the applied file and fix forward with a new migration." % first["filename"],
                                 versions=changed)
        pending = [m for m in migrations if m["version"] not in applied]
        skipped = [m for m in migrations if m["version"] in applied]
        highest = max(applied) if applied else None
        late = [m for m in pending if highest is not None and m["version"] < highest]
        if late and not allow_out_of_order:
            raise MigrationError("out_of_order_migration",
                                 "migration %s is pending but version %d is already applied; renumber it above %d "
                                 "(or allow it explicitly with -e db_ops_allow_out_of_order=true)." % (late[0]["filename"], highest, highest),
                                 versions=[m["version"] for m in late])
        unknown = sorted(v for v in applied if v not in by_version)
        return {"pending": pending, "skipped": skipped, "unknown_applied_versions": unknown}

    # -- writing -----------------------------------------------------------------------------
    def ensure_table(self):
        """Create the migrations table when missing (its own transaction). Returns True when created."""
        if self.table_exists():
            return False
        with self.db.transaction() as cur:
            cur.execute(
                "create table if not exists %s ("
                " version bigint primary key,"
                " name text not null,"
                " checksum text not null,"
                " applied_at timestamptz not null default now(),"
                " execution_id text,"
                " duration_ms integer not null default 0)" % self.quoted_table)
        return True

    def lock(self):
        """Take the session advisory lock for this table, waiting up to ``lock_wait_s``."""
        deadline = self._clock() + self.lock_wait_s
        while True:
            if self.db.scalar("select pg_try_advisory_lock(%s, hashtext(%s)) as locked", (_LOCK_CLASS, self.table)):
                self._locked = True
                return
            if self._clock() >= deadline:
                raise MigrationError("migration_lock_busy",
                                     "another run holds the migration lock on %s for more than %ss; wait for it to finish "
                                     "(pg_stat_activity shows it) and run again." % (self.table, self.lock_wait_s))
            self._sleep(0.5)

    def unlock(self):
        if self._locked:
            self.db.scalar("select pg_advisory_unlock(%s, hashtext(%s)) as unlocked", (_LOCK_CLASS, self.table))
            self._locked = False

    def apply_one(self, migration):
        """Run one migration and record it, in one transaction; MigrationError(migration_failed) on error."""
        started = self._clock()
        try:
            with self.db.transaction() as cur:
                if self.statement_timeout_ms:
                    cur.execute("select set_config('statement_timeout', %s, true)", (str(self.statement_timeout_ms),))
                cur.execute(migration["sql"])
                cur.execute("insert into %s (version, name, checksum, execution_id, duration_ms) values (%%s, %%s, %%s, %%s, %%s)"
                            % self.quoted_table,
                            (migration["version"], migration["name"], migration["checksum"], self.execution_id,
                             int((self._clock() - started) * 1000)))
        except DbError as exc:
            raise MigrationError("migration_failed",
                                 "migration %s failed and was rolled back (earlier migrations stay applied): %s; "
                                 "fix it forward and run apply_migrations again." % (migration["filename"], exc.message),
                                 failed_version=migration["version"], filename=migration["filename"])
        return int((self._clock() - started) * 1000)

    def apply(self, migrations, allow_out_of_order=False):
        """Apply every pending migration in order.

        Returns ``{"applied": [...], "skipped": [...], "unknown_applied_versions", "created_table"}``.
        On a failing migration raises MigrationError(migration_failed) whose ``details`` carry
        ``applied`` (the versions applied before it) and ``failed_version``.
        """
        created = self.ensure_table()
        self.lock()
        try:
            # Read after locking: another run may have applied some while we waited.
            plan = self.plan(migrations, self.applied(), allow_out_of_order)
            done = []
            for migration in plan["pending"]:
                try:
                    duration = self.apply_one(migration)
                except MigrationError as exc:
                    exc.details.update(applied=[public(m) for m in done], skipped=[public(m) for m in plan["skipped"]],
                                       created_table=created)
                    raise
                done.append(dict(migration, duration_ms=duration))
        finally:
            self.unlock()
        return {"applied": [dict(public(m), duration_ms=m["duration_ms"]) for m in done],
                "skipped": [public(m) for m in plan["skipped"]],
                "unknown_applied_versions": plan["unknown_applied_versions"], "created_table": created}


def apply_token_line(applied_count, skipped_count):
    fields = [("mode", "apply_migrations"), ("applied", applied_count), ("skipped", skipped_count)]
    return status_line.format_line(APPLY_KEY, "ok", fields=fields)


VERIFY_KEY = "db_verify"


def verify(database, required_tables, migrations=None, table=DEFAULT_TABLE):
    """``db_verify``: the required tables exist and, when ``migrations`` is given, none is pending.

    Tables are resolved with the connection's search_path (``schema.table`` names work too).
    Returns ``{"status", "reason", "token_line", "exit_code", "missing_tables", "pending_migrations"}``.
    """
    names = list(required_tables)
    for name in names:
        validate_table_name(name, "db_ops_required_tables")
    missing = [t for t in names if database.scalar("select to_regclass(%s) is not null as present", (t,)) is not True]
    pending = []
    if migrations is not None:
        applied = MigrationRunner(database, table).applied()
        pending = [public(m) for m in migrations if m["version"] not in applied]
    reason = "missing_tables" if missing else ("pending_migrations" if pending else None)
    status = "fail" if reason else "ok"
    return {"status": status, "reason": reason, "token_line": status_line.format_line(VERIFY_KEY, status, reason),
            "exit_code": status_line.exit_code(status), "missing_tables": missing, "pending_migrations": pending,
            "checked_tables": names}


def verify_not_configured():
    """No DSN: the CI-safe ``db_verify status=not_configured reason=missing_dsn`` (exit code 0)."""
    return {"status": "not_configured", "reason": "missing_dsn",
            "token_line": status_line.format_line(VERIFY_KEY, "not_configured", "missing_dsn"),
            "exit_code": status_line.EXIT_OK, "missing_tables": [], "pending_migrations": [], "checked_tables": []}


def verify_failed(reason):
    """``db_verify status=fail reason=<reason>`` for failures before any table was checked (connection, input)."""
    return {"status": "fail", "reason": reason, "token_line": status_line.format_line(VERIFY_KEY, "fail", reason),
            "exit_code": status_line.EXIT_FAIL, "missing_tables": [], "pending_migrations": [], "checked_tables": []}


INTEGRATION_KEY = "db_migrations_integration"
# A throwaway database's name: the prefix, then a random suffix (lower case: unquoted identifiers fold).
_DATABASE_PREFIX = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


def throwaway_database_name(prefix, suffix):
    """``<prefix>_<suffix>``, refused unless it is a plain lower-case identifier (it is interpolated into DDL)."""
    if not _DATABASE_PREFIX.match(prefix or ""):
        raise MigrationError("db_name_invalid",
                             "db_ops_integration_database_prefix %r is not a plain lower-case identifier of at most 41 "
                             "characters (letters, digits, _); choose e.g. signalcraft_migcheck." % (prefix,))
    return "%s_%s" % (prefix, re.sub(r"[^a-z0-9_]", "_", suffix.lower()))[:63]


def integration_check(admin, open_database, name, listed, required_tables, table=DEFAULT_TABLE, execution_id=None,
                      statement_timeout_ms=0, keep_database=False):
    """The ``db_migrations_integration`` gate: every migration applied to a database made for the check, then db_verify.

    ``admin`` is a ``db.Database`` on the server's maintenance database (its role may CREATE DATABASE);
    ``open_database(name)`` opens a ``db.Database`` on database ``name`` of the same server. The
    throwaway database is dropped at the end whatever happened, unless ``keep_database``. Raises
    MigrationError(``migration_failed`` naming the file, or the verify reason) after dropping it.
    Returns ``{"database", "applied", "verify", "dropped"}``.
    """
    try:
        admin.execute("create database %s" % name)
    except DbError as exc:
        if "[42501]" not in exc.message:  # insufficient_privilege
            raise
        raise MigrationError("db_createdb_denied",
                             "the role of db_ops_integration_dsn may not create databases (%s); point it at a CI or sandbox "
                             "server whose role has CREATEDB (ALTER ROLE <role> CREATEDB)." % exc.message)
    dropped = False
    try:
        with open_database(name) as database:
            runner = MigrationRunner(database, table, execution_id=execution_id, statement_timeout_ms=statement_timeout_ms)
            result = runner.apply(listed)
            verdict = verify(database, required_tables, listed, table)
        if verdict["status"] != "ok":
            raise MigrationError(verdict["reason"],
                                 "after all %d migrations applied to an empty database, db_verify says %s (missing tables: %s; "
                                 "pending: %s); add the migration that creates them." % (
                                     len(listed), verdict["reason"], ", ".join(verdict["missing_tables"]) or "none",
                                     ", ".join(m["filename"] for m in verdict["pending_migrations"]) or "none"),
                                 missing_tables=verdict["missing_tables"])
    finally:
        if not keep_database:
            # WITH (FORCE) (PostgreSQL 13+) ends the sessions a failed migration may have left behind.
            admin.execute("drop database if exists %s with (force)" % name)
            dropped = True
    return {"database": name, "applied": result["applied"], "verify": verdict["token_line"], "dropped": dropped}
