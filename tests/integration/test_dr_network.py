"""The DR runner's network against the sandbox's EC2: refused before launch, made with exactly the rules, torn down by tag.

State is read back with boto3 (DescribeSecurityGroups, DescribeInstances by the run-id tag) and the sandbox's AWS request
log, never from the modules' own output alone. Each test uses its own run id and groups.
"""

import json
import os
import uuid

from tests.integration.test_dr_drill import last_seq, aws_requests_since, runners

NETWORK_TASK = "Check the runner's subnet and security groups, or make the run's own (dr_manage_network)"
OPERATOR = "203.0.113.0/24"
WRITES = ("Create", "Authorize", "Revoke", "Delete", "Modify", "Run", "Terminate", "Start", "Put")


def uid():
    return uuid.uuid4().hex[:8]


def sandbox_vpc(ec2, sandbox):
    return ec2.describe_subnets(SubnetIds=[sandbox["SANDBOX_ECS_SUBNETS"].split(",")[0]])["Subnets"][0]["VpcId"]


def groups_of_run(ec2, run_id):
    return ec2.describe_security_groups(Filters=[{"Name": "tag:signalcraft:dr-run-id", "Values": [run_id]}])["SecurityGroups"]


def flat(text):
    """The output with whitespace collapsed (the output callback folds long status lines)."""
    return " ".join(text.split())


def rules(group):
    """(direction, protocol, from, to, cidr) of every rule, as EC2 reports them."""
    found = set()
    for direction, key in (("in", "IpPermissions"), ("out", "IpPermissionsEgress")):
        for permission in group[key]:
            for cidr in [r["CidrIp"] for r in permission.get("IpRanges", [])] + [r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])]:
                found.add((direction, permission["IpProtocol"], permission.get("FromPort"), permission.get("ToPort"), cidr))
            for pair in permission.get("UserIdGroupPairs", []):
                found.add((direction, permission["IpProtocol"], permission.get("FromPort"), permission.get("ToPort"), pair["GroupId"]))
    return found


BRINGUP = """
- name: Bring up a DR runner alone, the network made by the role
  hosts: localhost
  gather_facts: false
  roles:
    - role: signalcraft.ops.dr_bringup
"""

# The second time only the network step, with what the role passed it (the runner's own reuse is dr_runner's test).
BRINGUP_TWICE = BRINGUP + """
- name: Ensure the run's network again
  hosts: localhost
  gather_facts: false
  tasks:
    - name: The network step of bringup, a second time
      signalcraft.ops.dr_network:
        state: present
        run_id: "{{ signalcraft_execution_id }}"
        subnet_id: "{{ dr_bringup_subnet_id }}"
        api_cidrs: "{{ dr_network_api_cidrs }}"
        egress: strict
      register: again
"""

TEARDOWN = """
- name: Tear the run down alone
  hosts: localhost
  gather_facts: false
  roles:
    - role: signalcraft.ops.dr_teardown
"""


def test_bringup_refuses_a_too_open_group_and_launches_nothing(sandbox, run_playbook, tmp_path):
    """SSH open to the world on the runner's group: the bringup role (what the drill's bringup phase runs) fails with
    dr_network_too_open naming the group and the rule, before dr_runner: no RunInstances was sent and no instance carries
    the run id. (The drill turns that failure into its bringup receipt as for any module failure of the phase.)"""
    ec2 = sandbox.boto3_client("ec2")
    run_id = "test-net-open-%s" % uid()
    group_id = ec2.create_security_group(GroupName="test-too-open-%s" % uid(), Description="SSH from anywhere",
                                         VpcId=sandbox_vpc(ec2, sandbox))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    playbook = tmp_path / "bringup.yml"
    playbook.write_text(BRINGUP)
    mark = last_seq(sandbox)
    run = run_playbook(str(playbook), {"signalcraft_execution_id": run_id, "signalcraft_receipt_root": str(tmp_path / "receipts"),
                                       "dr_bringup_security_group_ids": [group_id],
                                       "dr_bringup_kubeconfig_dest": str(tmp_path / "kubeconfig.yaml")})
    assert run.rc != 0
    text = flat(run.stdout)
    assert "network status=fail reason=dr_network_too_open violations=1" in text, run.stdout
    assert "%s ingress 22/tcp from 0.0.0.0/0: SSH from the whole internet: SSM Session Manager needs no inbound port" % group_id in text
    receipt = json.load(open(os.path.join(str(tmp_path / "receipts"), run_id, "network.json")))
    assert (receipt["status"], receipt["failure_code"]) == ("failed", "dr_network_too_open")
    assert receipt["outputs"]["violations"][0]["rule"] == "22/tcp from 0.0.0.0/0"
    # Nothing launched: the request log has no RunInstances, and EC2 has no instance with the run id.
    made = aws_requests_since(sandbox, mark)
    assert ("ec2", "DescribeSecurityGroups") in made
    assert [op for service, op in made if service == "ec2" and op.startswith(WRITES)] == [], made
    assert runners(sandbox, run_id) == []
    ec2.delete_security_group(GroupId=group_id)


def test_managed_network_check_mode_then_exact_rules_then_idempotent_then_teardown(sandbox, run_playbook, tmp_path):
    """dr_manage_network=true: check mode creates nothing; bringup creates the run's group with exactly 6443/tcp from the
    operator CIDR in and 443/tcp out (AWS's allow-all outbound rule gone) and launches the runner in it; ensuring it again
    changes nothing; teardown deletes that group (and terminates the runner) but not another run's group."""
    ec2 = sandbox.boto3_client("ec2")
    run_id = "test-net-managed-%s" % uid()
    values = {"signalcraft_execution_id": run_id, "signalcraft_receipt_root": str(tmp_path / "receipts"),
              "dr_manage_network": True, "dr_network_api_cidrs": [OPERATOR], "dr_network_egress": "strict",
              "dr_bringup_security_group_ids": [], "dr_bringup_kubeconfig_dest": str(tmp_path / "kubeconfig.yaml")}
    # Another run's group, tagged like the drill's: teardown of this run must leave it alone.
    decoy = ec2.create_security_group(
        GroupName="test-decoy-%s" % uid(), Description="another run's", VpcId=sandbox_vpc(ec2, sandbox),
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [
            {"Key": "signalcraft:dr-run-id", "Value": "other-%s" % run_id}, {"Key": "signalcraft:role", "Value": "dr-network"},
            {"Key": "signalcraft:managed-by", "Value": "signalcraft.ops.dr_network"}]}])["GroupId"]
    bringup, bringup_twice, teardown = tmp_path / "bringup.yml", tmp_path / "bringup_twice.yml", tmp_path / "teardown.yml"
    bringup.write_text(BRINGUP)
    bringup_twice.write_text(BRINGUP_TWICE)
    teardown.write_text(TEARDOWN)

    # (c) Check mode: says what it would create, writes nothing (no group, no instance, no write request at all).
    mark = last_seq(sandbox)
    checked = run_playbook(str(bringup), values, check=True)
    assert checked.rc == 0, checked.stdout
    assert "network status=planned mode=ensure subnet=%s group=new would_create=1 would_add=2 would_remove=1" % (
        sandbox["SANDBOX_ECS_SUBNETS"].split(",")[0]) in flat(checked.stdout)
    made = aws_requests_since(sandbox, mark)
    assert [op for _service, op in made if op.startswith(WRITES)] == [], made
    assert groups_of_run(ec2, run_id) == [] and runners(sandbox, run_id) == []

    # (b) Bringup, then the network step again: the group is made once with exactly the contract's rules, and the runner
    # is launched in it.
    mark = last_seq(sandbox)
    run = run_playbook(str(bringup_twice), values)
    assert run.rc == 0, run.stdout
    made = aws_requests_since(sandbox, mark)
    assert made.count(("ec2", "CreateSecurityGroup")) == 1 and made.count(("ec2", "RunInstances")) == 1
    found = groups_of_run(ec2, run_id)
    assert len(found) == 1
    group = found[0]
    assert group["GroupName"] == "signalcraft-dr-runner-%s" % run_id
    tags = dict((t["Key"], t["Value"]) for t in group["Tags"])
    assert tags["signalcraft:role"] == "dr-network" and tags["signalcraft:managed-by"] == "signalcraft.ops.dr_network"
    assert rules(group) == {("in", "tcp", 6443, 6443, OPERATOR), ("out", "tcp", 443, 443, "0.0.0.0/0")}
    instances = [i for i in runners(sandbox, run_id) if i["State"]["Name"] == "running"]
    assert len(instances) == 1
    assert [g["GroupId"] for g in instances[0]["SecurityGroups"]] == [group["GroupId"]]
    [first] = run.task_results(NETWORK_TASK)
    [again] = run.task_results("The network step of bringup, a second time")
    assert first["changed"] is True and again["changed"] is False, (first, again)
    assert again["outputs"]["created"] == {"subnet": None, "security_group": None}
    assert again["outputs"]["security_group_ids"] == [group["GroupId"]]
    assert again["token_line"].endswith("create=0 add=0 remove=0")
    receipt = json.load(open(os.path.join(str(tmp_path / "receipts"), run_id, "network.json")))
    assert receipt["status"] == "success" and receipt["outputs"]["security_group_ids"] == [group["GroupId"]]

    # Teardown: the runner goes, then the run's own group; the other run's group stays.
    done = run_playbook(str(teardown), {k: values[k] for k in ("signalcraft_execution_id", "signalcraft_receipt_root")})
    assert done.rc == 0, done.stdout
    assert "network_teardown status=ok deleted_groups=1 deleted_subnets=0 remaining=0" in flat(done.stdout)
    assert groups_of_run(ec2, run_id) == []
    assert [i["State"]["Name"] for i in runners(sandbox, run_id)] == ["terminated"]
    assert ec2.describe_security_groups(GroupIds=[decoy])["SecurityGroups"][0]["GroupId"] == decoy
    ec2.delete_security_group(GroupId=decoy)


SUBNET = """
- name: Make the run's own subnet and group, again, then delete them
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Present with a subnet CIDR, twice (the second finds what the first made)
      signalcraft.ops.dr_network:
        state: present
        run_id: "{{ signalcraft_execution_id }}"
        vpc_id: "{{ vpc_id }}"
        subnet_cidr: "{{ subnet_cidr }}"
        map_public_ip: true
        api_cidrs: ["203.0.113.0/24"]
        egress: strict
      loop: [first, again]
      register: present
    - name: Record what the two calls said
      ansible.builtin.copy:
        content: "{{ {'made': present.results[0].outputs.created, 'changed': present.results | map(attribute='changed') | list} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
    - name: Absent
      signalcraft.ops.dr_network:
        state: absent
        run_id: "{{ signalcraft_execution_id }}"
      when: not (keep | default(false) | bool)
"""


def test_managed_subnet_is_created_in_the_vpc_once_and_deleted_with_its_group(sandbox, run_playbook, tmp_path):
    """dr_network_subnet_cidr: the run's subnet is created in the VPC with the CIDR and the public-IP attribute, tagged
    with the run id; a second call finds it (changed=false); state=absent deletes exactly it and the run's group."""
    ec2 = sandbox.boto3_client("ec2")
    run_id = "test-net-subnet-%s" % uid()
    vpc_id = sandbox_vpc(ec2, sandbox)
    vpc_cidr = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"]
    taken = {s["CidrBlock"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]}
    base = vpc_cidr.split("/")[0].split(".")
    cidr = next("%s.%s.%d.0/28" % (base[0], base[1], third) for third in range(200, 255)
                if "%s.%s.%d.0/24" % (base[0], base[1], third) not in taken and "%s.%s.%d.0/28" % (base[0], base[1], third) not in taken)
    playbook = tmp_path / "subnet.yml"
    playbook.write_text(SUBNET)
    out = tmp_path / "said.json"
    run = run_playbook(str(playbook), {"signalcraft_execution_id": run_id, "signalcraft_receipt_root": str(tmp_path / "receipts"),
                                       "vpc_id": vpc_id, "subnet_cidr": cidr, "out": str(out), "keep": True})
    assert run.rc == 0, run.stdout
    said = json.loads(out.read_text())
    assert said["changed"] == [True, False]
    [subnet] = ec2.describe_subnets(Filters=[{"Name": "tag:signalcraft:dr-run-id", "Values": [run_id]}])["Subnets"]
    assert (subnet["VpcId"], subnet["CidrBlock"], subnet["MapPublicIpOnLaunch"]) == (vpc_id, cidr, True)
    assert said["made"]["subnet"] == subnet["SubnetId"]
    [group] = groups_of_run(ec2, run_id)
    assert group["VpcId"] == vpc_id and said["made"]["security_group"] == group["GroupId"]

    gone = run_playbook(str(playbook), {"signalcraft_execution_id": run_id, "signalcraft_receipt_root": str(tmp_path / "receipts"),
                                        "vpc_id": vpc_id, "subnet_cidr": cidr, "out": str(out), "keep": False})
    assert gone.rc == 0, gone.stdout
    assert ec2.describe_subnets(Filters=[{"Name": "tag:signalcraft:dr-run-id", "Values": [run_id]}])["Subnets"] == []
    assert groups_of_run(ec2, run_id) == []
