#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: jobintel_runs
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: List a candidate's runs, show one run's health and provider availability, list its artifacts
description:
  - Replaces C(python -m jobintel.cli runs list|show|artifacts --candidate-id <id>).
  - Runs are read from the artifact bucket, under C(<prefix>/runs/<run_id>/) (published) and
    C(<prefix>/outbox/<run_id>/) (written by the ECS task, not yet published). A run present in both
    is reported once, from the first source in O(sources).
  - Runs are not keyed by candidate in S3; C(run_summary.v1.json) names the candidate, so
    O(candidate_id) filters on that field.
  - V(show) reads C(run_health.v1.json) (C(status), C(failed_stage), C(failure_codes)),
    C(run_summary.v1.json) and C(artifacts/provider_availability_v1.json), and classifies every
    provider as the failure playbook does (policy block, network issue, config disable, fail-closed
    early failure, available, or unknown). It also reports broken invariants (a missing document,
    a status mismatch, an early failure that is not fail-closed) as C(findings).
  - V(artifacts) lists the run's objects and what is missing from them.
  - Reads only. Inspecting a failed run succeeds; the module fails only when it cannot inspect
    (unknown run id, wrong candidate, unreadable bucket, corrupt JSON).
options:
  action:
    description:
      - V(list) the newest O(limit) runs, V(show) one run, or list one run's V(artifacts).
    type: str
    required: true
    choices: [list, show, artifacts]
  run_id:
    description:
      - The run to show or whose artifacts to list. Required for V(show) and V(artifacts).
      - V(list) orders runs by time, never as strings - by the UTC timestamp a run id begins with
        (C(YYYYMMDDTHHMMSSZ)), else by C(started_at) in the run's C(run_summary.v1.json) (C(manual-1)).
    type: str
  candidate_id:
    description:
      - Only runs whose C(run_summary.v1.json) names this candidate. With V(show) and V(artifacts),
        a run of another candidate is refused (C(run_candidate_mismatch)).
      - Omit to see every candidate's runs.
    type: str
  limit:
    description:
      - How many runs V(list) returns, newest first.
    type: int
    default: 5
  sources:
    description:
      - Where to look for runs, in order of preference.
    type: list
    elements: str
    choices: [published, outbox]
    default: [published, outbox]
seealso:
  - module: signalcraft.ops.receipt
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt, signalcraft.ops.read_only, signalcraft.ops.s3_location]
"""

EXAMPLES = r"""
- name: List the newest five runs of candidate local
  signalcraft.ops.jobintel_runs:
    action: list
    bucket: jobintel-prod1
    prefix: jobintel
    candidate_id: local
  register: runs

- name: Show why a run failed
  signalcraft.ops.jobintel_runs:
    action: show
    bucket: jobintel-prod1
    prefix: jobintel
    run_id: 20260101T060000Z
    candidate_id: local
  register: run

- name: Print the provider classification
  ansible.builtin.debug:
    msg: "{{ run.lines }}"

- name: List a run's artifacts and what is missing from them
  signalcraft.ops.jobintel_runs:
    action: artifacts
    bucket: jobintel-prod1
    prefix: jobintel
    run_id: 20260101T060000Z
  register: artifacts
"""

RETURN = r"""
status:
  description: C(ok) or C(fail).
  returned: always
  type: str
outputs:
  description: What was found.
  returned: always
  type: dict
  contains:
    lines:
      description: A human summary, one line per run or per finding, in the failure playbook's order.
      returned: always
      type: list
      elements: str
      sample: ["run 20260101T060000Z status=failed failed_stage=scrape failure_codes=FORCED_FAILURE"]
    runs:
      description:
        - V(list) only. Newest first; each with C(run_id), C(candidate_id), C(status) (run_health's),
          C(summary_status), C(failed_stage), C(failure_codes), C(started_at), C(finished_at),
          C(providers), C(profiles), C(source), C(sources), C(uri) and C(is_last_success).
      returned: when action=list
      type: list
      elements: dict
    unattributed:
      description: V(list) only. Runs without a readable C(run_summary.v1.json) (no candidate known), with C(run_id), C(source), C(uri).
      returned: when action=list
      type: list
      elements: dict
    scanned:
      description: V(list) only. How many run summaries were read.
      returned: when action=list
      type: int
    total_run_ids:
      description: V(list) only. How many run ids exist in O(sources).
      returned: when action=list
      type: int
    last_success:
      description: V(list) only. The C(state/last_success.json) pointer's C(run_id) and C(published_at), or null.
      returned: when action=list
      type: dict
      sample: {"run_id": "20260101T060000Z", "published_at": "2026-01-01T06:05:00Z"}
    run:
      description:
        - V(show) and V(artifacts). C(run_id), C(candidate_id), C(source), C(uri), C(status), C(summary_status),
          C(health_status), C(failed_stage), C(failure_codes), C(failure_code_meanings), C(stages),
          C(started_at), C(finished_at), C(profiles), C(provenance), C(run_health_path), C(headline),
          C(next_steps), C(findings) (each C(code), C(detail)), C(provider_categories) (count per category) and
          C(providers), each with C(provider), C(enabled), C(availability), C(reason_code), C(category)
          (available, policy_block, network_issue, config_disable, early_failure, unknown), C(meaning),
          C(owner), C(fail_closed) and C(detail).
      returned: when action is show or artifacts
      type: dict
    artifacts:
      description: V(artifacts) only. Each object with C(key) (relative to the run), C(uri), C(size), C(etag), C(last_modified), C(kind).
      returned: when action=artifacts
      type: list
      elements: dict
    missing:
      description: V(artifacts) only. Required run documents and expected outputs that are absent.
      returned: when action=artifacts
      type: list
      elements: str
    count:
      description: V(artifacts) only. Number of objects.
      returned: when action=artifacts
      type: int
    total_size:
      description: V(artifacts) only. Bytes in all objects.
      returned: when action=artifacts
      type: int
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import validate_s3_prefix
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import layout
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import runs
from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection
from ansible_collections.signalcraft.ops.plugins.module_utils.services.s3 import location_argument_spec

ARGUMENT_SPEC = dict(
    **location_argument_spec(),
    action=dict(type="str", required=True, choices=["list", "show", "artifacts"]),
    run_id=dict(type="str"),
    candidate_id=dict(type="str"),
    limit=dict(type="int", default=5),
    sources=dict(type="list", elements="str", choices=list(runs.SOURCES), default=list(runs.SOURCES)),
)


def check_bucket(bucket):
    if not (bucket or "").strip():
        raise OpsError("bucket_unset", "jobintel_bucket is empty; set the artifact bucket in the inventory (group_vars).")
    if bucket.startswith("REPLACE_"):
        raise OpsError("inventory_placeholder", "jobintel_bucket is still the placeholder %r; set the real bucket in the "
                       "inventory (group_vars)." % bucket)


def inspect(params, s3):
    """Run the requested action; returns what was found."""
    bucket, prefix, sources = params["bucket"], params["prefix"], params["sources"]
    candidate = params["candidate_id"]
    if params["action"] == "list":
        result = runs.list_runs(s3, bucket, prefix, candidate, params["limit"], sources)
        try:
            pointer = pointers.read_pointer(s3, bucket, layout.pointer_key(prefix))
        except pointers.PointerError:
            pointer = None  # verify_ops reports pointer problems; listing runs does not depend on it
        document = (pointer or {}).get("document") or {}
        result["last_success"] = {"run_id": document.get("run_id"), "published_at": document.get("published_at")} if pointer else None
        for run in result["runs"]:
            run["is_last_success"] = run["run_id"] == document.get("run_id")
        result["lines"] = ["%d run(s) of candidate %s (newest first, %d scanned of %d)" % (
            len(result["runs"]), candidate or "*", result["scanned"], result["total_run_ids"])]
        result["lines"] += [runs.list_line(run) + (" last_success" if run["is_last_success"] else "") for run in result["runs"]]
        result["lines"] += ["%s has no run_summary.v1.json (candidate unknown)" % item["uri"] for item in result["unattributed"]]
        return result
    run_id = params["run_id"]
    if params["action"] == "show":
        run = runs.show_run(s3, bucket, prefix, run_id, candidate, sources)
        lines = [run["headline"]] + [runs.provider_line(p) for p in run["providers"]] + ["next: " + s for s in run["next_steps"]]
        return {"run": run, "lines": lines}
    result = runs.run_artifacts(s3, bucket, prefix, run_id, candidate, sources)
    result["lines"] = [result["run"]["headline"], "%d object(s), %d bytes under %s" % (
        result["count"], result["total_size"], result["run"]["uri"])]
    result["lines"] += ["%s %s %d" % (a["kind"], a["key"], a["size"]) for a in result["artifacts"]]
    result["lines"] += ["missing %s" % name for name in result["missing"]]
    return result


def run(ops):
    params = ops.params
    ops.phase = params["action"]  # the receipt's phase, for a failure too
    # Every input is checked before a client exists.
    validate_s3_prefix(params["prefix"])
    runs.validate_candidate_id(params["candidate_id"])
    if params["action"] != "list":
        runs.validate_run_id(params["run_id"])
    check_bucket(params["bucket"])
    outputs = inspect(params, ops.client("s3"))
    return dict(changed=False, outputs=outputs, line=[("action", params["action"])])


def main():
    OpsModule(ARGUMENT_SPEC, operation="runs", phase="list", status_key="runs", connections=[AwsConnection],
              required_if=[("action", "show", ["run_id"]), ("action", "artifacts", ["run_id"])]).run(run)


if __name__ == "__main__":
    main()
