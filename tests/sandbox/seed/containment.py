"""SSM/SQS part of the seed: what the containment toggles act on (runbook 003, docs/db-ops.md).

* ``/jobintel/local/ingestion/backpressure`` -- the ingestion gateway's backpressure flag, ``off``;
* ``/jobintel/local/detector/DETECTOR_MODEL_VERSION`` -- the detector model the workers run, with a
  history of two versions (the previous model, then the current one), so a pin has something to pin;
* the queue ``jobintel-ingestion`` with a backlog: messages available now and a few delayed;
* the task definition family ``jobintel-workers``: the daily definition plus the secret
  ``DETECTOR_MODEL_VERSION`` taken from that parameter (ECS resolves it when a task starts), which the
  worker service runs.

Idempotent like the rest of the seed: a parameter or queue that exists is left alone (no new version,
no new messages).
"""

import copy

from botocore.exceptions import ClientError

BACKPRESSURE_PARAMETER = "/jobintel/local/ingestion/backpressure"
BACKPRESSURE_VALUE = "off"
MODEL_PARAMETER = "/jobintel/local/detector/DETECTOR_MODEL_VERSION"
# Oldest first: the last one is current.
MODEL_HISTORY = ("detector-2026.01.3", "detector-2026.02.0")
QUEUE = "jobintel-ingestion"
QUEUE_MESSAGES = 9
QUEUE_DELAYED = 3
WORKERS_FAMILY = "jobintel-workers"
MODEL_ENV = "DETECTOR_MODEL_VERSION"


def _error_code(exc):
    return exc.response.get("Error", {}).get("Code", "")


def _exists(ssm, name):
    try:
        ssm.get_parameter(Name=name)
        return True
    except ClientError as exc:
        if _error_code(exc) != "ParameterNotFound":
            raise
        return False


def ensure_parameter(ssm, name, values, description):
    """A String parameter whose versions hold ``values`` (oldest first), unless it exists."""
    if _exists(ssm, name):
        return name
    for index, value in enumerate(values):
        kwargs = dict(Name=name, Value=value, Type="String")
        if index:
            kwargs["Overwrite"] = True
        else:
            kwargs["Description"] = description
        ssm.put_parameter(**kwargs)
    return name


def ensure_parameters(ssm):
    """``{"backpressure": name, "model_version": name}``."""
    return {
        "backpressure": ensure_parameter(ssm, BACKPRESSURE_PARAMETER, [BACKPRESSURE_VALUE],
                                         "Ingestion gateway backpressure flag (on/off), read by the gateway"),
        "model_version": ensure_parameter(ssm, MODEL_PARAMETER, list(MODEL_HISTORY),
                                          "Detector model version the workers run (DETECTOR_MODEL_VERSION)"),
    }


def ensure_queue(sqs):
    """The ingestion queue with a backlog (sent only when the queue is created); returns its name."""
    try:
        sqs.get_queue_url(QueueName=QUEUE)
        return QUEUE
    except ClientError as exc:
        if _error_code(exc) not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
    url = sqs.create_queue(QueueName=QUEUE, Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    for index in range(QUEUE_MESSAGES):
        sqs.send_message(QueueUrl=url, MessageBody='{"recording": "rec-%04d"}' % index)
    for index in range(QUEUE_DELAYED):
        sqs.send_message(QueueUrl=url, MessageBody='{"recording": "late-%04d"}' % index, DelaySeconds=900)
    return QUEUE


def workers_task_definition_request(daily_request, region, account_id):
    """The daily definition as family ``jobintel-workers``, its container also taking DETECTOR_MODEL_VERSION from SSM."""
    request = copy.deepcopy(daily_request)
    request["family"] = WORKERS_FAMILY
    arn = "arn:aws:ssm:%s:%s:parameter/%s" % (region, account_id, MODEL_PARAMETER.lstrip("/"))
    container = request["containerDefinitions"][0]
    container["secrets"] = list(container.get("secrets") or []) + [{"name": MODEL_ENV, "valueFrom": arn}]
    return request
