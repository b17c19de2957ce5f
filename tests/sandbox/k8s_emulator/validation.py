"""Object validation (HTTP 422 ``Invalid``) with the real apiserver's field paths and wording."""

import json
import re

from . import cron, errors, quantity
from .decoding import decode_base64
from .errors import FieldError
from .schema import POD_SPEC_PREFIX
from .selectors import match_labels, parse_labels, label_selector_string

MAX_DATA_BYTES = 1048576
MAX_ANNOTATION_BYTES = 262144
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
                 "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
             "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
QUALIFIED_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                 "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                 "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
                   "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
                   "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
CONFIG_KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
                  "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
IMMUTABLE_MSG = "field is immutable"
_CRONJOB_NAME_MAX = 52


class Errors(list):
    """A list of FieldError with shorthand adders."""

    def required(self, field, detail=""):
        """Add a Required error."""
        self.append(FieldError("required", field, detail=detail))

    def invalid(self, field, value, detail):
        """Add an Invalid value error."""
        self.append(FieldError("invalid", field, value, detail))

    def not_supported(self, field, value, supported):
        """Add an Unsupported value error."""
        self.append(FieldError("not_supported", field, value, "supported values: " + ", ".join('"%s"' % s for s in supported)))

    def forbidden(self, field, detail):
        """Add a Forbidden error."""
        self.append(FieldError("forbidden", field, detail=detail))

    def too_long(self, field, limit):
        """Add a Too long error."""
        self.append(FieldError("too_long", field, detail="must have at most %d bytes" % limit))


def check_subdomain(errs, field, value, max_len=253):
    """DNS-1123 subdomain."""
    if len(value) > max_len:
        errs.invalid(field, value, "must be no more than %d characters" % max_len)
    if not _SUBDOMAIN.match(value):
        errs.invalid(field, value, SUBDOMAIN_MSG)


def check_label_name(errs, field, value):
    """DNS-1123 label."""
    if len(value) > 63:
        errs.invalid(field, value, "must be no more than 63 characters")
    if not _LABEL.match(value):
        errs.invalid(field, value, LABEL_MSG)


def _qualified_name(errs, field, key):
    prefix, dummy, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        errs.invalid(field, key, "prefix part " + SUBDOMAIN_MSG)
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        errs.invalid(field, key, QUALIFIED_MSG if name and len(name) <= 63 else "name part must be no more than 63 characters")


def _metadata(errs, rtype, meta):
    name = meta.get("name")
    if not name:
        errs.required("metadata.name", "name or generateName is required")
    elif rtype.kind == "Namespace":
        check_label_name(errs, "metadata.name", name)
    else:
        check_subdomain(errs, "metadata.name", name, _CRONJOB_NAME_MAX if rtype.kind == "CronJob" else 253)
        if rtype.kind == "Job" and len(name) > 63:
            errs.invalid("metadata.labels", name, "must be no more than 63 characters")
    if rtype.namespaced and not meta.get("namespace"):
        errs.required("metadata.namespace")
    for key, value in (meta.get("labels") or {}).items():
        _qualified_name(errs, "metadata.labels", key)
        if len(value) > 63:
            errs.invalid("metadata.labels", value, "must be no more than 63 characters")
        elif not _LABEL_VALUE.match(value):
            errs.invalid("metadata.labels", value, LABEL_VALUE_MSG)
    size = 0
    for key, value in (meta.get("annotations") or {}).items():
        _qualified_name(errs, "metadata.annotations", key.lower())
        size += len(key) + len(value)
    if size > MAX_ANNOTATION_BYTES:
        errs.too_long("metadata.annotations", MAX_ANNOTATION_BYTES)


def _data_maps(errs, obj, maps):
    """Key syntax, duplicate keys between maps and the 1 MiB total for ConfigMap/Secret."""
    total = 0
    seen = {}
    for field in maps:
        for key, value in (obj.get(field) or {}).items():
            if len(key) > 253 or not _CONFIG_KEY.match(key):
                errs.invalid("%s[%s]" % (field, key), key, CONFIG_KEY_MSG)
            if key in seen:
                errs.invalid("%s[%s]" % (field, key), key, "duplicate of key present in %s" % seen[key])
            seen[key] = field
            total += len(value) if field != "binaryData" and obj["kind"] == "ConfigMap" else len(_bytes(value))
    return total


def _bytes(value):
    try:
        return decode_base64(value)
    except ValueError:
        return value.encode()


def _immutable_data(errs, obj, old, maps):
    if not old or not old.get("immutable"):
        return
    if not obj.get("immutable"):
        errs.forbidden("immutable", "field is immutable when `immutable` is set")
    for field in maps:
        if (obj.get(field) or {}) != (old.get(field) or {}):
            errs.forbidden(field, "field is immutable when `immutable` is set")


def _configmap(errs, obj, old):
    if _data_maps(errs, obj, ("data", "binaryData")) > MAX_DATA_BYTES:
        errs.append(FieldError("too_long", "[]", detail="must have at most %d bytes" % MAX_DATA_BYTES))
    _immutable_data(errs, obj, old, ("data", "binaryData"))


_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
}


def _secret(errs, obj, old):
    data = obj.get("data") or {}
    if _data_maps(errs, obj, ("data",)) > MAX_DATA_BYTES:
        errs.too_long("data", MAX_DATA_BYTES)
    secret_type = obj.get("type", "Opaque")
    for key in _SECRET_REQUIRED_KEYS.get(secret_type, ()):
        if key not in data:
            errs.required("data[%s]" % key)
    if secret_type == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        errs.required("data[username]")
    for key in (".dockerconfigjson", ".dockercfg"):
        if secret_type.endswith(key.lstrip(".")) and key in data:
            try:
                json.loads(_bytes(data[key]))
            except ValueError as exc:
                errs.invalid("data[%s]" % key, "<secret contents redacted>", str(exc))
    if old is not None and old.get("type", "Opaque") != secret_type:
        errs.invalid("type", secret_type, IMMUTABLE_MSG)
    _immutable_data(errs, obj, old, ("data",))


def _resources(errs, field, resources):
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    for section, values in (("requests", requests), ("limits", limits)):
        for name, value in values.items():
            if quantity.try_parse(value) < 0:
                errs.invalid("%s.%s[%s]" % (field, section, name), str(value), "must be greater than or equal to 0")
    for name in ("cpu", "memory"):
        if name in requests and name in limits and quantity.try_parse(requests[name]) > quantity.try_parse(limits[name]):
            errs.invalid("%s.requests" % field, str(requests[name]), "must be less than or equal to %s limit of %s" % (name, limits[name]))


def _containers(errs, field, containers, names):
    for index, container in enumerate(containers):
        path = "%s[%d]" % (field, index)
        name = container.get("name")
        if not name:
            errs.required(path + ".name")
        else:
            check_label_name(errs, path + ".name", name)
            if name in names:
                errs.append(FieldError("duplicate", path + ".name", name))
            names.add(name)
        if not container.get("image"):
            errs.required(path + ".image")
        policy = container.get("imagePullPolicy")
        if policy not in (None, "Always", "IfNotPresent", "Never"):
            errs.not_supported(path + ".imagePullPolicy", policy, ("Always", "IfNotPresent", "Never"))
        for env_index, env in enumerate(container.get("env") or []):
            env_name = env.get("name") if isinstance(env, dict) else None
            if not env_name:
                errs.required("%s.env[%d].name" % (path, env_index))
            elif not _ENV_NAME.match(env_name):
                errs.invalid("%s.env[%d].name" % (path, env_index), env_name,
                             "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', "
                             "or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or "
                             "'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')")
        for port_index, port in enumerate(container.get("ports") or []):
            number = port.get("containerPort") if isinstance(port, dict) else None
            if number is None:
                errs.required("%s.ports[%d].containerPort" % (path, port_index))
            elif not 1 <= int(number) <= 65535:
                errs.invalid("%s.ports[%d].containerPort" % (path, port_index), number, "must be between 1 and 65535, inclusive")
        _resources(errs, path + ".resources", container.get("resources") or {})


def pod_spec(errs, field, spec, allowed_restart=("Always", "OnFailure", "Never")):
    """Validate a PodSpec at ``field``."""
    if not isinstance(spec, dict):
        spec = {}
    containers = spec.get("containers") or []
    if not containers:
        errs.required(field + ".containers")
    names = set()
    _containers(errs, field + ".containers", containers, names)
    _containers(errs, field + ".initContainers", spec.get("initContainers") or [], names)
    policy = spec.get("restartPolicy")
    if policy not in allowed_restart:
        if policy is None and len(allowed_restart) == 2:
            errs.required(field + ".restartPolicy", "valid values: " + ", ".join('"%s"' % p for p in allowed_restart))
        else:
            errs.not_supported(field + ".restartPolicy", policy, allowed_restart)
    dns = spec.get("dnsPolicy")
    if dns not in (None, "ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"):
        errs.not_supported(field + ".dnsPolicy", dns, ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"))
    volumes = set()
    for index, volume in enumerate(spec.get("volumes") or []):
        name = volume.get("name") if isinstance(volume, dict) else None
        if not name:
            errs.required("%s.volumes[%d].name" % (field, index))
        elif name in volumes:
            errs.append(FieldError("duplicate", "%s.volumes[%d].name" % (field, index), name))
        else:
            check_label_name(errs, "%s.volumes[%d].name" % (field, index), name)
            volumes.add(name)
    for index, ref in enumerate(spec.get("imagePullSecrets") or []):
        if not (isinstance(ref, dict) and ref.get("name")):
            errs.required("%s.imagePullSecrets[%d].name" % (field, index))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and deadline <= 0:
        errs.invalid(field + ".activeDeadlineSeconds", deadline, "must be between 1 and 2147483647, inclusive")
    account = spec.get("serviceAccountName")
    if account:
        check_subdomain(errs, field + ".serviceAccountName", account)


def _selector_matches(errs, field, selector, template_labels):
    if not selector:
        errs.required(field.rsplit(".", 2)[0] + ".selector")
        return
    requirements = parse_labels(label_selector_string(selector))
    if not requirements:
        errs.invalid(field.rsplit(".", 2)[0] + ".selector", selector, "empty selector is invalid for deployment")
    elif not match_labels(requirements, template_labels):
        errs.invalid(field, template_labels, "`selector` does not match template `labels`")


def _non_negative(errs, spec, field, names):
    for name in names:
        value = spec.get(name)
        if value is not None and value < 0:
            errs.invalid("%s.%s" % (field, name), value, "must be greater than or equal to 0")


def job_spec(errs, field, spec, generated_selector=True):
    """Validate a JobSpec at ``field`` (``spec`` or ``spec.jobTemplate.spec``)."""
    if not isinstance(spec, dict):
        spec = {}
    _non_negative(errs, spec, field, ("backoffLimit", "completions", "parallelism", "ttlSecondsAfterFinished"))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and deadline <= 0:
        errs.invalid(field + ".activeDeadlineSeconds", deadline, "must be greater than or equal to 1")
    template = spec.get("template") or {}
    if generated_selector and spec.get("selector"):
        _selector_matches(errs, field + ".template.metadata.labels", spec["selector"], (template.get("metadata") or {}).get("labels"))
    pod_spec(errs, field + ".template.spec", template.get("spec"), ("OnFailure", "Never"))


def _generated_selector(errs, obj):
    """A Job without manualSelector must carry exactly the selector and uid labels made for it."""
    spec = obj.get("spec") or {}
    if spec.get("manualSelector"):
        return
    uid = (obj.get("metadata") or {}).get("uid")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    for key in ("batch.kubernetes.io/controller-uid", "controller-uid"):
        if key in labels and labels[key] != uid:
            errs.invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")
            return
    if spec.get("selector") != {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}:
        errs.invalid("spec.selector", spec.get("selector"), "`selector` not auto-generated")


def _job(errs, obj, old):
    spec = obj.get("spec") or {}
    job_spec(errs, "spec", spec)
    if old is None:
        _generated_selector(errs, obj)
        return
    old_spec = old.get("spec") or {}
    for name in ("template", "selector", "completions", "completionMode"):
        if name == "completions" and spec.get("parallelism") != old_spec.get("parallelism"):
            continue
        if spec.get(name) != old_spec.get(name):
            errs.invalid("spec." + name, spec.get(name), IMMUTABLE_MSG)


def _cronjob(errs, obj, old):
    del old  # every CronJob field is mutable
    spec = obj.get("spec") or {}
    schedule = spec.get("schedule")
    if not schedule:
        errs.required("spec.schedule")
    else:
        if "TZ=" in schedule:
            errs.invalid("spec.schedule", schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
        try:
            cron.Schedule(schedule)
        except cron.CronError as exc:
            errs.invalid("spec.schedule", schedule, str(exc))
    policy = spec.get("concurrencyPolicy")
    if policy not in ("Allow", "Forbid", "Replace"):
        errs.not_supported("spec.concurrencyPolicy", policy, ("Allow", "Forbid", "Replace"))
    _non_negative(errs, spec, "spec", ("successfulJobsHistoryLimit", "failedJobsHistoryLimit", "startingDeadlineSeconds"))
    if "jobTemplate" not in spec:
        errs.required("spec.jobTemplate")
    job_spec(errs, "spec.jobTemplate.spec", (spec.get("jobTemplate") or {}).get("spec"), generated_selector=False)


def _deployment(errs, obj, old):
    spec = obj.get("spec") or {}
    _non_negative(errs, spec, "spec", ("replicas", "revisionHistoryLimit", "minReadySeconds"))
    template = spec.get("template") or {}
    _selector_matches(errs, "spec.template.metadata.labels", spec.get("selector"), (template.get("metadata") or {}).get("labels"))
    pod_spec(errs, "spec.template.spec", template.get("spec"), ("Always",))
    strategy = (spec.get("strategy") or {}).get("type")
    if strategy not in (None, "RollingUpdate", "Recreate"):
        errs.not_supported("spec.strategy.type", strategy, ("Recreate", "RollingUpdate"))
    if old is not None and spec.get("selector") != (old.get("spec") or {}).get("selector"):
        errs.invalid("spec.selector", spec.get("selector"), IMMUTABLE_MSG)


_POD_MUTABLE = ("`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
                "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it "
                "was previously negative)")


def _pod(errs, obj, old):
    pod_spec(errs, "spec", obj.get("spec"))
    if old is None:
        return

    def comparable(spec):
        spec = json.loads(json.dumps(spec or {}))
        for key in ("containers", "initContainers"):
            for container in spec.get(key) or []:
                container.pop("image", None)
        for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
            spec.pop(key, None)
        return spec

    if comparable(obj.get("spec")) != comparable(old.get("spec")):
        errs.forbidden("spec", "pod updates may not change fields other than " + _POD_MUTABLE)


def _serviceaccount(errs, obj, old):
    del old
    for index, ref in enumerate(obj.get("imagePullSecrets") or []):
        if not (isinstance(ref, dict) and ref.get("name")):
            errs.required("imagePullSecrets[%d].name" % index)


def _service(errs, obj, old):
    """The ServiceSpec rules a Service here needs: ports, their names and numbers, the immutable clusterIP."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    ports = spec.get("ports") or []
    if spec.get("type", "ClusterIP") != "ExternalName" and spec.get("clusterIP") != "None" and not ports:
        errs.required("spec.ports")
    names = set()
    for index, port in enumerate(ports):
        where = "spec.ports[%d]" % index
        if not isinstance(port, dict):
            errs.invalid(where, port, "must be an object")
            continue
        if len(ports) > 1 and not port.get("name"):
            errs.required(where + ".name")
        if port.get("name") in names:
            errs.append(FieldError("duplicate", where + ".name", port.get("name")))
        names.add(port.get("name"))
        number = port.get("port")
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
            errs.invalid(where + ".port", number, "must be between 1 and 65535, inclusive")
        if port.get("protocol", "TCP") not in ("TCP", "UDP", "SCTP"):
            errs.not_supported(where + ".protocol", port.get("protocol"), ["SCTP", "TCP", "UDP"])
    if old is not None:
        before = (old.get("spec") or {}).get("clusterIP")
        if before and spec.get("clusterIP") not in (None, "", before):
            errs.invalid("spec.clusterIP", spec.get("clusterIP"), "field is immutable")


_KIND_CHECKS = {"Service": _service, "ConfigMap": _configmap, "Secret": _secret, "Pod": _pod, "Job": _job, "CronJob": _cronjob,
                "Deployment": _deployment, "ServiceAccount": _serviceaccount}


def validate(rtype, obj, old=None):
    """Raise a 422 ApiError listing every problem of ``obj`` (``old`` is the stored object on update)."""
    errs = Errors()
    _metadata(errs, rtype, obj.get("metadata") or {})
    check = _KIND_CHECKS.get(rtype.kind)
    if check:
        check(errs, obj, old)
    if errs:
        raise errors.invalid(rtype, (obj.get("metadata") or {}).get("name", ""), errs)


def pod_spec_of(obj):
    """The PodSpec inside a Pod, Job, CronJob or Deployment (or None)."""
    node = obj
    for key in POD_SPEC_PREFIX.get(obj.get("kind"), ()):
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None
