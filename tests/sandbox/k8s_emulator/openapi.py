"""A minimal OpenAPI v3 discovery: one PATCH operation per kind advertising ``fieldValidation``.

kubectl's default ``--validate=strict`` asks ``/openapi/v3/<group-version>`` whether the PATCH
operation of a kind accepts the ``fieldValidation`` query parameter; when it does, kubectl leaves
validation to the server instead of downloading the full OpenAPI v2 schema. No component schemas are
served, so kubectl computes client-side-apply patches from its compiled-in types.
"""

import hashlib
import json

from . import errors
from .resources import GROUP_VERSIONS, RESOURCE_TYPES


def _gv_path(group, version):
    return "apis/%s/%s" % (group, version) if group else "api/%s" % version


def _document(group, version):
    paths = {}
    for rtype in RESOURCE_TYPES:
        if (rtype.group, rtype.version) != (group, version) or "patch" not in rtype.verbs:
            continue
        scope = "/namespaces/{namespace}" if rtype.namespaced else ""
        path = "/%s%s/%s/{name}" % (_gv_path(group, version), scope, rtype.plural)
        paths[path] = {"patch": {
            "operationId": "patch%s" % rtype.kind,
            "parameters": [{"name": name, "in": "query", "schema": {"type": "string"}}
                           for name in ("dryRun", "fieldManager", "fieldValidation", "force")],
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": rtype.kind}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0-sandbox"}, "paths": paths,
            "components": {"schemas": {}}}


def _hash(group, version):
    return hashlib.sha256(json.dumps(_document(group, version), sort_keys=True).encode()).hexdigest().upper()[:64]


def root():
    """``GET /openapi/v3``."""
    return {"paths": {_gv_path(g, v): {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (_gv_path(g, v), _hash(g, v))}
                      for g, v in sorted(GROUP_VERSIONS)}}


def group_version(path):
    """``GET /openapi/v3/api/v1`` or ``/openapi/v3/apis/<group>/<version>``."""
    for group, version in GROUP_VERSIONS:
        if path.strip("/") == "openapi/v3/" + _gv_path(group, version):
            return _document(group, version)
    raise errors.not_found_path()
