"""Health checks: state dir, store, schema, repos, live integration probes, and whether
every agent ran when its schedule said it should (healthchecks-style).

``run_checks`` returns plain data; the CLI renders it and exits 1 when any check fails.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from muse import migrations
from muse.config import Settings
from muse.errors import MuseError
from muse.schedule import SCHEDULES, SCHEDULES_BY_AGENT, check_punctuality, parse_ts
from muse.store import open_store
from muse.telemetry import read_local_metrics

Level = Literal["ok", "warn", "fail", "info"]
_RANK = {"info": 0, "ok": 1, "warn": 2, "fail": 3}


@dataclass
class Check:
    name: str
    level: Level
    detail: str


def worst(*levels: Level) -> Level:
    return max(levels, key=lambda lv: _RANK[lv])


def _status_level(status: str) -> Level:
    if status == "ok":
        return "ok"
    if status in ("blocked", "skipped", "running"):
        return "warn"
    return "fail"


def agent_checks(last_runs: list[dict[str, Any]], now: datetime) -> list[Check]:
    """One check per scheduled agent (and any other agent with runs): last status + punctuality."""
    by_agent = {r["agent"]: r for r in last_runs}
    checks: list[Check] = []
    for sched in SCHEDULES:
        run = by_agent.get(sched.agent)
        started = parse_ts(run["last_started"]) if run else None
        predecessor = None
        if sched.after:
            pred = by_agent.get(sched.after)
            predecessor = (pred["last_status"], parse_ts(pred["last_started"])) if pred else ("never run", None)
        punct = check_punctuality(sched, started, now, predecessor=predecessor)
        punct_level: Level = {"ok": "ok", "late": "fail", "never": "warn", "waiting": "info"}[punct.state]
        if run is None:
            checks.append(Check(f"agent {sched.agent}", punct_level, punct.detail))
            continue
        status = run["last_status"]
        status_level = _status_level(status)
        # Waiting on a predecessor is reported there; only this agent's own failure counts.
        level = (status_level if status_level != "ok" else "info") if punct.state == "waiting" \
            else worst(punct_level, status_level)
        message = (run.get("last_message") or "").replace("\n", " ")[:120]
        failures = int(run.get("failures_24h") or 0)
        detail = f"{punct.detail}; last status {status}" + (f": {message}" if message else "")
        if failures and status != "failed":
            detail += f" ({failures} failed run(s) in 24h)"
        checks.append(Check(f"agent {sched.agent}", level, detail))
    for agent, run in sorted(by_agent.items()):
        if agent in SCHEDULES_BY_AGENT:
            continue
        status = run["last_status"]
        checks.append(Check(f"agent {agent}", _status_level(status),
                            f"unscheduled; last run {status} at {run['last_started']}: "
                            f"{(run.get('last_message') or '')[:120]}"))
    return checks


def run_checks(settings: Settings, *, offline: bool = True, send_test: bool = False,
               timeout: float | None = None, now: datetime | None = None) -> tuple[list[Check], dict[str, Any]]:
    """Every health check. Network probes (``offline=False``; the CLI's default) run
    concurrently with the local checks; library callers such as the demo get no network."""
    from muse import probes

    now = now or datetime.now(timezone.utc)
    timeout = timeout if timeout is not None else settings["health.probe_timeout_seconds"]
    checks: list[Check] = []
    extra: dict[str, Any] = {"agents": [], "metrics": {}, "probes": []}
    pool = None
    pending = None
    if not offline:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="muse-health")
        pending = pool.submit(probes.run_probes, settings, send_test=send_test, timeout=timeout)
    try:
        # State dir: exists, private, writable.
        try:
            state = settings.ensure_state_dir()
            probe = state / f".health.{os.getpid()}"
            probe.write_text("ok")
            probe.unlink()
            mode = state.stat().st_mode & 0o777
            checks.append(Check("state dir", "ok" if mode & 0o077 == 0 else "warn",
                                f"{state} (mode {mode:o}{'' if mode & 0o077 == 0 else '; other users can read it: chmod 700 it, muse does not'})"))
        except OSError as exc:
            checks.append(Check("state dir", "fail", f"{settings.state_dir}: {exc.strerror}"))
        except MuseError as exc:
            checks.append(Check("state dir", "fail", exc.message))
        # Store and schema.
        store_ok = False
        try:
            with open_store(settings) as store:
                checks.append(Check("store", "ok", store.describe()))
                if store.backend == "server":
                    checks.append(grants_check(store))
                pending_migrations = migrations.pending(store, cluster=settings["store.cluster"])
                if pending_migrations:
                    checks.append(Check("schema", "fail", f"{len(pending_migrations)} pending migration(s); "
                                                          "run `muse db migrate`"))
                else:
                    checks.append(Check("schema", "ok", f"current ({len(migrations.available())} migrations)"))
                    extra["agents"] = store.named("agent_last_runs").dicts()
                    store_ok = True
        except MuseError as exc:
            checks.append(Check("store", "fail", exc.message))
        for repo in ("banterhearts", "banterpacks", "banterblogs"):
            path = settings.path_of(f"repos.{repo}.path")
            if path is None:
                checks.append(Check(f"repo {repo}", "info", "not configured"))
            else:
                ok = (path / ".git").exists() or (path / "HEAD").exists()
                checks.append(Check(f"repo {repo}", "ok" if ok else "fail",
                                    f"{path}{'' if ok else ' is not a git repo'}"))
        results = pending.result() if pending is not None else probes.offline_results(settings)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    for r in results:
        timing = f" [{r.elapsed_ms} ms]" if r.elapsed_ms else ""
        checks.append(Check(r.name, r.level, r.detail + timing))
    extra["probes"] = [vars(r) for r in results]
    if store_ok:
        checks.extend(agent_checks(extra["agents"], now))
    extra["metrics"] = read_local_metrics(settings.state_dir)
    checks.extend(outbox_checks(settings, extra))
    checks.extend(dogstatsd_checks(settings))
    return checks, extra


def outbox_checks(settings: Settings, extra: dict[str, Any] | None = None) -> list[Check]:
    """The alert outbox: depth per sink (warn while anything waits) and any critical alert
    that expired undelivered in the last 7 days (fail: someone was never paged)."""
    import time

    from muse.outbox import Outbox

    box = Outbox(settings.state_dir)
    depth = box.depth()
    if extra is not None:
        extra["outbox"] = depth
    checks: list[Check] = []
    if not depth:
        checks.append(Check("alert outbox", "ok", "empty: every alert and resolve was delivered"))
    for sink, d in sorted(depth.items()):
        age = d["oldest_age_s"]
        age_text = f"{age / 3600:.1f} h" if age >= 3600 else f"{age / 60:.0f} min"
        checks.append(Check(f"alert outbox {sink}", "warn",
                            f"{d['pending']} undelivered ({d['critical']} critical), oldest {age_text}; "
                            "retried by every muse run until accepted or expired (alerts.expiry_hours)"))
    expired = [e for e in box.expired(since=time.time() - 7 * 86400) if e.get("severity") == "critical"]
    if expired:
        last = expired[-1]
        checks.append(Check("alert outbox expired", "fail",
                            f"{len(expired)} critical alert(s) expired undelivered in 7 days; last: "
                            f"{last.get('sink')} {last.get('action')} {str(last.get('title'))[:80]!r} "
                            f"(queued {last.get('created')}); see {box.dir / 'expired.jsonl'}"))
    return checks


def dogstatsd_checks(settings: Settings) -> list[Check]:
    """DogStatsD is UDP: a send never fails, so check at least that the host resolves."""
    import socket

    host, port = settings["datadog.agent_host"], settings["datadog.dogstatsd_port"]
    if not host:
        return []
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        return [Check("dogstatsd", "fail", f"agent host {host!r} does not resolve ({exc}); metrics and "
                                           "events sent to it are lost")]
    return [Check("dogstatsd", "ok", f"agent host {host}:{port} resolves (UDP: delivery is not confirmed)")]


def grants_check(store: Any) -> Check:
    """Warn when the server user muse connects as holds more than its database needs."""
    from muse.sandbox import excess_grants

    try:
        lines = [str(r[0]) for r in store.query("SHOW GRANTS").rows]
        database = str(store.query("SELECT currentDatabase()").scalar())
    except MuseError as exc:
        return Check("store grants", "warn", f"could not read the user's grants: {exc.message}")
    excess = excess_grants(lines, database)
    if excess:
        return Check("store grants", "warn", "the muse user holds more than it needs: " + "; ".join(excess[:5]) +
                     " (see docs/security.md for the grants a muse user needs)")
    return Check("store grants", "ok", f"only the grants muse needs on database {database}")
