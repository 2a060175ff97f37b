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
from muse.hours import humanize, parse_ts
from muse.schedule import SCHEDULES, Schedule, check_punctuality, schedules
from muse.store import open_store
from muse.telemetry import read_local_metrics

Level = Literal["ok", "warn", "fail", "info"]
_RANK = {"info": 0, "ok": 1, "warn": 2, "fail": 3}
_PUNCT_LEVEL: dict[str, Level] = {"ok": "ok", "late": "fail", "never": "warn", "waiting": "info"}


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
    if status in ("blocked", "skipped", "running", "unavailable", "interrupted"):
        return "warn"
    return "fail"


def agent_checks(
    last_runs: list[dict[str, Any]], now: datetime, scheds: tuple[Schedule, ...] | None = None
) -> list[Check]:
    """One check per scheduled agent (and any other agent with runs): last status + punctuality,
    judged against ``scheds`` (the configured schedule; default: the built-in one)."""
    scheds = tuple(s for s in (scheds or SCHEDULES) if s.watched)
    by_name = {s.agent: s for s in scheds}
    by_agent = {r["agent"]: r for r in last_runs}
    checks: list[Check] = []
    for sched in scheds:
        run = by_agent.get(sched.agent)
        started = parse_ts(run["last_started"], zero_is_none=True) if run else None
        predecessor = None
        if sched.after:
            pred = by_agent.get(sched.after)
            predecessor = (
                (pred["last_status"], parse_ts(pred["last_started"], zero_is_none=True))
                if pred
                else ("never run", None)
            )
        punct = check_punctuality(sched, started, now, predecessor=predecessor)
        punct_level = _PUNCT_LEVEL[punct.state]
        if run is None:
            checks.append(Check(f"agent {sched.agent}", punct_level, punct.detail))
            continue
        status = run["last_status"]
        status_level = _status_level(status)
        # Waiting on a predecessor is reported there; only this agent's own failure counts.
        level = (
            (status_level if status_level != "ok" else "info")
            if punct.state == "waiting"
            else worst(punct_level, status_level)
        )
        message = (run.get("last_message") or "").replace("\n", " ")[:120]
        failures = int(run.get("failures_24h") or 0)
        detail = f"{punct.detail}; last status {status}" + (f": {message}" if message else "")
        if failures and status != "failed":
            detail += f" ({failures} failed run(s) in 24h)"
        detail += _did_not_run(run)
        checks.append(Check(f"agent {sched.agent}", level, detail))
    for agent, run in sorted(by_agent.items()):
        if agent in by_name:
            continue
        status = run["last_status"]
        checks.append(
            Check(
                f"agent {agent}",
                _status_level(status),
                f"unscheduled; last run {status} at {run['last_started']}: {(run.get('last_message') or '')[:120]}",
            )
        )
    return checks


def _did_not_run(run: dict[str, Any]) -> str:
    """' (2 skipped, 1 store unavailable in 24h)': runs that did not do their work."""
    parts = [
        f"{int(run.get(k) or 0)} {label}"
        for k, label in (
            ("unavailable_24h", "store unavailable (exit 5)"),
            ("skipped_24h", "skipped (exit 4)"),
            ("interrupted_24h", "interrupted"),
        )
        if int(run.get(k) or 0)
    ]
    return f" ({', '.join(parts)} in 24h)" if parts else ""


def merge_ledger(last_runs: list[dict[str, Any]], ledger: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Fold runs still in the local ledger (not in agent_runs yet: skipped, store unavailable)
    into the per-agent last runs, so health counts them before the next run stores them."""
    by_agent = {r["agent"]: dict(r) for r in last_runs}
    day_ago = now.astimezone(timezone.utc).timestamp() - 86400
    for row in ledger:
        started = parse_ts(row.get("started"), zero_is_none=True)
        if started is None:
            continue
        run = by_agent.setdefault(
            row["agent"],
            {"agent": row["agent"], "last_status": row["status"], "last_started": row["started"], "last_message": ""},
        )
        last = parse_ts(run.get("last_started"), zero_is_none=True)
        if last is None or started > last:
            run.update(
                last_status=row["status"],
                last_started=row["started"],
                last_message=row.get("message", ""),
                last_exit_code=row.get("exit_code"),
            )
        key = {
            "failed": "failures_24h",
            "skipped": "skipped_24h",
            "unavailable": "unavailable_24h",
            "interrupted": "interrupted_24h",
        }.get(row["status"])
        if key and started.timestamp() >= day_ago:
            run[key] = int(run.get(key) or 0) + 1
    return [by_agent[a] for a in sorted(by_agent)]


def stuck_run_checks(store: Any, scheds: tuple[Schedule, ...], now: datetime) -> list[Check]:
    """Runs still `running` past their agent's timeout (the schedule's grace; an hour for an
    agent without a schedule): killed with SIGKILL or lost with the machine. SIGINT and
    SIGTERM finish the row as interrupted, so these are the runs nothing could finish."""
    from datetime import timedelta

    from muse.hours import ts_str

    timeouts = {s.agent: s.grace for s in scheds}
    shortest = min(timeouts.values(), default=timedelta(hours=1))
    rows = store.named("agent_runs_stuck", {"before": ts_str(now - shortest)}).dicts()
    stuck = []
    for r in rows:
        started = parse_ts(r["started_at"], zero_is_none=True)
        limit = timeouts.get(r["agent"], timedelta(hours=1))
        if started is not None and now - started > limit:
            stuck.append(f"{r['agent']} run {r['run_id'][:8]} (started {humanize(now - started)} ago)")
    if not stuck:
        return [Check("stuck runs", "ok", "no run left running past its timeout")]
    return [
        Check(
            "stuck runs",
            "warn",
            f"{len(stuck)} run(s) still 'running' past their timeout, killed or lost: " + "; ".join(stuck[:5]),
        )
    ]


def run_checks(
    settings: Settings,
    *,
    offline: bool = True,
    send_test: bool = False,
    timeout: float | None = None,
    now: datetime | None = None,
) -> tuple[list[Check], dict[str, Any]]:
    """Every health check. Network probes (``offline=False``; the CLI's default) run
    concurrently with the local checks; library callers such as the demo get no network."""
    from muse.ops import probes

    from muse.runs import read_ledger

    now = now or datetime.now(timezone.utc)
    scheds = schedules(settings)
    timeout = timeout if timeout is not None else settings.health.probe_timeout_seconds
    checks: list[Check] = []
    extra: dict[str, Any] = {"agents": [], "metrics": {}, "probes": []}
    pool = None
    pending = None
    if not offline:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="muse-health")
        pending = pool.submit(probes.run_probes, settings, send_test=send_test, timeout=timeout)
    try:
        checks.append(_state_dir_check(settings))
        store_checks, stuck = _store_checks(settings, scheds, now, extra)
        checks.extend(store_checks)
        checks.extend(_repo_checks(settings))
        results = pending.result() if pending is not None else probes.offline_results(settings)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    for r in results:
        timing = f" [{r.elapsed_ms} ms]" if r.elapsed_ms else ""
        checks.append(Check(r.name, r.level, r.detail + timing))
    extra["probes"] = [vars(r) for r in results]
    if stuck is not None:  # the store is usable and its schema current
        extra["agents"] = merge_ledger(extra["agents"], read_ledger(settings), now)
        checks.extend(agent_checks(extra["agents"], now, scheds))
        checks.extend(stuck)
    extra["metrics"] = read_local_metrics(settings.state_dir)
    checks.extend(outbox_checks(settings, extra))
    checks.extend(dogstatsd_checks(settings))
    return checks, extra


def _state_dir_check(settings: Settings) -> Check:
    """The state dir exists, is writable, and is private (a warning when others can read it)."""
    try:
        state = settings.ensure_state_dir()
        probe = state / f".health.{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
        mode = state.stat().st_mode & 0o777
        private = mode & 0o077 == 0
        advice = "" if private else "; other users can read it: chmod 700 it, muse does not"
        return Check("state dir", "ok" if private else "warn", f"{state} (mode {mode:o}{advice})")
    except OSError as exc:
        return Check("state dir", "fail", f"{settings.state_dir}: {exc.strerror}")
    except MuseError as exc:
        return Check("state dir", "fail", exc.message)


def _store_checks(
    settings: Settings, scheds: tuple[Schedule, ...], now: datetime, extra: dict[str, Any]
) -> tuple[list[Check], list[Check] | None]:
    """The store and its schema; when the schema is current, the agents' last runs (into
    ``extra["agents"]``) and the stuck-run checks, else None for those (agents unjudged)."""
    checks: list[Check] = []
    stuck: list[Check] | None = None
    try:
        with open_store(settings) as store:
            checks.append(Check("store", "ok", store.describe()))
            if store.backend == "server":
                checks.append(grants_check(store))
            pending_migrations = migrations.pending(store, cluster=settings.store.cluster)
            if pending_migrations:
                checks.append(
                    Check("schema", "fail", f"{len(pending_migrations)} pending migration(s); run `muse db migrate`")
                )
            else:
                checks.append(Check("schema", "ok", f"current ({len(migrations.available())} migrations)"))
                extra["agents"] = store.named("agent_last_runs").dicts()
                stuck = stuck_run_checks(store, scheds, now)
    except MuseError as exc:
        checks.append(Check("store", "fail", exc.message))
    return checks, stuck


def _repo_checks(settings: Settings) -> list[Check]:
    """Each configured repo is a git repo (a working tree or a bare one)."""
    checks = []
    for repo in ("banterhearts", "banterpacks", "banterblogs"):
        path = settings.repos.named(repo).dir
        if path is None:
            checks.append(Check(f"repo {repo}", "info", "not configured"))
        else:
            ok = (path / ".git").exists() or (path / "HEAD").exists()
            checks.append(Check(f"repo {repo}", "ok" if ok else "fail", f"{path}{'' if ok else ' is not a git repo'}"))
    return checks


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
        checks.append(
            Check(
                f"alert outbox {sink}",
                "warn",
                f"{d['pending']} undelivered ({d['critical']} critical), oldest {humanize(age)}; "
                "retried by every muse run until accepted or expired (alerts.expiry_hours)",
            )
        )
    expired = [e for e in box.expired(since=time.time() - 7 * 86400) if e.get("severity") == "critical"]
    if expired:
        last = expired[-1]
        checks.append(
            Check(
                "alert outbox expired",
                "fail",
                f"{len(expired)} critical alert(s) expired undelivered in 7 days; last: "
                f"{last.get('sink')} {last.get('action')} {str(last.get('title'))[:80]!r} "
                f"(queued {last.get('created')}); see {box.dir / 'expired.jsonl'}",
            )
        )
    return checks


def dogstatsd_checks(settings: Settings) -> list[Check]:
    """DogStatsD is UDP: a send never fails, so check at least that the host resolves."""
    import socket

    host, port = settings.datadog.agent_host, settings.datadog.dogstatsd_port
    if not host:
        return []
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        return [
            Check(
                "dogstatsd",
                "fail",
                f"agent host {host!r} does not resolve ({exc}); metrics and events sent to it are lost",
            )
        ]
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
        return Check(
            "store grants",
            "warn",
            "the muse user holds more than it needs: "
            + "; ".join(excess[:5])
            + " (see docs/security.md for the grants a muse user needs)",
        )
    return Check("store grants", "ok", f"only the grants muse needs on database {database}")
