"""Command line entry point: ``python -m tests.sandbox.k8s_emulator --name primary ...``."""

import argparse
import json
import os
import signal
import sys
import threading

from . import quantity
from .cluster import Cluster
from .server import ApiHTTPServer
from .tlsutil import generate, new_token, server_context, write_kubeconfig, write_private


def parse_args(argv=None):
    """Parse the CLI."""
    parser = argparse.ArgumentParser(prog="python -m tests.sandbox.k8s_emulator", description=__doc__)
    parser.add_argument("--name", required=True, help="cluster name (primary, dr, ...)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (loopback only)")
    parser.add_argument("--port", type=int, default=0, help="listen port; 0 picks a free one")
    parser.add_argument("--ready-file", help="JSON {pid, port, url, name} written once listening")
    parser.add_argument("--kubeconfig-out", required=True, help="kubeconfig to write (mode 0600)")
    parser.add_argument("--aws-endpoint-url", help="AWS (moto) endpoint used to check ECR images and pull credentials")
    parser.add_argument("--aws-region", default="us-east-1")
    parser.add_argument("--account-id", help="AWS account whose ECR registry host is checked")
    parser.add_argument("--node-allocatable-memory", default="4Gi")
    parser.add_argument("--node-allocatable-cpu", default="2")
    parser.add_argument("--pod-run-seconds", type=float, default=1.0)
    parser.add_argument("--state-dir", help="directory to persist objects in (k8s-<name>-state.json)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("--host must be a loopback address")
    try:
        quantity.parse(args.node_allocatable_memory)
        quantity.parse(args.node_allocatable_cpu)
    except quantity.QuantityError as exc:
        parser.error(str(exc))
    return args


def main(argv=None):
    """Run the emulator until SIGTERM/SIGINT."""
    args = parse_args(argv)
    if args.state_dir:
        os.makedirs(args.state_dir, exist_ok=True)
    ca_pem, cert_pem, key_pem = generate(args.name)
    cluster = Cluster(args.name, args.aws_endpoint_url, args.aws_region, args.account_id, args.node_allocatable_memory,
                      state_dir=args.state_dir, root_ca=ca_pem.decode())
    cluster.config.update({"node_allocatable_cpu": args.node_allocatable_cpu, "pod_run_seconds": args.pod_run_seconds})
    cluster.bootstrap()
    token = new_token()
    server = ApiHTTPServer((args.host, args.port), cluster, token, server_context(cert_pem, key_pem), verbose=args.verbose)
    port = server.server_address[1]
    url = "https://127.0.0.1:%d" % port
    write_kubeconfig(args.kubeconfig_out, args.name, url, ca_pem, token)
    cluster.start()
    stop = threading.Event()

    def on_signal(signum, frame):
        del signum, frame
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True)
    thread.start()
    if args.ready_file:
        write_private(args.ready_file, json.dumps({"pid": os.getpid(), "port": port, "url": url, "name": args.name}))
    sys.stderr.write("k8s emulator %s listening on %s\n" % (args.name, url))
    sys.stderr.flush()
    while not stop.wait(0.5):
        pass
    cluster.stop()
    server.shutdown()
    server.server_close()
    return 0
