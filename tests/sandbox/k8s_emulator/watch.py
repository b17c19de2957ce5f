"""Watch streams: newline-delimited ``{"type", "object"}`` events over chunked HTTP.

Without a resourceVersion (or with "0") the stream starts with ADDED events for the current objects;
with one it replays the kept history after it (410 ``Expired`` as an ERROR event when that history is
gone). An object that starts or stops matching the selectors is reported as ADDED or DELETED, as the
real watch cache does. The stream ends after ``timeout`` seconds.

``sendInitialEvents=true`` (with ``resourceVersionMatch=NotOlderThan``; a "streaming list", what
client-go's reflector and kubectl 1.35+ use) starts with ADDED events for the current objects whatever
the resourceVersion, then a BOOKMARK whose object carries the list's resourceVersion and the annotation
``k8s.io/initial-events-end: "true"``; ``sendInitialEvents=false`` without a resourceVersion starts at the
most recent one, with no initial events. No other bookmarks are sent (servers send them at their discretion).
"""

import json
import time

from . import errors, tables

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


class _Encoder:
    """Encodes watch events; with ``as=Table`` each object becomes a one-row Table (columns only in the first)."""

    def __init__(self, rtype, table_include):
        self.rtype = rtype
        self.table_include = table_include
        self.columns_sent = False

    def __call__(self, event_type, obj):
        obj = dict(obj)
        obj.setdefault("kind", self.rtype.kind)
        obj.setdefault("apiVersion", self.rtype.api_version)
        if self.table_include is not None:
            obj = tables.table(self.rtype, [obj], obj["metadata"].get("resourceVersion", ""), self.table_include)
            if self.columns_sent:
                obj["columnDefinitions"] = []
            self.columns_sent = True
        return (json.dumps({"type": event_type, "object": obj}, separators=(",", ":")) + "\n").encode()


def _translate(event, rtype, namespace, selector):
    """The event type a watcher sees for a stored change (None: not visible to it)."""
    if event.plural != rtype.plural:
        return None
    if namespace is not None and event.obj["metadata"].get("namespace") != namespace:
        return None
    now_matches = selector.matches(event.obj)
    was_matching = event.old is not None and selector.matches(event.old)
    if event.type == "DELETED":
        return "DELETED" if was_matching else None
    if event.type == "ADDED":
        return "ADDED" if now_matches else None
    if now_matches:
        return "MODIFIED" if was_matching else "ADDED"
    return "DELETED" if was_matching else None


def _bookmark(rtype, resource_version):
    """The BOOKMARK that ends a streaming list's initial events."""
    obj = {"kind": rtype.kind, "apiVersion": rtype.api_version,
           "metadata": {"resourceVersion": str(resource_version), "annotations": {INITIAL_EVENTS_END: "true"}}}
    return (json.dumps({"type": "BOOKMARK", "object": obj}, separators=(",", ":")) + "\n").encode()


def stream_watch(handler, cluster, rtype, namespace, selector, resource_version, timeout, table_include=None,
                 send_initial_events=None):
    """Serve one watch request on ``handler`` until ``timeout`` or shutdown.

    ``table_include`` (the ``includeObject`` value, "" for the default) asks for Table-encoded objects;
    ``send_initial_events`` is the request's ``sendInitialEvents`` (None when absent, validated by the caller).
    """
    store = cluster.store
    encode = _Encoder(rtype, table_include)
    with store.lock:
        if send_initial_events or (send_initial_events is None and resource_version in (None, "", "0")):
            last = store.resource_version
            initial = [encode("ADDED", obj) for obj in store.list(rtype.plural, namespace if rtype.namespaced else None)
                       if selector.matches(obj)]
            if send_initial_events:
                initial.append(_bookmark(rtype, last))
        elif resource_version in (None, "", "0"):
            last = store.resource_version
            initial = []
        else:
            try:
                last = int(resource_version)
            except ValueError as exc:
                raise errors.bad_request('invalid resource version "%s"' % resource_version) from exc
            initial = []
            if last < store.oldest_watchable():
                expired = errors.gone("too old resource version: %d (%d)" % (last, store.oldest_watchable() + 1)).status()
                initial = [(json.dumps({"type": "ERROR", "object": expired}) + "\n").encode()]
                last = None
    handler.start_chunked()
    for chunk in initial:
        handler.send_chunk(chunk)
    deadline = time.monotonic() + timeout
    while last is not None and not cluster.stopping.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        store.wait(last, min(remaining, 1.0))
        for event in store.events_after(last):
            last = event.rv
            visible = _translate(event, rtype, namespace, selector)
            if visible:
                handler.send_chunk(encode(visible, event.obj))
    handler.send_chunk(b"")
