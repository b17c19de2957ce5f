# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DR runners: the EC2 instance(s) a drill brings up (k3s), found and torn down by the drill's run-id tag.

A drill never touches an instance it did not tag with its own run id: bringup looks the run id up
before launching (a second bringup finds the running instance), and teardown terminates exactly the
instances carrying that tag and then counts them again until none is left.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import hashlib
import os
import re
import time
import uuid

from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError, require_instance_family
from ansible_collections.signalcraft.ops.plugins.module_utils.core.receipts import write_atomic

RUN_ID_TAG = "signalcraft:dr-run-id"
ROLE_TAG = "signalcraft:role"
ROLE_VALUE = "dr-runner"
# Every state in which an instance still exists (and may cost money).
LIVE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")
# Instance families whose CPUs are arm64 (the DR images are multi-arch; runners stay ARM for parity).
ARM64_FAMILY = re.compile(r"^(a1|[a-z]+[0-9]+g[a-z]*)\.")
DEFAULT_FAMILY = "t4g"
_SERVER_LINE = re.compile(r"^(\s*server:\s*)(\S+)\s*$", re.MULTILINE)


def instance_architecture(instance_type):
    return "arm64" if ARM64_FAMILY.match(instance_type or "") else "x86_64"


def image_architecture(instance_type):
    """The OCI platform architecture (``arm64``/``amd64``) an instance type runs, as image indexes name it."""
    return "arm64" if instance_architecture(instance_type) == "arm64" else "amd64"


def check_instance_type(instance_type, family=DEFAULT_FAMILY):
    """Runners stay in one ARM family (``t4g.*`` by default) for parity with the release image."""
    require_instance_family(instance_type, family)
    return instance_type


def _summary(instance):
    tags = dict((t["Key"], t["Value"]) for t in instance.get("Tags", []))
    return {
        "instance_id": instance["InstanceId"],
        "state": instance["State"]["Name"],
        "instance_type": instance.get("InstanceType"),
        "image_id": instance.get("ImageId"),
        "subnet_id": instance.get("SubnetId"),
        "private_ip": instance.get("PrivateIpAddress"),
        "public_ip": instance.get("PublicIpAddress"),
        "public_dns": instance.get("PublicDnsName") or None,
        "launch_time": instance["LaunchTime"].isoformat() if hasattr(instance.get("LaunchTime"), "isoformat") else instance.get("LaunchTime"),
        "run_id": tags.get(RUN_ID_TAG),
        "name": tags.get("Name"),
    }


def find_runners(ec2, run_id, states=LIVE_STATES):
    """The instances tagged with this run id (and the runner role) in ``states``, oldest first."""
    filters = [{"Name": "tag:%s" % RUN_ID_TAG, "Values": [run_id]},
               {"Name": "tag:%s" % ROLE_TAG, "Values": [ROLE_VALUE]},
               {"Name": "instance-state-name", "Values": list(states)}]
    found = []
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page.get("Reservations", []):
            found.extend(_summary(i) for i in reservation.get("Instances", []))
    found.sort(key=lambda i: (i["launch_time"] or "", i["instance_id"]))
    return found


def resolve_ami(ec2, ssm=None, image_id=None, ssm_parameter=None, instance_type=None):
    """The AMI to launch: ``image_id`` or the value of an SSM public parameter (EC2's ``resolve:ssm:``).

    Refuses an AMI that does not exist or whose architecture cannot run on ``instance_type``.
    """
    if not image_id and not ssm_parameter:
        raise GuardError("runner_ami_unset", "set the runner AMI (dr_bringup_ami_id) or the SSM parameter naming it (dr_bringup_ami_ssm_parameter).")
    if not image_id:
        try:
            image_id = ssm.get_parameter(Name=ssm_parameter)["Parameter"]["Value"]
        except Exception as exc:  # botocore ClientError
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code == "ParameterNotFound":
                raise GuardError("runner_ami_not_found", "SSM parameter %s does not exist in this region; fix dr_bringup_ami_ssm_parameter." % ssm_parameter)
            raise
    try:
        images = ec2.describe_images(ImageIds=[image_id])["Images"]
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code in ("InvalidAMIID.NotFound", "InvalidAMIID.Malformed", "InvalidAMIID.Unavailable"):
            images = []
        else:
            raise
    if not images:
        raise GuardError("runner_ami_not_found", "AMI %s does not exist in this region; fix dr_bringup_ami_id/dr_bringup_ami_ssm_parameter." % image_id)
    architecture = images[0].get("Architecture")
    wanted = instance_architecture(instance_type) if instance_type else None
    if wanted and architecture and architecture != wanted:
        raise GuardError("runner_ami_architecture",
                         "AMI %s is %s but instance type %s needs %s; pick an %s AMI." % (image_id, architecture, instance_type, wanted, wanted))
    return {"image_id": image_id, "architecture": architecture, "name": images[0].get("Name")}


def client_token(run_id, index, launch=""):
    """RunInstances idempotency token (<= 64 ASCII): a retried launch of the same runner starts nothing new.

    ``launch`` names one launch attempt (ensure_runners draws a fresh one per call): EC2 answers a repeated
    token with the original instance even after it was terminated, so a bringup after a teardown of the
    same run must not reuse the earlier token. Across calls, the run-id tag lookup is what keeps bringup idempotent.
    """
    return "dr-%s-%d" % (hashlib.sha256(("%s/%s" % (run_id, launch) if launch else run_id).encode("utf-8")).hexdigest()[:40], index)


def launch_spec(run_id, instance_type, image_id, subnet_id, security_group_ids=None, key_name=None,
                instance_profile=None, user_data=None, extra_tags=None, index=0, name_prefix="signalcraft-dr-runner", launch=""):
    """The RunInstances request for one runner (pure, so it can be tested and shown in check mode)."""
    tags = [{"Key": "Name", "Value": "%s-%s" % (name_prefix, run_id)},
            {"Key": RUN_ID_TAG, "Value": run_id}, {"Key": ROLE_TAG, "Value": ROLE_VALUE}]
    for key, value in sorted((extra_tags or {}).items()):
        if key not in ("Name", RUN_ID_TAG, ROLE_TAG):
            tags.append({"Key": key, "Value": str(value)})
    spec = {
        "ImageId": image_id, "InstanceType": instance_type, "MinCount": 1, "MaxCount": 1,
        "SubnetId": subnet_id, "ClientToken": client_token(run_id, index, launch),
        "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}, {"ResourceType": "volume", "Tags": tags}],
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
    }
    if security_group_ids:
        spec["SecurityGroupIds"] = list(security_group_ids)
    if key_name:
        spec["KeyName"] = key_name
    if instance_profile:
        key = "Arn" if instance_profile.startswith("arn:") else "Name"
        spec["IamInstanceProfile"] = {key: instance_profile}
    if user_data:
        spec["UserData"] = user_data
    return spec


def wait_for_state(ec2, run_id, instance_ids, wanted, timeout=300, poll=2.0, sleep=time.sleep, clock=time.time, progress=None):
    """Poll until every instance in ``instance_ids`` is in ``wanted``; returns their summaries.

    ``progress(n, total, final=...)`` (the module's ``ops.progress``) hears how many are there at each poll.
    """
    deadline = clock() + timeout
    while True:
        current = [i for i in find_runners(ec2, run_id, states=LIVE_STATES + ("terminated",)) if i["instance_id"] in instance_ids]
        ready = current and all(i["state"] == wanted for i in current) and len(current) == len(instance_ids)
        if progress is not None:
            progress(len([i for i in current if i["state"] == wanted]), len(instance_ids), final=bool(ready))
        if ready:
            return current
        if clock() >= deadline:
            states = ", ".join("%s=%s" % (i["instance_id"], i["state"]) for i in current) or "none found"
            raise GuardError("runner_wait_timeout", "runners of run %s did not reach %s within %ss (%s)." % (run_id, wanted, timeout, states))
        sleep(poll)


def ensure_runners(ec2, run_id, count, spec_kwargs, check_mode=False, wait=True, wait_timeout=300, poll=2.0, sleep=time.sleep,
                   progress=None):
    """Make sure ``count`` runners of this run exist and are running.

    Returns ``{"changed", "launched": [ids], "instances": [...], "would_launch": n}``. Stopped runners
    of the run are started rather than replaced. ``progress``: see ``wait_for_state``.
    """
    existing = [i for i in find_runners(ec2, run_id) if i["state"] != "shutting-down"]
    stopped = [i["instance_id"] for i in existing if i["state"] in ("stopped", "stopping")]
    missing = max(0, count - len(existing))
    result = {"changed": bool(missing or stopped), "launched": [], "started": stopped, "would_launch": missing, "instances": existing}
    if check_mode or not result["changed"] and not wait:
        return result
    if stopped:
        ec2.start_instances(InstanceIds=stopped)
    launch = uuid.uuid4().hex
    for index in range(len(existing), len(existing) + missing):
        response = ec2.run_instances(**launch_spec(run_id, index=index, launch=launch, **spec_kwargs))
        result["launched"].extend(i["InstanceId"] for i in response["Instances"])
    ids = [i["instance_id"] for i in existing] + result["launched"]
    if wait:
        result["instances"] = wait_for_state(ec2, run_id, ids, "running", timeout=wait_timeout, poll=poll, sleep=sleep, progress=progress)
    else:
        result["instances"] = [i for i in find_runners(ec2, run_id) if i["instance_id"] in ids]
    return result


def terminate_runners(ec2, run_id, check_mode=False, wait=True, wait_timeout=300, poll=2.0, sleep=time.sleep, clock=time.time,
                      progress=None):
    """Terminate the runners tagged with this run id (and nothing else); count them until none is left.

    Returns ``{"changed", "terminated": [ids], "remaining": n}``. ``progress(gone, total, final=...)``
    (the module's ``ops.progress``) hears how many of the runners found are gone at each poll.
    """
    if not run_id:
        raise GuardError("run_id_required", "teardown needs the drill's run id (-e run_id, or -e receipt_dir of the drill); "
                                            "runners are found by that tag only.")
    live = find_runners(ec2, run_id)
    ids = [i["instance_id"] for i in live if i["state"] != "shutting-down"]
    result = {"changed": bool(ids), "terminated": ids, "remaining": len(live)}
    if check_mode:
        return result
    if ids:
        ec2.terminate_instances(InstanceIds=ids)
    deadline = clock() + wait_timeout
    while True:
        remaining = find_runners(ec2, run_id)
        result["remaining"] = len(remaining)
        if progress is not None and live and wait:
            progress(max(0, len(live) - len(remaining)), len(live), final=not remaining)
        if not remaining or not wait:
            return result
        if clock() >= deadline:
            raise GuardError("teardown_incomplete", "%d runner(s) of run %s still exist after %ss: %s" % (
                len(remaining), run_id, wait_timeout, ", ".join("%s=%s" % (i["instance_id"], i["state"]) for i in remaining)))
        sleep(poll)


def rewrite_server(kubeconfig_text, address, port=6443):
    """Point a k3s kubeconfig (``server: https://127.0.0.1:6443``) at the runner's public address."""
    if not address:
        return kubeconfig_text
    return _SERVER_LINE.sub(lambda m: "%shttps://%s:%d" % (m.group(1), address, port), kubeconfig_text)


def read_kubeconfig(source, path=None, ssm=None, ssm_parameter=None):
    """The kubeconfig text from a file (``source=file``) or an SSM SecureString (``source=ssm_parameter``).

    On a real runner, the bringup user-data installs k3s and writes its kubeconfig to the SecureString
    parameter; in the sandbox the DR cluster's kubeconfig file is given.
    """
    if source == "file":
        if not path or not os.path.isfile(path):
            raise GuardError("kubeconfig_not_found", "kubeconfig source file %r does not exist; fix dr_bringup_kubeconfig_source_path." % (path,))
        with open(path) as handle:
            return handle.read()
    try:
        return ssm.get_parameter(Name=ssm_parameter, WithDecryption=True)["Parameter"]["Value"]
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code == "ParameterNotFound":
            raise GuardError("kubeconfig_not_ready", "SSM parameter %s does not exist yet; the runner has not published its "
                                                     "kubeconfig (k3s still starting?)." % ssm_parameter)
        raise


def wait_for_kubeconfig(ssm, ssm_parameter, timeout=600, poll=10.0, sleep=time.sleep, clock=time.time, progress=None):
    """Poll the SSM parameter the runner publishes once k3s is up.

    ``progress(waited_s, timeout, final=...)`` (the module's ``ops.progress``) hears each poll.
    """
    started = clock()
    deadline = started + timeout
    while True:
        try:
            text = read_kubeconfig("ssm_parameter", ssm=ssm, ssm_parameter=ssm_parameter)
        except GuardError:
            if progress is not None:
                progress(int(max(0, clock() - started)), int(timeout))
            if clock() >= deadline:
                raise
            sleep(poll)
            continue
        if progress is not None:
            progress(int(max(0, clock() - started)), int(timeout), final=True)
        return text


def _work_tree(path):
    """The git work tree holding ``path`` (a directory with ``.git``), or None."""
    directory = os.path.dirname(os.path.abspath(path))
    while True:
        if os.path.exists(os.path.join(directory, ".git")):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _ignore_patterns(root):
    """The patterns of the work tree's top-level ``.gitignore`` (no negations: they only narrow)."""
    try:
        with open(os.path.join(root, ".gitignore")) as handle:
            lines = handle.read().splitlines()
    except (IOError, OSError):
        return []
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith(("#", "!"))]


def git_ignored(root, relative):
    """Whether ``.gitignore`` at ``root`` ignores ``relative`` (a file path): a pattern without a slash
    matches any path component (``state/``: any directory named state), one with a slash matches
    from the root. Enough for the patterns a receipt dir meets; anything else counts as not ignored."""
    parts = relative.replace(os.sep, "/").split("/")
    for pattern in _ignore_patterns(root):
        directory_only = pattern.endswith("/")
        body = pattern.strip("/")
        candidates = parts[:-1] if directory_only else parts
        if "/" not in pattern.rstrip("/"):
            if any(fnmatch.fnmatchcase(part, body) for part in candidates):
                return True
        else:
            for depth in range(1, len(parts) + (0 if directory_only else 1)):
                if fnmatch.fnmatchcase("/".join(parts[:depth]), body):
                    return True
    return False


def refuse_kubeconfig_in_repository(dest):
    """Refuse a kubeconfig path inside a git work tree that its ``.gitignore`` does not ignore: ``git add -A``
    would commit the cluster's credentials. Under ``state/`` (ignored wherever it appears) or outside any
    repository is fine."""
    root = _work_tree(dest)
    if root is None:
        return
    if not git_ignored(root, os.path.relpath(os.path.abspath(dest), root)):
        raise GuardError("kubeconfig_in_repository", "refusing to write the DR cluster's kubeconfig to %s: it is inside the git work "
                                                     "tree %s and not ignored, so `git add -A` would commit cluster credentials. Pass "
                                                     "-e receipt_dir= a directory under state/ (e.g. state/receipts/<run_id>, ignored "
                                                     "by .gitignore) or outside the repository (e.g. /var/lib/signalcraft/receipts/"
                                                     "<run_id>)." % (dest, root))


def save_kubeconfig(text, dest, check_mode=False):
    """Write the kubeconfig with mode 0600; ``changed`` only when the content or the mode differs.

    Refused (``kubeconfig_in_repository``) inside a repository's tracked tree, in check mode too."""
    refuse_kubeconfig_in_repository(dest)
    current = None
    if os.path.exists(dest):
        with open(dest) as handle:
            current = handle.read()
    mode_ok = current is not None and (os.stat(dest).st_mode & 0o777) == 0o600
    changed = current != text or not mode_ok
    if changed and not check_mode:
        write_atomic(dest, text.encode("utf-8"), mode=0o600)
    return {"changed": changed, "path": dest, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
