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
