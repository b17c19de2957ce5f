# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a DB ops playbook and exit with the runbook's documented exit code.

ansible-playbook only exits 0, 2, 4...; cron, CI and AWX-launched wrappers need the runbook's codes
(``ops_daily`` unhealthy is 2, a failed check is 1, ...). This wrapper runs the playbook with a
known execution id and receipt root, reads the receipt the run wrote, prints the status line(s)
on stdout exactly as the runbook documents them, and exits with the receipt's ``exit_code``:

    0   ok / healthy / not_configured / insufficient_data normalized or not strict
    1   status=fail reason=<token>
    2   ops_daily_watchdog unhealthy, or insufficient_data in a strict unscheduled run
    64  usage error (bad arguments to this wrapper)
    70  the run left no usable receipt (Ansible itself failed); the line says reason=no_receipt

ansible-playbook's own output goes to stderr (``--quiet`` drops it), so stdout holds only status lines.

Where the lines and the code come from: the collection's action plugin writes the module's receipt
(``<receipt root>/<execution id>/<phase>.json``). Its ``outputs.exit_code`` is the runbook's code;
its ``outputs.lines`` (``ops_daily``: metrics, second touch, watchdog, normalize) or else the status
line that starts its ``message`` is what is printed. ``ops_daily`` is the one phase whose exit code is
not simply ok/fail: not strict, ``unhealthy`` and ``insufficient_data`` are successful results with
that status (exit 0); strict, they fail the step with the watchdog's reason and ``exit_code`` 2, and
``outputs.lines`` still carry ``ops_daily_watchdog status=unhealthy|insufficient_data reason=<token>``;
a scheduled strict run normalizes ``insufficient_data`` to 0 (``ops_ci_normalize status=normalized``).
When the account guard refused the run, its receipt (``account_guard.json``) gives the line (exit 1).

    .venv/bin/python scripts/ops_db.py -i inventories/prod prod_config_contract --mode=prod_required
    .venv/bin/python scripts/ops_db.py db_bootstrap --dry-run
    .venv/bin/python scripts/ops_db.py db_bootstrap apply_migrations
    .venv/bin/python scripts/ops_db.py db_verify
    .venv/bin/python scripts/ops_db.py -i inventories/prod ops_daily --scheduled
    .venv/bin/python scripts/ops_db.py -i inventories/prod prod_verify
    .venv/bin/python scripts/ops_db.py db_migrations_integration
    .venv/bin/python scripts/ops_db.py db_verify -- -e '{"db_ops_required_tables": ["delivery_metrics"]}'   # extra ansible-playbook args

Global options (-i, --receipt-root, --execution-id, --quiet) go before the command. The Python that
runs this script should be the one Ansible is installed in: its ansible-playbook is used.
"""

from __future__ import absolute_import, division, print_function

import argparse
import datetime
import json
import os
import secrets
import subprocess
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXIT_USAGE = 64
EXIT_NO_RECEIPT = 70
# The receipt phase of the account/region guard the action plugin runs before the first upload.
GUARD_PHASE = "account_guard"

# command -> (playbook, receipt phase, status-line key)
COMMANDS = {
    "prod_config_contract": ("prod_config_contract.yml", "prod_config", "prod_config"),
    "db_bootstrap": ("db_bootstrap.yml", None, None),  # phase/key depend on --dry-run
    "db_verify": ("db_verify.yml", "db_verify", "db_verify"),
    "ops_daily": ("ops_daily.yml", "ops_daily", "ops_daily_watchdog"),
    "db_migrations_integration": ("db_migrations_integration.yml", "db_migrations_integration", "db_migrations_integration"),
    # Two steps on the phase engine: each step's lines, then the summary's; the first failing step's code.
    "prod_verify": ("prod_verify.yml", "prod_verify.summary", "prod_verify"),
}
# prod_verify's steps: (receipt phase, status-line key), in order.
PROD_VERIFY_STEPS = (("db_verify", "db_verify"), ("ops_daily", "ops_daily_watchdog"))


class UsageParser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write("%s: error: %s\n" % (self.prog, message))
        sys.exit(EXIT_USAGE)


def parse_args(argv):
    ansible_args = []
    if "--" in argv:
        index = argv.index("--")
        argv, ansible_args = argv[:index], argv[index + 1:]
    parser = UsageParser(prog="ops_db.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("-i", "--inventory", default=os.environ.get("SIGNALCRAFT_INVENTORY", os.path.join(REPO_ROOT, "inventories", "local")),
                        help="inventory directory (default: $SIGNALCRAFT_INVENTORY or inventories/local)")
    parser.add_argument("--receipt-root", default=os.environ.get("SIGNALCRAFT_RECEIPT_ROOT") or os.path.join(REPO_ROOT, "state", "receipts"),
                        help="where receipts are written and read (default: $SIGNALCRAFT_RECEIPT_ROOT or state/receipts)")
    parser.add_argument("--execution-id", help="receipt execution id (default: <command>-<UTC timestamp>-<random>)")
    parser.add_argument("--ansible-playbook", default=None, help="path of ansible-playbook (default: next to this Python, else PATH)")
    parser.add_argument("--quiet", action="store_true", help="drop ansible-playbook's output instead of sending it to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    config = sub.add_parser("prod_config_contract", help="prod config contract (names only)")
    config.add_argument("--mode", choices=["prod_required", "report"], help="default: the inventory's db_ops_config_mode")
    boot = sub.add_parser("db_bootstrap", help="validate (--dry-run) or apply migrations")
    group = boot.add_mutually_exclusive_group(required=True)
    group.add_argument("--dry-run", action="store_true", help="validate the migration plan (no database needed)")
    group.add_argument("action", nargs="?", choices=["apply_migrations"], help="apply pending migrations")
    sub.add_parser("db_verify", help="verify tables and pending migrations")
    daily = sub.add_parser("ops_daily", help="the ops_daily watchdog")
    daily.add_argument("--strict", action="store_true", default=None,
                       help="exit 2 on unhealthy and insufficient_data (default: the inventory's db_ops_daily_strict)")
    daily.add_argument("--no-strict", dest="strict", action="store_false", help="report only, whatever the inventory says")
    daily.add_argument("--scheduled", action="store_true", default=None, help="a scheduled run: normalize insufficient_data to 0")
    daily.add_argument("--as-of", help="last day of the window (YYYY-MM-DD)")
    verify = sub.add_parser("prod_verify", help="weekly / after-deploy verification: db_verify, then ops_daily strict")
    verify.add_argument("--as-of", help="last day of ops_daily's window (YYYY-MM-DD)")
    sub.add_parser("db_migrations_integration", help="CI gate: every migration applied to a throwaway database, then db_verify")
    args = parser.parse_args(argv)
    args.ansible_args = ansible_args
    return args


def plan_run(args):
    """``(playbook, phase, key, extravars)`` for the parsed command."""
    playbook, phase, key = COMMANDS[args.command]
    extravars = {}
    if args.command == "prod_config_contract" and args.mode:
        extravars["db_ops_config_mode"] = args.mode
    elif args.command == "db_bootstrap":
        mode = "dry_run" if args.dry_run else "apply_migrations"
        extravars["db_ops_bootstrap_mode"] = mode
        phase = key = "db_bootstrap_dry_run" if args.dry_run else "db_bootstrap"
    elif args.command == "prod_verify" and args.as_of:
        extravars["db_ops_daily_as_of"] = args.as_of
    elif args.command == "ops_daily":
        if args.strict is not None:
            extravars["db_ops_daily_strict"] = args.strict
        if args.scheduled:
            extravars["db_ops_daily_scheduled"] = True
        if args.as_of:
            extravars["db_ops_daily_as_of"] = args.as_of
    return playbook, phase, key, extravars


def status_line_of(receipt):
    """The status line that starts a receipt's ``message`` (``<line>`` or ``<line>: <sentence>``), or None."""
    message = receipt.get("message") or ""
    line = message.split(": ", 1)[0].strip()
    words = line.split()
    if len(words) < 2 or "=" in words[0] or not words[1].startswith("status=") or not all("=" in w for w in words[1:]):
        return None
    return line


def outcome_from_receipt(receipt, key, ansible_rc):
    """``(lines, exit_code)`` from a receipt.v1 document written by a db_ops phase."""
    outputs = receipt.get("outputs") or {}
    line = status_line_of(receipt)
    lines = outputs.get("lines") or ([line] if line else [])
    if "exit_code" in outputs and lines:
        code = int(outputs["exit_code"])
        if code == 0 and ansible_rc != 0:
            # The phase succeeded but the play failed afterwards (e.g. the receipt's S3 copy).
            return lines + ["ops_db status=fail reason=playbook_failed"], 1
        return lines, code
    # The module did not run to the end (bad input, a missing library, a crash): a failed receipt.
    if receipt.get("status") == "failed" and line:
        return [line], 1
    reason = receipt.get("failure_code") or "module_error"
    return ["%s status=fail reason=%s" % (key, reason)], 1


def prod_verify_outcome(directory, ansible_rc):
    """``(lines, exit_code)`` of prod_verify: each step that ran, then the summary line; the first failing step's code.

    None when no step left a receipt (the guard refused, or the play did not start)."""
    lines, code, ran = [], 0, False
    for phase, key in PROD_VERIFY_STEPS:
        try:
            with open(os.path.join(directory, "%s.json" % phase)) as handle:
                receipt = json.load(handle)
        except (OSError, ValueError):
            continue
        if receipt.get("status") == "skipped":
            continue
        ran = True
        step_lines, step_code = outcome_from_receipt(receipt, key, 0)
        lines += step_lines
        code = code or step_code
    if not ran:
        return None
    try:
        with open(os.path.join(directory, "prod_verify.summary.json")) as handle:
            summary = json.load(handle)  # runbook_summary.v1
    except (OSError, ValueError):
        summary = {}
    if summary.get("status"):
        fields = ["prod_verify", "status=%s" % summary["status"]]
        fields += ["reason=%s" % summary["reason"]] if summary.get("reason") else []
        fields += ["ran=%s" % ",".join(summary.get("ran") or [])]
        fields += ["failed_phase=%s" % summary["failed_phase"]] if summary.get("failed_phase") else []
        lines.append(" ".join(fields))
    if code == 0 and ansible_rc != 0:
        return lines + ["ops_db status=fail reason=playbook_failed"], 1
    return lines, code


def ansible_playbook_path(explicit):
    if explicit:
        return explicit
    beside = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return beside if os.path.exists(beside) else "ansible-playbook"


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    playbook, phase, key, extravars = plan_run(args)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    execution_id = args.execution_id or "%s-%s-%s" % (args.command, stamp, secrets.token_hex(3))
    receipt_root = os.path.abspath(args.receipt_root)
    extravars.update(signalcraft_execution_id=execution_id, signalcraft_receipt_root=receipt_root)
    handle, vars_file = tempfile.mkstemp(prefix="ops_db-", suffix=".json")
    with os.fdopen(handle, "w") as out:
        json.dump(extravars, out)
    argv = [ansible_playbook_path(args.ansible_playbook), "-i", args.inventory, os.path.join(REPO_ROOT, "playbooks", playbook),
            "-e", "@" + vars_file] + args.ansible_args
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"))
    try:
        proc = subprocess.run(argv, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL if args.quiet else sys.stderr,
                              stderr=subprocess.DEVNULL if args.quiet else sys.stderr, check=False)
    finally:
        os.unlink(vars_file)
    if args.command == "prod_verify":
        outcome = prod_verify_outcome(os.path.join(receipt_root, execution_id), proc.returncode)
        if outcome is not None:
            for line in outcome[0]:
                print(line)
            sys.stderr.write("ops_db: receipts %s (ansible-playbook exit %d, runbook exit %d)\n"
                             % (os.path.join(receipt_root, execution_id), proc.returncode, outcome[1]))
            return outcome[1]
    path = os.path.join(receipt_root, execution_id, "%s.json" % phase)
    guard_path = os.path.join(receipt_root, execution_id, "%s.json" % GUARD_PHASE)
    if not os.path.exists(path) and os.path.exists(guard_path):
        # The account/region guard refused the run before the phase: its receipt says why.
        path = guard_path
    try:
        with open(path) as handle:
            receipt = json.load(handle)
    except (OSError, ValueError):
        print("%s status=fail reason=no_receipt" % key)
        sys.stderr.write("ops_db: ansible-playbook exited %d and left no receipt at %s\n" % (proc.returncode, path))
        return EXIT_NO_RECEIPT
    lines, code = outcome_from_receipt(receipt, key, proc.returncode)
    for line in lines:
        print(line)
    sys.stderr.write("ops_db: receipt %s (ansible-playbook exit %d, runbook exit %d)\n" % (path, proc.returncode, code))
    return code


if __name__ == "__main__":
    sys.exit(main())
