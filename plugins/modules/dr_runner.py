#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_runner
short_description: Bring up or tear down the DR runner instances of one drill, found by the drill's run-id tag
version_added: "0.1.0"
description:
  - O(state=present) makes sure O(count) EC2 runners tagged C(signalcraft:dr-run-id=<run_id>) and
    C(signalcraft:role=dr-runner) exist and are running. Runners of the run that already exist are reused
    (a second bringup with the same run id launches nothing and returns C(changed=false)); stopped ones are started.
  - The instance type must stay in O(instance_family) (ARM C(t4g) by default, for parity with the release image)
    and the AMI's architecture must match it; both are checked before anything is launched.
  - With O(image_ref), the image the drill will restore must have a C(linux/<arch>) image for the runner's architecture
    in its manifest list / OCI image index (ECR BatchGetImage), also before anything is launched
    (C(image_arch_missing), C(image_arch_unknown) for a single-platform manifest).
  - With O(kubeconfig_source) it also captures the cluster's kubeconfig into O(kubeconfig_dest) with mode 0600.
    On a real runner the user-data installs k3s and publishes its kubeconfig as an SSM SecureString
    (O(kubeconfig_source=ssm_parameter)); the server address is rewritten to the runner's public address.
    A given file (O(kubeconfig_source=file)) is copied as is (the sandbox's DR cluster). The kubeconfig's
    contents are never returned or logged.
  - O(state=absent) terminates exactly the runners carrying the run-id tag, then counts them again until none
    is left (C(remaining=0)) or O(wait_timeout) passes (C(teardown_incomplete)).
  - 'While it waits, the operator sees C(progress runners running: <n>/<count> instances (<pct>%), <s> s elapsed),
    C(progress kubeconfig wait: <waited>/<timeout> s (<pct>%)) and C(progress runners terminated: <n>/<found> instances ...)
    lines, at most one every C(SIGNALCRAFT_PROGRESS_INTERVAL) seconds (default 2), in ansible-playbook''s output and
    as AWX job events.'
  - Returns C(bringup status=ok runners=<n> launched=<n> started=<n>) (receipt phase C(bringup), operation C(dr_bringup))
    or C(teardown status=ok terminated=<n> remaining=<n>) (receipt phase C(teardown), operation C(dr_teardown));
    check mode says C(status=planned) with what would change.
author:
  - signalcraft maintainers (@signalcraft)
options:
  state:
    description: V(present) brings the runners up; V(absent) terminates them.
    type: str
    choices: [present, absent]
    default: present
  run_id:
    description: The drill's run id; the value of the C(signalcraft:dr-run-id) tag. Lowercase letters, digits and C(-).
    type: str
    required: true
  count:
    description: How many runners the run needs.
    type: int
    default: 1
  instance_type:
    description: EC2 instance type of the runners.
    type: str
    default: t4g.medium
  instance_family:
    description: The family O(instance_type) must belong to.
    type: str
    default: t4g
  ami_id:
    description: AMI of the runners. One of O(ami_id) and O(ami_ssm_parameter) is required with O(state=present).
    type: str
  ami_ssm_parameter:
    description:
      - SSM parameter holding the AMI id, for example
        C(/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64). Ignored when O(ami_id) is set.
    type: str
  subnet_id:
    description: Subnet of the runners. Required with O(state=present).
    type: str
  security_group_ids:
    description: Security groups of the runners.
    type: list
    elements: str
    default: []
  key_name:
    description: EC2 key pair, if SSH access is wanted (SSM needs none).
    type: str
  instance_profile:
    description: IAM instance profile name or ARN (needs C(ssm:PutParameter) on the kubeconfig parameter on a real runner).
    type: str
  user_data:
    description:
      - User data (cloud-init) that installs k3s and publishes the kubeconfig. The role M(signalcraft.ops.dr_bringup)
        renders C(roles/dr_bringup/templates/k3s-user-data.yaml.j2) for it.
    type: str
  image_ref:
    description:
      - The ECR image the drill restores and validates (C(<repo>@sha256:<digest>)). When set, its manifest list must name
        a C(linux/arm64) (the runner's architecture) image; checked before RunInstances. Empty skips the check.
    type: str
  tags:
    description: Extra tags on the runners and their volumes. C(Name) and the C(signalcraft:) tags cannot be overridden.
    type: dict
    default: {}
  wait:
    description: Wait until the runners are running (present) or gone (absent).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the runners (and, with O(kubeconfig_source=ssm_parameter), for the kubeconfig).
    type: int
    default: 600
  kubeconfig_source:
    description:
      - Where the cluster's kubeconfig comes from. V(none) captures nothing; V(file) copies O(kubeconfig_source_path);
        V(ssm_parameter) reads the SecureString O(kubeconfig_ssm_parameter) the runner publishes.
    type: str
    choices: [none, file, ssm_parameter]
    default: none
  kubeconfig_source_path:
    description: The kubeconfig file to copy with O(kubeconfig_source=file).
    type: path
  kubeconfig_ssm_parameter:
    description: The SecureString parameter with O(kubeconfig_source=ssm_parameter), for example C(/signalcraft/dr/<run_id>/kubeconfig).
    type: str
  kubeconfig_rewrite_server:
    description:
      - Rewrite the kubeconfig's C(server) to C(https://<runner public address>:6443) (a k3s kubeconfig names 127.0.0.1).
        Only with O(kubeconfig_source=ssm_parameter).
    type: bool
    default: true
  kubeconfig_dest:
    description: Where the kubeconfig is saved (mode 0600), typically C(<receipt_dir>/kubeconfig.yaml).
    type: path
attributes:
  check_mode:
    support: full
    description: Reports what would be launched, started, terminated or written; changes nothing.
  diff_mode:
    support: full
    description: Before/after lists of the run's runner ids.
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt]
notes:
  - Runners are found by tag only; instances of other runs (or untagged ones) are never touched.
  - RunInstances carries an idempotency token derived from the run id, so a retried launch starts no second runner.
seealso:
  - module: signalcraft.ops.dr_validate
"""

EXAMPLES = r"""
- name: Bring up the DR runner and save the kubeconfig (real runner)
  signalcraft.ops.dr_runner:
    run_id: dr-20260101t000000z
    instance_type: t4g.medium
    ami_ssm_parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64
    subnet_id: subnet-0123456789abcdef0
    instance_profile: signalcraft-dr-runner
    user_data: "{{ lookup('ansible.builtin.template', 'k3s-user-data.sh.j2') }}"
    kubeconfig_source: ssm_parameter
    kubeconfig_ssm_parameter: /signalcraft/dr/dr-20260101t000000z/kubeconfig
    kubeconfig_dest: /var/lib/signalcraft/receipts/dr-20260101t000000z/kubeconfig.yaml

- name: Tear the drill's runners down
  signalcraft.ops.dr_runner:
    state: absent
    run_id: dr-20260101t000000z
  register: teardown
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail).
  returned: always
  type: str
outputs:
  description: What the step found and did.
  returned: always
  type: dict
  contains:
    instances:
      description: The run's runners after the change (id, state, type, AMI, subnet, addresses, launch time, run id).
      returned: success
      type: list
      elements: dict
    instance_ids:
      description: Ids of the run's runners after the change.
      returned: success
      type: list
      elements: str
    launched:
      description: Ids of instances launched by this call.
      returned: success
      type: list
      elements: str
    started:
      description: Ids of stopped runners of the run that were started.
      returned: when state=present
      type: list
      elements: str
    terminated:
      description: Ids of instances terminated by this call.
      returned: when state=absent
      type: list
      elements: str
    remaining:
      description: Runners of the run that still exist (0 after a complete teardown).
      returned: success
      type: int
    instance_type:
      description: The runners' instance type.
      returned: when state=present
      type: str
    ami:
      description: The AMI id, architecture and name used.
      returned: when state=present
      type: dict
    image:
      description: The checked image (C(image_ref), C(digest), C(media_type), C(platforms) found); null without O(image_ref).
      returned: when state=present
      type: dict
    kubeconfig_path:
      description: Where the kubeconfig was saved.
      returned: when kubeconfig_source is not none
      type: str
    kubeconfig_sha256:
      description: sha256 of the saved kubeconfig (its contents are never returned).
      returned: when kubeconfig_source is not none
      type: str
diff:
  description: Before/after lists of the run's runner ids.
  returned: success
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import phases
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import runner
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecr
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection
from ansible_collections.signalcraft.ops.plugins.module_utils.services.k8s import kubeconfig_secret_values

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    run_id=dict(type="str", required=True),
    count=dict(type="int", default=1),
    instance_type=dict(type="str", default="t4g.medium"),
    instance_family=dict(type="str", default="t4g"),
    ami_id=dict(type="str"),
    ami_ssm_parameter=dict(type="str"),
    subnet_id=dict(type="str"),
    security_group_ids=dict(type="list", elements="str", default=[]),
    key_name=dict(type="str", no_log=False),
    instance_profile=dict(type="str"),
    user_data=dict(type="str"),
    image_ref=dict(type="str"),
    tags=dict(type="dict", default={}),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=600),
    kubeconfig_source=dict(type="str", choices=["none", "file", "ssm_parameter"], default="none"),
    kubeconfig_source_path=dict(type="path"),
    kubeconfig_ssm_parameter=dict(type="str"),
    kubeconfig_rewrite_server=dict(type="bool", default=True),
    kubeconfig_dest=dict(type="path"),
)
REQUIRED_IF = [("state", "present", ("subnet_id",)), ("state", "present", ("ami_id", "ami_ssm_parameter"), True),
               ("kubeconfig_source", "file", ("kubeconfig_source_path", "kubeconfig_dest")),
               ("kubeconfig_source", "ssm_parameter", ("kubeconfig_ssm_parameter", "kubeconfig_dest"))]


def present(ops):
    p = ops.params
    check_mode = ops.check_mode
    runner.check_instance_type(p["instance_type"], p["instance_family"])
    ec2 = ops.client("ec2")
    ami = runner.resolve_ami(ec2, ops.client("ssm"), p["ami_id"], p["ami_ssm_parameter"], p["instance_type"])
    image = None
    if p["image_ref"]:
        # Before RunInstances: an arm64 runner cannot run an amd64-only image (the validate Job would never start).
        image = ecr.require_platform(ops.client("ecr"), p["image_ref"], architecture=runner.image_architecture(p["instance_type"]))
    before = [i["instance_id"] for i in runner.find_runners(ec2, p["run_id"])]
    spec = dict(instance_type=p["instance_type"], image_id=ami["image_id"], subnet_id=p["subnet_id"],
                security_group_ids=p["security_group_ids"], key_name=p["key_name"], instance_profile=p["instance_profile"],
                user_data=p["user_data"], extra_tags=p["tags"])
    result = runner.ensure_runners(ec2, p["run_id"], p["count"], spec, check_mode=check_mode,
                                   wait=p["wait"], wait_timeout=p["wait_timeout"],
                                   progress=ops.progress_for("runners running", unit="instances", rate=False))
    after = [i["instance_id"] for i in result["instances"]]
    would = result["would_launch"] if check_mode else 0
    changed = result["changed"]
    outputs = dict(instances=result["instances"], instance_ids=after, launched=result["launched"], started=result["started"],
                   remaining=len(result["instances"]) + would, instance_type=p["instance_type"], ami=ami, image=image)
    if p["kubeconfig_source"] != "none":
        if p["kubeconfig_source"] == "file":
            text = runner.read_kubeconfig("file", path=p["kubeconfig_source_path"])
        elif check_mode and result["would_launch"]:
            text = None
        else:
            text = runner.wait_for_kubeconfig(ops.client("ssm"), p["kubeconfig_ssm_parameter"], timeout=p["wait_timeout"],
                                              progress=ops.progress_for("kubeconfig wait", unit="s", rate=False))
            if p["kubeconfig_rewrite_server"]:
                address = next((i["public_ip"] or i["public_dns"] for i in result["instances"] if i["public_ip"] or i["public_dns"]), None)
                if not address:
                    raise GuardError("runner_no_public_address", "runner of run %s has no public address to put in the kubeconfig; "
                                                                 "use a subnet that assigns public IPs (dr_bringup_subnet_id)." % p["run_id"])
                text = runner.rewrite_server(text, address)
        if text is not None:
            ops.add_secret(*kubeconfig_secret_values(p["kubeconfig_source_path"] if p["kubeconfig_source"] == "file" else None))
            saved = runner.save_kubeconfig(text, p["kubeconfig_dest"], check_mode=check_mode)
            if not check_mode:
                ops.add_secret(*kubeconfig_secret_values(p["kubeconfig_dest"]))
            outputs.update(kubeconfig_path=saved["path"], kubeconfig_sha256=saved["sha256"])
            changed = changed or saved["changed"]
        else:
            outputs.update(kubeconfig_path=None, kubeconfig_sha256=None)
    line = [("runners", len(after) + would)]
    if check_mode:
        line += [("would_launch", would), ("would_start", len(result["started"]))]
    else:
        line += [("launched", len(result["launched"])), ("started", len(result["started"]))]
    return dict(changed=changed, status="planned" if check_mode else "ok", outputs=outputs, line=line,
                diff={"before": {"runners": before}, "after": {"runners": after + ["(new)"] * would}})


def absent(ops):
    p = ops.params
    ec2 = ops.client("ec2")
    result = runner.terminate_runners(ec2, p["run_id"], check_mode=ops.check_mode, wait=p["wait"], wait_timeout=p["wait_timeout"],
                                      progress=ops.progress_for("runners terminated", unit="instances", rate=False))
    remaining = result["remaining"] if not ops.check_mode else result["remaining"] - len(result["terminated"])
    instances = runner.find_runners(ec2, p["run_id"], states=runner.LIVE_STATES + ("terminated",))
    outputs = dict(terminated=result["terminated"], launched=[], remaining=remaining, instances=instances,
                   instance_ids=[i["instance_id"] for i in instances])
    key = "would_terminate" if ops.check_mode else "terminated"
    return dict(changed=result["changed"], status="planned" if ops.check_mode else "ok", outputs=outputs,
                line=[(key, len(result["terminated"])), ("remaining", remaining)],
                diff={"before": {"runners": result["terminated"]}, "after": {"runners": []}})


def run(ops):
    p = ops.params
    if p["state"] == "absent":
        # One module, two receipts: bringup and teardown are separate phases of the drill.
        ops.operation, ops.phase, ops.status_key = "dr_teardown", "teardown", "teardown"
    if p["count"] < 1:
        raise OpsError("invalid_count", "count must be at least 1 (got %d; dr_bringup_count); teardown is state=absent." % p["count"])
    phases.validate_run_id(p["run_id"])
    return present(ops) if p["state"] == "present" else absent(ops)


def main():
    OpsModule(ARGUMENT_SPEC, operation="dr_bringup", phase="bringup", connections=[AwsConnection],
              required_if=REQUIRED_IF).run(run)


if __name__ == "__main__":
    main()
