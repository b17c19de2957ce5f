"""Give ECS tasks run through the layer a real outcome, decided by their effective environment.

moto starts every task, walks it RUNNING -> ... -> STOPPED over four DescribeTasks calls and always
reports exit code 0. The layer remembers each task at RunTask (its effective environment: task
definition container env overlaid with ``overrides.containerOverrides[].environment``) and rewrites
RunTask/DescribeTasks/StopTask responses:

* while the task is not STOPPED, containers carry no ``exitCode`` (as in ECS);
* once STOPPED: the essential container's ``exitCode``, ``stopCode`` ``EssentialContainerExited``,
  ``stoppedReason``, ``stoppedAt``; the first time a task is seen STOPPED its artifacts are written
  to ``s3://$JOBINTEL_S3_BUCKET/$JOBINTEL_S3_PREFIX/outbox/<run_id>/`` (once), as the container would.

The README of this package holds the environment contract.
"""

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from . import jobintel, moto_access

STOP_CODE = "EssentialContainerExited"
DEFAULT_STOP_REASON = "Essential container in task exited"
USER_STOP_CODE = "UserInitiated"
USER_STOP_EXIT_CODE = 143  # the container honoured SIGTERM
METADATA_PATH = "/_sandbox/ecs-task-metadata/"


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _env_dict(pairs):
    return {item["name"]: item.get("value", "") for item in pairs or [] if "name" in item}


def effective_containers(definition, overrides):
    """Container list ``[{"name", "image", "essential", "environment": {...}}]`` after RunTask overrides."""
    by_name = {item.get("name"): _env_dict(item.get("environment")) for item in (overrides or {}).get("containerOverrides", [])}
    containers = []
    for container in definition["containers"]:
        env = _env_dict(container.get("environment"))
        env.update(by_name.get(container.get("name"), {}))
        containers.append({"name": container.get("name"), "image": container.get("image"),
                           "essential": container.get("essential", True), "environment": env})
    return containers


@dataclass
class TrackedTask:
    """A task started through the layer and what it will do."""

    arn: str
    cluster_arn: str
    task_definition_arn: str
    family: str
    revision: int
    containers: list
    started_at: datetime
    launch_type: str = "FARGATE"
    stopped_at: Optional[datetime] = None
    user_stop_reason: Optional[str] = None
    artifacts: Optional[dict] = None

    @property
    def task_id(self):
        """Last segment of the task ARN."""
        return self.arn.rsplit("/", 1)[-1]

    @property
    def main(self):
        """The first essential container: its exit decides the task."""
        return next((c for c in self.containers if c["essential"]), self.containers[0])

    @property
    def env(self):
        """The main container's effective environment."""
        return self.main["environment"]

    @property
    def run_id(self):
        """``$JOBINTEL_RUN_ID`` or ``<start YYYYMMDDTHHMMSSZ>-<first 8 chars of the task id>``."""
        return self.env.get("JOBINTEL_RUN_ID") or "%s-%s" % (self.started_at.strftime("%Y%m%dT%H%M%SZ"), self.task_id[:8])

    @property
    def partition_outcome(self):
        """This task's entry of ``SANDBOX_PARTITION_OUTCOMES`` (a JSON object keyed by ``<PIPELINE_PARTITION>#<PIPELINE_ATTEMPT>``
        or ``<PIPELINE_PARTITION>``, the former first; values ``{"exit_code": n, "stop_reason": "..."}``), or {}: the
        tasks of a pipeline step share one environment, and this lets each partition (and attempt) end its own way."""
        try:
            table = json.loads(self.env.get("SANDBOX_PARTITION_OUTCOMES") or "{}")
        except ValueError:
            return {}
        partition = self.env.get("PIPELINE_PARTITION") or ""
        found = table.get("%s#%s" % (partition, self.env.get("PIPELINE_ATTEMPT") or "")) or table.get(partition) if partition else None
        return found if isinstance(found, dict) else {}

    @property
    def exit_code(self):
        """``SANDBOX_EXIT_CODE`` (or the task's partition outcome), else 1 for a forced failure stage, else 0 (143 after StopTask)."""
        if self.user_stop_reason is not None:
            return USER_STOP_EXIT_CODE
        if isinstance(self.partition_outcome.get("exit_code"), int):
            return self.partition_outcome["exit_code"]
        explicit = (self.env.get("SANDBOX_EXIT_CODE") or "").strip()
        if explicit.lstrip("-").isdigit():
            return int(explicit)
        return 1 if self.env.get("JOBINTEL_FORCE_FAIL_STAGE") else 0

    @property
    def stopped_reason(self):
        """What DescribeTasks reports as ``stoppedReason``."""
        if self.user_stop_reason is not None:
            return self.user_stop_reason
        return self.partition_outcome.get("stop_reason") or self.env.get("SANDBOX_STOP_REASON") or DEFAULT_STOP_REASON


def _epoch(moment):
    return moment.timestamp() if moment else None


def _image_id(image):
    if "@sha256:" in (image or ""):
        return "sha256:" + image.rsplit("@sha256:", 1)[1]
    return "sha256:" + hashlib.sha256((image or "").encode("utf-8")).hexdigest()


class EcsOutcomes:
    """Registry of tracked tasks; rewrites ECS responses and writes task artifacts."""

    def __init__(self):
        self._tasks = {}
        self._lock = threading.RLock()

    def rewrite(self, operation, request_body, response_body):
        """Rewrite a successful RunTask/DescribeTasks/StopTask response body; other operations pass."""
        handler = {"RunTask": self._run_task, "DescribeTasks": self._describe_tasks, "StopTask": self._stop_task}.get(operation)
        if handler is None:
            return response_body
        try:
            request = json.loads(request_body or b"{}")
            response = json.loads(response_body)
        except ValueError:
            return response_body
        with self._lock:
            handler(request, response)
        return json.dumps(response).encode("utf-8")

    def _run_task(self, request, response):
        for task_json in response.get("tasks", []):
            arn = task_json["taskArn"]
            account_id, region = arn.split(":")[4], arn.split(":")[3]
            definition = moto_access.task_definition(account_id, region, task_json["taskDefinitionArn"])
            tracked = TrackedTask(
                arn=arn, cluster_arn=task_json.get("clusterArn", ""), task_definition_arn=task_json["taskDefinitionArn"],
                family=definition["family"], revision=definition["revision"],
                containers=effective_containers(definition, request.get("overrides")), started_at=datetime.now(timezone.utc),
                launch_type=task_json.get("launchType") or "FARGATE")
            self._tasks[arn] = tracked
            self._render(task_json, tracked)

    def _describe_tasks(self, _request, response):
        for task_json in response.get("tasks", []):
            tracked = self._tasks.get(task_json.get("taskArn"))
            if tracked is not None:
                self._render(task_json, tracked)

    def _stop_task(self, request, response):
        task_json = response.get("task") or {}
        tracked = self._tasks.get(task_json.get("taskArn"))
        if tracked is None:
            return
        if tracked.stopped_at is None and tracked.user_stop_reason is None:
            tracked.user_stop_reason = request.get("reason") or "Task stopped by user"
        self._render(task_json, tracked)

    def _render(self, task_json, tracked):
        task_json.setdefault("createdAt", _epoch(tracked.started_at))
        task_json.setdefault("startedAt", _epoch(tracked.started_at))
        containers = task_json.get("containers", [])
        for container in containers:
            container["taskArn"] = tracked.arn  # moto puts the task definition ARN here
        if task_json.get("lastStatus") != "STOPPED":
            for container in containers:
                container.pop("exitCode", None)
                container["lastStatus"] = "RUNNING" if task_json.get("lastStatus") == "RUNNING" else container.get("lastStatus")
            return
        self._finish(tracked)
        stopped = _epoch(tracked.stopped_at)
        task_json.update({
            "desiredStatus": "STOPPED", "stoppedReason": tracked.stopped_reason, "stoppedAt": stopped, "stoppingAt": stopped,
            "executionStoppedAt": stopped, "stopCode": USER_STOP_CODE if tracked.user_stop_reason is not None else STOP_CODE,
        })
        for container in containers:
            container["lastStatus"] = "STOPPED"
            container["exitCode"] = tracked.exit_code if container.get("name") == tracked.main["name"] else 0

    def _finish(self, tracked):
        """First sight of STOPPED: fix the stop time and write the artifacts, exactly once."""
        if tracked.stopped_at is not None:
            return
        tracked.stopped_at = datetime.now(timezone.utc)
        tracked.artifacts = write_artifacts(tracked)

    def find(self, task_id):
        """The tracked task with this id (or full ARN), or None."""
        with self._lock:
            return next((t for t in self._tasks.values() if task_id in (t.task_id, t.arn)), None)

    def summaries(self, base_url):
        """One JSON-able row per tracked task, for ``GET /_sandbox/ecs-tasks``."""
        with self._lock:
            tasks = list(self._tasks.values())
        return [{
            "task_arn": t.arn, "task_id": t.task_id, "cluster_arn": t.cluster_arn, "task_definition_arn": t.task_definition_arn,
            "run_id": t.run_id, "exit_code": t.exit_code, "stopped": t.stopped_at is not None,
            "started_at": _iso(t.started_at), "stopped_at": _iso(t.stopped_at) if t.stopped_at else None,
            "metadata_uri": base_url + METADATA_PATH + t.task_id, "artifacts": t.artifacts,
        } for t in tasks]


def write_artifacts(tracked):
    """Write the run's files to the outbox like the real container; returns what was written.

    Nothing is written without ``JOBINTEL_S3_BUCKET``, after StopTask (the container was killed), or
    with ``SANDBOX_SKIP_ARTIFACTS=1`` (a container that died before it could write anything).
    """
    env = tracked.env
    bucket = env.get("JOBINTEL_S3_BUCKET")
    if not bucket or tracked.user_stop_reason is not None or env.get("SANDBOX_SKIP_ARTIFACTS") == "1":
        return None
    spec = jobintel.run_spec_from_env(env, default_run_id=tracked.run_id, started_at=_iso(tracked.started_at),
                                      finished_at=_iso(tracked.stopped_at), image=tracked.main["image"], task_arn=tracked.arn)
    prefix = jobintel.join_key(env.get("JOBINTEL_S3_PREFIX", ""), "outbox", spec.run_id)
    account_id = tracked.arn.split(":")[4]
    keys, error = [], None
    try:
        for relative, data in sorted(jobintel.run_files(spec).items()):
            key = jobintel.join_key(prefix, relative)
            moto_access.put_object(account_id, bucket, key, data)
            keys.append(key)
    except moto_access.StoreError as exc:
        error = str(exc)
    return {"bucket": bucket, "prefix": prefix + "/", "run_id": spec.run_id, "keys": keys, "error": error}


def _container_metadata(tracked, container):
    known = "STOPPED" if tracked.stopped_at else "RUNNING"
    return {
        "DockerId": hashlib.sha256((tracked.arn + container["name"]).encode("utf-8")).hexdigest()[:32],
        "Name": container["name"], "DockerName": "ecs-%s-%s-%s" % (tracked.family, tracked.revision, container["name"]),
        "Image": container["image"], "ImageID": _image_id(container["image"]), "KnownStatus": known, "DesiredStatus": known,
        "Type": "NORMAL", "Labels": {
            "com.amazonaws.ecs.cluster": tracked.cluster_arn, "com.amazonaws.ecs.container-name": container["name"],
            "com.amazonaws.ecs.task-arn": tracked.arn, "com.amazonaws.ecs.task-definition-family": tracked.family,
            "com.amazonaws.ecs.task-definition-version": str(tracked.revision),
        },
    }


def container_metadata(tracked):
    """v4 ``$ECS_CONTAINER_METADATA_URI_V4`` document for the main container."""
    return _container_metadata(tracked, tracked.main)


def task_metadata(tracked):
    """v4 ``$ECS_CONTAINER_METADATA_URI_V4/task`` document."""
    region = tracked.arn.split(":")[3]
    known = "STOPPED" if tracked.stopped_at else "RUNNING"
    return {
        "Cluster": tracked.cluster_arn, "TaskARN": tracked.arn, "Family": tracked.family, "Revision": str(tracked.revision),
        "DesiredStatus": known, "KnownStatus": known, "LaunchType": tracked.launch_type, "AvailabilityZone": region + "a",
        "PullStartedAt": _iso(tracked.started_at), "Containers": [_container_metadata(tracked, c) for c in tracked.containers],
    }
