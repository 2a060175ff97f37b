"""A loopback Datadog following the documented v1 API that muse uses.

- ``GET /api/v1/validate`` (DD-API-KEY): 200 ``{"valid": true}``, 403 ``{"errors": ["Forbidden"]}``.
- ``GET /api/v1/monitor`` with ``name`` (substring), ``monitor_tags`` (comma-separated, all
  must match), ``page``/``page_size``; ``POST /api/v1/monitor``; ``GET``/``PUT``/``DELETE
  /api/v1/monitor/{id}``; ``POST /api/v1/monitor/validate`` (200 ``{}``, or 400 with the
  problems). Reads and writes need both DD-API-KEY and DD-APPLICATION-KEY, else 403.
- Errors are ``{"errors": [...]}``. Created monitors get what Datadog adds: id, created,
  modified, overall_state, creator, default options, thresholds as floats.

- ``POST /api/v1/events`` (DD-API-KEY): 202 ``{"status": "ok", "event": {...}}``; 400 when the
  title is missing or longer than 100 characters or the text longer than 4000.
- ``POST /api/v1/series`` (DD-API-KEY): 202 ``{"status": "ok"}``; like Datadog it silently drops
  points more than an hour old or ten minutes in the future (``points`` keeps what it kept).

``fail(status, times, method=, path=, after_apply=, headers=, lost=)`` scripts faults;
``after_apply`` applies a write and then answers the error (an answer lost on the way back),
``lost`` applies it and drops the connection with no answer at all. A 429 carries Datadog's
rate-limit headers (X-RateLimit-Limit/-Period/-Remaining/-Reset) unless ``headers`` says
otherwise.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakes import LOST, FakeHTTP, Request

TYPES = {"composite", "event alert", "log alert", "metric alert", "process alert", "query alert", "rum alert",
         "service check", "synthetics alert", "trace-analytics alert", "slo alert", "event-v2 alert",
         "audit alert", "ci-pipelines alert", "ci-tests alert", "error-tracking alert"}
_QUERY = re.compile(r"^\s*(change|pct_change)?\(?\w*\(last_\d+[mhd]\)(,\s*\d+[mhd]_ago)?\)?:.+?"
                    r"(<=|>=|==|!=|<|>)\s*(-?\d+(\.\d+)?)\s*$")
DEFAULT_OPTIONS = {"notify_audit": False, "include_tags": True, "new_host_delay": 300, "silenced": {},
                   "notify_no_data": False, "require_full_window": True}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


class FakeDatadog:
    def __init__(self, api_key: str = "dd-api-test-1234", app_key: str = "dd-app-test-5678") -> None:
        self.api_key = api_key
        self.app_key = app_key
        self.monitors: dict[int, dict[str, Any]] = {}
        self.writes: list[tuple[str, str]] = []  # (method, path) of every applied write
        self._faults: list[dict[str, Any]] = []
        self._next_id = 1000
        self.hang = 0.0  # seconds /api/v1/validate waits before answering
        self.http = FakeHTTP()
        self.http.on("GET", "/api/v1/validate", self._validate_key)
        self.http.on("GET", "/api/v1/monitor", self._get)
        self.http.on("POST", "/api/v1/monitor", self._create)
        self.http.on("POST", "/api/v1/monitor/validate", self._validate_monitor)
        self.http.on("PUT", "/api/v1/monitor/", self._update)
        self.http.on("DELETE", "/api/v1/monitor/", self._delete)
        self.http.on("POST", "/api/v1/events", self._event)
        self.http.on("POST", "/api/v1/series", self._series)
        self.events: list[dict[str, Any]] = []
        self.points: list[dict[str, Any]] = []  # {"metric", "ts", "value", "type", "tags"}

    # -- test helpers -----------------------------------------------------------
    @property
    def url(self) -> str:
        return self.http.url

    @property
    def requests(self) -> list[Request]:
        return self.http.requests

    def close(self) -> None:
        self.http.close()

    def fail(self, status: int, times: int = 1, *, method: str | None = None, path: str | None = None,
             after_apply: bool = False, headers: dict[str, str] | None = None, lost: bool = False) -> None:
        if headers is None and status == 429:
            headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Period": "10", "X-RateLimit-Remaining": "0",
                       "X-RateLimit-Reset": "1"}
        self._faults.append({"status": status, "times": times, "method": method, "path": path,
                             "after_apply": after_apply or lost, "lost": lost, "headers": headers or {}})

    def add(self, name: str, *, query: str = "avg(last_5m):avg:system.load.1{*} > 4", tags: list[str] | None = None,
            mtype: str = "query alert", options: dict[str, Any] | None = None, message: str = "") -> int:
        """A monitor made by someone else (by hand, another tool)."""
        return self._store({"name": name, "type": mtype, "query": query, "message": message, "tags": tags or [],
                            "options": options or {"thresholds": {"critical": 4}}, "priority": None})["id"]

    # -- faults and auth ----------------------------------------------------------
    def _fault(self, req: Request) -> dict[str, Any] | None:
        path = urlsplit(req.path).path
        for f in self._faults:
            if f["times"] > 0 and (f["method"] is None or f["method"] == req.method) \
                    and (f["path"] is None or f["path"] == path):
                f["times"] -= 1
                return f
        return None

    @staticmethod
    def _err(status: int, *errors: str) -> tuple[int, Any]:
        return status, {"errors": list(errors)}

    def _fault_answer(self, fault: dict[str, Any]) -> Any:
        if fault["lost"]:
            return LOST
        status = fault["status"]
        return status, {"errors": ["Internal Server Error" if status >= 500 else "Too many requests"]}, fault["headers"]

    def _auth(self, req: Request, *, app: bool = True) -> tuple[int, Any] | None:
        if req.headers.get("dd-api-key") != self.api_key:
            return self._err(403, "Forbidden")
        if app and req.headers.get("dd-application-key") != self.app_key:
            return self._err(403, "Forbidden")
        return None

    def _guard(self, req: Request, apply: Any) -> tuple[int, Any]:
        denied = self._auth(req)
        if denied:
            return denied
        fault = self._fault(req)
        if fault and not fault["after_apply"]:
            return self._fault_answer(fault)
        out = apply()
        if fault:
            return self._fault_answer(fault)
        return out

    # -- routes -----------------------------------------------------------------
    def _validate_key(self, req: Request) -> tuple[int, Any]:
        time.sleep(self.hang)
        if req.headers.get("dd-api-key") != self.api_key:
            return self._err(403, "Forbidden")
        return 200, {"valid": True}

    def _problems(self, body: Any) -> list[str]:
        if not isinstance(body, dict):
            return ["Invalid JSON"]
        problems = []
        if body.get("type") not in TYPES:
            problems.append(f"Invalid monitor type: {body.get('type')!r}")
        query = body.get("query")
        if not isinstance(query, str) or not query:
            problems.append("The value provided for parameter 'query' is invalid")
        elif body.get("type") in ("query alert", "metric alert"):
            m = _QUERY.match(query)
            if not m:
                problems.append("The value provided for parameter 'query' is invalid")
            else:
                critical = ((body.get("options") or {}).get("thresholds") or {}).get("critical")
                if critical is not None and float(critical) != float(m.group(4)):
                    problems.append(f"Alert threshold ({float(critical)}) does not match that used in the query "
                                    f"({float(m.group(4))}).")
        priority = body.get("priority")
        if priority is not None and priority not in (1, 2, 3, 4, 5):
            problems.append("Priority must be between 1 and 5")
        return problems

    def _validate_monitor(self, req: Request) -> tuple[int, Any]:
        def apply() -> tuple[int, Any]:
            problems = self._problems(req.json())
            return (400, {"errors": problems}) if problems else (200, {})

        return self._guard(req, apply)

    def _store(self, body: dict[str, Any], monitor_id: int | None = None) -> dict[str, Any]:
        options = {**DEFAULT_OPTIONS, **(body.get("options") or {})}
        if "thresholds" in options:  # Datadog answers thresholds as floats
            options["thresholds"] = {k: float(v) for k, v in options["thresholds"].items()}
        if monitor_id is None:
            self._next_id += 1
            monitor_id = self._next_id
            base = {"id": monitor_id, "created": _now(), "overall_state": "No Data", "multi": False,
                    "creator": {"email": "muse@example.com", "handle": "muse@example.com", "name": "muse"},
                    "deleted": None, "restricted_roles": None}
        else:
            base = self.monitors[monitor_id]
        monitor = {**base, "name": body.get("name", base.get("name")), "type": body.get("type", base.get("type")),
                   "query": body.get("query", base.get("query")), "message": body.get("message", ""),
                   "tags": list(body.get("tags") or []), "priority": body.get("priority"),
                   "options": options, "modified": _now()}
        self.monitors[monitor_id] = monitor
        return monitor

    def _get(self, req: Request) -> tuple[int, Any]:
        denied = self._auth(req)
        if denied:
            return denied
        fault = self._fault(req)
        if fault:
            return self._fault_answer(fault)
        parts = urlsplit(req.path)
        tail = parts.path[len("/api/v1/monitor"):].strip("/")
        if tail:
            m = self.monitors.get(int(tail)) if tail.isdigit() else None
            return (200, m) if m else self._err(404, "Monitor not found")
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        out = sorted(self.monitors.values(), key=lambda m: m["id"])
        if q.get("name"):
            out = [m for m in out if q["name"].lower() in m["name"].lower()]
        if q.get("monitor_tags"):
            want = [t.strip() for t in q["monitor_tags"].split(",") if t.strip()]
            out = [m for m in out if all(t in m["tags"] for t in want)]
        if "page" in q:
            size = int(q.get("page_size", 100))
            start = int(q["page"]) * size
            out = out[start:start + size]
        return 200, out

    def _create(self, req: Request) -> tuple[int, Any]:
        def apply() -> tuple[int, Any]:
            body = req.json()
            problems = self._problems(body)
            if problems:
                return 400, {"errors": problems}
            self.writes.append(("POST", "/api/v1/monitor"))
            return 200, self._store(body)

        return self._guard(req, apply)

    def _update(self, req: Request) -> tuple[int, Any]:
        def apply() -> tuple[int, Any]:
            tail = urlsplit(req.path).path.rsplit("/", 1)[-1]
            if not tail.isdigit() or int(tail) not in self.monitors:
                return self._err(404, "Monitor not found")
            body = req.json()
            merged = {**self.monitors[int(tail)], **body}
            problems = self._problems(merged)
            if problems:
                return 400, {"errors": problems}
            self.writes.append(("PUT", f"/api/v1/monitor/{tail}"))
            return 200, self._store(merged, int(tail))

        return self._guard(req, apply)

    def _delete(self, req: Request) -> tuple[int, Any]:
        def apply() -> tuple[int, Any]:
            tail = urlsplit(req.path).path.rsplit("/", 1)[-1]
            if not tail.isdigit() or int(tail) not in self.monitors:
                return self._err(404, "Monitor not found")
            del self.monitors[int(tail)]
            self.writes.append(("DELETE", f"/api/v1/monitor/{tail}"))
            return 200, {"deleted_monitor_id": int(tail)}

        return self._guard(req, apply)

    # -- events and series (API key only) -------------------------------------------------
    def _event(self, req: Request) -> Any:
        def apply() -> tuple[int, Any]:
            body = req.json()
            if not isinstance(body, dict) or not body.get("title"):
                return self._err(400, "Event title is required")
            if len(body["title"]) > 100:
                return self._err(400, "Event title is limited to 100 characters")
            if len(body.get("text") or "") > 4000:
                return self._err(400, "Event text is limited to 4000 characters")
            event = {**body, "id": 5000 + len(self.events), "url": f"/event/event?id={5000 + len(self.events)}"}
            self.events.append(event)
            return 202, {"status": "ok", "event": event}

        return self._guard_key(req, apply)

    def _series(self, req: Request) -> Any:
        def apply() -> tuple[int, Any]:
            body = req.json()
            if not isinstance(body, dict) or not isinstance(body.get("series"), list):
                return self._err(400, "Payload is not in the expected format: invalid JSON structure")
            now = time.time()
            for s in body["series"]:
                for ts, value in s.get("points") or []:
                    if now - 3600 <= float(ts) <= now + 600:  # Datadog drops the others, silently
                        self.points.append({"metric": s.get("metric"), "ts": float(ts), "value": value,
                                            "type": s.get("type"), "tags": list(s.get("tags") or [])})
            return 202, {"status": "ok"}

        return self._guard_key(req, apply)

    def _guard_key(self, req: Request, apply: Any) -> Any:
        denied = self._auth(req, app=False)
        if denied:
            return denied
        fault = self._fault(req)
        if fault and not fault["after_apply"]:
            return self._fault_answer(fault)
        out = apply()
        return self._fault_answer(fault) if fault else out
