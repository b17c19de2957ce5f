# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """Options of every pipeline module (module_utils/runbooks/pipeline/config.py argument_spec); RETRY: the
    in-place retry delay of the modules that run steps (config.py retry_argument_spec)."""

    DOCUMENTATION = r"""
options:
  manifest_root:
    description:
      - Where run manifests live - an absolute local directory or C(s3://<bucket>/<prefix>).
      - Each step of a partition's run has C(<manifest_root>/<asset>/<partition_key>=<value>/run=<run_id>/manifest.json)
        (schema C(schemas/pipeline_manifest.v1.json)), validated on write and on read.
    type: str
    required: true
  data_root:
    description:
      - Absolute local directory under which C(local) steps write their outputs, at
        C(<data_root>/<asset>/<partition_key>=<value>/run=<run_id>/) (the step gets it as E(PIPELINE_OUTPUT_DIR)).
      - Required when a step uses the C(local) executor. Step logs go to C(<data_root>/_logs/).
    type: str
  partition_key:
    description:
      - The partition's name in manifest paths (the runbook's C(game_date)); partitions are dates C(YYYY-MM-DD).
    type: str
    default: game_date
  steps:
    description:
      - The DAG (the inventory's C(pipeline_steps)) - a list of steps, each with C(asset) (a lowercase name),
        C(depends_on) (assets), C(executor) (C(local), C(ecs) or C(prefect)), C(timeout_s)
        (default 3600), C(retries) (in-place retries of network failures, default 2) and C(env) (extra
        environment).
      - C(local) steps take C(command), an argv list run without a shell (and optional C(cwd)); C(ecs) steps take
        C(task_definition) (family, family:revision or ARN) and optional C(container_name); C(prefect) steps take
        C(deployment) (C(<flow name>/<deployment name>)) and optional C(parameters) (flow parameters; the pipeline
        adds C(partition), C(run_id) and C(run_as_of_ts) to every flow run, and C(models) to the runs of a step with
        C(models)).
      - A cycle, an unknown dependency, a duplicate asset or a missing command is refused (C(steps_invalid)) before anything runs.
    type: list
    elements: dict
    required: true
  ecs_cluster:
    description:
      - The ECS cluster C(ecs) steps run on (the inventory's C(jobintel_ecs_cluster)).
    type: str
    default: ""
  ecs_subnets:
    description:
      - awsvpc subnets of C(ecs) steps.
    type: list
    elements: str
    default: []
  ecs_security_groups:
    description:
      - awsvpc security groups of C(ecs) steps.
    type: list
    elements: str
    default: []
  ecs_assign_public_ip:
    description:
      - Give C(ecs) steps' tasks a public IP.
    type: bool
    default: false
  ecs_launch_type:
    description:
      - Launch type of C(ecs) steps' tasks.
    type: str
    choices: [FARGATE, EC2, EXTERNAL]
    default: FARGATE
  prefect_api_url:
    description:
      - Prefect's REST API (what C(PREFECT_API_URL) holds) - C(http://<host>:4200/api) for a self-hosted server,
        C(https://api.prefect.cloud/api/accounts/<id>/workspaces/<id>) for Prefect Cloud. Required when a step uses
        the C(prefect) executor; when set, M(signalcraft.ops.pipeline_status) also reads the partition's flow runs.
      - The collection talks to the REST API directly; it does not need the prefect Python package.
    type: str
    default: ""
  prefect_api_key:
    description:
      - API key, sent as a Bearer token in the Authorization header (Prefect Cloud, or a server behind an authenticating proxy).
        Never written to receipts or logs. Default the controller's E(PREFECT_API_KEY).
    type: str
  prefect_auth_string:
    description:
      - The C(user:password) of a self-hosted Prefect server started with E(PREFECT_SERVER_API_AUTH_STRING), sent as the
        Authorization header C(Basic base64(user:password)), as Prefect's own client sends E(PREFECT_API_AUTH_STRING). It
        wins over O(prefect_api_key). Such a server answers every call but its health check with 401 without it, so a
        missing or wrong one fails with C(prefect_unauthorized) before any flow run is created.
      - Never written to receipts or logs. Default the controller's E(PREFECT_API_AUTH_STRING).
    type: str
  prefect_validate_certs:
    description:
      - Verify the TLS certificate of an C(https://) O(prefect_api_url). A certificate that cannot be verified fails at once
        with C(prefect_tls_failed) (not retried). Turn off only for a test server.
    type: bool
    default: true
  prefect_ca_path:
    description:
      - A CA bundle (PEM file) to verify the Prefect API's certificate with (a private CA, e.g. of a TLS proxy in front of
        the server), instead of the system's. Default the controller's E(PREFECT_API_SSL_CERT_FILE).
    type: path
  prefect_timeout_s:
    description:
      - Timeout of one Prefect API call; connection errors, timeouts and 5xx answers are retried three times with
        exponential backoff and jitter before C(prefect_unreachable).
    type: float
    default: 10.0
  prefect_unreachable_grace_s:
    description:
      - While a step's flow run is followed, how long Prefect may stay unreachable (each poll already retried) before the
        step fails with C(prefect_unreachable). Such a step is never retried in place, because its flow run may still be
        running; the flow run goes on in Prefect, and a resumed backfill (C(resume=true) of M(signalcraft.ops.pipeline_backfill))
        or M(signalcraft.ops.pipeline_rerun) follows it - found by its idempotency key - instead of starting a second one.
    type: float
    default: 120.0
  pointer_root:
    description:
      - Where the model selectors C(<model>_current_run.json) live - an absolute local directory or
        C(s3://<bucket>/<prefix>) (the inventory's C(signalcraft_pipeline_pointer_root)).
      - A step with C(models) (a list of model names) gets, when its partition's run starts, the run each selector
        names in E(PIPELINE_MODEL_RUN_ID), E(PIPELINE_MODEL_ARTIFACT_DIR) and E(PIPELINE_MODELS) (a C(prefect) step - in
        the flow parameter C(models), model -> C(run_id) and C(artifact_uri)), and its manifest records them under
        C(models). Required when a step has C(models).
    type: str
    default: ""
"""

    RETRY = r"""
options:
  retry_delay_s:
    description:
      - First delay before an in-place retry of a network failure (doubles each attempt, with jitter).
    type: float
    default: 2.0
"""
