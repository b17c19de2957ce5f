"""PutBucketLifecycleConfiguration checks that real S3 makes and moto 5.2.5 does not.

Real S3 answers 400 ``InvalidArgument`` when a rule transitions current or noncurrent versions to
STANDARD_IA or ONEZONE_IA before day 30; moto stores such a rule.
"""

import xml.etree.ElementTree as ET

from .protocol_errors import s3_error

_IA_CLASSES = ("STANDARD_IA", "ONEZONE_IA")
_DAYS_FIELD = {"Transition": "Days", "NoncurrentVersionTransition": "NoncurrentDays"}


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def lifecycle_violation(info, body):
    """An InvalidArgument error for an IA transition before day 30, else None."""
    if info.protocol != "s3" or info.operation != "PutBucketLifecycleConfiguration":
        return None
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None  # moto answers malformed XML itself
    for element in root.iter():
        action = _local(element.tag)
        if action not in _DAYS_FIELD:
            continue
        fields = {_local(child.tag): (child.text or "").strip() for child in element}
        days, storage_class = fields.get(_DAYS_FIELD[action], ""), fields.get("StorageClass")
        if storage_class in _IA_CLASSES and days.isdigit() and int(days) < 30:
            return s3_error(400, "InvalidArgument", "'%s' in %s action must be greater than or equal to 30 for storageClass '%s'"
                            % (_DAYS_FIELD[action], action, storage_class), info)
    return None
