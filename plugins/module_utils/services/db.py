# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL access for modules: connect with a DSN, run statements in transactions, never leak the password.

Every error raised here is a ``DbError`` with a stable ``reason`` token (``db_driver_missing``,
``db_dsn_invalid``, ``db_connect_failed``, ``db_query_failed``) and a message from which the DSN's
password has been removed (URL form ``postgresql://user:pw@host/db`` and key/value form
``password=pw``), so it can go into ``fail_json``, receipts and logs as is.

Usage::

    with Database(dsn, application_name="signalcraft.ops.storage_retention") as db:
        rows = db.query("select id, object_key from recordings where expires_at < now()")
        with db.transaction() as cur:
            cur.execute("update recordings set deleted_at = now() where id = any(%s)", (ids,))
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core.redaction import REDACTED, mask_url_password
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError

try:
    import psycopg
    from psycopg.rows import dict_row
    HAS_PSYCOPG = True
    PSYCOPG_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the controller's Python
    psycopg = None
    dict_row = None
    HAS_PSYCOPG = False
    PSYCOPG_IMPORT_ERROR = exc

DEFAULT_CONNECT_TIMEOUT = 10
DEFAULT_STATEMENT_TIMEOUT_MS = 60000

# key=value DSN: password=secret or password='se cret' (libpq quoting with \' and \\ escapes).
_KV_PASSWORD = re.compile(r"(?P<key>\bpassword\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
# URL query parameter: ?password=secret&...
_QUERY_PASSWORD = re.compile(r"(?P<key>[?&]password=)(?P<value>[^&\s]+)", re.IGNORECASE)


def ops_database_argument_spec():
    """The ops database's DSN (empty: not configured) and session timeouts, as the ops database modules take them
    (documented by doc fragment signalcraft.ops.postgres)."""
    return dict(dsn=dict(type="str", no_log=True),
                connect_timeout=dict(type="int", default=DEFAULT_CONNECT_TIMEOUT),
                statement_timeout_ms=dict(type="int", default=DEFAULT_STATEMENT_TIMEOUT_MS))


def recordings_argument_spec():
    """The recordings metadata's connection string (documented by doc fragment signalcraft.ops.postgres.recordings)."""
    return dict(dsn=dict(type="str", required=True, no_log=True))


class DbError(OpsError):
    """A database operation failed. ``reason`` is a registered token; ``message`` is already redacted."""


def dsn_password(dsn):
    """The password a DSN carries (URL or key/value form), or None."""
    if not dsn:
        return None
    match = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]+:(?P<password>[^@/\s]+)@", dsn)
    if match:
        return match.group("password")
    match = _QUERY_PASSWORD.search(dsn) or _KV_PASSWORD.search(dsn)
    if match:
        value = match.group("value")
        if value.startswith("'") and value.endswith("'") and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        return value
    return None


def redact_dsn(text, dsn=None):
    """Remove passwords from ``text``: URL userinfo, ``password=`` pairs and, when given, ``dsn``'s password verbatim."""
    if text is None:
        return text
    text = str(text)
    password = dsn_password(dsn) if dsn else None
    if password and len(password) >= 3:
        text = text.replace(password, REDACTED)
    text = mask_url_password(text)
    text = _QUERY_PASSWORD.sub(lambda m: m.group("key") + REDACTED, text)
    return _KV_PASSWORD.sub(lambda m: m.group("key") + REDACTED, text)


def _error_text(exc):
    text = str(exc).strip() or exc.__class__.__name__
    diag = getattr(exc, "diag", None)
    sqlstate = getattr(diag, "sqlstate", None) if diag is not None else None
    return "%s [%s]" % (text, sqlstate) if sqlstate else text


def connect(dsn, application_name="signalcraft.ops", connect_timeout=DEFAULT_CONNECT_TIMEOUT,
            statement_timeout_ms=DEFAULT_STATEMENT_TIMEOUT_MS):
    """Open a psycopg 3 connection (rows as dicts, explicit transactions). Raises ``DbError``."""
    if not HAS_PSYCOPG:
        raise DbError("db_driver_missing", "psycopg (version 3) is not installed on the controller: %s; install it "
                      "with 'pip install \"psycopg[binary]\"' in the Python that runs Ansible." % PSYCOPG_IMPORT_ERROR)
    if not isinstance(dsn, str) or not dsn.strip():
        raise DbError("db_dsn_invalid", "The database DSN is empty; set it in the inventory "
                      "(e.g. postgresql://user:password@host:5432/dbname).")
    try:
        # The statement timeout is set on the session, not through libpq's "options" keyword: that
        # keyword would replace any options the DSN carries (e.g. "?options=-csearch_path%3Dapp").
        conn = psycopg.connect(dsn, row_factory=dict_row, autocommit=True, connect_timeout=int(connect_timeout),
                               application_name=application_name)
        if statement_timeout_ms:
            conn.execute("select set_config('statement_timeout', %s, false)", (str(int(statement_timeout_ms)),))
        return conn
    except psycopg.ProgrammingError as exc:
        raise DbError("db_dsn_invalid", "The database DSN %s is not valid: %s; fix the DSN in the inventory."
                      % (redact_dsn(dsn, dsn), redact_dsn(_error_text(exc), dsn)))
    except psycopg.Error as exc:
        raise DbError("db_connect_failed", "Cannot connect to the database %s: %s; check the DSN in the inventory, "
                      "the network path and the role's credentials." % (redact_dsn(dsn, dsn), redact_dsn(_error_text(exc), dsn)))


class Database:
    """A connection with redacted errors and a transaction helper.

    The connection runs in autocommit mode; ``transaction()`` opens an explicit transaction that
    commits when the block ends and rolls back when it raises. ``query``/``execute`` outside a
    transaction commit immediately.
    """

    def __init__(self, dsn, application_name="signalcraft.ops", connect_timeout=DEFAULT_CONNECT_TIMEOUT,
                 statement_timeout_ms=DEFAULT_STATEMENT_TIMEOUT_MS):
        self._dsn = dsn
        self._application_name = application_name
        self._connect_timeout = connect_timeout
        self._statement_timeout_ms = statement_timeout_ms
        self._conn = None

    def __enter__(self):
        self.connection()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    @property
    def dsn_redacted(self):
        return redact_dsn(self._dsn, self._dsn)

    def redact(self, text):
        """Remove this DSN's password (and any other URL/key-value password) from ``text``."""
        return redact_dsn(text, self._dsn)

    def connection(self):
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._dsn, self._application_name, self._connect_timeout, self._statement_timeout_ms)
        return self._conn

    def close(self):
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _fail(self, exc, sql):
        first = " ".join(str(sql).split())[:120]
        return DbError("db_query_failed", "Database statement failed (%s): %s" % (first, self.redact(_error_text(exc))))

    @contextlib.contextmanager
    def transaction(self):
        """Yield a cursor inside one transaction: commit on success, roll back on any exception."""
        conn = self.connection()
        try:
            with conn.transaction():
                with conn.cursor() as cur:
                    yield cur
        except DbError:
            raise
        except psycopg.Error as exc:
            raise DbError("db_query_failed", "Database transaction rolled back: %s" % self.redact(_error_text(exc)))

    def query(self, sql, params=None):
        """Run one statement and return its rows as a list of dicts ([] when it returns none)."""
        try:
            with self.connection().cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall()) if cur.description else []
        except psycopg.Error as exc:
            raise self._fail(exc, sql)

    def scalar(self, sql, params=None):
        """Run one statement and return the first column of its first row (None when no row)."""
        rows = self.query(sql, params)
        if not rows:
            return None
        return next(iter(rows[0].values()))

    def execute(self, sql, params=None):
        """Run one statement and return its rowcount."""
        try:
            with self.connection().cursor() as cur:
                cur.execute(sql, params)
                return cur.rowcount
        except psycopg.Error as exc:
            raise self._fail(exc, sql)

    def has_table_privilege(self, table, privilege):
        """True when the connected role holds ``privilege`` (SELECT, UPDATE, ...) on ``table``."""
        return bool(self.scalar("select has_table_privilege(current_user, %s, %s) as ok", (table, privilege)))


def dsn_for_database(dsn, name):
    """The same server, role and options as ``dsn`` but database ``name`` (a key=value conninfo string)."""
    if not HAS_PSYCOPG:
        raise DbError("db_driver_missing", "psycopg (version 3) is not installed on the controller: %s; install it "
                      "with 'pip install \"psycopg[binary]\"' in the Python that runs Ansible." % PSYCOPG_IMPORT_ERROR)
    try:
        return psycopg.conninfo.make_conninfo(dsn, dbname=name)
    except psycopg.ProgrammingError as exc:
        raise DbError("db_dsn_invalid", "The database DSN %s is not valid: %s; fix the DSN in the inventory."
                      % (redact_dsn(dsn, dsn), redact_dsn(_error_text(exc), dsn)))


def open_session(dsn, application_name="signalcraft.ops", connect_timeout=DEFAULT_CONNECT_TIMEOUT,
                 statement_timeout_ms=DEFAULT_STATEMENT_TIMEOUT_MS):
    """A ``Database`` already connected, so connection errors surface before any other work."""
    database = Database(dsn, application_name=application_name, connect_timeout=connect_timeout,
                        statement_timeout_ms=statement_timeout_ms)
    database.connection()
    return database


class DbConnection:
    """The database dependency of an OpsModule: psycopg is checked before the module's function runs.

    The DSN stays a module option (each module documents which database it means); sessions are
    opened with ``open_session`` inside the function so a bad DSN fails as ``db_dsn_invalid``.
    """

    name = "db"
    requirement = "psycopg"
    error_types = ()

    def __init__(self, ops):
        self.ops = ops

    @staticmethod
    def argument_spec():
        return {}

    @staticmethod
    def import_error():
        return None if HAS_PSYCOPG else PSYCOPG_IMPORT_ERROR

    @staticmethod
    def to_error(exc):
        return OpsError("db_error", str(exc))

    def configured(self, dsn):
        """Whether a DSN was given, recorded as the receipt input ``dsn_configured`` (the DSN itself never is)."""
        configured = bool((dsn or "").strip())
        self.ops.record_inputs(dsn_configured=configured)
        return configured

    def session(self, dsn, application_name=None, connect_timeout=DEFAULT_CONNECT_TIMEOUT,
                statement_timeout_ms=DEFAULT_STATEMENT_TIMEOUT_MS):
        """``open_session`` with the DSN and its password registered as secrets of the run first.

        The caller closes it (``with ops.connection("db").session(dsn) as database:``).
        """
        self.ops.add_secret(dsn, dsn_password(dsn))
        return open_session(dsn, application_name=application_name or "signalcraft.ops.%s" % self.ops.phase,
                            connect_timeout=connect_timeout, statement_timeout_ms=statement_timeout_ms)
