# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The daily check's orchestrator part: a partition's flow runs as Prefect records them.

For every ``prefect`` step, the newest flow run of its deployment for the partition: the runs the
pipeline created carry the tag ``<partition_key>=<partition>`` (and ``asset=<asset>``); runs Prefect
started by itself (a schedule, the UI) are matched by their ``partition`` parameter; a promotion's smoke
scoring (tag ``signalcraft-smoke``) never counts. A failed run gets
its failing task and that task's retry count (``run_count - 1``) from its task runs.

``summarise`` is the pure part (tested without a server): the per-step entries and the partition's one
``state``: the first failed step's state type (``FAILED``, ``CRASHED``, ``CANCELLED``), else ``RUNNING``
while a run is not finished, else ``NONE`` when a step has no flow run, else ``COMPLETED``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import executors
from ansible_collections.signalcraft.ops.plugins.module_utils.services import prefect as prefect_service


def _tag_value(tags, name):
    prefix = name + "="
    for tag in tags or ():
        if tag.startswith(prefix):
            return tag[len(prefix):]
    return None


def belongs_to(run, asset, deployment_id, partition_key, partition):
    """True when ``run`` is the step ``asset``'s flow run of the partition (by tags, else by its ``partition`` parameter)."""
    if run.get("deployment_id") != deployment_id:
        return False
    tags = run.get("tags") or []
    if executors.SMOKE_TAG in tags or (run.get("parameters") or {}).get("smoke"):
        return False  # a promotion's smoke scoring of the partition is not its run
    tagged_asset = _tag_value(tags, "asset")
    if tagged_asset is not None and tagged_asset != asset:
        return False
    if executors.partition_tag(partition_key, partition) in tags:
        return True
    return (run.get("parameters") or {}).get("partition") == partition


def _newest(runs):
    return max(runs, key=lambda r: (r.get("expected_start_time") or "", r.get("created") or "", r.get("id") or ""))


def summarise(steps, deployments, runs, partition_key, partition, failing_tasks=None):
    """``{"state", "steps": [...], "failing": [...], "running": [...], "missing": [...]}`` of the prefect steps.

    ``deployments``: asset -> deployment document; ``runs``: flow runs of those deployments;
    ``failing_tasks``: flow run id -> ``prefect_service.failing_task`` of its task runs.
    """
    failing_tasks = failing_tasks or {}
    entries, failing, running, missing = [], [], [], []
    for step in steps:
        if step.get("executor") != "prefect":
            continue
        deployment = deployments[step["asset"]]
        mine = [r for r in runs if belongs_to(r, step["asset"], deployment["id"], partition_key, partition)]
        entry = {"asset": step["asset"], "deployment": step["deployment"], "flow_runs": len(mine)}
        if not mine:
            entry.update(state_type=None, flow_run_id=None)
            missing.append(step["asset"])
            entries.append(entry)
            continue
        run = _newest(mine)
        state = run.get("state") or {}
        entry.update(flow_run_id=run.get("id"), flow_run_name=run.get("name"), state_type=run.get("state_type"),
                     state_name=run.get("state_name"), message=state.get("message"), start_time=run.get("start_time"),
                     end_time=run.get("end_time"), run_id=_tag_value(run.get("tags"), "run_id") or (run.get("parameters") or {}).get("run_id"))
        outcome = prefect_service.step_state(run.get("state_type"))
        if outcome == "failed":
            task = failing_tasks.get(run.get("id"))
            if task:
                entry.update(failing_task=task["task"], task_retries=task["retries"], task_message=task["message"])
            failing.append(entry)
        elif outcome == "running":
            running.append(entry)
        entries.append(entry)
    if failing:
        state = failing[0]["state_type"]
    elif running:
        state = "RUNNING"
    elif missing:
        state = "NONE"
    else:
        state = "COMPLETED"
    return {"state": state, "steps": entries, "failing": failing, "running": running, "missing": missing}


def partition_flow_runs(client, steps, partition_key, partition):
    """The summary of the partition's flow runs read from Prefect (None when no step runs on Prefect)."""
    prefect_steps = [s for s in steps if s.get("executor") == "prefect"]
    if not prefect_steps:
        return None
    deployments = dict((s["asset"], client.deployment(s["deployment"])) for s in prefect_steps)
    ids = sorted(set(d["id"] for d in deployments.values()))
    runs = client.flow_runs(ids, tags=[executors.partition_tag(partition_key, partition)])
    found = set(r.get("deployment_id") for r in runs)
    if any(d["id"] not in found for d in deployments.values()):
        # Runs Prefect started by itself carry no partition tag: look for the partition parameter in the newest runs.
        runs = runs + [r for r in client.flow_runs(ids) if (r.get("parameters") or {}).get("partition") == partition
                       and r.get("id") not in set(x.get("id") for x in runs)]
    summary = summarise(steps, deployments, runs, partition_key, partition)
    failing_tasks = {}
    for entry in summary["failing"]:
        failing_tasks[entry["flow_run_id"]] = prefect_service.failing_task(client.task_runs(entry["flow_run_id"]))
    if failing_tasks:
        summary = summarise(steps, deployments, runs, partition_key, partition, failing_tasks)
    summary["api_url"] = client.api_url
    return summary
