"""A real HTTP file server on 127.0.0.1 for download tests (used through the ``server`` fixture)."""
from __future__ import annotations

import http.server
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

@dataclass
class Route:
    """What the server answers on one path; ``plan`` gives one behaviour per GET, the last repeats.

    Behaviours: "ok" (the whole body), "cut" (announces the whole body, sends a third, closes),
    or an HTTP status such as "503" or "500" (an error page). A HEAD request answers with the headers
    of the next behaviour, and uses it up only when that is an error status.
    """

    body: bytes
    plan: tuple[str, ...] = ("ok",)
    content_type: str = "application/octet-stream"
    delay_s: float = 0.0  # before each answer: a slow server, so concurrent clients overlap


@dataclass
class FileServer:
    base: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)  # GET requests per path
    heads: Counter[str] = field(default_factory=Counter)  # HEAD requests per path
    used: Counter[str] = field(default_factory=Counter)  # behaviours of the plan used up per path
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.base + path


class _Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.0: the server closes the connection after each answer, so a short body is a cut one.
    protocol_version = "HTTP/1.0"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 -- http.server's naming
        self._answer(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(head=True)

    def _answer(self, *, head: bool) -> None:
        app = self.server.app
        with app.lock:
            (app.heads if head else app.hits)[self.path] += 1
            route = app.routes.get(self.path)
            behaviour = route.plan[min(app.used[self.path], len(route.plan) - 1)] if route else "404"
            if not head or behaviour.isdigit():
                app.used[self.path] += 1
        if behaviour.isdigit():
            self.send_error(int(behaviour))
            return
        assert route is not None
        time.sleep(route.delay_s)
        self.send_response(200)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if not head:
            self.wfile.write(route.body[: len(route.body) // 3] if behaviour == "cut" else route.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 -- http.server's signature
        pass


class _Server(http.server.ThreadingHTTPServer):
    app: FileServer
    daemon_threads = False  # so that server_close() joins every request thread

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up makes the late answer fail; that is expected.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@contextmanager
def serve() -> Iterator[FileServer]:
    """Run a :class:`FileServer` on a free port until the block ends (request threads joined)."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    app = FileServer(base=f"http://127.0.0.1:{httpd.server_port}")
    httpd.app = app
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="test-file-server")
    thread.start()
    try:
        yield app
    finally:
        httpd.shutdown()
        httpd.server_close()  # also joins the request threads
        thread.join(timeout=5)
