"""A TCP proxy on loopback for tests that need to put something between a client and a server:

* ``cut()`` makes the server unreachable as a network outage does - the listening socket is closed (new
  connections are refused) and every open connection is reset; ``restore()`` listens again on the same
  port. The server behind it keeps running (a Prefect server's flow runs go on).
* ``tls=(cert_pem, key_pem)`` terminates TLS in front of a plain HTTP server (a reverse proxy with a
  certificate of a private CA), so a client's certificate checks and CA bundle are exercised for real.

    proxy = TcpProxy(("127.0.0.1", 4200)).start()     # proxy.port, proxy.url("http")
    proxy.cut(); ...; proxy.restore(); proxy.stop()
"""

import socket
import ssl
import threading

from tests.sandbox.k8s_emulator import tlsutil


class TcpProxy:
    """Forwards every connection to ``target`` (host, port) until ``cut()``; one thread per direction."""

    def __init__(self, target, tls=None, host="127.0.0.1"):
        self.target, self.host, self.port = target, host, 0
        self._context = tlsutil.server_context(*tls) if tls else None
        self._listener, self._thread = None, None
        self._lock = threading.Lock()
        self._open = set()
        self.accepted = 0

    def url(self, scheme="http", path="/api"):
        return "%s://%s:%d%s" % (scheme, self.host, self.port, path)

    def start(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()
        return self

    def _accept(self, listener):
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return  # closed by cut()/stop()
            self.accepted += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            if self._context is not None:
                client = self._context.wrap_socket(client, server_side=True)
            upstream = socket.create_connection(self.target, timeout=10)
            upstream.settimeout(None)
        except (OSError, ssl.SSLError):
            _close(client)
            return
        with self._lock:
            self._open.update((client, upstream))
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        self._pump(client, upstream)

    def _pump(self, source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with self._lock:
                    self._open.discard(sock)
                _close(sock)

    def cut(self):
        """Refuse new connections and reset the open ones."""
        if self._listener is not None:
            _close(self._listener)
            self._listener = None
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _close(sock)

    def restore(self):
        """Listen again on the same port."""
        if self._listener is None:
            self.start()

    def stop(self):
        self.cut()


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
