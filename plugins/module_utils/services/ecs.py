# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ECS: task-definition revisions, services rolled to a revision, one-off tasks and their outcome.

Why not community.aws's ecs_taskdefinition/ecs_service/ecs_task: the first registers a new revision
whenever the described definition differs textually from the request (ECS fills in defaults and
reorders nothing, so the comparison is noisy), the second cannot wait for a rollout, and the third
returns before the task has an exit code. Here a revision is derived from the current one, both are
*normalised* (read-only fields and API defaults dropped, environment order ignored) and only a real
difference registers a revision; waits poll with bounded exponential backoff until a deadline.

Nothing here imports Ansible; clients come from ``aws.AwsClientFactory``. Environment values of
secret-looking names and every ``secrets[].valueFrom`` are redacted before they leave this module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import re
import time
import uuid

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import INVENTORY_PLACEHOLDER, GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.redaction import REDACTED, Redactor, is_secret_name
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import error_code as _error_code

# What DescribeTaskDefinition returns that RegisterTaskDefinition does not take.
READ_ONLY_FIELDS = frozenset((
    "taskDefinitionArn", "revision", "status", "registeredAt", "registeredBy", "deregisteredAt",
    "requiresAttributes", "compatibilities", "deleteRequestedAt",
))
# RegisterTaskDefinition's request fields (besides tags), as of botocore 1.44 (a field missing here is
# silently dropped from every derived revision; tests/unit/module_utils/test_ecs.py compares with botocore).
REGISTER_FIELDS = (
    "family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "volumes",
    "placementConstraints", "requiresCompatibilities", "cpu", "memory", "pidMode", "ipcMode",
    "proxyConfiguration", "inferenceAccelerators", "ephemeralStorage", "runtimePlatform", "enableFaultInjection",
    "trustedExecutionConfiguration",
)
# Lists of name/value-ish entries whose order ECS does not give meaning to.
_UNORDERED_BY_NAME = ("environment", "secrets")
_NOT_FOUND_CODES = ("ClientException", "InvalidParameterException")
TERMINAL_TASK_STATUS = "STOPPED"
RUN_ID_ENV = "JOBINTEL_RUN_ID"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
# RunTask's startedBy: "up to 128 letters (uppercase and lowercase), numbers, hyphens (-), forward slash (/), and underscores (_)".
_STARTED_BY = re.compile(r"^[A-Za-z0-9/_-]{1,128}$")


def cluster_argument_spec():
    """The ``cluster`` option of the ECS modules (documented by doc fragment signalcraft.ops.ecs_cluster)."""
    return dict(cluster=dict(type="str", required=True))


def wait_argument_spec():
    """The longest pause of the modules that poll with a growing interval (doc fragment signalcraft.ops.wait)."""
    return dict(wait_max_delay=dict(type="float", default=30))


def validate_wait_timeout(seconds, variable):
    """A wait needs a positive deadline; ``variable`` is the inventory variable that sets it."""
    if seconds <= 0:
        raise OpsError("invalid_input", "wait_timeout must be a positive number of seconds, got %d; fix %s." % (seconds, variable))
    return seconds


class EcsWaitTimeout(OpsError):
    """A wait ran out of time (reason ``wait_timeout``); ``last`` is the last state observed (for the failure message)."""

    reason = "wait_timeout"

    def __init__(self, message, last=None, waited=0.0):
        super(EcsWaitTimeout, self).__init__("wait_timeout", message)
        self.last = last
        self.waited = waited


def _error_message(exc):
    return str(getattr(exc, "response", {}).get("Error", {}).get("Message", exc))


def _iso(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


# ---------------------------------------------------------------- task definitions


def describe_task_definition(ecs, task_definition):
    """DescribeTaskDefinition (``family``, ``family:revision`` or ARN) with its tags.

    Raises GuardError(task_definition_not_found) when ECS does not know it.
    """
    try:
        response = ecs.describe_task_definition(taskDefinition=task_definition, include=["TAGS"])
    except Exception as exc:  # botocore ClientError; its class lives on the client
        if _error_code(exc) not in _NOT_FOUND_CODES:
            raise
        raise GuardError("task_definition_not_found",
                         "task definition %r could not be described (%s: %s); give an existing family, family:revision "
                         "or ARN in this account and region (jobintel_task_family, -e taskdef_rev)." % (task_definition, _error_code(exc), _error_message(exc)))
    return response["taskDefinition"], response.get("tags") or []


def register_request(described):
    """The RegisterTaskDefinition arguments that reproduce ``described`` (a described definition)."""
    return {k: described[k] for k in REGISTER_FIELDS if k in described and described[k] is not None}


def _drop_empty(value):
    """Recursively drop None, empty lists and empty dicts: ECS echoes absent fields back as []/{}."""
    if isinstance(value, dict):
        cleaned = {k: _drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_drop_empty(v) for v in value]
    return value


def _normalise_container(container, network_mode):
    container = dict(container)
    for field in _UNORDERED_BY_NAME:
        if field in container:
            container[field] = sorted(container[field], key=lambda e: (e.get("name", ""), json.dumps(e, sort_keys=True)))
    if container.get("essential", True) is True:
        container.pop("essential", None)  # ECS default
    if container.get("cpu") == 0:
        container.pop("cpu")  # ECS fills in 0 when unset
    mappings = []
    for mapping in container.get("portMappings") or []:
        mapping = dict(mapping)
        if mapping.get("protocol", "tcp") == "tcp":
            mapping.pop("protocol", None)
        if network_mode == "awsvpc" and mapping.get("hostPort") == mapping.get("containerPort"):
            mapping.pop("hostPort", None)  # awsvpc: the host port is the container port
        mappings.append(mapping)
    if mappings:
        container["portMappings"] = mappings
    return container


def normalise(definition):
    """A described definition or register request reduced to what decides the task's behaviour.

    Drops read-only fields, tags and the defaults ECS fills in (empty lists, ``essential: true``,
    container ``cpu: 0``, ``tcp``, awsvpc host ports), orders environment and secrets by name and
    makes task-level ``cpu``/``memory`` strings (the API takes ``512`` and returns ``"512"``).
    """
    result = {k: v for k, v in definition.items() if k not in READ_ONLY_FIELDS and k != "tags"}
    for field in ("cpu", "memory"):
        if result.get(field) is not None:
            result[field] = str(result[field])
    network_mode = result.get("networkMode")
    result["containerDefinitions"] = sorted(
        (_normalise_container(c, network_mode) for c in result.get("containerDefinitions") or []),
        key=lambda c: c.get("name", ""))
    if result.get("requiresCompatibilities"):
        result["requiresCompatibilities"] = sorted(result["requiresCompatibilities"])
    return _drop_empty(result)


def env_value(name, value):
    """An environment value as ECS stores it (a string); refuses booleans, structures and inventory placeholders."""
    if isinstance(value, bool) or isinstance(value, (dict, list)) or value is None:
        raise GuardError("environment_value_invalid",
                         "environment value of %s must be a string or number (got %s); quote it in the inventory, "
                         "e.g. %s: \"1\"." % (name, "null" if value is None else type(value).__name__, name))
    if isinstance(value, str) and value.startswith(INVENTORY_PLACEHOLDER):
        raise GuardError("inventory_placeholder",
                         "environment value of %s is the inventory placeholder %r; fill it in (group_vars of this environment) "
                         "before deploying or running." % (name, value))
    return value if isinstance(value, str) else str(value)


def pick_container(definition, container_name=None):
    """The container to change: ``container_name``, else the only container, else the first essential one."""
    containers = definition.get("containerDefinitions") or []
    if container_name:
        for container in containers:
            if container.get("name") == container_name:
                return container
        raise GuardError("container_not_found", "task definition %s has no container named %r (it has %s); fix jobintel_ecs_container_name." % (
            definition.get("family"), container_name, ", ".join(c.get("name", "?") for c in containers) or "none"))
    if len(containers) == 1:
        return containers[0]
    essential = [c for c in containers if c.get("essential", True)]
    if not essential:
        raise GuardError("container_not_found", "task definition %s has no essential container; set jobintel_ecs_container_name." % definition.get("family"))
    return essential[0]


def desired_request(current, container_name, image=None, environment=None, purge_environment=False, remove_environment=None):
    """Derive the next revision's RegisterTaskDefinition arguments from the current request.

    ``environment`` is an overlay (name -> value) on the container's environment; with
    ``purge_environment`` it replaces it. Names in ``remove_environment`` are dropped. A name that is
    also in the container's ``secrets`` is refused: ECS would start the task with both.
    """
    request = json.loads(json.dumps(current, default=str))  # deep copy; datetimes never reach here
    container = pick_container(request, container_name)
    overlay = {name: env_value(name, value) for name, value in (environment or {}).items()}
    secret_names = set(s.get("name") for s in container.get("secrets") or [])
    clash = sorted(secret_names & set(overlay))
    if clash:
        raise GuardError("environment_conflicts_with_secret",
                         "environment overlay sets %s, which container %s takes from secrets; remove it from the overlay." % (
                             ", ".join(clash), container.get("name")))
    if image is not None:
        container["image"] = image
    existing = [] if purge_environment else list(container.get("environment") or [])
    removed = set(remove_environment or []) | set(overlay)
    merged = [e for e in existing if e.get("name") not in removed]
    merged.extend({"name": name, "value": value} for name, value in sorted(overlay.items()))
    container["environment"] = merged
    return request


def _env_map(container):
    return dict((e.get("name"), e.get("value")) for e in container.get("environment") or [])


def describe_changes(before, after):
    """Human lines naming what differs between two normalised definitions (values of secrets redacted)."""
    changes = []
    before_containers = dict((c.get("name"), c) for c in before.get("containerDefinitions", []))
    after_containers = dict((c.get("name"), c) for c in after.get("containerDefinitions", []))
    for name in sorted(set(before_containers) | set(after_containers)):
        old, new = before_containers.get(name, {}), after_containers.get(name, {})
        if old.get("image") != new.get("image"):
            changes.append("container %s image: %s -> %s" % (name, old.get("image"), new.get("image")))
        old_env, new_env = _env_map(old), _env_map(new)
        for key in sorted(set(old_env) | set(new_env)):
            if old_env.get(key) == new_env.get(key):
                continue
            secret = is_secret_name(key)

            def shown(value, secret=secret):
                if secret and value is not None:
                    return REDACTED
                return Redactor().redact(value)  # a password inside a URL value (DATABASE_URL=postgres://u:pw@h)
            if key not in old_env:
                changes.append("container %s environment %s added (%s)" % (name, key, shown(new_env[key])))
            elif key not in new_env:
                changes.append("container %s environment %s removed" % (name, key))
            else:
                changes.append("container %s environment %s: %s -> %s" % (name, key, shown(old_env[key]), shown(new_env[key])))
        rest_old = dict((k, v) for k, v in old.items() if k not in ("image", "environment"))
        rest_new = dict((k, v) for k, v in new.items() if k not in ("image", "environment"))
        for key in sorted(set(rest_old) | set(rest_new)):
            if rest_old.get(key) != rest_new.get(key):
                changes.append("container %s %s changed" % (name, key))
    for key in sorted((set(before) | set(after)) - {"containerDefinitions"}):
        if before.get(key) != after.get(key):
            changes.append("%s: %s -> %s" % (key, before.get(key), after.get(key)))
    return changes


def redact_definition(definition, secret_values=None):
    """A definition safe to print: secret-named environment values and every secrets.valueFrom hidden."""
    return Redactor(secret_values).redact(definition)


def plan_revision(ecs, family, container_name=None, image=None, environment=None, purge_environment=False,
                  remove_environment=None, base_revision=None):
    """Compare the family's latest ACTIVE revision with the one the inputs describe.

    Returns ``{"current", "current_tags", "request", "before", "after", "changed", "changes"}`` where
    before/after are normalised definitions. Reads only.
    """
    current, tags = describe_task_definition(ecs, family)
    base = current
    if base_revision is not None and int(base_revision) != current["revision"]:
        base, tags = describe_task_definition(ecs, "%s:%d" % (family, int(base_revision)))
    request = desired_request(register_request(base), container_name, image, environment, purge_environment, remove_environment)
    before, after = normalise(register_request(current)), normalise(request)
    return {"current": current, "current_tags": tags, "request": request, "before": before, "after": after,
            "changed": before != after, "changes": describe_changes(before, after)}


def register_revision(ecs, request, tags=None):
    """RegisterTaskDefinition; tags other than AWS-reserved ``aws:`` ones are carried over."""
    kwargs = dict(request)
    kept = [t for t in tags or [] if not str(t.get("key", "")).startswith("aws:")]
    if kept:
        kwargs["tags"] = kept
    return ecs.register_task_definition(**kwargs)["taskDefinition"]


def definition_summary(described):
    """``{"arn", "family", "revision", "status"}`` of a described definition."""
    return {"arn": described["taskDefinitionArn"], "family": described["family"], "revision": described["revision"],
            "status": described.get("status")}


def taskdef_environment(described, container_name=None, secret_values=None):
    """Image, environment and secret names of a revision's containers, redacted for printing.

    Returns ``[{"name", "image", "environment": [{"name", "value"}], "secrets": [{"name", "valueFrom"}]}]``
    with values of secret-looking names and every ``valueFrom`` replaced by ``***REDACTED***``.
    """
    redactor = Redactor(secret_values)
    containers = described.get("containerDefinitions") or []
    if container_name:
        containers = [pick_container(described, container_name)]
    result = []
    for container in containers:
        environment = sorted(container.get("environment") or [], key=lambda e: e.get("name", ""))
        secrets = sorted(container.get("secrets") or [], key=lambda e: e.get("name", ""))
        result.append({
            "name": container.get("name"),
            "image": container.get("image"),
            "environment": [redactor.redact({"name": e.get("name"), "value": e.get("value")}) for e in environment],
            "secrets": [{"name": s.get("name"), "valueFrom": REDACTED} for s in secrets],
        })
    return result


def environment_lines(containers):
    """``KEY=value`` lines (redacted values), one block per container, for operators to read."""
    lines = []
    for container in containers:
        lines.append("container=%s image=%s" % (container["name"], container["image"]))
        lines.extend("%s=%s" % (e["name"], e["value"]) for e in container["environment"])
        lines.extend("%s=<secret %s>" % (s["name"], s["valueFrom"]) for s in container["secrets"])
    return lines


# ---------------------------------------------------------------- polling


class Backoff:
    """Delays for a bounded poll: ``delay``, then growing by ``factor`` up to ``max_delay``.

    Never sleeps past the deadline, so a wait ends within ``timeout`` plus one API call.
    """

    def __init__(self, timeout, delay=5.0, max_delay=30.0, factor=1.5, clock=time.monotonic, sleep=time.sleep):
        if timeout <= 0:
            raise ValueError("wait timeout must be positive, got %r" % timeout)
        self.clock, self._sleep = clock, sleep
        self.started = clock()
        self.deadline = self.started + timeout
        self.delay, self.max_delay, self.factor = max(0.0, delay), max(delay, max_delay), factor
        self.polls = 0

    @property
    def waited(self):
        return round(self.clock() - self.started, 3)

    def expired(self):
        return self.clock() >= self.deadline

    def pause(self):
        """Sleep before the next poll; False when the deadline has passed (do not poll again)."""
        self.polls += 1
        remaining = self.deadline - self.clock()
        if remaining <= 0:
            return False
        self._sleep(min(self.delay, remaining))
        self.delay = min(self.max_delay, self.delay * self.factor)
        return True


# ---------------------------------------------------------------- services


def describe_service(ecs, cluster, service):
    """The ACTIVE service, or GuardError(service_not_found / cluster_not_found)."""
    try:
        response = ecs.describe_services(cluster=cluster, services=[service])
    except Exception as exc:  # botocore ClientError; its class lives on the client
        if _error_code(exc) != "ClusterNotFoundException":
            raise
        raise GuardError("cluster_not_found", "ECS cluster %r does not exist in this account and region (looking for service %r); "
                                              "set jobintel_ecs_cluster to an existing cluster name or ARN." % (
                                                  cluster, service))
    found = [s for s in response.get("services", []) if s.get("status") == "ACTIVE"]
    if not found:
        reasons = ", ".join(f.get("reason", "?") for f in response.get("failures", [])) or "INACTIVE or DRAINING"
        raise GuardError("service_not_found",
                         "service %r in cluster %r is not ACTIVE (%s); create it first or fix the service name." % (service, cluster, reasons))
    return found[0]


def service_state(service):
    """What an operator needs to see about a rollout: counts and the deployments."""
    return {
        "service_arn": service.get("serviceArn"),
        "status": service.get("status"),
        "task_definition": service.get("taskDefinition"),
        "desired_count": service.get("desiredCount"),
        "running_count": service.get("runningCount"),
        "pending_count": service.get("pendingCount"),
        "deployments": [{
            "id": d.get("id"), "status": d.get("status"), "task_definition": d.get("taskDefinition"),
            "desired_count": d.get("desiredCount"), "running_count": d.get("runningCount"),
            "pending_count": d.get("pendingCount"), "failed_tasks": d.get("failedTasks", 0),
            "rollout_state": d.get("rolloutState"), "rollout_state_reason": d.get("rolloutStateReason"),
        } for d in service.get("deployments") or []],
        "events": [e.get("message") for e in (service.get("events") or [])[:5]],
    }


def service_is_stable(service):
    """The ``services_stable`` waiter's success rule: one deployment and runningCount == desiredCount."""
    return len(service.get("deployments") or []) == 1 and service.get("runningCount") == service.get("desiredCount")


def _primary(service):
    return next((d for d in service.get("deployments") or [] if d.get("status") == "PRIMARY"), None)


def _failed_rollout(service, task_definition_arn=None):
    """The deployment whose rollout FAILED: the PRIMARY one, or the one to ``task_definition_arn`` in any status.

    With the deployment circuit breaker's rollback on, ECS marks the failed deployment FAILED and makes
    a new PRIMARY deployment of the previous revision, so the failed one is no longer PRIMARY.
    """
    for deployment in service.get("deployments") or []:
        if deployment.get("rolloutState") != "FAILED":
            continue
        if deployment.get("status") == "PRIMARY" or (task_definition_arn and deployment.get("taskDefinition") == task_definition_arn):
            return deployment
    return None


def update_service(ecs, cluster, service, task_definition_arn, force_new_deployment=False, check_mode=False):
    """Point ``service`` at ``task_definition_arn``; no call when it already runs that revision.

    A ``family:revision`` (or family) is resolved to its ARN first, so the comparison is exact.

    Returns ``(changed, before_state, after_state)``.
    """
    if not task_definition_arn.startswith("arn:"):
        task_definition_arn = describe_task_definition(ecs, task_definition_arn)[0]["taskDefinitionArn"]
    current = describe_service(ecs, cluster, service)
    before = service_state(current)
    if current.get("taskDefinition") == task_definition_arn and not force_new_deployment:
        return False, before, before
    if check_mode:
        after = dict(before, task_definition=task_definition_arn)
        return True, before, after
    updated = ecs.update_service(cluster=cluster, service=service, taskDefinition=task_definition_arn,
                                 forceNewDeployment=bool(force_new_deployment))["service"]
    return True, before, service_state(updated)


def wait_service_stable(ecs, cluster, service, task_definition_arn=None, timeout=600, delay=15.0, max_delay=30.0,
                        clock=time.monotonic, sleep=time.sleep):
    """Poll until the service is stable on ``task_definition_arn`` (the AWS ``services_stable`` rule).

    Stable: one deployment, ``runningCount == desiredCount`` (and, when given, the PRIMARY
    deployment runs ``task_definition_arn``). Fails fast when the service goes away (MISSING,
    DRAINING, INACTIVE) or the deployment circuit breaker marks the rollout FAILED (also after it rolled
    back, when the failed deployment is no longer PRIMARY); raises
    EcsWaitTimeout with the last state otherwise. Returns ``(state, waited_seconds, polls)``.
    """
    backoff = Backoff(timeout, delay=delay, max_delay=max_delay, clock=clock, sleep=sleep)
    while True:
        current = describe_service(ecs, cluster, service)
        state = service_state(current)
        primary = _primary(current) or {}
        failed = _failed_rollout(current, task_definition_arn)
        if failed:
            raise GuardError("service_rollout_failed", "service %s rollout to %s FAILED: %s" % (
                service, failed.get("taskDefinition"), failed.get("rolloutStateReason") or "no reason given"))
        on_target = task_definition_arn is None or primary.get("taskDefinition") == task_definition_arn
        if service_is_stable(current) and on_target:
            return state, backoff.waited, backoff.polls + 1
        if not backoff.pause():
            raise EcsWaitTimeout(
                "service %s in cluster %s was not stable after %ss: %d deployment(s); PRIMARY %s runs %s of %s tasks "
                "(%s failed, rollout %s); the service runs %s of %s desired. Look at the service events and the stopped tasks' "
                "stoppedReason; raise jobintel_ecs_service_wait_timeout if the rollout is only slow." % (
                    service, cluster, timeout, len(state["deployments"]), primary.get("taskDefinition"), primary.get("runningCount"),
                    primary.get("desiredCount"), primary.get("failedTasks", 0), primary.get("rolloutState"),
                    state["running_count"], state["desired_count"]),
                last=state, waited=backoff.waited)


# ---------------------------------------------------------------- one-off tasks


def new_run_id(now=None, task_hint=None):
    """A run id like the workload's own default: ``YYYYMMDDTHHMMSSZ-<8 hex>``."""
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    return "%s-%s" % (moment.strftime("%Y%m%dT%H%M%SZ"), (task_hint or uuid.uuid4().hex)[:8])


def validate_run_id(run_id):
    if not _RUN_ID.match(run_id or ""):
        raise GuardError("run_id_invalid", "run_id %r must be 1-128 of letters, digits, '_', '.', ':', '-' and start alphanumeric." % (run_id,))
    return run_id


def validate_started_by(started_by):
    """Refuse a ``startedBy`` RunTask does not allow (a dot, a space, more than 128 characters); None is fine."""
    if started_by is not None and not _STARTED_BY.match(started_by):
        raise GuardError("started_by_invalid", "started_by %r is not a valid ECS startedBy: use at most 128 letters, digits, '-', '/' "
                                               "and '_' (e.g. signalcraft-ops)." % (started_by,))
    return started_by


def require_cluster(ecs, cluster):
    """The ACTIVE cluster's ARN, or GuardError(cluster_not_found) before anything is started."""
    response = ecs.describe_clusters(clusters=[cluster])
    active = [c for c in response.get("clusters", []) if c.get("status") == "ACTIVE"]
    if not active:
        raise GuardError("cluster_not_found", "ECS cluster %r is not ACTIVE in this account and region; set jobintel_ecs_cluster "
                                              "to an existing cluster name or ARN." % cluster)
    return active[0]["clusterArn"]


def network_configuration(subnets, security_groups, assign_public_ip):
    """RunTask's awsvpc network configuration, or None when no subnets are given."""
    if not subnets:
        return None
    config = {"subnets": list(subnets), "assignPublicIp": "ENABLED" if assign_public_ip else "DISABLED"}
    if security_groups:
        config["securityGroups"] = list(security_groups)
    return {"awsvpcConfiguration": config}


def effective_environment(described, container, overrides_env):
    """The container's environment as the task will see it: definition environment + overrides.

    An override of a name the container takes from ``secrets`` is refused (as deploy refuses it in
    the definition): it would send a secret's stand-in in clear text through RunTask, visible to
    DescribeTasks and CloudTrail, with the same name as the secret.
    """
    target = pick_container(described, container)
    clash = sorted(set(s.get("name") for s in target.get("secrets") or []) & set(overrides_env or {}))
    if clash:
        raise GuardError("environment_conflicts_with_secret",
                         "environment overrides set %s, which container %s takes from secrets; remove them from the run's "
                         "environment (jobintel_run_once_environment or -e run_env)." % (", ".join(clash), target.get("name")))
    env = _env_map(target)
    env.update(overrides_env or {})
    return target.get("name"), env


def run_task_request(cluster, task_definition_arn, container, overrides_env, launch_type=None, capacity_provider_strategy=None,
                     network=None, started_by=None, platform_version=None, propagate_tags=True):
    """RunTask arguments for one task with environment overrides on ``container``."""
    request = {"cluster": cluster, "taskDefinition": task_definition_arn, "count": 1}
    if overrides_env:
        request["overrides"] = {"containerOverrides": [{"name": container, "environment": [
            {"name": k, "value": v} for k, v in sorted(overrides_env.items())]}]}
    if capacity_provider_strategy:
        request["capacityProviderStrategy"] = capacity_provider_strategy
    elif launch_type:
        request["launchType"] = launch_type
    if network:
        request["networkConfiguration"] = network
    if started_by:
        request["startedBy"] = started_by
    if platform_version:
        request["platformVersion"] = platform_version
    if propagate_tags:
        request["propagateTags"] = "TASK_DEFINITION"
    return request


def start_task(ecs, request):
    """RunTask for exactly one task; RunTask's ``failures`` become GuardError(task_not_started)."""
    response = ecs.run_task(**request)
    tasks = response.get("tasks") or []
    if not tasks:
        failures = "; ".join("%s: %s" % (f.get("arn", "?"), f.get("reason", "?")) for f in response.get("failures", [])) or "no task returned"
        raise GuardError("task_not_started", "RunTask started no task on cluster %s (%s); check capacity, subnets and the task definition." % (
            request["cluster"], failures))
    return tasks[0]


def describe_task(ecs, cluster, task_arn):
    """DescribeTasks for one task; GuardError(task_not_found) when ECS does not know it."""
    try:
        response = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])
    except Exception as exc:
        if _error_code(exc) not in ("ClusterNotFoundException", "InvalidParameterException"):
            raise
        raise GuardError("task_not_found", "task %s in cluster %s could not be described (%s); check both ARNs." % (
            task_arn, cluster, _error_code(exc)))
    tasks = response.get("tasks") or []
    if not tasks:
        reasons = ", ".join(f.get("reason", "?") for f in response.get("failures", [])) or "MISSING"
        raise GuardError("task_not_found", "task %s is not in cluster %s (%s); tasks are visible for about an hour after they stop." % (
            task_arn, cluster, reasons))
    return tasks[0]


def task_outcome(task, essential_container=None):
    """Status, exit codes and stop reason of a described task.

    ``exit_code`` is the essential container's (``essential_container`` or the first container that
    reported one non-zero, else the first); null while the task runs or when it never started.
    """
    containers = [{
        "name": c.get("name"), "last_status": c.get("lastStatus"), "exit_code": c.get("exitCode"),
        "reason": c.get("reason"), "image": c.get("image"), "image_digest": c.get("imageDigest"),
    } for c in task.get("containers") or []]
    main = None
    if essential_container:
        main = next((c for c in containers if c["name"] == essential_container), None)
    if main is None:
        main = next((c for c in containers if c["exit_code"] not in (None, 0)), containers[0] if containers else None)
    return {
        "task_arn": task.get("taskArn"), "cluster_arn": task.get("clusterArn"), "task_definition_arn": task.get("taskDefinitionArn"),
        "last_status": task.get("lastStatus"), "desired_status": task.get("desiredStatus"), "stop_code": task.get("stopCode"),
        "stopped_reason": task.get("stoppedReason"), "launch_type": task.get("launchType"),
        "created_at": _iso(task.get("createdAt")), "started_at": _iso(task.get("startedAt")), "stopped_at": _iso(task.get("stoppedAt")),
        "containers": containers, "exit_code": main["exit_code"] if main else None,
        "stopped": task.get("lastStatus") == TERMINAL_TASK_STATUS,
    }


# How long a task RunTask just returned may stay invisible to DescribeTasks (the ECS API is eventually
# consistent; AWS says to poll DescribeTasks with backoff after RunTask) before task_not_found is believed.
NOT_VISIBLE_GRACE_S = 60.0


def wait_task_stopped(ecs, cluster, task_arn, timeout=3600, delay=5.0, max_delay=30.0, clock=time.monotonic, sleep=time.sleep,
                      not_visible_grace=NOT_VISIBLE_GRACE_S):
    """Poll DescribeTasks until STOPPED; EcsWaitTimeout with the last state at the deadline.

    A task not yet visible (MISSING) is polled again for up to ``not_visible_grace`` seconds, since
    DescribeTasks right after RunTask may not know the task yet. Returns ``(described_task, waited_seconds, polls)``.
    """
    backoff = Backoff(timeout, delay=delay, max_delay=max_delay, clock=clock, sleep=sleep)
    seen = False
    while True:
        try:
            task = describe_task(ecs, cluster, task_arn)
        except GuardError as exc:
            if exc.reason != "task_not_found" or seen or backoff.waited >= not_visible_grace or not backoff.pause():
                raise
            continue
        seen = True
        if task.get("lastStatus") == TERMINAL_TASK_STATUS:
            return task, backoff.waited, backoff.polls + 1
        if not backoff.pause():
            raise EcsWaitTimeout(
                "task %s was still %s after %ss; it keeps running (stop it with ecs StopTask, or raise jobintel_run_once_wait_timeout; "
                "run_once_stop_on_timeout=true stops it)." % (task_arn, task.get("lastStatus"), timeout), last=task, waited=backoff.waited)


def failure_code(outcome, health):
    """The code a failed run is filed under: the run's own first failure code, else what ECS says."""
    if health and health.get("failure_codes"):
        return str(health["failure_codes"][0])
    if outcome.get("stop_code") in ("TaskFailedToStart", "SpotInterruption", "ServiceSchedulerInitiated", "UserInitiated"):
        return re.sub(r"(?<!^)(?=[A-Z])", "_", outcome["stop_code"]).lower()  # task_failed_to_start, ...
    if outcome.get("exit_code") is None:
        return "task_no_exit_code"
    return "task_exit_nonzero"
