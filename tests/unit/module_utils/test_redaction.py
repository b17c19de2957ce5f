from ansible_collections.signalcraft.ops.plugins.module_utils.core.redaction import REDACTED, Redactor, is_secret_name, redact


def test_secret_names_are_recognised_and_identifiers_are_not():
    for name in ("OPENAI_API_KEY", "db.password", "authToken", "AWS_SECRET_ACCESS_KEY", "DATABASE_DSN", "GITHUB_TOKEN",
                 "client_secret", "PASSWORD", "x-api-key", "SIGNING_KEY", "token_value", "client-key-data"):
        assert is_secret_name(name), name
    for name in ("KEYBOARD", "object_key", "pointer_key", "JOBINTEL_S3_PREFIX", "REDACTION_ENFORCE", "SECRET_ARN",
                 "kms_key_id", "token_ttl", "AWS_ACCESS_KEY_ID", "token_line", "password_file", "secrets_manager_arn", "", None, 42):
        assert not is_secret_name(name), name


def test_name_value_pairs_and_secret_references_are_hidden():
    env = [{"name": "DB_PASSWORD", "value": "pw-123456"}, {"name": "LOG_LEVEL", "value": "INFO"}]
    secrets = [{"name": "OPENAI_API_KEY", "valueFrom": "arn:aws:secretsmanager:us-east-1:111122223333:secret:x"}]
    out = redact({"environment": env, "secrets": secrets})
    assert out["environment"] == [{"name": "DB_PASSWORD", "value": REDACTED}, {"name": "LOG_LEVEL", "value": "INFO"}]
    assert out["secrets"] == [{"name": "OPENAI_API_KEY", "valueFrom": REDACTED}]


def test_explicit_values_are_removed_everywhere_even_inside_longer_strings():
    redactor = Redactor(["s3cr3t-value", "ab"])  # too-short values are ignored, they would blank out words
    out = redactor.redact({"message": "login with s3cr3t-value failed", "list": ["s3cr3t-value"], "about": "ab"})
    assert out == {"message": "login with %s failed" % REDACTED, "list": [REDACTED], "about": "ab"}


def test_url_passwords_are_masked_and_input_is_not_modified():
    data = {"url": "postgresql://svc:hunter2@db:5432/app", "nested": {"token": "t0k3n-value"}}
    out = redact(data)
    assert out["url"] == "postgresql://svc:%s@db:5432/app" % REDACTED
    assert out["nested"]["token"] == REDACTED
    assert data["nested"]["token"] == "t0k3n-value"


def test_secret_values_in_finds_values_for_no_log():
    from ansible_collections.signalcraft.ops.plugins.module_utils.core.redaction import secret_values_in

    data = {"api_token": "abc-secret-1", "host": "runner-1", "pin": "12",
            "env": [{"name": "DB_PASSWORD", "value": "pw-123456"}, {"name": "LOG_LEVEL", "value": "INFO"}]}
    assert secret_values_in(data) == {"abc-secret-1", "pw-123456"}
