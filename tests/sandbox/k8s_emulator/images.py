"""Image references and the image-pull decision the simulated kubelet makes.

Images on this sandbox's ECR registry (``<account>.dkr.ecr.<region>.amazonaws.com``) are checked
against the AWS endpoint (moto): the pod must reach a ``kubernetes.io/dockerconfigjson`` pull
secret (``spec.imagePullSecrets``, else its ServiceAccount's ``imagePullSecrets``) whose
``auths[<host>]`` holds user ``AWS`` and the password ECR's ``GetAuthorizationToken`` currently
returns, written after the last credential revocation; then the tag or digest must exist in the
repository. Images from any other registry are pullable. Without an AWS endpoint ECR images are
pullable too. Injected pull faults (``fail_images``) win over everything.
"""

import base64
import binascii
import json
import threading
import time

from .util import parse_iso

PULL_SECRET_TYPE = "kubernetes.io/dockerconfigjson"
_CACHE_SECONDS = 0.5
_DENIED = "pull access denied, repository does not exist or may require authorization: authorization failed: "


class ImageRef:
    """A parsed image reference."""

    def __init__(self, image):
        self.image = image
        rest, dummy, self.digest = image.partition("@")
        first, sep, remainder = rest.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            self.host, path = first, remainder
        else:
            self.host, path = "docker.io", rest
        name, colon, tag = path.rpartition(":")
        if colon and "/" not in tag:
            self.repository, self.tag = name, tag
        else:
            self.repository, self.tag = path, ""
        if not self.digest and not self.tag:
            self.tag = "latest"

    @property
    def image_id(self):
        """The ECR ``imageId`` selecting this reference."""
        return {"imageDigest": self.digest} if self.digest else {"imageTag": self.tag}


class PullResult:
    """Outcome of a pull attempt: ``ok`` or a ``reason`` with the containerd-style ``message``."""

    def __init__(self, ok, reason="", message="", missing_secrets=()):
        self.ok = ok
        self.reason = reason
        self.message = message
        self.missing_secrets = tuple(missing_secrets)


def _failure(image, code, detail, missing=()):
    message = 'rpc error: code = %s desc = failed to pull and unpack image "%s": failed to resolve reference "%s": %s' % (
        code, image, image, detail)
    return PullResult(False, "ErrImagePull", message, missing)


def _docker_credentials(secret, host):
    """``(user, password)`` for ``host`` from a dockerconfigjson Secret, or None."""
    if secret.get("type") != PULL_SECRET_TYPE:
        return None
    try:
        config = json.loads(base64.b64decode((secret.get("data") or {}).get(".dockerconfigjson", "")))
    except (ValueError, binascii.Error):
        return None
    auths = config.get("auths") if isinstance(config, dict) else None
    if not isinstance(auths, dict):
        return None
    entry = auths.get(host) or auths.get("https://" + host) or auths.get("http://" + host)
    if not isinstance(entry, dict):
        return None
    if entry.get("auth"):
        try:
            user, dummy, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        return user, password
    return entry.get("username"), entry.get("password")


class PullChecker:
    """Decides whether an image can be pulled for a pod (spec + namespace)."""

    def __init__(self, store, faults, endpoint_url=None, region="us-east-1", account_id=None):
        self.store = store
        self.faults = faults
        self.endpoint_url = endpoint_url
        self.region = region
        self.account_id = account_id
        self._client = None
        self._lock = threading.Lock()
        self._cache = {}

    @property
    def ecr_host(self):
        """This sandbox's ECR registry host (None when no account id is known)."""
        return "%s.dkr.ecr.%s.amazonaws.com" % (self.account_id, self.region) if self.account_id else None

    def _ecr(self):
        if self._client is None:
            import boto3  # pylint: disable=import-outside-toplevel
            from botocore.config import Config  # pylint: disable=import-outside-toplevel

            self._client = boto3.client("ecr", endpoint_url=self.endpoint_url, region_name=self.region, aws_access_key_id="testing",
                                        aws_secret_access_key="testing",
                                        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5))
            # The kubelet is a simulated actor: the AWS layer answers it without logging it (aws_layer/middleware.py).
            self._client.meta.events.register(
                "before-sign.ecr.*", lambda request, **_: request.headers.__setitem__("X-Sandbox-Actor", "kubelet"))
        return self._client

    def _cached(self, key, compute):
        """Memoise AWS answers briefly: the kubelet re-checks every tick."""
        with self._lock:
            hit = self._cache.get(key)
            if hit and hit[0] > time.monotonic():
                return hit[1]
        value = compute()
        with self._lock:
            self._cache[key] = (time.monotonic() + _CACHE_SECONDS, value)
        return value

    def ecr_password(self):
        """The password part of ``GetAuthorizationToken`` (moto: ``<account>-auth-token``)."""
        def compute():
            data = self._ecr().get_authorization_token()["authorizationData"][0]["authorizationToken"]
            return base64.b64decode(data).decode().partition(":")[2]
        return self._cached(("token",), compute)

    def _image_exists(self, ref):
        def compute():
            from botocore.exceptions import ClientError  # pylint: disable=import-outside-toplevel

            try:
                self._ecr().describe_images(repositoryName=ref.repository, imageIds=[ref.image_id])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("ImageNotFoundException", "RepositoryNotFoundException"):
                    return False
                raise
            return True
        return self._cached(("image", ref.repository, ref.digest, ref.tag), compute)

    def _written_at(self, secret):
        """When the Secret was last written (a write request, even a no-op, counts)."""
        touched = self.store.touched.get(secret["metadata"].get("uid"))
        if touched:
            return touched
        stamps = [parse_iso(e.get("time")) for e in secret["metadata"].get("managedFields") or [] if e.get("time")]
        stamps.append(parse_iso(secret["metadata"].get("creationTimestamp")))
        return max(s.timestamp() for s in stamps if s)

    def secret_names(self, namespace, spec):
        """The pull secret names the kubelet would use: the pod's, else its ServiceAccount's."""
        refs = spec.get("imagePullSecrets") or []
        if not refs:
            account = self.store.get("serviceaccounts", namespace, spec.get("serviceAccountName") or "default") or {}
            refs = account.get("imagePullSecrets") or []
        return [ref["name"] for ref in refs if isinstance(ref, dict) and ref.get("name")]

    def check(self, namespace, spec, image):
        """A :class:`PullResult` for pulling ``image`` for a pod with ``spec`` in ``namespace``."""
        injected = self.faults.pull.failing(image)
        if injected:
            reason, message = injected
            return PullResult(False, reason, 'rpc error: code = Unknown desc = failed to pull and unpack image "%s": %s' % (image, message))
        ref = ImageRef(image)
        if not self.endpoint_url or ref.host != self.ecr_host:
            return PullResult(True)
        missing, credentials = [], []
        for name in self.secret_names(namespace, spec):
            secret = self.store.get("secrets", namespace, name)
            if secret is None:
                missing.append(name)
                continue
            found = _docker_credentials(secret, ref.host)
            if found:
                credentials.append((secret, found))
        if not credentials:
            return _failure(image, "Unknown", _DENIED + "no basic auth credentials", missing)
        try:
            password = self.ecr_password()
            revoked_at = self.faults.pull.revoked_at
            fresh = [c for c in credentials if revoked_at is None or self._written_at(c[0]) > revoked_at]
            valid = [c for c in fresh if c[1] == ("AWS", password)]
            if not valid:
                detail = "401 Unauthorized: invalid basic auth credentials" if fresh else \
                    "403 Forbidden: Your authorization token has expired. Reauthenticate and try again."
                return _failure(image, "Unknown", _DENIED + detail, missing)
            if not self._image_exists(ref):
                return _failure(image, "NotFound", "%s: not found" % image, missing)
        except Exception as exc:  # pylint: disable=broad-except
            # Any AWS-side failure (endpoint down, injected fault) is a registry error for the kubelet.
            return _failure(image, "Unknown", "failed to do request: %s" % exc, missing)
        return PullResult(True, missing_secrets=missing)
