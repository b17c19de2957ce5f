"""ECR image resolution and pull credentials against the sandbox's ECR."""

import base64
import json

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.services import ecr
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError


@pytest.fixture
def client(sandbox):
    return sandbox.boto3_client("ecr")


def test_a_pinned_ref_resolves_to_the_digest_ecr_holds(sandbox, client):
    image = ecr.resolve_image(client, sandbox["SANDBOX_IMAGE_REF"])
    listed = client.describe_images(repositoryName=image["repository"])["imageDetails"]
    assert image["digest"] in [d["imageDigest"] for d in listed]
    assert image["pinned_ref"] == sandbox["SANDBOX_IMAGE_REF"]


def test_a_tag_is_refused_unless_allowed_and_then_pinned(sandbox, client):
    with pytest.raises(GuardError) as refused:
        ecr.resolve_image(client, sandbox["SANDBOX_IMAGE_TAG_REF"])
    assert refused.value.reason == "image_ref_not_pinned"
    image = ecr.resolve_image(client, sandbox["SANDBOX_IMAGE_TAG_REF"], allow_tags=True)
    assert image["pinned_ref"] == sandbox["SANDBOX_IMAGE_REF"]


@pytest.mark.parametrize("mutate, reason", [
    (lambda ref: ref[:-8] + "deadbeef", "image_not_found"),
    (lambda ref: ref.replace("/jobintel@", "/no-such-repo@"), "image_not_found"),
    (lambda ref: "docker.io/library/jobintel@" + ref.split("@")[1], "image_not_ecr"),
])
def test_unknown_images_are_refused_with_a_reason(sandbox, client, mutate, reason):
    with pytest.raises(GuardError) as refused:
        ecr.resolve_image(client, mutate(sandbox["SANDBOX_IMAGE_REF"]))
    assert refused.value.reason == reason


def test_pull_credentials_make_a_dockerconfigjson(sandbox, client):
    creds = ecr.pull_credentials(client, sandbox["SANDBOX_ACCOUNT_ID"])
    assert creds["registry"] == sandbox["SANDBOX_IMAGE_REF"].split("/")[0]
    document = json.loads(ecr.dockerconfigjson(creds))
    entry = document["auths"][creds["registry"]]
    assert entry["username"] == "AWS"
    assert base64.b64decode(entry["auth"]).decode() == "AWS:" + creds["password"]


def _index(*platforms):
    return json.dumps({"schemaVersion": 2, "mediaType": ecr.INDEX_MEDIA_TYPES[0], "manifests": [
        {"digest": "sha256:" + "0" * 64, "platform": dict(zip(("os", "architecture", "variant"), p.split("/")))} for p in platforms]})


@pytest.mark.parametrize("manifest, expected", [
    (_index("linux/amd64", "linux/arm64/v8", "unknown/unknown"), ("index", ["linux/amd64", "linux/arm64/v8"])),
    (json.dumps({"schemaVersion": 2, "mediaType": ecr.MANIFEST_MEDIA_TYPES[1], "config": {}, "layers": []}), ("manifest", [])),
])
def test_platforms_of_an_index_and_of_a_single_manifest(manifest, expected):
    assert ecr.platforms_of(manifest) == expected


def test_the_seeded_multi_arch_image_has_linux_arm64(sandbox, client):
    found = ecr.require_platform(client, sandbox["SANDBOX_IMAGE_REF"])
    assert found["platforms"] == ["linux/amd64", "linux/arm64"]
    assert found["digest"] == sandbox["SANDBOX_IMAGE_REF"].split("@")[1]


def test_an_amd64_only_image_and_a_single_manifest_are_refused_naming_what_was_found(sandbox, client):
    from tests.sandbox.seed import compute
    registry = sandbox["SANDBOX_IMAGE_REF"].split("/")[0]
    digest = compute.push_index(client, "unit-amd64-only", ("amd64",))
    with pytest.raises(GuardError) as refused:
        ecr.require_platform(client, "%s/jobintel@%s" % (registry, digest))
    assert refused.value.reason == "image_arch_missing"
    assert "linux/amd64" in refused.value.message and "linux/arm64" in refused.value.message
    # One platform's image manifest (what a plain `docker push` of one build gives): its architecture is not checkable.
    single = compute.platform_manifest("arm64")
    single_digest = client.batch_get_image(repositoryName="jobintel", imageIds=[{"imageDigest": compute._digest(single)}])["images"][0]
    with pytest.raises(GuardError) as unknown:
        ecr.require_platform(client, "%s/jobintel@%s" % (registry, single_digest["imageId"]["imageDigest"]))
    assert unknown.value.reason == "image_arch_unknown"
