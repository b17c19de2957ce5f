"""The Step Functions ECS integration of moto 5.2.5 cannot take the parameters real Step Functions documents.

Real Step Functions: an optimized integration's parameters are PascalCase (``Cluster``, ``TaskDefinition``,
``Overrides.ContainerOverrides[].Command``) and its output is PascalCase too (``TaskArn``, ``Containers[].ExitCode``),
whatever the casing of the service's own API (connect-ecs.html, "Parameters in Step Functions are expressed in
PascalCase"). moto 5.2.5 ships the converters (``_to_boto_request``/``_from_boto_response``) but its
``_normalise_parameters``/``_normalise_response`` are empty stubs, so ``ecs:runTask.sync`` hands ``Cluster=...`` to
boto3 unchanged and fails with ``States.Runtime`` (KeyError 'Cluster'). ``install()`` fills the two stubs in for the
ECS integration only, from the ECS service model, as LocalStack (where the parser comes from) does; timestamps in
the output become epoch milliseconds, as in real Step Functions' ECS output (JSON has no datetime; moto would fail the
next state that serialises them with ``States.Runtime``).
"""

import datetime

import botocore.session
from botocore import xform_name

_MODEL = {}


def _operation(service, snake_action):
    model = _MODEL.get(service)
    if model is None:
        model = _MODEL[service] = botocore.session.get_session().get_service_model(service)
    for name in model.operation_names:
        if xform_name(name) == snake_action:
            return model.operation_model(name)
    return None


def _epoch_millis(document):
    items = document.items() if isinstance(document, dict) else enumerate(document) if isinstance(document, list) else ()
    for key, value in list(items):
        if isinstance(value, datetime.datetime):
            document[key] = int(value.timestamp() * 1000)
        else:
            _epoch_millis(value)


def install():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs import (  # pylint: disable=import-outside-toplevel
        StateTaskServiceEcs,
    )

    if getattr(StateTaskServiceEcs, "_sandbox_normalised", False):
        return

    def normalise_parameters(self, parameters, boto_service_name=None, service_action_name=None):
        operation = _operation(self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name))
        if operation is not None and operation.input_shape is not None:
            self._to_boto_request(parameters, operation.input_shape)

    def normalise_response(self, response, boto_service_name=None, service_action_name=None):
        operation = _operation(self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name))
        if operation is not None and operation.output_shape is not None:
            self._from_boto_response(response, operation.output_shape)
        _epoch_millis(response)

    StateTaskServiceEcs._normalise_parameters = normalise_parameters
    StateTaskServiceEcs._normalise_response = normalise_response
    StateTaskServiceEcs._sandbox_normalised = True
