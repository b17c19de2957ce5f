"""Label and field selectors (``labelSelector`` / ``fieldSelector`` query parameters)."""

import re

from . import errors
from .util import dig

_SET_TERM = re.compile(r"^\s*([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_TERM = re.compile(r"^\s*([^\s!=()]+)\s*(==|!=|=)\s*([^\s!=(),]*)\s*$")
_EXISTS_TERM = re.compile(r"^\s*(!?)\s*([^\s!=()]+)\s*$")

# Fields every resource supports plus the per-kind extras of the real apiserver.
_FIELDS = {
    "*": ("metadata.name", "metadata.namespace"),
    "pods": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "status.phase",
             "status.podIP", "status.nominatedNodeName"),
    "events": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
               "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
               "reportingComponent", "source", "type"),
    "secrets": ("type",),
    "namespaces": ("status.phase",),
    "nodes": ("spec.unschedulable",),
    "jobs": ("status.successful",),
}


def _split_terms(text):
    """Split on commas that are not inside parentheses."""
    terms, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [t for t in terms if t.strip()]


def parse_labels(text):
    """Parse a label selector into ``[(key, op, values)]``; ops: in, notin, exists, !exists."""
    requirements = []
    for term in _split_terms(text or ""):
        match = _SET_TERM.match(term)
        if match:
            values = [v.strip() for v in match.group(3).split(",") if v.strip()]
            requirements.append((match.group(1), match.group(2), values))
            continue
        match = _EQ_TERM.match(term)
        if match:
            op = "notin" if match.group(2) == "!=" else "in"
            requirements.append((match.group(1), op, [match.group(3)]))
            continue
        match = _EXISTS_TERM.match(term)
        if match:
            requirements.append((match.group(2), "!exists" if match.group(1) else "exists", []))
            continue
        raise errors.bad_request("unable to parse requirement: found '%s', expected: identifier" % term.strip())
    return requirements


def match_labels(requirements, labels):
    """Whether a label map satisfies every requirement."""
    labels = labels or {}
    for key, op, values in requirements:
        present = key in labels
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
        if op == "in" and (not present or labels[key] not in values):
            return False
        if op == "notin" and present and labels[key] in values:
            return False
    return True


def parse_fields(text, plural):
    """Parse a field selector into ``[(path, equal, value)]``; only the real server's supported fields."""
    allowed = _FIELDS["*"] + _FIELDS.get(plural, ())
    requirements = []
    for term in _split_terms(text or ""):
        match = _EQ_TERM.match(term)
        if not match:
            raise errors.bad_request('invalid selector: \'%s\'; can\'t understand \'%s\'' % (text, term))
        path = match.group(1)
        if path not in allowed:
            raise errors.bad_request('field label not supported: %s' % path)
        requirements.append((path, match.group(2) != "!=", match.group(3)))
    return requirements


def match_fields(requirements, obj):
    """Whether the object satisfies every field requirement."""
    for path, equal, value in requirements:
        actual = dig(obj, *path.split("."))
        if isinstance(actual, bool):
            actual = "true" if actual else "false"
        actual = "" if actual is None else str(actual)
        if (actual == value) != equal:
            return False
    return True


class Selector:
    """A parsed label + field selector pair."""

    def __init__(self, label_text, field_text, plural):
        self.labels = parse_labels(label_text)
        self.fields = parse_fields(field_text, plural)

    def matches(self, obj):
        """Whether ``obj`` is selected."""
        return match_labels(self.labels, obj.get("metadata", {}).get("labels")) and match_fields(self.fields, obj)


def label_selector_string(selector):
    """Render a ``LabelSelector`` object (matchLabels/matchExpressions) as selector text."""
    parts = ["%s=%s" % (k, v) for k, v in sorted((selector or {}).get("matchLabels", {}).items())]
    for expr in (selector or {}).get("matchExpressions", []):
        op = expr.get("operator", "")
        if op in ("In", "NotIn"):
            parts.append("%s %s (%s)" % (expr["key"], op.lower(), ",".join(expr.get("values", []))))
        elif op == "Exists":
            parts.append(expr["key"])
        elif op == "DoesNotExist":
            parts.append("!" + expr["key"])
    return ",".join(parts)
