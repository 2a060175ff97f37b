"""Vercel deployments for the blog: create, follow, cancel, roll back (REST API, httpx).

Endpoints (Vercel REST API; Bearer token, optional ``teamId`` query parameter):

* ``POST /v13/deployments`` with ``gitSource`` ``{type: github, org, repo, ref, sha}`` and
  ``target: production`` creates the deployment of a pushed commit;
* ``GET /v13/deployments/{id}`` is polled until ``readyState`` is READY, ERROR or CANCELED
  (QUEUED and INITIALIZING and BUILDING come first), up to ``vercel.deploy_timeout_seconds``;
* ``PATCH /v12/deployments/{id}/cancel`` stops a deployment that ran out of time, so it
  cannot go live after muse has given up on it;
* ``GET /v6/deployments?projectId=&target=production&state=READY`` (and ``sha=``) lists
  production deployments: to adopt one already building for the same commit (a re-run
  after a crash, or Vercel's own git integration) instead of starting a second build,
  and to find the READY deployment to roll back to;
* ``POST /v1/projects/{projectId}/rollback/{deploymentId}`` points production back at an
  earlier deployment; ``POST /v10/projects/{projectId}/promote/{deploymentId}`` makes a
  new deployment production again after such a rollback (Vercel stops assigning
  production to new deployments until one is promoted).

Errors come back as ``{"error": {"code", "message"}}``; 429 is retried after
``Retry-After`` (or ``X-RateLimit-Reset``), 5xx and network errors 3 times with backoff.
Without ``VERCEL_TOKEN`` a configured Deploy Hook is triggered (its build cannot be
followed, so the deploy is reported as skipped, unverified); with neither, the deploy is
skipped and says so. Every state change is a row in ``deployments``.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, Callable

from muse.errors import ConfigError, MuseError

log = logging.getLogger(__name__)

TERMINAL = ("READY", "ERROR", "CANCELED")
FAILED_STATES = ("ERROR", "CANCELED", "DELETED")
RESULT_STATUSES = ("ready", "error", "canceled", "timeout", "api_error", "skipped")
_GITHUB = re.compile(r"github\.com[:/]+([^/]+)/([^/]+?)(?:\.git)?/?$")


@dataclass
class DeployResult:
    status: str  # one of RESULT_STATUSES
    deployment_id: str = ""
    url: str = ""
    build_time_ms: int = 0
    message: str = ""
    ready_state: str = ""  # the last readyState Vercel reported; '' = never learned
    adopted: bool = False  # an existing deployment of the same commit was followed
    # Could production be serving this deployment? True when it went READY or its fate is
    # unknown (lost track, cancel not confirmed); False when it failed or never existed.
    may_be_live: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ready"


@dataclass
class RollbackResult:
    status: str  # rolled_back | none (nothing earlier to go back to) | skipped (no token) | api_error
    deployment_id: str = ""  # the deployment production was pointed back at
    url: str = ""
    message: str = ""


class VercelAPIError(MuseError):
    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _retry_after(resp: Any, attempt: int) -> float:
    """Seconds to wait after a 429: Retry-After (seconds or HTTP date), else X-RateLimit-Reset."""
    value = resp.headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    reset = resp.headers.get("x-ratelimit-reset")
    if reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            pass
    return float(min(2 ** attempt, 30))


@lru_cache(maxsize=1)
def _tls_context() -> Any:
    """One TLS context per process: building it (loading the CA bundle) costs ~0.3 s."""
    import ssl

    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class VercelClient:
    """A small Vercel REST client: auth, team id, error bodies, 429 and transient retries."""

    def __init__(self, *, api_url: str, token: str, team_id: str = "", timeout: float = 10.0,
                 deadline: float | None = None, max_wait: float = 60.0, backoff: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        import httpx

        self.api_url = api_url.rstrip("/")
        self.team_id = team_id
        self.deadline = deadline
        self.max_wait = max_wait
        self.backoff = backoff
        self.sleep = sleep
        self._http = httpx.Client(timeout=timeout, verify=_tls_context(),
                                  headers={"Authorization": f"Bearer {token}", "User-Agent": "muse-publisher"})

    @classmethod
    def from_settings(cls, settings: Any, *, deadline: float | None = None) -> "VercelClient":
        return cls(api_url=settings["vercel.api_url"], token=settings["vercel.token"],
                   team_id=settings["vercel.team_id"], timeout=settings["http.timeout_seconds"], deadline=deadline,
                   backoff=settings["vercel.retry_backoff_seconds"])

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None) -> Any:
        import httpx

        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        if self.team_id:
            query["teamId"] = self.team_id
        what = f"Vercel API {method} {path}"
        transient = rate_limited = 0
        while True:
            try:
                resp = self._http.request(method, self.api_url + path, params=query, json=json)
            except httpx.HTTPError as exc:
                transient += 1
                if transient >= 3:
                    raise VercelAPIError(f"{what} failed after 3 attempts: {type(exc).__name__}") from None
                self._pause(self.backoff * 2 ** (transient - 1), what)
                continue
            if resp.status_code == 429:
                rate_limited += 1
                wait = _retry_after(resp, rate_limited)
                if rate_limited > 10 or not self._can_wait(wait):
                    raise VercelAPIError(f"{what}: rate limited (HTTP 429); retry after {wait:.0f}s is past "
                                         f"the time left", status=429, code="rate_limited")
                log.warning("%s: rate limited (HTTP 429), retrying in %.1fs", what, wait)
                self.sleep(wait)
                continue
            if resp.status_code >= 500:
                transient += 1
                if transient >= 3:
                    raise VercelAPIError(f"{what}: HTTP {resp.status_code} after 3 attempts: {_error_text(resp)}",
                                         status=resp.status_code, code=_error_code(resp))
                self._pause(self.backoff * 2 ** (transient - 1), what)
                continue
            if resp.status_code >= 400:
                raise VercelAPIError(f"{what}: HTTP {resp.status_code} {_error_text(resp)}",
                                     status=resp.status_code, code=_error_code(resp))
            if not resp.content:
                return {}
            try:
                return resp.json()
            except ValueError:
                raise VercelAPIError(f"{what}: HTTP {resp.status_code} with a body that is not JSON") from None

    def _can_wait(self, seconds: float) -> bool:
        if self.deadline is not None:
            return time.monotonic() + seconds <= self.deadline
        return seconds <= self.max_wait

    def _pause(self, seconds: float, what: str) -> None:
        if not self._can_wait(seconds):
            raise VercelAPIError(f"{what}: no time left to retry")
        self.sleep(seconds)


def _error_body(resp: Any) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    err = body.get("error") if isinstance(body, dict) else None
    return err if isinstance(err, dict) else {}


def _error_code(resp: Any) -> str:
    return str(_error_body(resp).get("code") or "")


def _error_text(resp: Any) -> str:
    err = _error_body(resp)
    if err:
        return f"{err.get('code', 'error')}: {err.get('message', '')}".strip()
    return (resp.text or "").strip().splitlines()[0][:200] if resp.text else "(no body)"


# -- recording ----------------------------------------------------------------------------
def _record(ctx: Any, episode: int, deployment_id: str, sha: str, status: str, *, build_time_ms: int = 0,
            url: str = "", message: str = "") -> None:
    from muse.runs import ts_str, utcnow

    ctx.store.insert("deployments", [{
        "ts": ts_str(utcnow()), "episode": int(episode), "vercel_deployment_id": deployment_id,
        "commit_sha": sha, "status": status, "build_time_ms": max(0, int(build_time_ms)), "url": url,
        "message": message[:2000],
    }])


def _dep_id(dep: dict[str, Any]) -> str:
    return str(dep.get("id") or dep.get("uid") or "")


def _state(dep: dict[str, Any]) -> str:
    return str(dep.get("readyState") or dep.get("state") or dep.get("status") or "").upper()


def _url(dep: dict[str, Any]) -> str:
    url = str(dep.get("url") or "")
    return f"https://{url}" if url and "://" not in url else url


def _build_time_ms(dep: dict[str, Any], started: float) -> int:
    end = dep.get("ready")
    begin = dep.get("buildingAt") or dep.get("createdAt") or dep.get("created")
    if isinstance(end, (int, float)) and isinstance(begin, (int, float)) and end >= begin:
        return int(end - begin)
    return int((time.monotonic() - started) * 1000)


def github_repo(settings: Any) -> tuple[str, str]:
    """(org, repo) of the blog on GitHub: ``vercel.git_repo``, else the blog clone's remote URL."""
    configured = settings["vercel.git_repo"].strip()
    if configured:
        org, _, repo = configured.partition("/")
        if not org or not repo or "/" in repo:
            raise ConfigError(f"vercel.git_repo must be 'org/repo', got {configured!r}")
        return org, repo
    from muse.blogrepo import BlogRepo

    blog = BlogRepo.from_settings(settings)
    url = blog.git("remote", "get-url", blog.remote, check=False)[1].strip()
    m = _GITHUB.search(url)
    if not m:
        raise ConfigError("cannot tell Vercel which GitHub repo to deploy: the blog remote is not on GitHub",
                          hint="set vercel.git_repo to 'org/repo'")
    return m.group(1), m.group(2)


# -- deploy -------------------------------------------------------------------------------
def deploy_commit(ctx: Any, *, episode: int, sha: str, branch: str | None = None) -> DeployResult:
    """Deploy ``sha`` of the blog to production and wait for the outcome.

    Never reports success without a READY deployment: without a token it returns
    ``skipped`` with a message saying what (not) happened.
    """
    s = ctx.settings
    token, hook = s["vercel.token"], s["vercel.deploy_hook_url"]
    if not token and not hook:
        msg = "no VERCEL_TOKEN and no deploy hook configured, so nothing was deployed"
        _record(ctx, episode, "", sha, "skipped", message=msg)
        log.warning("episode %s: %s", episode, msg)
        return DeployResult("skipped", message=msg)
    if not token:
        return _trigger_hook(ctx, episode, sha, hook)
    branch = branch or s["repos.banterblogs.branch"]
    deadline = time.monotonic() + s["vercel.deploy_timeout_seconds"]
    client = VercelClient.from_settings(s, deadline=deadline)
    try:
        dep = _adoptable(client, s["vercel.project"], sha)
        adopted = dep is not None
        if dep is None:
            org, repo = github_repo(s)
            dep = client.request("POST", "/v13/deployments", json={
                "name": s["vercel.project"], "project": s["vercel.project"], "target": "production",
                "gitSource": {"type": "github", "org": org, "repo": repo, "ref": branch, "sha": sha},
            })
        else:
            log.info("episode %s: following deployment %s already under way for %s", episode, _dep_id(dep), sha[:8])
        return _follow(ctx, client, episode, sha, dep, deadline, adopted=adopted)
    except VercelAPIError as exc:
        msg = f"could not create a Vercel deployment of {sha[:8]}: {exc.message}"
        # A 4xx means nothing was created; after a network error or a 5xx a deployment may
        # exist all the same, and must not go live after muse has given up on it.
        settled = 400 <= exc.status < 500 or _cancel_strays(s, sha)
        if not settled:
            msg += "; a deployment of it may exist and could not be ruled out"
        _record(ctx, episode, "", sha, "api_error", message=msg)
        return DeployResult("api_error", message=msg, may_be_live=not settled)
    finally:
        client.close()


def _cleanup_client(s: Any) -> VercelClient:
    """For clean-up calls after the deploy deadline: a few short retries, no deadline."""
    return VercelClient(api_url=s["vercel.api_url"], token=s["vercel.token"], team_id=s["vercel.team_id"],
                        timeout=s["http.timeout_seconds"], max_wait=10.0, backoff=s["vercel.retry_backoff_seconds"])


def _cancel_strays(s: Any, sha: str) -> bool:
    """Cancel any production deployment of ``sha`` still building. True when none can go live."""
    cleanup = _cleanup_client(s)
    try:
        listing = cleanup.request("GET", "/v6/deployments", params={
            "projectId": s["vercel.project"], "target": "production", "sha": sha, "limit": 10})
        for d in listing.get("deployments") or []:
            if _state(d) == "READY":
                return False
            if _state(d) not in TERMINAL + FAILED_STATES:
                cleanup.request("PATCH", f"/v12/deployments/{_dep_id(d)}/cancel")
                log.warning("cancelled deployment %s of %s created despite the error", _dep_id(d), sha[:8])
        return True
    except VercelAPIError as exc:
        log.warning("could not check for a deployment of %s: %s", sha[:8], exc.message)
        return False
    finally:
        cleanup.close()


def _adoptable(client: VercelClient, project: str, sha: str) -> dict[str, Any] | None:
    """A production deployment of this very commit that has not failed, newest first."""
    try:
        listing = client.request("GET", "/v6/deployments", params={
            "projectId": project, "target": "production", "sha": sha, "limit": 10})
    except VercelAPIError as exc:
        log.warning("could not look for an existing deployment of %s (%s); creating one", sha[:8], exc.message)
        return None
    candidates = [d for d in listing.get("deployments") or []
                  if (d.get("meta") or {}).get("githubCommitSha", sha) == sha and _state(d) not in FAILED_STATES]
    return max(candidates, key=lambda d: d.get("created") or 0) if candidates else None


def _follow(ctx: Any, client: VercelClient, episode: int, sha: str, dep: dict[str, Any], deadline: float, *,
            adopted: bool) -> DeployResult:
    poll = ctx.settings["vercel.poll_interval_seconds"]
    dep_id, url = _dep_id(dep), _url(dep)
    state = _state(dep)
    started = time.monotonic()
    _record(ctx, episode, dep_id, sha, state.lower() or "created", url=url,
            message="adopted an existing deployment of this commit" if adopted else "created")
    while state not in TERMINAL:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _timed_out(ctx, episode, sha, dep_id, url, state, adopted)
        time.sleep(min(poll, remaining))
        try:
            dep = client.request("GET", f"/v13/deployments/{dep_id}")
        except VercelAPIError as exc:
            if exc.status == 429 or time.monotonic() >= deadline:
                return _timed_out(ctx, episode, sha, dep_id, url, state, adopted)
            msg = f"lost track of deployment {dep_id} (last state {state or 'unknown'}): {exc.message}"
            _record(ctx, episode, dep_id, sha, "api_error", url=url, message=msg)
            return DeployResult("api_error", dep_id, url, message=msg, adopted=adopted, may_be_live=True)
        new = _state(dep)
        url = _url(dep) or url
        if new != state:
            state = new
            terminal = state in TERMINAL
            _record(ctx, episode, dep_id, sha, state.lower(), url=url,
                    build_time_ms=_build_time_ms(dep, started) if terminal else 0,
                    message=_failure_text(dep) if state in FAILED_STATES else "")
    build_ms = _build_time_ms(dep, started)
    if state == "READY":
        ctx.telemetry.histogram("deploy.build_time_ms", build_ms)
        promoted = _promote_if_pinned(ctx, client, episode, sha, dep)
        if promoted is not None:
            return promoted
        return DeployResult("ready", dep_id, url, build_ms, f"deployment {dep_id} READY in {build_ms / 1000:.1f}s",
                            ready_state=state, adopted=adopted, may_be_live=True)
    return DeployResult(state.lower(), dep_id, url, build_ms, f"deployment {dep_id} {state}: {_failure_text(dep)}",
                        ready_state=state, adopted=adopted)


def _failure_text(dep: dict[str, Any]) -> str:
    parts = [str(dep.get(k)) for k in ("errorCode", "errorMessage") if dep.get(k)]
    return " - ".join(parts) or "no reason given"


def _timed_out(ctx: Any, episode: int, sha: str, dep_id: str, url: str, state: str, adopted: bool) -> DeployResult:
    """Out of time: cancel the deployment so it cannot go live later, then say what it is."""
    s = ctx.settings
    timeout = s["vercel.deploy_timeout_seconds"]
    cleanup = _cleanup_client(s)
    final = state
    try:
        cleanup.request("PATCH", f"/v12/deployments/{dep_id}/cancel")
        final = _state(cleanup.request("GET", f"/v13/deployments/{dep_id}")) or state
    except VercelAPIError as exc:
        log.warning("could not cancel deployment %s after the timeout: %s", dep_id, exc.message)
        final = ""  # unknown: it may still go live
    finally:
        cleanup.close()
    if final == "READY":
        # It finished while being cancelled: it is live and fine.
        _record(ctx, episode, dep_id, sha, "ready", url=url, message="READY at the deadline")
        return DeployResult("ready", dep_id, url, int(timeout * 1000), f"deployment {dep_id} READY at the deadline",
                            ready_state="READY", adopted=adopted, may_be_live=True)
    msg = (f"deployment {dep_id} not READY after {timeout:g}s (last state {state or 'unknown'}); "
           + ("cancelled" if final == "CANCELED" else "cancel not confirmed"))
    _record(ctx, episode, dep_id, sha, "timeout", url=url, build_time_ms=int(timeout * 1000), message=msg)
    return DeployResult("timeout", dep_id, url, int(timeout * 1000), msg, ready_state=final, adopted=adopted,
                        may_be_live=final not in FAILED_STATES)


def _trigger_hook(ctx: Any, episode: int, sha: str, hook_url: str) -> DeployResult:
    """POST the Deploy Hook (no auth; the URL is the secret, so it is never printed)."""
    import httpx

    last = ""
    for attempt in range(3):
        try:
            resp = httpx.post(hook_url, timeout=ctx.settings["http.timeout_seconds"])
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        else:
            if resp.status_code < 300:
                job = (resp.json() if resp.content else {}).get("job") or {}
                job_id = str(job.get("id") or "")
                msg = (f"deploy hook triggered (job {job_id or '?'}, {job.get('state', 'PENDING')}); without "
                       "VERCEL_TOKEN muse cannot follow that build, so the deploy is unverified")
                _record(ctx, episode, job_id, sha, "hook_triggered", message=msg)
                return DeployResult("skipped", message=msg)
            last = f"HTTP {resp.status_code}"
            if resp.status_code < 500 and resp.status_code != 429:
                break
        time.sleep(ctx.settings["vercel.retry_backoff_seconds"] * 2 ** attempt)
    msg = f"the deploy hook failed: {last}"
    _record(ctx, episode, "", sha, "api_error", message=msg)
    return DeployResult("api_error", message=msg)


# -- rollback and promote ------------------------------------------------------------------
def _episode_ready_deployment(ctx: Any, episode: int) -> tuple[str, str]:
    row = ctx.store.named("publish_episode_deployment", {"episode": int(episode)}).first()
    return (str(row["vercel_deployment_id"]), str(row["commit_sha"]).strip("\x00")) if row else ("", "")


def rollback_production(ctx: Any, *, episode: int, bad_deployment_id: str | None = None,
                        bad_sha: str | None = None) -> RollbackResult:
    """Point production back at the newest READY production deployment older than the
    episode's (``bad_deployment_id``; default: the episode's READY deployment on record).
    Records a ``deployments`` row whatever happens."""
    s = ctx.settings
    if bad_deployment_id is None:
        bad_deployment_id, recorded_sha = _episode_ready_deployment(ctx, episode)
        bad_sha = bad_sha or recorded_sha
    bad_sha = bad_sha or ""
    if not s["vercel.token"]:
        msg = "production was not rolled back on Vercel: no VERCEL_TOKEN"
        _record(ctx, episode, bad_deployment_id or "", bad_sha, "rollback_skipped", message=msg)
        return RollbackResult("skipped", message=msg)
    client = VercelClient.from_settings(s)
    try:
        listing = client.request("GET", "/v6/deployments", params={
            "projectId": s["vercel.project"], "target": "production", "state": "READY", "limit": 20})
        deps = [d for d in listing.get("deployments") or [] if _state(d) == "READY"]
        bad_created = next((d.get("created") for d in deps if _dep_id(d) == bad_deployment_id), None)
        if bad_created is None and bad_deployment_id:
            try:
                bad = client.request("GET", f"/v13/deployments/{bad_deployment_id}")
                bad_created = bad.get("createdAt") or bad.get("created")
            except VercelAPIError:
                pass
        candidates = [d for d in deps if _dep_id(d) != bad_deployment_id
                      and (not bad_sha or (d.get("meta") or {}).get("githubCommitSha") != bad_sha)
                      and (bad_created is None or (d.get("created") or 0) < bad_created)]
        if not candidates:
            msg = "no earlier READY production deployment to roll back to; production left as it is"
            _record(ctx, episode, bad_deployment_id or "", bad_sha, "rollback_none", message=msg)
            return RollbackResult("none", message=msg)
        target = max(candidates, key=lambda d: d.get("created") or 0)
        target_id = _dep_id(target)
        project_id = target.get("projectId") or s["vercel.project"]
        client.request("POST", f"/v1/projects/{project_id}/rollback/{target_id}",
                       params={"description": f"muse: roll back episode {episode}"})
    except VercelAPIError as exc:
        msg = f"production rollback failed: {exc.message}"
        _record(ctx, episode, bad_deployment_id or "", bad_sha, "rollback_failed", message=msg)
        return RollbackResult("api_error", message=msg)
    finally:
        client.close()
    target_sha = str((target.get("meta") or {}).get("githubCommitSha") or "")
    msg = f"production rolled back to {target_id} ({target_sha[:8] or 'unknown commit'})"
    _record(ctx, episode, target_id, target_sha, "rollback", url=_url(target), message=msg)
    return RollbackResult("rolled_back", target_id, _url(target), msg)


def _promote_if_pinned(ctx: Any, client: VercelClient, episode: int, sha: str,
                       dep: dict[str, Any]) -> DeployResult | None:
    """After a muse rollback Vercel keeps production on the rolled-back deployment; a new
    READY deployment has to be promoted. Returns a failure result, or None when fine."""
    last = ctx.store.named("publish_last_production_change").scalar()
    if last != "rollback":
        return None
    dep_id, url = _dep_id(dep), _url(dep)
    project_id = dep.get("projectId") or ctx.settings["vercel.project"]
    try:
        client.deadline = None
        client.request("POST", f"/v10/projects/{project_id}/promote/{dep_id}")
    except VercelAPIError as exc:
        msg = (f"deployment {dep_id} is READY but production is still pinned by an earlier rollback and "
               f"promoting it failed: {exc.message}")
        _record(ctx, episode, dep_id, sha, "promote_failed", url=url, message=msg)
        # Production stays on the rolled-back deployment: this one is not live.
        return DeployResult("api_error", dep_id, url, message=msg, ready_state="READY")
    _record(ctx, episode, dep_id, sha, "promoted", url=url, message="promoted to production after an earlier rollback")
    return None
