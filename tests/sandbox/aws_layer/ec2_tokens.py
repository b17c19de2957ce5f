"""EC2 RunInstances idempotency by ``ClientToken``, which moto stores but does not enforce.

Real EC2: a RunInstances call that repeats a client token launches nothing and answers with the
original reservation, even after its instances were terminated (a token stays valid for at least
24 hours after termination). The layer replays the first answer for a repeated token.
"""

import threading
from urllib.parse import parse_qs


class ClientTokens:
    """``ClientToken`` -> the first successful RunInstances answer ``(status, headers, body)``."""

    def __init__(self):
        self._lock = threading.Lock()
        self._answers = {}

    @staticmethod
    def token(info, body):
        if info.service != "ec2" or info.operation != "RunInstances":
            return None
        values = parse_qs((body or b"").decode("utf-8", "replace")).get("ClientToken")
        return values[0] if values else None

    def replay(self, token):
        with self._lock:
            return self._answers.get(token) if token else None

    def remember(self, token, status, headers, response_body):
        if token and status.startswith("200"):
            with self._lock:
                self._answers.setdefault(token, (status, headers, response_body))
