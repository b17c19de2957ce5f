"""DR runners against the sandbox's EC2/SSM: launch by run-id tag, reuse, teardown by tag only, kubeconfig capture."""

import os
import stat
import uuid

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import runner
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError

ARM_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
X86_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


@pytest.fixture
def factory(sandbox):
    return aws.AwsClientFactory(region=sandbox["AWS_DEFAULT_REGION"], endpoint_url=sandbox["AWS_ENDPOINT_URL"],
                                access_key="testing", secret_key="testing")


def reason(callable_, *args, **kwargs):
    with pytest.raises(GuardError) as info:
        callable_(*args, **kwargs)
    return info.value.reason


def by_tag(ec2, run_id):
    """Independent read-back: instances carrying the run-id tag, by state."""
    found = {}
    for res in ec2.describe_instances(Filters=[{"Name": "tag:signalcraft:dr-run-id", "Values": [run_id]}])["Reservations"]:
        for inst in res["Instances"]:
            found[inst["InstanceId"]] = inst["State"]["Name"]
    return found


def test_instance_family_and_architecture():
    runner.check_instance_type("t4g.large")
    assert reason(runner.check_instance_type, "t3.medium") == "instance_type_not_allowed"
    assert reason(runner.check_instance_type, "t4gx.medium") == "instance_type_not_allowed"
    assert runner.instance_architecture("t4g.medium") == "arm64"
    assert runner.instance_architecture("m7g.large") == "arm64"
    assert runner.instance_architecture("t3.medium") == "x86_64"


def test_launch_spec_tags_and_idempotency_token():
    spec = runner.launch_spec("dr-1", "t4g.medium", "ami-1", "subnet-1", ["sg-1"], instance_profile="arn:aws:iam::1:instance-profile/p",
                              extra_tags={"Name": "x", "owner": "ops", runner.RUN_ID_TAG: "other"})
    tags = dict((t["Key"], t["Value"]) for t in spec["TagSpecifications"][0]["Tags"])
    assert tags == {"Name": "signalcraft-dr-runner-dr-1", runner.RUN_ID_TAG: "dr-1", runner.ROLE_TAG: "dr-runner", "owner": "ops"}
    assert spec["IamInstanceProfile"] == {"Arn": "arn:aws:iam::1:instance-profile/p"}
    assert len(spec["ClientToken"]) <= 64 and spec["ClientToken"] == runner.launch_spec("dr-1", "t4g.medium", "a", "s")["ClientToken"]
    assert spec["MetadataOptions"]["HttpTokens"] == "required"


def test_rewrite_server_points_a_k3s_kubeconfig_at_the_public_address():
    text = "clusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: default\n"
    assert "server: https://203.0.113.7:6443\n" in runner.rewrite_server(text, "203.0.113.7")
    assert runner.rewrite_server(text, None) == text


def test_ami_resolution_refuses_missing_and_wrong_architecture(sandbox, factory):
    ec2, ssm = factory.client("ec2"), factory.client("ssm")
    ami = runner.resolve_ami(ec2, ssm, ssm_parameter=ARM_AMI_PARAMETER, instance_type="t4g.medium")
    assert ami["architecture"] == "arm64" and ami["image_id"].startswith("ami-")
    assert reason(runner.resolve_ami, ec2, ssm, ssm_parameter=X86_AMI_PARAMETER, instance_type="t4g.medium") == "runner_ami_architecture"
    assert reason(runner.resolve_ami, ec2, ssm, image_id="ami-00000000000000000") == "runner_ami_not_found"
    assert reason(runner.resolve_ami, ec2, ssm, ssm_parameter="/no/such/parameter") == "runner_ami_not_found"
    assert reason(runner.resolve_ami, ec2, ssm) == "runner_ami_unset"


def test_bringup_is_idempotent_and_teardown_touches_only_its_run(sandbox, factory):
    ec2, ssm = factory.client("ec2"), factory.client("ssm")
    run_id, other = "t-%s" % uuid.uuid4().hex[:10], "t-%s" % uuid.uuid4().hex[:10]
    ami = runner.resolve_ami(ec2, ssm, ssm_parameter=ARM_AMI_PARAMETER, instance_type="t4g.medium")
    spec = dict(instance_type="t4g.medium", image_id=ami["image_id"], subnet_id=sandbox["SANDBOX_ECS_SUBNETS"].split(",")[0])
    planned = runner.ensure_runners(ec2, run_id, 1, spec, check_mode=True)
    assert planned["changed"] and planned["would_launch"] == 1 and by_tag(ec2, run_id) == {}
    heard = []
    first = runner.ensure_runners(ec2, run_id, 1, spec, poll=0.1, progress=lambda n, total, final: heard.append((n, total, final)))
    assert first["changed"] and len(first["launched"]) == 1
    assert heard[-1] == (1, 1, True) and all(not final for _n, _t, final in heard[:-1])
    assert by_tag(ec2, run_id) == {first["launched"][0]: "running"}
    second = runner.ensure_runners(ec2, run_id, 1, spec, poll=0.1)
    assert not second["changed"] and second["launched"] == [] and second["instances"][0]["instance_id"] == first["launched"][0]
    bystander = runner.ensure_runners(ec2, other, 1, spec, poll=0.1)["launched"][0]

    assert runner.terminate_runners(ec2, run_id, check_mode=True)["terminated"] == first["launched"]
    assert by_tag(ec2, run_id) == {first["launched"][0]: "running"}
    heard[:] = []
    gone = runner.terminate_runners(ec2, run_id, poll=0.1, progress=lambda n, total, final: heard.append((n, total, final)))
    assert gone["changed"] and gone["remaining"] == 0
    assert heard[-1] == (1, 1, True)
    assert set(by_tag(ec2, run_id).values()) <= {"terminated"}
    assert by_tag(ec2, other) == {bystander: "running"}
    again = runner.terminate_runners(ec2, run_id, poll=0.1)
    assert not again["changed"] and again["remaining"] == 0
    # A bringup of the same run after its teardown launches a new runner: EC2 answers a repeated
    # ClientToken with the original (now terminated) instance, so each launch call needs its own token.
    relaunched = runner.ensure_runners(ec2, run_id, 1, spec, poll=0.1, wait_timeout=5)
    assert relaunched["changed"] and relaunched["launched"] and relaunched["launched"] != first["launched"]
    assert by_tag(ec2, run_id)[relaunched["launched"][0]] == "running"
    runner.terminate_runners(ec2, run_id, poll=0.1)
    runner.terminate_runners(ec2, other, poll=0.1)
    assert reason(runner.terminate_runners, ec2, "") == "run_id_required"


def test_kubeconfig_capture_from_file_and_ssm(sandbox, factory, tmp_path):
    dest = str(tmp_path / "kc" / "kubeconfig.yaml")
    text = runner.read_kubeconfig("file", path=sandbox["SANDBOX_DR_KUBECONFIG"])
    first = runner.save_kubeconfig(text, dest)
    assert first["changed"] and stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    assert open(dest).read() == open(sandbox["SANDBOX_DR_KUBECONFIG"]).read()
    assert not runner.save_kubeconfig(text, dest)["changed"]
    os.chmod(dest, 0o644)
    assert runner.save_kubeconfig(text, dest)["changed"] and stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    assert reason(runner.read_kubeconfig, "file", path=str(tmp_path / "missing")) == "kubeconfig_not_found"

    ssm = factory.client("ssm")
    name = "/signalcraft/dr/t-%s/kubeconfig" % uuid.uuid4().hex[:8]
    assert reason(runner.wait_for_kubeconfig, ssm, name, timeout=0, poll=0) == "kubeconfig_not_ready"
    ssm.put_parameter(Name=name, Value="apiVersion: v1\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n", Type="SecureString")
    heard = []
    fetched = runner.wait_for_kubeconfig(ssm, name, timeout=1, poll=0, progress=lambda *a, **k: heard.append((a, k)))
    assert heard == [((0, 1), {"final": True})]
    assert "server: https://203.0.113.9:6443" in runner.rewrite_server(fetched, "203.0.113.9")


def test_a_kubeconfig_inside_a_repository_tracked_tree_is_refused(tmp_path):
    """A relative receipt_dir resolved into playbooks/ once put the DR kubeconfig where `git add -A` takes it."""
    repo = tmp_path / "checkout"
    (repo / ".git").mkdir(parents=True)
    (repo / ".gitignore").write_text("# receipts wherever a run put them\nstate/\n/receipts/\n*.pyc\n")
    text = "apiVersion: v1\nkind: Config\n"
    for tracked in ("playbooks/kubeconfig.yaml", "kubeconfig.yaml", "playbooks/receipts/dr-1/kubeconfig.yaml"):
        dest = str(repo / tracked)
        for check_mode in (True, False):
            with pytest.raises(GuardError) as err:
                runner.save_kubeconfig(text, dest, check_mode=check_mode)
            assert err.value.reason == "kubeconfig_in_repository"
            assert "-e receipt_dir=" in str(err.value.message) and "state/" in str(err.value.message)
        assert not os.path.exists(dest)
    for ignored in ("state/receipts/dr-1/kubeconfig.yaml", "playbooks/state/receipts/dr-1/kubeconfig.yaml", "receipts/dr-1/kubeconfig.yaml"):
        assert runner.save_kubeconfig(text, str(repo / ignored))["changed"]
        assert stat.S_IMODE(os.stat(str(repo / ignored)).st_mode) == 0o600
    outside = tmp_path / "elsewhere" / "kubeconfig.yaml"
    assert runner.save_kubeconfig(text, str(outside))["changed"]
