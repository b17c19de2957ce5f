"""The DR runner's network contract (runbooks/dr/network.py), decided from DescribeSubnets/DescribeSecurityGroups data alone.

Inbound only the k3s API (6443/tcp) from dr_network_api_cidrs (SSH only from dr_network_ssh_cidrs; SSM needs no inbound
port), outbound HTTPS (443/tcp) required, anything else outbound refused with egress=strict and only warned about with
egress=https_required. Each violation names the group, the rule and why, with a registered token.
"""

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core import reasons
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import network

VPC = "vpc-0a1b2c3d4e5f60718"
OTHER_VPC = "vpc-11111111111111111"
SUBNET_ID = "subnet-0123456789abcdef0"
SUBNET = {"SubnetId": SUBNET_ID, "VpcId": VPC, "CidrBlock": "10.0.1.0/24", "AvailabilityZone": "us-east-1a", "MapPublicIpOnLaunch": True}
OPERATOR = "203.0.113.0/24"


def tcp(port, cidr, to_port=None):
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": to_port if to_port is not None else port, "IpRanges": [{"CidrIp": cidr}]}


HTTPS_OUT = tcp(443, "0.0.0.0/0")
ALL_OUT = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def group(group_id="sg-0aaaaaaaaaaaaaaaa", ingress=(), egress=(HTTPS_OUT,), vpc=VPC, name="dr-runner"):
    return {"GroupId": group_id, "GroupName": name, "VpcId": vpc, "IpPermissions": list(ingress), "IpPermissionsEgress": list(egress)}


def plan(groups, requested=None, subnet="given", default_group=False, **terms):
    subnet = SUBNET if subnet == "given" else subnet
    values = dict(api_cidrs=[OPERATOR])
    values.update(terms)
    requested = [g["GroupId"] for g in groups] if requested is None else requested
    return network.plan_network(SUBNET_ID, subnet, requested, groups, network.contract(**values), default_group=default_group)


def only(result):
    assert len(result["violations"]) == 1, result["violations"]
    return result["violations"][0]


def test_exactly_the_k3s_api_from_the_operator_and_https_out_passes():
    result = plan([group(ingress=[tcp(6443, OPERATOR)])])
    assert result["ok"] and result["reason"] is None and result["violations"] == [] and result["warnings"] == []
    assert result["api_sources"] == [OPERATOR] and result["https_egress"] == ["0.0.0.0/0"]
    assert result["groups"][0]["ingress"] == ["6443/tcp from 203.0.113.0/24"]
    assert result["groups"][0]["egress"] == ["443/tcp to 0.0.0.0/0"]


def test_open_ssh_is_too_open_and_says_ssm_needs_no_inbound_port():
    found = only(plan([group(ingress=[tcp(6443, OPERATOR), tcp(22, "0.0.0.0/0")])]))
    assert found["reason"] == "dr_network_too_open"
    assert (found["group_id"], found["direction"], found["rule"]) == ("sg-0aaaaaaaaaaaaaaaa", "ingress", "22/tcp from 0.0.0.0/0")
    assert "SSM Session Manager needs no inbound port" in found["why"] and "whole internet" in found["why"]
    assert "dr_network_ssh_cidrs" in found["why"]


def test_ssh_only_from_the_named_cidrs():
    bastion = "198.51.100.10/32"
    assert plan([group(ingress=[tcp(6443, OPERATOR), tcp(22, bastion)])], ssh_cidrs=["198.51.100.0/24"])["ok"]
    found = only(plan([group(ingress=[tcp(6443, OPERATOR), tcp(22, "192.0.2.0/24")])], ssh_cidrs=["198.51.100.0/24"]))
    assert found["reason"] == "dr_network_too_open" and found["rule"] == "22/tcp from 192.0.2.0/24"


def test_the_whole_internet_on_6443_is_too_open_when_cidrs_are_configured():
    found = only(plan([group(ingress=[tcp(6443, "0.0.0.0/0")])]))
    assert found["reason"] == "dr_network_too_open" and found["rule"] == "6443/tcp from 0.0.0.0/0"
    assert "outside dr_network_api_cidrs (203.0.113.0/24)" in found["why"] and "whole internet" in found["why"]


def test_6443_with_no_cidrs_configured_is_too_open_since_ssm_port_forwarding_needs_nothing():
    found = only(plan([group(ingress=[tcp(6443, "10.0.0.0/8")])], api_cidrs=[]))
    assert found["reason"] == "dr_network_too_open" and "dr_network_api_cidrs is empty" in found["why"]
    # ... and no inbound rule at all is exactly right then.
    assert plan([group()], api_cidrs=[])["ok"]


def test_a_narrower_source_inside_the_operator_cidr_is_fine_a_wider_port_range_is_not():
    assert plan([group(ingress=[tcp(6443, "203.0.113.8/29")])])["ok"]
    found = only(plan([group(ingress=[tcp(6443, OPERATOR), tcp(6000, OPERATOR, 7000)])]))
    assert found["reason"] == "dr_network_too_open" and found["rule"] == "6000-7000/tcp from 203.0.113.0/24"
    assert "serves only the k3s API (6443/tcp)" in found["why"]


@pytest.mark.parametrize("permission,text", [
    ({"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}, "all traffic from 0.0.0.0/0"),
    ({"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}, "icmp from 0.0.0.0/0"),
    ({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}, "22/tcp from ::/0"),
    ({"IpProtocol": "6", "FromPort": 0, "ToPort": 65535, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}, "all tcp ports from 10.0.0.0/8"),
    ({"IpProtocol": "tcp", "FromPort": 6443, "ToPort": 6443, "PrefixListIds": [{"PrefixListId": "pl-0123abcd"}]},
     "6443/tcp from prefix list pl-0123abcd"),
    ({"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-0bbbbbbbbbbbbbbbb"}]}, "all traffic from security group sg-0bbbbbbbbbbbbbbbb"),
])
def test_anything_else_inbound_is_named_as_too_open(permission, text):
    found = only(plan([group(ingress=[tcp(6443, OPERATOR), permission])]))
    assert (found["reason"], found["direction"], found["rule"]) == ("dr_network_too_open", "ingress", text)


def test_the_vpc_default_group_is_checked_when_no_group_is_given():
    default = group("sg-0dddddddddddddddd", name="default", egress=[ALL_OUT],
                    ingress=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-0dddddddddddddddd"}]}])
    result = plan([default], requested=[], default_group=True, api_cidrs=[], egress="https_required")
    found = only(result)
    assert found["reason"] == "dr_network_too_open" and "members of this group itself" in found["why"]
    assert "VPC's default group" in found["why"] and "dr_bringup_security_group_ids is empty" in found["why"]


def test_missing_https_egress_is_closed():
    found = only(plan([group(ingress=[tcp(6443, OPERATOR)], egress=[])]))
    assert found["reason"] == "dr_network_closed" and found["direction"] == "egress" and found["rule"] == "443/tcp"
    assert "SSM agent" in found["why"]
    # Outbound to port 80 only is just as closed (and, strict, also too open).
    result = plan([group(ingress=[tcp(6443, OPERATOR)], egress=[tcp(80, "0.0.0.0/0")])])
    assert result["reason"] == "dr_network_too_open"
    assert sorted(v["reason"] for v in result["violations"]) == ["dr_network_closed", "dr_network_too_open"]


def test_https_to_an_endpoint_prefix_list_counts_as_https_out():
    egress = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": "pl-63a5400a"}]}]
    result = plan([group(ingress=[tcp(6443, OPERATOR)], egress=egress)])
    assert result["ok"] and result["https_egress"] == ["pl-63a5400a"]


def test_allow_all_egress_is_refused_strict_and_only_warned_about_with_https_required():
    groups = [group(ingress=[tcp(6443, OPERATOR)], egress=[ALL_OUT])]
    found = only(plan(groups))
    assert (found["reason"], found["direction"], found["rule"]) == ("dr_network_too_open", "egress", "all traffic to 0.0.0.0/0")
    assert "dr_network_egress=https_required" in found["why"]
    relaxed = plan(groups, egress="https_required")
    assert relaxed["ok"] and relaxed["https_egress"] == ["0.0.0.0/0"]
    assert len(relaxed["warnings"]) == 1 and "all traffic to 0.0.0.0/0" in relaxed["warnings"][0]


def test_the_rules_of_all_groups_are_checked_together():
    api = group("sg-0aaaaaaaaaaaaaaaa", ingress=[tcp(6443, OPERATOR)], egress=[])
    out = group("sg-0bbbbbbbbbbbbbbbb", egress=[HTTPS_OUT])
    assert plan([api, out])["ok"]
    assert plan([api])["reason"] == "dr_network_closed"


def test_the_operator_cidr_must_be_let_in():
    found = only(plan([group()]))
    assert (found["reason"], found["rule"]) == ("dr_network_closed", "6443/tcp from 203.0.113.0/24")
    assert "could not reach the DR cluster" in found["why"]


def test_a_real_runner_needs_some_cidr_for_the_api():
    found = only(plan([group()], api_cidrs=[], require_api=True))
    assert found["reason"] == "dr_network_closed" and "dr_network_api_cidrs is empty" in found["why"]


def test_a_missing_subnet_wins_over_everything_else():
    result = plan([group(ingress=[tcp(22, "0.0.0.0/0")])], subnet=None)
    assert result["reason"] == "dr_network_missing"
    missing = [v for v in result["violations"] if v["reason"] == "dr_network_missing"][0]
    assert missing["rule"] == "subnet %s" % SUBNET_ID and "dr_bringup_subnet_id" in missing["why"]
    assert "dr_manage_network=true" in missing["why"]


def test_a_missing_group_is_named():
    found = only(plan([], requested=["sg-0eeeeeeeeeeeeeeee"]))
    assert (found["reason"], found["group_id"]) == ("dr_network_missing", "sg-0eeeeeeeeeeeeeeee")
    assert "dr_bringup_security_group_ids" in found["why"]


def test_wrong_vpc_for_the_subnet_and_for_a_group():
    found = only(plan([group(ingress=[tcp(6443, OPERATOR)])], vpc_id=OTHER_VPC))
    assert found["reason"] == "dr_network_wrong_vpc" and OTHER_VPC in found["why"] and VPC in found["why"]
    found = only(plan([group(ingress=[tcp(6443, OPERATOR)], vpc=OTHER_VPC)]))
    assert (found["reason"], found["group_id"]) == ("dr_network_wrong_vpc", "sg-0aaaaaaaaaaaaaaaa")
    assert plan([group(ingress=[tcp(6443, OPERATOR)])], vpc_id=VPC)["ok"]


def test_precedence_and_the_message_names_group_rule_and_why():
    result = plan([group(ingress=[tcp(22, "0.0.0.0/0")], vpc=OTHER_VPC, egress=[])])
    assert result["reason"] == "dr_network_wrong_vpc"
    message = network.violation_message(result)
    assert message.startswith("the DR runner's network does not meet its contract (4 problems): security group sg-0aaaaaaaaaaaaaaaa: ")
    assert message.index("is in %s" % OTHER_VPC) < message.index("22/tcp from 0.0.0.0/0") < message.index("443/tcp")
    assert "sg-0aaaaaaaaaaaaaaaa ingress 22/tcp from 0.0.0.0/0: SSH from the whole internet" in message


def test_every_token_the_plan_can_name_is_registered():
    for token in network.PRECEDENCE + ("dr_network_conflict", "dr_network_in_use"):
        assert reasons.is_registered(token), token


# -- inputs, before any AWS call ---------------------------------------------------------------------

def refused(**kwargs):
    values = dict(state="verify", subnet_id=SUBNET_ID)
    values.update(kwargs)
    with pytest.raises(OpsError) as info:
        network.validate_inputs(**values)
    return info.value


@pytest.mark.parametrize("kwargs,reason,variable", [
    (dict(subnet_id="subnet-xyz"), "invalid_input", "dr_bringup_subnet_id"),
    (dict(subnet_id="sg-0123456789abcdef0"), "invalid_input", "dr_bringup_subnet_id"),
    (dict(security_group_ids=["sg-12"]), "invalid_input", "dr_bringup_security_group_ids"),
    (dict(security_group_ids=["subnet-0123456789abcdef0"]), "invalid_input", "dr_bringup_security_group_ids"),
    (dict(vpc_id="vpc_1"), "invalid_input", "dr_network_vpc_id"),
    (dict(api_cidrs=["10.0.0.300/8"]), "invalid_input", "dr_network_api_cidrs"),
    (dict(api_cidrs=["0.0.0.0/0"]), "dr_network_too_open", "dr_network_api_cidrs"),
    (dict(ssh_cidrs=["::/0"]), "dr_network_too_open", "dr_network_ssh_cidrs"),
    (dict(egress="open"), "invalid_input", "dr_network_egress"),
    (dict(subnet_id=""), "invalid_input", "dr_bringup_subnet_id"),
    (dict(subnet_id="REPLACE_WITH_PROD_DR_SUBNET_ID"), "inventory_placeholder", "dr_bringup_subnet_id"),
    (dict(api_cidrs=["REPLACE_WITH_PROD_DR_CONTROLLER_CIDR"]), "inventory_placeholder", "dr_network_api_cidrs"),
    (dict(state="present", subnet_id="", vpc_id=VPC), "invalid_input", "dr_network_subnet_cidr"),
    (dict(state="present", subnet_cidr="10.0.9.0/24", vpc_id=VPC), "invalid_input", "not both"),
    (dict(state="present", subnet_id="", vpc_id=VPC, subnet_cidr="10.0.0.0/8"), "invalid_input", "/16 and /28"),
    (dict(state="present", subnet_id="", vpc_id=VPC, subnet_cidr="10.0.9.0/24", availability_zone="east"), "invalid_input",
     "dr_network_availability_zone"),
])
def test_bad_input_is_refused_naming_the_variable(kwargs, reason, variable):
    error = refused(**kwargs)
    assert error.reason == reason and variable in error.message, error.message


def test_a_cidr_with_host_bits_is_refused_with_its_network():
    error = refused(api_cidrs=["203.0.113.7/24"])
    assert "did you mean 203.0.113.0/24" in error.message


def test_good_input_is_normalised():
    values = network.validate_inputs("present", vpc_id=VPC, subnet_cidr="10.0.9.0/24", api_cidrs=["2001:db8::/32", OPERATOR],
                                     security_group_ids=["sg-0123abcd"])
    assert values["api_cidrs"] == ["2001:db8::/32", OPERATOR] and values["subnet_cidr"] == "10.0.9.0/24"
    assert values["security_group_ids"] == ["sg-0123abcd"]


# -- the run's own group -------------------------------------------------------------------------------

def test_a_new_group_loses_the_default_outbound_rule_and_gains_exactly_the_contract():
    terms = network.contract(api_cidrs=[OPERATOR, "2001:db8::/32"], ssh_cidrs=["198.51.100.10/32"])
    changes = network.rule_changes(group(egress=[network.AWS_DEFAULT_EGRESS]), terms)
    assert changes["added"] == ["22/tcp from 198.51.100.10/32", "443/tcp to 0.0.0.0/0", "6443/tcp from 2001:db8::/32",
                                "6443/tcp from 203.0.113.0/24"]
    assert changes["removed"] == ["all traffic to 0.0.0.0/0"]
    assert changes["revoke_egress"] == [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    assert {"IpProtocol": "tcp", "FromPort": 6443, "ToPort": 6443,
            "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32", "Description": "k3s API from dr_network_api_cidrs"}]} in changes["authorize_ingress"]
    # The planned group passes its own contract, and once it has those rules nothing changes (descriptions aside).
    planned = network.planned_group("run-1", VPC, terms, group_id="sg-0aaaaaaaaaaaaaaaa")
    assert network.plan_network(SUBNET_ID, SUBNET, [], [planned], terms)["ok"]
    bare = group(ingress=[tcp(6443, OPERATOR), {"IpProtocol": "tcp", "FromPort": 6443, "ToPort": 6443,
                                                "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}]}, tcp(22, "198.51.100.10/32")])
    unchanged = network.rule_changes(bare, terms)
    assert unchanged["added"] == [] and unchanged["removed"] == []


def test_an_extra_rule_on_the_runs_group_is_revoked_exactly():
    terms = network.contract(api_cidrs=[OPERATOR])
    changes = network.rule_changes(group(ingress=[tcp(6443, OPERATOR), tcp(22, "0.0.0.0/0")]), terms)
    assert changes["removed"] == ["22/tcp from 0.0.0.0/0"] and changes["added"] == []
    assert changes["revoke_ingress"] == [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]


def test_the_runs_resources_carry_the_tags_teardown_looks_for():
    tags = dict((t["Key"], t["Value"]) for t in network.resource_tags("run-1", network.group_name("run-1"), {"Name": "x", "team": "ops"}))
    assert tags == {"Name": "signalcraft-dr-runner-run-1", "signalcraft:dr-run-id": "run-1", "signalcraft:role": "dr-network",
                    "signalcraft:managed-by": "signalcraft.ops.dr_network", "team": "ops"}
