"""Simulated control-plane and node components, run by one background thread every tick."""

import sys
import threading
import traceback

from . import cronjobs, deployments, garbage, jobs, kubelet, namespaces, scheduler

# Order matters only for latency: a Job's pod is created, scheduled and pulled within one tick.
_CONTROLLERS = (namespaces.NamespaceController, garbage.GarbageCollector, cronjobs.CronJobController, jobs.JobController,
                scheduler.Scheduler, kubelet.Kubelet, deployments.DeploymentController)
_SAVE_EVERY_TICKS = 10


class ControllerManager:
    """Owns the controller instances and the thread ticking them."""

    def __init__(self, cluster, tick_seconds):
        self.cluster = cluster
        self.tick_seconds = tick_seconds
        self.controllers = [factory(cluster) for factory in _CONTROLLERS]
        self._stop = threading.Event()
        self._thread = None
        self.by_name = {type(c).__name__: c for c in self.controllers}

    def tick(self):
        """Run every controller once; one failing controller does not stop the others."""
        for controller in self.controllers:
            try:
                controller.tick()
            except Exception:  # pylint: disable=broad-except
                sys.stderr.write("controller %s failed:\n%s" % (type(controller).__name__, traceback.format_exc()))

    def _run(self):
        ticks = 0
        while not self._stop.wait(self.tick_seconds):
            self.tick()
            ticks += 1
            if ticks % _SAVE_EVERY_TICKS == 0:
                self.cluster.save()

    def start(self):
        """Start the background thread."""
        self._thread = threading.Thread(target=self._run, name="controllers", daemon=True)
        self._thread.start()

    def stop(self):
        """Stop the thread (waits for the current tick)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
