"""The layer's own HTTP endpoints under ``/_sandbox/`` (never forwarded to moto).

GET  /_sandbox/health                              -> {"ok": true}
GET|POST|DELETE /_sandbox/faults                   -> fault rules and injection counters
GET|DELETE /_sandbox/requests?service=&operation=  -> request log
GET  /_sandbox/ecs-tasks                           -> tasks started through the layer
GET  /_sandbox/ecs-task-metadata/<task-id>[/task]  -> ECS task metadata v4 (container / task)
GET|POST|DELETE /_sandbox/s3-restore-delay         -> how long accepted S3 restores stay in progress
"""

import json

from werkzeug.wrappers import Request, Response

from . import ecs_outcomes
from .faults import FaultConfigError

PREFIX = "/_sandbox/"


def _json(document, status=200):
    return Response(json.dumps(document, indent=2, sort_keys=True) + "\n", status=status, mimetype="application/json")


def _not_found(what):
    return _json({"error": "not found: %s" % what}, 404)


def base_url(environ):
    """``http://<host:port>`` as the client addressed us (used to build metadata URIs)."""
    return "%s://%s" % (environ.get("wsgi.url_scheme", "http"), environ.get("HTTP_HOST", "127.0.0.1"))


class ControlApi:
    """WSGI app answering the ``/_sandbox/`` paths; ``state`` is the SandboxMiddleware."""

    def __init__(self, state):
        self.state = state

    def __call__(self, environ, start_response):
        request = Request(environ)
        route = request.path[len(PREFIX):].strip("/")
        head, _slash, rest = route.partition("/")
        handler = {
            "health": self._health, "faults": self._faults, "requests": self._requests,
            "ecs-tasks": self._ecs_tasks, "ecs-task-metadata": self._metadata,
            "s3-restore-delay": self._restore_delay,
        }.get(head)
        response = handler(request, rest) if handler else _not_found(request.path)
        return response(environ, start_response)

    def _health(self, _request, _rest):
        return _json({"ok": True})

    def _faults(self, request, _rest):
        faults = self.state.faults
        if request.method == "POST":
            try:
                faults.configure(json.loads(request.get_data() or b"{}"))
            except (ValueError, FaultConfigError) as exc:
                return _json({"error": str(exc)}, 400)
        elif request.method == "DELETE":
            faults.clear()
        return _json(faults.snapshot())

    def _requests(self, request, _rest):
        if request.method == "DELETE":
            self.state.request_log.clear()
            return _json([])
        return _json(self.state.request_log.query(request.args.to_dict()))

    def _restore_delay(self, request, _rest):
        restores = self.state.restores
        if request.method == "POST":
            try:
                restores.configure(json.loads(request.get_data() or b"{}").get("seconds", 0))
            except (ValueError, TypeError, AttributeError) as exc:
                return _json({"error": "body must be {\"seconds\": <number >= 0>}: %s" % exc}, 400)
        elif request.method == "DELETE":
            restores.reset()
        return _json(restores.snapshot())

    def _ecs_tasks(self, request, _rest):
        return _json(self.state.ecs.summaries(base_url(request.environ)))

    def _metadata(self, _request, rest):
        task_id, _slash, leaf = rest.partition("/")
        tracked = self.state.ecs.find(task_id)
        if tracked is None:
            return _not_found("task " + task_id)
        if leaf == "task":
            return _json(ecs_outcomes.task_metadata(tracked))
        if not leaf:
            return _json(ecs_outcomes.container_metadata(tracked))
        return _not_found(leaf)
