"""``python -m tests.sandbox up|down|status [--dir .sandbox]`` (what `make sandbox-up/down` run)."""

import argparse
import json
import sys

from tests.sandbox import launcher


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.sandbox", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--dir", default=".sandbox", help="where state.json, env.sh, kubeconfigs and logs go")
    args = parser.parse_args(argv)
    if args.action == "up":
        launcher.up(args.dir)
    elif args.action == "down":
        launcher.down(args.dir)
    else:
        report = launcher.status(args.dir)
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0 if report["healthy"] else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
