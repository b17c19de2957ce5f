"""DB ops playbooks and the exit-code wrapper against the sandbox PostgreSQL (runbook 002).

Every test works in its own schema (the DSN's search_path), so it neither sees nor disturbs the
seeded tables (recordings, legal_holds) or other tests. Assertions read the database back with
psycopg and the receipts from disk and S3; stdout is checked for the exact runbook lines.
"""

import json
import os
import shutil
import subprocess
import sys
import uuid

import jsonschema
import psycopg
import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.services import db
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.db import migrations
from tests.conftest import REPO_ROOT

SHIPPED = os.path.join(REPO_ROOT, "roles", "db_ops", "files", "migrations")
WRAPPER = os.path.join(REPO_ROOT, "scripts", "ops_db.py")
with open(os.path.join(REPO_ROOT, "schemas", "receipt.v1.schema.json")) as _handle:
    RECEIPT_SCHEMA = json.load(_handle)


@pytest.fixture
def schema(sandbox):
    """(dsn scoped to a fresh schema, admin connection, schema name); dropped afterwards."""
    name = "t_dbops_%s" % uuid.uuid4().hex[:10]
    admin = psycopg.connect(sandbox["SANDBOX_PG_DSN"], autocommit=True)
    admin.execute("create schema %s" % name)
    try:
        yield "%s?options=-csearch_path%%3D%s" % (sandbox["SANDBOX_PG_DSN"], name), admin, name
    finally:
        admin.execute("drop schema %s cascade" % name)
        admin.close()


# Each DB playbook records its own operation (they all used to record db_ops).
OPERATIONS = {"db_bootstrap_dry_run": "db_bootstrap", "db_bootstrap": "db_bootstrap", "db_verify": "db_verify",
              "ops_daily": "ops_daily", "prod_config": "prod_config_contract"}


def receipt(sandbox, root, execution_id, phase, in_s3=True):
    with open(os.path.join(str(root), execution_id, "%s.json" % phase)) as handle:
        on_disk = json.load(handle)
    jsonschema.validate(on_disk, RECEIPT_SCHEMA)
    assert on_disk["operation"] == OPERATIONS[phase] and on_disk["phase"] == phase
    # The status line starts the message, success or not (it used to be null on success).
    assert on_disk["message"] and on_disk["message"].split(": ", 1)[0].startswith("%s status=" % on_disk["message"].split()[0])
    if in_s3:
        obj = sandbox.boto3_client("s3").get_object(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Key="receipts/%s/%s.json" % (execution_id, phase))
        assert json.loads(obj["Body"].read()) == on_disk
    return on_disk


def wrapper(sandbox, tmp_path, *args, env=None, ansible_args=()):
    """Run scripts/ops_db.py like cron would; returns (exit code, stdout lines, stderr, execution id)."""
    execution_id = "w-%s" % uuid.uuid4().hex[:10]
    process_env = sandbox.process_env()
    process_env.update(env or {})
    argv = [sys.executable, WRAPPER, "--receipt-root", str(tmp_path / "receipts"), "--execution-id", execution_id] + list(args)
    if ansible_args:
        argv += ["--"] + list(ansible_args)
    proc = subprocess.run(argv, capture_output=True, text=True, env=process_env, timeout=300, check=False)
    return proc.returncode, proc.stdout.splitlines(), proc.stderr, execution_id


def module_result(run, task):
    """The registered result of a role task (event task names carry no role prefix in ansible-runner)."""
    results = [e["event_data"]["res"] for e in run.events if e.get("event") in ("runner_on_ok", "runner_on_failed")
               and e["event_data"].get("task", "").split(" : ")[-1] == task]
    assert len(results) == 1, "task %r did not run exactly once" % task
    return results[0]


def applied_rows(admin, name):
    return [tuple(r) for r in admin.execute("select version, checksum, execution_id, applied_at from %s.ops_schema_migrations "
                                            "order by version" % name)]


def tables(admin, name):
    return sorted(r[0] for r in admin.execute("select table_name from information_schema.tables where table_schema = %s", (name,)))


def test_dry_run_plan_apply_reapply_and_verify(sandbox, run_playbook, schema, tmp_path):
    dsn, admin, name = schema
    root = tmp_path / "receipts"
    # 1. Dry run through the wrapper: no database, the exact runbook line, exit 0.
    code, out, err, dry_id = wrapper(sandbox, tmp_path, "db_bootstrap", "--dry-run", ansible_args=["-e", "db_ops_dsn="])
    assert (code, out) == (0, ["db_bootstrap_dry_run status=ok migrations=3"]), err
    dry = receipt(sandbox, root, dry_id, "db_bootstrap_dry_run")
    assert dry["outputs"]["migration_count"] == 3 and dry["message"] == "db_bootstrap_dry_run status=ok migrations=3"

    base = {"db_ops_dsn": dsn, "signalcraft_receipt_root": str(root), "db_ops_bootstrap_mode": "apply_migrations"}
    # 2. Check mode: connects, shows the 3 pending migrations, writes nothing (no table, no receipt).
    planned = run_playbook("db_bootstrap.yml", dict(base, signalcraft_execution_id="plan"), check=True)
    assert planned.rc == 0, planned.stdout
    assert "db_bootstrap_dry_run status=ok migrations=3" in planned.stdout
    assert tables(admin, name) == [] and not os.path.exists(str(root / "plan"))

    # 3. Apply: three migrations, in order, each recorded with this execution id.
    first = run_playbook("db_bootstrap.yml", dict(base, signalcraft_execution_id="apply-1"), verbosity=3)  # -vvv: still no password
    assert first.rc == 0, first.stdout
    assert "db_bootstrap status=ok mode=apply_migrations applied=3 skipped=0" in first.stdout
    rows = applied_rows(admin, name)
    assert [r[0] for r in rows] == [1, 2, 3] and {r[2] for r in rows} == {"apply-1"}
    assert {"delivery_metrics", "second_touch_summaries", "ops_schema_migrations"} <= set(tables(admin, name))
    applied = receipt(sandbox, root, "apply-1", "db_bootstrap")
    assert applied["status"] == "success" and applied["changed"] is True and applied["outputs"]["applied_count"] == 3
    assert applied["message"] == "db_bootstrap status=ok mode=apply_migrations applied=3 skipped=0"
    assert [m["checksum"] for m in applied["outputs"]["applied"]] == [r[1] for r in rows]
    assert dsn not in json.dumps(applied) and "dsn_configured" in applied["inputs"]

    # 4. Apply again: nothing applied, nothing changed, the table untouched.
    second = run_playbook("db_bootstrap.yml", dict(base, signalcraft_execution_id="apply-2"))
    assert second.rc == 0, second.stdout
    assert "db_bootstrap status=ok mode=apply_migrations applied=0 skipped=3" in second.stdout
    again = module_result(second, "Run db_bootstrap")
    assert again["changed"] is False and again["outputs"]["applied_count"] == 0 and again["outputs"]["skipped_count"] == 3
    assert applied_rows(admin, name) == rows
    assert receipt(sandbox, root, "apply-2", "db_bootstrap")["changed"] is False

    # 5. db_verify through the wrapper: ok, exit 0.
    code, out, err, verify_id = wrapper(sandbox, tmp_path, "db_verify", ansible_args=["-e", "db_ops_dsn=%s" % dsn])
    assert (code, out) == (0, ["db_verify status=ok"]), err
    assert receipt(sandbox, root, verify_id, "db_verify")["outputs"]["checked_tables"] == [
        "delivery_metrics", "second_touch_summaries", "ops_schema_migrations"]
    password = psycopg.conninfo.conninfo_to_dict(sandbox["SANDBOX_PG_DSN"])["password"]
    assert password not in err and password not in first.stdout


def test_a_failing_migration_rolls_back_alone_with_a_failure_token(sandbox, schema, tmp_path):
    dsn, admin, name = schema
    migrations_dir = tmp_path / "migrations"
    shutil.copytree(SHIPPED, str(migrations_dir))
    (migrations_dir / "0004_broken.sql").write_text("create table broken_half (i int);\nalter table no_such_table add column x int;\n")
    code, out, err, execution_id = wrapper(sandbox, tmp_path, "db_bootstrap", "apply_migrations",
                                           ansible_args=["-e", "db_ops_dsn=%s" % dsn, "-e", "db_ops_migrations_dir=%s" % migrations_dir])
    assert code == 1, err
    assert out == ["db_bootstrap status=fail reason=migration_failed mode=apply_migrations applied=3 skipped=0 failed_version=4"]
    assert [r[0] for r in applied_rows(admin, name)] == [1, 2, 3]  # the earlier ones are kept ...
    assert "broken_half" not in tables(admin, name)  # ... the failing one rolled back whole
    failed = receipt(sandbox, tmp_path / "receipts", execution_id, "db_bootstrap")
    assert failed["status"] == "failed" and failed["failure_code"] == "migration_failed"
    assert failed["outputs"]["failed_version"] == 4 and "0004_broken.sql" in failed["message"]
    assert "no_such_table" in failed["message"]


def test_db_verify_missing_tables_and_not_configured(sandbox, run_playbook, schema, tmp_path):
    dsn, _admin, _name = schema
    root = tmp_path / "receipts"
    missing = run_playbook("db_verify.yml", {"db_ops_dsn": dsn, "signalcraft_receipt_root": str(root), "signalcraft_execution_id": "v-missing"})
    assert missing.rc != 0
    assert "db_verify status=fail reason=missing_tables" in missing.stdout
    verdict = receipt(sandbox, root, "v-missing", "db_verify")
    assert verdict["failure_code"] == "missing_tables" and verdict["outputs"]["exit_code"] == 1
    assert verdict["outputs"]["missing_tables"] == ["delivery_metrics", "second_touch_summaries", "ops_schema_migrations"]

    code, out, err, execution_id = wrapper(sandbox, tmp_path, "db_verify", ansible_args=["-e", "db_ops_dsn="])
    assert (code, out) == (0, ["db_verify status=not_configured reason=missing_dsn"]), err
    assert receipt(sandbox, root, execution_id, "db_verify")["outputs"]["dsn_configured"] is False


def test_prod_config_contract_names_only(sandbox, tmp_path):
    secret = "pg-secret-value-%s" % uuid.uuid4().hex[:8]
    env = {"DATABASE_URL": "postgresql://svc:%s@db/app" % secret, "REDACTION_ENFORCE": "1", "DELIVERY_PROVIDER_API_KEY": ""}
    no_overlay = ["-e", '{"db_ops_present_env_names": []}', "-vvv"]
    code, out, err, execution_id = wrapper(sandbox, tmp_path, "prod_config_contract", "--mode=prod_required", env=env,
                                           ansible_args=no_overlay)
    assert (code, out) == (1, ["prod_config status=fail reason=missing_env"]), err
    failed = receipt(sandbox, tmp_path / "receipts", execution_id, "prod_config")
    assert failed["outputs"]["missing_names"] == ["DELIVERY_PROVIDER_API_KEY"] and failed["failure_code"] == "missing_env"
    assert failed["outputs"]["sources"] == {"DATABASE_URL": ["environment"], "REDACTION_ENFORCE": ["environment"]}
    # Names are reported (at -vvv too); the values never are.
    assert secret not in json.dumps(failed) and secret not in err and "DELIVERY_PROVIDER_API_KEY" in err

    env["DELIVERY_PROVIDER_API_KEY"] = "key-%s" % secret
    code, out, err, execution_id = wrapper(sandbox, tmp_path, "prod_config_contract", "--mode=prod_required", env=env,
                                           ansible_args=no_overlay[:2])
    assert (code, out) == (0, ["prod_config status=ok"]), err
    passed = receipt(sandbox, tmp_path / "receipts", execution_id, "prod_config")
    assert passed["status"] == "success" and passed["outputs"]["present_count"] == 3
    assert secret not in json.dumps(passed) and secret not in err


def test_ops_daily_watchdog_outcomes_and_exit_codes(sandbox, schema, tmp_path):
    dsn, admin, name = schema
    with db.open_session(dsn) as database:  # the tables, as test_dry_run_plan_apply_reapply_and_verify applies them
        migrations.MigrationRunner(database).apply(migrations.discover(SHIPPED))
    admin.execute(
        "insert into %s.delivery_metrics (metric_date, channel, delivered_total, held_total, suppressed_total, failed_total) values "
        "('2026-03-10', 'email', 900, 10, 20, 1), ('2026-03-10', 'sms', 100, 0, 5, 0), "  # healthy day
        "('2026-03-11', 'email', 100, 40, 0, 0)" % name)  # hold rate 28.6%: unhealthy
    dsn_arg = ["-e", "db_ops_dsn=%s" % dsn]

    code, out, err, healthy_id = wrapper(sandbox, tmp_path, "ops_daily", "--strict", "--as-of", "2026-03-10", ansible_args=dsn_arg)
    assert code == 0, err
    assert out == ["ops_daily_metrics status=ok window_start=2026-03-10 window_end=2026-03-10 attempted_total=1036 delivered_total=1000 "
                   "held_total=10 suppressed_total=25 failed_total=1 hold_rate=0.009653 suppression_rate=0.024131 failure_rate=0.000965",
                   "ops_daily_second_touch status=ok eligible_total=0 second_touch_total=0 second_touch_rate=0.0",
                   "ops_daily_watchdog status=healthy"]
    assert receipt(sandbox, tmp_path / "receipts", healthy_id, "ops_daily")["status"] == "success"

    code, out, err, unhealthy_id = wrapper(sandbox, tmp_path, "ops_daily", "--strict", "--as-of", "2026-03-11", ansible_args=dsn_arg)
    assert (code, out[-1]) == (2, "ops_daily_watchdog status=unhealthy reason=hold_rate_high"), err
    bad = receipt(sandbox, tmp_path / "receipts", unhealthy_id, "ops_daily")
    assert bad["status"] == "failed" and bad["failure_code"] == "hold_rate_high" and bad["outputs"]["metrics"]["held_total"] == 40
    assert bad["outputs"]["health"] == "unhealthy" and bad["outputs"]["exit_code"] == 2
    assert bad["message"].startswith("ops_daily_watchdog status=fail reason=hold_rate_high health=unhealthy exit_code=2: "
                                     "ops_daily_watchdog status=unhealthy reason=hold_rate_high")
    assert "db_ops_daily_max_hold_rate=0.05" in bad["message"]

    # No traffic: a scheduled strict run normalizes insufficient_data to 0 and says so (unscheduled it
    # would exit 2, see test_ops_health.py::test_exit_codes).
    code, out, err, scheduled_id = wrapper(sandbox, tmp_path, "ops_daily", "--strict", "--scheduled", "--as-of", "2026-03-12",
                                           ansible_args=dsn_arg)
    assert (code, out[-2:]) == (0, ["ops_daily_watchdog status=insufficient_data reason=delivered_total_0",
                                    "ops_ci_normalize status=normalized reason=insufficient_data"]), err
    normalized = receipt(sandbox, tmp_path / "receipts", scheduled_id, "ops_daily")
    assert normalized["status"] == "success" and normalized["outputs"]["health"] == "insufficient_data"
    assert normalized["message"].startswith("ops_daily_watchdog status=insufficient_data reason=delivered_total_0: "
                                            "ops_ci_normalize status=normalized reason=insufficient_data")


def test_ops_daily_unhealthy_is_a_result_unless_strict(sandbox, run_playbook, schema, tmp_path):
    """Not strict, unhealthy is a successful result with that status; strict, it fails with the token (exit 2)."""
    dsn, admin, name = schema
    with db.open_session(dsn) as database:
        migrations.MigrationRunner(database).apply(migrations.discover(SHIPPED))
    admin.execute("insert into %s.delivery_metrics (metric_date, channel, delivered_total, held_total, suppressed_total, failed_total) "
                  "values ('2026-03-11', 'email', 100, 40, 0, 0)" % name)
    root = tmp_path / "receipts"
    base = {"db_ops_dsn": dsn, "signalcraft_receipt_root": str(root), "db_ops_daily_as_of": "2026-03-11"}

    # Not strict: a result with status unhealthy, not a failure (ansible-playbook exits 0).
    report = run_playbook("ops_daily.yml", dict(base, db_ops_daily_strict=False, signalcraft_execution_id="d-report"))
    assert report.rc == 0, report.stdout
    assert "ops_daily_watchdog status=unhealthy reason=hold_rate_high" in report.stdout
    result = module_result(report, "Classify the delivery metrics of the window")
    assert (result["status"], result["reason"], result.get("failed", False)) == ("unhealthy", "hold_rate_high", False)
    assert result["outputs"]["exit_code"] == 0 and result["outputs"]["metrics"]["held_total"] == 40
    reported = receipt(sandbox, root, "d-report", "ops_daily")
    assert reported["status"] == "success" and reported["failure_code"] is None
    assert reported["message"].startswith("ops_daily_watchdog status=unhealthy reason=hold_rate_high: ")

    # Strict: the step fails with the watchdog's token and exit code 2, the runbook's line kept in outputs.lines.
    strict = run_playbook("ops_daily.yml", dict(base, db_ops_daily_strict=True, signalcraft_execution_id="d-strict"))
    assert strict.rc != 0
    assert "ops_daily_watchdog status=fail reason=hold_rate_high health=unhealthy exit_code=2" in strict.stdout
    failed = module_result(strict, "Classify the delivery metrics of the window")
    assert (failed["status"], failed["reason"]) == ("fail", "hold_rate_high")
    assert "ops_daily_watchdog status=unhealthy reason=hold_rate_high" in failed["outputs"]["lines"]
    assert receipt(sandbox, root, "d-strict", "ops_daily")["failure_code"] == "hold_rate_high"

    # Check mode reads the same and writes no receipt.
    checked = run_playbook("ops_daily.yml", dict(base, signalcraft_execution_id="d-check"), check=True)
    assert checked.rc == 0 and "ops_daily_watchdog status=unhealthy reason=hold_rate_high" in checked.stdout
    assert not os.path.exists(str(root / "d-check"))


def test_prod_config_report_mode_warns_and_does_not_fail(sandbox, run_playbook, tmp_path):
    root = tmp_path / "receipts"
    run = run_playbook("prod_config_contract.yml", {"db_ops_config_mode": "report", "db_ops_required_env_names": ["SC_TEST_NEVER_SET_NAME"],
                                                    "db_ops_present_env_names": [], "signalcraft_receipt_root": str(root),
                                                    "signalcraft_execution_id": "pc-report"})
    assert run.rc == 0, run.stdout
    assert "prod_config status=warn reason=missing_env" in run.stdout
    warned = receipt(sandbox, root, "pc-report", "prod_config")
    assert warned["status"] == "success" and warned["outputs"]["missing_names"] == ["SC_TEST_NEVER_SET_NAME"]
    assert warned["outputs"]["exit_code"] == 0 and "db_ops_config_mode=report" in warned["message"]
    # A value pasted instead of a name is refused naming the -e variable, never echoed.
    pasted = run_playbook("prod_config_contract.yml", {"db_ops_required_env_names": ["postgresql://svc:pw-pasted@db/app"],
                                                       "signalcraft_receipt_root": str(root), "signalcraft_execution_id": "pc-bad"})
    assert pasted.rc != 0 and "prod_config status=fail reason=invalid_input" in pasted.stdout
    assert "db_ops_required_env_names" in pasted.stdout and "pw-pasted" not in pasted.stdout
    assert receipt(sandbox, root, "pc-bad", "prod_config")["failure_code"] == "invalid_input"


def test_wrapper_reports_a_guard_refusal_with_its_line(sandbox, tmp_path):
    code, out, err, execution_id = wrapper(sandbox, tmp_path, "db_verify",
                                           ansible_args=["-e", "signalcraft_expected_account_id=999999999999"])
    assert code == 1 and len(out) == 1 and out[0].startswith("account_guard status=fail reason=account_mismatch"), (out, err)
    assert not os.path.exists(str(tmp_path / "receipts" / execution_id / "db_verify.json"))


def test_wrapper_usage_errors_and_missing_receipts(sandbox, tmp_path):
    code, out, err, _id = wrapper(sandbox, tmp_path, "db_bootstrap")
    assert code == 64 and out == [] and "--dry-run" in err
    # Ansible never ran the phase (here: only a syntax check), so there is no receipt to read.
    code, out, err, _id = wrapper(sandbox, tmp_path, "db_verify", ansible_args=["--syntax-check"])
    assert (code, out) == (70, ["db_verify status=fail reason=no_receipt"])


def _databases(sandbox):
    with psycopg.connect(sandbox["SANDBOX_PG_CI_DSN"], autocommit=True) as conn:
        return sorted(r[0] for r in conn.execute("select datname from pg_database"))


def test_prod_verify_runs_db_verify_then_strict_ops_daily_and_stops_at_the_first_failure(sandbox, schema, tmp_path):
    dsn, admin, name = schema
    dsn_arg = ["-e", "db_ops_dsn=%s" % dsn]
    # No tables yet: db_verify fails (exit 1) and ops_daily does not run (its receipt says skipped).
    code, out, err, missing_id = wrapper(sandbox, tmp_path, "prod_verify", ansible_args=dsn_arg)
    assert (code, out) == (1, ["db_verify status=fail reason=missing_tables",
                               "prod_verify status=fail reason=missing_tables ran=db_verify failed_phase=db_verify"]), err
    with open(os.path.join(str(tmp_path / "receipts"), missing_id, "ops_daily.json")) as handle:
        assert json.load(handle)["status"] == "skipped"

    with db.open_session(dsn) as database:
        migrations.MigrationRunner(database).apply(migrations.discover(SHIPPED))
    admin.execute(
        "insert into %s.delivery_metrics (metric_date, channel, delivered_total, held_total, suppressed_total, failed_total) values "
        "('2026-03-10', 'email', 900, 10, 20, 1), ('2026-03-11', 'email', 100, 40, 0, 0)" % name)
    # Healthy: both steps' lines, then the summary; exit 0. The inventory's ops_daily is not strict: prod_verify is.
    code, out, err, healthy_id = wrapper(sandbox, tmp_path, "prod_verify", "--as-of", "2026-03-10", ansible_args=dsn_arg)
    assert code == 0, err
    assert out[0] == "db_verify status=ok" and out[-2] == "ops_daily_watchdog status=healthy"
    assert out[-1] == "prod_verify status=ok ran=db_verify,ops_daily"
    assert receipt(sandbox, tmp_path / "receipts", healthy_id, "db_verify")["status"] == "success"
    with open(os.path.join(str(tmp_path / "receipts"), healthy_id, "ops_daily.json")) as handle:
        daily = json.load(handle)
    assert daily["status"] == "success" and daily["inputs"]["strict"] is True and daily["outputs"]["health"] == "healthy"
    # Unhealthy: the watchdog's exit code 2 is prod_verify's.
    code, out, err, dummy = wrapper(sandbox, tmp_path, "prod_verify", "--as-of", "2026-03-11", ansible_args=dsn_arg)
    assert (code, out[-1]) == (2, "prod_verify status=fail reason=hold_rate_high ran=db_verify,ops_daily failed_phase=ops_daily"), err


def test_db_migrations_integration_applies_everything_to_a_throwaway_database_and_drops_it(sandbox, run_playbook, tmp_path):
    before = _databases(sandbox)
    code, out, err, execution_id = wrapper(sandbox, tmp_path, "db_migrations_integration")
    assert (code, out) == (0, ["db_migrations_integration status=ok migrations=3 applied=3"]), err
    with open(os.path.join(str(tmp_path / "receipts"), execution_id, "db_migrations_integration.json")) as handle:
        done = json.load(handle)
    assert done["outputs"]["database"].startswith("signalcraft_migcheck_") and done["outputs"]["verify"] == "db_verify status=ok"
    assert [m["filename"] for m in done["outputs"]["applied"]] == sorted(os.listdir(SHIPPED))
    assert _databases(sandbox) == before  # created and dropped again
    assert sandbox["SANDBOX_PG_CI_DSN"].split("@")[0].split(":")[-1] not in json.dumps(done) + err  # no password anywhere

    # A broken migration: the token names it, and the throwaway database is gone all the same.
    migrations_dir = tmp_path / "migrations"
    shutil.copytree(SHIPPED, str(migrations_dir))
    (migrations_dir / "0004_broken.sql").write_text("alter table no_such_table add column x int;\n")
    code, out, err, dummy = wrapper(sandbox, tmp_path, "db_migrations_integration",
                                    ansible_args=["-e", "db_ops_migrations_dir=%s" % migrations_dir])
    assert (code, out) == (1, ["db_migrations_integration status=fail reason=migration_failed migration=0004_broken.sql"]), err
    assert _databases(sandbox) == before

    # Migrations that do not create a required table fail the gate's db_verify.
    code, out, err, dummy = wrapper(sandbox, tmp_path, "db_migrations_integration",
                                    ansible_args=["-e", '{"db_ops_required_tables": ["delivery_metrics", "not_created_by_any"]}'])
    assert (code, out) == (1, ["db_migrations_integration status=fail reason=missing_tables migrations=3"]), err

    # The service's own role may not create databases: refused with the fix, nothing created; check mode connects to nothing.
    code, out, err, dummy = wrapper(sandbox, tmp_path, "db_migrations_integration",
                                    ansible_args=["-e", "db_ops_integration_dsn=%s" % sandbox["SANDBOX_PG_DSN"]])
    assert (code, out) == (1, ["db_migrations_integration status=fail reason=db_createdb_denied migrations=3"]), err
    planned = run_playbook("db_migrations_integration.yml", check=True)
    assert planned.rc == 0 and module_result(planned, "Apply every migration to a throwaway database and verify it")["token_line"] \
        == "db_migrations_integration status=planned migrations=3"
    assert _databases(sandbox) == before
