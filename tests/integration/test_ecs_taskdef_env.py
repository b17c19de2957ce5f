"""print_taskdef_env.yml never shows secret values, even at -vvv; read back against ECS."""

import json
import os

from tests.integration.ecs_sandbox import latest, private_family

SECRET = "s3cr3t-%s" % os.getpid()


def test_print_env_redacts_secret_values_and_references(sandbox, run_playbook, tmp_path):
    family, _prefix = private_family(sandbox, DB_PASSWORD=SECRET)
    definition = latest(sandbox, family)
    secret_ref = definition["containerDefinitions"][0]["secrets"][0]["valueFrom"]
    assert secret_ref.endswith(":secret:jobintel/openai")  # the seeded reference the output must hide
    result = run_playbook("print_taskdef_env.yml", {"jobintel_task_family": family, "taskdef_rev": definition["revision"],
                                                    "signalcraft_receipt_root": str(tmp_path / "receipts")}, verbosity=3)
    assert result.rc == 0, result.stdout
    assert "REDACTION_ENFORCE=1" in result.stdout and "image=%s" % sandbox["SANDBOX_IMAGE_REF"] in result.stdout
    assert "OPENAI_API_KEY=<secret ***REDACTED***>" in result.stdout and "DB_PASSWORD=***REDACTED***" in result.stdout
    assert SECRET not in result.stdout and secret_ref not in result.stdout
    [execution_id] = os.listdir(tmp_path / "receipts")
    with open(os.path.join(tmp_path, "receipts", execution_id, "taskdef_env.json")) as handle:
        text = handle.read()
    assert SECRET not in text and secret_ref not in text
    assert json.loads(text)["outputs"]["task_definition_arn"] == definition["taskDefinitionArn"]
