"""Benchmark: our publish (module_utils.run_publish) against ``aws s3 sync`` on the same sandbox.

Not part of the pytest suite, and nothing here asserts a time. It starts its own AWS sandbox endpoint
(tests/sandbox/aws_layer, moto behind our WSGI layer) in a temp dir, generates a run directory of
mixed file sizes, and for each repetition publishes it to a fresh prefix twice (cold, then the
unchanged rerun) with our code and with ``.venv-awscli/bin/aws s3 sync`` (a subprocess of this
process, same endpoint, same credentials). It prints the medians and the ratios ours/aws.

Our publish does more than sync: it reads every object's SHA-256 back (HeadObject), copies the
outputs to latest/ and moves two pointers by compare-and-swap. ``--transfer-only`` times just the
upload + verify step (s3_transfer.plan/write/verify) for a like-for-like comparison.

    .venv/bin/python tests/benchmarks/bench_publish.py [--files 200] [--repeat 3] [--concurrency 16] [--transfer-only]
"""

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for entry in (REPO_ROOT, os.path.join(REPO_ROOT, "collections")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws  # noqa: E402
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import publish as run_publish  # noqa: E402
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_transfer  # noqa: E402
from tests.sandbox.aws_layer import jobintel  # noqa: E402
from tests.sandbox.aws_layer.process import SandboxEndpoint  # noqa: E402

AWS_CLI = os.path.join(REPO_ROOT, ".venv-awscli", "bin", "aws")
BUCKET = "bench-publish"
RUN_ID = "20260501T060000Z"


def generate_run(directory, count):
    """A finished run plus ``count - 6`` artifacts: mostly small, some medium, a few of a few MiB."""
    spec = jobintel.RunSpec(run_id=RUN_ID, started_at="2026-05-01T06:00:00Z", finished_at="2026-05-01T06:03:00Z", git_sha="b" * 40)
    files = dict(jobintel.run_files(spec))
    sizes = []
    for index in range(max(0, count - len(files))):
        if index % 20 == 0:
            sizes.append(1024 * 1024 + index * 4096)      # ~1-2 MiB
        elif index % 5 == 0:
            sizes.append(64 * 1024 + index * 512)         # ~64-160 KiB
        else:
            sizes.append(512 + (index * 733) % 8192)      # 0.5-8.5 KiB
    for index, size in enumerate(sizes):
        block = hashlib.sha256(b"%d" % index).digest()
        files["artifacts/bench/part-%03d.bin" % index] = (block * (size // 32 + 1))[:size]
    for rel, data in files.items():
        path = os.path.join(directory, *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
    return sum(len(d) for d in files.values()), len(files)


def ours(factory, run_dir, prefix, concurrency, transfer_only):
    s3 = factory.client("s3")
    if transfer_only:
        base = "%s/runs/%s/" % (prefix, RUN_ID)
        objects = s3_transfer.describe_local(run_dir, s3_transfer.local_files(run_dir), base, concurrency)
        plan = s3_transfer.plan(s3, BUCKET, objects, concurrency, listing_prefix=base)
        s3_transfer.write(s3, BUCKET, plan.write, concurrency)
        s3_transfer.verify(s3, BUCKET, objects, concurrency, known=dict((o.key, plan.existing[o.key]) for o in plan.skip))
        return len(plan.write)
    result = run_publish.Publisher(s3, {"publish_enabled": True, "bucket": BUCKET, "prefix": prefix, "run_dir": run_dir,
                                        "concurrency": concurrency}).run()
    return result["uploaded_count"]


def aws_sync(endpoint, run_dir, prefix):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    env.pop("AWS_PROFILE", None)
    command = [AWS_CLI, "--endpoint-url", endpoint, "s3", "sync", "--only-show-errors", run_dir,
               "s3://%s/%s/runs/%s/" % (BUCKET, prefix, RUN_ID)]
    subprocess.run(command, check=True, env=env)


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--transfer-only", action="store_true")
    args = parser.parse_args()
    if not os.path.exists(AWS_CLI):
        sys.exit("no AWS CLI at %s (make setup installs it)" % AWS_CLI)
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as workdir:
        run_dir = os.path.join(workdir, "run")
        total_bytes, count = generate_run(run_dir, args.files)
        os.makedirs(os.path.join(workdir, "sbx"))
        with SandboxEndpoint(os.path.join(workdir, "sbx")) as endpoint:
            factory = aws.AwsClientFactory(region="us-east-1", endpoint_url=endpoint.url, access_key="testing", secret_key="testing")
            factory.client("s3").create_bucket(Bucket=BUCKET)
            times = {"ours_cold": [], "ours_rerun": [], "aws_cold": [], "aws_rerun": []}
            for rep in range(args.repeat):
                # Alternate who goes first so neither always meets a warmer server.
                order = [("ours", "o%d" % rep), ("aws", "a%d" % rep)]
                for tool, prefix in (order if rep % 2 == 0 else order[::-1]):
                    if tool == "ours":
                        times["ours_cold"].append(timed(lambda: ours(factory, run_dir, prefix, args.concurrency, args.transfer_only)))
                        times["ours_rerun"].append(timed(lambda: ours(factory, run_dir, prefix, args.concurrency, args.transfer_only)))
                    else:
                        times["aws_cold"].append(timed(lambda: aws_sync(endpoint.url, run_dir, prefix)))
                        times["aws_rerun"].append(timed(lambda: aws_sync(endpoint.url, run_dir, prefix)))
    medians = dict((k, statistics.median(v)) for k, v in times.items())
    report = {
        "files": count, "bytes": total_bytes, "repeat": args.repeat, "concurrency": args.concurrency,
        "mode": "transfer-only" if args.transfer_only else "full publish (objects + verify + latest/ + pointers)",
        "median_seconds": dict((k, round(v, 3)) for k, v in medians.items()),
        "all_seconds": dict((k, [round(x, 3) for x in v]) for k, v in times.items()),
        "ratio_ours_over_aws": {"cold": round(medians["ours_cold"] / medians["aws_cold"], 2),
                                "rerun": round(medians["ours_rerun"] / medians["aws_rerun"], 2)},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
