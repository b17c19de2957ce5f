"""Archive restores that take time, as in real S3 (hours), instead of moto's instant completion.

moto 5.2.5 completes RestoreObject at once: HeadObject answers ``ongoing-request="false"`` straight
away. With a restore delay set (``POST /_sandbox/s3-restore-delay {"seconds": N}``; 0, the default,
keeps moto's behaviour) the layer holds each accepted restore (202) "in progress" for N seconds:

* HeadObject carries ``x-amz-restore: ongoing-request="true"`` (real S3's header while running);
* GetObject answers 403 ``InvalidObjectState`` (the temporary copy is not there yet);
* another RestoreObject answers 409 ``RestoreAlreadyInProgress``.

After N seconds the key is moto's again (``ongoing-request="false", expiry-date=...``).
``DELETE /_sandbox/s3-restore-delay`` sets the delay to 0 and completes every pending restore.
"""

import threading
import time

from .protocol_errors import s3_error


class RestoreDelay:
    """Pending restores by (bucket, key) -> monotonic completion time."""

    def __init__(self):
        self._lock = threading.Lock()
        self.seconds = 0.0
        self._pending = {}

    def configure(self, seconds):
        seconds = float(seconds)
        if seconds < 0:
            raise ValueError("seconds must be 0 or more")
        with self._lock:
            self.seconds = seconds

    def reset(self):
        with self._lock:
            self.seconds = 0.0
            self._pending.clear()

    def snapshot(self):
        now = time.monotonic()
        with self._lock:
            return {"seconds": self.seconds,
                    "pending": sorted("%s/%s" % key for key, done in self._pending.items() if done > now)}

    def _running(self, info):
        if info.protocol != "s3" or not info.key:
            return False
        with self._lock:
            done = self._pending.get((info.bucket, info.key))
            if done is not None and done <= time.monotonic():
                del self._pending[(info.bucket, info.key)]
                return False
            return done is not None

    def reject(self, info):
        """The error real S3 gives while a restore of this key runs, or None."""
        if info.operation not in ("RestoreObject", "GetObject") or not self._running(info):
            return None
        if info.operation == "RestoreObject":
            return s3_error(409, "RestoreAlreadyInProgress", "Object restore is already in progress", info)
        return s3_error(403, "InvalidObjectState", "The operation is not valid for the object's storage class", info)

    def after(self, info, status, headers):
        """Start the clock on an accepted restore; show a running one on HeadObject. Returns the headers."""
        if info.protocol != "s3":
            return headers
        if info.operation == "RestoreObject" and status.startswith("202"):
            with self._lock:
                if self.seconds > 0:
                    self._pending[(info.bucket, info.key)] = time.monotonic() + self.seconds
            return headers
        if info.operation == "HeadObject" and status.startswith("200") and self._running(info):
            return [(n, v) for n, v in headers if n.lower() != "x-amz-restore"] + [("x-amz-restore", 'ongoing-request="true"')]
        return headers
