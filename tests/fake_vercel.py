"""A loopback Vercel REST API: the one Vercel fake of the test suite (publisher, i18n, health probes).

Follows Vercel's documented endpoints, payloads and errors for what muse uses, and is as
unkind as the real service:

* ``POST /v13/deployments`` (body ``name`` required; ``gitSource`` ``{type: github, org+repo
  or repoId, ref, sha}``; ``target``) -> the deployment (``id``, ``url``, ``readyState``, ...);
* ``GET /v13/deployments/{idOrUrl}`` -> the deployment. Its ``readyState`` follows WALL TIME
  through its script (QUEUED, INITIALIZING, BUILDING, then READY, ERROR or CANCELED), one
  state every ``step_seconds``, however often it is asked; ``buildingAt`` / ``ready`` are ms
  timestamps. A READY production deployment carries ``readySubstate`` (``PROMOTED``: it was
  assigned production; ``STAGED``: never served production) and ``aliasAssigned``;
* production pinning: after a rollback (``POST /v1/projects/{projectId}/rollback/{deploymentId}``,
  201, applied asynchronously after ``alias_seconds``), Vercel stops assigning production to
  new deployments: they become READY but ``STAGED`` (``aliasAssigned`` null) until one is
  promoted (``POST /v10/projects/{projectId}/promote/{deploymentId}``, 201, also
  asynchronous). Rolling back to the deployment that is already production pins it too;
* ``GET /v9/projects/{idOrName}`` -> the project with ``targets.production`` (the deployment
  production serves) and ``lastAliasRequest`` (``{fromDeploymentId, toDeploymentId,
  jobStatus, requestedAt, type}`` of the last rollback or promote);
* ``GET /v6/deployments`` with ``projectId``, ``target``, ``state``, ``sha``, ``limit`` ->
  ``{"deployments": [{uid, url, created, state, readyState, readySubstate, target, meta,
  isRollbackCandidate, ...}], "pagination"}`` newest first;
* ``PATCH /v12/deployments/{id}/cancel`` -> the deployment, ``readyState: CANCELED``;
* a Deploy Hook ``POST /v1/integrations/deploy/{projectId}/{key}`` -> ``{"job": {id, state, createdAt}}``.

Errors are ``{"error": {"code", "message"}}`` with the documented status codes. A 429
carries ``X-RateLimit-*`` headers and a ``rate_limited`` body with ``limit``; ``Retry-After``
only when ``retry_after`` is set (None: the reset header is all a client gets).
Tests script faults through attributes (``script``, ``step_seconds``, ``rate_limit_next``,
``rate_limit_only``, ``fail_gets``, ``lose_creates``, ``block_create``, ``rollback_error``,
``promote_error``, ``hook_faults``, ``hang``) and change production as a person would in the dashboard
(``external_rollback``).
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from fakes import FakeHTTP, Request

TERMINAL = ("READY", "ERROR", "CANCELED")
_ids = itertools.count(1)


def _err(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> tuple:
    return (status, {"error": {"code": code, "message": message}}, headers or {})


def _ms() -> int:
    return int(time.time() * 1000)


class FakeVercel:
    def __init__(self, *, token: str = "vercel-test-token", team_id: str = "", project: str = "banterblogs",
                 project_id: str = "prj_banterblogs7Qx") -> None:
        self.token = token
        self.team_id = team_id
        self.project = project
        self.project_id = project_id
        self.http = FakeHTTP()
        self._lock = threading.RLock()
        self.reset()
        h = self.http
        h.on("POST", "/v13/deployments", self._api(self._create))
        h.on("GET", "/v13/deployments/", self._api(self._get))
        h.on("GET", "/v6/deployments", self._api(self._list))
        h.on("GET", "/v9/projects/", self._api(self._project))
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
        self.script: list[str] = ["QUEUED", "BUILDING", "READY"]  # states of the next deployment
        self.step_seconds = 0.1  # wall time each state before the last lasts
        self.alias_seconds = 0.1  # a rollback or promote takes effect this long after it is accepted
        self.build_ms = 1234
        self.rate_limit_next = 0  # answer this many API calls with 429
        self.rate_limit_only: tuple[str, str] | None = None  # (method, path prefix) the 429s apply to
        self.retry_after: str | None = "1"  # None: 429s carry only X-RateLimit-Reset
        self.fail_gets = 0  # answer this many GET /v13/deployments/{id} with 500
        self.lose_creates = 0  # create this many deployments but answer 502 (a gateway lost the reply)
        self.block_create: threading.Event | None = None  # hold POST /v13/deployments until set
        self.create_seen = threading.Event()
        self.rollback_error: tuple[int, str, str] | None = None  # answer rollbacks with this error
        self.promote_error: tuple[int, str, str] | None = None
        self.hang = 0.0  # seconds every API answer waits (timeouts)
        self.rollbacks: list[str] = []
        self.promotions: list[str] = []
        self.cancels: list[str] = []
        self.hook_calls = 0
        self.hook_faults: list[int] = []  # the next Deploy Hook calls answer these statuses
        self.created_bodies: list[dict[str, Any]] = []
        self.production: str | None = None  # the deployment production serves
        self.pinned = False  # a rollback pinned production: new deployments stay STAGED
        self._alias_jobs: list[dict[str, Any]] = []
        self.last_alias_request: dict[str, Any] | None = None

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
            if self.hang:
                time.sleep(self.hang)
            if req.headers.get("authorization") != f"Bearer {self.token}":
                return _err(403, "forbidden", "Not authorized")
            split = urlsplit(req.path)
            query = parse_qs(split.query)
            if self.team_id and query.get("teamId", [""])[0] != self.team_id:
                return _err(403, "forbidden", "You don't have permission to access this team's resources")
            with self._lock:
                limited = self.rate_limit_only is None or (
                    req.method == self.rate_limit_only[0] and split.path.startswith(self.rate_limit_only[1]))
                if self.rate_limit_next > 0 and limited:
                    self.rate_limit_next -= 1
                    wait = int(float(self.retry_after)) if self.retry_after is not None else 1
                    reset = int(time.time()) + wait
                    headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0",
                               "X-RateLimit-Reset": str(reset)}
                    if self.retry_after is not None:
                        headers["Retry-After"] = self.retry_after
                    return (429, {"error": {"code": "rate_limited", "message": "Too many requests, try again later",
                                            "limit": {"remaining": 0, "reset": reset, "resetMs": reset * 1000,
                                                      "total": 100}}}, headers)
                self._advance_all()
                return handler(req, query, [p for p in split.path.split("/") if p])
        return wrapped

    def _matches_project(self, value: str) -> bool:
        return unquote(value) in (self.project, self.project_id)

    # -- wall-time state ----------------------------------------------------------------
    def _advance_all(self) -> None:
        now = time.monotonic()
        for job in list(self._alias_jobs):
            if now >= job["due"]:
                self._alias_jobs.remove(job)
                self._apply_alias(job)
        for dep in self.deployments.values():
            self._advance(dep)

    def _advance(self, dep: dict[str, Any]) -> None:
        if dep["readyState"] in TERMINAL:
            return
        script = dep["_script"] or ["READY"]
        i = min(int((time.monotonic() - dep["_born"]) / self.step_seconds), len(script) - 1)
        if script[i] != dep["readyState"]:
            self._apply_state(dep, script[i])

    def _apply_state(self, dep: dict[str, Any], state: str) -> None:
        dep["readyState"] = state
        now = _ms()
        if state in ("BUILDING", "READY", "ERROR") and not dep.get("buildingAt"):
            dep["buildingAt"] = now
        if state == "READY":
            dep["ready"] = dep["buildingAt"] + self.build_ms
            if dep.get("target") == "production":
                if self.pinned:
                    dep["readySubstate"] = "STAGED"  # built, but production stays where the rollback put it
                else:
                    self._assign(dep)
                    dep["readySubstate"] = "PROMOTED"
            else:
                dep["readySubstate"] = "STAGED"
        if state == "ERROR":
            dep["errorCode"] = "BUILD_FAILED"
            dep["errorMessage"] = 'Command "npm run build" exited with 1'

    def _assign(self, dep: dict[str, Any]) -> None:
        dep["aliasAssigned"] = _ms()
        dep["readySubstate"] = "PROMOTED"
        self.production = dep["id"]

    def _apply_alias(self, job: dict[str, Any]) -> None:
        dep = self.deployments[job["to"]]
        self._assign(dep)
        self.pinned = job["type"] == "rollback"
        if self.last_alias_request is not None:
            self.last_alias_request["jobStatus"] = "succeeded"

    def _queue_alias(self, kind: str, dep_id: str) -> None:
        self.last_alias_request = {"fromDeploymentId": self.production, "toDeploymentId": dep_id,
                                   "jobStatus": "in-progress", "requestedAt": _ms(), "type": kind}
        self._alias_jobs.append({"type": kind, "to": dep_id, "due": time.monotonic() + self.alias_seconds})

    def external_rollback(self, dep_id: str) -> None:
        """Someone rolled production back in the dashboard or with `vercel rollback`."""
        with self._lock:
            self._advance_all()
            self._assign(self.deployments[dep_id])
            self.pinned = True
            self.last_alias_request = {"fromDeploymentId": None, "toDeploymentId": dep_id, "jobStatus": "succeeded",
                                       "requestedAt": _ms(), "type": "rollback"}

    def live_sha(self) -> str | None:
        """The commit production serves (what a visitor of the site gets)."""
        with self._lock:
            self._advance_all()
            dep = self.deployments.get(self.production or "")
            return dep["meta"]["githubCommitSha"] if dep else None

    # -- deployments ----------------------------------------------------------------
    def seed(self, sha: str, *, state: str = "READY", target: str | None = "production",
             created: int | None = None) -> str:
        """An existing deployment (e.g. the production deployment before the episode)."""
        dep_id = f"dpl_seed{next(_ids)}"
        now = created or _ms() - 3_600_000
        dep = {
            "id": dep_id, "name": self.project, "projectId": self.project_id,
            "url": f"{self.project}-{dep_id[4:].lower()}.vercel.app", "createdAt": now, "buildingAt": now + 100,
            "ready": now + 100 + self.build_ms if state == "READY" else None, "readyState": state,
            "readySubstate": None, "aliasAssigned": None,
            "target": target, "meta": {"githubCommitSha": sha, "githubCommitRef": "main"}, "_script": [state],
            "_born": time.monotonic(),
        }
        with self._lock:
            self.deployments[dep_id] = dep
            if state == "READY" and target == "production":
                current = self.deployments.get(self.production or "")
                if current is None or current["createdAt"] <= now:
                    self._assign(dep)
                else:
                    dep["aliasAssigned"], dep["readySubstate"] = now, "PROMOTED"  # served production once
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
        dep_id = f"dpl_{next(_ids)}{_ms() % 100000}"
        script = list(self.script) or ["READY"]
        dep = {
            "id": dep_id, "name": body["name"], "projectId": self.project_id,
            "url": f"{self.project}-{dep_id[4:].lower()}.vercel.app", "createdAt": _ms(), "buildingAt": None,
            "ready": None, "readyState": "", "readySubstate": None, "aliasAssigned": None,
            "target": body.get("target"),
            "meta": {"githubCommitSha": (src or {}).get("sha", ""), "githubCommitRef": (src or {}).get("ref", "")},
            "gitSource": src, "_script": script, "_born": time.monotonic(),
        }
        self._apply_state(dep, script[0])
        self.deployments[dep_id] = dep
        if self.lose_creates > 0:
            self.lose_creates -= 1
            return _err(502, "bad_gateway", "An error occurred with your deployment")
        if self.block_create is not None:
            # The deployment exists at "Vercel"; the caller has not heard back yet.
            self.create_seen.set()
            self._lock.release()
            try:
                self.block_create.wait(timeout=60)
            finally:
                self._lock.acquire()
        return 200, self._public(dep)

    def _public(self, dep: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in dep.items() if not k.startswith("_")}
        if out["readyState"] != "READY":
            out["readySubstate"] = None
        return out

    def _find(self, id_or_url: str) -> dict[str, Any] | None:
        return self.deployments.get(id_or_url) or next(
            (d for d in self.deployments.values() if d["url"] == id_or_url), None)

    def _get(self, req: Request, query: dict, parts: list[str]) -> tuple:
        dep = self._find(parts[2]) if len(parts) > 2 else None
        if dep is None:
            return _err(404, "not_found", "Deployment not found")
        if self.fail_gets > 0:
            self.fail_gets -= 1
            return _err(500, "internal_server_error", "An unexpected internal error occurred")
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
            ready = d["readyState"] == "READY"
            out.append({"uid": d["id"], "name": d["name"], "projectId": d["projectId"], "url": d["url"],
                        "created": d["createdAt"], "createdAt": d["createdAt"], "buildingAt": d.get("buildingAt"),
                        "ready": d.get("ready"), "state": d["readyState"], "readyState": d["readyState"],
                        "readySubstate": d.get("readySubstate") if ready else None,
                        "target": d.get("target"), "meta": d["meta"], "type": "LAMBDAS",
                        "creator": {"uid": "user_1"}, "inspectorUrl": None,
                        # Instant Rollback only goes to deployments that have served production.
                        "isRollbackCandidate": ready and d.get("target") == "production"
                        and d.get("readySubstate") == "PROMOTED"})
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

    # -- projects -------------------------------------------------------------------------
    def _project(self, req: Request, query: dict, parts: list[str]) -> tuple:
        # /v9/projects/{idOrName}
        if len(parts) != 3 or not self._matches_project(parts[2]):
            return _err(404, "not_found", "Project not found")
        prod = self.deployments.get(self.production or "")
        production = None
        if prod is not None:
            production = {"id": prod["id"], "url": prod["url"], "alias": [f"{self.project}.vercel.app"],
                          "readyState": prod["readyState"], "readySubstate": prod.get("readySubstate"),
                          "createdAt": prod["createdAt"], "target": "production", "meta": prod["meta"]}
        return 200, {"id": self.project_id, "name": self.project, "accountId": "team_x",
                     "targets": {"production": production} if production else {},
                     "lastAliasRequest": dict(self.last_alias_request) if self.last_alias_request else None}

    def _rollback(self, req: Request, query: dict, parts: list[str]) -> tuple:
        # /v1/projects/{projectId}/rollback/{deploymentId}
        if len(parts) != 5 or parts[3] != "rollback":
            return _err(404, "not_found", "The requested endpoint does not exist")
        if not self._matches_project(parts[2]):
            return _err(404, "not_found", "Project not found")
        dep = self.deployments.get(parts[4])
        if dep is None:
            return _err(404, "not_found", "Deployment not found")
        if dep["readyState"] != "READY" or dep.get("target") != "production" \
                or dep.get("readySubstate") != "PROMOTED":
            return _err(409, "conflict", "Only READY production deployments that served production can be "
                                         "rolled back to")
        if self.rollback_error is not None:
            return _err(*self.rollback_error)
        self.rollbacks.append(dep["id"])
        self._queue_alias("rollback", dep["id"])
        return 201, b""

    def _promote(self, req: Request, query: dict, parts: list[str]) -> tuple:
        # /v10/projects/{projectId}/promote/{deploymentId}
        if len(parts) != 5 or parts[3] != "promote" or not self._matches_project(parts[2]):
            return _err(404, "not_found", "Project not found")
        dep = self.deployments.get(parts[4])
        if dep is None:
            return _err(404, "not_found", "Deployment not found")
        if dep["readyState"] != "READY":
            return _err(400, "bad_request", "Only READY deployments can be promoted")
        if self.promote_error is not None:
            return _err(*self.promote_error)
        self.promotions.append(parts[4])
        self._queue_alias("promote", dep["id"])
        return 201, b""

    def _hook(self, req: Request) -> tuple:
        self.hook_calls += 1
        if self.hook_faults:
            status = self.hook_faults.pop(0)
            if status == 404:
                return _err(404, "not_found", "Deploy Hook not found")
            return _err(status, "internal_server_error", "An unexpected internal error occurred")
        return 201, {"job": {"id": f"job{next(_ids)}", "state": "PENDING", "createdAt": _ms()}}
