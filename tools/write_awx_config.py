"""Write awx/configs/controller_templates.yml: one AWX job template per playbook, its survey generated
from the roles' meta/argument_specs.yml, so that a survey cannot drift from what the playbook accepts.

Why generated and not written by hand: a survey field is an extra var, the highest variable
precedence there is. A field the playbook does not accept is silently ignored; a field with another
default than the role's changes every run launched from AWX; a field for a variable the playbook
sets itself (a handoff such as daily.yml's publish_run_id) would override the handoff. Deriving the
survey from the argument specs rules all three out, and ``--check`` (run by ``make schemas-check``
and tests/unit/test_awx_config.py) fails when a spec changed and this file was not rewritten.

Which options become survey fields:
- an option with a literal default or none (``publish_allow_rewind: false``): asked, with that default;
- an option whose default reads an operator alias (``runbook_stop_after: "{{ stop_after | default('') }}"``):
  the alias is asked (``stop_after``), as the playbook's header documents it;
- an option whose default reads the inventory (``publish_bucket: "{{ jobintel_bucket }}"``): not asked,
  the inventory is where it is set per environment;
- an option an inventory sets (``db_ops_dsn``) or the playbook sets itself (play or role vars): never
  asked, since an extra var would override it;
- list and dict options: not asked (a survey answer is a string; set them in the inventory);
- ``no_log`` options and names that hold secrets: asked as ``password``.
AWX sends a multiple-choice answer as a string, so boolean fields are ``"true"``/``"false"`` choices:
roles pass them to module options (which convert them) or test them with ``| bool``
(tests/unit/test_awx_config.py checks the latter).

Usage: tools/write_awx_config.py [--check]
"""

import argparse
import glob
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT = os.path.join(ROOT, "awx", "configs", "controller_templates.yml")
COLLECTION = "signalcraft.ops."
# The phase engine's own options are set by each runbook; only the operator's aliases are asked.
ENGINE_ROLES = {"runbook"}
PROJECT = "signalcraft-ops"
DEFAULT_INVENTORY = "signalcraft-dev"
SECRET_NAME = re.compile(r"(password|secret|token|dsn)$")
ALIAS_DEFAULT = re.compile(r"^\{\{\s*([a-z_][a-z0-9_]*)\s*\|\s*default\((.*?)\)(\s*\|\s*(bool|int))?\s*\}\}$")
SURVEY_TYPES = {"str": "text", "path": "text", "raw": "text", "int": "integer", "float": "float", "bool": "multiplechoice"}
# Credentials every template takes: the AWS account (environment + guard values) and, for the
# playbooks that reach a cluster, the kubeconfig (K8S_AUTH_KUBECONFIG).
AWS_CREDENTIAL = "signalcraft AWS account"
KUBE_CREDENTIAL = "signalcraft kubeconfig"
KUBE_ROLES = {"dr_drill", "dr_failback", "dr_bundle", "dr_restore", "dr_validate", "runs", "demo"}


def load_yaml(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def inventory_variables():
    """Every variable some inventory defines (these are not asked: the inventory sets them per env)."""
    names = set()
    for path in glob.glob(os.path.join(ROOT, "inventories", "*", "group_vars", "all", "*.yml")):
        names.update((load_yaml(path) or {}).keys())
    return names


def _role_name(name):
    return name[len(COLLECTION):] if name.startswith(COLLECTION) else name


def role_uses(playbook_path):
    """``(role, entry_point)`` pairs a playbook runs, in order, and the variables it sets itself."""
    uses, setvars = [], set()

    def add(role, entry):
        role = _role_name(role)
        if (role, entry) not in uses:
            uses.append((role, entry))

    for play in load_yaml(playbook_path) or []:
        if "import_playbook" in play or "ansible.builtin.import_playbook" in play:
            target = play.get("import_playbook") or play.get("ansible.builtin.import_playbook")
            more, more_vars = role_uses(os.path.join(os.path.dirname(playbook_path), target))
            for pair in more:
                add(*pair)
            setvars |= more_vars
            continue
        setvars.update((play.get("vars") or {}).keys())
        for entry in play.get("roles") or []:
            entry = {"role": entry} if isinstance(entry, str) else entry
            add(entry["role"], "main")
            role_vars = entry.get("vars") or {}
            setvars.update(role_vars.keys())
            for phase in role_vars.get("runbook_phases") or []:
                add(phase["role"], phase.get("tasks_from") or "main")
        for task in play.get("tasks") or []:
            for key in ("ansible.builtin.import_role", "ansible.builtin.include_role", "import_role", "include_role"):
                if key in task:
                    add(task[key]["name"], task[key].get("tasks_from") or "main")
                    setvars.update((task.get("vars") or {}).keys())
    return uses, setvars


_NO_DEFAULT = object()


def _literal(text):
    """The value of a Jinja ``default(...)`` argument written as a literal (``''``, ``false``, ``3``).

    Another variable (``dr_backup_uri | default('')``) is no literal: the survey then has no default,
    so that AWX sends nothing and the role's own default chain (the inventory's value) stays in force.
    """
    text = text.strip()
    if re.match(r"^[a-z_][a-z0-9_]*\b", text) and text not in ("true", "false"):
        return _NO_DEFAULT
    try:
        return yaml.safe_load(text.replace("'", '"')) if text else ""
    except yaml.YAMLError:
        return _NO_DEFAULT


def _answer(value, option_type):
    if option_type == "bool":
        return "true" if value in (True, "true", "True", "yes") else "false"
    return "" if value is None else value


def survey_fields(uses, setvars, inventory):
    """The survey spec fields for a playbook's role entry points (see the module docstring)."""
    fields, seen = [], set()
    for role, entry in uses:
        spec_path = os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")
        if not os.path.exists(spec_path):
            continue
        spec = (load_yaml(spec_path).get("argument_specs") or {}).get(entry) or {}
        for name, option in (spec.get("options") or {}).items():
            option_type = option.get("type", "str")
            if option_type not in SURVEY_TYPES or name in setvars or name in inventory:
                continue  # an inventory sets it per environment: an extra var would override the inventory
            default = option.get("default")
            variable = name
            if isinstance(default, str) and "{{" in default:
                alias = ALIAS_DEFAULT.match(default.strip())
                if not alias or alias.group(1) in inventory or alias.group(1).startswith("signalcraft_"):
                    continue  # the inventory's value (or a derived one): set per environment, not per launch
                variable, default = alias.group(1), _literal(alias.group(2))
            elif role in ENGINE_ROLES:
                continue
            if variable in seen or variable in setvars:
                continue
            seen.add(variable)
            description = option.get("description") or ""
            if isinstance(description, list):
                description = " ".join(description)
            description = re.sub(r"[A-Z]\(([^)]*)\)", r"\1", description)
            field = {
                "question_name": variable,
                "question_description": description[:240],
                "variable": variable,
                "required": bool(option.get("required")),
                "type": SURVEY_TYPES[option_type],
            }
            if option.get("no_log") or SECRET_NAME.search(variable):
                field["type"] = "password"
            if option_type == "bool":
                field["choices"] = ["true", "false"]
            elif option.get("choices"):
                field["type"] = "multiplechoice"
                field["choices"] = [str(c) for c in option["choices"]]
            # AWX fills in a default for an unanswered question and refuses a multiple-choice default that is
            # not among the choices; no default means the variable is not sent at all.
            if not field["required"] and default is not None and default is not _NO_DEFAULT:
                answer = _answer(default, option_type)
                if "choices" not in field or answer in field["choices"]:
                    field["default"] = answer
            fields.append(field)
    return fields


def template_for(playbook, inventory):
    path = os.path.join(ROOT, "playbooks", playbook)
    uses, setvars = role_uses(path)
    stem = playbook[:-len(".yml")]
    roles = set(role for role, _entry in uses)
    credentials = [AWS_CREDENTIAL] + ([KUBE_CREDENTIAL] if roles & KUBE_ROLES or stem == "demo" else [])
    fields = survey_fields(uses, setvars, inventory)
    template = {
        "name": "signalcraft %s" % stem,
        "description": "playbooks/%s (roles: %s)" % (playbook, ", ".join(sorted(roles)) or "none"),
        "job_type": "run",
        "project": PROJECT,
        "playbook": "playbooks/%s" % playbook,
        "inventory": DEFAULT_INVENTORY,
        "ask_inventory_on_launch": True,
        "ask_job_type_on_launch": True,  # check mode (job type "check") is --check
        "credentials": credentials,
        "execution_environment": "signalcraft-ops-ee",
        "survey_enabled": bool(fields),
        "allow_simultaneous": False,
    }
    if fields:
        template["survey_spec"] = {"name": "signalcraft %s" % stem, "description": "Generated from the roles' argument specs",
                                   "spec": fields}
    return template


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, as yamllint (ansible-lint's yaml rule) expects."""

    def increase_indent(self, flow=False, indentless=False):
        return super(_Dumper, self).increase_indent(flow, False)


def render():
    inventory = inventory_variables()
    playbooks = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "playbooks", "*.yml")))
    templates = [template_for(p, inventory) for p in playbooks]
    header = ("---\n# Generated by tools/write_awx_config.py from playbooks/ and roles/*/meta/argument_specs.yml;"
              " do not edit.\n# `make awx-config` rewrites it; `make schemas-check` fails when it is stale.\n")
    return header + yaml.dump({"controller_templates": templates}, Dumper=_Dumper, sort_keys=False, width=110,
                              allow_unicode=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the file on disk is not what would be written")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = open(OUTPUT).read() if os.path.exists(OUTPUT) else ""
        if current != text:
            sys.stderr.write("%s is stale: run `make awx-config` (tools/write_awx_config.py)\n" % os.path.relpath(OUTPUT, ROOT))
            return 1
        return 0
    os.makedirs(os.path.dirname(OUTPUT), exist_ok=True)
    current = open(OUTPUT).read() if os.path.exists(OUTPUT) else None
    if current != text:
        with open(OUTPUT, "w") as handle:
            handle.write(text)
    print("awx-config status=ok templates=%d written=%s path=%s" % (
        text.count("\n  - name: signalcraft "), str(current != text).lower(), os.path.relpath(OUTPUT, ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
