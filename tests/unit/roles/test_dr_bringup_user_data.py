"""The DR runner's cloud-config (roles/dr_bringup/templates/k3s-user-data.yaml.j2), rendered as the role renders it.

cloud-init is not on PyPI, so `cloud-init schema` cannot run here. The check below is a focused structural
one after cloud-init's cloud-config schema (schema-cloud-config-v1.json, read in canonical/cloud-init for the
facts): a ``#cloud-config`` header, a mapping of known top-level modules, ``write_files`` items with a required
``path`` and only the schema's item properties (``permissions`` an octal string), ``runcmd`` items a string or
a list of strings. The embedded script is checked with ``bash -n`` and its publish step is run with a
recording ``aws`` on PATH (tests/integration/test_dr_drill.py runs it against the sandbox's SSM).
"""

import os
import re
import stat
import subprocess

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from tests.conftest import REPO_ROOT

TEMPLATE = os.path.join(REPO_ROOT, "roles", "dr_bringup", "templates", "k3s-user-data.yaml.j2")
SCRIPT_PATH = "/usr/local/sbin/signalcraft-dr-k3s.sh"
# From cloud-init's schema: the cloud-config modules this template may use, and a write_files item's properties.
KNOWN_MODULES = {"write_files", "runcmd", "bootcmd", "packages", "package_update", "final_message"}
WRITE_FILES_ITEM = {"path", "content", "source", "owner", "permissions", "encoding", "append", "defer"}
ENCODINGS = {"gz", "gzip", "gz+base64", "gzip+base64", "gz+b64", "gzip+b64", "b64", "base64", "text/plain"}


def inventory(env):
    with open(os.path.join(REPO_ROOT, "inventories", env, "group_vars", "all", "dr.yml")) as handle:
        dr = yaml.safe_load(handle)
    with open(os.path.join(REPO_ROOT, "inventories", env, "group_vars", "all", "main.yml")) as handle:
        main = yaml.safe_load(handle)
    return dr, main


def render(env="dev", run_id="dr-20260101t000000z", **override):
    """The template with the inventory's values, as roles/dr_bringup passes them (its defaults resolved for ``run_id``)."""
    dr, main = inventory(env)
    values = {
        "dr_bringup_k3s_version": dr["dr_bringup_k3s_version"],
        "dr_bringup_k3s_sha256": dr["dr_bringup_k3s_sha256"],
        "dr_bringup_kubeconfig_address": dr["dr_bringup_kubeconfig_address"],
        "dr_bringup_kubeconfig_ssm_parameter": "/signalcraft/dr/%s/kubeconfig" % run_id,
        "dr_bringup_region": main["signalcraft_aws_region"],
    }
    values.update(override)
    with open(TEMPLATE) as handle:
        return Templar(loader=DataLoader(), variables=values).template(trust_as_template(handle.read()))


def check_cloud_config(text):
    assert text.startswith("#cloud-config\n"), "cloud-init reads user data as cloud-config only with this first line"
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    assert set(document) <= KNOWN_MODULES, set(document) - KNOWN_MODULES
    for item in document.get("write_files", []):
        assert isinstance(item, dict) and isinstance(item.get("path"), str) and item["path"].startswith("/")
        assert set(item) <= WRITE_FILES_ITEM, set(item) - WRITE_FILES_ITEM
        assert isinstance(item.get("content", ""), str)
        if "permissions" in item:
            assert isinstance(item["permissions"], str) and re.match(r"^0?[0-7]{3,4}$", item["permissions"])
        if "encoding" in item:
            assert item["encoding"] in ENCODINGS
        if "owner" in item:
            assert re.match(r"^[a-z_][a-z0-9_-]*(:[a-z_][a-z0-9_-]*)?$", item["owner"])
    runcmd = document.get("runcmd", [])
    assert isinstance(runcmd, list) and runcmd
    for command in runcmd:
        assert isinstance(command, str) or (isinstance(command, list) and command and all(isinstance(c, str) for c in command))
    return document


def script_of(document):
    return next(item["content"] for item in document["write_files"] if item["path"] == SCRIPT_PATH)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_real_inventory_renders_a_valid_cloud_config(env):
    document = check_cloud_config(render(env))
    script = script_of(document)
    assert document["runcmd"] == [[SCRIPT_PATH, "all"]]
    assert next(i for i in document["write_files"] if i["path"] == SCRIPT_PATH)["permissions"] == "0700"
    done = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr


def test_the_script_pins_k3s_verifies_the_binary_and_never_pipes_to_sh():
    script = script_of(check_cloud_config(render(dr_bringup_k3s_sha256="ab" * 32)))
    assert "K3S_VERSION=v1.31.4+k3s1" in script
    assert "K3S_SHA256=" + "ab" * 32 in script
    assert "sha256sum -c -" in script and "k3s-arm64" in script and "INSTALL_K3S_SKIP_DOWNLOAD=true" in script
    assert not re.search(r"\|\s*(ba)?sh\b", script), "no curl | sh"
    # IMDSv2 (the bringup launches with HttpTokens=required) and the address the inventory chose.
    assert "/latest/api/token" in script and "X-aws-ec2-metadata-token:" in script
    assert "ADDRESS_KIND=public" in script and "public) imds public-ipv4" in script
    assert "ADDRESS_KIND=private" in script_of(check_cloud_config(render(dr_bringup_kubeconfig_address="private")))


def test_values_are_shell_quoted():
    script = script_of(check_cloud_config(render(dr_bringup_kubeconfig_ssm_parameter="/x/$(reboot)/kubeconfig")))
    assert "PARAMETER='/x/$(reboot)/kubeconfig'" in script


def test_the_publish_step_puts_a_securestring_from_the_file(tmp_path):
    """The publish step alone, with a recording `aws` first on PATH: SecureString, overwrite, region, value from the file."""
    script = tmp_path / "dr-k3s.sh"
    script.write_text(script_of(check_cloud_config(render(run_id="dr-unit"))))
    fake = tmp_path / "bin" / "aws"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$AWS_ARGS\"\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text("apiVersion: v1\nclusters: []\n")
    env = dict(os.environ, PATH="%s:%s" % (fake.parent, os.environ["PATH"]), AWS_ARGS=str(tmp_path / "args"))
    done = subprocess.run(["bash", str(script), "publish", str(kubeconfig)], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    args = (tmp_path / "args").read_text().split("\n")
    assert args[:2] == ["ssm", "put-parameter"]
    pairs = dict(zip(args[2::1], args[3::1]))
    assert pairs["--name"] == "/signalcraft/dr/dr-unit/kubeconfig" and pairs["--type"] == "SecureString"
    assert pairs["--region"] == "us-east-1" and pairs["--value"] == "file://%s" % kubeconfig
    assert "--overwrite" in args
    assert "apiVersion" not in " ".join(args), "the kubeconfig never appears on the command line"
