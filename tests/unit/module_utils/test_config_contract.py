"""module_utils/config_contract.py: required names present, names only."""

import json

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks import config_contract

SECRET = "postgresql://svc:NeverPrintMe42@db/app"


def test_all_present_is_ok():
    result = config_contract.evaluate(["DATABASE_URL", "REDACTION_ENFORCE"], {"DATABASE_URL": SECRET, "REDACTION_ENFORCE": "1"})
    assert result["token_line"] == "prod_config status=ok" and result["exit_code"] == 0
    assert result["sources"] == {"DATABASE_URL": ["environment"], "REDACTION_ENFORCE": ["environment"]}


def test_missing_and_empty_names_fail_with_names_only():
    env = {"DATABASE_URL": SECRET, "DELIVERY_PROVIDER_API_KEY": "  ", "OTHER": "x"}
    result = config_contract.evaluate(["DATABASE_URL", "DELIVERY_PROVIDER_API_KEY", "REDACTION_ENFORCE"], env)
    assert result["token_line"] == "prod_config status=fail reason=missing_env" and result["exit_code"] == 1
    assert result["missing_names"] == ["DELIVERY_PROVIDER_API_KEY", "REDACTION_ENFORCE"]
    assert result["required_count"] == 3 and result["present_count"] == 1
    assert "NeverPrintMe42" not in json.dumps(result) and "OTHER" not in json.dumps(result)


def test_declared_names_count_and_report_mode_exits_zero():
    result = config_contract.evaluate(["A_NAME", "B_NAME"], {}, declared_names=["A_NAME"], mode="report")
    assert result["status"] == "fail" and result["missing_names"] == ["B_NAME"] and result["exit_code"] == 0
    assert result["sources"] == {"A_NAME": ["declared"]}


def test_a_value_pasted_as_a_name_is_refused_without_echoing_it():
    with pytest.raises(config_contract.ContractInputError) as info:
        config_contract.evaluate(["DATABASE_URL", SECRET], {})
    assert "NeverPrintMe42" not in str(info.value) and "1 entry" in str(info.value)
    with pytest.raises(config_contract.ContractInputError):
        config_contract.evaluate(["A"], {}, mode="strict")


def test_input_errors_are_ops_errors_with_the_invalid_input_token():
    from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
    with pytest.raises(OpsError) as info:
        config_contract.validate_names(["GOOD", "not a name"], "db_ops_required_env_names")
    assert isinstance(info.value, config_contract.ContractInputError) and isinstance(info.value, ValueError)
    assert info.value.reason == "invalid_input" and info.value.message.startswith("db_ops_required_env_names has 1 entry")
    assert "not a name" not in info.value.message
