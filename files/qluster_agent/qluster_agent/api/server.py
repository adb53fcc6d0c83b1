"""Serves a Router over HTTP/1.1 with the standard library, one thread per connection."""

from __future__ import annotations

import logging
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


class ApiServer:
    """Owns the listening socket and its thread; `close()` stops both."""

    def __init__(self, router: Router, host: str, port: int) -> None:
        handler = type("Handler", (_Handler,), {"router": router})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="api", daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def start(self) -> "ApiServer":
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
