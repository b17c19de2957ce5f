"""module_utils/db.py against the sandbox's PostgreSQL: transactions, redacted errors."""

import uuid

import psycopg
import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.services import db
from ansible_collections.signalcraft.ops.plugins.module_utils.core.redaction import REDACTED


def test_dsn_password_and_redaction_cover_url_keyvalue_and_query_forms():
    assert db.dsn_password("postgresql://svc:hunter2@db:5432/app") == "hunter2"
    assert db.dsn_password("host=db user=svc password='pa ss\\'x' dbname=app") == "pa ss'x"
    assert db.dsn_password("postgresql://db/app?user=svc&password=s3cr3t") == "s3cr3t"
    assert db.dsn_password("host=db user=svc") is None
    assert db.redact_dsn("failed for postgresql://svc:hunter2@db/app") == "failed for postgresql://svc:%s@db/app" % REDACTED
    assert db.redact_dsn("host=db password=hunter2 dbname=x") == "host=db password=%s dbname=x" % REDACTED
    # The password itself is removed wherever the server or driver echoes it.
    assert "hunter2" not in db.redact_dsn('role "x" said hunter2', "postgresql://svc:hunter2@db/app")


def test_connect_failure_names_the_problem_without_the_password():
    dsn = "postgresql://svc:TopSecretPw1@127.0.0.1:1/app"
    with pytest.raises(db.DbError) as info:
        db.connect(dsn, connect_timeout=2)
    assert info.value.reason == "db_connect_failed"
    assert "TopSecretPw1" not in info.value.message and "127.0.0.1" in info.value.message
    with pytest.raises(db.DbError) as info:
        db.connect("  ")
    assert info.value.reason == "db_dsn_invalid"


def test_wrong_password_is_redacted(sandbox):
    good = sandbox["SANDBOX_PG_DSN"]
    bad = good.replace(db.dsn_password(good), "WrongPassw0rd")
    with pytest.raises(db.DbError) as info:
        db.connect(bad, connect_timeout=5)
    assert info.value.reason == "db_connect_failed"
    assert "WrongPassw0rd" not in info.value.message and REDACTED in info.value.message


def test_transaction_commits_or_rolls_back_and_query_errors_are_tokens(sandbox):
    key = "tests/db/%s" % uuid.uuid4().hex
    with db.Database(sandbox["SANDBOX_PG_DSN"], application_name="test_db") as database:
        with database.transaction() as cur:
            cur.execute("insert into recordings (bucket, object_key, expires_at) values (%s, %s, now())", ("b", key))
        with pytest.raises(RuntimeError):
            with database.transaction() as cur:
                cur.execute("update recordings set size_bytes = 99 where object_key = %s", (key,))
                raise RuntimeError("boom")
        with pytest.raises(db.DbError) as info:
            database.query("select no_such_column from recordings")
        assert info.value.reason == "db_query_failed" and "no_such_column" in info.value.message
        assert database.has_table_privilege("recordings", "UPDATE") is True
    # Read back on an independent connection.
    with psycopg.connect(sandbox["SANDBOX_PG_DSN"]) as conn:
        row = conn.execute("select size_bytes from recordings where object_key = %s", (key,)).fetchone()
        assert row == (0,)
        conn.execute("delete from recordings where object_key = %s", (key,))


def test_the_dsns_own_options_survive_the_statement_timeout(sandbox):
    """A schema chosen through the DSN's options is kept; the timeout is set on the session."""
    base = sandbox["SANDBOX_PG_DSN"]
    dsn = base + ("&" if "?" in base else "?") + "options=-csearch_path%3Dcustom_schema"
    with db.connect(dsn, statement_timeout_ms=1234) as conn:
        row = conn.execute("select current_setting('search_path') as path, current_setting('statement_timeout') as timeout").fetchone()
    assert row["path"] == "custom_schema"
    assert row["timeout"] == "1234ms"
