"""Job templates launched as AWX launches them: through ansible-runner, no TTY, the survey's defaults as
extra vars (booleans as the strings AWX sends), the inventory's values for everything else; job events
read back.

The templates here are the ones whose survey defaults alone make a complete, harmless run on the sandbox
(read-only checks, dry runs, the daily run in check mode, the drill up to validate). Each must finish,
print its status line, and leave job events without any secret the run handled.
"""

import base64
import json
import os

import pytest
import yaml

from tests.conftest import REPO_ROOT

with open(os.path.join(REPO_ROOT, "awx", "configs", "controller_templates.yml")) as _handle:
    TEMPLATES = dict((t["name"], t) for t in yaml.safe_load(_handle)["controller_templates"])

# template -> (job type, answers besides the defaults, the status line it prints)
LAUNCHES = {
    "signalcraft preflight": ("run", {}, "preflight status=ok"),
    "signalcraft verify_ops": ("run", {}, "verify_ops status=ok"),
    "signalcraft provenance": ("run", {}, "provenance status=ok"),
    "signalcraft runs": ("run", {}, "runs status=ok"),
    "signalcraft s3_hardening": ("run", {}, "s3_hardening status="),
    "signalcraft retention": ("run", {}, "retention status="),
    "signalcraft temp_uploads_cleanup": ("run", {}, "temp_uploads_cleanup status="),
    "signalcraft daily": ("check", {}, "daily status="),
    # The drill up to validate, into a namespace of its own (an extra var, as a launch with ask_variables_on_launch
    # sends it): it handles the DR kubeconfig it fetched and the ECR token it writes into the pull secret.
    "signalcraft dr_drill": ("run", {"stop_after": "validate", "dr_namespace": "awx-drill"}, "dr_drill status=ok"),
}


def survey_answers(template, answers):
    """What AWX puts in extra_vars: each unanswered question's default, then the answers given."""
    extra = {}
    for field in (template.get("survey_spec") or {}).get("spec", []):
        if "default" in field:
            extra[field["variable"]] = field["default"]
    extra.update(answers)
    return extra


def secrets_of(sandbox):
    """Values no job event may contain: the AWS secret key, the DSN password, the clusters' tokens."""
    values = [sandbox.process_env()["AWS_SECRET_ACCESS_KEY"]]
    dsn = sandbox.process_env().get("SANDBOX_PG_DSN", "")
    if "@" in dsn and ":" in dsn.split("@")[0].split("//")[-1]:
        values.append(dsn.split("@")[0].split("//")[-1].split(":", 1)[1])
    for name in ("SANDBOX_DR_KUBECONFIG", "SANDBOX_PRIMARY_KUBECONFIG"):
        with open(sandbox.process_env()[name]) as handle:
            config = yaml.safe_load(handle)
        for user in config.get("users") or []:
            for key in ("token", "client-key-data", "password"):
                if (user.get("user") or {}).get(key):
                    values.append(user["user"][key])
    return [v for v in values if v and len(v) >= 6]


def drill_secrets(sandbox, receipt_dir, namespace):
    """What only a drill handles: the token of the kubeconfig it fetched from the runner, and the ECR password it put
    in the namespace's pull secret (read back from the DR cluster)."""
    values = []
    with open(receipt_dir / "kubeconfig.yaml") as handle:
        config = yaml.safe_load(handle)
    for user in config.get("users") or []:
        values += [v for k, v in (user.get("user") or {}).items() if k in ("token", "client-key-data", "password") and v]
    from kubernetes import client, config as k8s_config  # the suite's own client, as the other DR tests read the cluster
    api = client.CoreV1Api(k8s_config.new_client_from_config(config_file=sandbox["SANDBOX_DR_KUBECONFIG"]))
    secret = api.read_namespaced_secret("ecr-pull", namespace)
    docker = json.loads(base64.b64decode(secret.data[".dockerconfigjson"]))
    for auth in docker["auths"].values():
        values += [auth.get("password"), auth.get("auth")]
    assert values, "the drill handled no secret to look for"
    return [v for v in values if v and len(v) >= 6]


@pytest.mark.parametrize("name", sorted(LAUNCHES))
def test_a_template_runs_with_its_survey_defaults_as_awx_would(sandbox, clean_faults, run_playbook, tmp_path, name):
    template = TEMPLATES[name]
    job_type, answers, line = LAUNCHES[name]
    extra = survey_answers(template, answers)
    extra.update(signalcraft_receipt_root=str(tmp_path / "receipts"), signalcraft_execution_id="awx-%s" % name.split()[-1].replace("_", "-"))
    # AWX sends booleans from a multiple-choice question as strings; make sure this test does too.
    assert all(not isinstance(v, bool) for v in extra.values())
    result = run_playbook(os.path.basename(template["playbook"]), extra, check=(job_type == "check"))
    assert result.rc == 0, result.stdout
    assert line in result.stdout
    events = json.dumps(result.events)
    secrets = secrets_of(sandbox)
    if name == "signalcraft dr_drill":
        secrets += drill_secrets(sandbox, tmp_path / "receipts" / extra["signalcraft_execution_id"], "awx-drill")
    for secret in secrets:
        assert secret not in events, "a secret reached the job events of %s" % name
    # The run's receipts were written where the survey said, under the execution id it was given.
    if job_type == "run":
        assert list((tmp_path / "receipts" / extra["signalcraft_execution_id"]).glob("*.json")), name
