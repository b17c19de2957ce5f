# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """Where in S3 a module reads or writes (spec: services/s3.py location_argument_spec). DOCUMENTATION: the
    artifact bucket and the jobintel key prefix; CONTROL_PLANE: the bucket and prefix of the control-plane bundles and C(current.json)."""

    DOCUMENTATION = r"""
options:
  bucket:
    description: The artifact bucket the ECS task writes to and runs are published in.
    type: str
    required: true
  prefix:
    description:
      - The jobintel key prefix inside O(bucket) (the task's C(JOBINTEL_S3_PREFIX)), without leading or trailing C(/).
        May be empty.
    type: str
    default: ""
"""

    CONTROL_PLANE = r"""
options:
  bucket:
    description:
      - Bucket holding the bundles and C(current.json). Empty fails with C(bucket_unset), a C(REPLACE_) placeholder
        with C(inventory_placeholder).
    type: str
    required: true
  prefix:
    description: Key prefix in front of C(control-plane/) (empty for the bucket root).
    type: str
    default: ""
"""
