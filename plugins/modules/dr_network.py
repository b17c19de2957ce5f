#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_network
short_description: Check (or make) the DR runner's subnet and security groups against what k3s and SSM need
version_added: "0.1.0"
description:
  - O(state=verify) (read-only) checks the runner's subnet O(subnet_id) and security groups O(security_group_ids) (with none
    given, the VPC's C(default) group, which RunInstances would use) against the runner's network contract, over the union
    of the groups' rules as EC2 applies them.
  - "Inbound: only the k3s API (O(api_port), 6443/tcp) from CIDRs inside O(api_cidrs); SSH (22/tcp) only from CIDRs inside
    O(ssh_cidrs). SSM Session Manager (and its port forwarding) needs no inbound port, so with no O(api_cidrs) nothing may come
    in. Every other inbound rule (0.0.0.0/0 on any port, another group, a prefix list, a wider port range) is refused with
    C(dr_network_too_open), naming the group, the rule and why. A CIDR of O(api_cidrs) that no rule lets in is C(dr_network_closed)."
  - "Outbound: HTTPS (443/tcp) must be allowed (C(dr_network_closed) otherwise): the SSM agent talks to the ssm, ssmmessages
    and ec2messages endpoints over HTTPS, as do the kubeconfig publish, ECR/S3 pulls and the k3s download. DNS to the VPC
    resolver, instance metadata and Amazon Time Sync are not filtered by security groups. With O(egress=strict) any other
    outbound rule (AWS's default allow-all among them) is C(dr_network_too_open); O(egress=https_required) only warns."
  - A subnet that does not exist, or a group that does not, is C(dr_network_missing); a subnet outside O(vpc_id), or a group
    in another VPC than the subnet, is C(dr_network_wrong_vpc). Nothing is written in O(state=verify).
  - O(state=present) (the role's C(dr_manage_network=true)) makes the run's own security group
    C(signalcraft-dr-runner-<run_id>) in the subnet's VPC with exactly the contract's rules (inbound O(api_port)/tcp from each
    O(api_cidrs), 22/tcp from each O(ssh_cidrs), outbound 443/tcp to 0.0.0.0/0; AWS's default allow-all outbound rule is
    revoked), tagged C(signalcraft:dr-run-id=<run_id>) and C(signalcraft:role=dr-network). Without O(subnet_id) it also
    creates the run's subnet O(subnet_cidr) in O(vpc_id). An existing group or subnet of the run (found by those tags) is
    reused and its rules corrected; a second run changes nothing. The whole result, with the groups of O(security_group_ids)
    added, is checked before anything is created (a refusal writes nothing) and read back afterwards.
  - O(state=absent) deletes the groups and subnets tagged with the run id and C(signalcraft:role=dr-network) (only what
    O(state=present) created), repeating a delete EC2 refuses with C(DependencyViolation) until O(wait_timeout).
  - Returns C(network status=ok mode=verify ...), C(network status=ok mode=ensure ...) (receipt phase C(network), operation
    C(dr_bringup)) or C(network_teardown status=ok deleted_groups=<n> deleted_subnets=<n>) (phase C(network_teardown),
    operation C(dr_teardown)); check mode says C(status=planned) with what would be created or deleted.
author:
  - signalcraft maintainers (@signalcraft)
options:
  state:
    description: V(verify) checks only; V(present) creates what the run needs and checks; V(absent) deletes what V(present) created.
    type: str
    choices: [verify, present, absent]
    default: verify
  run_id:
    description: The drill's run id; the value of the C(signalcraft:dr-run-id) tag. Lowercase letters, digits and C(-).
    type: str
    required: true
  subnet_id:
    description:
      - The runner's subnet (C(dr_bringup_subnet_id)). Required with O(state=verify); with O(state=present) either this or
        O(vpc_id) and O(subnet_cidr).
    type: str
    default: ""
  security_group_ids:
    description:
      - The runner's security groups (C(dr_bringup_security_group_ids)). Empty with O(state=verify) checks the VPC's default group;
        with O(state=present) they are checked and used besides the run's own group.
    type: list
    elements: str
    default: []
  vpc_id:
    description: The VPC the subnet must be in (C(dr_network_vpc_id)); where the run's subnet is created. Empty checks no VPC.
    type: str
    default: ""
  api_cidrs:
    description:
      - CIDRs allowed to reach the k3s API (C(dr_network_api_cidrs)), e.g. the controller's egress address or the VPN range.
        Empty lets nothing in (reach the API through SSM port forwarding). C(0.0.0.0/0) and C(::/0) are refused.
    type: list
    elements: str
    default: []
  ssh_cidrs:
    description: CIDRs allowed to reach SSH (22/tcp) (C(dr_network_ssh_cidrs)). Empty (the default) allows no SSH.
    type: list
    elements: str
    default: []
  api_port:
    description: The k3s API port.
    type: int
    default: 6443
  require_api_access:
    description:
      - The controller reaches the k3s API at the runner's address (a real runner, whose kubeconfig names it), so O(api_cidrs)
        must not be empty (C(dr_network_closed) otherwise). The role sets it with C(dr_bringup_kubeconfig_source=ssm_parameter).
    type: bool
    default: false
  egress:
    description:
      - V(strict) refuses any outbound rule other than 443/tcp; V(https_required) only requires 443/tcp and warns about the rest
        (C(dr_network_egress)).
    type: str
    default: strict
  subnet_cidr:
    description: With O(state=present) and no O(subnet_id), the IPv4 CIDR (/16 to /28) of the subnet created for the run in O(vpc_id).
    type: str
    default: ""
  availability_zone:
    description: Availability zone of the created subnet (empty lets EC2 choose).
    type: str
    default: ""
  map_public_ip:
    description: Give instances of the created subnet a public IPv4 address (needed for C(dr_bringup_kubeconfig_address=public)).
    type: bool
    default: false
  tags:
    description: Extra tags on what O(state=present) creates. C(Name) and the C(signalcraft:) tags cannot be overridden.
    type: dict
    default: {}
  wait_timeout:
    description: With O(state=absent), seconds to keep retrying a delete EC2 refuses while the resource is still in use.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    description: Reads only; reports what would be created, changed or deleted.
  diff_mode:
    support: full
    description: Before/after of the run's own group rules and subnet.
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt]
notes:
  - Groups and subnets are found by tags only; a group named like the run's but not tagged as its own is never adopted
    (C(dr_network_conflict)), and teardown never touches what the run did not create.
  - EC2 aggregates the rules of all the groups an instance has, so the contract is checked over their union.
seealso:
  - module: signalcraft.ops.dr_runner
"""

EXAMPLES = r"""
- name: Refuse a runner network that lets more in than the k3s API from the operator's CIDR
  signalcraft.ops.dr_network:
    state: verify
    run_id: dr-20260101t000000z
    subnet_id: subnet-0123456789abcdef0
    security_group_ids: [sg-0123456789abcdef0]
    vpc_id: vpc-0123456789abcdef0
    api_cidrs: [203.0.113.0/24]

- name: Make the run's own security group (and use an existing subnet)
  signalcraft.ops.dr_network:
    state: present
    run_id: dr-20260101t000000z
    subnet_id: subnet-0123456789abcdef0
    api_cidrs: [203.0.113.0/24]
  register: network

- name: Delete what the run created
  signalcraft.ops.dr_network:
    state: absent
    run_id: dr-20260101t000000z
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode with something to create or delete) or C(fail).
  returned: always
  type: str
outputs:
  description: What was checked, created or deleted.
  returned: always
  type: dict
  contains:
    mode:
      description: C(verify), C(ensure) or C(teardown).
      returned: success
      type: str
    subnet_id:
      description: The runner's subnet (C((new)) in check mode when it would be created).
      returned: when state is verify or present
      type: str
    vpc_id:
      description: The subnet's VPC.
      returned: when state is verify or present
      type: str
    security_group_ids:
      description: The groups the runner is launched with (empty with O(state=verify) and none given -- the VPC's default).
      returned: when state is verify or present
      type: list
      elements: str
    checked_groups:
      description: The groups whose rules were checked (the default group's id when none was given).
      returned: when state is verify or present
      type: list
      elements: str
    groups:
      description: Each checked group's id, name, VPC and its inbound and outbound rules as text.
      returned: when state is verify or present
      type: list
      elements: dict
    subnet:
      description: The subnet's id, VPC, CIDR, zone and whether it maps public IPs.
      returned: when state is verify or present
      type: dict
    api_sources:
      description: CIDRs the k3s API port is open to.
      returned: when state is verify or present
      type: list
      elements: str
    https_egress:
      description: Destinations outbound HTTPS is allowed to.
      returned: when state is verify or present
      type: list
      elements: str
    created:
      description: C(security_group) and C(subnet) ids created by this call (C((new)) in check mode), or null.
      returned: when state is verify or present
      type: dict
    rules_added:
      description: Rules added to the run's own group.
      returned: when state=present
      type: list
      elements: str
    rules_removed:
      description: Rules removed from the run's own group (AWS's default allow-all outbound rule on a new group).
      returned: when state=present
      type: list
      elements: str
    violations:
      description: On failure, each problem found (C(reason) token, C(group_id), C(direction), C(rule), C(why)).
      returned: on failure with a dr_network_* reason
      type: list
      elements: dict
    warnings:
      description: Outbound rules beyond HTTPS accepted with O(egress=https_required).
      returned: when state is verify or present
      type: list
      elements: str
    deleted_groups:
      description: Ids of the run's groups deleted (or that would be, in check mode).
      returned: when state=absent
      type: list
      elements: str
    deleted_subnets:
      description: Ids of the run's subnets deleted (or that would be, in check mode).
      returned: when state=absent
      type: list
      elements: str
    remaining:
      description: The run's groups and subnets still there afterwards (0 after a complete teardown).
      returned: when state=absent
      type: int
diff:
  description: Before/after of the run's own group rules and subnet (present) or of the run's groups and subnets (absent).
  returned: when something changes
  type: dict
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import network
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import phases
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["verify", "present", "absent"], default="verify"),
    run_id=dict(type="str", required=True),
    subnet_id=dict(type="str", default=""),
    security_group_ids=dict(type="list", elements="str", default=[]),
    vpc_id=dict(type="str", default=""),
    api_cidrs=dict(type="list", elements="str", default=[]),
    ssh_cidrs=dict(type="list", elements="str", default=[]),
    api_port=dict(type="int", default=network.API_PORT),
    require_api_access=dict(type="bool", default=False),
    egress=dict(type="str", default="strict"),
    subnet_cidr=dict(type="str", default=""),
    availability_zone=dict(type="str", default=""),
    map_public_ip=dict(type="bool", default=False),
    tags=dict(type="dict", default={}),
    wait_timeout=dict(type="int", default=300),
)


def refuse(plan, changed_so_far=False):
    """Fail with the plan's deciding token, every violation named."""
    if plan["ok"]:
        return
    raise OpsError(plan["reason"], network.violation_message(plan), changed_so_far=changed_so_far, details={
        "violations": plan["violations"], "subnet": plan["subnet"], "groups": plan["groups"],
        "line": [("violations", len(plan["violations"]))]})


def _outputs(plan, mode, subnet, runner_groups, checked, created, warnings):
    return dict(mode=mode, subnet_id=subnet.get("SubnetId"), vpc_id=subnet.get("VpcId"), security_group_ids=runner_groups,
                checked_groups=checked, groups=plan["groups"], subnet=plan["subnet"], api_sources=plan["api_sources"],
                https_egress=plan["https_egress"], created=created, warnings=warnings)


def verify(ops, values, terms):
    ec2 = ops.client("ec2")
    given = values["security_group_ids"]
    subnet = network.describe_subnet(ec2, values["subnet_id"])
    if given:
        groups = network.describe_groups(ec2, given)
    else:
        groups = network.default_group(ec2, subnet["VpcId"]) if subnet is not None else []
    plan = network.plan_network(values["subnet_id"], subnet, given, groups, terms, default_group=not given)
    refuse(plan)
    checked = [g["GroupId"] for g in groups]
    outputs = _outputs(plan, "verify", subnet, list(given), checked, {"subnet": None, "security_group": None}, plan["warnings"])
    line = [("mode", "verify"), ("subnet", values["subnet_id"]), ("groups", ",".join(checked) if given else "default"),
            ("api_cidrs", len(plan["api_sources"])), ("egress", "https" if not plan["warnings"] else "wide")]
    return dict(changed=False, status="ok", outputs=outputs, line=line, warnings=plan["warnings"])


def _rules(group):
    summary = network.summarize_group(group) if group else None
    return {"ingress": summary["ingress"], "egress": summary["egress"]} if summary else None


def present(ops, values, terms):
    p = ops.params
    ec2 = ops.client("ec2")
    run_id, given, check_mode = p["run_id"], values["security_group_ids"], ops.check_mode
    creating_subnet = not values["subnet_id"]
    # 1. Everything the run would end up with, decided before any write: a refusal creates nothing.
    if creating_subnet:
        if not ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [values["vpc_id"]]}])["Vpcs"]:
            raise OpsError("dr_network_missing", "VPC %s does not exist in this region; fix dr_network_vpc_id." % values["vpc_id"])
        subnet_plan = network.ensure_subnet(ec2, run_id, values["vpc_id"], values["subnet_cidr"], values["availability_zone"],
                                            p["map_public_ip"], p["tags"], check_mode=True)
        subnet = subnet_plan["subnet"]
    else:
        subnet_plan = None
        subnet = network.describe_subnet(ec2, values["subnet_id"])
    given_groups = network.describe_groups(ec2, given)
    if subnet is None:
        refuse(network.plan_network(values["subnet_id"], None, given, given_groups, terms))
    vpc_id = subnet["VpcId"]
    existing = [g for g in network.managed_groups(ec2, run_id) if g.get("VpcId") == vpc_id]
    before = {"subnet": subnet["SubnetId"] if not (subnet_plan and subnet_plan["created"]) else None,
              "security_group": _rules(existing[0]) if existing else None}
    group_plan = network.ensure_group(ec2, run_id, vpc_id, terms, p["tags"], check_mode=True)
    plan = network.plan_network(subnet["SubnetId"], subnet, given, [group_plan["group"]] + given_groups, terms)
    refuse(plan)
    # 2. Create / correct (check mode stops at the plan).
    if check_mode:
        subnet_done, group_done = subnet_plan, group_plan
    else:
        subnet_done = network.ensure_subnet(ec2, run_id, vpc_id, values["subnet_cidr"], values["availability_zone"], p["map_public_ip"],
                                            p["tags"]) if creating_subnet else None
        if subnet_done:
            subnet = subnet_done["subnet"]
        group_done = network.ensure_group(ec2, run_id, vpc_id, terms, p["tags"])
    changed = bool(group_done["changed"] or (subnet_done and subnet_done["changed"]))
    own_id = group_done["group"]["GroupId"]
    runner_groups = [own_id] + [g for g in given if g != own_id]
    # 3. Read back what EC2 now has and check it again.
    if not check_mode:
        subnet = network.describe_subnet(ec2, subnet["SubnetId"]) or subnet
        final_groups = network.describe_groups(ec2, runner_groups)
        plan = network.plan_network(subnet["SubnetId"], subnet, runner_groups, final_groups, terms)
        refuse(plan, changed_so_far=changed)
    created = {"subnet": subnet["SubnetId"] if subnet_done and subnet_done["created"] else None,
               "security_group": own_id if group_done["created"] else None}
    outputs = _outputs(plan, "ensure", subnet, runner_groups, runner_groups, created, plan["warnings"])
    outputs.update(rules_added=group_done["added"], rules_removed=group_done["removed"])
    count = sum(1 for v in created.values() if v)
    prefix = "would_" if check_mode else ""
    line = [("mode", "ensure"), ("subnet", "new" if subnet["SubnetId"] == network.PLANNED_ID else subnet["SubnetId"]),
            ("group", "new" if own_id == network.PLANNED_ID else own_id), (prefix + "create", count),
            (prefix + "add", len(group_done["added"])), (prefix + "remove", len(group_done["removed"]))]
    after = {"subnet": subnet["SubnetId"], "security_group": _rules(group_done["group"])}
    return dict(changed=changed, status="planned" if check_mode and changed else "ok", outputs=outputs, line=line,
                warnings=plan["warnings"], diff={"before": before, "after": after})


def absent(ops):
    p = ops.params
    ec2 = ops.client("ec2")
    result = network.delete_managed(ec2, p["run_id"], check_mode=ops.check_mode, wait_timeout=p["wait_timeout"])
    if ops.check_mode:
        remaining = 0
    else:
        remaining = len(network.managed_groups(ec2, p["run_id"])) + len(network.managed_subnets(ec2, p["run_id"]))
    prefix = "would_delete" if ops.check_mode else "deleted"
    outputs = dict(mode="teardown", deleted_groups=result["groups"], deleted_subnets=result["subnets"], remaining=remaining)
    return dict(changed=result["changed"], status="planned" if ops.check_mode and result["changed"] else "ok", outputs=outputs,
                line=[(prefix + "_groups", len(result["groups"])), (prefix + "_subnets", len(result["subnets"])), ("remaining", remaining)],
                diff={"before": {"security_groups": result["groups"], "subnets": result["subnets"]},
                      "after": {"security_groups": [], "subnets": []}})


def run(ops):
    p = ops.params
    if p["state"] == "absent":
        # One module, two receipts: the network is checked in bringup and deleted in teardown.
        ops.operation, ops.phase, ops.status_key = "dr_teardown", "network_teardown", "network_teardown"
    phases.validate_run_id(p["run_id"])
    if p["state"] == "absent":
        return absent(ops)
    values = network.validate_inputs(p["state"], subnet_id=p["subnet_id"], security_group_ids=p["security_group_ids"], vpc_id=p["vpc_id"],
                                     api_cidrs=p["api_cidrs"], ssh_cidrs=p["ssh_cidrs"], subnet_cidr=p["subnet_cidr"],
                                     availability_zone=p["availability_zone"], egress=p["egress"], api_port=p["api_port"])
    terms = network.contract(values["api_cidrs"], values["ssh_cidrs"], values["vpc_id"], values["egress"], values["api_port"],
                             require_api=p["require_api_access"])
    return verify(ops, values, terms) if p["state"] == "verify" else present(ops, values, terms)


def main():
    OpsModule(ARGUMENT_SPEC, operation="dr_bringup", phase="network", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
