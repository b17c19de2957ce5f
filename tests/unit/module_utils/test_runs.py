"""module_utils/runs.py: the failure playbook's classification (every branch), and S3 reads against the sandbox.

The S3 tests write run documents with the sandbox's own jobintel builders (the same functions the
simulated ECS task uses) under a fresh prefix per test, never under the seeded layout.
"""

import json
import uuid

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import runs
from tests.sandbox.aws_layer import jobintel


def row(provider="openai", enabled=True, availability="available", reason_code=None):
    return {"provider": provider, "enabled": enabled, "availability": availability, "reason_code": reason_code}


# --- section 4: provider_availability classification --------------------------------------------

@pytest.mark.parametrize("reason", ["policy_snapshot", "snapshot_disabled"])
def test_policy_block_is_a_config_ops_decision(reason):
    result = runs.classify_provider(row(availability="unavailable", reason_code=reason))
    assert result["category"] == runs.POLICY_BLOCK
    assert result["owner"] == "config/ops decision"
    assert not result["fail_closed"]
    assert reason in result["detail"]


@pytest.mark.parametrize("reason", ["unavailable", "timeout", "network", "fetch_failed", "http_fetch_error", "connect_timeout",
                                    "dns_error"])
def test_network_issue_covers_unavailable_timeout_and_fetch_errors(reason):
    result = runs.classify_provider(row(availability="unavailable", reason_code=reason))
    assert result["category"] == runs.NETWORK_ISSUE
    assert result["owner"] == "infra/connectivity"


def test_config_disable_is_enabled_false_with_not_enabled():
    result = runs.classify_provider(row("anthropic", enabled=False, availability="unavailable", reason_code="not_enabled"))
    assert result["category"] == runs.CONFIG_DISABLE
    assert result["owner"] == "config"
    assert result["enabled"] is False


def test_enabled_false_wins_over_any_reason_code():
    result = runs.classify_provider(row("anthropic", enabled=False, availability="unavailable", reason_code="timeout"))
    assert result["category"] == runs.CONFIG_DISABLE


def test_not_enabled_without_enabled_false_is_config_disable_and_says_so():
    result = runs.classify_provider(row("anthropic", enabled=True, availability="unavailable", reason_code="not_enabled"))
    assert result["category"] == runs.CONFIG_DISABLE
    assert "enabled=true but reports not_enabled" in result["detail"]


def test_early_failure_is_fail_closed_and_names_the_stage():
    result = runs.classify_provider(row(availability="unavailable", reason_code="early_failure_unknown"), failed_stage="scrape")
    assert result["category"] == runs.EARLY_FAILURE
    assert result["fail_closed"] is True
    assert "scrape" in result["detail"]


def test_other_early_failure_codes_are_fail_closed_too():
    result = runs.classify_provider(row(availability="unavailable", reason_code="early_failure_startup"))
    assert result["category"] == runs.EARLY_FAILURE and result["fail_closed"]
    assert "an early stage" in result["detail"]


def test_available_provider():
    result = runs.classify_provider(row())
    assert result["category"] == runs.AVAILABLE and result["owner"] is None


def test_available_with_a_stray_reason_code_stays_available_and_notes_it():
    result = runs.classify_provider(row(reason_code="timeout"))
    assert result["category"] == runs.AVAILABLE
    assert "ignoring reason_code timeout" in result["detail"]


def test_unavailable_without_reason_is_unknown_not_available():
    result = runs.classify_provider(row(availability="unavailable", reason_code=None))
    assert result["category"] == runs.UNKNOWN


def test_unrecognised_reason_code_is_unknown():
    result = runs.classify_provider(row(availability="unavailable", reason_code="quota_exceeded"))
    assert result["category"] == runs.UNKNOWN
    assert "quota_exceeded" in result["detail"]


@pytest.mark.parametrize("entry", [{"enabled": True}, "openai", None, {"provider": ""}])
def test_malformed_rows_are_unknown(entry):
    assert runs.classify_provider(entry)["category"] == runs.UNKNOWN


def test_every_category_has_text():
    for category in runs.CATEGORIES:
        assert runs._CATEGORY_TEXT[category][0]


# --- run-level analysis ----------------------------------------------------------------------------

def documents(**spec_args):
    """Parsed run documents exactly as the simulated container writes them."""
    spec = jobintel.RunSpec(run_id=spec_args.pop("run_id", "20260102T060000Z"), started_at="2026-01-02T06:00:00Z",
                            finished_at="2026-01-02T06:04:00Z", **spec_args)
    files = jobintel.run_files(spec)
    return spec, {name: json.loads(files[name]) for name in runs.REQUIRED_FILES}, files


def analyze(docs, run_id="20260102T060000Z"):
    return runs.analyze_run(run_id, docs.get(runs.SUMMARY_FILE), docs.get(runs.HEALTH_FILE), docs.get(runs.AVAILABILITY_FILE))


def test_forced_early_failure_is_fail_closed_and_checks_the_stage_first():
    _spec, docs, _files = documents(failed_stage="classify", providers=("openai", "google"), disabled_providers=("anthropic",))
    run = analyze(docs)
    assert run["status"] == "failed" and run["summary_status"] == "failed"
    assert run["failed_stage"] == "classify"
    assert run["failure_codes"] == ["FORCED_FAILURE"]
    assert run["failure_code_meanings"][0]["meaning"].startswith("dev harness")
    assert [p["category"] for p in run["providers"]] == [runs.EARLY_FAILURE, runs.EARLY_FAILURE, runs.CONFIG_DISABLE]
    assert run["provider_categories"][runs.EARLY_FAILURE] == 2
    assert run["findings"] == []
    assert run["next_steps"][0].startswith("fix the classify stage first")
    assert run["headline"] == "run 20260102T060000Z status=failed failed_stage=classify failure_codes=FORCED_FAILURE"


def test_late_failure_keeps_configured_outcomes():
    _spec, docs, _files = documents(failed_stage="publish", providers=("openai", "google"),
                                    provider_outcomes={"google": "timeout"})
    run = analyze(docs)
    assert {p["provider"]: p["category"] for p in run["providers"]} == {"openai": runs.AVAILABLE, "google": runs.NETWORK_ISSUE}
    assert run["failure_codes"] == ["FORCED_FAILURE", "timeout"]


def test_degraded_run_lists_each_category_once_with_its_owner():
    _spec, docs, _files = documents(providers=("openai", "anthropic", "google", "mistral"), disabled_providers=("cohere",),
                                    provider_outcomes={"anthropic": "policy_snapshot", "google": "network", "mistral": "snapshot_disabled"})
    run = analyze(docs)
    assert run["status"] == "degraded" and run["summary_status"] == "success"
    assert run["provider_categories"] == {runs.AVAILABLE: 1, runs.POLICY_BLOCK: 2, runs.NETWORK_ISSUE: 1, runs.CONFIG_DISABLE: 1,
                                          runs.EARLY_FAILURE: 0, runs.UNKNOWN: 0}
    assert run["next_steps"] == [
        "anthropic, mistral: %s -> config/ops decision" % runs._CATEGORY_TEXT[runs.POLICY_BLOCK][0],
        "google: %s -> infra/connectivity" % runs._CATEGORY_TEXT[runs.NETWORK_ISSUE][0],
        "cohere: %s -> config" % runs._CATEGORY_TEXT[runs.CONFIG_DISABLE][0],
    ]


def test_zero_provider_config_still_lists_disabled_providers():
    _spec, docs, _files = documents(providers=(), disabled_providers=("openai", "anthropic"))
    run = analyze(docs)
    assert [p["category"] for p in run["providers"]] == [runs.CONFIG_DISABLE, runs.CONFIG_DISABLE]
    assert run["status"] == "healthy"


def test_missing_documents_break_the_terminal_run_invariant():
    _spec, docs, _files = documents()
    run = analyze({runs.SUMMARY_FILE: docs[runs.SUMMARY_FILE]})
    codes = [f["code"] for f in run["findings"]]
    assert codes == ["run_health_missing", "provider_availability_missing"]
    assert run["status"] == "success"  # the summary's status when run_health is missing
    empty = analyze({})
    assert [f["code"] for f in empty["findings"]] == ["run_summary_missing", "run_health_missing", "provider_availability_missing"]
    assert empty["status"] == "unknown" and empty["candidate_id"] is None


def test_status_and_run_id_mismatches_are_findings():
    _spec, docs, _files = documents()
    docs[runs.HEALTH_FILE]["status"] = "failed"
    docs[runs.AVAILABILITY_FILE]["run_id"] = "other"
    docs[runs.SUMMARY_FILE]["schema_version"] = "run_summary.v0"
    codes = [f["code"] for f in analyze(docs)["findings"]]
    assert codes.count("status_mismatch") == 2
    assert "run_id_mismatch" in codes and "schema_version_unexpected" in codes


def test_early_failure_that_is_not_fail_closed_is_a_finding():
    _spec, docs, _files = documents(failed_stage="scrape")
    docs[runs.AVAILABILITY_FILE]["providers"][0].update(availability="available", reason_code=None)
    findings = analyze(docs)["findings"]
    assert findings[0]["code"] == "early_failure_not_fail_closed" and "openai is" in findings[0]["detail"]


def test_provider_availability_without_a_list_is_a_finding():
    _spec, docs, _files = documents()
    docs[runs.AVAILABILITY_FILE]["providers"] = {"openai": "available"}
    run = analyze(docs)
    assert [f["code"] for f in run["findings"]] == ["provider_availability_invalid"] and run["providers"] == []


def test_unknown_failure_code_and_fail_closed_without_stage():
    _spec, docs, _files = documents()
    docs[runs.HEALTH_FILE]["failure_codes"] = ["SOMETHING_NEW"]
    docs[runs.AVAILABILITY_FILE]["providers"][0].update(availability="unavailable", reason_code="early_failure_unknown")
    run = analyze(docs)
    assert run["failure_code_meanings"] == [{"code": "SOMETHING_NEW", "meaning": "not in the failure playbook; see the run's logs"}]
    assert any("fail-closed without a failed stage" in s for s in run["next_steps"])


def test_expected_outputs_only_for_available_providers_of_a_successful_run():
    _spec, docs, files = documents(providers=("openai", "google"), profiles=("cs", "ml"), provider_outcomes={"google": "timeout"})
    run = analyze(docs)
    expected = runs.expected_outputs(run)
    assert sorted(expected) == sorted(k for k in files if k.count("/") == 2)
    assert len(expected) == 6 and all(k.startswith("openai/") for k in expected)
    _spec, failed_docs, _files = documents(failed_stage="score")
    assert runs.expected_outputs(analyze(failed_docs)) == []


@pytest.mark.parametrize("run_id", ["", "../x", "a/b", ".hidden", None, "x" * 200])
def test_bad_run_ids_are_refused(run_id):
    with pytest.raises(runs.RunsError) as err:
        runs.validate_run_id(run_id)
    assert err.value.reason == "run_id_invalid"


def test_bad_candidate_ids_are_refused():
    assert runs.validate_candidate_id(None) is None
    with pytest.raises(runs.RunsError) as err:
        runs.validate_candidate_id("a/b")
    assert err.value.reason == "invalid_candidate_id"


def test_pointer_keys_and_artifact_kinds():
    assert runs.pointer_key("jobintel") == "jobintel/state/last_success.json"
    assert runs.pointer_key("", "openai", "cs") == "state/openai/cs/last_success.json"
    assert runs.run_base("p/q", "outbox", "r1") == "p/q/outbox/r1/"
    assert [runs.artifact_kind(k) for k in (runs.SUMMARY_FILE, runs.AVAILABILITY_FILE, "openai/cs/x.md", "notes.txt")] == [
        "run", "artifact", "output", "other"]


# --- S3 against the sandbox ----------------------------------------------------------------------

@pytest.fixture
def layout(sandbox):
    """A private jobintel layout: ``put(run_id, source, **spec)`` writes one run's files."""
    s3 = sandbox.boto3_client("s3")
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    prefix = "tests/runs-unit/%s" % uuid.uuid4().hex[:12]

    def put(run_id, source="published", skip=(), **spec_args):
        _spec, _docs, files = documents(run_id=run_id, **spec_args)
        for name, body in files.items():
            if name not in skip:
                s3.put_object(Bucket=bucket, Key=runs.run_base(prefix, source, run_id) + name, Body=body)
        return files

    return s3, bucket, prefix, put


def test_list_filters_by_candidate_orders_newest_first_and_dedupes_sources(layout):
    s3, bucket, prefix, put = layout
    put("20260101T060000Z")
    put("20260102T060000Z", candidate_id="other")
    put("20260103T060000Z", failed_stage="scrape")
    put("20260103T060000Z", source="outbox", failed_stage="scrape")
    put("20260104T060000Z-abcd1234", source="outbox")
    put("20260105T060000Z", skip=(runs.SUMMARY_FILE,))
    listed = runs.list_runs(s3, bucket, prefix, "local", limit=10)
    assert [r["run_id"] for r in listed["runs"]] == ["20260104T060000Z-abcd1234", "20260103T060000Z", "20260101T060000Z"]
    assert listed["runs"][1]["sources"] == ["published", "outbox"] and listed["runs"][1]["source"] == "published"
    assert listed["runs"][1]["failed_stage"] == "scrape" and listed["runs"][1]["status"] == "failed"
    assert [u["run_id"] for u in listed["unattributed"]] == ["20260105T060000Z"]
    assert listed["total_run_ids"] == 5
    limited = runs.list_runs(s3, bucket, prefix, "local", limit=1)
    assert [r["run_id"] for r in limited["runs"]] == ["20260104T060000Z-abcd1234"] and limited["scanned"] == 2
    assert [r["run_id"] for r in runs.list_runs(s3, bucket, prefix, None, limit=10, sources=["published"])["runs"]] == [
        "20260103T060000Z", "20260102T060000Z", "20260101T060000Z"]
    with pytest.raises(runs.RunsError):
        runs.list_runs(s3, bucket, prefix, "local", limit=0)


def test_show_from_outbox_and_candidate_mismatch(layout):
    s3, bucket, prefix, put = layout
    put("20260106T060000Z", source="outbox", candidate_id="cand-b", disabled_providers=("anthropic",))
    run = runs.show_run(s3, bucket, prefix, "20260106T060000Z", "cand-b")
    assert run["source"] == "outbox" and run["uri"].endswith("/outbox/20260106T060000Z/")
    assert run["providers"][1]["category"] == runs.CONFIG_DISABLE
    with pytest.raises(runs.RunsError) as err:
        runs.show_run(s3, bucket, prefix, "20260106T060000Z", "local")
    assert err.value.reason == "run_candidate_mismatch" and "cand-b" in err.value.message
    with pytest.raises(runs.RunsError) as err:
        runs.show_run(s3, bucket, prefix, "20260106T060000Z", sources=["published"])
    assert err.value.reason == "run_not_found"


def test_unknown_run_and_corrupt_json(layout):
    s3, bucket, prefix, put = layout
    with pytest.raises(runs.RunsError) as err:
        runs.show_run(s3, bucket, prefix, "20990101T000000Z")
    assert err.value.reason == "run_not_found"
    assert "%s/runs/20990101T000000Z/" % prefix in err.value.message and "outbox" in err.value.message
    put("20260107T060000Z")
    s3.put_object(Bucket=bucket, Key=runs.run_base(prefix, "published", "20260107T060000Z") + runs.HEALTH_FILE, Body=b"{not json")
    with pytest.raises(runs.RunsError) as err:
        runs.show_run(s3, bucket, prefix, "20260107T060000Z")
    assert err.value.reason == "run_artifact_invalid"


def test_artifacts_list_objects_and_what_is_missing(layout):
    s3, bucket, prefix, put = layout
    files = put("20260108T060000Z", skip=("openai/cs/shortlist.openai.cs.md", runs.AVAILABILITY_FILE))
    result = runs.run_artifacts(s3, bucket, prefix, "20260108T060000Z", "local")
    assert [a["key"] for a in result["artifacts"]] == sorted(k for k in files if k not in (
        "openai/cs/shortlist.openai.cs.md", runs.AVAILABILITY_FILE))
    assert result["total_size"] == sum(len(v) for k, v in files.items() if k in [a["key"] for a in result["artifacts"]])
    # Without provider_availability the available providers are unknown, so only the run documents are checked.
    assert result["missing"] == [runs.AVAILABILITY_FILE]
    assert "provider_availability_missing" in [f["code"] for f in result["run"]["findings"]]
    files = put("20260109T060000Z", skip=("openai/cs/shortlist.openai.cs.md",))
    assert runs.run_artifacts(s3, bucket, prefix, "20260109T060000Z")["missing"] == ["openai/cs/shortlist.openai.cs.md"]


def test_missing_bucket_is_a_clear_error(sandbox):
    s3 = sandbox.boto3_client("s3")
    with pytest.raises(runs.RunsError) as err:
        runs.list_runs(s3, "no-such-bucket-%s" % uuid.uuid4().hex[:8], "jobintel")
    assert err.value.reason == "bucket_not_found"
