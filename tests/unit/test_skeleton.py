"""The skeleton's promises, checked over every module, role and playbook (no sandbox needed).

A new module, role or playbook is covered by these tests without writing a test for it: it is
routed through the action plugin (suite settings, account guard, receipt), built on OpsModule (one
dependency check, one failure path, one result shape, generated status lines) and wired without
per-playbook plumbing.
"""

import ast
import os
import re

import pytest
import yaml

from tests.conftest import REPO_ROOT

MODULES_DIR = os.path.join(REPO_ROOT, "plugins", "modules")
MODULES = sorted(f[:-3] for f in os.listdir(MODULES_DIR) if f.endswith(".py") and not f.startswith("_"))
PLAYBOOKS_DIR = os.path.join(REPO_ROOT, "playbooks")
PLAYBOOKS = sorted(f for f in os.listdir(PLAYBOOKS_DIR) if f.endswith(".yml"))
ROLES_DIR = os.path.join(REPO_ROOT, "roles")
ROLES = sorted(os.listdir(ROLES_DIR))
# Modules the action plugin runs itself and therefore does not route to itself.
NOT_ROUTED = {"aws_account_guard"}

with open(os.path.join(REPO_ROOT, "meta", "runtime.yml")) as _handle:
    RUNTIME = yaml.safe_load(_handle)


def _source(module):
    with open(os.path.join(MODULES_DIR, module + ".py")) as handle:
        return handle.read()


def _code(module):
    """The module's code without its DOCUMENTATION/EXAMPLES/RETURN strings and docstrings."""
    tree = ast.parse(_source(module))
    strings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") in ("DOCUMENTATION", "EXAMPLES", "RETURN") for t in node.targets):
            strings.add(node.value.value)
    text = _source(module)
    for value in strings:
        text = text.replace(value, "")
    return text


@pytest.mark.parametrize("module", MODULES)
def test_module_is_routed_through_the_action_plugin(module):
    routing = (RUNTIME.get("plugin_routing") or {}).get("action") or {}
    if module in NOT_ROUTED:
        assert module not in routing
        return
    assert (routing.get(module) or {}).get("redirect") == "signalcraft.ops.ops_module", (
        "add '%s: {redirect: signalcraft.ops.ops_module}' under plugin_routing.action in meta/runtime.yml" % module)


@pytest.mark.parametrize("module", MODULES)
def test_module_is_built_on_the_skeleton(module):
    code = _code(module)
    assert "OpsModule(" in code, "%s: build main() on core/base.py's OpsModule" % module
    for pattern, why in (
        (r"\bAnsibleModule\(", "OpsModule constructs the AnsibleModule"),
        (r"HAS_BOTO3|HAS_KUBERNETES\b|HAS_PSYCOPG|missing_required_lib", "connections check their own dependency"),
        (r"receipts\.build\(", "OpsModule builds the receipt"),
        (r"\.(fail|exit)_json\(", "OpsModule has the one success and failure path"),
        (r"['\"][a-z_]+ status=", "status lines come from core/status_line.py via line=[...]"),
    ):
        if module == "receipt" and pattern.startswith(r"receipts"):
            continue  # recording a receipt for a phase no module ran is this module's whole job
        assert not re.search(pattern, code), "%s: %s (found %s)" % (module, why, pattern)


RENAMED = sorted(((RUNTIME.get("plugin_routing") or {}).get("modules") or {}).items())


@pytest.mark.parametrize("old,routing", RENAMED, ids=[name for name, _routing in RENAMED])
def test_a_renamed_module_keeps_working_under_its_old_name(old, routing):
    """An old name redirects to an existing module, still runs through the action plugin (receipts,
    guard) and stays in the aws action group when the module is, so module_defaults reach it."""
    new = routing["redirect"].rsplit(".", 1)[-1]
    assert routing["redirect"].startswith("signalcraft.ops.") and new in MODULES, routing
    assert not os.path.exists(os.path.join(MODULES_DIR, old + ".py")), "%s: both names exist as files" % old
    assert routing.get("deprecation", {}).get("removal_version"), "%s: say when the old name goes" % old
    actions = RUNTIME["plugin_routing"]["action"]
    assert actions.get(old, {}).get("redirect") == "signalcraft.ops.ops_module", old
    aws = RUNTIME["action_groups"]["aws"]
    assert (old in aws) == (new in aws), "%s: the old name's action group membership follows %s's" % (old, new)


@pytest.mark.parametrize("module", MODULES)
def test_modules_sort_by_area(module):
    """Modules are named <area>_<what> so that an area's modules sort together (issue 8)."""
    areas = ("aws_", "containment_", "db_", "dr_", "ecs_", "jobintel_", "pipeline_", "storage_", "runbook_")
    assert module.startswith(areas) or module == "receipt", (
        "%s: name it <area>_<what> with an area of %s" % (module, ", ".join(a.rstrip("_") for a in areas)))


@pytest.mark.parametrize("module", MODULES)
def test_aws_facing_modules_are_in_the_aws_action_group(module):
    uses_aws = "AwsConnection" in _code(module)
    in_group = module in RUNTIME["action_groups"]["aws"]
    assert uses_aws == in_group or module == "receipt", (
        "%s: modules with an AwsConnection belong in action_groups.aws (and only those)" % module)


@pytest.mark.parametrize("role", ROLES)
def test_roles_declare_no_receipt_plumbing(role):
    for sub in ("defaults/main.yml", "meta/argument_specs.yml"):
        path = os.path.join(ROLES_DIR, role, sub)
        if not os.path.exists(path):
            continue
        with open(path) as handle:
            text = handle.read()
        found = re.findall(r"^\s*(%s_(?:receipt_root|receipt_bucket|receipt_prefix|execution_id)):" % role, text, re.M)
        assert not found, "%s/%s: %s -- the action plugin reads signalcraft_receipt_* and signalcraft_execution_id" % (role, sub, found)


def _mapping_lines(path):
    """Lines of a playbook that only hand an inventory or -e value to a role variable."""
    with open(path) as handle:
        return [line for line in handle if re.match(r"^\s+[a-z_]+: +[\"']?\{\{ *[a-z_]+[^}]*\}\}[\"']?\s*$", line)]


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbooks_carry_no_module_defaults(playbook):
    with open(os.path.join(PLAYBOOKS_DIR, playbook)) as handle:
        assert "module_defaults" not in handle.read(), "the action plugin supplies the AWS settings from the inventory"


def test_playbook_variable_mapping_stays_small():
    counts = {p: len(_mapping_lines(os.path.join(PLAYBOOKS_DIR, p))) for p in PLAYBOOKS}
    assert sum(counts.values()) < 150, counts


def test_test_file_basenames_are_unique():
    """pytest imports test files without packages by basename (rootdir importmode): two files of one name in
    tests/unit and tests/integration stop collection of the second with 'import file mismatch'."""
    import collections

    names = collections.Counter(name for _root, _dirs, files in os.walk(os.path.join(REPO_ROOT, "tests"))
                                for name in files if name.startswith("test_") and name.endswith(".py"))
    assert not [name for name, count in names.items() if count > 1]
