"""cronjob-controller: fires Jobs on schedule (or on demand via the control endpoint), keeps history."""

from .. import cron, errors
from ..util import deep, iso, now, parse_iso
from .common import CRONJOBS, JOBS, condition_true, object_reference, owned_by, owner_reference
from .jobs import finished

_COMPONENT = "cronjob-controller"


class TriggerRefused(Exception):
    """The CronJob cannot run now; ``reason`` is ``suspended`` or ``concurrency-forbidden``."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class CronJobController:
    """Reconciles every CronJob each tick."""

    def __init__(self, cluster):
        self.cluster = cluster
        self._evaluated = {}
        self._saw = set()

    def tick(self):
        """One reconcile pass."""
        store = self.cluster.store
        jobs = store.list("jobs")
        minute = now().replace(second=0, microsecond=0)
        for cronjob in store.list("cronjobs"):
            uid = cronjob["metadata"]["uid"]
            mine = owned_by(jobs, uid)
            self._cleanup(cronjob, mine)
            if not cronjob["spec"].get("suspend") and self._evaluated.get(uid) != minute:
                self._evaluated[uid] = minute
                if self._due(cronjob, minute):
                    try:
                        self.fire(cronjob, minute)
                    except TriggerRefused:
                        pass
                    continue
            self._write_status(cronjob, [j for j in mine if store.get("jobs", j["metadata"]["namespace"], j["metadata"]["name"])])

    @staticmethod
    def _due(cronjob, minute):
        try:
            schedule = cron.Schedule(cronjob["spec"]["schedule"])
        except cron.CronError:
            return False
        last = parse_iso((cronjob.get("status") or {}).get("lastScheduleTime"))
        created = parse_iso(cronjob["metadata"]["creationTimestamp"])
        # Like the real controller, the first run is the first scheduled time after creation.
        return schedule.matches(minute) and (last is None or minute > last) and minute > created

    def fire(self, cronjob, scheduled, manual=False):
        """Create the Job for ``scheduled`` honouring suspend and concurrencyPolicy; returns the Job."""
        spec = cronjob["spec"]
        if spec.get("suspend"):
            raise TriggerRefused("suspended")
        store = self.cluster.store
        namespace = cronjob["metadata"]["namespace"]
        active = [j for j in owned_by(store.list("jobs", namespace), cronjob["metadata"]["uid"]) if not finished(j)]
        policy = spec.get("concurrencyPolicy", "Allow")
        if active and policy == "Forbid":
            self.cluster.recorder.record(cronjob, "Normal", "JobAlreadyActive", "Not starting job because prior execution is "
                                         "running and concurrency policy is Forbid", _COMPONENT)
            raise TriggerRefused("concurrency-forbidden")
        if active and policy == "Replace":
            for job in active:
                self.cluster.api.remove(JOBS, job, "Background")
                self.cluster.recorder.record(cronjob, "Normal", "SuccessfulDelete", "Deleted job %s" % job["metadata"]["name"], _COMPONENT)
            active = []
        minutes = int(scheduled.timestamp() // 60)
        while manual and store.get("jobs", namespace, "%s-%d" % (cronjob["metadata"]["name"], minutes)) is not None:
            minutes += 1  # a second manual run within the same minute takes the next free name
        template = deep(spec.get("jobTemplate") or {})
        meta = template.get("metadata") or {}
        annotations = dict(meta.get("annotations") or {})
        annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] = iso(scheduled)
        body = {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "%s-%d" % (cronjob["metadata"]["name"], minutes), "labels": meta.get("labels") or {},
                             "annotations": annotations, "ownerReferences": [owner_reference(cronjob)]},
                "spec": template.get("spec") or {}}
        try:
            job = self.cluster.api.create(JOBS, namespace, body, "kube-controller-manager")
        except errors.ApiError as exc:
            self.cluster.recorder.record(cronjob, "Warning", "FailedCreate", "Error creating job: %s" % exc.message, _COMPONENT)
            raise
        self.cluster.recorder.record(cronjob, "Normal", "SuccessfulCreate", "Created job %s" % job["metadata"]["name"], _COMPONENT)
        with store.lock:
            current = store.get("cronjobs", namespace, cronjob["metadata"]["name"])
            if current is not None:
                current.setdefault("status", {})["lastScheduleTime"] = iso(scheduled)
                self._write_status(current, active + [job])
        return job

    def trigger(self, namespace, name):
        """The ``/_sandbox/cronjobs/<ns>/<name>/trigger`` action; raises 404 ApiError or TriggerRefused."""
        cronjob = self.cluster.api.get(CRONJOBS, namespace, name)
        return self.fire(cronjob, now().replace(second=0, microsecond=0), manual=True)

    def _write_status(self, cronjob, jobs):
        status = cronjob.setdefault("status", {})
        active = [object_reference(j) for j in jobs if not finished(j)]
        if active:
            status["active"] = active
        else:
            status.pop("active", None)
        done = [parse_iso(j["status"]["completionTime"]) for j in jobs if condition_true(j, "Complete") and j["status"].get("completionTime")]
        if done:
            status["lastSuccessfulTime"] = iso(max(done))
        self.cluster.api.write_status(CRONJOBS, cronjob)

    def _cleanup(self, cronjob, jobs):
        """Delete finished Jobs beyond the history limits (oldest first); note completions as events."""
        spec = cronjob["spec"]
        for ctype, limit in (("Complete", spec.get("successfulJobsHistoryLimit", 3)), ("Failed", spec.get("failedJobsHistoryLimit", 1))):
            done = [j for j in jobs if condition_true(j, ctype)]
            done.sort(key=lambda j: (j["metadata"]["creationTimestamp"], j["metadata"]["name"]))
            for job in done[:max(0, len(done) - (limit or 0))]:
                self.cluster.api.remove(JOBS, job, "Background")
                self.cluster.recorder.record(cronjob, "Normal", "SuccessfulDelete", "Deleted job %s" % job["metadata"]["name"], _COMPONENT)
            for job in done:
                if job["metadata"]["uid"] not in self._saw:
                    self._saw.add(job["metadata"]["uid"])
                    self.cluster.recorder.record(cronjob, "Normal", "SawCompletedJob", "Saw completed job: %s, status: %s"
                                                 % (job["metadata"]["name"], ctype), _COMPONENT)
