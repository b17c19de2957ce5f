#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: k8s_validate_job
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
seealso:
  - module: signalcraft.ops.dr_runner
extends_documentation_fragment:
  - signalcraft.ops.k8s
"""

EXAMPLES = r"""
- name: Run one validate attempt
  signalcraft.ops.k8s_validate_job:
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
  when: validate.failed and not validate.retryable
"""

RETURN = r"""
outcome:
  description: C(success), C(retryable) or C(fatal).
  returned: always
  type: str
  sample: retryable
category:
  description: C(succeeded), C(image_pull), C(insufficient_memory), C(unschedulable), C(container_error), C(job_failed), C(validate_timeout).
  returned: always
  type: str
  sample: insufficient_memory
retryable:
  description: Whether another attempt may help.
  returned: always
  type: bool
reason:
  description: Stable failure token (the category), or null on success.
  returned: always
  type: str
pod_reason:
  description: The pod's or Job's own reason (C(ErrImagePull), C(FailedScheduling), C(Error), ...).
  returned: always
  type: str
detail:
  description: The pod's or Job's message.
  returned: always
  type: str
job_name:
  description: The Job's name.
  returned: always
  type: str
pod_name:
  description: The pod that decided the outcome.
  returned: always
  type: str
exit_code:
  description: Exit code of a failed container.
  returned: always
  type: int
resources:
  description: The requests and limits the Job ran with.
  returned: always
  type: dict
job_deleted:
  description: True when the Job was still running at O(timeout) and was deleted (with its pods), so it does not outlive the wait.
  returned: always
  type: bool
log_tail:
  description: The last lines of the pod's log (success, a failed container, or a Job stopped at the timeout).
  returned: always
  type: list
  elements: str
duration_s:
  description: Seconds from creating the Job to its outcome.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s
from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s_job
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import phases
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError, parse_image_ref


def main():
    argument_spec = k8s.k8s_argument_spec()
    argument_spec.update(
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
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not k8s.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(k8s.KUBERNETES_IMPORT_ERROR))
    p = module.params
    module.no_log_values.update(k8s.kubeconfig_secret_values(p["kubeconfig"]))
    try:
        phases.validate_run_id(p["run_id"])
        parse_image_ref(p["image"])
        spec = k8s_job.resources(p["request_cpu"], p["request_memory"], p["limit_cpu"], p["limit_memory"])
        name = k8s_job.job_name(p["name_prefix"], p["run_id"], p["attempt"])
        manifest = k8s_job.job_manifest(name, p["namespace"], p["image"], p["run_id"], p["attempt"], spec,
                                        service_account=p["service_account"], command=p["command"], args=p["args"], env=p["env"],
                                        active_deadline_seconds=p["active_deadline_seconds"] or None,
                                        ttl_seconds_after_finished=p["ttl_seconds_after_finished"])
        runner = k8s_job.JobRunner(p["kubeconfig"], p["context"])
        found = runner.run(manifest, timeout=p["timeout"], poll=p["poll_interval"], dry_run=module.check_mode)
    except GuardError as exc:
        module.fail_json(msg="validate status=fail reason=%s: %s" % (exc.reason, exc.message), reason=exc.reason, retryable=False,
                         outcome="fatal", category=exc.reason)
    # pylint: disable-next=catching-non-exception  # a tuple of exception classes pylint cannot infer
    except k8s.K8S_ERRORS as exc:
        error = k8s.api_error(exc)
        module.fail_json(msg="validate status=fail reason=k8s_error: %s %s" % (error["code"], error["message"]), reason="k8s_error",
                         retryable=False, outcome="fatal", category="k8s_error")
    except ValueError as exc:
        module.fail_json(msg="validate status=fail reason=kubeconfig_invalid: %s" % exc, reason="kubeconfig_invalid",
                         retryable=False, outcome="fatal", category="kubeconfig_invalid")
    success = found["outcome"] == "success"
    result = dict(changed=not module.check_mode, outcome=found["outcome"], category=found["category"],
                  retryable=found["outcome"] == "retryable", reason=None if success else found["category"],
                  pod_reason=found["pod_reason"], detail=found["message"], job_name=found["job_name"], pod_name=found["pod_name"],
                  exit_code=found["exit_code"], resources=spec, log_tail=found["log_tail"], duration_s=found["duration_s"],
                  job_deleted=bool(found.get("deleted")))
    if not success:
        module.fail_json(msg="validate status=fail reason=%s: attempt %d (%s): %s" % (
            found["category"], p["attempt"], found["pod_reason"], found["message"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
