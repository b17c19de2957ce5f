# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """PostgreSQL options (specs: services/db.py). DOCUMENTATION: the ops database's connection string and session
    timeouts (db_verify, db_bootstrap, db_ops_daily); RECORDINGS: the connection string of the recordings metadata
    (retention, orphans, archive restore)."""

    DOCUMENTATION = r"""
options:
  dsn:
    description:
      - The ops database's PostgreSQL connection string (C(postgresql://user:password@host:5432/db) or key/value form);
        the role sets it from C(db_ops_dsn). Never logged, returned or recorded (C(outputs.dsn_configured) says whether
        one was given).
      - Empty or omitted means the database is not configured; the module's description says what it then does.
    type: str
  connect_timeout:
    description: Seconds to wait for the connection.
    type: int
    default: 10
  statement_timeout_ms:
    description: Statement timeout for this session in milliseconds; 0 for none.
    type: int
    default: 60000
"""

    RECORDINGS = r"""
options:
  dsn:
    description: PostgreSQL connection string of the recordings metadata. Never logged.
    type: str
    required: true
"""
