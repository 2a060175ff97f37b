"""Live, time-limited probes of the integrations muse talks to, for `muse health`.

Each probe makes the cheapest documented call that proves the credential works, with a
short timeout, and turns the answer into one line. Nothing here raises for a failed probe:
a probe that cannot reach its service is a failing check, not a crash. Slack and PagerDuty
have no read-only call, so they are only probed when asked (``send_test``): Slack gets a
test message, PagerDuty a test event that is resolved at once with the same dedup key.

Secrets are never put into a detail line: no URL of a secret endpoint (Slack webhooks,
deploy hooks), no key, no request header; only status codes, the service's own error text
and exception class names.
"""

from __future__ import annotations

import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Literal
from urllib.parse import quote, urlparse

if TYPE_CHECKING:
    from muse.config import Settings

log = logging.getLogger(__name__)

Level = Literal["ok", "warn", "fail", "info"]

DEEPL_FREE_URL = "https://api-free.deepl.com"
DEEPL_PRO_URL = "https://api.deepl.com"
# DeepL reports "no limit" as this number (Pro accounts without Cost Control).
DEEPL_NO_LIMIT = 1_000_000_000_000


@dataclass
class ProbeResult:
    name: str
    level: Level
    detail: str
    elapsed_ms: int = 0


def deepl_server_url(auth_key: str, configured: str = "") -> str:
    """DeepL's documented rule: keys ending in ':fx' belong to API Free."""
    if configured:
        return configured.rstrip("/")
    return DEEPL_FREE_URL if auth_key.endswith(":fx") else DEEPL_PRO_URL


def _host(url: str) -> str:
    parsed = urlparse(url)
    return parsed.netloc or url


def _error_text(resp: Any) -> str:
    """The service's own error message, if its body has one (never the request)."""
    try:
        body = resp.json()
    except ValueError:
        text = (resp.text or "").strip()
        return text[:120]
    if isinstance(body, dict):
        if isinstance(body.get("errors"), list) and body["errors"]:  # Datadog, PagerDuty
            return "; ".join(str(e) for e in body["errors"])[:200]
        err = body.get("error")
        if isinstance(err, dict):  # Vercel
            return f"{err.get('code', '')}: {err.get('message', '')}".strip(": ")[:200]
        if body.get("message"):  # DeepL, PagerDuty
            return str(body["message"])[:200]
    return ""


def _http_failure(resp: Any, what: str) -> str:
    text = _error_text(resp)
    return f"{what}: HTTP {resp.status_code}" + (f" ({text})" if text else "")


def _timed(name: str, timeout: float, fn: Callable[[Any], tuple[Level, str]]) -> ProbeResult:
    import httpx

    t0 = time.monotonic()
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            level, detail = fn(client)
    except httpx.TimeoutException:
        level, detail = "fail", f"no answer within {timeout:g}s"
    except httpx.HTTPError as exc:
        level, detail = "fail", f"unreachable ({type(exc).__name__})"
    except Exception as exc:  # a probe never takes health down with it
        log.debug("probe %s crashed", name, exc_info=True)
        level, detail = "fail", f"probe error ({type(exc).__name__})"
    return ProbeResult(name, level, detail, int((time.monotonic() - t0) * 1000))


def probe_datadog(settings: Settings, timeout: float) -> ProbeResult:
    api_key, app_key = settings.datadog.api_key, settings.datadog.app_key
    base = settings.datadog.api_url.rstrip("/")
    if not api_key:
        agent = settings.datadog.agent_host
        return ProbeResult(
            "datadog",
            "info",
            f"no API key; metrics via DogStatsD {agent}" if agent else "not configured (metrics recorded locally only)",
        )

    def call(client: Any) -> tuple[Level, str]:
        resp = client.get(f"{base}/api/v1/validate", headers={"DD-API-KEY": api_key, "Accept": "application/json"})
        if resp.status_code == 403:
            return "fail", _http_failure(resp, f"API key rejected by {_host(base)}")
        if resp.status_code != 200:
            return "fail", _http_failure(resp, f"{_host(base)} /api/v1/validate")
        if not (resp.json() or {}).get("valid"):
            return "fail", f"API key not valid for {_host(base)}"
        if not app_key:
            return "ok", f"API key valid ({_host(base)}); no application key (needed by `muse monitors sync`)"
        # The application key is what monitors sync needs: one monitor read proves it.
        resp = client.get(
            f"{base}/api/v1/monitor",
            params={"page": 0, "page_size": 1},
            headers={"DD-API-KEY": api_key, "DD-APPLICATION-KEY": app_key, "Accept": "application/json"},
        )
        if resp.status_code != 200:
            return "fail", _http_failure(resp, f"API key valid, application key rejected by {_host(base)}")
        return "ok", f"API and application keys valid ({_host(base)})"

    return _timed("datadog", timeout, call)


def probe_deepl(settings: Settings, timeout: float) -> ProbeResult:
    key = settings.deepl.auth_key
    if not key:
        return ProbeResult("deepl", "info", "not configured (i18n is skipped)")
    base = deepl_server_url(key, settings.deepl.server_url)

    def call(client: Any) -> tuple[Level, str]:
        resp = client.get(f"{base}/v2/usage", headers={"Authorization": f"DeepL-Auth-Key {key}"})
        if resp.status_code == 403:
            return "fail", _http_failure(resp, f"key rejected by {_host(base)}")
        if resp.status_code == 456:
            return "fail", f"quota exceeded ({_host(base)}, HTTP 456): translations will fail until it resets"
        if resp.status_code != 200:
            return "fail", _http_failure(resp, f"{_host(base)} /v2/usage")
        body = resp.json() or {}
        used, limit = int(body.get("character_count", 0)), int(body.get("character_limit", 0))
        if not limit or limit >= DEEPL_NO_LIMIT:
            return "ok", f"key valid ({_host(base)}); {used:,} characters used this period, no limit"
        share = used / limit
        level: Level = "warn" if share >= 0.9 else "ok"
        return level, f"key valid ({_host(base)}); {used:,} of {limit:,} characters used this period ({share:.0%})"

    return _timed("deepl", timeout, call)


def probe_vercel(settings: Settings, timeout: float) -> ProbeResult:
    token, project, team = settings.vercel.token, settings.vercel.project, settings.vercel.team_id
    base = settings.vercel.api_url.rstrip("/")
    if not token:
        if settings.vercel.deploy_hook_url:
            return ProbeResult("vercel", "info", "deploy hook configured (not probed: calling it starts a deploy)")
        return ProbeResult("vercel", "info", "not configured (deploys are skipped)")

    def call(client: Any) -> tuple[Level, str]:
        # The project lookup proves the token, the team scope and the project name at once.
        params = {"teamId": team} if team else {}
        resp = client.get(
            f"{base}/v9/projects/{quote(project, safe='')}", params=params, headers={"Authorization": f"Bearer {token}"}
        )
        if resp.status_code in (401, 403):
            return "fail", _http_failure(resp, f"token rejected by {_host(base)}")
        if resp.status_code == 404:
            return "fail", f"project {project!r} not found for this token{' and team' if team else ''}"
        if resp.status_code != 200:
            return "fail", _http_failure(resp, f"{_host(base)} /v9/projects")
        body = resp.json() or {}
        return "ok", f"token valid; project {body.get('name', project)} ({body.get('id', '?')})"

    return _timed("vercel", timeout, call)


def probe_slack(settings: Settings, timeout: float, *, send_test: bool) -> ProbeResult:
    url = settings.slack.webhook_url
    if not url:
        return ProbeResult("slack", "info", "not configured (warning alerts go to Datadog only)")
    if not send_test:
        return ProbeResult("slack", "info", "configured; not probed (--send-test posts a test message)")

    def call(client: Any) -> tuple[Level, str]:
        text = (
            f"muse health --send-test from {socket.gethostname()} at "
            f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC: alerts reach this channel."
        )
        resp = client.post(url, json={"text": text})
        if resp.status_code != 200:
            return "fail", _http_failure(resp, "webhook rejected the test message")
        return "ok", "test message posted"

    return _timed("slack", timeout, call)


def probe_pagerduty(settings: Settings, timeout: float, *, send_test: bool) -> ProbeResult:
    key, url = settings.pagerduty.routing_key, settings.pagerduty.events_url
    if not key:
        return ProbeResult("pagerduty", "info", "not configured (critical alerts do not page)")
    if not send_test:
        return ProbeResult(
            "pagerduty", "info", "configured; not probed (--send-test triggers and resolves a test event)"
        )
    host = socket.gethostname()
    dedup = f"muse-health-test-{host}"

    def call(client: Any) -> tuple[Level, str]:
        trigger = {
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": dedup,
            "payload": {
                "summary": f"muse health --send-test from {host} (resolved at once)",
                "source": host,
                "severity": "info",
            },
        }
        resp = client.post(url, json=trigger)
        if resp.status_code != 202:
            return "fail", _http_failure(resp, "test event rejected")
        resp = client.post(url, json={"routing_key": key, "event_action": "resolve", "dedup_key": dedup})
        if resp.status_code != 202:
            return "fail", _http_failure(resp, f"test event triggered but not resolved (dedup key {dedup})")
        return "ok", f"test event triggered and resolved (dedup key {dedup})"

    return _timed("pagerduty", timeout, call)


def probe_narrator(settings: Settings, timeout: float) -> ProbeResult:
    """The narrator's endpoint (:func:`muse.analysis.narrator.probe`), timed."""
    from muse.analysis import narrator

    t0 = time.monotonic()
    level, detail = narrator.probe(settings, timeout)
    return ProbeResult("narrator", level, detail, int((time.monotonic() - t0) * 1000))


def run_probes(settings: Settings, *, send_test: bool = False, timeout: float = 5.0) -> list[ProbeResult]:
    """Probe every integration concurrently; each is bounded by ``timeout`` per request."""
    jobs: list[Callable[[], ProbeResult]] = [
        lambda: probe_datadog(settings, timeout),
        lambda: probe_deepl(settings, timeout),
        lambda: probe_vercel(settings, timeout),
        lambda: probe_slack(settings, timeout, send_test=send_test),
        lambda: probe_pagerduty(settings, timeout, send_test=send_test),
    ]
    if settings.narrator.enabled:  # issue 21: models listed, one tiny call (muse/analysis/narrator.py)
        jobs.append(lambda: probe_narrator(settings, timeout))
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="muse-probe") as pool:
        futures = [pool.submit(job) for job in jobs]
        return [f.result() for f in futures]


def offline_results(settings: Settings) -> list[ProbeResult]:
    """What `--offline` shows: which integrations are configured, without calling them."""
    keys = (
        ("datadog", ("datadog.api_key", "datadog.agent_host")),
        ("deepl", ("deepl.auth_key",)),
        ("vercel", ("vercel.token", "vercel.deploy_hook_url")),
        ("slack", ("slack.webhook_url",)),
        ("pagerduty", ("pagerduty.routing_key",)),
    )
    out = []
    for name, paths in keys:
        present = [p for p in paths if settings[p]]
        out.append(
            ProbeResult(
                name,
                "info",
                f"configured ({', '.join(present)}); not probed (--offline)" if present else "not configured",
            )
        )
    return out
