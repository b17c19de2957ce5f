"""``python -m tests.sandbox.seed --endpoint-url URL --region us-east-1 --account-id 111122223333 --out PATH.json``."""

import argparse
import sys

from .seeder import seed, write_output


def parse_args(argv=None):
    """Command line of the seed."""
    parser = argparse.ArgumentParser(prog="python -m tests.sandbox.seed", description="seed the sandbox AWS account (idempotent)")
    parser.add_argument("--endpoint-url", required=True, help="URL of the sandbox AWS endpoint")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--account-id", default="111122223333", help="must match the endpoint's --account-id")
    parser.add_argument("--out", required=True, help="where to write the JSON description of what was seeded")
    parser.add_argument("--prefix", default="jobintel", help="S3 key prefix of the jobintel data")
    return parser.parse_args(argv)


def main(argv=None):
    """Seed, then write the output document."""
    args = parse_args(argv)
    write_output(args.out, seed(args.endpoint_url, args.region, args.account_id, args.prefix.strip("/")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
