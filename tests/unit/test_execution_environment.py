"""The execution environment (execution-environment.yml, ansible-builder v3) carries what the collection runs on.

- its Python requirements are pinned exactly as requirements.txt pins them (an EE that drifts from
  the tested toolchain runs untested code), and they cover every third-party package the modules import;
- `ansible-builder create` writes the build context offline, with the pinned ansible-core, the
  requirements and the system packages in it (building the image needs a container engine, which CI
  does not have).
"""

import os
import re
import subprocess

import pytest
import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILDER = os.path.join(REPO_ROOT, ".venv-builder", "bin", "ansible-builder")


def _pins(path):
    pins = {}
    with open(os.path.join(REPO_ROOT, path)) as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                name, version = line.split("==", 1)
                pins[re.sub(r"\[.*\]", "", name).lower()] = (name, version)
    return pins


def _definition():
    with open(os.path.join(REPO_ROOT, "execution-environment.yml")) as handle:
        return yaml.safe_load(handle)


def test_ee_pins_agree_with_the_tested_toolchain():
    toolchain = _pins("requirements.txt")
    ee = _pins(_definition()["dependencies"]["python"])
    for name, pinned in ee.items():
        assert name in toolchain, "%s is in the EE but not tested (requirements.txt)" % name
        assert pinned == toolchain[name], "%s: EE pins %s, requirements.txt %s" % (name, pinned, toolchain[name])
    deps = _definition()["dependencies"]
    assert deps["ansible_core"]["package_pip"] == "ansible-core==%s" % toolchain["ansible-core"][1]
    assert deps["ansible_runner"]["package_pip"] == "ansible-runner==%s" % toolchain["ansible-runner"][1]


def test_ee_covers_every_third_party_import_of_the_plugins():
    distributions = {"boto3": "boto3", "botocore": "botocore", "kubernetes": "kubernetes", "psycopg": "psycopg",
                     "zstandard": "zstandard", "jsonschema": "jsonschema", "yaml": "pyyaml",
                     "kubernetes_validate": "kubernetes-validate", "cryptography": "cryptography"}
    ee = _pins(_definition()["dependencies"]["python"])
    found = set()
    for base, _dirs, files in os.walk(os.path.join(REPO_ROOT, "plugins")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(base, name)) as handle:
                    for match in re.finditer(r"^\s*(?:import|from) ([a-z_]+)", handle.read(), re.M):
                        if match.group(1) in distributions:
                            found.add(distributions[match.group(1)])
    assert found, "no third-party import found: the scan is broken"
    assert found <= set(ee), "imported by plugins but not in the EE: %s" % sorted(found - set(ee))


@pytest.mark.skipif(not os.path.exists(BUILDER), reason="make setup installs ansible-builder in .venv-builder")
def test_ansible_builder_creates_the_build_context_offline(tmp_path):
    context = tmp_path / "ee"
    result = subprocess.run([BUILDER, "create", "--file", os.path.join(REPO_ROOT, "execution-environment.yml"),
                             "--context", str(context), "--output-filename", "Containerfile"],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    containerfile = (context / "Containerfile").read_text()
    assert 'EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in containerfile
    assert 'ANSIBLE_INSTALL_REFS="ansible-core==2.19.14 ansible-runner==2.4.3"' in containerfile
    requirements = (context / "_build" / "requirements.txt").read_text()
    for pin in ("boto3==1.44.5", "kubernetes==37.0.1", "psycopg[binary]==3.3.9"):
        assert pin in requirements
    assert "git" in (context / "_build" / "bindep.txt").read_text()
