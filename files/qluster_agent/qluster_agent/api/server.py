"""Serves a Router over HTTP/1.1 with the standard library, on a fixed pool of worker threads.

Not one thread per connection: CPython starts a thread (and forks) holding the GIL, and the
kernel's clone can wait behind a cgroup change anywhere on the host (a `podman exec`, systemd
starting a unit take the cgroup threadgroup lock) for hundreds of milliseconds. Every thread of
the agent, the consensus loop included, waited with it; with a health check every second from
each router, that was enough to end a busy leader's lease. The pool's threads are made once.
It also bounds what a client can hold: WORKERS connections served at once, BACKLOG waiting (more
are closed at once), REQUEST_TIMEOUT for a request to arrive, one request per connection.

An HTTPS server (api/tls.py) does the TLS handshake in the worker, under the same timeout, never
in the accepting thread: a client that connects and sends nothing holds one worker for
REQUEST_TIMEOUT at most, and the others go on answering. A plain-HTTP request to it is answered
400 naming the scheme to use, instead of a handshake error the client cannot read.
"""

from __future__ import annotations

import logging
import queue
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from .router import MAX_BODY, Request, Response, Router, error_response

log = logging.getLogger(__name__)

WORKERS = 8
BACKLOG = 64
REQUEST_TIMEOUT = 10.0


class _Handler(BaseHTTPRequestHandler):
    router: Router  # set on the subclass made per server
    protocol_version = "HTTP/1.1"
    server_version = "qluster"
    timeout = REQUEST_TIMEOUT  # socket timeout: a client that sends nothing frees its worker

    def _serve(self) -> None:
        self.close_connection = True  # one request per connection: a worker is never parked idle
        text = self.headers.get("Content-Length") or "0"
        length = int(text) if text.isdigit() and len(text) <= 12 else -1
        if length < 0:
            response = error_response(400, f"Content-Length {text[:20]!r} is not a byte count")
        elif length > MAX_BODY:
            response = error_response(413, f"request body larger than {MAX_BODY} bytes")
        else:
            body = self.rfile.read(length) if length else b""
            tls = isinstance(self.connection, ssl.SSLSocket)
            # A certificate is only there when it chained to api-cafile: the handshake refuses others.
            client_cert = tls and bool(self.connection.getpeercert())
            request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                              body, self.client_address[0], tls=tls, client_cert=client_cert)
            response = self.router.handle(request)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        # HEAD answers carry no body, but say how long the GET body would be: 0 is honest enough.
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    do_GET = do_HEAD = do_POST = do_DELETE = do_OPTIONS = do_PUT = do_PATCH = _serve

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.debug("api %s %s", self.address_string(), format % args)


class _HttpServer(HTTPServer):
    def __init__(self, *args, tls: ssl.SSLContext | None = None, name: str = "api", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tls = tls
        self._waiting: queue.Queue = queue.Queue(maxsize=BACKLOG)
        self._workers = [threading.Thread(target=self._work, name=f"{name}-{number}", daemon=True)
                         for number in range(WORKERS)]
        self.turned_away = 0
        self.handshakes_failed = 0  # TLS handshakes that failed or timed out
        self.plain_http_refused = 0  # plain-HTTP requests sent to the HTTPS socket

    def start_workers(self) -> None:
        for worker in self._workers:
            worker.start()

    def stop_workers(self) -> None:
        for worker in self._workers:
            if worker.is_alive():
                self._waiting.put(None)
        for worker in self._workers:
            if worker.is_alive():
                worker.join(timeout=5)

    def process_request(self, request, client_address) -> None:
        try:
            self._waiting.put_nowait((request, client_address))
        except queue.Full:
            self.turned_away += 1
            log.debug("api: %d connections wait already; closing the one from %s", BACKLOG, client_address[0])
            self.shutdown_request(request)

    def _work(self) -> None:
        while True:
            item = self._waiting.get()
            if item is None:
                return
            request, client_address = item
            connection = request
            try:
                if self.tls is not None:
                    connection = self._handshake(request, client_address)
                if connection is not None:
                    self.finish_request(connection, client_address)
            # Reported as socketserver reports a failed request, and the worker goes on.
            except Exception:  # pylint: disable=broad-except
                self.handle_error(connection, client_address)
            finally:
                # After a handshake `request` is detached: the TLS socket is the one to close.
                self.shutdown_request(request if connection is None else connection)

    def _handshake(self, sock: socket.socket, client_address) -> ssl.SSLSocket | None:
        """The TLS connection, or None (answered or closed) when there is none to serve."""
        sock.settimeout(self.RequestHandlerClass.timeout)
        try:
            first = sock.recv(1, socket.MSG_PEEK)
            if first.isalpha():  # "GET ...": plain HTTP, whereas a TLS record starts with 0x16
                self.plain_http_refused += 1
                _refuse_plain_http(sock, self.server_address[1])
                return None
            if not first:
                return None  # closed before sending anything
            connection = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except OSError as exc:  # TimeoutError: connected and sent nothing
            self.handshakes_failed += 1
            log.debug("api %s: no TLS handshake: %s", client_address[0], exc)
            return None
        try:
            connection.do_handshake()
        except OSError as exc:  # ssl.SSLError (no or a foreign client certificate, an old TLS), timeouts
            self.handshakes_failed += 1
            log.debug("api %s: TLS handshake failed: %s", client_address[0], exc)
            connection.close()
            return None
        return connection

    def handle_error(self, request, client_address) -> None:
        """A client that closed its connection early (a health checker that timed out) is no fault.

        The base class prints a traceback to stderr for any exception; anything else still
        gets one, in the log.
        """
        exc = sys.exc_info()[1]
        # BrokenPipeError, ConnectionResetError, ...; over TLS an SSLEOFError or an alert.
        if isinstance(exc, (ConnectionError, ssl.SSLError)):
            log.debug("api %s closed the connection early: %s", client_address[0], exc)
            return
        log.exception("api: request from %s failed", client_address[0])


def _refuse_plain_http(sock: socket.socket, port: int) -> None:
    """Answer a plain-HTTP request on the HTTPS socket with a 400 saying so."""
    response: Response = error_response(400, f"this port speaks HTTPS: use https://, or on the node itself "
                                             f"http://127.0.0.1:{port}")
    try:
        sock.recv(65536)  # what came already: closing a socket with unread data resets the answer away
        sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: " + str(len(response.body)).encode() + b"\r\n\r\n" + response.body)
    except OSError:
        pass


class ApiServer:
    """Owns the API socket and its thread; `close()` stops both.

    The constructor binds the port, so a port already in use fails at once, but does not
    listen: until `start()`, connecting is refused at once rather than left waiting for an
    answer that comes seconds later (health checkers time out, then the late answer meets a
    closed connection). A port some other program listens on fails the bind; one merely bound
    by another process (Linux lets SO_REUSEADDR sockets share a port until one listens) fails
    only in start().
    """

    def __init__(self, router: Router, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        handler = type("Handler", (_Handler,), {"router": router})
        name = "api-tls" if tls is not None else "api"
        self._httpd = _HttpServer((host, port), handler, bind_and_activate=False, tls=tls, name=name)
        try:
            self._httpd.server_bind()
        except BaseException:
            self._httpd.server_close()
            raise
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=name, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def start(self) -> "ApiServer":
        """Listen and answer from now on (OSError when listening fails)."""
        self._httpd.server_activate()
        self._httpd.start_workers()
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()  # waits for serve_forever, which never returns if it never ran
            self._thread.join(timeout=5)
        self._httpd.stop_workers()
        self._httpd.server_close()
