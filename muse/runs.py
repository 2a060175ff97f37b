"""The run lifecycle every agent shares.

``run_agent`` takes the agent's lock (an overlapping cron run is skipped, not failed),
opens the store, checks the schema, records an ``agent_runs`` row as ``running`` and then
its final version, alerts on failure, flushes metrics, and returns a RunOutcome. Agents
are plain functions ``fn(ctx, **options) -> AgentResult``; they never see Typer or Rich.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal

from muse import migrations
from muse.config import Settings
from muse.errors import BlockedError, ExitCode, MuseError
from muse.locks import FileLock
from muse.store import Store, open_store
from muse.telemetry import Telemetry

log = logging.getLogger(__name__)

Status = Literal["ok", "failed", "blocked", "skipped"]
EXIT_FOR_STATUS: dict[str, ExitCode] = {
    "ok": ExitCode.OK,
    "failed": ExitCode.FAILED,
    "blocked": ExitCode.BLOCKED,
    "skipped": ExitCode.SKIPPED,
}


@dataclass
class ItemOutcome:
    """One item of a batch (a report, a file, a language): its own status and message."""

    item: str
    status: Literal["ok", "failed", "skipped"]
    message: str = ""
    rows: int = 0


@dataclass
class AgentResult:
    status: Status = "ok"
    message: str = ""
    rows_written: int = 0
    items: list[ItemOutcome] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    forced: bool = False
    # The agent already alerted for this failure itself (e.g. the watcher's page): the
    # lifecycle does not send its generic "failed" alert as well.
    alerted: bool = False


@dataclass
class RunOutcome:
    agent: str
    run_id: str
    result: AgentResult
    duration_s: float
    exit_code: ExitCode
    error: str = ""

    @property
    def status(self) -> str:
        return self.result.status


@dataclass
class RunContext:
    """What an agent gets: settings, an open store, telemetry, and its run identity."""

    agent: str
    run_id: str
    settings: Settings
    store: Store
    telemetry: Telemetry
    started: datetime
    progress: Callable[[str, int, int], None] | None = None

    def alert(self, severity: Any, title: str, text: str, *, dedup_key: str | None = None, **tags: Any) -> list[str]:
        return self.telemetry.alert(severity, title, text, dedup_key=dedup_key or f"muse-{self.agent}-{title}",
                                    source=f"muse {self.agent}", tags=tags or None)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def ts_str(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _record(store: Store, agent: str, run_id: str, started: datetime, status: str, *,
            finished: datetime | None = None, result: AgentResult | None = None, error: str = "") -> None:
    result = result or AgentResult()
    store.insert("agent_runs", [{
        "agent": agent, "run_id": run_id, "started": ts_str(started),
        "finished": ts_str(finished) if finished else None, "status": status,
        "rows_written": result.rows_written, "message": result.message[:2000], "error": error[:4000],
        "forced": result.forced, "details": json.dumps(result.details, default=str)[:100_000],
        "updated_at": ts_str(utcnow()),
    }])


def _page_key(agent: str) -> str:
    return f"muse-{agent}-failed"


def _page_marker(settings: Settings, agent: str) -> Path:
    return settings.state_dir / "pages" / f"{agent}.open"


def _mark_page(settings: Settings, agent: str) -> None:
    """Remember that a run of ``agent`` paged, so the next successful run resolves it."""
    marker = _page_marker(settings, agent)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        marker.write_text(utcnow().isoformat() + "\n", encoding="utf-8")
    except OSError as exc:
        log.warning("could not remember the open page of %s: %s", agent, exc)


def _resolve_page(settings: Settings, agent: str, telemetry: Telemetry) -> None:
    """A successful run after one that paged resolves that page (same dedup key)."""
    marker = _page_marker(settings, agent)
    if not marker.exists():
        return
    key = _page_key(agent)
    done = [a for a in telemetry.alerts_sent if a.get("action") == "resolve" and a.get("dedup_key") == key]
    if done and not done[-1].get("queued"):
        # (the agent resolved it itself, as the watcher does, and PagerDuty accepted that)
        marker.unlink(missing_ok=True)
        return
    # The marker goes only once PagerDuty accepted the resolve (the outbox retries it).
    telemetry.resolve(dedup_key=key, title=f"muse {agent} ran ok again", clears=marker)


def run_agent(
    settings: Settings,
    agent: str,
    fn: Callable[..., AgentResult],
    *,
    telemetry: Telemetry | None = None,
    store: Store | None = None,
    on_wait: Callable[[str], None] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    **options: Any,
) -> RunOutcome:
    """Run one agent function with the shared lifecycle. Never raises for agent failures."""
    run_id = str(uuid.uuid4())
    telemetry = telemetry or Telemetry.from_settings(settings)
    t0 = time.monotonic()
    settings.ensure_state_dir()
    lock = FileLock(settings.state_dir / "locks" / f"{agent}.lock", what=f"agent {agent}")
    if not lock.try_acquire():
        holder = lock.holder()
        msg = f"another {agent} run holds the lock ({holder}); skipping"
        log.info(msg)
        telemetry.count("agent.run", 1, agent=agent, status="skipped", exit_code=int(ExitCode.SKIPPED))
        telemetry.flush()
        return RunOutcome(agent, run_id, AgentResult(status="skipped", message=msg),
                          time.monotonic() - t0, ExitCode.SKIPPED)
    own_store = store is None
    started = utcnow()
    result = AgentResult(status="failed", message="interrupted")  # until the run says otherwise
    error = ""
    exit_code = ExitCode.OK
    try:
        # An agent that must act before the store opens says so (the watcher closes the
        # council's gate first, so a check that cannot reach the store leaves it closed).
        before_store = getattr(fn, "before_store", None)
        if before_store is not None:
            try:
                before_store(settings)
            except OSError as exc:
                raise MuseError(f"{agent} could not prepare its run: {exc}") from exc
        if own_store:
            store = open_store(settings, on_wait=on_wait)
        assert store is not None
        migrations.require_current(store, cluster=settings["store.cluster"])
        _record(store, agent, run_id, started, "running")
        ctx = RunContext(agent, run_id, settings, store, telemetry, started, progress)
        try:
            result = fn(ctx, **options)
        except BlockedError as exc:
            result = AgentResult(status="blocked", message=exc.message)
        except MuseError as exc:
            error = exc.message
            result = AgentResult(status="failed", message=exc.message)
            exit_code = exc.exit_code
        except Exception as exc:  # noqa: BLE001 - a crash is recorded, alerted, and reported
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            log.debug("agent %s crashed", agent, exc_info=True)
            result = AgentResult(status="failed", message=f"crashed: {error}")
        if exit_code == ExitCode.OK:
            exit_code = EXIT_FOR_STATUS[result.status]
        if result.status == "failed" and exit_code != ExitCode.USAGE and not result.alerted:
            # A usage error (bad argument, wrong state for the command) is the caller's
            # mistake, reported by the exit code: it pages nobody.
            ctx.alert("critical" if error else "warning", f"muse {agent} failed", result.message,
                      dedup_key=_page_key(agent), run_id=run_id)
            if error:
                _mark_page(settings, agent)
        elif result.status == "ok":
            _resolve_page(settings, agent, telemetry)
        try:
            _record(store, agent, run_id, started, result.status, finished=utcnow(), result=result, error=error)
        except MuseError as exc:
            log.error("could not record the %s run in agent_runs: %s", agent, exc.message)
    except MuseError as exc:
        # Store unavailable or schema outdated: nothing ran; say so (with the way out) and alert.
        result = AgentResult(status="failed", message=exc.message + (f"; {exc.hint}" if exc.hint else ""))
        error = exc.message
        exit_code = exc.exit_code
        if exit_code != ExitCode.USAGE:
            telemetry.alert("critical", f"muse {agent} could not run", exc.message,
                            dedup_key=_page_key(agent), source=f"muse {agent}")
            _mark_page(settings, agent)
    finally:
        if own_store and store is not None:
            store.close()
        lock.release()
        # Every run, whatever its outcome (exit 5 included), counts once (docs/alerts.md).
        telemetry.count("agent.run", 1, agent=agent, status=result.status, exit_code=int(exit_code))
        telemetry.flush()
    duration = time.monotonic() - t0
    log.info("%s run %s %s in %.2fs: %s (rows written: %d)", agent, run_id[:8], result.status, duration,
             result.message or "-", result.rows_written)
    return RunOutcome(agent, run_id, result, duration, exit_code, error)
