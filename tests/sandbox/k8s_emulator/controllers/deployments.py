"""deployment-controller (status only): no ReplicaSets or Pods are created.

A Deployment becomes Available once its template's images are pullable (the same check the kubelet
makes); an unpullable ECR image leaves it ``Available=False`` with zero ready replicas.
"""

import hashlib
import json

from .common import DEPLOYMENTS, set_condition


def _replicaset_name(deployment):
    template = json.dumps(deployment["spec"].get("template"), sort_keys=True)
    return "%s-%s" % (deployment["metadata"]["name"], hashlib.sha256(template.encode()).hexdigest()[:10])


class DeploymentController:
    """Keeps Deployment status in line with spec and image pullability."""

    def __init__(self, cluster):
        self.cluster = cluster

    def tick(self):
        """One reconcile pass."""
        for deployment in self.cluster.store.list("deployments"):
            spec = deployment["spec"]
            if spec.get("paused"):
                continue
            pod_spec = (spec.get("template") or {}).get("spec") or {}
            namespace = deployment["metadata"]["namespace"]
            containers = (pod_spec.get("initContainers") or []) + (pod_spec.get("containers") or [])
            pullable = all(self.cluster.pulls.check(namespace, pod_spec, c["image"]).ok for c in containers)
            wanted = spec.get("replicas", 1)
            ready = wanted if pullable else 0
            status = deployment.setdefault("status", {})
            status.update(observedGeneration=deployment["metadata"].get("generation", 1), replicas=wanted, updatedReplicas=wanted,
                          readyReplicas=ready, availableReplicas=ready)
            if wanted - ready:
                status["unavailableReplicas"] = wanted - ready
            else:
                status.pop("unavailableReplicas", None)
            for key in ("readyReplicas", "availableReplicas", "replicas", "updatedReplicas"):
                if not status[key]:
                    status.pop(key)
            replicaset = _replicaset_name(deployment)
            if ready == wanted:
                set_condition(status, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
                set_condition(status, "Progressing", "True", "NewReplicaSetAvailable",
                              'ReplicaSet "%s" has successfully progressed.' % replicaset)
            else:
                set_condition(status, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
                set_condition(status, "Progressing", "True", "ReplicaSetUpdated", 'ReplicaSet "%s" is progressing.' % replicaset)
            for condition in status["conditions"]:
                condition.setdefault("lastUpdateTime", condition["lastTransitionTime"])
            self.cluster.api.write_status(DEPLOYMENTS, deployment)
