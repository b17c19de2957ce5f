# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options every pipeline module shares and the one way to build a ``Pipeline`` from them.

``validate(params)`` checks everything that needs no network (steps, DAG, manifest root, ids) and
returns the steps in DAG order; ``open_pipeline(ops, steps)`` then builds the store and executors
(clients are built only here, after validation, and only for an s3:// root, ECS steps or Prefect).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.module_utils.basic import env_fallback

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import engine, executors, manifest, plan, pointer_store, promotion
from ansible_collections.signalcraft.ops.plugins.module_utils.services import prefect as prefect_service


def argument_spec():
    """Options of every pipeline module (documented by each module)."""
    return dict(
        manifest_root=dict(type="str", required=True),
        data_root=dict(type="str"),
        partition_key=dict(type="str", default="game_date", no_log=False),
        steps=dict(type="list", elements="dict", required=True),
        ecs_cluster=dict(type="str", default=""),
        ecs_subnets=dict(type="list", elements="str", default=[]),
        ecs_security_groups=dict(type="list", elements="str", default=[]),
        ecs_assign_public_ip=dict(type="bool", default=False),
        ecs_launch_type=dict(type="str", choices=["FARGATE", "EC2", "EXTERNAL"], default="FARGATE"),
        prefect_api_url=dict(type="str", default=""),
        prefect_api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["PREFECT_API_KEY"])),
        prefect_auth_string=dict(type="str", no_log=True, fallback=(env_fallback, ["PREFECT_API_AUTH_STRING"])),
        prefect_validate_certs=dict(type="bool", default=True),
        prefect_ca_path=dict(type="path", fallback=(env_fallback, ["PREFECT_API_SSL_CERT_FILE"])),
        prefect_timeout_s=dict(type="float", default=prefect_service.DEFAULT_TIMEOUT_S),
        prefect_unreachable_grace_s=dict(type="float", default=executors.PrefectExecutor.unreachable_grace_s),
        pointer_root=dict(type="str", default=""),
    )


def retry_argument_spec():
    """The in-place retry delay of the modules that run steps (documented by doc fragment signalcraft.ops.pipeline.retry)."""
    return dict(retry_delay_s=dict(type="float", default=2.0))


def _configured_executors(params):
    return {
        "local": executors.LocalExecutor(),
        "ecs": executors.EcsExecutor(None, params.get("ecs_cluster"), params.get("ecs_subnets"), params.get("ecs_security_groups"),
                                     params.get("ecs_assign_public_ip"), params.get("ecs_launch_type") or "FARGATE"),
        "prefect": executors.PrefectExecutor(api_url=params.get("prefect_api_url") or ""),
    }


def prefect_client(params, ops=None):
    """The Prefect API client of ``prefect_api_url`` (None when Prefect is not configured). With ``ops``,
    the Basic token derived from the auth string is registered as a secret too (the options are no_log)."""
    if not (params.get("prefect_api_url") or "").strip():
        return None
    auth_string = params.get("prefect_auth_string") or None
    if ops is not None and auth_string:
        ops.add_secret(auth_string, prefect_service.basic_token(auth_string))
    return prefect_service.PrefectClient(params["prefect_api_url"], params.get("prefect_api_key"),
                                         timeout=params.get("prefect_timeout_s") or prefect_service.DEFAULT_TIMEOUT_S,
                                         validate_certs=params.get("prefect_validate_certs", True),
                                         ca_path=params.get("prefect_ca_path") or None, auth_string=auth_string)


def validate(params):
    """Steps in DAG order, after every offline check (steps_invalid, manifest_root_invalid, invalid_input)."""
    manifest.require_name(params["partition_key"], manifest.PARTITION_KEY_PATTERN, "partition key", "pipeline_partition_key")
    manifest.parse_root(params["manifest_root"])
    data_root = params.get("data_root")
    if data_root and not os.path.isabs(os.path.expanduser(data_root)):
        raise OpsError("invalid_input", "pipeline_data_root %r must be an absolute directory; set signalcraft_pipeline_data_root in the "
                                        "inventory (or -e pipeline_data_root)." % data_root)
    if (params.get("prefect_api_url") or "").strip():
        try:
            prefect_service.normalise_api_url(params["prefect_api_url"])
        except ValueError as exc:
            raise OpsError("invalid_input", "%s; fix signalcraft_pipeline_prefect_api_url in the inventory (or -e pipeline_prefect_api_url)." % exc)
        if params.get("prefect_timeout_s") is not None and params["prefect_timeout_s"] <= 0:
            raise OpsError("invalid_input", "prefect_timeout_s must be > 0; fix -e pipeline_prefect_timeout_s.")
        if params.get("prefect_unreachable_grace_s") is not None and params["prefect_unreachable_grace_s"] < 0:
            raise OpsError("invalid_input", "prefect_unreachable_grace_s must be >= 0; fix -e pipeline_prefect_unreachable_grace_s.")
        ca_path = params.get("prefect_ca_path")
        if ca_path and not (os.path.isfile(ca_path) and os.access(ca_path, os.R_OK)):
            raise OpsError("invalid_input", "the Prefect CA bundle %r is not a readable file; fix signalcraft_pipeline_prefect_ca_path in the "
                                            "inventory (or -e pipeline_prefect_ca_path, or PREFECT_API_SSL_CERT_FILE)." % ca_path)
    steps = plan.normalise_steps(params["steps"], _configured_executors(params))
    if any(s["executor"] == "local" for s in steps) and not data_root:
        raise OpsError("invalid_input", "local steps need a data directory: set signalcraft_pipeline_data_root in the inventory "
                                        "(or -e pipeline_data_root).")
    if (params.get("pointer_root") or "").strip():
        pointer_store.parse_root(params["pointer_root"], "pipeline_pointer_root")
    return steps


def smoke_step(params, steps):
    """The promotion's smoke scoring step and its expected output (promotion.normalise_smoke), validated
    against the executors this configuration has."""
    return promotion.normalise_smoke(params.get("smoke"), steps, _configured_executors(params))


def open_pipeline(ops, steps, backfill_id=None, retry_delay_s=1.0, run_steps=True):
    """The Pipeline of validated ``steps``: the manifest store and (``run_steps``) one executor per kind used."""
    params = ops.params
    store = manifest.open_store(params["manifest_root"], lambda: ops.client("s3"))
    data_root = os.path.abspath(os.path.expanduser(params["data_root"])) if params.get("data_root") else None
    kinds = set(s["executor"] for s in steps) if run_steps else set()
    by_kind = {}
    if "local" in kinds:
        by_kind["local"] = executors.LocalExecutor(log_dir=os.path.join(data_root, "_logs"))
    if "ecs" in kinds:
        by_kind["ecs"] = executors.EcsExecutor(ops.client("ecs"), params["ecs_cluster"], params["ecs_subnets"], params["ecs_security_groups"],
                                               params["ecs_assign_public_ip"], params["ecs_launch_type"])
    if "prefect" in kinds:
        by_kind["prefect"] = executors.PrefectExecutor(prefect_client(params, ops), unreachable_grace_s=params.get("prefect_unreachable_grace_s"))
        # Every deployment is looked up before anything runs: a missing one (or an unreachable server) refuses the run.
        by_kind["prefect"].prepare(steps)
    # The "current" pointers live next to the manifests; the model selectors under the pointer root.
    pointers = pointer_store.open_store(params["manifest_root"], lambda: ops.client("s3"), "pipeline_manifest_root")
    selectors = None
    if (params.get("pointer_root") or "").strip():
        selectors = pointer_store.open_store(params["pointer_root"], lambda: ops.client("s3"), "pipeline_pointer_root")
    elif run_steps and any(s.get("models") for s in steps):
        raise OpsError("steps_invalid", "step(s) %s use models, but no pointer root holds their <model>_current_run.json selectors; set "
                                        "signalcraft_pipeline_pointer_root in the inventory (or -e pipeline_pointer_root)." % ", ".join(
                                            s["asset"] for s in steps if s.get("models")))
    return engine.Pipeline(store, steps, params["partition_key"], by_kind, data_root=data_root, execution_id=ops.execution_id,
                           backfill_id=backfill_id, retry_delay_s=retry_delay_s, pointers=pointers, selectors=selectors)
