# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DR runner's network: its subnet and security groups, checked against what the runner needs, or made for it.

What a runner needs, and nothing more (the contract ``plan_network`` checks):

- inbound: the k3s API (6443/tcp) from the operator's CIDRs (``dr_network_api_cidrs``) and nothing else. SSM
  Session Manager (and its port forwarding to 6443) needs no inbound port, so with no CIDRs configured the runner
  accepts no inbound traffic at all; SSH (22/tcp) only from CIDRs named in ``dr_network_ssh_cidrs``;
- outbound: HTTPS (443/tcp). The SSM agent reaches the ssm, ssmmessages and ec2messages endpoints over HTTPS, and so
  do the kubeconfig publish (ssm:PutParameter), ECR/S3 image pulls and the pinned k3s download. DNS to the VPC's
  Route 53 Resolver, the instance metadata service and Amazon Time Sync are not filtered by security groups. With
  ``egress=strict`` (the default) any other outbound rule is refused; ``egress=https_required`` only warns about it
  (AWS gives every new group an allow-all outbound rule).

The rules of all the groups an instance has are aggregated by EC2, so the contract is checked over their union. With
no group given, RunInstances uses the VPC's ``default`` group, which is what gets checked.

Groups and subnets this code creates carry the drill's run-id tag and ``signalcraft:role=dr-network``; teardown
deletes exactly those and nothing else.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re
import time

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError

RUN_ID_TAG = "signalcraft:dr-run-id"
ROLE_TAG = "signalcraft:role"
ROLE_VALUE = "dr-network"
MANAGED_TAG = "signalcraft:managed-by"
MANAGED_VALUE = "signalcraft.ops.dr_network"
API_PORT = 6443
HTTPS_PORT = 443
SSH_PORT = 22
EGRESS_MODES = ("strict", "https_required")
# Which token wins when several kinds of violation are found (the first one present).
PRECEDENCE = ("dr_network_missing", "dr_network_wrong_vpc", "dr_network_too_open", "dr_network_closed")
PLANNED_ID = "(new)"
# The outbound rule EC2 gives every new VPC security group.
AWS_DEFAULT_EGRESS = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}

_SUBNET_ID = re.compile(r"^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_GROUP_ID = re.compile(r"^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_VPC_ID = re.compile(r"^vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_AZ = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-[0-9][a-z]$")
_PROTOCOLS = {"-1": "all", "all": "all", "tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp",
              "icmpv6": "icmpv6", "58": "icmpv6"}


# -- input -----------------------------------------------------------------------------------------

def _invalid(message):
    return OpsError("invalid_input", message)


def _cidrs(values, variable):
    found = []
    for value in values or []:
        text = str(value).strip()
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            try:
                canonical = " (did you mean %s?)" % ipaddress.ip_network(text, strict=False)
            except ValueError:
                canonical = ""
            raise _invalid("%s: %r is not a CIDR block%s (%s); fix %s." % (variable, text, canonical, exc, variable))
        if network.prefixlen == 0:
            raise OpsError("dr_network_too_open", "%s contains %s: the runner would accept that traffic from the whole internet; "
                                                  "name the operator's network (e.g. 203.0.113.0/24) in %s." % (variable, text, variable))
        found.append(str(network))
    return found


def validate_inputs(state, subnet_id="", security_group_ids=None, vpc_id="", api_cidrs=None, ssh_cidrs=None, subnet_cidr="",
                    availability_zone="", egress="strict", api_port=API_PORT):
    """The module's inputs, checked and normalised before any AWS call; names the -e variable to fix."""
    for value, variable in ([(subnet_id, "dr_bringup_subnet_id"), (vpc_id, "dr_network_vpc_id"), (subnet_cidr, "dr_network_subnet_cidr")]
                            + [(g, "dr_bringup_security_group_ids") for g in security_group_ids or []]
                            + [(c, "dr_network_api_cidrs") for c in api_cidrs or []] + [(c, "dr_network_ssh_cidrs") for c in ssh_cidrs or []]):
        if isinstance(value, str) and value.startswith("REPLACE_WITH_"):
            raise OpsError("inventory_placeholder", "%s is the inventory placeholder %r; set it in inventories/<env>/group_vars/all/ "
                                                    "(or pass -e %s=...)." % (variable, value, variable))
    if subnet_id and not _SUBNET_ID.match(subnet_id):
        raise _invalid("dr_bringup_subnet_id %r is not a subnet id (subnet- and 8 or 17 hex digits); fix dr_bringup_subnet_id." % subnet_id)
    for group_id in security_group_ids or []:
        if not _GROUP_ID.match(str(group_id)):
            raise _invalid("dr_bringup_security_group_ids: %r is not a security group id (sg- and 8 or 17 hex digits); "
                           "fix dr_bringup_security_group_ids." % (group_id,))
    if vpc_id and not _VPC_ID.match(vpc_id):
        raise _invalid("dr_network_vpc_id %r is not a VPC id (vpc- and 8 or 17 hex digits); fix dr_network_vpc_id." % vpc_id)
    if egress not in EGRESS_MODES:
        raise _invalid("dr_network_egress %r must be one of %s." % (egress, ", ".join(EGRESS_MODES)))
    if not 1 <= int(api_port) <= 65535:
        raise _invalid("the k3s API port %r is not a TCP port." % (api_port,))
    if availability_zone and not _AZ.match(availability_zone):
        raise _invalid("dr_network_availability_zone %r is not an availability zone name (e.g. us-east-1a)." % availability_zone)
    values = dict(subnet_id=subnet_id or "", security_group_ids=list(security_group_ids or []), vpc_id=vpc_id or "",
                  api_cidrs=_cidrs(api_cidrs, "dr_network_api_cidrs"), ssh_cidrs=_cidrs(ssh_cidrs, "dr_network_ssh_cidrs"),
                  subnet_cidr="", availability_zone=availability_zone or "", egress=egress, api_port=int(api_port))
    if subnet_cidr:
        try:
            subnet_network = ipaddress.ip_network(str(subnet_cidr).strip(), strict=True)
        except ValueError as exc:
            raise _invalid("dr_network_subnet_cidr %r is not a CIDR block (%s); fix dr_network_subnet_cidr." % (subnet_cidr, exc))
        if subnet_network.version != 4 or not 16 <= subnet_network.prefixlen <= 28:
            raise _invalid("dr_network_subnet_cidr %s must be an IPv4 block between /16 and /28 (the sizes EC2 allows)." % subnet_network)
        values["subnet_cidr"] = str(subnet_network)
    if state == "verify" and not values["subnet_id"]:
        raise _invalid("the runner's subnet is not set: set dr_bringup_subnet_id (or -e dr_manage_network=true with "
                       "dr_network_vpc_id and dr_network_subnet_cidr to create one).")
    if state == "present" and not values["subnet_id"] and not (values["subnet_cidr"] and values["vpc_id"]):
        raise _invalid("with dr_manage_network=true, set dr_bringup_subnet_id (an existing subnet) or dr_network_vpc_id and "
                       "dr_network_subnet_cidr (a subnet the drill creates).")
    if values["subnet_id"] and values["subnet_cidr"]:
        raise _invalid("set either dr_bringup_subnet_id (use a subnet) or dr_network_subnet_cidr (create one), not both.")
    return values


def contract(api_cidrs=None, ssh_cidrs=None, vpc_id="", egress="strict", api_port=API_PORT, require_api=False):
    """What the runner's network must allow (see the module docstring). ``require_api``: the controller reaches the k3s
    API at the runner's address (a real runner's kubeconfig), so some CIDR must be let in."""
    return {"api_cidrs": list(api_cidrs or []), "ssh_cidrs": list(ssh_cidrs or []), "vpc_id": vpc_id or "",
            "egress": egress, "api_port": int(api_port), "require_api": bool(require_api)}


# -- rules -----------------------------------------------------------------------------------------

def _ports(protocol, from_port, to_port):
    """(low, high) TCP/UDP port range a rule covers; all ports for ``all``; None for ICMP and other protocols."""
    if protocol == "all":
        return (0, 65535)
    if protocol in ("tcp", "udp"):
        if from_port is None or from_port == -1:
            return (0, 65535)
        return (int(from_port), int(to_port if to_port is not None else from_port))
    return None


def _rule_text(entry):
    protocol, ports = entry["protocol"], entry["ports"]
    if protocol == "all":
        what = "all traffic"
    elif ports is None:
        what = protocol if protocol in ("icmp", "icmpv6") else "protocol %s" % protocol
    elif ports == (0, 65535):
        what = "all %s ports" % protocol
    elif ports[0] == ports[1]:
        what = "%d/%s" % (ports[0], protocol)
    else:
        what = "%d-%d/%s" % (ports[0], ports[1], protocol)
    label = {"cidr": "", "prefix_list": "prefix list ", "group": "security group "}[entry["kind"]]
    return "%s %s %s%s" % (what, "from" if entry["direction"] == "ingress" else "to", label, entry["value"])


def entries(group):
    """One entry per (direction, protocol, ports, source/destination) of a DescribeSecurityGroups group."""
    found = []
    for direction, key in (("ingress", "IpPermissions"), ("egress", "IpPermissionsEgress")):
        for permission in group.get(key) or []:
            raw = str(permission.get("IpProtocol", "-1")).lower()
            protocol = _PROTOCOLS.get(raw, raw)
            ports = _ports(protocol, permission.get("FromPort"), permission.get("ToPort"))
            peers = ([("cidr", r["CidrIp"]) for r in permission.get("IpRanges") or []]
                     + [("cidr", r["CidrIpv6"]) for r in permission.get("Ipv6Ranges") or []]
                     + [("prefix_list", p["PrefixListId"]) for p in permission.get("PrefixListIds") or []]
                     + [("group", p.get("GroupId") or p.get("GroupName")) for p in permission.get("UserIdGroupPairs") or []])
            for kind, value in peers:
                entry = {"group_id": group.get("GroupId"), "direction": direction, "protocol": protocol, "ports": ports,
                         "kind": kind, "value": value, "raw_protocol": permission.get("IpProtocol", "-1"),
                         "from_port": permission.get("FromPort"), "to_port": permission.get("ToPort")}
                entry["text"] = _rule_text(entry)
                found.append(entry)
    return found


def _network(value):
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def _within(value, cidrs):
    """Whether CIDR ``value`` lies inside one of ``cidrs``."""
    network = _network(value)
    if network is None:
        return False
    for cidr in cidrs:
        allowed = _network(cidr)
        if allowed is not None and allowed.version == network.version and network.subnet_of(allowed):
            return True
    return False


def _overlaps(first, second):
    one, other = _network(first), _network(second)
    return one is not None and other is not None and one.version == other.version and one.overlaps(other)


def _covers(entry, port, protocol="tcp"):
    return entry["protocol"] in (protocol, "all") and entry["ports"] is not None and entry["ports"][0] <= port <= entry["ports"][1]


def _exactly(entry, port, protocol="tcp"):
    return entry["protocol"] == protocol and entry["ports"] == (port, port)


def _violation(reason, group_id, direction, rule, why):
    return {"reason": reason, "group_id": group_id, "direction": direction, "rule": rule, "why": why}


def _ingress_why(entry, terms):
    """Why an inbound rule is more than the runner needs."""
    port = terms["api_port"]
    if entry["kind"] == "group":
        source = "members of %s" % ("this group itself" if entry["value"] == entry["group_id"] else "security group %s" % entry["value"])
        return "%s reach the runner; it serves only the k3s API (%d/tcp) to dr_network_api_cidrs" % (source, port)
    if entry["kind"] == "prefix_list":
        return "a prefix list's CIDRs are not checked here; list the operator's CIDRs in dr_network_api_cidrs instead"
    network = _network(entry["value"])
    world = network is not None and network.prefixlen == 0
    if _covers(entry, SSH_PORT) and not _exactly(entry, port):
        return ("SSH%s: SSM Session Manager needs no inbound port (allow SSH from named CIDRs with dr_network_ssh_cidrs)"
                % (" from the whole internet" if world else ""))
    if _exactly(entry, port):
        if not terms["api_cidrs"]:
            return ("the k3s API is open to %s but dr_network_api_cidrs is empty (SSM port forwarding needs no inbound); "
                    "name the operator's CIDRs in dr_network_api_cidrs or remove the rule" % entry["value"])
        return "%s is outside dr_network_api_cidrs (%s)%s" % (entry["value"], ", ".join(terms["api_cidrs"]),
                                                              ": the whole internet" if world else "")
    return "the runner serves only the k3s API (%d/tcp) to dr_network_api_cidrs%s" % (port, "; this is open to the whole internet" if world else "")


def plan_network(subnet_id, subnet, requested_group_ids, groups, terms, default_group=False):
    """Decide whether a runner in ``subnet`` with ``groups`` gets exactly what it needs (pure; no AWS calls).

    ``subnet`` is the DescribeSubnets entry (None: it does not exist); ``groups`` the DescribeSecurityGroups entries
    found for ``requested_group_ids`` (a missing one is named); ``terms`` is ``contract(...)``; ``default_group``
    says the group checked is the VPC's default one (no group was given). Returns ``{"ok", "reason", "violations",
    "warnings", "https_egress", "api_sources", "subnet", "groups"}``; each violation names the group, the rule and why.
    """
    violations, warnings = [], []
    port = terms["api_port"]
    if subnet is None:
        violations.append(_violation("dr_network_missing", None, None, "subnet %s" % subnet_id,
                                     "subnet %s does not exist in this region; fix dr_bringup_subnet_id (or -e dr_manage_network=true "
                                     "with dr_network_vpc_id and dr_network_subnet_cidr to create one)" % subnet_id))
    elif terms["vpc_id"] and subnet.get("VpcId") != terms["vpc_id"]:
        violations.append(_violation("dr_network_wrong_vpc", None, None, "subnet %s" % subnet_id,
                                     "subnet %s is in %s, not in dr_network_vpc_id %s" % (subnet_id, subnet.get("VpcId"), terms["vpc_id"])))
    found_ids = set(g.get("GroupId") for g in groups)
    for group_id in requested_group_ids:
        if group_id not in found_ids:
            violations.append(_violation("dr_network_missing", group_id, None, "security group %s" % group_id,
                                         "security group %s does not exist in this region; fix dr_bringup_security_group_ids "
                                         "(or -e dr_manage_network=true to create the runner's own)" % group_id))
    if default_group and not groups and subnet is not None:
        violations.append(_violation("dr_network_missing", None, None, "default security group",
                                     "no security group is set (dr_bringup_security_group_ids) and VPC %s has no default group"
                                     % subnet.get("VpcId")))
    vpc = subnet.get("VpcId") if subnet is not None else None
    for group in groups:
        if vpc and group.get("VpcId") and group.get("VpcId") != vpc:
            violations.append(_violation("dr_network_wrong_vpc", group.get("GroupId"), None, "security group %s" % group.get("GroupId"),
                                         "security group %s is in %s but the subnet is in %s (EC2 refuses the launch)"
                                         % (group.get("GroupId"), group.get("VpcId"), vpc)))
    rules = [e for g in groups for e in entries(g)]
    api_sources, https_egress = [], []
    for entry in rules:
        if entry["direction"] == "ingress":
            api_ok = _exactly(entry, port) and entry["kind"] == "cidr" and _within(entry["value"], terms["api_cidrs"])
            ssh_ok = _exactly(entry, SSH_PORT) and entry["kind"] == "cidr" and _within(entry["value"], terms["ssh_cidrs"])
            if api_ok:
                api_sources.append(entry["value"])
            elif not ssh_ok:
                why = _ingress_why(entry, terms)
                if default_group:
                    why += " (this is the VPC's default group, used because dr_bringup_security_group_ids is empty)"
                violations.append(_violation("dr_network_too_open", entry["group_id"], "ingress", entry["text"], why))
        else:
            if _covers(entry, HTTPS_PORT):
                https_egress.append(entry["value"])
            if not _exactly(entry, HTTPS_PORT):
                why = ("outbound beyond HTTPS: the SSM agent (ssm, ssmmessages, ec2messages), ECR, S3 and the k3s download need "
                       "only 443/tcp")
                if terms["egress"] == "strict":
                    violations.append(_violation("dr_network_too_open", entry["group_id"], "egress", entry["text"],
                                                 why + "; remove the rule or accept it with dr_network_egress=https_required"))
                else:
                    warnings.append("%s egress %s: %s (accepted: dr_network_egress=https_required)" % (entry["group_id"], entry["text"], why))
    for cidr in terms["api_cidrs"]:
        reachable = any(e["direction"] == "ingress" and e["kind"] == "cidr" and _covers(e, port) and _overlaps(cidr, e["value"])
                        for e in rules)
        if not reachable and groups:
            violations.append(_violation("dr_network_closed", None, "ingress", "%d/tcp from %s" % (port, cidr),
                                         "no group lets any address of %s (dr_network_api_cidrs) reach the k3s API on %d/tcp; the "
                                         "drill could not reach the DR cluster" % (cidr, port)))
    if terms.get("require_api") and not terms["api_cidrs"]:
        violations.append(_violation("dr_network_closed", None, "ingress", "%d/tcp" % port,
                                     "dr_network_api_cidrs is empty, but the drill reaches the runner's k3s API at the address its "
                                     "kubeconfig names; name the controller's CIDR (or the VPN range) in dr_network_api_cidrs"))
    if groups and not https_egress:
        violations.append(_violation("dr_network_closed", None, "egress", "%d/tcp" % HTTPS_PORT,
                                     "no group allows outbound HTTPS (443/tcp): the SSM agent, the kubeconfig publish (ssm:PutParameter), "
                                     "ECR image pulls and the k3s download would all fail"))
    reasons_found = set(v["reason"] for v in violations)
    reason = next((r for r in PRECEDENCE if r in reasons_found), None)
    return {"ok": not violations, "reason": reason, "violations": violations, "warnings": warnings,
            "https_egress": sorted(set(https_egress)), "api_sources": sorted(set(api_sources)),
            "subnet": summarize_subnet(subnet), "groups": [summarize_group(g) for g in groups]}


def violation_message(plan):
    """One sentence per violation, the deciding token's first."""
    ordered = sorted(plan["violations"], key=lambda v: PRECEDENCE.index(v["reason"]))
    parts = []
    for item in ordered:
        where = "%s %s " % (item["group_id"], item["direction"]) if item["group_id"] and item["direction"] else ""
        parts.append("%s%s: %s" % (where, item["rule"], item["why"]))
    return "the DR runner's network does not meet its contract (%d problem%s): %s." % (
        len(ordered), "" if len(ordered) == 1 else "s", "; ".join(parts))


def summarize_subnet(subnet):
    if subnet is None:
        return None
    return {"subnet_id": subnet.get("SubnetId"), "vpc_id": subnet.get("VpcId"), "cidr": subnet.get("CidrBlock"),
            "availability_zone": subnet.get("AvailabilityZone"), "map_public_ip": subnet.get("MapPublicIpOnLaunch")}


def summarize_group(group):
    rules = entries(group)
    return {"group_id": group.get("GroupId"), "name": group.get("GroupName"), "vpc_id": group.get("VpcId"),
            "ingress": sorted(e["text"] for e in rules if e["direction"] == "ingress"),
            "egress": sorted(e["text"] for e in rules if e["direction"] == "egress")}


# -- the group the drill makes ---------------------------------------------------------------------

def group_name(run_id):
    return "signalcraft-dr-runner-%s" % run_id


def resource_tags(run_id, name, extra=None):
    tags = [{"Key": "Name", "Value": name}, {"Key": RUN_ID_TAG, "Value": run_id}, {"Key": ROLE_TAG, "Value": ROLE_VALUE},
            {"Key": MANAGED_TAG, "Value": MANAGED_VALUE}]
    for key, value in sorted((extra or {}).items()):
        if key not in ("Name", RUN_ID_TAG, ROLE_TAG, MANAGED_TAG):
            tags.append({"Key": key, "Value": str(value)})
    return tags


def _peer(kind, value):
    if kind == "prefix_list":
        return {"PrefixListIds": [{"PrefixListId": value}]}
    if kind == "group":
        return {"UserIdGroupPairs": [{"GroupId": value}]}
    if ipaddress.ip_network(value, strict=False).version == 6:
        return {"Ipv6Ranges": [{"CidrIpv6": value}]}
    return {"IpRanges": [{"CidrIp": value}]}


def _permission(port, kind, value, description):
    peer = _peer(kind, value)
    for ranges in peer.values():
        ranges[0]["Description"] = description
    permission = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
    permission.update(peer)
    return permission


def desired_permissions(terms):
    """The exact rules of the runner's own group: (ingress, egress) IpPermissions lists."""
    ingress = [_permission(terms["api_port"], "cidr", cidr, "k3s API from dr_network_api_cidrs") for cidr in terms["api_cidrs"]]
    ingress += [_permission(SSH_PORT, "cidr", cidr, "SSH from dr_network_ssh_cidrs") for cidr in terms["ssh_cidrs"]]
    egress = [_permission(HTTPS_PORT, "cidr", "0.0.0.0/0", "HTTPS out: SSM, ECR, S3, k3s download")]
    return ingress, egress


def _key(entry):
    return (entry["direction"], entry["protocol"], entry["ports"], entry["kind"], str(_network(entry["value"]) or entry["value"]))


def _permission_of(entry):
    """The IpPermissions item that names exactly this entry (to revoke it)."""
    permission = {"IpProtocol": entry["raw_protocol"]}
    if entry["from_port"] is not None:
        permission["FromPort"] = entry["from_port"]
    if entry["to_port"] is not None:
        permission["ToPort"] = entry["to_port"]
    permission.update(_peer(entry["kind"], entry["value"]))
    return permission


def rule_changes(group, terms):
    """What makes ``group``'s rules exactly the desired ones: ``{"authorize_ingress", "authorize_egress",
    "revoke_ingress", "revoke_egress"}`` (IpPermissions lists) plus ``added``/``removed`` rule texts."""
    ingress, egress = desired_permissions(terms)
    wanted = entries({"GroupId": group.get("GroupId"), "IpPermissions": ingress, "IpPermissionsEgress": egress})
    have = entries(group)
    have_keys = set(_key(e) for e in have)
    wanted_keys = set(_key(e) for e in wanted)
    missing = [e for e in wanted if _key(e) not in have_keys]
    extra = [e for e in have if _key(e) not in wanted_keys]
    by_key = dict((_key(e), p) for e, p in zip(wanted, ingress + egress))
    return {
        "authorize_ingress": [by_key[_key(e)] for e in missing if e["direction"] == "ingress"],
        "authorize_egress": [by_key[_key(e)] for e in missing if e["direction"] == "egress"],
        "revoke_ingress": [_permission_of(e) for e in extra if e["direction"] == "ingress"],
        "revoke_egress": [_permission_of(e) for e in extra if e["direction"] == "egress"],
        "added": sorted(e["text"] for e in missing), "removed": sorted(e["text"] for e in extra),
    }


def planned_group(run_id, vpc_id, terms, group_id=PLANNED_ID):
    """The group as it will be once ensured (what check mode and the pre-write check look at)."""
    ingress, egress = desired_permissions(terms)
    return {"GroupId": group_id, "GroupName": group_name(run_id), "VpcId": vpc_id, "IpPermissions": ingress, "IpPermissionsEgress": egress}


# -- AWS: read -------------------------------------------------------------------------------------

def describe_subnet(ec2, subnet_id):
    found = ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": [subnet_id]}])["Subnets"]
    return found[0] if found else None


def describe_groups(ec2, group_ids):
    """The groups that exist among ``group_ids`` (a filter, so a missing id is absent rather than an error)."""
    if not group_ids:
        return []
    found = []
    for page in ec2.get_paginator("describe_security_groups").paginate(Filters=[{"Name": "group-id", "Values": list(group_ids)}]):
        found.extend(page["SecurityGroups"])
    order = dict((g, i) for i, g in enumerate(group_ids))
    return sorted(found, key=lambda g: order.get(g["GroupId"], len(order)))


def default_group(ec2, vpc_id):
    return ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                 {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]


def _managed_filters(run_id):
    return [{"Name": "tag:%s" % RUN_ID_TAG, "Values": [run_id]}, {"Name": "tag:%s" % ROLE_TAG, "Values": [ROLE_VALUE]},
            {"Name": "tag:%s" % MANAGED_TAG, "Values": [MANAGED_VALUE]}]


def managed_groups(ec2, run_id):
    found = []
    for page in ec2.get_paginator("describe_security_groups").paginate(Filters=_managed_filters(run_id)):
        found.extend(page["SecurityGroups"])
    return sorted(found, key=lambda g: g["GroupId"])


def managed_subnets(ec2, run_id):
    return sorted(ec2.describe_subnets(Filters=_managed_filters(run_id))["Subnets"], key=lambda s: s["SubnetId"])


# -- AWS: write ------------------------------------------------------------------------------------

def _code(exc):
    return str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))


def _eventually(call, codes, attempts=8, delay=1.0, sleep=time.sleep):
    """Repeat ``call`` while EC2 answers one of ``codes`` (a resource just created is not visible everywhere at once)."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:  # botocore ClientError
            if _code(exc) not in codes or attempt == attempts - 1:
                raise
            sleep(delay)
    return None


def ensure_subnet(ec2, run_id, vpc_id, cidr, availability_zone="", map_public_ip=False, extra_tags=None, check_mode=False):
    """The run's own subnet (found by its tags, else created). Returns ``{"subnet", "created", "changed"}``."""
    existing = [s for s in managed_subnets(ec2, run_id) if s.get("VpcId") == vpc_id]
    if existing:
        subnet = existing[0]
        if subnet.get("CidrBlock") != cidr:
            raise OpsError("dr_network_conflict", "run %s already has subnet %s with %s, not dr_network_subnet_cidr %s; tear the run "
                                                  "down (-e start_at=teardown) or keep its CIDR." % (run_id, subnet["SubnetId"], subnet.get("CidrBlock"), cidr))
        changed = bool(map_public_ip) and not subnet.get("MapPublicIpOnLaunch")
        if changed and not check_mode:
            ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})
            subnet = dict(subnet, MapPublicIpOnLaunch=True)
        return {"subnet": subnet, "created": False, "changed": changed}
    planned = {"SubnetId": PLANNED_ID, "VpcId": vpc_id, "CidrBlock": cidr, "AvailabilityZone": availability_zone or None,
               "MapPublicIpOnLaunch": bool(map_public_ip), "State": "pending"}
    if check_mode:
        return {"subnet": planned, "created": True, "changed": True}
    request = {"VpcId": vpc_id, "CidrBlock": cidr,
               "TagSpecifications": [{"ResourceType": "subnet", "Tags": resource_tags(run_id, "signalcraft-dr-%s" % run_id, extra_tags)}]}
    if availability_zone:
        request["AvailabilityZone"] = availability_zone
    try:
        subnet = ec2.create_subnet(**request)["Subnet"]
    except Exception as exc:
        if _code(exc) in ("InvalidSubnet.Conflict", "InvalidSubnet.Range"):
            raise OpsError("dr_network_conflict", "EC2 refused subnet %s in %s (%s): it overlaps a subnet or lies outside the VPC's CIDR; "
                                                  "pick another dr_network_subnet_cidr." % (cidr, vpc_id, _code(exc)))
        raise
    if map_public_ip:
        _eventually(lambda: ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True}),
                    ("InvalidSubnetID.NotFound",))
        subnet = dict(subnet, MapPublicIpOnLaunch=True)
    return {"subnet": subnet, "created": True, "changed": True}


def ensure_group(ec2, run_id, vpc_id, terms, extra_tags=None, check_mode=False, sleep=time.sleep):
    """The run's own security group with exactly the contract's rules (found by its tags, else created).

    Returns ``{"group", "created", "changed", "added", "removed"}``; ``group`` is what it will be (check mode) or
    was read back after the change.
    """
    name = group_name(run_id)
    mine = [g for g in managed_groups(ec2, run_id) if g.get("VpcId") == vpc_id]
    if not mine:
        same_name = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                          {"Name": "group-name", "Values": [name]}])["SecurityGroups"]
        if same_name:
            raise OpsError("dr_network_conflict", "security group %s (%s) in %s is not tagged as run %s's: refusing to adopt or change a "
                                                  "group the drill did not create; delete or rename it." % (name, same_name[0]["GroupId"], vpc_id, run_id))
        # A new VPC group comes with AWS's allow-all IPv4 outbound rule, which is revoked.
        fresh = rule_changes({"GroupId": PLANNED_ID, "IpPermissions": [], "IpPermissionsEgress": [AWS_DEFAULT_EGRESS]}, terms)
        if check_mode:
            return {"group": planned_group(run_id, vpc_id, terms), "created": True, "changed": True, "added": fresh["added"],
                    "removed": fresh["removed"]}
        group_id = ec2.create_security_group(
            GroupName=name, VpcId=vpc_id,
            Description="signalcraft DR runner of run %s: k3s API from the operator CIDRs, HTTPS out (SSM)" % run_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": resource_tags(run_id, name, extra_tags)}])["GroupId"]
        group = _read_back(ec2, group_id, sleep)
        changes = rule_changes(group, terms)
        _apply(ec2, group_id, changes, sleep)
        return {"group": describe_groups(ec2, [group_id])[0], "created": True, "changed": True, "added": changes["added"],
                "removed": changes["removed"]}
    group = mine[0]
    changes = rule_changes(group, terms)
    changed = bool(changes["added"] or changes["removed"])
    if changed and not check_mode:
        _apply(ec2, group["GroupId"], changes, sleep)
        group = describe_groups(ec2, [group["GroupId"]])[0]
    elif changed:
        group = planned_group(run_id, vpc_id, terms, group_id=group["GroupId"])
    return {"group": group, "created": False, "changed": changed, "added": changes["added"], "removed": changes["removed"]}


def _read_back(ec2, group_id, sleep, attempts=8, delay=1.0):
    """A group just created, once DescribeSecurityGroups sees it."""
    for _attempt in range(attempts):
        found = describe_groups(ec2, [group_id])
        if found:
            return found[0]
        sleep(delay)
    raise OpsError("aws_error", "security group %s was created but DescribeSecurityGroups does not show it after %d tries; "
                                "rerun bringup (the group is found by its tags)." % (group_id, attempts), changed_so_far=True)


def _apply(ec2, group_id, changes, sleep):
    """Authorize what is missing first, then revoke what is extra (never a moment with no HTTPS out)."""
    codes = ("InvalidGroup.NotFound",)
    if changes["authorize_ingress"]:
        _eventually(lambda: ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=changes["authorize_ingress"]), codes, sleep=sleep)
    if changes["authorize_egress"]:
        _eventually(lambda: ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=changes["authorize_egress"]), codes, sleep=sleep)
    if changes["revoke_ingress"]:
        _eventually(lambda: ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=changes["revoke_ingress"]), codes, sleep=sleep)
    if changes["revoke_egress"]:
        _eventually(lambda: ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=changes["revoke_egress"]), codes, sleep=sleep)


def delete_managed(ec2, run_id, check_mode=False, wait_timeout=300, poll=5.0, sleep=time.sleep, clock=time.time):
    """Delete the run's own groups, then its own subnets (found by tags only; nothing else is touched).

    EC2 refuses (DependencyViolation) while a network interface still uses them -- a runner that is only just
    terminated -- so each delete is repeated until ``wait_timeout``. Returns ``{"changed", "groups", "subnets"}``.
    """
    if not run_id:
        raise OpsError("run_id_required", "the network teardown needs the drill's run id (-e run_id or -e receipt_dir); "
                                          "the drill's groups and subnets are found by that tag only.")
    groups = [g["GroupId"] for g in managed_groups(ec2, run_id)]
    subnets = [s["SubnetId"] for s in managed_subnets(ec2, run_id)]
    result = {"changed": bool(groups or subnets), "groups": groups, "subnets": subnets}
    if check_mode:
        return result
    deadline = clock() + wait_timeout
    for kind, ids, call, missing in (
            ("security group", groups, lambda i: ec2.delete_security_group(GroupId=i), "InvalidGroup.NotFound"),
            ("subnet", subnets, lambda i: ec2.delete_subnet(SubnetId=i), "InvalidSubnetID.NotFound")):
        for resource_id in ids:
            while True:
                try:
                    call(resource_id)
                    break
                except Exception as exc:  # botocore ClientError
                    code = _code(exc)
                    if code == missing:
                        break
                    if code != "DependencyViolation":
                        raise
                    if clock() >= deadline:
                        raise OpsError("dr_network_in_use", "%s %s of run %s is still in use after %ss (DependencyViolation); find its "
                                                            "network interfaces in EC2, then rerun -e start_at=teardown."
                                       % (kind, resource_id, run_id, wait_timeout), details={"groups": groups, "subnets": subnets},
                                       changed_so_far=True)
                    sleep(poll)
    return result
