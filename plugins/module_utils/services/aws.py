# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS clients for every signalcraft.ops module: one session, one cache, one retry policy.

Why not botocore's own retries: the policy (which error codes are throttling, how long to back off,
how many attempts) must be the same for every module and must be countable, because receipts record
``attempts``. botocore's retries are switched off and one ``needs-retry`` handler, registered on
every client this factory builds, decides for all calls -- including paginators and multi-step
helpers -- with full-jitter exponential backoff.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import threading

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError

try:
    import boto3
    import botocore
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = exc
    BotoCoreError = ClientError = Exception

COLLECTION_USER_AGENT = "signalcraft.ops/0.1.0"

# The one list of error codes that mean "slow down and try again". Services spell it differently.
THROTTLING_ERROR_CODES = frozenset((
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
    "EC2ThrottledException", "ThrottlingError",
    # SSM: "concurrent updates for a resource that supports one update at a time" (PutParameter, LabelParameterVersion).
    "TooManyUpdates",
))
# Server-side failures that are safe to retry for the operations this collection makes.
TRANSIENT_ERROR_CODES = frozenset((
    "InternalError", "InternalFailure", "InternalServerError", "ServiceUnavailable", "ServiceUnavailableException",
    "RequestTimeout", "RequestTimeoutException", "ServerException",
))
TRANSIENT_STATUS_CODES = frozenset((500, 502, 503, 504))
# What modules catch around AWS calls.
AWS_ERRORS = (ClientError, BotoCoreError)

DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_BASE_DELAY = 0.25
DEFAULT_MAX_DELAY = 20.0


def aws_argument_spec():
    """Connection options shared by every AWS-facing module (see doc fragment signalcraft.ops.aws)."""
    from ansible.module_utils.basic import env_fallback  # only modules need the spec

    return dict(
        region=dict(type="str", aliases=["aws_region"], fallback=(env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"])),
        profile=dict(type="str", aliases=["aws_profile"], fallback=(env_fallback, ["AWS_PROFILE"])),
        endpoint_url=dict(type="str", aliases=["aws_endpoint_url"], fallback=(env_fallback, ["AWS_ENDPOINT_URL"])),
        access_key=dict(type="str", aliases=["aws_access_key_id", "aws_access_key"], no_log=False),
        secret_key=dict(type="str", aliases=["aws_secret_access_key", "aws_secret_key"], no_log=True),
        session_token=dict(type="str", aliases=["aws_session_token"], no_log=True),
        validate_certs=dict(type="bool", default=True),
        aws_max_attempts=dict(type="int", default=DEFAULT_MAX_ATTEMPTS),
    )


def error_code(exc):
    """The AWS error code of a ClientError (``""`` for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def http_status(exc):
    response = getattr(exc, "response", None) or {}
    return response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def is_throttling(exc):
    return error_code(exc) in THROTTLING_ERROR_CODES


def describe_error(exc, action=None):
    """One line for fail_json: what was being done, the AWS error code and message."""
    prefix = "%s failed: " % action if action else ""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return "%s%s (%s)" % (prefix, err.get("Code", "Unknown"), err.get("Message", str(exc)))
    return "%s%s" % (prefix, exc)


class RetryPolicy:
    """Full-jitter exponential backoff on throttling and transient server errors.

    ``retries`` counts every retry this policy granted, so callers can report attempts honestly.
    """

    def __init__(self, max_attempts=DEFAULT_MAX_ATTEMPTS, base_delay=DEFAULT_BASE_DELAY, max_delay=DEFAULT_MAX_DELAY, rng=None):
        if max_attempts < 1:
            raise ValueError("aws_max_attempts must be at least 1, got %r" % max_attempts)
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self.retries = 0
        self.retries_by_code = {}

    def delay(self, attempt):
        """Seconds to sleep before attempt ``attempt + 1`` (attempt counts from 1)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return self._rng.uniform(0, ceiling)

    @staticmethod
    def classify(response, caught_exception):
        """Return the retry reason for a botocore response or exception, or None when final."""
        if caught_exception is not None:
            if HAS_BOTO3 and isinstance(caught_exception, (botocore.exceptions.ConnectionError,
                                                           botocore.exceptions.HTTPClientError)):
                return type(caught_exception).__name__
            return None
        if not response:
            return None
        http_response, parsed = response
        code = str((parsed or {}).get("Error", {}).get("Code", ""))
        if code in THROTTLING_ERROR_CODES or code in TRANSIENT_ERROR_CODES:
            return code
        status = getattr(http_response, "status_code", None)
        if status in TRANSIENT_STATUS_CODES:
            return code or "HTTP%s" % status
        return None

    def needs_retry(self, response=None, attempts=1, caught_exception=None, **_kwargs):
        """botocore ``needs-retry`` handler: seconds to sleep, or None to stop retrying."""
        reason = self.classify(response, caught_exception)
        if reason is None or attempts >= self.max_attempts:
            return None
        with self._lock:
            self.retries += 1
            self.retries_by_code[reason] = self.retries_by_code.get(reason, 0) + 1
        return self.delay(attempts)


class AwsClientFactory:
    """Builds each boto3 client once per module run, all sharing one RetryPolicy."""

    def __init__(self, region=None, profile=None, endpoint_url=None, access_key=None, secret_key=None,
                 session_token=None, validate_certs=True, max_attempts=DEFAULT_MAX_ATTEMPTS, retry_policy=None):
        if not HAS_BOTO3:
            raise RuntimeError("boto3 and botocore are required: %s" % BOTO3_IMPORT_ERROR)
        self.endpoint_url = endpoint_url or None
        self.validate_certs = validate_certs
        self.retry_policy = retry_policy or RetryPolicy(max_attempts=max_attempts)
        self._session = boto3.session.Session(
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            aws_session_token=session_token or None,
            region_name=region or None,
            profile_name=profile or None,
        )
        self.region = self._session.region_name
        self._clients = {}
        self._lock = threading.Lock()

    @classmethod
    def from_params(cls, params):
        """Build from a module's params (the keys of ``aws_argument_spec``)."""
        return cls(
            region=params.get("region"), profile=params.get("profile"), endpoint_url=params.get("endpoint_url"),
            access_key=params.get("access_key"), secret_key=params.get("secret_key"),
            session_token=params.get("session_token"), validate_certs=params.get("validate_certs", True),
            max_attempts=params.get("aws_max_attempts") or DEFAULT_MAX_ATTEMPTS,
        )

    def client(self, service):
        """The cached client for ``service``; thread-safe so concurrent uploads share one client."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._build(service)
            return self._clients[service]

    def _build(self, service):
        if not self.region:
            raise ValueError("No AWS region: set the module's 'region' option or AWS_REGION/AWS_DEFAULT_REGION.")
        options = dict(
            retries={"total_max_attempts": 1, "mode": "standard"},
            user_agent_extra=COLLECTION_USER_AGENT,
            connect_timeout=10,
            read_timeout=60,
            max_pool_connections=32,
        )
        if self.endpoint_url and service == "s3":
            # Emulators and most S3-compatible endpoints only answer path-style requests.
            options["s3"] = {"addressing_style": "path"}
        client = self._session.client(
            service, endpoint_url=self.endpoint_url, verify=self.validate_certs, config=Config(**options),
        )
        client.meta.events.register("needs-retry", self.retry_policy.needs_retry)
        return client

    @property
    def retries(self):
        return self.retry_policy.retries

    def caller_identity(self):
        """STS GetCallerIdentity: ``{"account": ..., "arn": ..., "user_id": ...}``."""
        ident = self.client("sts").get_caller_identity()
        return {"account": ident["Account"], "arn": ident["Arn"], "user_id": ident["UserId"]}


# Error codes that mean the caller's identity may not do this (IAM, bucket policy, SCP, KMS).
ACCESS_DENIED_CODES = frozenset((
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException", "Forbidden", "403",
    "AllAccessDisabled", "KMS.AccessDeniedException",
))


def to_ops_error(exc, action=None):
    """The registered token for an AWS error: ``access_denied`` or ``aws_error``."""
    reason = "access_denied" if error_code(exc) in ACCESS_DENIED_CODES else "aws_error"
    return OpsError(reason, describe_error(exc, action))


class AwsConnection:
    """The AWS connection of an OpsModule: options, dependency check, cached clients, error mapping."""

    name = "aws"
    requirement = "boto3"
    error_types = AWS_ERRORS

    def __init__(self, ops):
        try:
            self.factory = AwsClientFactory.from_params(ops.params)
        except ValueError as exc:
            raise OpsError("aws_config_invalid", str(exc))

    @staticmethod
    def argument_spec():
        return aws_argument_spec()

    @staticmethod
    def import_error():
        return None if HAS_BOTO3 else BOTO3_IMPORT_ERROR

    @staticmethod
    def to_error(exc):
        return to_ops_error(exc)

    def client(self, service):
        try:
            return self.factory.client(service)
        except ValueError as exc:
            raise OpsError("region_unset", str(exc))

    @property
    def region(self):
        return self.factory.region

    @property
    def retries(self):
        return self.factory.retries
