"""The dev, staging and prod inventories are proven, not only the local one the suite runs against.

Every role default resolves against each inventory (as Ansible resolves it: the inventory's group_vars over
the role's defaults), every option a role requires comes from the role, the inventory or a documented
per-run ``-e``, and prod holds what the runbooks demand of production. (That a playbook run against an
inventory still holding ``REPLACE_`` placeholders stops before any call is proven against the sandbox by
tests/integration/test_inventories.py.)
"""

import glob
import os
import re

import pytest
import yaml

from tests.conftest import REPO_ROOT

ENVIRONMENTS = ("dev", "staging", "prod")
# Required role options an operator gives per run (or the runbook passes between phases), never the inventory.
PER_RUN = {
    "containment_workers_desired_count": "-e containment_workers_desired_count=<n> (scale_workers.yml)",
    "dr_bundle_dir": "-e dr_bundle_dir=<fetched bundle> (apply_bundle.yml)",
    "storage_maintenance_action": "set by each storage maintenance playbook",
    "runbook_name": "set by each runbook playbook",
    "runbook_phases": "set by each runbook playbook",
    "dr_bringup_kubeconfig_dest": "the drill's receipt directory",
    "dr_validate_kubeconfig": "the kubeconfig the drill's bringup saved",
    "containment_workers_service": "the inventory, or -e for an ad-hoc service",
}


_LOADER_READY = []


def _inventory_vars(environment):
    """``(loader, variables of localhost)`` as ansible-playbook resolves them for this inventory."""
    from ansible.plugins.loader import init_plugin_loader
    from ansible.parsing.dataloader import DataLoader
    from ansible.inventory.manager import InventoryManager
    from ansible.vars.manager import VariableManager

    if not _LOADER_READY:
        init_plugin_loader([os.path.join(REPO_ROOT, "collections")])
        _LOADER_READY.append(True)
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[os.path.join(REPO_ROOT, "inventories", environment)])
    manager = VariableManager(loader=loader, inventory=inventory)
    return loader, manager.get_vars(host=inventory.get_host("localhost"))


def _roles():
    return sorted(os.path.basename(os.path.dirname(path)) for path in glob.glob(os.path.join(REPO_ROOT, "roles", "*", "meta")))


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def inventory(request):
    loader, variables = _inventory_vars(request.param)
    return request.param, loader, variables


def test_every_role_default_resolves_against_the_inventory(inventory):
    from ansible.errors import AnsibleError
    from ansible.template import Templar

    environment, loader, host_vars = inventory
    problems = []
    for role in _roles():
        path = os.path.join(REPO_ROOT, "roles", role, "defaults", "main.yml")
        if not os.path.exists(path):
            continue
        defaults = loader.load_from_file(path, trusted_as_template=True) or {}
        variables = dict(defaults)
        variables.update(host_vars)
        variables["role_path"] = os.path.join(REPO_ROOT, "roles", role)
        templar = Templar(loader=loader, variables=variables)
        for name in defaults:
            try:
                templar.template(variables[name])
            except AnsibleError as exc:
                problems.append("%s: %s: %s" % (role, name, str(exc).splitlines()[0]))
    assert not problems, "inventories/%s leaves role variables unresolvable:\n%s" % (environment, "\n".join(problems))


def test_every_required_role_option_has_a_source(inventory):
    environment, loader, host_vars = inventory
    missing = []
    for role in _roles():
        spec_path = os.path.join(REPO_ROOT, "roles", role, "meta", "argument_specs.yml")
        defaults_path = os.path.join(REPO_ROOT, "roles", role, "defaults", "main.yml")
        if not os.path.exists(spec_path):
            continue
        with open(spec_path) as handle:
            specs = yaml.safe_load(handle)["argument_specs"]
        defaults = loader.load_from_file(defaults_path) if os.path.exists(defaults_path) else {}
        for entry, spec in specs.items():
            for name, option in (spec.get("options") or {}).items():
                if option.get("required") and name not in PER_RUN and name not in (defaults or {}) and name not in host_vars:
                    missing.append("%s/%s: %s" % (role, entry, name))
    assert not missing, "inventories/%s sets no value for required options:\n%s" % (environment, "\n".join(missing))


def _prod():
    from ansible.template import Templar

    loader, host_vars = _inventory_vars("prod")
    templar = Templar(loader=loader, variables=host_vars)
    return lambda name: templar.template(host_vars[name])


def test_prod_holds_what_the_runbooks_demand_of_production():
    value = _prod()
    # Identity: the account is a placeholder (so every AWS run stops) or 12 digits; one region, expected.
    assert re.match(r"^(REPLACE_WITH_[A-Z_]+|\d{12})$", value("signalcraft_expected_account_id"))
    assert value("signalcraft_expected_region") == value("signalcraft_aws_region")
    # Images are digest-pinned: no tag allowed, and the image is either not set yet or a digest.
    assert value("jobintel_allow_image_tags") is False
    assert value("jobintel_image_ref") == "" or "@sha256:" in value("jobintel_image_ref")
    # Redaction contract: the workload enforces it and both config contracts require it.
    assert value("jobintel_workload_env")["REDACTION_ENFORCE"] == "1"
    assert "REDACTION_ENFORCE" in value("jobintel_required_config_names")
    assert "REDACTION_ENFORCE" in value("db_ops_required_env_names")
    assert value("db_ops_config_mode") == "prod_required"
    # Triggers off: the DR orchestrator's schedule/alarms and the restore's triggers stay disabled.
    assert value("dr_enable_triggers") is False and value("dr_bundle_enable_triggers") is False
    # The scheduled ops_daily is strict in prod (seed 002).
    assert value("db_ops_daily_strict") is True


@pytest.mark.parametrize("role,variable,expected", [
    ("retention", "retention_apply", False),
    ("s3_hardening", "s3_hardening_apply", False),
    ("storage_maintenance", "storage_maintenance_apply", False),
    ("dr_promote", "dr_promote_auto_promote", False),
])
def test_writes_default_to_dry_run_in_prod(role, variable, expected):
    """A destructive run needs its -e: neither the role nor the prod inventory turns it on."""
    loader, host_vars = _inventory_vars("prod")
    with open(os.path.join(REPO_ROOT, "roles", role, "defaults", "main.yml")) as handle:
        defaults = yaml.safe_load(handle)
    assert host_vars.get(variable, defaults[variable]) is expected
