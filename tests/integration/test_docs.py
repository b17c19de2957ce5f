"""Every module's documentation renders with ansible-doc (DOCUMENTATION, EXAMPLES, RETURN)."""

import os
import subprocess

import pytest
import yaml

from tests.conftest import REPO_ROOT

MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(REPO_ROOT, "plugins", "modules")) if f.endswith(".py") and f != "__init__.py")


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders(module):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, "collections"))
    proc = subprocess.run([os.path.join(os.path.dirname(os.sys.executable), "ansible-doc"), "--json", "signalcraft.ops.%s" % module],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT, check=False)
    assert proc.returncode == 0 and "ERROR" not in proc.stderr, proc.stderr
    doc = yaml.safe_load(proc.stdout)["signalcraft.ops.%s" % module]
    assert doc["doc"]["short_description"] and doc["doc"]["options"]
    assert doc["examples"].strip() and doc["return"]


def test_collection_builds_and_installs_for_awx(tmp_path):
    """`ansible-galaxy collection build` + install (what AWX does) gives a working collection without the sandbox."""
    bindir = os.path.dirname(os.sys.executable)
    # Outside the project: no ansible.cfg, so the collections/ symlink does not count as "installed".
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "installed"))
    build = subprocess.run([os.path.join(bindir, "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), REPO_ROOT],
                           capture_output=True, text=True, env=env, cwd=str(tmp_path), check=False)
    assert build.returncode == 0, build.stderr
    tarball = str(tmp_path / "signalcraft-ops-0.1.0.tar.gz")
    install = subprocess.run([os.path.join(bindir, "ansible-galaxy"), "collection", "install", "--offline", "-p", str(tmp_path / "installed"), tarball],
                             capture_output=True, text=True, env=env, cwd=str(tmp_path), check=False)
    assert install.returncode == 0, install.stderr
    root = tmp_path / "installed" / "ansible_collections" / "signalcraft" / "ops"
    assert (root / "plugins" / "modules" / "jobintel_preflight.py").exists() and (root / "roles" / "preflight" / "tasks" / "main.yml").exists()
    for excluded in (".venv", ".venv-builder", ".sandbox", "collections", "state", "tests/output", "execution-environment.yml"):
        assert not (root / excluded).exists(), excluded
    doc = subprocess.run([os.path.join(bindir, "ansible-doc"), "signalcraft.ops.jobintel_preflight"], capture_output=True, text=True,
                         env=env, cwd=str(tmp_path), check=False)
    assert doc.returncode == 0 and "REDACTION_ENFORCE" in doc.stdout, doc.stderr
