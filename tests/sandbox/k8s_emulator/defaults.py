"""Defaulting and create-time strategy, as the real apiserver applies them before validation."""

from .schema import POD_SPEC_PREFIX
from .util import dig

JOB_LABELS = ("batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name", "controller-uid", "job-name")


def image_pull_policy(image):
    """``Always`` for ``:latest`` or untagged images, ``IfNotPresent`` otherwise (digests included)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last or last.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def _container(container):
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    if isinstance(container.get("image"), str):
        container.setdefault("imagePullPolicy", image_pull_policy(container["image"]))
    resources = container.setdefault("resources", {})
    if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
        # Limits without requests: the requests default to the limits.
        requests = resources.setdefault("requests", {})
        for name, value in resources["limits"].items():
            requests.setdefault(name, value)
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def pod_spec(spec):
    """SetDefaults_PodSpec plus container defaults."""
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                _container(container)


def _template_spec(obj):
    prefix = POD_SPEC_PREFIX[obj["kind"]]
    spec = dig(obj, *prefix)
    pod_spec(spec)


def _job_spec(spec):
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    if "podFailurePolicy" not in spec:
        spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")


def apply_defaults(obj):
    """Fill the defaults of ``obj`` in place (idempotent)."""
    kind = obj.get("kind")
    spec = obj.get("spec")
    if kind == "Pod":
        pod_spec(spec)
    elif kind == "Secret":
        obj.setdefault("type", "Opaque")
    elif kind == "Namespace":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    elif kind == "Job" and isinstance(spec, dict):
        _job_spec(spec)
        _template_spec(obj)
    elif kind == "CronJob" and isinstance(spec, dict):
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        _template_spec(obj)
    elif kind == "Service" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
    elif kind == "Deployment" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        _template_spec(obj)
    return obj


def qos_class(spec):
    """BestEffort, Burstable or Guaranteed from the containers' requests and limits."""
    containers = [c for c in (spec or {}).get("containers") or [] if isinstance(c, dict)]
    any_set = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        any_set = any_set or bool(requests) or bool(limits)
        for name in ("cpu", "memory"):
            if name not in limits or str(requests.get(name, limits.get(name))) != str(limits[name]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def prepare_create(obj):
    """Create-time strategy: initial status, Job selector and labels (needs ``metadata.uid``)."""
    kind = obj["kind"]
    meta = obj["metadata"]
    if kind == "Pod":
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj.get("spec"))}
    elif kind == "Namespace":
        obj["status"] = {"phase": "Active"}
    elif kind in ("Job", "CronJob", "Deployment"):
        obj["status"] = {}
        meta["generation"] = 1
    elif kind == "Service" and isinstance(obj.get("spec"), dict):
        # k3s's default service CIDR is 10.43.0.0/16; the address is derived from the uid (stable, no allocator).
        spec = obj["spec"]
        if spec.get("clusterIP") in (None, ""):
            digest = int(meta["uid"].replace("-", "")[:8], 16)
            spec["clusterIP"] = "10.43.%d.%d" % ((digest >> 8) % 256, digest % 254 + 1)
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        obj["status"] = {"loadBalancer": {}}
    if kind == "Job" and isinstance(obj.get("spec"), dict):
        spec = obj["spec"]
        if not spec.get("manualSelector"):
            uid = meta["uid"]
            template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
            labels = template_meta.setdefault("labels", {})
            # As the real Job strategy: labels and selector the client already set are kept (a
            # mismatch with this Job's uid is then refused by validation, "`selector` not auto-generated").
            for key, value in zip(JOB_LABELS, (uid, meta["name"], uid, meta["name"])):
                labels.setdefault(key, value)
            selector = spec.get("selector") if isinstance(spec.get("selector"), dict) else {}
            match = selector.setdefault("matchLabels", {})
            match.setdefault("batch.kubernetes.io/controller-uid", uid)
            spec["selector"] = selector
            if not meta.get("labels"):
                meta["labels"] = dict(labels)
