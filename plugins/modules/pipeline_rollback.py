#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pipeline_rollback
version_added: "0.1.0"
author:
  - signalcraft maintainers (@signalcraft)
short_description: Roll a model selector back - restore the previous contents of its <model>_current_run.json exactly
description:
  - The runbook's rollback of a model promotion - the selector C(<pointer_root>/<model>_current_run.json) gets back the
    contents it had before the promotion of O(run_id), byte for byte (the first entry of its C(history), with the
    older history under it), written by compare-and-swap (S3 If-Match; a local file by temp file, fsync and rename
    after re-reading and comparing it). The rollback is recorded in C(<pointer_root>/_history/<model>/) (who, when,
    from which run to which) and in the receipt, not in the selector.
  - O(run_id) names the run to take out, so a second run changes nothing - when the selector no longer names it and
    the change journal records its rollback, the result is C(changed=false).
  - Refused before any write - a selector that does not exist or has no earlier contents (C(rollback_unavailable)),
    a run the selector does not name and that was never rolled back (C(selector_not_current)), a selector that
    moved meanwhile (C(pointer_conflict)).
  - Then rerun today's partition so the daily outputs use the restored model (see docs/pipeline.md, "Promotion").
  - Check mode shows the selector before and after as the diff and writes nothing.
options:
  pointer_root:
    description:
      - Where the model selectors live - an absolute local directory or C(s3://<bucket>/<prefix>) (the inventory's
        C(signalcraft_pipeline_pointer_root)).
    type: str
    required: true
  model:
    description:
      - The model whose selector to roll back (C(minutes) for C(minutes_current_run.json)).
    type: str
    required: true
  run_id:
    description:
      - The model run to take out - the run the selector names now.
    type: str
    required: true
  rolled_back_by:
    description:
      - Who rolls back, recorded in the change journal. Default the controller's user.
    type: str
  note:
    description:
      - A free-text note recorded with the rollback (the incident, the ticket).
    type: str
attributes:
  check_mode:
    support: full
    description: Says which contents would be restored; writes nothing.
  diff_mode:
    support: full
    description: The selector before and after.
seealso:
  - module: signalcraft.ops.pipeline_promote
extends_documentation_fragment: [signalcraft.ops.aws, signalcraft.ops.receipt]
"""

EXAMPLES = r"""
- name: Take the minutes model run m-2026-01-b out of production (restore what was current before it)
  signalcraft.ops.pipeline_rollback:
    pointer_root: /srv/projections/config
    model: minutes
    run_id: m-2026-01-b
    note: INC-4711 minutes projections off by 10%

- name: The same for selectors in S3
  signalcraft.ops.pipeline_rollback:
    pointer_root: s3://pipeline-bucket/config
    model: minutes
    run_id: m-2026-01-b
"""

RETURN = r"""
status:
  description: C(ok), C(planned) (check mode) or C(fail) (C(rollback_unavailable), C(selector_not_current), C(pointer_conflict),
    C(pipeline_pointer_invalid)).
  returned: always
  type: str
outputs:
  description: What was rolled back.
  returned: always
  type: dict
  contains:
    model:
      description: The model.
      returned: always
      type: str
    run_id:
      description: The run taken out.
      returned: always
      type: str
    selector:
      description: The selector's path or URI.
      returned: always
      type: str
    current_run_id:
      description: The run the selector names after the rollback (or would, in check mode).
      returned: when the selector exists
      type: str
    action:
      description: C(rolled_back), C(none) (already rolled back) or C(planned) (check mode).
      returned: when the selector exists
      type: str
    journal:
      description: The change record written for this move.
      returned: when the selector moved
      type: str
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.base import OpsModule
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import manifest, pointer_store, promotion
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import AwsConnection

ARGUMENT_SPEC = dict(
    pointer_root=dict(type="str", required=True),
    model=dict(type="str", required=True),
    run_id=dict(type="str", required=True),
    rolled_back_by=dict(type="str"),
    note=dict(type="str"),
)


def run(ops):
    params = ops.params
    model = promotion.require_model(params["model"])
    run_id = manifest.require_name(params["run_id"], manifest.RUN_ID_PATTERN, "run_id", "run_id")
    selectors = pointer_store.open_store(params["pointer_root"], lambda: ops.client("s3"), "pipeline_pointer_root")
    rel = promotion.selector_path(model)
    outputs = {"model": model, "run_id": run_id, "selector": selectors.uri(rel)}
    line = [("model", model), ("run_id", run_id)]
    snapshot = selectors.read(rel)
    if snapshot is None:
        raise OpsError("rollback_unavailable", "%s does not exist: model %s was never promoted here, so there is nothing to roll back." % (
            outputs["selector"], model), details=dict(outputs, line=line))
    before = snapshot["document"]
    outputs["current_run_id"] = before.get("run_id")
    if before.get("run_id") != run_id:
        done = [e for e in promotion.journal(selectors, model) if e.get("action") == "rollback" and (e.get("before") or {}).get("run_id") == run_id]
        if done:
            outputs.update(action="none", rolled_back_at=done[-1].get("at"), rolled_back_by=done[-1].get("by"))
            return dict(changed=False, outputs=outputs, line=line + [("current_run_id", before.get("run_id")), ("selector", "unchanged")])
        raise OpsError("selector_not_current", "%s names run %s, not %s, and no rollback of %s is recorded; pass -e run_id=%s to roll back "
                                               "the current run." % (outputs["selector"], before.get("run_id"), run_id, run_id, before.get("run_id")),
                       details=dict(outputs, line=line + [("current_run_id", before.get("run_id"))]))
    after = promotion.rolled_back_document(before)
    if after is None:
        raise OpsError("rollback_unavailable", "%s has no earlier contents: run %s is the first promotion recorded there; promote the run "
                                               "you want instead (pipeline_promote.yml -e model=%s -e run_id=<run>)." % (
                                                   outputs["selector"], run_id, model), details=dict(outputs, line=line))
    outputs["current_run_id"] = after.get("run_id")
    line.append(("restored_run_id", after.get("run_id") or "unknown"))
    diff = promotion.diff_of(outputs["selector"], before, after)
    if ops.check_mode:
        outputs["action"] = "planned"
        return dict(changed=True, status="planned", outputs=outputs, line=line + [("selector", "would_move")], diff=diff)
    moment = receipts.utc_now()
    by = promotion.who(params.get("rolled_back_by"))
    etag = promotion.commit(selectors, model, after, snapshot["etag"])
    record = promotion.change_record(model, "rollback", outputs["selector"], before, after, snapshot["etag"], etag,
                                     receipts.format_timestamp(moment), by, ops.execution_id, params.get("note"))
    outputs.update(action="rolled_back", journal=promotion.record_change(selectors, model, record, moment))
    return dict(changed=True, outputs=outputs, line=line + [("selector", "moved")], diff=diff)


def main():
    OpsModule(ARGUMENT_SPEC, operation="pipeline", phase="rollback", status_key="pipeline_rollback", connections=[AwsConnection]).run(run)


if __name__ == "__main__":
    main()
