"""Loopback HTTP and UDP servers that record what muse sends.

Each fake follows the documented API of the service it stands in for (paths, payloads,
status codes, error bodies); routes are plain functions so a test can script faults.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

Handler = Callable[["Request"], "tuple[int, Any] | tuple[int, Any, dict[str, str]]"]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class FakeHTTP:
    """A ThreadingHTTPServer on 127.0.0.1 with (method, path-prefix) routes."""

    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        fake = self

        class _H(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                              self.rfile.read(length) if length else b"")
                fake.requests.append(req)
                handler = fake._route(req)
                if handler is None:
                    out: tuple = (404, {"error": {"code": "not_found", "message": f"no route {req.method} {req.path}"}})
                else:
                    out = handler(req)
                status, body = out[0], out[1]
                headers = out[2] if len(out) > 2 else {}
                data = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str)
                                                             else json.dumps(body).encode())
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test); nothing to answer

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        # A short poll interval: shutdown() waits for it, and tests close many fakes.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def _route(self, req: Request) -> Handler | None:
        path = req.path.split("?", 1)[0]
        best = None
        for (method, prefix), handler in self.routes.items():
            if method == req.method and path.startswith(prefix):
                if best is None or len(prefix) > len(best[0]):
                    best = (prefix, handler)
        return best[1] if best else None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def on(self, method: str, prefix: str, handler: Handler) -> None:
        self.routes[(method, prefix)] = handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def slack_and_pagerduty() -> FakeHTTP:
    """Slack incoming webhook (200 'ok') and PagerDuty Events API v2 (202 JSON)."""
    fake = FakeHTTP()
    fake.on("POST", "/slack/", lambda r: (200, b"ok"))

    def pd(req: Request) -> tuple[int, Any]:
        body = req.json()
        if not isinstance(body, dict) or "routing_key" not in body or body.get("event_action") not in (
                "trigger", "acknowledge", "resolve"):
            return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": ["bad"]}
        return 202, {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")}

    fake.on("POST", "/v2/enqueue", pd)
    return fake


def closed_port() -> int:
    """A loopback TCP port nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class UDPSink:
    """A real UDP socket on 127.0.0.1 collecting DogStatsD datagrams."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]

    def drain(self, wait: float = 1.0) -> list[str]:
        import time

        lines: list[str] = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                if lines:
                    break
                continue
            lines.extend(data.decode().splitlines())
        return lines

    def close(self) -> None:
        self.sock.close()
