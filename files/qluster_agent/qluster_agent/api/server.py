"""Serves a Router over HTTP/1.1 with the standard library, one thread per connection."""

from __future__ import annotations

import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .router import MAX_BODY, Request, Router, error_response

log = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    router: Router  # set on the subclass made per server
    protocol_version = "HTTP/1.1"
    server_version = "qluster"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            response = error_response(413, f"request body larger than {MAX_BODY} bytes")
            self.close_connection = True
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
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    do_GET = do_HEAD = do_POST = do_DELETE = do_OPTIONS = do_PUT = do_PATCH = _serve

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.debug("api %s %s", self.address_string(), format % args)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

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
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()  # waits for serve_forever, which never returns if it never ran
            self._thread.join(timeout=5)
        self._httpd.server_close()
