# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ECR: does an image exist (by digest or, where allowed, by tag), and registry pull credentials.

Deploys and the DR drill both refuse an image that is not in ECR before they change anything, and
the DR cluster pulls with a ``kubernetes.io/dockerconfigjson`` secret built from ECR's authorization
token. Both live here so there is one way to ask ECR either question.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json

from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError, require_pinned_image
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import error_code

# ECR answers these when the repository or image is not there (not an access problem).
_NOT_FOUND_CODES = ("ImageNotFoundException", "RepositoryNotFoundException")


_error_code = error_code


def resolve_image(ecr, image_ref, allow_tags=False, context="this environment"):
    """Check ``image_ref`` against ECR and return what it resolves to.

    Raises GuardError before anything is written when the reference is not digest-pinned (and tags
    are not allowed), is not an ECR reference, or names an image ECR does not have. Returns
    ``{"image_ref", "repository", "registry_id", "digest", "tag", "pinned_ref", "pushed_at"}`` where
    ``pinned_ref`` is ``<registry>/<repository>@<digest>`` -- what a task definition should carry
    even when a tag was given.
    """
    parsed = require_pinned_image(image_ref, allow_tags=allow_tags, context=context)
    if not parsed["ecr_account"]:
        raise GuardError("image_not_ecr",
                         "image_ref %r is not an ECR reference (<account>.dkr.ecr.<region>.amazonaws.com/<repo>); "
                         "push the image to ECR and use its digest." % image_ref)
    image_id = {"imageDigest": parsed["digest"]} if parsed["digest"] else {"imageTag": parsed["tag"]}
    try:
        found = ecr.describe_images(registryId=parsed["ecr_account"], repositoryName=parsed["repository"],
                                    imageIds=[image_id])["imageDetails"]
    except Exception as exc:  # botocore ClientError; imported lazily by callers
        if _error_code(exc) in _NOT_FOUND_CODES:
            raise GuardError("image_not_found",
                             "image_ref %r is not in ECR (%s); push it first or fix the digest." % (image_ref, _error_code(exc)))
        raise
    if not found:
        raise GuardError("image_not_found", "image_ref %r is not in ECR; push it first or fix the digest." % image_ref)
    detail = found[0]
    digest = detail["imageDigest"]
    if parsed["digest"] and digest != parsed["digest"]:
        raise GuardError("image_not_found", "ECR returned digest %s for image_ref %r." % (digest, image_ref))
    pushed_at = detail.get("imagePushedAt")
    return {
        "image_ref": image_ref,
        "repository": parsed["repository"],
        "registry_id": parsed["ecr_account"],
        "digest": digest,
        "tag": parsed["tag"],
        "pinned_ref": "%s/%s@%s" % (parsed["registry"], parsed["repository"], digest),
        "pushed_at": pushed_at.isoformat() if hasattr(pushed_at, "isoformat") else pushed_at,
    }


def pull_credentials(ecr, registry_id=None):
    """ECR's authorization token as registry host, user name, password and expiry.

    The password is a secret: callers add it to ``no_log_values`` before anything is returned.
    """
    kwargs = {"registryIds": [registry_id]} if registry_id else {}
    data = ecr.get_authorization_token(**kwargs)["authorizationData"][0]
    user, _sep, password = base64.b64decode(data["authorizationToken"]).decode("utf-8").partition(":")
    host = data["proxyEndpoint"].split("://", 1)[-1].rstrip("/")
    expires = data.get("expiresAt")
    return {
        "registry": host,
        "username": user,
        "password": password,
        "expires_at": expires.isoformat() if hasattr(expires, "isoformat") else expires,
    }


def dockerconfigjson(credentials):
    """The ``.dockerconfigjson`` document a ``kubernetes.io/dockerconfigjson`` Secret carries."""
    auth = base64.b64encode(("%s:%s" % (credentials["username"], credentials["password"])).encode("utf-8")).decode("ascii")
    document = {"auths": {credentials["registry"]: {
        "username": credentials["username"], "password": credentials["password"], "auth": auth,
    }}}
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


# BatchGetImage returns the manifest in one of these media types (acceptedMediaTypes). Asking for the index
# types first makes ECR hand back the manifest list / OCI index of a multi-arch image, not one platform's manifest.
INDEX_MEDIA_TYPES = ("application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.oci.image.index.v1+json")
MANIFEST_MEDIA_TYPES = ("application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json")


def platforms_of(manifest_text, media_type=None):
    """``(kind, platforms)`` of an image manifest (pure).

    ``kind`` is ``index`` for a manifest list / OCI image index, whose ``manifests[].platform`` give the
    platforms as ``os/architecture[/variant]``; ``manifest`` for a single-platform manifest, whose platform is
    only in its config blob (``platforms`` is then empty). Attestation entries (``unknown/unknown``, which
    buildx adds beside the images) are left out.
    """
    try:
        document = json.loads(manifest_text)
    except (TypeError, ValueError):
        raise GuardError("image_arch_unknown", "ECR returned a manifest that is not JSON, so its platforms cannot be read; check the image in ECR.")
    media_type = document.get("mediaType") or media_type
    if media_type in INDEX_MEDIA_TYPES or "manifests" in document:
        found = []
        for entry in document.get("manifests") or []:
            platform = entry.get("platform") or {}
            name = "/".join(x for x in (platform.get("os"), platform.get("architecture"), platform.get("variant")) if x)
            if name and name != "unknown/unknown" and name not in found:
                found.append(name)
        return "index", found
    return "manifest", []


def require_platform(ecr, image_ref, os_name="linux", architecture="arm64", variable="dr_image_ref"):
    """Refuse ``image_ref`` unless its manifest list / image index has an ``os_name/architecture`` image.

    ECR BatchGetImage is asked for the index media types first. An image pushed as one platform's manifest is
    refused too (``image_arch_unknown``): its architecture is only in the config blob, which ECR serves from a
    pre-signed layer URL (GetDownloadUrlForLayer) that needs a second credentialed download, so the drill asks
    for the release pipeline's multi-arch image instead of guessing. Returns ``{"image_ref", "digest",
    "media_type", "platforms"}``.
    """
    parsed = require_pinned_image(image_ref, allow_tags=True, context="the DR runner")
    if not parsed["ecr_account"]:
        raise GuardError("image_not_ecr", "%s %r is not an ECR reference; push the image to ECR and use its digest." % (variable, image_ref))
    image_id = {"imageDigest": parsed["digest"]} if parsed["digest"] else {"imageTag": parsed["tag"]}
    try:
        response = ecr.batch_get_image(registryId=parsed["ecr_account"], repositoryName=parsed["repository"], imageIds=[image_id],
                                       acceptedMediaTypes=list(INDEX_MEDIA_TYPES + MANIFEST_MEDIA_TYPES))
    except Exception as exc:  # botocore ClientError
        if _error_code(exc) in _NOT_FOUND_CODES:
            raise GuardError("image_not_found", "%s %r is not in ECR (%s); push it first or fix the digest." % (variable, image_ref, _error_code(exc)))
        raise
    images = response.get("images") or []
    if not images:
        raise GuardError("image_not_found", "%s %r is not in ECR; push it first or fix the digest." % (variable, image_ref))
    image = images[0]
    kind, platforms = platforms_of(image.get("imageManifest"), image.get("imageManifestMediaType"))
    wanted = "%s/%s" % (os_name, architecture)
    result = {"image_ref": image_ref, "digest": image.get("imageId", {}).get("imageDigest"),
              "media_type": image.get("imageManifestMediaType"), "platforms": platforms}
    if kind != "index":
        raise GuardError("image_arch_unknown",
                         "%s %r is a single-platform image manifest (%s), so its architecture cannot be checked without pulling "
                         "its config; the %s runner needs %s. Publish the release's multi-arch image (a manifest list with "
                         "linux/amd64 and linux/arm64) and pass its digest as -e image_ref." % (
                             variable, image_ref, result["media_type"] or "no media type", architecture, wanted), details=result)
    if not any(p == wanted or p.startswith(wanted + "/") for p in platforms):
        raise GuardError("image_arch_missing",
                         "%s %r has no %s image (platforms found: %s); the DR runner is %s. Publish a multi-arch image with "
                         "%s (docker buildx --platform linux/amd64,linux/arm64) and pass its digest as -e image_ref." % (
                             variable, image_ref, wanted, ", ".join(platforms) or "none", architecture, wanted), details=result)
    return result
