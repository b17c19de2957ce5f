"""module_utils/migrations.py against the sandbox PostgreSQL, each test in its own schema.

State is read back with a separate psycopg connection, never from the runner's own return values alone.
"""

import os
import shutil
import threading
import uuid

import psycopg
import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.services import db
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.db import migrations
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.db.migrations import MigrationError
from tests.conftest import REPO_ROOT

SHIPPED = os.path.join(REPO_ROOT, "roles", "db_ops", "files", "migrations")


@pytest.fixture
def schema(sandbox):
    """A fresh schema; yields (dsn whose search_path is that schema, admin connection, schema name)."""
    name = "t_mig_%s" % uuid.uuid4().hex[:10]
    admin = psycopg.connect(sandbox["SANDBOX_PG_DSN"], autocommit=True)
    admin.execute("create schema %s" % name)
    try:
        yield "%s?options=-csearch_path%%3D%s" % (sandbox["SANDBOX_PG_DSN"], name), admin, name
    finally:
        admin.execute("drop schema %s cascade" % name)
        admin.close()


def write(directory, files):
    os.makedirs(str(directory), exist_ok=True)
    for filename, sql in files.items():
        (directory / filename).write_text(sql)
    return str(directory)


def reason(callable_, *args, **kwargs):
    with pytest.raises(MigrationError) as info:
        callable_(*args, **kwargs)
    return info.value


def tables(admin, name):
    return sorted(r[0] for r in admin.execute("select table_name from information_schema.tables where table_schema = %s", (name,)))


def recorded(admin, name):
    return [tuple(r) for r in admin.execute("select version, name, checksum, execution_id from %s.ops_schema_migrations order by version" % name)]


def test_the_shipped_migrations_validate_offline():
    result = migrations.dry_run(SHIPPED)
    assert result["token_line"] == "db_bootstrap_dry_run status=ok migrations=%d" % len(result["migrations"])
    assert [m["version"] for m in result["migrations"]] == sorted(m["version"] for m in result["migrations"])
    assert result["exit_code"] == 0 and len(result["migrations"]) >= 3


def test_discovery_refuses_bad_directories(tmp_path):
    assert reason(migrations.discover, str(tmp_path / "nope")).reason == "migrations_dir_missing"
    assert reason(migrations.discover, write(tmp_path / "a", {"1_Upper.sql": "select 1;"})).reason == "invalid_migration_name"
    assert reason(migrations.discover, write(tmp_path / "b", {"1_a.sql": "select 1;", "001_b.sql": "select 1;"})).reason == \
        "duplicate_migration_version"
    assert reason(migrations.discover, write(tmp_path / "c", {"1_a.sql": "-- nothing\n;\n"})).reason == "empty_migration"
    assert reason(migrations.discover, write(tmp_path / "d", {"1_a.sql": "BEGIN;\ncreate table x (i int);\nCOMMIT;\n"})).reason == \
        "transaction_control_in_migration"
    assert reason(migrations.discover, write(tmp_path / "d2", {"1_a.sql": "create table x (i int); savepoint s1;\n"})).reason == \
        "transaction_control_in_migration"
    # A CASE's END starting a line is not transaction control.
    assert [m["version"] for m in migrations.discover(write(tmp_path / "d3", {
        "1_a.sql": "update pg_class set relname = case when false then 'x' else relname\nend\nwhere false;\n"
                   "select case when true then 1 else 0\nend;\n"}))] == [1]
    # A PL/pgSQL body's BEGIN/END and a README are fine; order is numeric, not lexical.
    found = migrations.discover(write(tmp_path / "e", {
        "README.md": "notes",
        "10_later.sql": "select 1;",
        "2_fn.sql": "create function f() returns int as $$\nbegin\n  return 1;\nend;\n$$ language plpgsql;\n",
    }))
    assert [m["filename"] for m in found] == ["2_fn.sql", "10_later.sql"]
    assert migrations.validate_table_name("app.ops_schema_migrations") == '"app"."ops_schema_migrations"'
    assert reason(migrations.validate_table_name, "x; drop table y").reason == "invalid_table_name"


def test_statements_postgresql_refuses_in_a_transaction_fail_the_dry_run(schema, tmp_path):
    # The premise, read from PostgreSQL itself: CREATE INDEX CONCURRENTLY cannot run in a transaction block.
    dsn, admin, name = schema
    admin.execute("create table %s.big (i int)" % name)
    with pytest.raises(psycopg.errors.ActiveSqlTransaction):
        with admin.transaction():
            admin.execute("create index concurrently big_i on %s.big (i)" % name)
    for index, sql in enumerate(["create table x (i int);\ncreate unique index  CONCURRENTLY x_i on x (i);\n",
                                 "drop index concurrently x_i;", "vacuum analyze recordings;", "reindex index concurrently x_i;",
                                 "alter table p detach partition p1 concurrently;", "create database other;"]):
        exc = reason(migrations.discover, write(tmp_path / ("n%d" % index), {"7_idx.sql": sql}))
        assert exc.reason == "non_transactional_statement", sql
        assert "7_idx.sql" in exc.message and "transaction block" in exc.message
    # Words inside other statements, comments and function bodies are not statements.
    found = migrations.discover(write(tmp_path / "ok", {"1_a.sql": "-- vacuum later; create index concurrently\n"
                                                        "create table t (vacuum_at timestamptz, concurrently int);\n"
                                                        "create index t_v on t (vacuum_at);\n"
                                                        "do $$ begin perform 1; end $$;\n"}))
    assert [m["version"] for m in found] == [1]


def test_apply_records_each_migration_and_a_second_run_applies_nothing(schema):
    dsn, admin, name = schema
    listed = migrations.discover(SHIPPED)
    with db.open_session(dsn) as database:
        runner = migrations.MigrationRunner(database, execution_id="exec-1")
        assert runner.applied() == {} and not runner.table_exists()
        first = runner.apply(listed)
        assert [m["version"] for m in first["applied"]] == [m["version"] for m in listed] and first["created_table"]
        second = migrations.MigrationRunner(database, execution_id="exec-2").apply(listed)
        assert second["applied"] == [] and len(second["skipped"]) == len(listed) and not second["created_table"]
    rows = recorded(admin, name)
    assert [(r[0], r[1], r[2]) for r in rows] == [(m["version"], m["name"], m["checksum"]) for m in listed]
    assert {r[3] for r in rows} == {"exec-1"}  # the second run recorded nothing
    assert {"delivery_metrics", "second_touch_summaries", "ops_schema_migrations"} <= set(tables(admin, name))
    # 0003 added failed_total to the table 0001 created.
    columns = [r[0] for r in admin.execute("select column_name from information_schema.columns where table_schema = %s "
                                           "and table_name = 'delivery_metrics'", (name,))]
    assert "failed_total" in columns
    with db.open_session(dsn) as database:
        verdict = migrations.verify(database, ["delivery_metrics", "ops_schema_migrations"], listed)
    assert verdict["token_line"] == "db_verify status=ok" and verdict["exit_code"] == 0


def test_a_failing_migration_rolls_back_alone_and_stops_the_run(schema, tmp_path):
    dsn, admin, name = schema
    directory = write(tmp_path / "m", {
        "1_one.sql": "create table one (i int);",
        "2_two.sql": "create table two (i int);\ninsert into two values (1);\nselect 1 / 0;\n",
        "3_three.sql": "create table three (i int);",
    })
    listed = migrations.discover(directory)
    with db.open_session(dsn) as database:
        error = reason(migrations.MigrationRunner(database, execution_id="e").apply, listed)
    assert error.reason == "migration_failed" and error.details["failed_version"] == 2
    assert [m["version"] for m in error.details["applied"]] == [1]
    assert "2_two.sql" in error.message and "division by zero" in error.message
    assert [r[0] for r in recorded(admin, name)] == [1]
    assert tables(admin, name) == ["one", "ops_schema_migrations"]  # neither two (rolled back) nor three (not reached)
    # Fix forward: the next run applies 2 and 3 and skips 1.
    (tmp_path / "m" / "2_two.sql").write_text("create table two (i int);\n")
    with db.open_session(dsn) as database:
        done = migrations.MigrationRunner(database).apply(migrations.discover(directory))
    assert [m["version"] for m in done["applied"]] == [2, 3] and [m["version"] for m in done["skipped"]] == [1]
    assert [r[0] for r in recorded(admin, name)] == [1, 2, 3]


def test_edited_and_out_of_order_migrations_are_refused_before_any_write(schema, tmp_path):
    dsn, admin, name = schema
    directory = write(tmp_path / "m", {"1_one.sql": "create table one (i int);", "5_five.sql": "create table five (i int);"})
    with db.open_session(dsn) as database:
        migrations.MigrationRunner(database).apply(migrations.discover(directory))
        (tmp_path / "m" / "3_three.sql").write_text("create table three (i int);")
        late = reason(migrations.MigrationRunner(database).apply, migrations.discover(directory))
        assert late.reason == "out_of_order_migration" and late.details["versions"] == [3]
        assert "three" not in tables(admin, name)
        (tmp_path / "m" / "1_one.sql").write_text("create table one (i bigint);")
        edited = reason(migrations.MigrationRunner(database).apply, migrations.discover(directory), allow_out_of_order=True)
        assert edited.reason == "checksum_mismatch" and "1_one.sql" in edited.message
        assert "three" not in tables(admin, name)
        # Pending checks through verify, and unknown versions are reported, not fatal.
        shutil.rmtree(str(tmp_path / "m"))
        write(tmp_path / "m", {"1_one.sql": "create table one (i int);", "3_three.sql": "create table three (i int);"})
        verdict = migrations.verify(database, ["one"], migrations.discover(directory))
        assert verdict["reason"] == "pending_migrations" and [m["version"] for m in verdict["pending_migrations"]] == [3]
        done = migrations.MigrationRunner(database).apply(migrations.discover(directory), allow_out_of_order=True)
        assert [m["version"] for m in done["applied"]] == [3] and done["unknown_applied_versions"] == [5]
        missing = migrations.verify(database, ["one", "nope", "also_missing"])
        assert missing["token_line"] == "db_verify status=fail reason=missing_tables"
        assert missing["missing_tables"] == ["nope", "also_missing"] and missing["exit_code"] == 1


def test_a_concurrent_run_waits_for_the_lock_then_reports_busy(schema, tmp_path):
    dsn, _admin, _name = schema
    directory = write(tmp_path / "m", {"1_one.sql": "create table one (i int);"})
    holder = db.open_session(dsn)
    holder_runner = migrations.MigrationRunner(holder)
    holder_runner.ensure_table()
    holder_runner.lock()
    try:
        with db.open_session(dsn) as database:
            busy = reason(migrations.MigrationRunner(database, lock_wait_s=0.6).apply, migrations.discover(directory))
        assert busy.reason == "migration_lock_busy"
        releaser = threading.Timer(0.5, holder_runner.unlock)
        releaser.start()
        with db.open_session(dsn) as database:
            done = migrations.MigrationRunner(database, lock_wait_s=10).apply(migrations.discover(directory))
        releaser.join()
        assert [m["version"] for m in done["applied"]] == [1]
    finally:
        holder.close()


def test_open_session_keeps_the_dsn_search_path(schema):
    dsn, _admin, name = schema
    with db.open_session(dsn, statement_timeout_ms=1234) as database:
        assert database.scalar("select current_schema() as s") == name
        assert database.scalar("show statement_timeout") == "1234ms"


def test_migration_errors_are_ops_errors_with_details_naming_the_variable(tmp_path):
    error = reason(migrations.discover, str(tmp_path / "nowhere"))
    assert isinstance(error, OpsError) and error.reason == "migrations_dir_missing" and "db_ops_migrations_dir" in error.message
    error = reason(migrations.validate_table_name, "Bad Name")
    assert error.reason == "invalid_table_name" and "db_ops_migrations_table" in error.message
    directory = write(tmp_path / "m", {"1_one.sql": "select 1;", "01_again.sql": "select 2;"})
    error = reason(migrations.discover, directory)
    assert error.reason == "duplicate_migration_version" and error.details == {"filename": "1_one.sql"}
    assert error.changed_so_far is False
