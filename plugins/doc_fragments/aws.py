# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """Connection options of every AWS-facing signalcraft.ops module (module_utils/aws.py)."""

    DOCUMENTATION = r"""
options:
  region:
    description:
      - The AWS region to use.
      - Falls back to E(AWS_REGION) then E(AWS_DEFAULT_REGION), then to the profile's region.
    type: str
    aliases: [aws_region]
  profile:
    description:
      - A named profile from the AWS shared config/credentials files. Falls back to E(AWS_PROFILE).
    type: str
    aliases: [aws_profile]
  endpoint_url:
    description:
      - Send API calls to this URL instead of the AWS endpoint (an emulator, a VPC endpoint).
      - Falls back to E(AWS_ENDPOINT_URL). Leave unset for real AWS.
      - With an endpoint URL, S3 is addressed path-style.
    type: str
    aliases: [aws_endpoint_url]
  access_key:
    description:
      - AWS access key id. When unset, boto3's credential chain is used (environment, profile,
        instance or task role), which is what AWX credentials and ECS tasks provide.
    type: str
    aliases: [aws_access_key_id, aws_access_key]
  secret_key:
    description:
      - AWS secret access key. Never logged.
    type: str
    aliases: [aws_secret_access_key, aws_secret_key]
  session_token:
    description:
      - AWS session token for temporary credentials. Never logged.
    type: str
    aliases: [aws_session_token]
  validate_certs:
    description:
      - Verify TLS certificates of the endpoint.
    type: bool
    default: true
  aws_max_attempts:
    description:
      - How many times one API call is attempted when AWS throttles it or answers with a transient
        server error. Retries back off exponentially with full jitter.
    type: int
    default: 8
requirements:
  - boto3 >= 1.35.0
  - botocore >= 1.35.0
notes:
  - All AWS options of this collection can be set at once with C(module_defaults) for the action
    group C(group/signalcraft.ops.aws).
"""
