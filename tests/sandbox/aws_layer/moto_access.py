"""The few places where the layer reaches into moto's in-process backends.

Kept in one module because these are moto internals (stable across 5.x, but not public API).
moto is imported lazily so that importing the package never fixes moto's default account before
``MOTO_ACCOUNT_ID`` has been set.
"""

PARTITION = "aws"


class StoreError(Exception):
    """A write into the moto S3 backend failed (e.g. the bucket does not exist)."""


def enable_stepfunctions_execution():
    """Same as ``POST /moto-api/config {"stepfunctions": {"execute_state_machine": true}}``."""
    from moto.moto_api._internal.models import moto_api_backend  # pylint: disable=import-outside-toplevel

    moto_api_backend.set_config({"stepfunctions": {"execute_state_machine": True}})


def _s3_backend(account_id):
    from moto.s3.models import s3_backends  # pylint: disable=import-outside-toplevel

    return s3_backends[account_id][PARTITION]


def current_etag(account_id, bucket, key):
    """The quoted ETag of the current version of ``bucket/key``, or None if absent (or a delete marker)."""
    from moto.core.exceptions import ServiceException  # pylint: disable=import-outside-toplevel

    try:
        obj = _s3_backend(account_id).get_object(bucket, key)
    except ServiceException:
        return None
    return obj.etag if obj is not None else None


def put_object(account_id, bucket, key, data):
    """Write an object as a container inside the account would (no request log, no faults)."""
    from moto.core.exceptions import ServiceException  # pylint: disable=import-outside-toplevel

    try:
        _s3_backend(account_id).put_object(bucket, key, data)
    except ServiceException as exc:
        raise StoreError("s3://%s/%s: %s" % (bucket, key, getattr(exc, "code", exc))) from exc


def task_definition(account_id, region, arn):
    """``{"family", "revision", "containers": [container definition dicts]}`` of a registered task definition."""
    from moto.ecs.models import ecs_backends  # pylint: disable=import-outside-toplevel

    definition = ecs_backends[account_id][region].describe_task_definition(arn)
    return {"family": definition.family, "revision": definition.revision, "containers": list(definition.container_definitions)}
