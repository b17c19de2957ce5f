# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SQS: find a queue by name, read its backlog, purge it.

The backlog is what ``GetQueueAttributes`` reports (Amazon SQS API reference), all approximate:

- ``ApproximateNumberOfMessages``: available to receive;
- ``ApproximateNumberOfMessagesNotVisible``: in flight (received, not yet deleted, visibility timeout
  running);
- ``ApproximateNumberOfMessagesDelayed``: sent with a delay that has not passed yet.

``PurgeQueue`` deletes the queue's messages, in flight ones included, and cannot be undone; deletion
takes up to 60 seconds and a second purge within that minute fails with ``PurgeQueueInProgress``.
botocore speaks SQS's JSON protocol with its query-compatible error codes, so a missing queue is
``AWS.SimpleQueueService.NonExistentQueue`` (``QueueDoesNotExist`` in the JSON model): both are handled.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import refuse_placeholder
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import error_code

BACKLOG_ATTRIBUTES = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")
# GetQueueAttributes name -> the name in outputs and status lines.
BACKLOG_FIELDS = (("ApproximateNumberOfMessages", "visible"), ("ApproximateNumberOfMessagesNotVisible", "in_flight"),
                  ("ApproximateNumberOfMessagesDelayed", "delayed"))
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_NOT_FOUND = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
_PURGE_IN_PROGRESS = ("AWS.SimpleQueueService.PurgeQueueInProgress", "PurgeQueueInProgress")


def validate_name(name, variable):
    """A queue name: 1-80 of a-zA-Z0-9_- (a FIFO queue's ends in ``.fifo``, counted in the 80)."""
    name = name or ""
    refuse_placeholder(name, variable, "inventories/<env>/group_vars/all/db_ops.yml")
    base = name[:-len(".fifo")] if name.endswith(".fifo") else name
    if not _NAME.match(base) or len(name) > 80:
        raise OpsError("invalid_input", "%s %r is not an SQS queue name (1-80 of a-zA-Z0-9_-, a FIFO queue's ending in .fifo)."
                       % (variable, name))
    return name


def queue_url(sqs, name, variable="the queue"):
    """GetQueueUrl; ``queue_not_found`` when the queue is not in this account and region."""
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except Exception as exc:  # botocore ClientError; its class lives on the client
        if error_code(exc) in _NOT_FOUND:
            raise OpsError("queue_not_found", "SQS queue %r does not exist in this account and region; fix %s "
                           "(aws sqs list-queues)." % (name, variable))
        raise


def backlog(sqs, url):
    """``{"visible", "in_flight", "delayed", "total", "queue_arn"}`` from GetQueueAttributes."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(BACKLOG_ATTRIBUTES) + ["QueueArn"])["Attributes"]
    counts = dict((field, int(attributes.get(name, 0))) for name, field in BACKLOG_FIELDS)
    counts["total"] = sum(counts[field] for _name, field in BACKLOG_FIELDS)
    counts["queue_arn"] = attributes.get("QueueArn")
    return counts


def purge(sqs, url, name):
    """PurgeQueue; ``purge_in_progress`` when the queue was purged in the last 60 seconds."""
    try:
        sqs.purge_queue(QueueUrl=url)
    except Exception as exc:  # botocore ClientError
        if error_code(exc) in _PURGE_IN_PROGRESS:
            raise OpsError("purge_in_progress", "SQS queue %r was purged in the last 60 seconds and is still being purged; "
                           "wait a minute and read the backlog again (containment_queue_action=report)." % name)
        raise
