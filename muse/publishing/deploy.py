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
  after a crash, a create whose reply was lost, or Vercel's own git integration) instead
  of starting a second build, and to find the deployment to roll back to;
* ``GET /v9/projects/{idOrName}``: ``targets.production`` is the deployment production
  serves now, ``lastAliasRequest`` the state of the last (asynchronous) rollback/promote;
* ``POST /v1/projects/{projectId}/rollback/{deploymentId}`` points production back at an
  earlier deployment; ``POST /v10/projects/{projectId}/promote/{deploymentId}`` makes a
  READY deployment production. After a rollback (by muse or by a person in the dashboard)
  Vercel keeps new deployments READY but ``readySubstate: STAGED`` (not live) until one is
  promoted, so a deploy is only "ready" once Vercel says production serves it.

One deadline (``vercel.deploy_timeout_seconds``) governs a whole publish or rollback: every
wait (polls, Retry-After, backoff, rollback and promote confirmation) ends by it; calls
after it are made once, without waiting. Errors come back as ``{"error": {"code",
"message"}}``; 429 is retried after ``Retry-After`` (or ``X-RateLimit-Reset``) when that
fits before the deadline, 5xx and network errors 3 times with backoff, except a create.
Without ``VERCEL_TOKEN`` a configured Deploy Hook is triggered (its build cannot be
followed, so the deploy is reported as skipped, unverified); with neither, the deploy is
skipped and says so. Every state change is a row in ``deployments``.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable

from muse.errors import ConfigError, MuseError

if TYPE_CHECKING:
    from muse.config import Settings

log = logging.getLogger(__name__)

TERMINAL = ("READY", "ERROR", "CANCELED")
FAILED_STATES = ("ERROR", "CANCELED", "DELETED")
RESULT_STATUSES = ("ready", "error", "canceled", "timeout", "staged", "api_error", "skipped")
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
    promoted: bool = False  # production was pinned (a rollback) and muse promoted this deployment

    @property
    def ok(self) -> bool:
        return self.status == "ready"


@dataclass
class RollbackResult:
    # rolled_back (production pointed at a deployment without the episode) | clean (production
    # already serves none of it) | redeployed (no such deployment: the revert was deployed)
    # | skipped (no token) | api_error (production may still serve the episode)
    status: str
    deployment_id: str = ""  # the deployment production was pointed back at
    url: str = ""
    message: str = ""


class VercelAPIError(MuseError):
    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@lru_cache(maxsize=1)
def _tls_context() -> Any:
    """One TLS context per process: building it (loading the CA bundle) costs ~0.3 s."""
    import ssl

    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class VercelClient:
    """A small Vercel REST client: auth, team id, error bodies, 429 and transient retries."""

    def __init__(
        self,
        *,
        api_url: str,
        token: str,
        team_id: str = "",
        timeout: float = 10.0,
        deadline: float | None = None,
        max_wait: float = 60.0,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import httpx

        self.api_url = api_url.rstrip("/")
        self.team_id = team_id
        self.deadline = deadline
        self.max_wait = max_wait
        self.backoff = backoff
        self.sleep = sleep
        self._http = httpx.Client(
            timeout=timeout,
            verify=_tls_context(),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "muse-publisher"},
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, deadline: float | None = None) -> "VercelClient":
        return cls(
            api_url=settings.vercel.api_url,
            token=settings.vercel.token,
            team_id=settings.vercel.team_id,
            timeout=settings.http.timeout_seconds,
            deadline=deadline,
            backoff=settings.vercel.retry_backoff_seconds,
        )

    def close(self) -> None:
        self._http.close()

    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None, retry: bool = True
    ) -> Any:
        """One API call. ``retry=False``: a 5xx or network error is raised at once (a create
        whose reply was lost may have created the deployment: look before sending it again).
        Retried under ``muse.retry``: a 429 after Retry-After / X-RateLimit-Reset while that fits
        before the deadline (up to 10 times), a 5xx or network error 3 times in all with backoff."""
        import httpx

        from muse import retry as policy

        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        if self.team_id:
            query["teamId"] = self.team_id
        what = f"Vercel API {method} {path}"
        faults = 0

        def attempt() -> Any:
            nonlocal faults
            try:
                resp = self._http.request(method, self.api_url + path, params=query, json=json)
            except httpx.HTTPError:
                faults += 1
                raise
            if resp.status_code == 429:
                raise policy.TransientHTTPError(
                    what, 429, retry_after=policy.retry_after_seconds(resp.headers, reset_is_epoch=True)
                )
            if resp.status_code >= 500:
                faults += 1
                raise policy.TransientHTTPError(
                    what, resp.status_code, detail=_error_text(resp), code=_error_code(resp)
                )
            return resp

        def transient(exc: BaseException) -> bool:
            if policy.is_rate_limited(exc):
                return True  # nothing was done: safe to send again, even a create
            return retry and isinstance(exc, (httpx.HTTPError, policy.TransientHTTPError))

        def on_retry(exc: BaseException | None, n: int, wait: float) -> None:
            if policy.is_rate_limited(exc):
                log.warning("%s: rate limited (HTTP 429), retrying in %.1fs", what, wait)
            else:
                log.warning("%s: %s, retrying in %.1fs", what, exc, wait)

        try:
            resp = policy.call(
                attempt,
                what=what,
                attempts=3,
                rate_limit_attempts=11,
                backoff=self.backoff,
                deadline=self.deadline,
                max_wait=self.max_wait if self.deadline is None else float("inf"),
                transient=transient,
                on_retry=on_retry,
                sleep=self.sleep,
            )
        except (policy.TransientHTTPError, httpx.HTTPError) as exc:
            raise _gave_up(exc, what, retry=retry, faults=faults, backoff=self.backoff) from None
        return _reply_body(resp, what)

    def time_left(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()


def _gave_up(exc: Exception, what: str, *, retry: bool, faults: int, backoff: float) -> VercelAPIError:
    """The error for a call the retry policy gave up on: rate limited past the time left, a 5xx
    or network error (at once without ``retry``, or after 3 attempts), or no time left to retry."""
    from muse import retry as policy

    if isinstance(exc, policy.TransientHTTPError):
        if exc.status == 429:
            wait = policy.wait_after(exc, 1, backoff=backoff)
            return VercelAPIError(
                f"{what}: rate limited (HTTP 429); retry after {wait:.0f}s is past the time left",
                status=429,
                code="rate_limited",
            )
        if not retry:
            return VercelAPIError(f"{what}: HTTP {exc.status} {exc.detail}", status=exc.status, code=exc.code)
        if faults >= 3:
            return VercelAPIError(
                f"{what}: HTTP {exc.status} after 3 attempts: {exc.detail}", status=exc.status, code=exc.code
            )
        return VercelAPIError(f"{what}: no time left to retry")
    if not retry:
        return VercelAPIError(f"{what} failed: {type(exc).__name__}")
    if faults >= 3:
        return VercelAPIError(f"{what} failed after 3 attempts: {type(exc).__name__}")
    return VercelAPIError(f"{what}: no time left to retry")


def _reply_body(resp: Any, what: str) -> Any:
    """The JSON body of a final reply ({} when empty); a 4xx is raised with Vercel's error."""
    if resp.status_code >= 400:
        raise VercelAPIError(
            f"{what}: HTTP {resp.status_code} {_error_text(resp)}", status=resp.status_code, code=_error_code(resp)
        )
    if not resp.content:
        return {}
    try:
        return resp.json()
    except ValueError:
        raise VercelAPIError(f"{what}: HTTP {resp.status_code} with a body that is not JSON") from None


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
def _record(
    ctx: Any,
    episode: int,
    deployment_id: str,
    sha: str,
    status: str,
    *,
    build_time_ms: int = 0,
    url: str = "",
    message: str = "",
) -> None:
    from muse.hours import ts_str, utcnow

    ctx.store.insert(
        "deployments",
        [
            {
                "ts": ts_str(utcnow()),
                "episode": int(episode),
                "vercel_deployment_id": deployment_id,
                "commit_sha": sha,
                "status": status,
                "build_time_ms": max(0, int(build_time_ms)),
                "url": url,
                "message": message[:2000],
            }
        ],
    )


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


def github_repo(settings: Settings) -> tuple[str, str]:
    """(org, repo) of the blog on GitHub: ``vercel.git_repo``, else the blog clone's remote URL."""
    configured = settings.vercel.git_repo.strip()
    if configured:
        org, _, repo = configured.partition("/")
        if not org or not repo or "/" in repo:
            raise ConfigError(f"vercel.git_repo must be 'org/repo', got {configured!r}")
        return org, repo
    from muse.publishing.blogrepo import BlogRepo

    blog = BlogRepo.from_settings(settings)
    url = blog.git("remote", "get-url", blog.remote, check=False)[1].strip()
    m = _GITHUB.search(url)
    if not m:
        raise ConfigError(
            "cannot tell Vercel which GitHub repo to deploy: the blog remote is not on GitHub",
            hint="set vercel.git_repo to 'org/repo'",
        )
    return m.group(1), m.group(2)


# -- deploy -------------------------------------------------------------------------------
def new_deadline(settings: Settings) -> float:
    """The one deadline of a publish, a translation deploy or a rollback (monotonic time)."""
    return time.monotonic() + settings.vercel.deploy_timeout_seconds


def deploy_commit(
    ctx: Any, *, episode: int, sha: str, branch: str | None = None, deadline: float | None = None
) -> DeployResult:
    """Deploy ``sha`` of the blog to production and wait until production serves it.

    Never reports success without Vercel saying production serves the deployment: READY
    but STAGED (production pinned by a rollback) is promoted, or reported ``staged``.
    Without a token it returns ``skipped`` with a message saying what (not) happened.
    ``deadline`` (monotonic) bounds every wait; default ``vercel.deploy_timeout_seconds``.
    """
    s = ctx.settings
    token, hook = s.vercel.token, s.vercel.deploy_hook_url
    if not token and not hook:
        msg = "no VERCEL_TOKEN and no deploy hook configured, so nothing was deployed"
        _record(ctx, episode, "", sha, "skipped", message=msg)
        log.warning("episode %s: %s", episode, msg)
        return DeployResult("skipped", message=msg)
    if not token:
        return _trigger_hook(ctx, episode, sha, hook)
    branch = branch or s.repos.banterblogs.branch
    deadline = new_deadline(s) if deadline is None else deadline
    started = time.monotonic()
    client = VercelClient.from_settings(s, deadline=deadline)
    try:
        dep = _adoptable(client, s.vercel.project, sha)
        adopted = dep is not None
        if dep is None:
            dep, adopted = _create(client, s, sha, branch)
        if adopted:
            log.info("episode %s: following deployment %s already under way for %s", episode, _dep_id(dep), sha[:8])
        return _follow(ctx, client, episode, sha, dep, deadline, adopted=adopted)
    except VercelAPIError as exc:
        msg = f"could not create a Vercel deployment of {sha[:8]}: {exc.message}"
        # A 4xx means nothing was created; after a network error or a 5xx a deployment may
        # exist all the same, and must not go live after muse has given up on it.
        settled = (400 <= exc.status < 500 and exc.status != 429) or _cancel_strays(client, s, sha)
        if not settled:
            msg += "; a deployment of it may exist and could not be ruled out"
        msg += f" (after {time.monotonic() - started:.1f}s)"
        _record(ctx, episode, "", sha, "api_error", message=msg)
        return DeployResult("api_error", message=msg, may_be_live=not settled)
    finally:
        client.close()


def _create(client: VercelClient, s: Settings, sha: str, branch: str) -> tuple[dict[str, Any], bool]:
    """POST the deployment; before every retry, look for a deployment of the commit: a 5xx
    or a dropped connection can lose the reply of a create that did happen, and a blind
    retry would start a second build that goes live in its turn. (deployment, adopted)."""
    org, repo = github_repo(s)
    body = {
        "name": s.vercel.project,
        "project": s.vercel.project,
        "target": "production",
        "gitSource": {"type": "github", "org": org, "repo": repo, "ref": branch, "sha": sha},
    }
    from muse import retry as policy

    attempts = 0
    adopted: list[dict[str, Any]] = []

    def create() -> dict[str, Any]:
        nonlocal attempts
        attempts += 1
        return client.request("POST", "/v13/deployments", json=body, retry=False)

    def look_first() -> bool:
        found = _adoptable(client, s.vercel.project, sha)
        if found is not None:
            adopted.append(found)
        return found is not None

    def on_retry(exc: BaseException | None, n: int, wait: float) -> None:
        log.warning(
            "%s; looking for a deployment of %s before trying again in %.1fs",
            getattr(exc, "message", exc),
            sha[:8],
            wait,
        )

    try:
        dep = policy.call(
            create,
            what="Vercel API POST /v13/deployments",
            attempts=3,
            backoff=client.backoff,
            deadline=client.deadline,
            max_wait=client.max_wait if client.deadline is None else float("inf"),
            # a 4xx (a 429 past the deadline included) means nothing was created
            transient=lambda e: isinstance(e, VercelAPIError) and not 400 <= e.status < 500,
            before_retry=look_first,
            on_retry=on_retry,
            sleep=client.sleep,
        )
    except VercelAPIError as exc:
        if attempts >= 3:
            raise VercelAPIError(f"{exc.message} (after 3 attempts)", status=exc.status, code=exc.code) from None
        raise
    return (adopted[0], True) if adopted else (dep, False)


def _cancel_strays(client: VercelClient, s: Settings, sha: str) -> bool:
    """Cancel any production deployment of ``sha`` still building. True when none can go live."""
    try:
        listing = client.request(
            "GET",
            "/v6/deployments",
            params={"projectId": s.vercel.project, "target": "production", "sha": sha, "limit": 10},
        )
        for d in listing.get("deployments") or []:
            if _state(d) == "READY":
                return False
            if _state(d) not in TERMINAL + FAILED_STATES:
                client.request("PATCH", f"/v12/deployments/{_dep_id(d)}/cancel")
                log.warning("cancelled deployment %s of %s created despite the error", _dep_id(d), sha[:8])
        return True
    except VercelAPIError as exc:
        log.warning("could not check for a deployment of %s: %s", sha[:8], exc.message)
        return False


def _adoptable(client: VercelClient, project: str, sha: str) -> dict[str, Any] | None:
    """A production deployment of this very commit that has not failed, newest first."""
    try:
        listing = client.request(
            "GET", "/v6/deployments", params={"projectId": project, "target": "production", "sha": sha, "limit": 10}
        )
    except VercelAPIError as exc:
        log.warning("could not look for an existing deployment of %s (%s); creating one", sha[:8], exc.message)
        return None
    candidates = [
        d
        for d in listing.get("deployments") or []
        if (d.get("meta") or {}).get("githubCommitSha", sha) == sha and _state(d) not in FAILED_STATES
    ]
    return max(candidates, key=lambda d: d.get("created") or 0) if candidates else None


def _follow(
    ctx: Any, client: VercelClient, episode: int, sha: str, dep: dict[str, Any], deadline: float, *, adopted: bool
) -> DeployResult:
    poll = ctx.settings.vercel.poll_interval_seconds
    dep_id, url = _dep_id(dep), _url(dep)
    state = _state(dep)
    started = time.monotonic()
    _record(
        ctx,
        episode,
        dep_id,
        sha,
        state.lower() or "created",
        url=url,
        message="adopted an existing deployment of this commit" if adopted else "created",
    )
    while state not in TERMINAL:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _timed_out(ctx, client, episode, sha, dep_id, url, state, adopted, started, why="")
        time.sleep(min(poll, remaining))
        try:
            dep = client.request("GET", f"/v13/deployments/{dep_id}")
        except VercelAPIError as exc:
            if exc.status == 429 or time.monotonic() >= deadline:
                return _timed_out(ctx, client, episode, sha, dep_id, url, state, adopted, started, why=exc.message)
            msg = f"lost track of deployment {dep_id} (last state {state or 'unknown'}): {exc.message}"
            _record(ctx, episode, dep_id, sha, "api_error", url=url, message=msg)
            return DeployResult("api_error", dep_id, url, message=msg, adopted=adopted, may_be_live=True)
        new = _state(dep)
        url = _url(dep) or url
        if new != state:
            state = new
            terminal = state in TERMINAL
            _record(
                ctx,
                episode,
                dep_id,
                sha,
                state.lower(),
                url=url,
                build_time_ms=_build_time_ms(dep, started) if terminal else 0,
                message=_failure_text(dep) if state in FAILED_STATES else "",
            )
    build_ms = _build_time_ms(dep, started)
    if state == "READY":
        ctx.telemetry.histogram("deploy.build_time_ms", build_ms)
        return _make_live(ctx, client, episode, sha, dep, build_ms, adopted=adopted)
    return DeployResult(
        state.lower(),
        dep_id,
        url,
        build_ms,
        f"deployment {dep_id} {state}: {_failure_text(dep)}",
        ready_state=state,
        adopted=adopted,
    )


def _failure_text(dep: dict[str, Any]) -> str:
    parts = [str(dep.get(k)) for k in ("errorCode", "errorMessage") if dep.get(k)]
    return " - ".join(parts) or "no reason given"


def _timed_out(
    ctx: Any,
    client: VercelClient,
    episode: int,
    sha: str,
    dep_id: str,
    url: str,
    state: str,
    adopted: bool,
    started: float,
    *,
    why: str,
) -> DeployResult:
    """Out of time (or rate limited past the deadline): cancel the deployment so it cannot go
    live later, then say what really happened. The cancel is one call, no waiting."""
    timeout = ctx.settings.vercel.deploy_timeout_seconds
    waited = time.monotonic() - started
    final = state
    try:
        final = _state(client.request("PATCH", f"/v12/deployments/{dep_id}/cancel")) or state
    except VercelAPIError as exc:
        if exc.status == 400:  # no longer building: it ended on its own; learn how
            try:
                final = _state(client.request("GET", f"/v13/deployments/{dep_id}"))
            except VercelAPIError:
                final = ""
        else:
            log.warning("could not cancel deployment %s: %s", dep_id, exc.message)
            final = ""  # unknown: it may still go live
    if final == "READY":
        _record(ctx, episode, dep_id, sha, "ready", url=url, message="READY at the deadline")
        return DeployResult(
            "ready",
            dep_id,
            url,
            int(waited * 1000),
            f"deployment {dep_id} READY at the deadline",
            ready_state="READY",
            adopted=adopted,
            may_be_live=True,
        )
    if why:
        head = (
            f"gave up on deployment {dep_id} after {waited:.1f}s of the {timeout:g}s deadline "
            f"(last state {state or 'unknown'}): {why}"
        )
    else:
        head = f"deployment {dep_id} not READY after {timeout:g}s (last state {state or 'unknown'})"
    msg = head + "; " + ("cancelled" if final == "CANCELED" else "cancel not confirmed")
    # build_time_ms is a build duration: unknown here, so not invented.
    _record(ctx, episode, dep_id, sha, "timeout", url=url, message=msg)
    return DeployResult(
        "timeout", dep_id, url, 0, msg, ready_state=final, adopted=adopted, may_be_live=final not in FAILED_STATES
    )


def _trigger_hook(ctx: Any, episode: int, sha: str, hook_url: str) -> DeployResult:
    """POST the Deploy Hook (no auth; the URL is the secret, so it is never printed)."""
    import httpx

    from muse import retry as policy

    def post() -> Any:
        return policy.check_response(
            httpx.post(hook_url, timeout=ctx.settings.http.timeout_seconds), "Vercel deploy hook"
        )

    # The hook's URL is its secret: only "Vercel deploy hook" is ever logged.
    try:
        resp = policy.call(
            post,
            what="Vercel deploy hook",
            attempts=3,
            backoff=ctx.settings.vercel.retry_backoff_seconds,
            transient=lambda e: isinstance(e, (httpx.HTTPError, policy.TransientHTTPError)),
        )
    except policy.TransientHTTPError as exc:
        last = f"HTTP {exc.status}"
    except httpx.HTTPError as exc:
        last = type(exc).__name__
    else:
        if resp.status_code < 300:
            job = (resp.json() if resp.content else {}).get("job") or {}
            job_id = str(job.get("id") or "")
            msg = (
                f"deploy hook triggered (job {job_id or '?'}, {job.get('state', 'PENDING')}); without "
                "VERCEL_TOKEN muse cannot follow that build, so the deploy is unverified"
            )
            _record(ctx, episode, job_id, sha, "hook_triggered", message=msg)
            return DeployResult("skipped", message=msg)
        last = f"HTTP {resp.status_code}"
    msg = f"the deploy hook failed: {last}"
    _record(ctx, episode, "", sha, "api_error", message=msg)
    return DeployResult("api_error", message=msg)


# -- Vercel's production state --------------------------------------------------------------
def _project(client: VercelClient, s: Settings) -> dict[str, Any]:
    return client.request("GET", f"/v9/projects/{s.vercel.project}") or {}


def _production_id(project: dict[str, Any]) -> str:
    prod = (project.get("targets") or {}).get("production") or {}
    return _dep_id(prod) if isinstance(prod, dict) else ""


def _await_production(client: VercelClient, s: Settings, dep_id: str, deadline: float) -> tuple[bool, str]:
    """Rollback and promote complete asynchronously: wait (within the deadline) until the
    project's production deployment is ``dep_id``. (confirmed, what production serves)."""
    poll = min(s.vercel.poll_interval_seconds, 1.0)
    current = ""
    while True:
        try:
            project = _project(client, s)
        except VercelAPIError as exc:
            return False, f"unknown ({exc.message})"
        current = _production_id(project)
        if current == dep_id:
            return True, current
        job = project.get("lastAliasRequest") or {}
        if job.get("toDeploymentId") == dep_id and job.get("jobStatus") in ("failed", "skipped"):
            return False, current or "unknown"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False, current or "unknown"
        time.sleep(min(poll, remaining))


def _make_live(
    ctx: Any, client: VercelClient, episode: int, sha: str, dep: dict[str, Any], build_ms: int, *, adopted: bool
) -> DeployResult:
    """READY is not live: trust Vercel's production state. A deployment production does not
    serve (STAGED because production is pinned by a rollback, muse's or a person's) is
    promoted and confirmed; if that fails, the result says plainly it is staged, not live."""
    s = ctx.settings
    dep_id, url = _dep_id(dep), _url(dep)
    ready = f"deployment {dep_id} READY in {build_ms / 1000:.1f}s"
    if dep.get("target") not in (None, "production"):
        msg = f"{ready} as a {dep.get('target')} deployment, not production: not live"
        _record(ctx, episode, dep_id, sha, "staged", url=url, message=msg)
        return DeployResult("staged", dep_id, url, build_ms, msg, ready_state="READY", adopted=adopted)
    try:
        production = _production_id(_project(client, s))
    except VercelAPIError as exc:
        production = ""
        log.warning("could not read the project's production deployment: %s", exc.message)
    if production == dep_id or (not production and dep.get("readySubstate") == "PROMOTED"):
        return DeployResult(
            "ready", dep_id, url, build_ms, ready, ready_state="READY", adopted=adopted, may_be_live=True
        )
    deadline = client.deadline if client.deadline is not None else new_deadline(s)
    pinned = f"production is pinned to {production or 'another deployment'} (a rollback)"
    try:
        client.request("POST", f"/v10/projects/{dep.get('projectId') or s.vercel.project}/promote/{dep_id}")
    except VercelAPIError as exc:
        msg = f"{ready} but STAGED: {pinned} and promoting it failed: {exc.message}; it is not live"
        _record(ctx, episode, dep_id, sha, "promote_failed", url=url, message=msg)
        return DeployResult("staged", dep_id, url, build_ms, msg, ready_state="READY", adopted=adopted)
    confirmed, now_serving = _await_production(client, s, dep_id, deadline)
    if not confirmed:
        msg = (
            f"{ready} but STAGED: {pinned}; promoted, but production still served {now_serving} at the "
            "deadline, so it may go live later"
        )
        _record(ctx, episode, dep_id, sha, "promote_unconfirmed", url=url, message=msg)
        return DeployResult(
            "staged", dep_id, url, build_ms, msg, ready_state="READY", adopted=adopted, may_be_live=True
        )
    _record(ctx, episode, dep_id, sha, "promoted", url=url, message=f"promoted to production ({pinned})")
    return DeployResult(
        "ready",
        dep_id,
        url,
        build_ms,
        f"{ready}, promoted to production ({pinned})",
        ready_state="READY",
        adopted=adopted,
        may_be_live=True,
        promoted=True,
    )


# -- withdraw an episode from production ------------------------------------------------------
def withdraw(
    ctx: Any, *, episode: int, sha: str, reverted_by: str = "", redeploy: str = "", deadline: float | None = None
) -> RollbackResult:
    """Make production stop serving commit ``sha`` (an episode, or a translation commit).

    Production is pointed back at the newest READY production deployment that does not
    contain ``sha`` (built before it, whatever was deployed on top of it since); never at
    the deployment already in production (then there is nothing to do). When no such
    deployment exists (the only episode), ``redeploy`` (the commit that reverted it) is
    deployed instead. A deployment contains ``sha`` when its commit descends from ``sha``
    and not from ``reverted_by``; for a commit the blog clone does not know, when it was
    created after a deployment known to contain it. Records a ``deployments`` row.
    """
    s = ctx.settings
    if not s.vercel.token:
        msg = "production was not rolled back on Vercel: no VERCEL_TOKEN"
        _record(ctx, episode, "", sha, "rollback_skipped", message=msg)
        return RollbackResult("skipped", message=msg)
    deadline = new_deadline(s) if deadline is None else deadline
    client = VercelClient.from_settings(s, deadline=deadline)
    try:
        # A deployment of it still building must not go live later.
        _cancel_strays(client, s, sha)
        deps = _ready_production(client, s)
        production = _production_id(_project(client, s))
        contains = _containment(s, deps, sha, reverted_by)
        live = next((d for d in deps if _dep_id(d) == production), None)
        if live is not None and not contains(live):
            msg = (
                f"production already serves {production} ({_sha_of(live)[:8] or 'unknown commit'}), which does "
                f"not contain {sha[:8]}; nothing to roll back"
            )
            _record(ctx, episode, production, _sha_of(live), "rollback_clean", url=_url(live), message=msg)
            return RollbackResult("clean", production, _url(live), msg)
        candidates = [
            d
            for d in deps
            if not contains(d) and _dep_id(d) != production and d.get("isRollbackCandidate", True) is not False
        ]
        if candidates:
            target = max(candidates, key=lambda d: d.get("created") or 0)
            return _roll_back_to(ctx, client, target, episode=episode, deadline=deadline)
    except VercelAPIError as exc:
        msg = f"production rollback failed: {exc.message}; production may still serve {sha[:8]}"
        _record(ctx, episode, "", sha, "rollback_failed", message=msg)
        return RollbackResult("api_error", message=msg)
    finally:
        client.close()
    return _redeploy_revert(ctx, episode=episode, sha=sha, redeploy=redeploy, deadline=deadline)


def _ready_production(client: VercelClient, s: Settings) -> list[dict[str, Any]]:
    """The project's READY production deployments (the newest 100)."""
    listing = client.request(
        "GET",
        "/v6/deployments",
        params={"projectId": s.vercel.project, "target": "production", "state": "READY", "limit": 100},
    )
    return [d for d in listing.get("deployments") or [] if _state(d) == "READY"]


def _roll_back_to(
    ctx: Any, client: VercelClient, target: dict[str, Any], *, episode: int, deadline: float
) -> RollbackResult:
    """Point production at ``target`` and wait (within the deadline) until it serves it;
    VercelAPIError when the rollback fails or is not confirmed in time."""
    s = ctx.settings
    target_id = _dep_id(target)
    client.request(
        "POST",
        f"/v1/projects/{target.get('projectId') or s.vercel.project}/rollback/{target_id}",
        params={"description": f"muse: withdraw episode {episode}"},
    )
    confirmed, serving = _await_production(client, s, target_id, deadline)
    if not confirmed:
        raise VercelAPIError(f"rollback to {target_id} accepted, but production still served {serving} at the deadline")
    msg = f"production rolled back to {target_id} ({_sha_of(target)[:8] or 'unknown commit'})"
    _record(ctx, episode, target_id, _sha_of(target), "rollback", url=_url(target), message=msg)
    return RollbackResult("rolled_back", target_id, _url(target), msg)


def _redeploy_revert(ctx: Any, *, episode: int, sha: str, redeploy: str, deadline: float) -> RollbackResult:
    """No earlier deployment lacks ``sha``: deploy the commit that reverted it, if there is one."""
    if not redeploy:
        msg = f"no READY production deployment without {sha[:8]} to roll back to, and no revert to deploy"
        _record(ctx, episode, "", sha, "rollback_failed", message=msg)
        return RollbackResult("api_error", message=msg)
    result = deploy_commit(ctx, episode=episode, sha=redeploy, deadline=deadline)
    if result.ok:
        msg = (
            f"no earlier deployment without {sha[:8]}, so the revert {redeploy[:8]} was deployed: "
            f"production serves {result.deployment_id}"
        )
        _record(ctx, episode, result.deployment_id, redeploy, "rollback_redeployed", url=result.url, message=msg)
        return RollbackResult("redeployed", result.deployment_id, result.url, msg)
    msg = (
        f"no earlier deployment without {sha[:8]}, and deploying the revert {redeploy[:8]} failed "
        f"({result.message}); production may still serve {sha[:8]}"
    )
    _record(ctx, episode, result.deployment_id, redeploy, "rollback_failed", message=msg)
    return RollbackResult("api_error", message=msg)


def _sha_of(dep: dict[str, Any]) -> str:
    return str((dep.get("meta") or {}).get("githubCommitSha") or "")


def _containment(
    s: Settings, deps: list[dict[str, Any]], sha: str, reverted_by: str
) -> Callable[[dict[str, Any]], bool]:
    from muse.publishing.blogrepo import descends

    known = descends(s, sha, [_sha_of(d) for d in deps])
    if reverted_by:
        undone = descends(s, reverted_by, [_sha_of(d) for d in deps])
        known = {k: (v and not undone.get(k)) if v is not None else None for k, v in known.items()}
    containing = [d.get("created") or 0 for d in deps if known.get(_sha_of(d))]
    first = min(containing) if containing else None

    def contains(dep: dict[str, Any]) -> bool:
        verdict = known.get(_sha_of(dep))
        if verdict is not None:
            return verdict
        return first is not None and (dep.get("created") or 0) >= first

    return contains
