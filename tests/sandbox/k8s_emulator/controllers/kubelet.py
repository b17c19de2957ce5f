"""The node's kubelet: pulls images (see :mod:`..images`), runs containers for a while, reports status.

A container "runs" for ``SANDBOX_RUN_SECONDS`` (env) or the configured ``pod_run_seconds``, then exits
with ``SANDBOX_EXIT_CODE`` (default 0) having printed ``SANDBOX_LOG`` (or two lines naming the image).
restartPolicy ``OnFailure`` restarts a failed container in place; ``Always`` containers never exit.
Init containers complete instantly once their image is pullable.
"""

import hashlib
import itertools
import time

from .. import errors
from ..util import iso, random_hex
from .common import PODS, env_value, set_condition

_POD_IPS = itertools.count(2)


def exit_code(container):
    """The simulated exit code of a container."""
    try:
        return int(env_value(container, "SANDBOX_EXIT_CODE", 0))
    except ValueError:
        return 1


def container_log(pod, name=None, tail=None):
    """The text a container printed (400 ApiError while it has not started yet)."""
    pod_name = pod["metadata"]["name"]
    containers = (pod["spec"].get("initContainers") or []) + pod["spec"].get("containers", [])
    if name is None:
        main = pod["spec"].get("containers", [])
        if len(main) != 1:
            raise errors.bad_request("a container name must be specified for pod %s, choose one of: [%s]"
                                     % (pod_name, " ".join(c["name"] for c in main)))
        name = main[0]["name"]
    container = next((c for c in containers if c.get("name") == name), None)
    if container is None:
        raise errors.bad_request('container %s is not valid for pod %s' % (name, pod_name))
    statuses = (pod.get("status") or {}).get("containerStatuses", []) + (pod.get("status") or {}).get("initContainerStatuses", [])
    status = next((s for s in statuses if s.get("name") == name), {})
    state = status.get("state") or {}
    if not (state.get("running") or state.get("terminated") or status.get("lastState", {}).get("terminated")):
        reason = (state.get("waiting") or {}).get("reason", "ContainerCreating")
        detail = {"ImagePullBackOff": "trying and failing to pull image", "ErrImagePull": "image can't be pulled"}.get(reason, reason)
        raise errors.ApiError(400, "BadRequest", 'container "%s" in pod "%s" is waiting to start: %s' % (name, pod_name, detail))
    default = "sandbox: container %s started from image %s\n" % (name, container.get("image"))
    text = env_value(container, "SANDBOX_LOG", default)
    if not text.endswith("\n"):
        text += "\n"
    if state.get("terminated") and env_value(container, "SANDBOX_LOG") is None:
        text += "sandbox: container %s exited with code %d\n" % (name, exit_code(container))
    lines = text.splitlines(True)
    return "".join(lines[-tail:]) if tail else text


def _image_id(image):
    if "@" in image:
        return image
    return "%s@sha256:%s" % (image.split("@")[0], hashlib.sha256(image.encode()).hexdigest())


class Kubelet:
    """Drives pods bound to the node through image pull, run and termination."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.started = {}

    def tick(self):
        """One sync pass over the node's live pods."""
        for pod in self.cluster.store.list("pods"):
            if pod["spec"].get("nodeName") != self.cluster.node_name or pod["metadata"].get("deletionTimestamp"):
                continue
            phase = (pod.get("status") or {}).get("phase", "Pending")
            if phase == "Pending":
                self._start(pod)
            elif phase == "Running":
                self._run(pod)
        live = self.cluster.store.uids()
        for key in [k for k in self.started if k[0] not in live]:
            del self.started[key]

    # ------------------------------------------------------------- pulling / starting

    def _record(self, pod, event_type, reason, message, container=None):
        path = "spec.containers{%s}" % container if container else None
        self.cluster.recorder.record(pod, event_type, reason, message, "kubelet", field_path=path)

    def _start(self, pod):
        spec, namespace = pod["spec"], pod["metadata"]["namespace"]
        status = pod.setdefault("status", {})
        status.setdefault("startTime", iso())
        status.setdefault("hostIP", "10.0.0.10")
        status["hostIPs"] = [{"ip": status["hostIP"]}]
        containers = (spec.get("initContainers") or []) + spec.get("containers", [])
        results = {c["name"]: self.cluster.pulls.check(namespace, spec, c["image"]) for c in containers}
        missing = sorted({name for result in results.values() for name in result.missing_secrets})
        if missing:
            self._record(pod, "Warning", "FailedToRetrieveImagePullSecret", "Unable to retrieve some image pull secrets (%s); "
                         "attempting to pull the image may not succeed." % ", ".join(missing))
        set_condition(status, "PodReadyToStartContainers", "True", probe=True)
        if any(not r.ok for r in results.values()):
            self._pull_failed(pod, results)
            return
        for container in containers:
            self._record(pod, "Normal", "Pulling", 'Pulling image "%s"' % container["image"], container["name"])
            self._record(pod, "Normal", "Pulled", 'Successfully pulled image "%s" in 412ms (412ms including waiting). '
                         'Image size: 2592452 bytes.' % container["image"], container["name"])
        status["initContainerStatuses"] = [self._status(c, "terminated", code=0) for c in spec.get("initContainers") or []]
        if not status["initContainerStatuses"]:
            status.pop("initContainerStatuses")
        status["containerStatuses"] = [self._status(c, "running") for c in spec["containers"]]
        status["phase"] = "Running"
        status["podIP"] = status.get("podIP") or "10.244.0.%d" % (next(_POD_IPS) % 250 + 2)
        status["podIPs"] = [{"ip": status["podIP"]}]
        for ctype in ("Initialized", "Ready", "ContainersReady"):
            set_condition(status, ctype, "True", probe=True)
        if self.cluster.api.write_status(PODS, pod):
            now = time.monotonic()
            for container in spec["containers"]:
                self.started[(pod["metadata"]["uid"], container["name"])] = now
                self._record(pod, "Normal", "Created", "Created container: %s" % container["name"], container["name"])
                self._record(pod, "Normal", "Started", "Started container %s" % container["name"], container["name"])

    def _pull_failed(self, pod, results):
        spec, status = pod["spec"], pod["status"]
        previous = {s["name"]: (s.get("state") or {}).get("waiting", {}).get("reason")
                    for s in status.get("containerStatuses", []) + status.get("initContainerStatuses", [])}
        statuses = {}
        for container in (spec.get("initContainers") or []) + spec["containers"]:
            name, image = container["name"], container["image"]
            result = results[name]
            if result.ok:
                statuses[name] = self._status(container, "waiting", reason="PodInitializing")
                continue
            if previous.get(name) in ("ErrImagePull", "ImagePullBackOff"):
                reason, message = "ImagePullBackOff", 'Back-off pulling image "%s": %s: %s' % (image, result.reason, result.message)
                self._record(pod, "Normal", "BackOff", 'Back-off pulling image "%s"' % image, name)
                self._record(pod, "Warning", "Failed", "Error: ImagePullBackOff", name)
            else:
                reason, message = result.reason, result.message
                self._record(pod, "Normal", "Pulling", 'Pulling image "%s"' % image, name)
                self._record(pod, "Warning", "Failed", 'Failed to pull image "%s": %s' % (image, result.message), name)
                self._record(pod, "Warning", "Failed", "Error: %s" % result.reason, name)
            statuses[name] = self._status(container, "waiting", reason=reason, message=message)
        init = [statuses[c["name"]] for c in spec.get("initContainers") or []]
        if init:
            status["initContainerStatuses"] = init
        status["containerStatuses"] = [statuses[c["name"]] for c in spec["containers"]]
        unready = ",".join(c["name"] for c in spec["containers"])
        set_condition(status, "Initialized", "True" if not init else "False", None if not init else "ContainersNotInitialized",
                      None if not init else "containers with incomplete status: [%s]" % " ".join(c["name"] for c in spec["initContainers"]),
                      probe=True)
        set_condition(status, "Ready", "False", "ContainersNotReady", "containers with unready status: [%s]" % unready, probe=True)
        set_condition(status, "ContainersReady", "False", "ContainersNotReady", "containers with unready status: [%s]" % unready,
                      probe=True)
        self.cluster.api.write_status(PODS, pod)

    @staticmethod
    def _status(container, state, reason=None, message=None, code=None, restarts=0):
        image = container["image"]
        entry = {"name": container["name"], "image": image, "imageID": "", "ready": False, "restartCount": restarts,
                 "started": False}
        if state == "waiting":
            waiting = {"reason": reason}
            if message:
                waiting["message"] = message
            entry["state"] = {"waiting": waiting}
            return entry
        entry["imageID"] = _image_id(image)
        entry["containerID"] = "containerd://" + random_hex(64)
        stamp = iso()
        if state == "running":
            entry.update(ready=True, started=True, state={"running": {"startedAt": stamp}})
        else:
            entry["state"] = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                             "startedAt": stamp, "finishedAt": stamp, "containerID": entry["containerID"]}}
        return entry

    # ------------------------------------------------------------- running

    def _run(self, pod):
        spec, status, uid = pod["spec"], pod["status"], pod["metadata"]["uid"]
        policy = spec.get("restartPolicy", "Always")
        containers = {c["name"]: c for c in spec["containers"]}
        now = time.monotonic()
        changed = False
        for entry in status.get("containerStatuses", []):
            running = (entry.get("state") or {}).get("running")
            if not running or policy == "Always":
                continue
            container = containers[entry["name"]]
            started = self.started.setdefault((uid, entry["name"]), now)
            try:
                duration = float(env_value(container, "SANDBOX_RUN_SECONDS", self.cluster.config.pod_run_seconds))
            except ValueError:
                duration = self.cluster.config.pod_run_seconds
            if now - started < duration:
                continue
            changed = True
            code = exit_code(container)
            terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error", "startedAt": running["startedAt"],
                          "finishedAt": iso(), "containerID": entry.get("containerID", "")}
            if code != 0 and policy == "OnFailure":
                entry["restartCount"] = entry.get("restartCount", 0) + 1
                entry["lastState"] = {"terminated": terminated}
                entry["state"] = {"running": {"startedAt": iso()}}
                self.started[(uid, entry["name"])] = now
                self._record(pod, "Warning", "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)"
                             % (entry["name"], pod["metadata"]["name"], pod["metadata"]["namespace"], uid), entry["name"])
            else:
                entry.update(ready=False, started=False, state={"terminated": terminated})
        if not changed:
            return
        entries = status.get("containerStatuses", [])
        if all((e.get("state") or {}).get("terminated") for e in entries):
            failed = any(e["state"]["terminated"]["exitCode"] != 0 for e in entries)
            status["phase"] = "Failed" if failed else "Succeeded"
            for ctype in ("Ready", "ContainersReady"):
                set_condition(status, ctype, "False", "PodCompleted", probe=True)
            set_condition(status, "PodReadyToStartContainers", "False", probe=True)
        self.cluster.api.write_status(PODS, pod)
