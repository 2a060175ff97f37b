"""A loopback Vercel REST API for the publisher's tests.

Follows Vercel's documented endpoints, payloads and errors for what muse uses:

* ``POST /v13/deployments`` (body ``name`` required; ``gitSource`` ``{type: github, org+repo
  or repoId, ref, sha}``; ``target``) -> the deployment (``id``, ``url``, ``readyState``, ...);
* ``GET /v13/deployments/{idOrUrl}`` -> the deployment; each call advances it one step
  through its script of readyState values (QUEUED, INITIALIZING, BUILDING, then READY,
  ERROR or CANCELED), setting ``buildingAt`` / ``ready`` (ms timestamps) on the way;
* ``GET /v6/deployments`` with ``projectId``, ``target``, ``state``, ``sha``, ``limit`` ->
  ``{"deployments": [{uid, url, created, state, readyState, target, meta, projectId}], "pagination"}``
  newest first;
* ``PATCH /v12/deployments/{id}/cancel``;
* ``POST /v1/projects/{projectId}/rollback/{deploymentId}`` -> 201;
* ``POST /v10/projects/{projectId}/promote/{deploymentId}`` -> 201;
* a Deploy Hook ``POST /v1/integrations/deploy/{projectId}/{key}`` -> ``{"job": {id, state, createdAt}}``.

Errors are ``{"error": {"code", "message"}}`` with the documented status codes; a 429 carries
``Retry-After`` and ``X-RateLimit-*`` headers and a ``rate_limited`` body with ``limit``.
Tests script faults through attributes (``script``, ``rate_limit_next``, ``fail_gets``,
``block_create``).
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from fakes import FakeHTTP, Request

TERMINAL = ("READY", "ERROR", "CANCELED")
_ids = itertools.count(1)


def _err(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> tuple:
    return (status, {"error": {"code": code, "message": message}}, headers or {})


class FakeVercel:
    def __init__(self, *, token: str = "vercel-test-token", team_id: str = "", project: str = "banterblogs",
                 project_id: str = "prj_banterblogs7Qx") -> None:
        self.token = token
        self.team_id = team_id
        self.project = project
        self.project_id = project_id
        self.http = FakeHTTP()
        self._lock = threading.Lock()
        self.reset()
        h = self.http
        h.on("POST", "/v13/deployments", self._api(self._create))
        h.on("GET", "/v13/deployments/", self._api(self._get))
        h.on("GET", "/v6/deployments", self._api(self._list))
        h.on("PATCH", "/v12/deployments/", self._api(self._cancel))
        h.on("POST", "/v1/projects/", self._api(self._rollback))
        h.on("POST", "/v10/projects/", self._api(self._promote))
        h.on("POST", "/v1/integrations/deploy/", self._hook)

    def reset(self) -> None:
        """Forget every deployment and scripted fault (one server serves a whole test module)."""
        if getattr(self, "block_create", None) is not None:
            self.block_create.set()
        self.http.requests.clear()
        self.deployments: dict[str, dict[str, Any]] = {}
        self.script: list[str] = ["QUEUED", "BUILDING", "READY"]  # states of the next deployment, one per GET
        self.build_ms = 1234
        self.rate_limit_next = 0  # answer this many API calls with 429
        self.retry_after = "1"
        self.fail_gets = 0  # answer this many GET /v13/deployments/{id} with 500
        self.lose_creates = 0  # create this many deployments but answer 502 (a gateway lost the reply)
        self.block_create: threading.Event | None = None  # hold POST /v13/deployments until set
        self.create_seen = threading.Event()
        self.rollback_error: tuple[int, str, str] | None = None  # answer rollbacks with this error
        self.rollbacks: list[str] = []
        self.promotions: list[str] = []
        self.cancels: list[str] = []
        self.hook_calls = 0
        self.created_bodies: list[dict[str, Any]] = []

    # -- plumbing -----------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.http.url

    @property
    def hook_url(self) -> str:
        return f"{self.url}/v1/integrations/deploy/{self.project_id}/hOoKsEcReT"

    @property
    def requests(self) -> list[Request]:
        return self.http.requests

    def close(self) -> None:
        if self.block_create is not None:
            self.block_create.set()
        self.http.close()

    def calls(self, method: str, prefix: str) -> list[Request]:
        return [r for r in self.http.requests if r.method == method and r.path.startswith(prefix)]

    def _api(self, handler: Callable[[Request, dict[str, list[str]], list[str]], tuple]) -> Callable[[Request], tuple]:
        def wrapped(req: Request) -> tuple:
            if req.headers.get("authorization") != f"Bearer {self.token}":
                return _err(403, "forbidden", "Not authorized")
            split = urlsplit(req.path)
            query = parse_qs(split.query)
            if self.team_id and query.get("teamId", [""])[0] != self.team_id:
                return _err(403, "forbidden", "You don't have permission to access this team's resources")
            with self._lock:
                if self.rate_limit_next > 0:
                    self.rate_limit_next -= 1
                    reset = int(time.time()) + int(float(self.retry_after))
                    return (429, {"error": {"code": "rate_limited", "message": "Too many requests, try again later",
                                            "limit": {"remaining": 0, "reset": reset, "resetMs": reset * 1000,
                                                      "total": 100}}},
                            {"Retry-After": self.retry_after, "X-RateLimit-Limit": "100",
                             "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
            return handler(req, query, [p for p in split.path.split("/") if p])
        return wrapped

    def _matches_project(self, value: str) -> bool:
        return value in (self.project, self.project_id)

    # -- deployments ----------------------------------------------------------------
    def seed(self, sha: str, *, state: str = "READY", target: str | None = "production",
             created: int | None = None) -> str:
        """An existing deployment (e.g. the production deployment before the episode)."""
        dep_id = f"dpl_seed{next(_ids)}"
        now = created or int(time.time() * 1000) - 3_600_000
        self.deployments[dep_id] = {
            "id": dep_id, "name": self.project, "projectId": self.project_id,
            "url": f"{self.project}-{dep_id[4:].lower()}.vercel.app", "createdAt": now, "buildingAt": now + 100,
            "ready": now + 100 + self.build_ms if state == "READY" else None, "readyState": state,
            "target": target, "meta": {"githubCommitSha": sha, "githubCommitRef": "main"}, "_script": [state],
        }
        return dep_id

    def _create(self, req: Request, query: dict, parts: list[str]) -> tuple:
        body = req.json()
        if not isinstance(body, dict) or not body.get("name"):
            return _err(400, "bad_request", "Invalid request: missing required property `name`.")
        src = body.get("gitSource")
        if src is not None:
            ok = (src.get("type") in ("github", "github-limited") and src.get("ref")
                  and (src.get("repoId") or (src.get("org") and src.get("repo"))))
            if not ok:
                return _err(400, "bad_request", "Invalid request: `gitSource` should have required properties.")
        self.created_bodies.append(body)
        dep_id = f"dpl_{next(_ids)}{int(time.time() * 1000) % 100000}"
        now = int(time.time() * 1000)
        script = list(self.script) or ["READY"]
        dep = {
            "id": dep_id, "name": body["name"], "projectId": self.project_id,
            "url": f"{self.project}-{dep_id[4:].lower()}.vercel.app", "createdAt": now, "buildingAt": None,
            "ready": None, "readyState": script[0], "target": body.get("target"),
            "meta": {"githubCommitSha": (src or {}).get("sha", ""), "githubCommitRef": (src or {}).get("ref", "")},
            "gitSource": src, "_script": script,
        }
        self._apply_state(dep, script[0])
        with self._lock:
            self.deployments[dep_id] = dep
        if self.lose_creates > 0:
            self.lose_creates -= 1
            return _err(502, "bad_gateway", "An error occurred with your deployment")
        if self.block_create is not None:
            # The deployment exists at "Vercel"; the caller has not heard back yet.
            self.create_seen.set()
            self.block_create.wait(timeout=60)
        return 200, self._public(dep)

    def _apply_state(self, dep: dict[str, Any], state: str) -> None:
        dep["readyState"] = state
        now = int(time.time() * 1000)
        if state in ("BUILDING", "READY", "ERROR") and not dep.get("buildingAt"):
            dep["buildingAt"] = now
        if state == "READY":
            dep["ready"] = dep["buildingAt"] + self.build_ms
        if state == "ERROR":
            dep["errorCode"] = "BUILD_FAILED"
            dep["errorMessage"] = 'Command "npm run build" exited with 1'

    def _public(self, dep: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in dep.items() if not k.startswith("_")}

    def _find(self, id_or_url: str) -> dict[str, Any] | None:
        return self.deployments.get(id_or_url) or next(
            (d for d in self.deployments.values() if d["url"] == id_or_url), None)

    def _get(self, req: Request, query: dict, parts: list[str]) -> tuple:
        dep = self._find(parts[2]) if len(parts) > 2 else None
        if dep is None:
            return _err(404, "not_found", "Deployment not found")
        with self._lock:
            if self.fail_gets > 0:
                self.fail_gets -= 1
                return _err(500, "internal_server_error", "An unexpected internal error occurred")
            script = dep["_script"]
            if dep["readyState"] not in TERMINAL:
                i = script.index(dep["readyState"]) if dep["readyState"] in script else 0
                if i + 1 < len(script):
                    self._apply_state(dep, script[i + 1])
        return 200, self._public(dep)

    def _list(self, req: Request, query: dict, parts: list[str]) -> tuple:
        q = {k: v[0] for k, v in query.items()}
        out = []
        for d in self.deployments.values():
            if q.get("projectId") and not self._matches_project(q["projectId"]):
                continue
            if q.get("target") and d.get("target") != q["target"]:
                continue
            if q.get("state") and d["readyState"] not in q["state"].split(","):
                continue
            if q.get("sha") and d["meta"].get("githubCommitSha") != q["sha"]:
                continue
            out.append({"uid": d["id"], "name": d["name"], "projectId": d["projectId"], "url": d["url"],
                        "created": d["createdAt"], "createdAt": d["createdAt"], "buildingAt": d.get("buildingAt"),
                        "ready": d.get("ready"), "state": d["readyState"], "readyState": d["readyState"],
                        "target": d.get("target"), "meta": d["meta"], "type": "LAMBDAS",
                        "creator": {"uid": "user_1"}, "inspectorUrl": None,
                        "isRollbackCandidate": d["readyState"] == "READY" and d.get("target") == "production"})
        out.sort(key=lambda d: d["created"], reverse=True)
        limit = int(q.get("limit", 20))
        return 200, {"deployments": out[:limit], "pagination": {"count": min(len(out), limit), "next": None,
                                                                "prev": None}}

    def _cancel(self, req: Request, query: dict, parts: list[str]) -> tuple:
        dep = self._find(parts[2]) if len(parts) > 2 else None
        if dep is None:
            return _err(404, "not_found", "Deployment not found")
        if dep["readyState"] in TERMINAL:
            return _err(400, "bad_request", "Deployment is not building and cannot be canceled")
        self.cancels.append(dep["id"])
        dep["readyState"] = "CANCELED"
        dep["_script"] = ["CANCELED"]
        return 200, self._public(dep)

    def _rollback(self, req: Request, query: dict, parts: list[str]) -> tuple:
        # /v1/projects/{projectId}/rollback/{deploymentId}
        if len(parts) != 5 or parts[3] != "rollback":
            return _err(404, "not_found", "The requested endpoint does not exist")
        if not self._matches_project(parts[2]):
            return _err(404, "not_found", "Project not found")
        dep = self.deployments.get(parts[4])
        if dep is None:
            return _err(404, "not_found", "Deployment not found")
        if dep["readyState"] != "READY" or dep.get("target") != "production":
            return _err(409, "conflict", "Only READY production deployments can be rolled back to")
        if self.rollback_error is not None:
            return _err(*self.rollback_error)
        self.rollbacks.append(dep["id"])
        return 201, b""

    def _promote(self, req: Request, query: dict, parts: list[str]) -> tuple:
        # /v10/projects/{projectId}/promote/{deploymentId}
        if len(parts) != 5 or parts[3] != "promote" or not self._matches_project(parts[2]):
            return _err(404, "not_found", "Project not found")
        if parts[4] not in self.deployments:
            return _err(404, "not_found", "Deployment not found")
        self.promotions.append(parts[4])
        return 201, b""

    def _hook(self, req: Request) -> tuple:
        self.hook_calls += 1
        return 201, {"job": {"id": f"job{next(_ids)}", "state": "PENDING", "createdAt": int(time.time() * 1000)}}
