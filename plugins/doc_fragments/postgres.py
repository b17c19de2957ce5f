# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """PostgreSQL options. DOCUMENTATION: the session timeouts of the ops database modules;
    RECORDINGS: the connection string of the recordings metadata (retention, orphans, archive restore)."""

    DOCUMENTATION = r"""
options:
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
