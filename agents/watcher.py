"""The watcher: the freshness circuit breaker in front of the council.

Every check (cron: every 15 minutes) reads the latest commit of banterhearts and
banterpacks, counts that commit's rows in the store (bench_runs and ui_events, on
deduplicated data), decides a status per repo and overall, writes a ``watcher_runs`` row,
and opens or closes the gate the council checks (:mod:`muse.analysis.circuit`).

Per repo, with threshold T (``watcher.<repo>_threshold_minutes``)::

    lag_seconds = now - known_until, never negative, where known_until is
      no rows for the latest commit            -> the commit time (we wait for its data)
      banterhearts, rows present               -> now (its one report per commit is in: 0)
      banterpacks, rows present                -> ts of the commit's newest ui_event
    rows = 0, lag <= T  -> valid_pending (grace period; not a failure)
    rows = 0, lag >  T  -> missing_hearts / missing_packs
    rows > 0, lag >  T  -> lag_exceeded (telemetry stopped arriving: ingestion stalled)
    rows > 0, lag <= T  -> valid

The overall status is the worst of the two (valid < valid_pending < lag_exceeded <
missing_packs < missing_hearts) and its lag_seconds the larger one.

The status file is set aside before the store opens (``before_store``), so a check that
cannot verify the data (store locked or unreachable, crash) leaves the council blocked.
A failed check alerts (warning, through the run lifecycle) and removes the status file;
the Nth failed check in a row (``watcher.page_after_failures``) pages through PagerDuty,
and the next valid check resolves that page with the same dedup_key. A valid check writes
the status file; a valid_pending one leaves it as it was.

Example::

    from muse.agents import watcher
    from muse.runs import run_agent
    outcome = run_agent(settings, "watcher", watcher.run)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from muse.analysis import circuit
from muse.analysis.circuit import FAILED_STATUSES, worst
from muse.config import Settings
from muse.errors import ConfigError, InputError, MuseError
from muse.gitrepo import latest_commit
from muse.hours import humanize, parse_ts, ts_str, utcnow
from muse.runs import AgentResult, ItemOutcome, RunContext


AGENT = "watcher"
# The run lifecycle alerts a failed run with this key, so a crash page and a staleness page
# are the same PagerDuty incident and the next valid check resolves either.
PAGE_KEY = f"muse-{AGENT}-failed"
_NO_RUN = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class RepoSpec:
    name: str
    table: str
    query: str
    missing: str
    # True when rows keep arriving for the latest commit (telemetry), False when a commit
    # brings its data once (a benchmark report).
    stream: bool
    # How far before the commit time its rows' ts may lie; bounds the count so ClickHouse
    # prunes older partitions. None: no bound (a benchmark runs before its report is committed).
    lookback: timedelta | None = None

    def threshold_minutes(self, settings: Settings) -> float:
        """watcher.hearts_threshold_minutes or watcher.packs_threshold_minutes."""
        watcher = settings.watcher
        return watcher.hearts_threshold_minutes if self.name == "banterhearts" else watcher.packs_threshold_minutes


REPOS: tuple[RepoSpec, ...] = (
    RepoSpec("banterhearts", "bench_runs", "watcher_hearts_rows", "missing_hearts", stream=False),
    # UI events are stamped by the users' clocks, which may run behind: a week of slack.
    RepoSpec(
        "banterpacks", "ui_events", "watcher_packs_rows", "missing_packs", stream=True, lookback=timedelta(days=7)
    ),
)


@dataclass
class RepoCheck:
    """The verdict for one repo."""

    repo: str
    commit: str
    committed_at: datetime
    rows: int
    newest: datetime | None
    threshold_seconds: float
    status: str
    lag_seconds: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["committed_at"] = self.committed_at.isoformat()
        d["newest"] = self.newest.isoformat() if self.newest else None
        return d


def evaluate(
    spec: RepoSpec,
    *,
    commit: str,
    committed_at: datetime,
    rows: int,
    newest: datetime | None,
    now: datetime,
    threshold_seconds: float,
) -> RepoCheck:
    """The status of one repo from its latest commit and that commit's rows (pure)."""
    if rows == 0:
        known_until = committed_at
    elif spec.stream:
        known_until = newest or committed_at
    else:
        known_until = now
    lag = max(0, int((now - known_until).total_seconds()))
    age = humanize(max(0.0, (now - committed_at).total_seconds()))
    limit = humanize(threshold_seconds)
    head = f"{spec.name} {commit[:8]} (committed {age} ago)"
    if rows == 0 and lag <= threshold_seconds:
        status = "valid_pending"
        message = f"{head}: no {spec.table} rows yet; still within its {limit} grace period, so this is not a failure"
    elif rows == 0:
        status = spec.missing
        message = f"{head}: no {spec.table} rows; they were due within {limit} of the commit"
    elif lag > threshold_seconds:
        status = "lag_exceeded"
        message = (
            f"{head}: the newest of its {rows:,} {spec.table} rows is {humanize(lag)} old, "
            f"over the {limit} threshold; ingestion looks stalled"
        )
    else:
        status = "valid"
        fresh = f", newest {humanize(lag)} old" if spec.stream else ""
        message = f"{head}: {rows:,} {spec.table} rows{fresh}"
    return RepoCheck(spec.name, commit, committed_at, rows, newest, threshold_seconds, status, lag, message)


def _latest(ctx: RunContext, spec: RepoSpec) -> tuple[str, datetime]:
    path = ctx.settings.repos.named(spec.name).dir
    if path is None:
        env = f"MUSE_REPOS_{spec.name.upper()}_PATH"
        raise ConfigError(
            f"repos.{spec.name}.path is not set; the watcher needs a checkout or bare mirror of {spec.name}",
            hint=f"set it in the config file or with {env}",
        )
    commit = latest_commit(path, ctx.settings.repos.named(spec.name).branch)
    if len(commit.sha) != 40:
        raise InputError(f"git repo {path}: commit {commit.sha} is not a 40-character SHA-1")
    return commit.sha, commit.time


def _check_repos(ctx: RunContext) -> tuple[list[RepoCheck], datetime]:
    tips = [(spec, *_latest(ctx, spec)) for spec in REPOS]
    counted = []
    for spec, sha, committed_at in tips:
        params: dict[str, Any] = {"sha": sha}
        if spec.lookback is not None:
            params["since"] = committed_at - spec.lookback
        row = ctx.store.named(spec.query, params).first() or {}
        counted.append((spec, sha, committed_at, int(row.get("rows") or 0), row.get("newest")))
    # One "now" for the whole verdict, taken after the reads it is compared with.
    now = utcnow()
    checks = [
        evaluate(
            spec,
            commit=sha,
            committed_at=at,
            rows=rows,
            newest=newest,
            now=now,
            threshold_seconds=spec.threshold_minutes(ctx.settings) * 60.0,
        )
        for spec, sha, at, rows, newest in counted
    ]
    return checks, now


def before_store(settings: Settings) -> None:
    """Called by the run lifecycle with the agent lock held, before the store opens: the gate
    closes first, so a check that cannot reach the store (exit 5) or dies leaves it closed."""
    circuit.suspend_status(settings.state_dir)


def run(ctx: RunContext) -> AgentResult:
    """One watcher check. Fails closed: any error on the way removes the status file."""
    try:
        return _run(ctx)
    except BaseException:
        circuit.clear_status(ctx.settings.state_dir)
        circuit.resume_status(ctx.settings.state_dir, restore=False)
        raise


run.before_store = before_store  # type: ignore[attr-defined]


def _run(ctx: RunContext) -> AgentResult:
    settings, store = ctx.settings, ctx.store
    checks, now = _check_repos(ctx)
    overall = worst([c.status for c in checks])
    failed = overall in FAILED_STATUSES
    paging = _paging(ctx, overall)
    message = _message(checks, overall, paging)
    _record(ctx, checks, now, overall=overall, message=message, paged=paging.paged)
    # The row the file names exists before the file does.
    file_action = _update_status_file(ctx, checks, now, overall)
    _count(ctx, checks, overall)
    sinks: list[str] = []
    if paging.paged:
        sinks = ctx.alert(
            "critical",
            f"muse watcher: council blocked, {paging.streak} failed checks in a row",
            message,
            dedup_key=PAGE_KEY,
            status=overall,
        )
    if paging.resolve:
        ctx.telemetry.resolve(dedup_key=PAGE_KEY, title="muse watcher: data fresh again, council unblocked")
    if overall == "valid":
        # This check is the latest and valid, and its row and file are in place: the gate is
        # open on it (check_gate would re-read both to say the same).
        hearts, packs = _by_repo(checks)
        gate = circuit.open_verdict(
            run_id=ctx.run_id,
            ran_at=now,
            hearts_commit=hearts.commit,
            packs_commit=packs.commit,
            now=utcnow(),
            max_age_seconds=settings.watcher.status_max_age_minutes * 60.0,
        )
    else:
        gate = circuit.check_gate(settings, store)
    items = [
        ItemOutcome(c.repo, "failed" if c.status in FAILED_STATUSES else "ok", f"{c.status}: {c.message}", rows=c.rows)
        for c in checks
    ]
    return AgentResult(
        status="failed" if failed else "ok",
        message=message,
        rows_written=1,
        items=items,
        alerted=bool(paging.paged),  # the page went to Slack too: no second message from the lifecycle
        details={
            "status": overall,
            "lag_seconds": max(c.lag_seconds for c in checks),
            "repos": [c.as_dict() for c in checks],
            "consecutive_failures": paging.streak,
            "page_after_failures": paging.page_after,
            "paged": paging.paged,
            "page_sinks": sinks,
            "resolved": paging.resolve,
            "status_file": {"path": str(circuit.status_path(settings.state_dir)), "action": file_action},
            "council": gate.as_dict(),
        },
    )


def _by_repo(checks: list[RepoCheck]) -> tuple[RepoCheck, RepoCheck]:
    """The banterhearts and banterpacks checks."""
    by_repo = {c.repo: c for c in checks}
    return by_repo["banterhearts"], by_repo["banterpacks"]


@dataclass(frozen=True)
class _Paging:
    streak: int  # failed checks since the last valid one, this one included
    page_after: int
    paged: bool  # this check pages
    resolve: bool  # this check resolves an open page (or a failed previous run)


def _paging(ctx: RunContext, overall: str) -> _Paging:
    """Whether this check pages or resolves, from the failure streak before it."""
    failed = overall in FAILED_STATUSES
    prior = ctx.store.named("watcher_streak", {"run_id": ctx.run_id}).first() or {}
    prior_failures = int(prior.get("failures") or 0)
    page_open = int(prior.get("pages") or 0) > 0
    streak = prior_failures + 1 if failed else (0 if overall == "valid" else prior_failures)
    page_after = ctx.settings.watcher.page_after_failures
    return _Paging(
        streak=streak,
        page_after=page_after,
        paged=failed and streak >= page_after,
        resolve=overall == "valid" and (page_open or prior.get("previous_agent_status") == "failed"),
    )


def _message(checks: list[RepoCheck], overall: str, paging: _Paging) -> str:
    """The run's one-line message: what failed and when it pages, what is pending, or valid."""
    problems = [c for c in checks if c.status in FAILED_STATUSES]
    pending = [c for c in checks if c.status == "valid_pending"]
    if overall in FAILED_STATUSES:
        tail = (
            f"paging (failed checks in a row: {paging.streak})"
            if paging.paged
            else f"failed checks in a row: {paging.streak}, paging at {paging.page_after}"
        )
        return (
            f"{overall}: " + "; ".join(c.message for c in problems) + f". Council blocked until a check passes; {tail}."
        )
    if pending:
        return "valid_pending, not a failure: " + "; ".join(c.message for c in pending) + "."
    hearts, packs = _by_repo(checks)
    return f"valid: banterhearts {hearts.commit[:8]} and banterpacks {packs.commit[:8]} have their data in the store."


def _record(
    ctx: RunContext, checks: list[RepoCheck], now: datetime, *, overall: str, message: str, paged: bool
) -> None:
    """The check's watcher_runs row."""
    hearts, packs = _by_repo(checks)
    ctx.store.insert(
        "watcher_runs",
        [
            {
                "ts": ts_str(now),
                "run_id": ctx.run_id,
                "hearts_commit": hearts.commit,
                "packs_commit": packs.commit,
                "hearts_rows_found": min(hearts.rows, 2**32 - 1),
                "packs_rows_found": min(packs.rows, 2**32 - 1),
                "hearts_status": hearts.status,
                "packs_status": packs.status,
                "hearts_lag_seconds": hearts.lag_seconds,
                "packs_lag_seconds": packs.lag_seconds,
                "lag_seconds": max(c.lag_seconds for c in checks),
                "status": overall,
                "message": message[:2000],
                # A failed run is alerted by the run lifecycle after this returns.
                "alert_sent": overall in FAILED_STATUSES,
                "paged": paged,
            }
        ],
    )


def _update_status_file(ctx: RunContext, checks: list[RepoCheck], now: datetime, overall: str) -> str:
    """Write (valid), remove (failed) or restore (valid_pending) the status file; what was done."""
    state_dir = ctx.settings.state_dir
    if overall == "valid":
        hearts, packs = _by_repo(checks)
        try:
            circuit.write_status(
                state_dir, run_id=ctx.run_id, checked_at=now, hearts_commit=hearts.commit, packs_commit=packs.commit
            )
        except OSError as exc:
            raise MuseError(f"cannot write the watcher status file in {state_dir}: {exc.strerror or exc}") from None
        circuit.resume_status(state_dir, restore=False)
        return "written"
    if overall in FAILED_STATUSES:
        circuit.clear_status(state_dir)
        circuit.resume_status(state_dir, restore=False)
        return "removed"
    # valid_pending: the file set aside before the check (if any) is what it was.
    circuit.resume_status(state_dir, restore=True)
    return "unchanged"


def _count(ctx: RunContext, checks: list[RepoCheck], overall: str) -> None:
    """Lag gauges per repo, and one success or failure count."""
    tel = ctx.telemetry
    for c in checks:
        tel.gauge("watcher.lag_seconds", c.lag_seconds, repo=c.repo)
    if overall in FAILED_STATUSES:
        # One count per failed check (the monitor's thresholds count checks); the failing
        # repos and their statuses are its tags.
        problems = [c for c in checks if c.status in FAILED_STATUSES]
        tel.count("watcher.failure", 1, repo=[c.repo for c in problems], reason=sorted({c.status for c in problems}))
    else:
        tel.count("watcher.success", 1, status=overall)


def describe(settings: Settings, store: Any, *, recent: int = 5, now: datetime | None = None) -> dict[str, Any]:
    """What `muse watcher status` shows: last check per repo, the status file, the failure
    streak and whether the council is unblocked (read-only)."""
    now = now or datetime.now(timezone.utc)
    rows = store.named("watcher_recent", {"limit": recent}).dicts()
    streak = store.named("watcher_streak", {"run_id": _NO_RUN}).first() or {}
    gate = circuit.check_gate(settings, store, now=now)
    path = circuit.status_path(settings.state_dir)
    parsed, problem = circuit.read_status(settings.state_dir)
    status_file: dict[str, Any] = {
        "path": str(path),
        "exists": path.exists(),
        "problem": problem,
        "run_id": None,
        "checked_at": None,
        "age_seconds": None,
    }
    if parsed is not None:
        status_file.update(
            run_id=parsed.run_id,
            checked_at=parsed.checked_at.isoformat(),
            age_seconds=(now - parsed.checked_at).total_seconds(),
        )
    last_valid = streak.get("last_valid_ts")
    last = None
    if rows:
        r = rows[0]
        ran_at = parse_ts(r["ts"])
        last = {
            "run_id": r["run_id"],
            "ts": ran_at.isoformat() if ran_at else None,
            "age_seconds": (now - ran_at).total_seconds() if ran_at else None,
            "status": r["status"],
            "message": r["message"],
            "paged": bool(r["paged"]),
            "repos": [
                {
                    "repo": "banterhearts",
                    "commit": r["hearts_commit"],
                    "rows": r["hearts_rows_found"],
                    "status": r["hearts_status"],
                    "lag_seconds": r["hearts_lag_seconds"],
                },
                {
                    "repo": "banterpacks",
                    "commit": r["packs_commit"],
                    "rows": r["packs_rows_found"],
                    "status": r["packs_status"],
                    "lag_seconds": r["packs_lag_seconds"],
                },
            ],
        }
    # The one sentence to read first: why the council is (un)blocked.
    headline = gate.reason
    if not gate.open and last is not None and last["status"] in FAILED_STATUSES:
        headline = f"Council blocked by the last watcher check ({humanize(last['age_seconds'])} ago): {last['message']}"
    return {
        "headline": headline,
        "council": gate.as_dict(),
        "last_check": last,
        "status_file": status_file,
        "consecutive_failures": int(streak.get("failures") or 0),
        "page_after_failures": settings.watcher.page_after_failures,
        "page_open": int(streak.get("pages") or 0) > 0,
        "last_valid_ts": last_valid.isoformat() if last_valid else None,
        "thresholds_minutes": {s.name: s.threshold_minutes(settings) for s in REPOS},
        "status_max_age_minutes": settings.watcher.status_max_age_minutes,
        "recent": [{k: r[k] for k in ("ts", "run_id", "status", "message")} for r in rows],
    }
