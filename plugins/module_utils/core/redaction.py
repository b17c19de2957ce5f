# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One redactor for receipts, module results and reports.

A value is hidden when its *name* looks secret (``*_PASSWORD``, ``*_TOKEN``, ``DSN``...), when it
is one of the secret values the caller listed explicitly, or when it is a URL carrying a password.
Everything that leaves a module (results, receipts, reports) goes through ``Redactor.redact``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

REDACTED = "***REDACTED***"

# Words that mark a name as secret, matched against the name split on non-alphanumerics (and
# camelCase), so "OPENAI_API_KEY", "db.password" and "authToken" match but "KEYBOARD" does not.
_SECRET_WORDS = frozenset((
    "password", "passwd", "pwd", "secret", "secrets", "token", "apikey", "dsn", "credential", "credentials",
    "passphrase", "authorization", "cookie", "signature", "privatekey",
))
# "key" alone is too common (object_key, pointer_key) to be secret; it is secret after these words.
_KEY_QUALIFIERS = frozenset(("api", "access", "secret", "private", "signing", "encryption", "master", "license", "ssh", "client"))
# A trailing word that still names the secret itself ("token_value", "password_b64").
_VALUE_WORDS = frozenset(("value", "data", "b64", "base64", "raw", "plain", "plaintext"))

_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<password>[^@/\s]+)@")
_MIN_SECRET_VALUE_LEN = 4  # shorter "secrets" would blank out ordinary words everywhere


def _name_words(name):
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def is_secret_name(name):
    """Return True when an environment/config name looks like it holds a secret.

    The secret word must end the name ("GITHUB_TOKEN", "db.password") or be followed only by a
    word such as "value" ("token_value"); "token_line" or "password_file" name something else.
    """
    if not isinstance(name, str) or not name:
        return False
    words = _name_words(name)
    if len(words) > 1 and words[-1] in _VALUE_WORDS:
        words = words[:-1]
    if not words:
        return False
    last = words[-1]
    if last in _SECRET_WORDS:
        return True
    return last == "key" and len(words) > 1 and words[-2] in _KEY_QUALIFIERS


def mask_url_password(text):
    """Hide the password part of ``scheme://user:password@host`` URLs inside ``text``."""
    return _URL_PASSWORD.sub(lambda m: "%s%s:%s@" % (m.group("scheme"), m.group("user"), REDACTED), text)


class Redactor:
    """Redact secrets from nested data.

    ``secret_values`` are literal strings (tokens, passwords) that must never appear anywhere in the
    output; they are replaced wherever they occur, including inside longer strings.
    """

    def __init__(self, secret_values=None):
        values = [v for v in (secret_values or []) if isinstance(v, str) and len(v) >= _MIN_SECRET_VALUE_LEN]
        # Longest first so a secret that contains another is replaced whole.
        self._values = sorted(set(values), key=len, reverse=True)

    def add_secret_values(self, values):
        """Register more literal secret values (for example a token fetched at run time)."""
        merged = self._values + [v for v in values if isinstance(v, str) and len(v) >= _MIN_SECRET_VALUE_LEN]
        self._values = sorted(set(merged), key=len, reverse=True)

    @property
    def secret_values(self):
        return list(self._values)

    def redact_string(self, text):
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return mask_url_password(text)

    def redact(self, data):
        """Return a redacted deep copy of ``data`` (dicts, lists, tuples, strings, scalars)."""
        if isinstance(data, dict):
            return self._redact_mapping(data)
        if isinstance(data, (list, tuple)):
            return [self.redact(item) for item in data]
        if isinstance(data, str):
            return self.redact_string(data)
        return data

    def _redact_mapping(self, mapping):
        # ECS/Kubernetes style name/value pairs: {"name": "DB_PASSWORD", "value": "..."}
        if "name" in mapping and is_secret_name(mapping.get("name")):
            return {k: (REDACTED if k in ("value", "valueFrom") and v not in (None, "") else self.redact(v))
                    for k, v in mapping.items()}
        # ECS "secrets" entries are references to secret stores; the reference itself is hidden too.
        if "valueFrom" in mapping and "name" in mapping:
            return {k: (REDACTED if k == "valueFrom" else self.redact(v)) for k, v in mapping.items()}
        result = {}
        for key, value in mapping.items():
            if is_secret_name(key) and isinstance(value, (str, int, float)) and value not in ("", None):
                result[key] = REDACTED
            else:
                result[key] = self.redact(value)
        return result


def secret_values_in(data):
    """Values held under secret-looking names anywhere in ``data``, for a module's ``no_log_values``.

    Ansible echoes module arguments back at -vvv; a module that receives free-form dicts (receipt
    inputs, say) registers these so Ansible masks them in everything it prints.
    """
    found = set()
    if isinstance(data, dict):
        name = data.get("name")
        for key, value in data.items():
            secret_key = is_secret_name(key) or (key in ("value", "valueFrom") and is_secret_name(name))
            if secret_key and isinstance(value, (str, int, float)) and len(str(value)) >= _MIN_SECRET_VALUE_LEN:
                found.add(str(value))
            else:
                found |= secret_values_in(value)
    elif isinstance(data, (list, tuple)):
        for item in data:
            found |= secret_values_in(item)
    return found


def redact(data, secret_values=None):
    """Shorthand for ``Redactor(secret_values).redact(data)``."""
    return Redactor(secret_values).redact(data)
