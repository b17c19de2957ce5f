"""Build the layered WSGI app and serve it threaded on an ephemeral port.

Import this module only after ``MOTO_ACCOUNT_ID`` is set: moto fixes its default account when it is
first imported.
"""

import json
import logging
import os
import signal
import threading

from werkzeug.serving import make_server

from . import moto_access, sfn_ecs, sfn_tokens
from .middleware import SandboxMiddleware


def build_app(account_id, request_log_size=5000):
    """moto's server app (all services, dispatched by host/credential scope) wrapped in the layer."""
    from moto.server import DomainDispatcherApplication, create_backend_app  # pylint: disable=import-outside-toplevel

    sfn_tokens.install()
    sfn_ecs.install()
    return SandboxMiddleware(DomainDispatcherApplication(create_backend_app), account_id, request_log_size)


def write_ready_file(path, document):
    """Write atomically (temp file + rename) so a poller never reads half a file."""
    temporary = "%s.%d.tmp" % (path, os.getpid())
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
    os.replace(temporary, path)


def _remove(path):
    if path and os.path.exists(path):
        os.remove(path)


def serve(host, port, account_id, ready_file=None, request_log_size=5000, verbose=False):
    """Serve until SIGTERM/SIGINT; returns the process exit status."""
    # moto's MotoRequestHandler keeps headers with underscores (S3 metadata) that werkzeug drops.
    from moto.server import MotoRequestHandler  # pylint: disable=import-outside-toplevel

    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)
    _remove(ready_file)  # never let a poller see a previous run's port
    app = build_app(account_id, request_log_size)
    moto_access.enable_stepfunctions_execution()
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    real_port = server.socket.getsockname()[1]
    os.environ["MOTO_PORT"] = str(real_port)  # moto services that call back into the server use it

    def stop(_signum, _frame):
        # shutdown() waits for serve_forever() to return, so it must not run on the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if ready_file:
        write_ready_file(ready_file, {"pid": os.getpid(), "port": real_port, "url": "http://%s:%d" % (host, real_port)})
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        _remove(ready_file)
    return 0
