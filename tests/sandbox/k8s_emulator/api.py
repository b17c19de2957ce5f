"""The REST verbs on stored objects: create, get, list, update, patch, server-side apply, delete.

Every write goes through the same pipeline as on a real apiserver: decode checks (400), admission,
defaulting, create/update strategy, validation (422), managedFields bookkeeping, then a store write
(skipped for ``dryRun=All`` and for no-op updates, which keep their resourceVersion).
"""

import json
import uuid

import yaml

from . import admission, decoding, defaults, errors, fieldmanager, patching, validation
from .resources import BY_PLURAL
from .util import deep, iso, name_suffix

SYSTEM_META = ("uid", "creationTimestamp", "resourceVersion", "generation", "deletionTimestamp", "deletionGracePeriodSeconds",
               "selfLink", "managedFields")
# Deleting these without an explicit propagationPolicy orphans the dependents (batch/v1 Job legacy default).
_ORPHAN_BY_DEFAULT = ("jobs",)
_GENERATION_KINDS = ("Job", "CronJob", "Deployment")


def strip_for_list(obj):
    """Typed list items carry no apiVersion/kind on a real server."""
    item = dict(obj)
    item.pop("apiVersion", None)
    item.pop("kind", None)
    return item


def success_status(rtype, obj):
    """The ``Status`` answered for an immediate delete."""
    details = {"name": obj["metadata"]["name"]}
    if rtype.group:
        details["group"] = rtype.group
    details.update(kind=rtype.plural, uid=obj["metadata"].get("uid"))
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def _same(left, right):
    """Equal objects, ignoring resourceVersion and managedFields time stamps."""
    def body(obj):
        copy = deep(obj)
        copy["metadata"].pop("resourceVersion", None)
        copy["metadata"].pop("managedFields", None)
        return copy
    return body(left) == body(right) and fieldmanager.same_ownership(
        left["metadata"].get("managedFields"), right["metadata"].get("managedFields"))


def _normalize(obj):
    """Secret ``stringData`` is merged into ``data`` and never stored."""
    if obj.get("kind") == "Secret" and obj.get("stringData") is not None:
        data = obj.setdefault("data", {}) or {}
        for key, value in obj.pop("stringData").items():
            data[key] = decoding.base64.b64encode(value.encode()).decode()
        obj["data"] = data


class Api:
    """Object verbs over a :class:`~.store.Store`."""

    def __init__(self, store, root_ca=None):
        self.store = store
        self.root_ca = root_ca

    # ----------------------------------------------------------------- reads

    def get(self, rtype, namespace, name):
        """The stored object or 404."""
        obj = self.store.get(rtype.plural, namespace if rtype.namespaced else "", name)
        if obj is None:
            raise errors.not_found(rtype, name)
        return obj

    def list(self, rtype, namespace, selector):
        """``(items, resourceVersion)`` of the objects matched by ``selector``."""
        with self.store.lock:
            items = self.store.list(rtype.plural, namespace if rtype.namespaced else None)
            rv = self.store.resource_version
        return [obj for obj in items if selector.matches(obj)], str(rv)

    # ----------------------------------------------------------------- body checks

    @staticmethod
    def _body(rtype, namespace, body, name=None):
        """Check apiVersion/kind/name/namespace of a request body against the URL (400 on mismatch)."""
        if not isinstance(body, dict):
            raise errors.bad_request("Object 'Kind' is missing in '%s'" % json.dumps(body)[:200])
        obj = deep(body)
        kind, api_version = obj.setdefault("kind", rtype.kind), obj.setdefault("apiVersion", rtype.api_version)
        if kind != rtype.kind:
            raise errors.decode_error(rtype, 'no kind "%s" is registered for version "%s"' % (kind, api_version))
        if api_version != rtype.api_version:
            raise errors.bad_request("the API version in the data (%s) does not match the expected API version (%s)"
                                     % (api_version, rtype.api_version))
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise errors.decode_error(rtype, "json: cannot unmarshal %s into Go struct field %s.metadata of type v1.ObjectMeta"
                                      % (type(meta).__name__, rtype.kind))
        if name is not None:
            if meta.get("name") and meta["name"] != name:
                raise errors.bad_request("the name of the object (%s) does not match the name on the URL (%s)" % (meta["name"], name))
            meta["name"] = name
        if rtype.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        decoding.check(rtype, obj)
        return obj

    # ----------------------------------------------------------------- create

    def create(self, rtype, namespace, body, manager, dry_run=False, managed_fields=None):
        """POST; returns the created object (201)."""
        obj = self._body(rtype, namespace, body)
        meta = obj["metadata"]
        with self.store.lock:
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = self._generate_name(rtype, namespace, meta["generateName"])
            admission.check_namespace(self.store, rtype, namespace, meta.get("name", ""))
            for key in SYSTEM_META:
                meta.pop(key, None)
            if meta.get("name") and self.store.get(rtype.plural, meta.get("namespace", ""), meta["name"]) is not None:
                raise errors.already_exists(rtype, meta["name"])
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = iso()
            _normalize(obj)
            defaults.apply_defaults(obj)
            # As on the real server the creator owns what it sent plus the defaults, but not what
            # admission and the create strategy add afterwards (Job selector, pod service account...).
            if managed_fields is None:
                managed_fields = fieldmanager.record_update(None, obj, rtype.kind, manager, rtype.api_version, iso())
            if rtype.kind == "Pod" and meta.get("name"):
                admission.mutate_pod(self.store, rtype, obj)
            defaults.prepare_create(obj)
            validation.validate(rtype, obj)
            if managed_fields:
                meta["managedFields"] = managed_fields
            if dry_run:
                return obj
            stored = self.store.put(rtype.plural, obj)
            self.store.touch(stored)
            if rtype.kind == "Namespace":
                self.ensure_namespace_defaults(stored["metadata"]["name"])
            return stored

    def _generate_name(self, rtype, namespace, prefix):
        for dummy in range(8):
            name = prefix + name_suffix()
            if self.store.get(rtype.plural, namespace if rtype.namespaced else "", name) is None:
                return name
        raise errors.ApiError(500, "AlreadyExists", "unable to generate a unique name for %s" % prefix)

    def ensure_namespace_defaults(self, namespace):
        """What the serviceaccount and root-ca-cert-publisher controllers add to every namespace.

        Done synchronously at namespace creation so that a pod created right after its namespace
        finds its ``default`` ServiceAccount.
        """
        if self.store.get("serviceaccounts", namespace, "default") is None:
            self.create(BY_PLURAL["serviceaccounts"], namespace, {"metadata": {"name": "default"}}, "kube-controller-manager")
        if self.root_ca and self.store.get("configmaps", namespace, "kube-root-ca.crt") is None:
            self.create(BY_PLURAL["configmaps"], namespace, {"metadata": {"name": "kube-root-ca.crt", "annotations": {
                "kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
                                             "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
                                             "guaranteed across distributions of Kubernetes clusters."}},
                "data": {"ca.crt": self.root_ca}}, "kube-controller-manager")

    # ----------------------------------------------------------------- update / patch / apply

    def update(self, rtype, namespace, name, body, manager, dry_run=False, subresource=None):
        """PUT; stale ``metadata.resourceVersion`` is a 409 Conflict."""
        obj = self._body(rtype, namespace, body, name)
        with self.store.lock:
            old = self.get(rtype, namespace, name)
            wanted = obj["metadata"].get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise errors.conflict(rtype, name)
            return self._commit(rtype, old, obj, manager, dry_run, subresource)

    def patch(self, rtype, namespace, name, content_type, raw, manager, dry_run=False, force=False, subresource=None):
        """PATCH with any supported patch type; apply patches go to :meth:`apply`."""
        if content_type == patching.APPLY_PATCH:
            return self.apply(rtype, namespace, name, raw, manager, dry_run, force, subresource)
        if content_type not in patching.PATCH_TYPES:
            raise errors.unsupported_media_type()
        if force:
            raise errors.invalid_options("PatchOptions", [errors.FieldError("forbidden", "force", detail="may not be specified for non-apply patch")])
        try:
            patch = json.loads(raw or b"null")
        except ValueError as exc:
            raise errors.bad_request("error decoding patch: %s" % exc) from exc
        with self.store.lock:
            old = self.get(rtype, namespace, name)
            try:
                patched = patching.apply_patch(content_type, old, patch, rtype.kind)
            except patching.PatchError as exc:
                raise errors.ApiError(422, "Invalid", str(exc)) from exc
            wanted = (patched.get("metadata") or {}).get("resourceVersion") if isinstance(patched, dict) else None
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise errors.conflict(rtype, name)
            obj = self._body(rtype, namespace, patched, name)
            return self._commit(rtype, old, obj, manager, dry_run, subresource)

    def apply(self, rtype, namespace, name, raw, manager, dry_run=False, force=False, subresource=None):
        """Server-side apply: creates when absent, 409 on field-manager conflicts unless ``force``."""
        if not manager:
            raise errors.invalid_options("PatchOptions", [errors.FieldError("required", "fieldManager", detail="is required for apply patch")])
        try:
            config = yaml.safe_load(raw or b"")
        except yaml.YAMLError as exc:
            raise errors.bad_request("error decoding YAML: %s" % exc) from exc
        if not isinstance(config, dict) or not config.get("kind") or not config.get("apiVersion"):
            raise errors.bad_request("Object 'Kind' is missing in '%s'" % (raw or b"").decode("utf-8", "replace")[:200])
        config = self._body(rtype, namespace, config, name)
        meta = config["metadata"]
        wanted = meta.get("resourceVersion")
        for key in SYSTEM_META:
            meta.pop(key, None)
        if subresource != "status":
            config.pop("status", None)
        with self.store.lock:
            live = self.store.get(rtype.plural, namespace if rtype.namespaced else "", name)
            if wanted and (live is None or wanted != live["metadata"]["resourceVersion"]):
                raise errors.conflict(rtype, name)
            merged, managed, conflicts = fieldmanager.server_side_apply(live, config, rtype.kind, manager, rtype.api_version, force, iso())
            if conflicts:
                raise errors.apply_conflicts(rtype, name, conflicts)
            merged["metadata"]["managedFields"] = managed
            if live is None:
                return self.create(rtype, namespace, merged, manager, dry_run, managed_fields=managed)
            return self._commit(rtype, live, merged, manager, dry_run, subresource, managed_fields=managed)

    def _commit(self, rtype, old, new, manager, dry_run, subresource=None, managed_fields=None):
        """Shared tail of update/patch/apply: strategy, validation, managedFields, write (or not)."""
        if subresource == "status":
            status = new.get("status")
            new = deep(old)
            new["status"] = status
        elif subresource is not None:
            raise errors.method_not_allowed()
        meta = new["metadata"]
        base = old
        provided = meta.get("managedFields")
        if managed_fields is None and isinstance(provided, list) and provided and provided != old["metadata"].get("managedFields"):
            # A client may rewrite managedFields (kubectl does when migrating client-side apply ownership);
            # like the real server, take them as the starting point. ``[{}]`` resets them.
            base = deep(old)
            base["metadata"]["managedFields"] = [entry for entry in provided if isinstance(entry, dict) and entry.get("manager")]
        for key in SYSTEM_META:
            if key in old["metadata"]:
                meta[key] = deep(old["metadata"][key])
            else:
                meta.pop(key, None)
        if rtype.has_status and subresource is None:
            if "status" in old:
                new["status"] = deep(old["status"])
            else:
                new.pop("status", None)
        _normalize(new)
        defaults.apply_defaults(new)
        if rtype.kind == "Pod":
            for key in ("serviceAccountName", "serviceAccount", "enableServiceLinks", "priority", "preemptionPolicy", "nodeName"):
                if key in old.get("spec", {}) and key not in new.setdefault("spec", {}):
                    new["spec"][key] = old["spec"][key]
        if rtype.kind in _GENERATION_KINDS and new.get("spec") != old.get("spec"):
            meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
        validation.validate(rtype, new, old)
        if managed_fields is not None:
            meta["managedFields"] = managed_fields
        elif subresource is None:
            meta["managedFields"] = fieldmanager.record_update(base, new, rtype.kind, manager, rtype.api_version, iso())
        if not meta.get("managedFields"):
            meta.pop("managedFields", None)
        if _same(old, new):
            if not dry_run:
                self.store.touch(old)
            return old
        if dry_run:
            return new
        stored = self.store.put(rtype.plural, new)
        self.store.touch(stored)
        return stored

    def write_status(self, rtype, obj):
        """Controller write of a whole object (status included) when it differs from the stored one.

        Returns the stored object, or None when ``obj`` is gone or was modified since it was read.
        """
        with self.store.lock:
            meta = obj["metadata"]
            current = self.store.get(rtype.plural, meta.get("namespace", ""), meta["name"])
            if current is None or current["metadata"].get("uid") != meta.get("uid"):
                return None
            if current["metadata"].get("resourceVersion") != meta.get("resourceVersion"):
                return None  # stale snapshot: the controller retries on its next tick
            if current == obj:
                return current
            return self.store.put(rtype.plural, obj)

    # ----------------------------------------------------------------- delete

    def delete(self, rtype, namespace, name, policy=None, dry_run=False, preconditions=None):
        """DELETE; returns ``(body, code)``. Namespaces go to Terminating, the rest is removed now."""
        with self.store.lock:
            old = self.get(rtype, namespace, name)
            for key in ("uid", "resourceVersion"):
                wanted = (preconditions or {}).get(key)
                if wanted and wanted != old["metadata"].get(key):
                    raise errors.conflict(rtype, name, "Precondition failed: %s in precondition: %s, %s in object meta: %s"
                                          % ("UID" if key == "uid" else "ResourceVersion", wanted, "UID" if key == "uid" else "ResourceVersion",
                                             old["metadata"].get(key)))
            if rtype.plural == "namespaces":
                admission.check_namespace_delete(old)
                old["metadata"]["deletionTimestamp"] = iso()
                old["metadata"]["deletionGracePeriodSeconds"] = 0
                old.setdefault("status", {})["phase"] = "Terminating"
                return (old if dry_run else self.store.put(rtype.plural, old)), 200
            if policy not in (None, "Orphan", "Background", "Foreground"):
                raise errors.invalid_options("DeleteOptions", [errors.FieldError(
                    "not_supported", "propagationPolicy", policy, 'supported values: "Foreground", "Background", "Orphan", "nil"')])
            policy = policy or ("Orphan" if rtype.plural in _ORPHAN_BY_DEFAULT else "Background")
            if dry_run:
                return self._deleted_body(rtype, old), 200
            self.remove(rtype, old, policy)
            return self._deleted_body(rtype, old), 200

    @staticmethod
    def _deleted_body(rtype, obj):
        if rtype.plural == "services":
            # The Service registry sets ReturnDeletedObject: a delete answers the deleted Service, not a Status.
            return obj
        if rtype.plural == "pods":
            obj["metadata"]["deletionTimestamp"] = iso()
            obj["metadata"]["deletionGracePeriodSeconds"] = 0
            return obj
        return success_status(rtype, obj)

    def remove(self, rtype, obj, policy="Background"):
        """Remove ``obj`` now; Orphan strips ownerReferences from dependents, Foreground deletes them first.

        With Background the garbage collector (a controller) removes the dependents on its next tick.
        """
        uid = obj["metadata"].get("uid")
        with self.store.lock:
            if policy in ("Orphan", "Foreground"):
                for plural, dependent in self.dependents(uid):
                    if policy == "Orphan":
                        refs = [r for r in dependent["metadata"].get("ownerReferences", []) if r.get("uid") != uid]
                        dependent["metadata"]["ownerReferences"] = refs
                        if not refs:
                            dependent["metadata"].pop("ownerReferences")
                        self.store.put(plural, dependent)
                    else:
                        self.remove(BY_PLURAL[plural], dependent, "Foreground")
            meta = obj["metadata"]
            self.store.remove(rtype.plural, meta.get("namespace", ""), meta["name"])

    def dependents(self, uid):
        """``(plural, obj)`` pairs whose ownerReferences name ``uid``."""
        out = []
        for rtype in BY_PLURAL.values():
            if not rtype.namespaced:
                continue
            for obj in self.store.list(rtype.plural):
                if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences", [])):
                    out.append((rtype.plural, obj))
        return out

    def delete_collection(self, rtype, namespace, selector, policy=None, dry_run=False):
        """DELETE on a collection: deletes what the selectors match; returns the list of deleted objects."""
        items, rv = self.list(rtype, namespace, selector)
        for obj in items:
            if not dry_run:
                self.delete(rtype, obj["metadata"].get("namespace", ""), obj["metadata"]["name"], policy)
        return {"kind": rtype.list_kind, "apiVersion": rtype.api_version, "metadata": {"resourceVersion": rv},
                "items": [strip_for_list(obj) for obj in items]}
