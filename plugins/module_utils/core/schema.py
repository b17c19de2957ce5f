# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The JSON Schema subset the collection's documents use, checked without the jsonschema library.

Why not jsonschema: modules run wherever Ansible runs them (an execution environment, a bastion) and
must validate a receipt or a manifest before writing it even where the library is missing. The
schemas in schemas/ are written from Python tables that keep to this subset (type, enum, const,
pattern, minLength, minimum, required, properties, additionalProperties, items, allOf of if/then), and
tests validate the same documents with the real jsonschema library, so the two cannot disagree.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _type_ok(value, expected):
    for name in expected if isinstance(expected, list) else [expected]:
        if name == "integer" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if name == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if name in _JSON_TYPES and isinstance(value, _JSON_TYPES[name]):
            return True
    return False


def check(value, schema, path, problems):
    """Append to ``problems`` every way ``value`` (at ``path``) differs from ``schema``."""
    if "type" in schema and not _type_ok(value, schema["type"]):
        problems.append("%s: expected %s, got %s" % (path, schema["type"], type(value).__name__))
        return
    if "enum" in schema and value not in schema["enum"]:
        problems.append("%s: %r is not one of %s" % (path, value, schema["enum"]))
    if "const" in schema and value != schema["const"]:
        problems.append("%s: must be %r" % (path, schema["const"]))
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append("%s: %r does not match %s" % (path, value, schema["pattern"]))
        if len(value) < schema.get("minLength", 0):
            problems.append("%s: must not be empty" % path)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < schema.get("minimum", value):
        problems.append("%s: must be >= %s" % (path, schema["minimum"]))
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            check(item, schema["items"], "%s[%d]" % (path, index), problems)
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                problems.append("%s: missing required field %r" % (path, name))
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name in properties:
                check(item, properties[name], "%s.%s" % (path, name), problems)
            elif schema.get("additionalProperties") is False:
                problems.append("%s: unexpected field %r" % (path, name))
        for rule in schema.get("allOf", []):
            condition = []
            check(value, rule["if"], path, condition)
            if not condition:
                check(value, rule["then"], path, problems)


def problems_of(document, schema, path):
    """Every way ``document`` differs from ``schema``, as strings (empty when it is valid)."""
    problems = []
    check(document, schema, path, problems)
    return problems
