"""playbooks/demo.yml (what `make demo` runs) works on the local inventory with inventory defaults only."""

import json
import os


def test_demo_runs_and_writes_its_receipts(sandbox, run_playbook, tmp_path):
    root = str(tmp_path / "receipts")
    result = run_playbook("demo.yml", {"signalcraft_receipt_root": root})
    assert result.rc == 0, result.stdout
    [execution_id] = os.listdir(root)
    with open(os.path.join(root, execution_id, "verify.json")) as handle:
        receipt = json.load(handle)
    assert receipt["operation"] == "preflight" and receipt["status"] == "success"
    s3 = sandbox.boto3_client("s3")
    copy = s3.get_object(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Key="receipts/%s/verify.json" % execution_id)
    assert json.loads(copy["Body"].read()) == receipt
