"""The run lifecycle every agent shares.

``run_agent`` takes the agent's lock (an overlapping cron run is skipped, not failed),
opens the store, checks the schema, records an ``agent_runs`` row as ``running`` and then
its final version, alerts on failure, flushes metrics, and returns a RunOutcome. Agents
are plain functions ``fn(ctx, **options) -> AgentResult``; they never see Typer or Rich.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Literal

from muse import migrations
from muse.config import Settings
from muse import locks
from muse.errors import BlockedError, ExitCode, MuseError, StoreLockTimeout
from muse.hours import ts_str, utcnow
from muse.locks import FileLock
from muse.store import Store, open_store
from muse.telemetry import Telemetry

log = logging.getLogger(__name__)

Status = Literal["ok", "failed", "blocked", "skipped", "unavailable", "interrupted"]
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
        return self.telemetry.alert(
            severity,
            title,
            text,
            dedup_key=dedup_key or f"muse-{self.agent}-{title}",
            source=f"muse {self.agent}",
            tags=tags or None,
        )


def _row(
    agent: str,
    run_id: str,
    started: datetime,
    status: str,
    *,
    finished: datetime | None = None,
    result: AgentResult | None = None,
    error: str = "",
    exit_code: int | None = None,
) -> dict[str, Any]:
    result = result or AgentResult()
    return {
        "agent": agent,
        "run_id": run_id,
        "started": ts_str(started),
        "finished": ts_str(finished) if finished else None,
        "status": status,
        "exit_code": None if exit_code is None else int(exit_code),
        "rows_written": result.rows_written,
        "message": result.message[:2000],
        "error": error[:4000],
        "forced": result.forced,
        "details": json.dumps(result.details, default=str)[:100_000],
        "updated_at": ts_str(utcnow()),
    }


def _record(
    store: Store,
    agent: str,
    run_id: str,
    started: datetime,
    status: str,
    *,
    finished: datetime | None = None,
    result: AgentResult | None = None,
    error: str = "",
    exit_code: int | None = None,
    extra: list[dict[str, Any]] | None = None,
) -> None:
    rows = [
        *(extra or []),
        _row(agent, run_id, started, status, finished=finished, result=result, error=error, exit_code=exit_code),
    ]
    store.insert("agent_runs", rows)


# -- The local ledger: runs that could not write to agent_runs ---------------------------
# A run skipped for an overlap (exit 4), one that could not open the store (exit 5) or whose
# schema was out of date, and one whose final row could not be written, append their row to
# <state dir>/runs/ledger.jsonl. The next run that reaches the store inserts them into
# agent_runs together with its own first row (one insert, one part) and empties the ledger.
# Rows are keyed (agent, run_id) in a replacing table, so a fold retried after a crash
# between the insert and the truncation writes nothing twice.

LEDGER_MAX_ROWS = 10_000


def ledger_path(settings: Settings) -> Path:
    return settings.state_dir / "runs" / "ledger.jsonl"


def read_ledger(settings: Settings) -> list[dict[str, Any]]:
    """The ledger's rows, read-only (for health and digest): runs not in agent_runs yet."""
    try:
        text = ledger_path(settings).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    rows = []
    for line in text.splitlines()[-LEDGER_MAX_ROWS:]:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("agent") and row.get("run_id") and row.get("status"):
            rows.append(row)
    return rows


def _ledger_append(settings: Settings, row: dict[str, Any]) -> None:
    path = ledger_path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = FileLock(path.with_suffix(".lock"), what="the run ledger")
        lock.acquire(timeout=5)
        try:
            with path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row, default=str) + "\n")
        finally:
            lock.release()
    except Exception as exc:  # noqa: BLE001 - a lost ledger row must not turn into a crash
        log.warning(
            "could not record the %s run %s in the run ledger %s: %s",
            row.get("agent"),
            str(row.get("run_id"))[:8],
            path,
            exc,
        )


def _ledger_take(settings: Settings) -> tuple[list[dict[str, Any]], FileLock | None]:
    """The ledger's rows, with its lock held (release after they are stored or given back)."""
    path = ledger_path(settings)
    if not path.exists():
        return [], None
    lock = FileLock(path.with_suffix(".lock"), what="the run ledger")
    try:
        lock.acquire(timeout=5)
    except Exception as exc:  # noqa: BLE001 - the next run folds it
        log.warning("could not take the run ledger %s: %s", path, exc)
        return [], None
    # (a line cut short by a full disk is skipped; the rest of the ledger still counts)
    return read_ledger(settings), lock


def _ledger_done(settings: Settings, lock: FileLock | None, stored: bool) -> None:
    if lock is None:
        return
    try:
        if stored:
            ledger_path(settings).unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not empty the run ledger: %s", exc)
    finally:
        lock.release()


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


def _maintain(settings: Settings, store: Store) -> None:
    """Bounded end-of-run store maintenance: a short run must not leave the store bigger."""
    try:
        store.maintain(wait=settings.store.cleanup_wait_seconds)
    except MuseError as exc:
        log.warning("store maintenance skipped: %s", exc.message)


class Interrupted(BaseException):
    """SIGTERM, raised in the main thread so the run finishes its row as interrupted."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Interrupted(signum)


def _install_sigterm() -> Any:
    """Turn SIGTERM into Interrupted for the length of a run (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):
        return None


def _restore_sigterm(previous: Any) -> None:
    if previous is not None:
        try:
            signal.signal(signal.SIGTERM, previous)
        except (ValueError, OSError):
            pass


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
    """Run one agent function with the shared lifecycle. Never raises for agent failures.

    Every run is recorded with its exit code: in agent_runs when the store is reached, in
    the local ledger otherwise (skipped, store unavailable), from where the next run that
    reaches the store folds it in. SIGINT and SIGTERM finish the row as ``interrupted``
    (exit 130 / 143).
    """
    run_id = str(uuid.uuid4())
    telemetry = telemetry or Telemetry.from_settings(settings)
    t0 = time.monotonic()
    started = utcnow()
    previous_role = locks.set_role("agent")
    try:
        return _run_agent(settings, agent, fn, run_id, telemetry, t0, started, store, on_wait, progress, options)
    finally:
        locks.set_role(previous_role)


def _run_agent(
    settings: Settings,
    agent: str,
    fn: Callable[..., AgentResult],
    run_id: str,
    telemetry: Telemetry,
    t0: float,
    started: datetime,
    store: Store | None,
    on_wait: Callable[[str], None] | None,
    progress: Callable[[str, int, int], None] | None,
    options: dict[str, Any],
) -> RunOutcome:
    run = _Run(settings, agent, run_id, telemetry, t0, started, store=store, own_store=store is None)
    lock = run.take_lock()
    if isinstance(lock, RunOutcome):
        return lock
    previous_handler = _install_sigterm()
    try:
        try:
            ctx = run.start(fn, on_wait=on_wait, progress=progress)
            run.call(fn, ctx, options)
            run.page_or_resolve(ctx)
            run.record_final()
        except MuseError as exc:
            run.could_not_run(exc)
        except (KeyboardInterrupt, Interrupted) as exc:
            run.interrupted(exc)
    finally:
        _restore_sigterm(previous_handler)
        run.finish(lock)
    return run.outcome()


@dataclass
class _Run:
    """One agent run's lifecycle: what it has done so far decides how it is finished and recorded."""

    settings: Settings
    agent: str
    run_id: str
    telemetry: Telemetry
    t0: float
    started: datetime
    store: Store | None
    own_store: bool
    # Until the run says otherwise.
    result: AgentResult = field(default_factory=lambda: AgentResult(status="failed", message="the run did not finish"))
    error: str = ""
    exit_code: ExitCode = ExitCode.OK
    recorded: bool = False  # the final row is in agent_runs (or the ledger)
    running: bool = False  # the running row is in agent_runs

    def take_lock(self) -> FileLock | RunOutcome:
        """The agent's lock; or the finished outcome when the state dir is unusable (alerted) or
        another run holds the lock (skipped, in the ledger)."""
        settings, agent, telemetry = self.settings, self.agent, self.telemetry
        try:
            settings.ensure_state_dir()
            lock = FileLock(settings.state_dir / "locks" / f"{agent}.lock", what=f"agent {agent}")
            acquired = lock.try_acquire()
        except OSError as exc:
            # A read-only or full state dir: nothing can run; say where, and alert.
            msg = f"cannot take the {agent} lock in {settings.state_dir / 'locks'}: {exc.strerror or exc}"
            log.error(msg)
            telemetry.alert(
                "critical", f"muse {agent} could not run", msg, dedup_key=_page_key(agent), source=f"muse {agent}"
            )
            telemetry.flush()
            return RunOutcome(
                agent,
                self.run_id,
                AgentResult(status="failed", message=msg),
                time.monotonic() - self.t0,
                ExitCode.FAILED,
                msg,
            )
        if not acquired:
            holder = lock.holder()
            msg = f"another {agent} run holds the lock ({holder}); skipping"
            log.info(msg)
            result = AgentResult(status="skipped", message=msg)
            _ledger_append(
                settings,
                _row(
                    agent,
                    self.run_id,
                    self.started,
                    "skipped",
                    finished=utcnow(),
                    result=result,
                    exit_code=ExitCode.SKIPPED,
                ),
            )
            telemetry.count("agent.run", 1, agent=agent, status="skipped", exit_code=int(ExitCode.SKIPPED))
            telemetry.flush()
            return RunOutcome(agent, self.run_id, result, time.monotonic() - self.t0, ExitCode.SKIPPED)
        return lock

    def start(
        self,
        fn: Callable[..., AgentResult],
        *,
        on_wait: Callable[[str], None] | None,
        progress: Callable[[str, int, int], None] | None,
    ) -> RunContext:
        """Open the store (unless given), fold the local ledger into agent_runs and record the
        running row."""
        settings = self.settings
        # An agent that must act before the store opens says so (the watcher closes the
        # council's gate first, so a check that cannot reach the store leaves it closed).
        before_store = getattr(fn, "before_store", None)
        if before_store is not None:
            try:
                before_store(settings)
            except OSError as exc:
                raise MuseError(f"{self.agent} could not prepare its run: {exc}") from exc
        if self.own_store:
            self.store = open_store(settings, on_wait=on_wait)
        store = self.store
        assert store is not None
        migrations.require_current(store, cluster=settings.store.cluster)
        ledger_rows, ledger_lock = _ledger_take(settings)
        try:
            _record(store, self.agent, self.run_id, self.started, "running", extra=ledger_rows)
        except BaseException:
            _ledger_done(settings, ledger_lock, stored=False)
            raise
        _ledger_done(settings, ledger_lock, stored=True)
        if ledger_rows:
            log.info("folded %d run(s) from the local ledger into agent_runs", len(ledger_rows))
        self.running = True
        return RunContext(self.agent, self.run_id, settings, store, self.telemetry, self.started, progress)

    def call(self, fn: Callable[..., AgentResult], ctx: RunContext, options: dict[str, Any]) -> None:
        """The agent itself: its result, its typed failure, or a crash (recorded, never raised)."""
        try:
            self.result = fn(ctx, **options)
        except BlockedError as exc:
            self.result = AgentResult(status="blocked", message=exc.message)
        except MuseError as exc:
            self.error = exc.message
            self.result = AgentResult(status="failed", message=exc.message)
            self.exit_code = exc.exit_code
        except Exception as exc:  # a crash is recorded, alerted, and reported
            self.error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            log.debug("agent %s crashed", self.agent, exc_info=True)
            self.result = AgentResult(status="failed", message=f"crashed: {self.error}")
        if self.exit_code == ExitCode.OK:
            self.exit_code = EXIT_FOR_STATUS[self.result.status]

    def page_or_resolve(self, ctx: RunContext) -> None:
        """Alert a failed run (paging for a crash), resolve an open page after an ok one."""
        result = self.result
        if result.status == "failed" and self.exit_code != ExitCode.USAGE and not result.alerted:
            # A usage error (bad argument, wrong state for the command) is the caller's
            # mistake, reported by the exit code: it pages nobody.
            ctx.alert(
                "critical" if self.error else "warning",
                f"muse {self.agent} failed",
                result.message,
                dedup_key=_page_key(self.agent),
                run_id=self.run_id,
            )
            if self.error:
                _mark_page(self.settings, self.agent)
        elif result.status == "ok":
            _resolve_page(self.settings, self.agent, self.telemetry)

    def _final_row(self, status: str) -> dict[str, Any]:
        return _row(
            self.agent,
            self.run_id,
            self.started,
            status,
            finished=utcnow(),
            result=self.result,
            error=self.error,
            exit_code=self.exit_code,
        )

    def record_final(self) -> None:
        """The final agent_runs row; in the ledger when the store refuses it."""
        assert self.store is not None
        try:
            _record(
                self.store,
                self.agent,
                self.run_id,
                self.started,
                self.result.status,
                finished=utcnow(),
                result=self.result,
                error=self.error,
                exit_code=self.exit_code,
            )
        except MuseError as exc:
            log.error("could not record the %s run in agent_runs: %s; kept in the run ledger", self.agent, exc.message)
            _ledger_append(self.settings, self._final_row(self.result.status))
        self.recorded = True

    def could_not_run(self, exc: MuseError) -> None:
        """Store unavailable or schema outdated: nothing ran; say so (with the way out)."""
        self.result = AgentResult(
            status="unavailable" if exc.exit_code == ExitCode.STORE_UNAVAILABLE else "failed",
            message=exc.message + (f"; {exc.hint}" if exc.hint else ""),
        )
        self.error = exc.message
        self.exit_code = exc.exit_code
        if isinstance(exc, StoreLockTimeout) and exc.holder_role == "interactive":
            # A person's query (or health, digest, ...) held the store past the wait: not an
            # outage. A distinct warning in the log; no page, nothing to resolve later.
            log.warning(
                "%s did not run: the embedded store was held by an interactive command "
                "(%s) for longer than store.lock_timeout_seconds; not paging",
                self.agent,
                exc.holder_command or "unknown",
            )
        elif self.exit_code != ExitCode.USAGE:
            self.telemetry.alert(
                "critical",
                f"muse {self.agent} could not run",
                exc.message,
                dedup_key=_page_key(self.agent),
                source=f"muse {self.agent}",
            )
            _mark_page(self.settings, self.agent)
        if not self.running:
            _ledger_append(self.settings, self._final_row(self.result.status))
            self.recorded = True

    def interrupted(self, exc: BaseException) -> None:
        """SIGINT or SIGTERM: the run ends as interrupted (exit 130 / 143)."""
        self.exit_code = ExitCode.TERMINATED if isinstance(exc, Interrupted) else ExitCode.INTERRUPTED
        signame = "SIGTERM" if self.exit_code == ExitCode.TERMINATED else "SIGINT"
        self.result = AgentResult(
            status="interrupted", message=f"interrupted by {signame}", rows_written=self.result.rows_written
        )
        self.error = self.result.message
        log.error("%s run %s interrupted by %s", self.agent, self.run_id[:8], signame)

    def finish(self, lock: FileLock) -> None:
        """Whatever happened: the row is finished, the store closed, the lock released, the run counted."""
        if not self.recorded:
            # Interrupted (or an unexpected crash of the lifecycle itself): finish the row.
            status = self.result.status if self.result.status in ("interrupted",) else "failed"
            if self.exit_code == ExitCode.OK:
                self.exit_code = ExitCode.FAILED
            row = self._final_row(status)
            try:
                if self.running and self.store is not None:
                    self.store.insert("agent_runs", [row])
                else:
                    _ledger_append(self.settings, row)
            except BaseException as exc:  # noqa: BLE001 - a second signal, a dead store
                log.warning("could not record the %s run in agent_runs (%s); kept in the run ledger", self.agent, exc)
                _ledger_append(self.settings, row)
        if self.own_store and self.store is not None:
            if self.recorded:
                _maintain(self.settings, self.store)
            self.store.close()
        lock.release()
        # Every run, whatever its outcome (exit 5 included), counts once (docs/alerts.md).
        self.telemetry.count("agent.run", 1, agent=self.agent, status=self.result.status, exit_code=int(self.exit_code))
        self.telemetry.flush()

    def outcome(self) -> RunOutcome:
        """The run's outcome, with its one summary log line."""
        result = self.result
        duration = time.monotonic() - self.t0
        level = (
            logging.INFO
            if result.status in ("ok", "skipped")
            else logging.ERROR
            if result.status in ("failed", "interrupted")
            else logging.WARNING
        )
        log.log(
            level,
            "%s run %s %s in %.2fs: %s (rows written: %d)",
            self.agent,
            self.run_id[:8],
            result.status,
            duration,
            result.message or "-",
            result.rows_written,
        )
        return RunOutcome(self.agent, self.run_id, result, duration, self.exit_code, self.error)
