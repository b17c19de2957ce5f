"""AWX configuration as code (awx/): what a controller would be given is consistent with the repository.

- awx/configs/controller_templates.yml is what tools/write_awx_config.py writes today (a role's argument
  spec changed and the surveys were not regenerated: this fails);
- every playbook has a template; every template names an existing playbook, project, inventory and
  credential;
- every survey field is a variable its playbook accepts, with the role's own default: checked against
  roles/*/defaults/main.yml (what Ansible uses), not against the argument specs the generator read;
- a boolean survey answer arrives as the string "false" (AWX multiple choice): every Jinja test of such a
  variable in roles and playbooks uses ``| bool``, or "false" would count as true;
- workflow nodes and schedules only pass variables their template's survey asks for (AWX drops others).
"""

import glob
import os
import re
import sys

import pytest
import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
import write_awx_config  # noqa: E402  pylint: disable=wrong-import-position

CONFIGS = os.path.join(REPO_ROOT, "awx", "configs")


def _load(name):
    with open(os.path.join(CONFIGS, name + ".yml")) as handle:
        return yaml.safe_load(handle)


TEMPLATES = _load("controller_templates")["controller_templates"]
BY_NAME = dict((t["name"], t) for t in TEMPLATES)
PLAYBOOKS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO_ROOT, "playbooks", "*.yml")))
FIELDS = [(t["name"], f) for t in TEMPLATES for f in (t.get("survey_spec") or {}).get("spec", [])]


def _survey_vars(template):
    return dict((f["variable"], f) for f in (template.get("survey_spec") or {}).get("spec", []))


def test_generated_templates_are_current():
    assert write_awx_config.main(["--check"]) == 0, "run `make awx-config` and commit awx/configs/controller_templates.yml"


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_every_playbook_has_a_template(playbook):
    assert [t for t in TEMPLATES if t["playbook"] == "playbooks/" + playbook], playbook


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["name"] for t in TEMPLATES])
def test_a_template_names_what_exists(template):
    assert os.path.exists(os.path.join(REPO_ROOT, template["playbook"])), template["playbook"]
    inventories = [i["name"] for i in _load("controller_inventories")["controller_inventories"]]
    assert template["inventory"] in inventories
    assert template["project"] in [p["name"] for p in _load("controller_projects")["controller_projects"]]
    credentials = [c["name"] for c in _load("controller_credentials")["controller_credentials"]]
    assert set(template["credentials"]) <= set(credentials), template["credentials"]
    # Every inventory a template may run against is a directory of the project with its hosts file.
    for source in _load("controller_inventories")["controller_inventory_sources"]:
        assert os.path.exists(os.path.join(REPO_ROOT, source["source_path"])), source["source_path"]


def _role_defaults(template):
    uses, _setvars = write_awx_config.role_uses(os.path.join(REPO_ROOT, template["playbook"]))
    defaults = {}
    for role, _entry in uses:
        path = os.path.join(REPO_ROOT, "roles", role, "defaults", "main.yml")
        if os.path.exists(path):
            with open(path) as handle:
                defaults.update(yaml.safe_load(handle) or {})
    return defaults


def _required_options(template):
    uses, _setvars = write_awx_config.role_uses(os.path.join(REPO_ROOT, template["playbook"]))
    required = {}
    for role, entry in uses:
        path = os.path.join(REPO_ROOT, "roles", role, "meta", "argument_specs.yml")
        if os.path.exists(path):
            with open(path) as handle:
                spec = (yaml.safe_load(handle)["argument_specs"].get(entry) or {}).get("options") or {}
            required.update((k, bool(v.get("required"))) for k, v in spec.items())
    return required


def _as_answer(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


@pytest.mark.parametrize("name,field", FIELDS, ids=["%s:%s" % (n, f["variable"]) for n, f in FIELDS])
def test_a_survey_field_is_a_variable_the_playbook_accepts_with_its_default(name, field):
    defaults = _role_defaults(BY_NAME[name])
    variable = field["variable"]
    assert variable not in write_awx_config.inventory_variables(), (
        "%s: %s is set by the inventories; a survey answer (an extra var) would override them" % (name, variable))
    if field["required"]:
        # A required input has no default anywhere: the role's argument spec must require it too.
        assert variable not in defaults and _required_options(BY_NAME[name]).get(variable), (name, variable)
        return
    if variable in defaults:
        # The role's own variable: the survey default is the role default (AWX sends it when unanswered).
        value = defaults[variable]
        if "default" in field:
            assert not (isinstance(value, str) and "{{" in value), (
                "%s: the role default of %s is %r (from the inventory); the survey must not override it" % (name, variable, value))
            assert field["default"] == _as_answer(value), (name, variable, field["default"], value)
        return
    # An operator alias: some role default reads it as {{ alias | default(...) }}.
    readers = [k for k, v in defaults.items() if isinstance(v, str) and re.search(r"\{\{\s*%s\s*\|\s*default\(" % variable, v)]
    assert readers, "%s: survey field %s is not a variable of the playbook's roles (defaults/main.yml)" % (name, variable)


BOOL_FIELDS = sorted(set(f["variable"] for _n, f in FIELDS if f.get("choices") == ["true", "false"]))


def _jinja_tests():
    """Lines of roles and playbooks where a value is tested (when:, if, and/or/not), with their file."""
    for path in glob.glob(os.path.join(REPO_ROOT, "roles", "*", "tasks", "*.yml")) + glob.glob(
            os.path.join(REPO_ROOT, "playbooks", "*.yml")):
        in_when = False
        with open(path) as handle:
            for number, line in enumerate(handle, 1):
                stripped = line.strip()
                if stripped.startswith("#"):
                    continue
                if re.match(r"^(when|that|failed_when|changed_when|until):", stripped):
                    in_when = True
                    yield path, number, stripped
                elif in_when and stripped.startswith("- "):
                    yield path, number, stripped
                else:
                    in_when = False
                    if re.search(r"\{\{.*\b(if|and|or|not)\b.*\}\}", stripped):
                        yield path, number, stripped


@pytest.mark.parametrize("variable", BOOL_FIELDS)
def test_a_boolean_survey_answer_is_tested_with_the_bool_filter(variable):
    bad = []
    for path, number, line in _jinja_tests():
        for match in re.finditer(r"(?<!['\"])\b%s\b(?!['\"])(\s*\|\s*\w+)?" % re.escape(variable), line):
            if not (match.group(1) and "bool" in match.group(1)):
                bad.append("%s:%d: %s" % (os.path.relpath(path, REPO_ROOT), number, line))
    assert not bad, "AWX sends %s as the string 'true'/'false': test it with | bool\n%s" % (variable, "\n".join(bad))


def test_workflow_nodes_pass_only_what_their_template_asks_for():
    for workflow in _load("controller_workflows")["controller_workflows"]:
        identifiers = set(n["identifier"] for n in workflow["workflow_nodes"])
        for node in workflow["workflow_nodes"]:
            target = node["unified_job_template"]
            if target["type"] == "workflow_approval":
                assert target.get("timeout"), "an approval node that never times out keeps a runner up"
                continue
            assert target["type"] == "job_template" and target["name"] in BY_NAME, target
            asked = _survey_vars(BY_NAME[target["name"]])
            for key, value in (node.get("extra_data") or {}).items():
                assert key in asked, "%s: %s is not in %s's survey (AWX would drop it)" % (node["identifier"], key, target["name"])
                if "choices" in asked[key]:
                    assert value in asked[key]["choices"], (node["identifier"], key, value)
            for kind in ("success_nodes", "failure_nodes", "always_nodes"):
                for child in (node.get("related") or {}).get(kind, []):
                    assert child["identifier"] in identifiers, child
    # The drill's order: approval before promote, teardown reached from every phase.
    drill = [w for w in _load("controller_workflows")["controller_workflows"] if w["name"] == "signalcraft DR drill"][0]
    nodes = dict((n["identifier"], n) for n in drill["workflow_nodes"])
    assert [c["identifier"] for c in nodes["approval"]["related"]["success_nodes"]] == ["record_approval"]
    assert [c["identifier"] for c in nodes["record_approval"]["related"]["success_nodes"]] == ["promote"]
    for phase in ("bringup", "restore", "validate", "approval", "record_approval"):
        assert {"identifier": "teardown"} in nodes[phase]["related"]["failure_nodes"], phase
    assert {"identifier": "teardown"} in nodes["promote"]["related"]["always_nodes"]
    # The failback: a dry run, then the approval, then the failback; nothing after a failure (DR stays canonical).
    failback = [w for w in _load("controller_workflows")["controller_workflows"] if w["name"] == "signalcraft DR failback"][0]
    nodes = dict((n["identifier"], n) for n in failback["workflow_nodes"])
    assert nodes["dry_run"]["extra_data"] == {"dry_run": "true"} and nodes["failback"]["extra_data"] == {"dry_run": "false"}
    assert [c["identifier"] for c in nodes["dry_run"]["related"]["success_nodes"]] == ["approval"]
    assert [c["identifier"] for c in nodes["approval"]["related"]["success_nodes"]] == ["failback"]
    assert not any((n.get("related") or {}).get(kind) for n in nodes.values() for kind in ("failure_nodes", "always_nodes"))
    asked = _survey_vars(BY_NAME["signalcraft dr_failback"])
    assert {f["variable"] for f in failback["survey_spec"]["spec"]} <= set(asked)


def test_schedules_are_created_disabled_and_pass_only_asked_variables():
    inventories = [i["name"] for i in _load("controller_inventories")["controller_inventories"]]
    for schedule in _load("controller_schedules")["controller_schedules"]:
        assert schedule["enabled"] is False, schedule["name"]
        assert schedule["unified_job_template"] in BY_NAME and schedule["inventory"] in inventories
        asked = _survey_vars(BY_NAME[schedule["unified_job_template"]])
        for key, value in (schedule.get("extra_data") or {}).items():
            assert key in asked and value in asked[key].get("choices", [value]), (schedule["name"], key)
        assert re.match(r"^DTSTART:\d{8}T\d{6}Z RRULE:FREQ=(HOURLY|DAILY|WEEKLY);INTERVAL=1(;BYDAY=(MO|TU|WE|TH|FR|SA|SU))?$", schedule["rrule"])


def test_credential_types_inject_what_the_collection_reads():
    types = dict((t["name"], t) for t in _load("controller_credential_types")["controller_credential_types"])
    aws = types["signalcraft AWS account"]["injectors"]
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} <= set(aws["env"])
    assert set(aws["extra_vars"]) == {"signalcraft_expected_account_id", "signalcraft_expected_region"}
    secret_fields = [f["id"] for f in types["signalcraft AWS account"]["inputs"]["fields"] if f.get("secret")]
    assert sorted(secret_fields) == ["secret_access_key", "session_token"]
    kube = types["signalcraft kubeconfig"]["injectors"]
    assert kube["env"] == {"K8S_AUTH_KUBECONFIG": "{% raw %}{{ tower.filename }}{% endraw %}"}
    # The inventories read the kubeconfig from that variable (prod as the example that must work).
    prod = "".join(open(p).read() for p in glob.glob(os.path.join(REPO_ROOT, "inventories", "prod", "group_vars", "all", "*.yml")))
    assert "K8S_AUTH_KUBECONFIG" in prod
