"""``python -m tests.sandbox.aws_layer --host 127.0.0.1 --port 0 --account-id 111122223333 --ready-file PATH``."""

import argparse
import os
import sys


def parse_args(argv=None):
    """Command line of the sandbox AWS endpoint."""
    parser = argparse.ArgumentParser(prog="python -m tests.sandbox.aws_layer", description="moto server behind the sandbox layer")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (keep it on loopback)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (see --ready-file)")
    parser.add_argument("--account-id", default="111122223333", help="the account moto answers as")
    parser.add_argument("--region", default="us-east-1", help="default region (AWS_DEFAULT_REGION for moto)")
    parser.add_argument("--ready-file", help='written once listening: {"pid", "port", "url"}')
    parser.add_argument("--request-log-size", type=int, default=5000, help="requests kept for /_sandbox/requests")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def main(argv=None):
    """Set moto's account before moto is imported, then serve."""
    args = parse_args(argv)
    os.environ["MOTO_ACCOUNT_ID"] = args.account_id
    os.environ.setdefault("AWS_DEFAULT_REGION", args.region)
    from .server import serve  # pylint: disable=import-outside-toplevel  # moto reads MOTO_ACCOUNT_ID at import

    return serve(args.host, args.port, args.account_id, ready_file=args.ready_file,
                 request_log_size=args.request_log_size, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
