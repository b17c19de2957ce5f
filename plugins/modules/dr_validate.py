#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_validate
short_description: Run one attempt of the DR validate Job and classify why it did not complete
version_added: "0.1.0"
description:
  - Creates a C(batch/v1) Job (C(backoffLimit=0), C(restartPolicy=Never)) running O(image) with pinned resources
    (requests C(cpu=250m), C(memory=512Mi); limits C(cpu=1), C(memory=2Gi); each overridable), waits until it
    completes, fails or O(timeout) passes, and returns one outcome.
  - C(outcome=retryable) only for an image pull that failed (C(ErrImagePull)/C(ImagePullBackOff), e.g. expired
    pull credentials; C(category=image_pull)) and a pod the scheduler could not place for lack of memory
    (C(FailedScheduling) C(Insufficient memory); C(category=insufficient_memory)). The Job of a retryable attempt is
    deleted so the next attempt starts clean. Any other failure is C(outcome=fatal) with the pod's own reason.
  - The module fails unless the Job completed; C(retryable) tells the caller (the C(dr_validate) role, which refreshes
    the pull secret and backs off) whether another attempt may help.
  - A Job of the same name from an earlier run is replaced. Running a Job is an action, so a successful run always
    reports C(changed=true).
  - 'While it waits, the operator sees C(progress validate job: <waited>/<timeout> s (<pct>%), active=<n> succeeded=<n>
    failed=<n>) lines, at most one every C(SIGNALCRAFT_PROGRESS_INTERVAL) seconds (default 2), in ansible-playbook''s
    output and as AWX job events.'
  - Before the Job is created it is validated offline against the Kubernetes schema of the cluster's version (its
    C(/version); kubernetes-validate); a Job the schema rejects (for example a bad O(env) or O(args) value) fails with
    C(k8s_manifest_invalid) naming the field, and nothing is created.
  - Returns C(validate status=ok attempt=<n> job=<name> outcome=success) (receipt phase C(validate), operation C(dr_validate));
    a failure is C(validate status=fail reason=<category> attempt=<n> job=<name> outcome=retryable|fatal) with the
    classification in C(outputs). Check mode (C(status=planned)) runs nothing.
author:
  - signalcraft maintainers (@signalcraft)
options:
  namespace:
    description: Namespace of the Job.
    type: str
    default: jobintel
  run_id:
    description: The drill's run id (label C(signalcraft.io/dr-run-id) and part of the Job name).
    type: str
    required: true
  attempt:
    description: Attempt number (part of the Job name, label C(signalcraft.io/attempt)).
    type: int
    default: 1
  name_prefix:
    description: Job name prefix; the name is C(<prefix>-<run_id>-<attempt>).
    type: str
    default: dr-validate
  image:
    description: The digest-pinned image to validate.
    type: str
    required: true
  service_account:
    description: ServiceAccount of the pod (it carries the ECR pull secret).
    type: str
    default: jobintel
  command:
    description: Container command (the image's entrypoint when empty).
    type: list
    elements: str
    default: []
  args:
    description: Container arguments.
    type: list
    elements: str
    default: []
  env:
    description: Environment of the validate container (non-secret values only).
    type: dict
    default: {}
  request_cpu:
    description: CPU request.
    type: str
    default: 250m
  request_memory:
    description: Memory request.
    type: str
    default: 512Mi
  limit_cpu:
    description: CPU limit.
    type: str
    default: "1"
  limit_memory:
    description: Memory limit.
    type: str
    default: 2Gi
  timeout:
    description: Seconds to wait for the Job.
    type: int
    default: 900
  poll_interval:
    description: Seconds between status reads.
    type: float
    default: 2.0
  active_deadline_seconds:
    description: The Job's C(activeDeadlineSeconds) (0 for none).
    type: int
    default: 0
  ttl_seconds_after_finished:
    description: The Job's C(ttlSecondsAfterFinished).
    type: int
    default: 86400
attributes:
  check_mode:
    support: full
    description: The Job is sent with C(dryRun=All) (validated by the server, not stored); nothing runs.
  diff_mode:
    support: none
    description: A Job run is an action, not a state change to diff.
requirements:
  - kubernetes-validate
seealso:
  - module: signalcraft.ops.dr_runner
extends_documentation_fragment: [signalcraft.ops.k8s, signalcraft.ops.receipt]
"""

EXAMPLES = r"""
- name: Run one validate attempt
  signalcraft.ops.dr_validate:
    kubeconfig: /var/lib/signalcraft/receipts/dr-20260101t000000z/kubeconfig.yaml
    namespace: jobintel
    run_id: dr-20260101t000000z
    attempt: 1
    image: 111122223333.dkr.ecr.us-east-1.amazonaws.com/jobintel@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    command: [python, -m, jobintel.validate]
  register: validate
  failed_when: false

- name: Stop unless another attempt may help
  ansible.builtin.fail:
    msg: "{{ validate.msg }}"
  when: validate.status == 'fail' and not validate.outputs.retryable | default(false)
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: The attempt's classification.
  returned: always
  type: dict
  contains:
    outcome:
      description: C(success), C(retryable) or C(fatal).
      returned: when the Job ran or was refused
      type: str
      sample: retryable
    category:
      description: C(succeeded), C(image_pull), C(insufficient_memory), C(unschedulable), C(container_error), C(job_failed), C(validate_timeout).
      returned: when the Job ran or was refused
      type: str
    retryable:
      description: Whether another attempt may help.
      returned: when the Job ran or was refused
      type: bool
    pod_reason:
      description: The pod's or Job's own reason (C(ErrImagePull), C(FailedScheduling), C(Error), ...).
      returned: when the Job ran
      type: str
    detail:
      description: The pod's or Job's message.
      returned: when the Job ran
      type: str
    job_name:
      description: The Job's name.
      returned: when the Job ran
      type: str
    pod_name:
      description: The pod that decided the outcome.
      returned: when the Job ran
      type: str
    exit_code:
      description: Exit code of a failed container.
      returned: when the Job ran
      type: int
    resources:
      description: The requests and limits the Job ran with.
      returned: when the Job ran
      type: dict
    job_deleted:
      description: True when the Job was still running at O(timeout) and was deleted (with its pods), so it does not outlive the wait.
      returned: when the Job ran
      type: bool
    log_tail:
      description: The last lines of the pod's log (success, a failed container, or a Job stopped at the timeout).
      returned: when the Job ran
      type: list
      elements: str
    duration_s:
      description: Seconds from creating the Job to its outcome.
      returned: when the Job ran
      type: float
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import parse_image_ref
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import phases
from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s_job
from ansible_collections.signalcraft.ops.plugins.module_utils.services.k8s import K8sConnection

ARGUMENT_SPEC = dict(
    namespace=dict(type="str", default="jobintel"),
    run_id=dict(type="str", required=True),
    attempt=dict(type="int", default=1),
    name_prefix=dict(type="str", default="dr-validate"),
    image=dict(type="str", required=True),
    service_account=dict(type="str", default="jobintel"),
    command=dict(type="list", elements="str", default=[]),
    args=dict(type="list", elements="str", default=[]),
    env=dict(type="dict", default={}),
    request_cpu=dict(type="str", default="250m"),
    request_memory=dict(type="str", default="512Mi"),
    limit_cpu=dict(type="str", default="1"),
    limit_memory=dict(type="str", default="2Gi"),
    timeout=dict(type="int", default=900),
    poll_interval=dict(type="float", default=2.0),
    active_deadline_seconds=dict(type="int", default=0),
    ttl_seconds_after_finished=dict(type="int", default=86400),
)


def run(ops):
    p = ops.params
    refused = dict(outcome="fatal", retryable=False)
    try:
        phases.validate_run_id(p["run_id"])
        parse_image_ref(p["image"])
        spec = k8s_job.resources(p["request_cpu"], p["request_memory"], p["limit_cpu"], p["limit_memory"])
    except OpsError as exc:
        exc.details.update(refused, category=exc.reason)
        raise
    name = k8s_job.job_name(p["name_prefix"], p["run_id"], p["attempt"])
    manifest = k8s_job.job_manifest(name, p["namespace"], p["image"], p["run_id"], p["attempt"], spec,
                                    service_account=p["service_account"], command=p["command"], args=p["args"], env=p["env"],
                                    active_deadline_seconds=p["active_deadline_seconds"] or None,
                                    ttl_seconds_after_finished=p["ttl_seconds_after_finished"])
    connection = ops.connection("k8s")
    connection.api()  # a missing or broken kubeconfig is kubeconfig_invalid before anything is sent
    try:
        connection.validate_manifests([manifest], option="the dr_validate_* inputs")
    except OpsError as exc:
        exc.details.update(refused, category=exc.reason)
        raise
    try:
        runner = k8s_job.JobRunner(p["kubeconfig"], p["context"])
    except ValueError as exc:
        raise OpsError("kubeconfig_invalid", "%s (dr_validate_kubeconfig)" % exc, details=dict(refused, category="kubeconfig_invalid"))
    found = runner.run(manifest, timeout=p["timeout"], poll=p["poll_interval"], dry_run=ops.check_mode,
                       progress=ops.progress_for("validate job", unit="s", rate=False))
    success = found["outcome"] == "success"
    outputs = dict(outcome=found["outcome"], category=found["category"], retryable=found["outcome"] == "retryable",
                   pod_reason=found["pod_reason"], detail=found["message"], job_name=found["job_name"], pod_name=found["pod_name"],
                   exit_code=found["exit_code"], resources=spec, log_tail=found["log_tail"], duration_s=found["duration_s"],
                   job_deleted=bool(found.get("deleted")))
    line = [("attempt", p["attempt"]), ("job", found["job_name"]), ("outcome", found["outcome"])]
    if not success:
        outputs["line"] = line
        raise OpsError(found["category"], "attempt %d (%s): %s" % (p["attempt"], found["pod_reason"], found["message"]),
                       details=outputs, changed_so_far=True)
    return dict(changed=not ops.check_mode, status="planned" if ops.check_mode else "ok", outputs=outputs, line=line)


def main():
    OpsModule(ARGUMENT_SPEC, operation="dr_validate", phase="validate", connections=[K8sConnection]).run(run)


if __name__ == "__main__":
    main()
