# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one Kubernetes Job to completion and say, in one token, why it did not complete.

The DR validate phase retries only what a retry can fix: an image pull that failed (pull credentials
expire; the caller refreshes the pull secret first) and a pod the scheduler could not place for lack
of memory. Everything else (a container that exited non-zero, a bad image name, a config error,
an unschedulable pod for any other reason) is final at once and reported with the pod's own reason.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import decimal
import hashlib
import re
import time

from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError

RUN_ID_LABEL = "signalcraft.io/dr-run-id"
ATTEMPT_LABEL = "signalcraft.io/attempt"
APP_LABEL = "app.kubernetes.io/name"
PULL_REASONS = ("ErrImagePull", "ImagePullBackOff")
# Waiting reasons that mean "still starting", not a failure.
_STARTING_REASONS = ("ContainerCreating", "PodInitializing", "")
RETRYABLE = ("image_pull", "insufficient_memory")
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$")
_FACTORS = {None: 1, "m": decimal.Decimal("0.001"), "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15,
            "E": 10 ** 18, "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}


def parse_quantity(value, option):
    """A Kubernetes resource quantity as a Decimal (``250m`` -> 0.25, ``512Mi`` -> 536870912)."""
    match = _QUANTITY.match(str(value).strip()) if value is not None else None
    if not match:
        raise GuardError("invalid_resources", "dr_validate_%s=%r is not a Kubernetes quantity (e.g. 250m, 1, 512Mi, 2Gi)." % (option, value))
    return decimal.Decimal(match.group(1)) * _FACTORS[match.group(2)]


def resources(request_cpu="250m", request_memory="512Mi", limit_cpu="1", limit_memory="2Gi"):
    """The validate Job's pinned resources; refuses a request above its limit before anything is sent."""
    for name, request, limit in (("cpu", request_cpu, limit_cpu), ("memory", request_memory, limit_memory)):
        if parse_quantity(request, "request_%s" % name) > parse_quantity(limit, "limit_%s" % name):
            raise GuardError("invalid_resources", "dr_validate_request_%s=%s is above dr_validate_limit_%s=%s; lower the request or raise the limit." % (
                name, request, name, limit))
    return {"requests": {"cpu": str(request_cpu), "memory": str(request_memory)},
            "limits": {"cpu": str(limit_cpu), "memory": str(limit_memory)}}


def job_name(prefix, run_id, attempt):
    """``<prefix>-<run_id>-<attempt>``, shortened with a hash to stay a valid 63-character label value."""
    name = "%s-%s-%d" % (prefix, run_id, attempt)
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:8]
    keep = 63 - len(prefix) - len(digest) - len(str(attempt)) - 3
    return "%s-%s%s-%d" % (prefix, run_id[:keep].rstrip("-"), digest, attempt)


def job_manifest(name, namespace, image, run_id, attempt, resource_spec, service_account="jobintel", command=None, args=None,
                 env=None, active_deadline_seconds=None, ttl_seconds_after_finished=3600, app="jobintel-validate"):
    """A batch/v1 Job that runs once (no pod retries: the caller decides what is worth retrying)."""
    labels = {APP_LABEL: app, RUN_ID_LABEL: run_id, ATTEMPT_LABEL: str(attempt)}
    container = {"name": "validate", "image": image, "imagePullPolicy": "IfNotPresent", "resources": resource_spec}
    if command:
        container["command"] = list(command)
    if args:
        container["args"] = list(args)
    if env:
        container["env"] = [{"name": k, "value": str(v)} for k, v in sorted(env.items())]
    spec = {
        "backoffLimit": 0,
        "template": {"metadata": {"labels": dict(labels)},
                     "spec": {"restartPolicy": "Never", "serviceAccountName": service_account, "containers": [container]}},
    }
    if ttl_seconds_after_finished is not None:
        spec["ttlSecondsAfterFinished"] = ttl_seconds_after_finished
    if active_deadline_seconds:
        spec["activeDeadlineSeconds"] = active_deadline_seconds
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": spec}


def _condition(obj, kind):
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return None


def _outcome(category, reason, message, pod=None, exit_code=None):
    return {"outcome": "success" if category == "succeeded" else ("retryable" if category in RETRYABLE else "fatal"),
            "category": category, "pod_reason": reason, "message": message,
            "pod_name": (pod or {}).get("metadata", {}).get("name"), "exit_code": exit_code}


def classify_pod(pod):
    """What a pod of the Job says: None while it is still on its way, else an outcome dict."""
    scheduled = _condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        message = scheduled.get("message") or ""
        category = "insufficient_memory" if "Insufficient memory" in message else "unschedulable"
        return _outcome(category, "FailedScheduling", message, pod)
    status = pod.get("status") or {}
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting:
            reason = waiting.get("reason") or ""
            if reason in PULL_REASONS:
                return _outcome("image_pull", reason, waiting.get("message") or reason, pod)
            if reason not in _STARTING_REASONS:
                return _outcome("container_error", reason, waiting.get("message") or reason, pod)
        if terminated and terminated.get("exitCode") not in (0, None):
            return _outcome("job_failed", terminated.get("reason") or "Error", terminated.get("message") or
                            "container %s exited with code %s" % (container.get("name"), terminated.get("exitCode")),
                            pod, terminated.get("exitCode"))
    if status.get("phase") == "Failed":
        return _outcome("job_failed", status.get("reason") or "Failed", status.get("message") or "pod failed", pod)
    return None


def classify(job, pods):
    """The Job's outcome from the Job and its pods, or None while it is still running."""
    if job is None:
        return _outcome("job_missing", "NotFound", "the Job disappeared while it was being watched")
    complete = _condition(job, "Complete")
    if complete and complete.get("status") == "True":
        return _outcome("succeeded", complete.get("reason") or "Complete", complete.get("message") or "Job completed")
    ordered = sorted(pods, key=lambda p: p.get("metadata", {}).get("creationTimestamp") or "", reverse=True)
    failed = _condition(job, "Failed")
    if failed and failed.get("status") == "True":
        for pod in ordered:
            found = classify_pod(pod)
            if found and found["category"] == "job_failed":
                return found
        if failed.get("reason") == "DeadlineExceeded":
            return _outcome("validate_timeout", "DeadlineExceeded", failed.get("message") or "Job deadline exceeded")
        return _outcome("job_failed", failed.get("reason") or "Failed", failed.get("message") or "Job failed")
    for pod in ordered:
        found = classify_pod(pod)
        if found:
            return found
    return None


class JobRunner:
    """Create one Job, watch it and its pods, classify the result. Uses the client from module_utils/k8s.py."""

    def __init__(self, kubeconfig=None, context=None, sleep=time.sleep, clock=time.time):
        self.api = k8s.api_client(kubeconfig, context)
        self.dyn = k8s.dynamic_client(kubeconfig, context)
        self.jobs = self.dyn.resources.get(api_version="batch/v1", kind="Job")
        self.pods = self.dyn.resources.get(api_version="v1", kind="Pod")
        self.sleep = sleep
        self.clock = clock

    def get_job(self, name, namespace):
        return k8s.get_object(self.dyn, "batch/v1", "Job", name, namespace)

    def list_pods(self, name, namespace):
        return [p.to_dict() for p in self.pods.get(namespace=namespace, label_selector="job-name=%s" % name).items]

    def delete(self, name, namespace, timeout=60, poll=0.5):
        """Delete a Job and its pods (Background propagation) and wait until the Job is gone."""
        try:
            self.jobs.delete(name=name, namespace=namespace, propagation_policy="Background")
        except k8s.NotFoundError:
            return False
        deadline = self.clock() + timeout
        while self.get_job(name, namespace) is not None and self.clock() < deadline:
            self.sleep(poll)
        return True

    def log_tail(self, pod_name, namespace, lines=20):
        if not pod_name:
            return []
        try:
            text = k8s.k8s_client.CoreV1Api(self.api).read_namespaced_pod_log(pod_name, namespace, tail_lines=lines)
        # pylint: disable-next=catching-non-exception  # a tuple of exception classes pylint cannot infer
        except k8s.K8S_ERRORS:
            return []
        return [line for line in str(text).splitlines() if line][-lines:]

    def run(self, manifest, timeout=600, poll=2.0, dry_run=False, delete_retryable=True, progress=None):
        """Run the Job once. An earlier Job of the same name (a rerun) is replaced.

        Returns the classification plus ``job_name``, ``replaced``, ``duration_s`` and ``log_tail``.
        ``progress(waited_s, timeout, final=..., active=, succeeded=, failed=)`` (the module's
        ``ops.progress``) hears each poll of the wait: seconds waited and the Job's pod counts.
        """
        name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
        if dry_run:
            # A rerun replaces the earlier Job; a dry-run create under its name would only say AlreadyExists (409),
            # so the server validates the same Job under a generated name instead.
            exists = self.get_job(name, namespace) is not None
            body = manifest
            if exists:
                body = dict(manifest, metadata=dict(manifest["metadata"], generateName=name[:57] + "-"))
                body["metadata"].pop("name")
            self.jobs.create(body=body, namespace=namespace, dry_run="All")
            return dict(_outcome("succeeded", "DryRun", "server-side dry run accepted the Job"), job_name=name, replaced=exists,
                        duration_s=0.0, log_tail=[], dry_run=True)
        replaced = self.delete(name, namespace) if self.get_job(name, namespace) is not None else False
        started = self.clock()
        # A 5xx on the create may come after the Job was stored: repeated, and an AlreadyExists then is ours.
        k8s.create_once(lambda: self.jobs.create(body=manifest, namespace=namespace), lambda: self.get_job(name, namespace),
                        sleep=self.sleep)
        deadline = started + timeout
        settle_until = None
        while True:
            job = self.get_job(name, namespace)
            found = classify(job, self.list_pods(name, namespace))
            if progress is not None:
                status = (job or {}).get("status") or {}
                progress(int(max(0.0, self.clock() - started)), int(timeout), final=bool(found), active=int(status.get("active") or 0),
                         succeeded=int(status.get("succeeded") or 0), failed=int(status.get("failed") or 0))
            if found and found["category"] == "job_failed" and not _condition(job or {}, "Failed"):
                # The pod failed; give the Job controller a moment to record it so the Job's status agrees.
                settle_until = settle_until or self.clock() + min(10.0, max(0.0, deadline - self.clock()))
                if self.clock() < settle_until:
                    self.sleep(poll)
                    continue
            if found:
                break
            if self.clock() >= deadline:
                found = _outcome("validate_timeout", "Timeout", "the Job did not finish within %ss" % timeout)
                break
            self.sleep(poll)
        if not found.get("pod_name"):
            pods = self.list_pods(name, namespace)
            found["pod_name"] = pods[-1]["metadata"]["name"] if pods else None
        found.update(job_name=name, replaced=replaced, duration_s=round(self.clock() - started, 3), dry_run=False)
        timed_out = found["category"] == "validate_timeout" and found["pod_reason"] == "Timeout"
        wanted_logs = found["category"] in ("job_failed", "succeeded") or timed_out
        found["log_tail"] = self.log_tail(found.get("pod_name"), namespace) if wanted_logs else []
        if found["outcome"] == "retryable" and delete_retryable:
            # A pending pod keeps its memory request and pull loop; the retry starts clean.
            self.delete(name, namespace)
        elif timed_out:
            # We stop waiting, so the Job must stop too: left running it would hold the node's memory
            # and its pods would outlive the drill (a Job without activeDeadlineSeconds never stops).
            found["deleted"] = self.delete(name, namespace)
        return found
