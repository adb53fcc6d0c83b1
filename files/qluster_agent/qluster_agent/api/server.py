"""Serves a Router over HTTP/1.1 with the standard library, on a fixed pool of worker threads.

Not one thread per connection: CPython starts a thread (and forks) holding the GIL, and the
kernel's clone can wait behind a cgroup change anywhere on the host (a `podman exec`, systemd
starting a unit take the cgroup threadgroup lock) for hundreds of milliseconds. Every thread of
the agent, the consensus loop included, waited with it; with a health check every second from
each router, that was enough to end a busy leader's lease. The pool's threads are made once.
It also bounds what a client can hold: WORKERS connections served at once, BACKLOG waiting (more
are closed at once), REQUEST_TIMEOUT for a request to arrive, one request per connection.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from .router import MAX_BODY, Request, Router, error_response

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
            request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                              body, self.client_address[0])
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
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._waiting: queue.Queue = queue.Queue(maxsize=BACKLOG)
        self._workers = [threading.Thread(target=self._work, name=f"api-{number}", daemon=True)
                         for number in range(WORKERS)]
        self.turned_away = 0

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
            try:
                self.finish_request(request, client_address)
            # Reported as socketserver reports a failed request, and the worker goes on.
            except Exception:  # pylint: disable=broad-except
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        """A client that closed its connection early (a health checker that timed out) is no fault.

        The base class prints a traceback to stderr for any exception; anything else still
        gets one, in the log.
        """
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):  # BrokenPipeError, ConnectionResetError, ...
            log.debug("api %s closed the connection early: %s", client_address[0], exc)
            return
        log.exception("api: request from %s failed", client_address[0])


class ApiServer:
    """Owns the API socket and its thread; `close()` stops both.

    The constructor binds the port, so a port already in use fails at once, but does not
    listen: until `start()`, connecting is refused at once rather than left waiting for an
    answer that comes seconds later (health checkers time out, then the late answer meets a
    closed connection). A port some other program listens on fails the bind; one merely bound
    by another process (Linux lets SO_REUSEADDR sockets share a port until one listens) fails
    only in start().
    """

    def __init__(self, router: Router, host: str, port: int) -> None:
        handler = type("Handler", (_Handler,), {"router": router})
        self._httpd = _HttpServer((host, port), handler, bind_and_activate=False)
        try:
            self._httpd.server_bind()
        except BaseException:
            self._httpd.server_close()
            raise
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="api", daemon=True)

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
