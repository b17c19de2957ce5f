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
