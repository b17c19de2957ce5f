"""Unit tests of the emulator's pure building blocks (no server process)."""

import base64
import datetime
import json
import os
import sys

import pytest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

# pylint: disable=wrong-import-position
from tests.sandbox.k8s_emulator import authz, cron, decoding, defaults, errors, fieldmanager, patching, protobuf, quantity  # noqa: E402
from tests.sandbox.k8s_emulator.cluster import Cluster  # noqa: E402
from tests.sandbox.k8s_emulator.controllers.cronjobs import TriggerRefused  # noqa: E402
from tests.sandbox.k8s_emulator.faults import FaultConfigError, FaultInjector  # noqa: E402
from tests.sandbox.k8s_emulator.images import ImageRef, PullChecker, _docker_credentials  # noqa: E402
from tests.sandbox.k8s_emulator.resources import BY_PLURAL  # noqa: E402
from tests.sandbox.k8s_emulator.selectors import Selector, parse_labels  # noqa: E402
from tests.sandbox.k8s_emulator.store import Store  # noqa: E402
from tests.sandbox.k8s_emulator.util import iso, now  # noqa: E402
from tests.sandbox.k8s_emulator.validation import validate  # noqa: E402


def _at(text):
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc)


# --------------------------------------------------------------------------- cron


@pytest.mark.parametrize("spec, moment, expected", [
    ("*/15 * * * *", "2025-01-01T10:30", True),
    ("*/15 * * * *", "2025-01-01T10:31", False),
    ("0 3 * * *", "2025-01-01T03:00", True),
    ("0 9-17 * * mon-fri", "2025-01-04T10:00", False),  # a Saturday
    ("0 9-17 * * mon-fri", "2025-01-06T10:00", True),
    ("0 0 1 jan *", "2025-01-01T00:00", True),
    ("0 0 13 * 5", "2025-06-13T00:00", True),  # day-of-month OR day-of-week when both are restricted
    ("0 0 13 * 5", "2025-06-06T00:00", True),
    ("0 0 13 * 5", "2025-06-07T00:00", False),
    ("@hourly", "2025-01-01T07:00", True),
    ("@daily", "2025-01-01T07:00", False),
    ("5,10 * * * *", "2025-01-01T07:10", True),
])
def test_cron_matches(spec, moment, expected):
    """Minute matching, ranges, steps, names, descriptors and the day-of-month/day-of-week OR rule."""
    assert cron.Schedule(spec).matches(_at(moment)) is expected


@pytest.mark.parametrize("spec, message", [
    ("* * * *", "expected exactly 5 fields, found 4"),
    ("61 * * * *", "end of range (61) above maximum (59)"),
    ("@every-day", "unrecognized descriptor"),
    ("x * * * *", "failed to parse int from x"),
])
def test_cron_errors(spec, message):
    """robfig/cron-style parse errors."""
    with pytest.raises(cron.CronError) as caught:
        cron.Schedule(spec)
    assert message in str(caught.value)


def test_cron_next_after():
    """The next firing minute."""
    assert cron.Schedule("30 2 * * *").next_after(_at("2025-01-01T02:30")) == _at("2025-01-02T02:30")


# --------------------------------------------------------------------------- selectors and quantities


def test_label_selector_grammar():
    """Every label selector operator, plus field selectors and their per-kind allow list."""
    assert parse_labels("a=b,c!=d, e in (f, g),h notin (i),j,!k") == [
        ("a", "in", ["b"]), ("c", "notin", ["d"]), ("e", "in", ["f", "g"]), ("h", "notin", ["i"]), ("j", "exists", []), ("k", "!exists", [])]
    selector = Selector("tier in (web),!legacy", "metadata.name!=skip", "configmaps")
    assert selector.matches({"metadata": {"name": "x", "labels": {"tier": "web"}}})
    assert not selector.matches({"metadata": {"name": "skip", "labels": {"tier": "web"}}})
    assert not selector.matches({"metadata": {"name": "x", "labels": {"tier": "web", "legacy": "1"}}})
    with pytest.raises(errors.ApiError) as caught:
        Selector("", "spec.nodeName=x", "configmaps")
    assert caught.value.code == 400 and "field label not supported" in caught.value.message
    assert Selector("", "status.phase=Running", "pods").matches({"metadata": {}, "status": {"phase": "Running"}})


@pytest.mark.parametrize("text, value", [("250m", "0.25"), ("512Mi", str(512 * 2 ** 20)), ("2Gi", str(2 * 2 ** 30)), ("1", "1"),
                                         ("1e3", "1000"), ("1.5k", "1500"), (2, "2")])
def test_quantities(text, value):
    """Decimal, binary and exponent suffixes."""
    assert quantity.parse(text) == quantity.parse(value) == float(value)


@pytest.mark.parametrize("text", ["12 GB", "lots", "1Qi", ""])
def test_bad_quantities(text):
    """Unparseable quantities raise."""
    with pytest.raises(quantity.QuantityError):
        quantity.parse(text)


# --------------------------------------------------------------------------- patches


def test_json_patch_operations():
    """add/remove/replace/copy/move/test; failures raise PatchError; the input is not mutated."""
    doc = {"a": {"b": 1}, "l": [1, 2]}
    out = patching.json_patch(doc, [{"op": "add", "path": "/a/c", "value": 2}, {"op": "remove", "path": "/a/b"},
                                    {"op": "replace", "path": "/l/0", "value": 9}, {"op": "add", "path": "/l/-", "value": 3},
                                    {"op": "copy", "from": "/a", "path": "/d"}, {"op": "move", "from": "/d/c", "path": "/e"},
                                    {"op": "test", "path": "/e", "value": 2}])
    assert out == {"a": {"c": 2}, "l": [9, 2, 3], "d": {}, "e": 2} and doc == {"a": {"b": 1}, "l": [1, 2]}
    with pytest.raises(patching.PatchError):
        patching.json_patch(doc, [{"op": "remove", "path": "/missing"}])
    with pytest.raises(patching.PatchError):
        patching.json_patch(doc, [{"op": "test", "path": "/a/b", "value": 2}])


def test_merge_patch():
    """RFC 7386 semantics."""
    assert patching.merge_patch({"a": 1, "b": {"c": 1, "d": 2}, "l": [1]}, {"a": None, "b": {"c": 3}, "l": [2]}) == {
        "b": {"c": 3, "d": 2}, "l": [2]}


def test_strategic_merge_patch_keys_and_directives():
    """Lists merged by key, $patch delete/replace, $retainKeys, set-like finalizers."""
    pod = {"metadata": {"finalizers": ["a"]}, "spec": {"containers": [
        {"name": "app", "image": "a:1", "env": [{"name": "X", "value": "1"}], "args": ["x"]},
        {"name": "side", "image": "s:1"}], "volumes": [{"name": "v", "emptyDir": {}}]}}
    patch = {"metadata": {"finalizers": ["b"]}, "spec": {"$setElementOrder/containers": [{"name": "app"}, {"name": "side"}], "containers": [
        {"name": "app", "env": [{"name": "Y", "value": "2"}], "args": ["y"]}, {"name": "side", "$patch": "delete"},
        {"name": "new", "image": "n:1"}], "volumes": [{"name": "w", "secret": {"secretName": "s"}}]}}
    out = patching.strategic_merge_patch(pod, patch, "Pod")
    containers = out["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app", "new"]
    assert containers[0]["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}] and containers[0]["args"] == ["y"]
    assert [v["name"] for v in out["spec"]["volumes"]] == ["v", "w"] and out["metadata"]["finalizers"] == ["a", "b"]
    replaced = patching.strategic_merge_patch(pod, {"spec": {"$patch": "replace", "containers": []}}, "Pod")
    assert replaced["spec"] == {"containers": []}
    retained = patching.strategic_merge_patch({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}},
                                              {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}, "Deployment")
    assert retained["spec"]["strategy"] == {"type": "Recreate"}
    job = {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}}
    merged = patching.strategic_merge_patch(job, {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "y"}]}}}}, "Job")
    assert len(merged["spec"]["template"]["spec"]["containers"]) == 2


def test_unknown_patch_type_is_415():
    """Unknown patch media types are 415."""
    with pytest.raises(errors.ApiError) as caught:
        patching.apply_patch("text/plain", {}, {}, "ConfigMap")
    assert caught.value.code == 415


# --------------------------------------------------------------------------- managed fields / server-side apply


def test_field_set_and_fields_v1_round_trip():
    """Field paths for maps, keyed lists, sets and atomic lists; fieldsV1 round trip."""
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "1"}, "finalizers": ["f"]},
           "spec": {"containers": [{"name": "c", "image": "i", "args": ["x", "y"]}]}, "status": {"phase": "Running"}}
    paths = fieldmanager.field_set(obj, "Pod")
    container = 'k:{"name":"c"}'
    assert paths == {("f:metadata", "f:labels", "f:a"), ("f:metadata", "f:finalizers", 'v:"f"'),
                     ("f:spec", "f:containers", container, "."), ("f:spec", "f:containers", container, "f:name"),
                     ("f:spec", "f:containers", container, "f:image"), ("f:spec", "f:containers", container, "f:args")}
    tree = fieldmanager.to_fields_v1(paths)
    assert tree["f:spec"]["f:containers"][container] == {".": {}, "f:args": {}, "f:image": {}, "f:name": {}}
    assert fieldmanager.from_fields_v1(tree) == paths
    assert fieldmanager.path_string(("f:spec", "f:containers", container, "f:image")) == '.spec.containers[name="c"].image'


def _ssa(live, applied, manager, force=False):
    return fieldmanager.server_side_apply(live, applied, "ConfigMap", manager, "v1", force, "2025-01-01T00:00:00Z")


def test_server_side_apply_semantics():
    """Conflict, force and removal of fields a manager stops applying."""
    first, managed, conflicts = _ssa(None, {"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}, "alice")
    assert not conflicts and first["data"] == {"a": "1", "b": "2"}
    first["metadata"]["managedFields"] = managed
    dummy, dummy, conflicts = _ssa(first, {"metadata": {"name": "c"}, "data": {"a": "9"}}, "bob")
    assert conflicts == [("alice", "v1", ".data.a")]
    forced, managed, conflicts = _ssa(first, {"metadata": {"name": "c"}, "data": {"a": "9"}}, "bob", force=True)
    assert not conflicts and forced["data"] == {"a": "9", "b": "2"}
    owners = {e["manager"]: fieldmanager.from_fields_v1(e["fieldsV1"]) for e in managed}
    assert owners == {"alice": {("f:data", "f:b")}, "bob": {("f:data", "f:a")}}
    forced["metadata"]["managedFields"] = managed
    dropped, managed, dummy = _ssa(forced, {"metadata": {"name": "c"}}, "alice")
    assert dropped["data"] == {"a": "9"} and [e["manager"] for e in managed] == ["bob"]


def test_update_takes_ownership_of_changed_fields():
    """An Update takes the fields it changed away from other managers."""
    old = {"metadata": {"name": "c"}, "data": {"a": "1"}}
    old["metadata"]["managedFields"] = fieldmanager.record_update(None, old, "ConfigMap", "creator", "v1", "t0")
    new = {"metadata": dict(old["metadata"]), "data": {"a": "2", "b": "3"}}
    managed = fieldmanager.record_update(old, new, "ConfigMap", "editor", "v1", "t1")
    assert [(e["manager"], e["operation"]) for e in managed] == [("editor", "Update")]
    assert fieldmanager.from_fields_v1(managed[0]["fieldsV1"]) == {("f:data", "f:a"), ("f:data", "f:b")}


# --------------------------------------------------------------------------- decoding, validation, defaults


def test_decode_errors_are_bad_requests():
    """Wrong JSON types and bad base64 are decode errors (400)."""
    cronjobs = BY_PLURAL["cronjobs"]
    with pytest.raises(errors.ApiError) as caught:
        decoding.check(cronjobs, {"metadata": {"name": "x"}, "spec": {"suspend": "true"}})
    assert caught.value.code == 400
    assert caught.value.message.endswith("json: cannot unmarshal string into Go struct field CronJobSpec.spec.suspend of type bool")
    with pytest.raises(errors.ApiError):
        decoding.check(BY_PLURAL["secrets"], {"metadata": {"name": "x"}, "data": {"k": "%%%"}})
    decoding.check(BY_PLURAL["jobs"], {"metadata": {"name": "x"}, "spec": {"backoffLimit": 2, "suspend": False}})


def test_validation_messages():
    """Representative 422 messages and causes."""
    secret = {"kind": "Secret", "metadata": {"name": "s", "namespace": "n"}, "type": "kubernetes.io/dockerconfigjson",
              "data": {".dockerconfigjson": base64.b64encode(b"{not json").decode()}}
    with pytest.raises(errors.ApiError) as caught:
        validate(BY_PLURAL["secrets"], secret)
    assert caught.value.code == 422 and 'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>"' in caught.value.message
    job = defaults.apply_defaults({"kind": "Job", "metadata": {"name": "j", "namespace": "n"},
                                   "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    with pytest.raises(errors.ApiError) as caught:
        validate(BY_PLURAL["jobs"], job)
    assert caught.value.status()["details"]["causes"][0]["reason"] == "FieldValueNotSupported"
    with pytest.raises(errors.ApiError) as caught:
        validate(BY_PLURAL["namespaces"], {"kind": "Namespace", "metadata": {"name": "a.b"}})
    assert "RFC 1123 label" in caught.value.message


@pytest.mark.parametrize("image, policy", [("busybox", "Always"), ("busybox:latest", "Always"), ("busybox:1.36", "IfNotPresent"),
                                           ("r.io:5000/app@sha256:" + "a" * 64, "IfNotPresent"), ("r.io:5000/app", "Always")])
def test_image_pull_policy_defaults(image, policy):
    """imagePullPolicy defaulting by tag/digest."""
    assert defaults.image_pull_policy(image) == policy


# --------------------------------------------------------------------------- images, faults, store, protobuf


def test_image_refs():
    """Registry host, repository, tag and digest parsing."""
    ref = ImageRef("111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1")
    assert (ref.host, ref.repository, ref.tag, ref.image_id) == ("111122223333.dkr.ecr.us-east-1.amazonaws.com", "team/app", "v1",
                                                                 {"imageTag": "v1"})
    ref = ImageRef("busybox")
    assert (ref.host, ref.repository, ref.tag) == ("docker.io", "busybox", "latest")
    ref = ImageRef("localhost:5000/app@sha256:abc")
    assert (ref.host, ref.repository, ref.image_id) == ("localhost:5000", "app", {"imageDigest": "sha256:abc"})


def test_docker_credentials_forms():
    """auth and username/password forms; bare and https:// host keys."""
    host = "h.example"
    for auths in ({host: {"auth": base64.b64encode(b"AWS:pw").decode()}}, {"https://" + host: {"username": "AWS", "password": "pw"}}):
        secret = {"type": "kubernetes.io/dockerconfigjson",
                  "data": {".dockerconfigjson": base64.b64encode(json.dumps({"auths": auths}).encode()).decode()}}
        assert _docker_credentials(secret, host) == ("AWS", "pw")
    assert _docker_credentials({"type": "Opaque", "data": {}}, host) is None


def test_pull_checker_without_aws_and_with_faults():
    """Without AWS endpoint ECR images pull; fail_images still blocks them."""
    faults = FaultInjector()
    checker = PullChecker(Store(), faults, endpoint_url=None, account_id="111122223333")
    image = "111122223333.dkr.ecr.us-east-1.amazonaws.com/app:v1"
    assert checker.check("ns", {}, image).ok
    faults.configure({"pull": {"fail_images": ["app:v1"]}})
    result = checker.check("ns", {}, image)
    assert not result.ok and result.reason == "ErrImagePull"


def test_fault_rules_counters_and_validation():
    """skip_first/count/verb matching, counters and config validation."""
    faults = FaultInjector()
    faults.configure({"seed": 1, "rules": [{"match": {"verb": "get", "resource": "pods"}, "error": "500", "skip_first": 1, "count": 1}]})
    request = {"verb": "get", "resource": "pods", "namespace": "n", "name": "p"}
    assert [faults.decide(request) is not None for dummy in range(3)] == [False, True, False]
    assert faults.decide(dict(request, verb="list")) is None
    snapshot = faults.snapshot()
    assert snapshot["rules"][0]["matched"] == 3 and snapshot["injected"] == {"get:pods": 1}
    for bad in ({"rules": [{"error": "418"}]}, {"rules": [{"fraction": 2}]}, {"rules": [{"match": {"kind": "x"}}]}):
        with pytest.raises(FaultConfigError):
            faults.configure(bad)


def test_store_history_and_persistence(tmp_path):
    """Watch history order and save/load round trip."""
    store = Store()
    stored = store.put("configmaps", {"metadata": {"name": "a", "namespace": "n", "uid": "u1"}})
    store.put("configmaps", dict(stored, data={"k": "v"}))
    store.remove("configmaps", "n", "a")
    assert [e.type for e in store.events_after(0)] == ["ADDED", "MODIFIED", "DELETED"]
    store.put("configmaps", {"metadata": {"name": "b", "namespace": "n", "uid": "u2"}})
    path = str(tmp_path / "state.json")
    store.save(path)
    loaded = Store()
    assert loaded.load(path) and loaded.get("configmaps", "n", "b")["metadata"]["resourceVersion"] == "4"
    assert loaded.resource_version == 4 and not Store().load(str(tmp_path / "missing.json"))


def _field(number, payload):
    if isinstance(payload, bytes):
        return bytes([number << 3 | 2, len(payload)]) + payload
    return bytes([number << 3, payload])


def test_protobuf_configmap():
    """A hand-built protobuf ConfigMap envelope decodes to the JSON form."""
    meta = _field(1, b"cm") + _field(11, _field(1, b"app") + _field(2, b"x"))
    raw = _field(1, meta) + _field(2, _field(1, b"k") + _field(2, b"v")) + _field(4, 1)
    body = b"k8s\x00" + _field(1, _field(1, b"v1") + _field(2, b"ConfigMap")) + _field(2, raw)
    obj = protobuf.decode(body, BY_PLURAL["configmaps"])
    assert obj == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "labels": {"app": "x"}}, "data": {"k": "v"},
                   "immutable": True}


# --------------------------------------------------------------------------- controllers, in process


def _cluster():
    cluster = Cluster("unit")
    cluster.bootstrap()
    cluster.config.update({"pod_run_seconds": 0})
    return cluster


def _cronjob(name, **spec):
    body = {"metadata": {"name": name}, "spec": dict({"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}, **spec)}
    return body


def _tick(cluster, times=1):
    for dummy in range(times):
        cluster.controllers.tick()


def test_cronjob_schedule_fires_once_per_minute_after_creation():
    """A due CronJob creates ``<name>-<unix minutes>`` once; not for the minute it was created in."""
    cluster = _cluster()
    cronjobs = BY_PLURAL["cronjobs"]
    cluster.api.create(cronjobs, "default", _cronjob("every"), "test")
    _tick(cluster)
    assert cluster.store.list("jobs", "default") == []
    with cluster.store.lock:
        stored = cluster.store.get("cronjobs", "default", "every")
        stored["metadata"]["creationTimestamp"] = iso(now() - datetime.timedelta(minutes=2))
        cluster.store.put("cronjobs", stored)
    before = int(now().timestamp() // 60)
    cluster.controllers.by_name["CronJobController"]._evaluated.clear()  # pylint: disable=protected-access
    _tick(cluster, 2)
    names = [j["metadata"]["name"] for j in cluster.store.list("jobs", "default")]
    assert len(names) == 1 and names[0] in ("every-%d" % before, "every-%d" % (before + 1))
    status = cluster.store.get("cronjobs", "default", "every")["status"]
    assert status["lastScheduleTime"] and status["active"][0]["name"] == names[0]


def test_cronjob_trigger_policies_and_history():
    """Suspended and Forbid-with-active refuse; finished Jobs beyond the history limit are deleted."""
    cluster = _cluster()
    cronjobs, controller = BY_PLURAL["cronjobs"], cluster.controllers.by_name["CronJobController"]
    cluster.api.create(cronjobs, "default", _cronjob("paused", suspend=True), "test")
    with pytest.raises(TriggerRefused) as caught:
        controller.trigger("default", "paused")
    assert caught.value.reason == "suspended"
    slow = _cronjob("slow", concurrencyPolicy="Forbid")
    slow["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "SANDBOX_RUN_SECONDS", "value": "60"}]
    cluster.api.create(cronjobs, "default", slow, "test")
    controller.trigger("default", "slow")
    with pytest.raises(TriggerRefused) as caught:
        controller.trigger("default", "slow")
    assert caught.value.reason == "concurrency-forbidden"
    cluster.api.create(cronjobs, "default", _cronjob("kept", successfulJobsHistoryLimit=1, schedule="0 0 1 1 *"), "test")
    for dummy in range(3):
        controller.trigger("default", "kept")
        _tick(cluster, 4)
    kept = [j for j in cluster.store.list("jobs", "default") if j["metadata"]["name"].startswith("kept-")]
    assert len(kept) == 1 and any(c["type"] == "Complete" for c in kept[0]["status"]["conditions"])


def test_job_on_failure_restarts_then_fails():
    """restartPolicy OnFailure restarts the container in place until backoffLimit restarts, then the Job fails."""
    cluster = _cluster()
    body = {"metadata": {"name": "flaky"}, "spec": {"backoffLimit": 2, "template": {"spec": {"restartPolicy": "OnFailure", "containers": [
        {"name": "c", "image": "busybox", "env": [{"name": "SANDBOX_EXIT_CODE", "value": "3"}]}]}}}}
    cluster.api.create(BY_PLURAL["jobs"], "default", body, "test")
    for dummy in range(30):
        _tick(cluster)
        job = cluster.store.get("jobs", "default", "flaky")
        if any(c["type"] == "Failed" for c in job["status"].get("conditions", [])):
            break
    failed = [c for c in job["status"]["conditions"] if c["type"] == "Failed"][0]
    assert failed["reason"] == "BackoffLimitExceeded"


def test_job_active_deadline():
    """activeDeadlineSeconds fails the Job with DeadlineExceeded and removes its pods."""
    cluster = _cluster()
    body = {"metadata": {"name": "late"}, "spec": {"activeDeadlineSeconds": 1, "template": {"spec": {"restartPolicy": "Never", "containers": [
        {"name": "c", "image": "busybox", "env": [{"name": "SANDBOX_RUN_SECONDS", "value": "60"}]}]}}}}
    cluster.api.create(BY_PLURAL["jobs"], "default", body, "test")
    _tick(cluster, 2)
    assert cluster.store.list("pods", "default")
    with cluster.store.lock:
        job = cluster.store.get("jobs", "default", "late")
        job["status"]["startTime"] = iso(now() - datetime.timedelta(seconds=5))
        cluster.store.put("jobs", job)
    _tick(cluster)
    job = cluster.store.get("jobs", "default", "late")
    assert [c["reason"] for c in job["status"]["conditions"] if c["type"] == "Failed"] == ["DeadlineExceeded"]
    assert cluster.store.list("pods", "default") == []


def test_rbac_identities_and_self_subject_access_review():
    identities = authz.Identities()
    with pytest.raises(authz.IdentityError):
        identities.register({"name": "x", "rules": [{"resources": ["configmaps"], "verbs": ["get"]}]})  # no apiGroups
    token = identities.register({"name": "reader", "namespaces": ["jobintel"],
                                 "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
                                           {"apiGroups": ["batch"], "resources": ["cronjobs"], "verbs": ["patch"], "resourceNames": ["daily"]}]})["token"]
    reader = identities.lookup(token)
    assert authz.allows(reader, "list", "", "configmaps", namespace="jobintel")[0]
    assert not authz.allows(reader, "get", "", "secrets", namespace="jobintel")[0]
    assert not authz.allows(reader, "get", "", "configmaps", namespace="other")[0]  # bound in jobintel only
    assert not authz.allows(reader, "get", "", "namespaces")[0]  # a RoleBinding never grants cluster scope
    assert authz.allows(reader, "patch", "batch", "cronjobs", namespace="jobintel", name="daily")[0]
    assert not authz.allows(reader, "patch", "batch", "cronjobs", namespace="jobintel", name="other")[0]
    assert authz.allows(authz.ADMIN, "delete", "", "namespaces", name="x")[0]
    review = authz.self_subject_access_review(reader, {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                                       "spec": {"resourceAttributes": {"verb": "get", "resource": "secrets",
                                                                                       "namespace": "jobintel"}}})
    assert review["status"] == {"allowed": False} and review["kind"] == "SelfSubjectAccessReview"
    with pytest.raises(errors.ApiError) as invalid:
        authz.self_subject_access_review(reader, {"spec": {}})
    assert invalid.value.code == 422
    denied = authz.forbidden(reader, "get", BY_PLURAL["secrets"], "jobintel", "ecr-pull")
    assert denied.code == 403 and denied.message == ('secrets "ecr-pull" is forbidden: User "reader" cannot get resource "secrets" '
                                                     'in API group "" in the namespace "jobintel"')
    identities.clear()
    assert identities.lookup(token) is None
