"""Give ECS services created through the layer a rollout that behaves like ECS's rolling update.

moto 5.2.5 creates a service with ``runningCount`` 0 that never starts a task (so it never becomes
stable), and UpdateService with a new task definition keeps the one old deployment (storing the
task definition as given, not as an ARN). ECS instead starts a new PRIMARY deployment, keeps the
old one ACTIVE until the new tasks run, then drains it. The layer tracks each service's
deployments and rewrites CreateService/UpdateService/DescribeServices responses; every
DescribeServices call advances each tracked rollout by one step:

* the PRIMARY deployment starts one task (``runningCount`` + 1) until it reaches ``desiredCount``;
* then the ACTIVE (old) deployments drain and disappear, and the rollout is ``COMPLETED``.

So a service with ``desiredCount`` N is stable (one deployment, runningCount == desiredCount, the
``services_stable`` waiter's rule) on the (N + 1)-th DescribeServices after the change.

A task definition whose essential container has ``SANDBOX_SERVICE_ROLLOUT=stuck`` in its environment
never gets a task running: each step adds one to the PRIMARY deployment's ``failedTasks`` and the
rollout stays ``IN_PROGRESS`` (no circuit breaker), as a crash-looping image would.
"""

import json
import threading
import uuid
from datetime import datetime, timezone

from . import moto_access

STUCK_ENV = "SANDBOX_SERVICE_ROLLOUT"


def _now():
    return datetime.now(timezone.utc).timestamp()


class EcsServices:
    """Deployments of services created through the layer, keyed by service ARN."""

    def __init__(self):
        self._services = {}
        self._lock = threading.RLock()

    def rewrite(self, operation, request_body, response_body):
        handler = {"CreateService": self._create, "UpdateService": self._update,
                   "DescribeServices": self._describe, "DeleteService": self._delete}.get(operation)
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

    @staticmethod
    def _resolve(service_json, task_definition):
        """(ARN, stuck) of a task definition given as family, family:revision or ARN."""
        arn = service_json["serviceArn"]
        account_id, region = arn.split(":")[4], arn.split(":")[3]
        definition = moto_access.task_definition(account_id, region, task_definition)
        main = next((c for c in definition["containers"] if c.get("essential", True)), definition["containers"][0])
        env = {e.get("name"): e.get("value") for e in main.get("environment") or []}
        td_arn = "arn:aws:ecs:%s:%s:task-definition/%s:%s" % (region, account_id, definition["family"], definition["revision"])
        return td_arn, env.get(STUCK_ENV) == "stuck"

    @staticmethod
    def _deployment(service_json, task_definition_arn, desired, stuck):
        now = _now()
        deployment_id = "ecs-svc/%d" % (uuid.uuid4().int % (10 ** 18))
        return {
            "id": deployment_id, "status": "PRIMARY", "taskDefinition": task_definition_arn, "desiredCount": desired,
            "pendingCount": desired, "runningCount": 0, "failedTasks": 0, "createdAt": now, "updatedAt": now,
            "launchType": service_json.get("launchType"), "networkConfiguration": service_json.get("networkConfiguration"),
            "rolloutState": "IN_PROGRESS", "rolloutStateReason": "ECS deployment %s in progress." % deployment_id,
            "_stuck": stuck,
        }

    def _create(self, _request, response):
        service_json = response.get("service") or {}
        if not service_json.get("taskDefinition"):
            return
        td_arn, stuck = self._resolve(service_json, service_json["taskDefinition"])
        self._services[service_json["serviceArn"]] = {
            "desired": service_json.get("desiredCount", 0),
            "deployments": [self._deployment(service_json, td_arn, service_json.get("desiredCount", 0), stuck)],
        }
        self._render(service_json)

    def _update(self, request, response):
        service_json = response.get("service") or {}
        tracked = self._services.get(service_json.get("serviceArn"))
        if tracked is None:
            return
        if request.get("desiredCount") is not None:
            tracked["desired"] = int(request["desiredCount"])
        primary = tracked["deployments"][0]
        new_td = primary["taskDefinition"]
        stuck = primary["_stuck"]
        if request.get("taskDefinition"):
            new_td, stuck = self._resolve(service_json, request["taskDefinition"])
        if new_td != primary["taskDefinition"] or request.get("forceNewDeployment"):
            for old in tracked["deployments"]:
                old["status"] = "ACTIVE"
            tracked["deployments"].insert(0, self._deployment(service_json, new_td, tracked["desired"], stuck))
        tracked["deployments"][0]["desiredCount"] = tracked["desired"]
        self._render(service_json)

    def _describe(self, _request, response):
        for service_json in response.get("services", []):
            tracked = self._services.get(service_json.get("serviceArn"))
            if tracked is None or service_json.get("status") != "ACTIVE":
                continue
            self._step(tracked)
            self._render(service_json)

    def _delete(self, _request, response):
        service_json = response.get("service") or {}
        self._services.pop(service_json.get("serviceArn"), None)

    @staticmethod
    def _step(tracked):
        """One scheduler step: start a PRIMARY task, or (once PRIMARY is at desired) drain the old ones."""
        deployments = tracked["deployments"]
        primary = deployments[0]
        now = _now()
        if primary["_stuck"] and primary["desiredCount"] > 0:
            primary["failedTasks"] += 1
            primary["updatedAt"] = now
            return
        if primary["runningCount"] < primary["desiredCount"]:
            primary["runningCount"] += 1
        elif primary["runningCount"] > primary["desiredCount"]:
            primary["runningCount"] -= 1
        elif len(deployments) > 1:
            deployments.pop()  # the oldest ACTIVE deployment has drained
        primary["pendingCount"] = max(0, primary["desiredCount"] - primary["runningCount"])
        primary["updatedAt"] = now
        if len(deployments) == 1 and primary["runningCount"] == primary["desiredCount"]:
            primary["rolloutState"] = "COMPLETED"
            primary["rolloutStateReason"] = "ECS deployment %s completed." % primary["id"]

    def _render(self, service_json):
        tracked = self._services.get(service_json.get("serviceArn"))
        if tracked is None:
            return
        deployments = [{k: v for k, v in d.items() if not k.startswith("_")} for d in tracked["deployments"]]
        service_json["deployments"] = deployments
        service_json["taskDefinition"] = deployments[0]["taskDefinition"]
        service_json["desiredCount"] = tracked["desired"]
        service_json["runningCount"] = sum(d["runningCount"] for d in deployments)
        service_json["pendingCount"] = sum(d["pendingCount"] for d in deployments)
