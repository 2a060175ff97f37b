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
# A handler's answer meaning: the request was applied, then the connection dropped
# before any reply (the client sees a transport error, the service did the work).
LOST: Any = object()


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
                if out is LOST:  # the request was handled but its reply never arrives
                    self.close_connection = True
                    return
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


class Faults:
    """Scripted faults: ``add(status, times, headers=, lost=)``; the next matching requests
    answer ``status`` (with ``headers``, e.g. Retry-After), or with ``lost=True`` are applied
    and their reply is lost."""

    def __init__(self) -> None:
        self._queue: list[dict[str, Any]] = []

    def add(self, status: int = 503, times: int = 1, *, headers: dict[str, str] | None = None, lost: bool = False,
            body: Any = None) -> None:
        self._queue.append({"status": status, "times": times, "headers": headers or {}, "lost": lost, "body": body})

    def clear(self) -> None:
        """The service is healthy again."""
        self._queue.clear()

    def take(self) -> dict[str, Any] | None:
        for f in self._queue:
            if f["times"] > 0:
                f["times"] -= 1
                return f
        return None


class FakeSlack:
    """A Slack incoming webhook (POST /services/T/B/X or /slack/...): 200 ``ok``; its documented
    errors are plain text: 400 ``invalid_payload`` / ``no_text``, 404 ``no_service``, 429 with
    Retry-After, 500 ``rollup_error``. ``messages`` are the texts it accepted."""

    def __init__(self, http: FakeHTTP | None = None) -> None:
        self.http = http or FakeHTTP()
        self.faults = Faults()
        self.messages: list[str] = []
        for prefix in ("/slack/", "/services/"):
            self.http.on("POST", prefix, self._post)

    def _post(self, req: Request) -> Any:
        fault = self.faults.take()
        if fault and not fault["lost"]:
            default = {429: b"rate_limited", 404: b"no_service"}.get(fault["status"], b"rollup_error")
            return fault["status"], fault["body"] or default, fault["headers"]
        try:
            body = req.json()
        except ValueError:
            return 400, b"invalid_payload"
        if not isinstance(body, dict):
            return 400, b"invalid_payload"
        if not body.get("text") and not body.get("blocks"):
            return 400, b"no_text"
        self.messages.append(body.get("text", ""))
        return LOST if fault else (200, b"ok")


class FakePagerDuty:
    """PagerDuty Events API v2 (POST /v2/enqueue): 202 ``{"status": "success", ...}``; 400
    ``{"status": "invalid event", ...}`` for a malformed event (a trigger needs payload.summary
    of at most 1024 characters, payload.source and payload.severity); 429 and 5xx as its docs
    say clients must retry. ``incidents`` maps dedup_key -> "triggered" | "resolved".
    ``routing_keys``: the integration keys it knows (None: any); another key is an invalid event."""

    SEVERITIES = ("critical", "error", "warning", "info")

    def __init__(self, http: FakeHTTP | None = None) -> None:
        self.http = http or FakeHTTP()
        self.faults = Faults()
        self.incidents: dict[str, str] = {}
        self.events: list[dict[str, Any]] = []
        self.routing_keys: set[str] | None = None
        self.http.on("POST", "/v2/enqueue", self._enqueue)

    @staticmethod
    def _invalid(*errors: str) -> tuple[int, Any]:
        return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)}

    def _enqueue(self, req: Request) -> Any:
        fault = self.faults.take()
        if fault and not fault["lost"]:
            body = fault["body"] or ({"status": "throttle event", "message": "Requests for this service are arriving "
                                      "too quickly. Please retry later."} if fault["status"] == 429 else b"")
            return fault["status"], body, fault["headers"]
        try:
            body = req.json()
        except ValueError:
            return self._invalid("Invalid JSON")
        if not isinstance(body, dict) or not body.get("routing_key"):
            return self._invalid("'routing_key' is missing or blank")
        if self.routing_keys is not None and body["routing_key"] not in self.routing_keys:
            return self._invalid("Invalid routing key")
        action = body.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            return self._invalid("'event_action' is invalid")
        key = body.get("dedup_key") or ""
        if action == "trigger":
            payload = body.get("payload") or {}
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary:
                return self._invalid("'payload.summary' is missing or blank")
            if len(summary) > 1024:
                return self._invalid("'payload.summary' is too long (max 1024 characters)")
            if not payload.get("source"):
                return self._invalid("'payload.source' is missing or blank")
            if payload.get("severity") not in self.SEVERITIES:
                return self._invalid("'payload.severity' is invalid")
            key = key or f"generated-{len(self.events)}"
            if self.incidents.get(key) != "triggered":
                self.incidents[key] = "triggered"
        elif not key:
            return self._invalid("'dedup_key' is missing or blank")
        elif action == "resolve" and key in self.incidents:
            self.incidents[key] = "resolved"
        self.events.append(body)
        if fault:
            return LOST
        return 202, {"status": "success", "message": "Event processed", "dedup_key": key}


def slack_and_pagerduty() -> FakeHTTP:
    """One loopback server with a FakeSlack and a FakePagerDuty (``.slack``, ``.pagerduty``)."""
    fake = FakeHTTP()
    fake.slack = FakeSlack(fake)  # type: ignore[attr-defined]
    fake.pagerduty = FakePagerDuty(fake)  # type: ignore[attr-defined]
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
