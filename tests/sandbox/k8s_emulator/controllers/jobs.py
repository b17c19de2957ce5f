"""job-controller: creates pods for Jobs, counts outcomes, sets the terminal conditions, honours TTL."""

from .. import errors
from ..util import deep, iso, now, parse_iso
from .common import JOBS, PODS, TERMINAL_PHASES, condition_true, owned_by, owner_reference, set_condition

_COMPONENT = "job-controller"


def finished(job):
    """Whether the Job has a Complete or Failed condition."""
    return condition_true(job, "Complete") or condition_true(job, "Failed")


class JobController:
    """Reconciles every Job each tick."""

    def __init__(self, cluster):
        self.cluster = cluster

    def tick(self):
        """One reconcile pass."""
        store = self.cluster.store
        pods = store.list("pods")
        for job in store.list("jobs"):
            if job["metadata"].get("deletionTimestamp"):
                continue
            if finished(job):
                self._expire(job)
                continue
            self._sync(job, owned_by(pods, job["metadata"]["uid"]))

    def _expire(self, job):
        """TTL-after-finished controller."""
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        done = parse_iso(job.get("status", {}).get("completionTime")) or parse_iso(
            next((c.get("lastTransitionTime") for c in job["status"].get("conditions", []) if c.get("type") == "Failed"), None))
        if ttl is not None and done and (now() - done).total_seconds() >= ttl:
            self.cluster.api.remove(JOBS, job, "Background")

    def _sync(self, job, pods):
        spec = job["spec"]
        status = job.setdefault("status", {})
        active = [p for p in pods if p.get("status", {}).get("phase") not in TERMINAL_PHASES]
        succeeded = sum(1 for p in pods if p.get("status", {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if p.get("status", {}).get("phase") == "Failed")
        restarts = sum(s.get("restartCount", 0) for p in active for s in p.get("status", {}).get("containerStatuses", []))
        if spec.get("suspend"):
            self._suspend(job, active)
            return
        if condition_true(job, "Suspended"):
            set_condition(status, "Suspended", "False", "JobResumed", "Job resumed")
            self.cluster.recorder.record(job, "Normal", "Resumed", "Job resumed", _COMPONENT)
        status.setdefault("startTime", iso())
        backoff = spec.get("backoffLimit", 6)
        deadline = spec.get("activeDeadlineSeconds")
        elapsed = (now() - parse_iso(status["startTime"])).total_seconds()
        completions = spec.get("completions") or 1
        if deadline is not None and elapsed >= deadline:
            self._fail(job, active, "DeadlineExceeded", "Job was active longer than specified deadline")
        elif failed > backoff or (restarts and restarts >= backoff and spec["template"]["spec"].get("restartPolicy") == "OnFailure"):
            self._fail(job, active, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif succeeded >= completions:
            message = "Reached expected number of succeeded pods"
            set_condition(status, "SuccessCriteriaMet", "True", "CompletionsReached", message)
            set_condition(status, "Complete", "True", "CompletionsReached", message)
            status["completionTime"] = iso()
            self.cluster.recorder.record(job, "Normal", "Completed", "Job completed", _COMPONENT)
        else:
            wanted = min(spec.get("parallelism", 1), completions - succeeded) - len(active)
            for dummy in range(max(0, wanted)):
                pod = self._create_pod(job)
                if pod is not None:
                    active.append(pod)
        status.update(active=len(active), succeeded=succeeded, failed=failed, terminating=0, uncountedTerminatedPods={},
                      ready=sum(1 for p in active if condition_true(p, "Ready")))
        if finished(job):
            status["active"] = 0
            status["ready"] = 0
        for key in ("active", "succeeded", "failed"):
            if not status[key]:
                status.pop(key)
        self.cluster.api.write_status(JOBS, job)

    def _suspend(self, job, active):
        status = job["status"]
        for pod in active:
            self.cluster.api.remove(PODS, pod)
        if not condition_true(job, "Suspended"):
            set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended")
            self.cluster.recorder.record(job, "Normal", "Suspended", "Job suspended", _COMPONENT)
        status.pop("startTime", None)
        status.pop("active", None)
        self.cluster.api.write_status(JOBS, job)

    def _fail(self, job, active, reason, message):
        status = job["status"]
        for pod in active:
            self.cluster.api.remove(PODS, pod)
        set_condition(status, "FailureTarget", "True", reason, message)
        set_condition(status, "Failed", "True", reason, message)
        self.cluster.recorder.record(job, "Warning", reason, message, _COMPONENT)

    def _create_pod(self, job):
        template = deep(job["spec"]["template"])
        meta = template.get("metadata") or {}
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"generateName": job["metadata"]["name"] + "-", "labels": meta.get("labels") or {},
                             "annotations": meta.get("annotations") or {}, "ownerReferences": [owner_reference(job)]},
                "spec": template.get("spec") or {}}
        if not body["metadata"]["annotations"]:
            del body["metadata"]["annotations"]
        try:
            pod = self.cluster.api.create(PODS, job["metadata"]["namespace"], body, "kube-controller-manager")
        except errors.ApiError as exc:
            self.cluster.recorder.record(job, "Warning", "FailedCreate", "Error creating: %s" % exc.message, _COMPONENT)
            return None
        self.cluster.recorder.record(job, "Normal", "SuccessfulCreate", "Created pod: %s" % pod["metadata"]["name"], _COMPONENT)
        return pod
