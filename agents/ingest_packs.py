"""Banterpacks collector: UI telemetry (JSON Lines) into ui_events, llm_events, session_stats.

Entry point: :func:`run`. The CLI (`muse ingest packs`), cron and the tests call it through
``muse.runs.run_agent(settings, "ingest-packs", run, ...)``.

How a run works:

1. Pick the telemetry files of the window. A file whose name carries an hour or a day
   (``2026-05-01T13.jsonl``, ``20260501.jsonl``) is read only for windows within an hour of
   it; a file without one is read every time. ``*.jsonl``, ``*.ndjson`` and their ``.gz``.
   Each file is parsed once per run; dated files are loaded a day's worth at a time. Only
   regular files, and symlinks only into the folder; the rest is skipped and reported. A
   file unchanged since a run read it for a covering window (ledger ``ingest_files``) is
   not read again.
2. ClickHouse parses the lines (``sql/queries/ingest_packs_load.sql``), on the embedded store
   straight from the files with ``file()``; a server cannot read our files, so there the lines
   are streamed in batches into a temporary table first. One pass routes every line through
   the materialized views of migration 002: good events into ui_events, good llm_call events
   into llm_events, flagged lines to the exact check. Events already stored are not written
   again (deterministic event_id; per table, migration 005), a repeated line is one event,
   so re-running an hour never duplicates raw rows. When the files of a day fail together,
   they are loaded one by one and the one that cannot be read is quarantined as a file.
3. Flagged lines get an exact reason (``ingest_packs_check.sql``); bad ones are quarantined
   with file, line and reason; false alarms are loaded after all.
4. The hourly rollup of the hours whose stored events changed is recomputed, four weeks at
   a time (session_stats replaces); a run that added nothing writes no rollup row.

See docs/ingest.md for the guarantees.

Then gaps: every complete hour of the window (after telemetry began) with no events, or with
fewer than ``ingest.gap_drop_factor`` x the same hour's trailing baseline, is recorded in
ingest_gaps; consecutive gap hours of one kind are one gap, alerted once when it starts.
"""

from __future__ import annotations

import gzip
import logging
import hashlib
import os
import re
import stat
import statistics
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

from muse import quarantine
from muse.errors import ConfigError, StoreError, StoreUnavailableError
from muse.hours import (
    HOUR,
    Window,
    floor_hour,
    iso_hour,
    resolve_window,
    span_in_name,
    ts_str,
    utcnow,
)
from muse.runs import AgentResult, ItemOutcome, RunContext

log = logging.getLogger(__name__)

AGENT = "ingest-packs"
SOURCE = "banterpacks"
SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
# A file named for an hour is read for windows overlapping [hour - SLACK_BEFORE, hour + 1h +
# SLACK_AFTER): a client writes an event a little after it happened, or just across the hour.
SLACK_BEFORE = HOUR
SLACK_AFTER = HOUR
_GLOB_CHARS = set("*?{}[]")
# Days per rollup query: 9 weekly queries over 1M events took 0.29-0.39 s, 3 of 28 days
# about 0.23 s (measured); the memory of one query (one row per hour, commit and session)
# stays small beside the load's.
ROLLUP_DAYS = 28


@dataclass(frozen=True)
class TelemetryFile:
    path: str  # absolute, as given (symlinks kept): the same text ClickHouse reports in _path
    span: tuple[datetime, datetime] | None
    # The file's identity when it was found (inode, size, modification time in ns): a run
    # skips a file the ledger (ingest_files) shows unchanged and already read for its window.
    ident: tuple[int, int, int] = (0, 0, 0)

    def wanted(self, window: Window) -> bool:
        if self.span is None:
            return True
        start, end = self.span
        return start - SLACK_BEFORE < window.until and end + SLACK_AFTER > window.since


def scan(directory: Path) -> tuple[list[TelemetryFile], list[tuple[str, str]], bool]:
    """Telemetry files under ``directory`` (recursive), sorted by path, hidden files skipped;
    the files named like telemetry that are not read, each with why; and whether the tree
    holds a symlinked folder (then file() must not be given the folder's recursive glob,
    which follows it, into a loop if it points up).

    Only regular files are read (a FIFO or device would block the reader forever), and a
    symlink only when it resolves inside the telemetry folder (a link to /etc/passwd must not
    end up in the quarantine table). Symlinked folders are not followed.
    """
    root = os.path.abspath(directory)
    real_root = os.path.realpath(root)
    out: list[TelemetryFile] = []
    skipped: list[tuple[str, str]] = []
    linked = False
    for dirpath, dirnames, filenames in os.walk(root):
        linked = linked or any(os.path.islink(os.path.join(dirpath, d)) for d in dirnames)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not name.endswith(SUFFIXES):
                continue
            path = os.path.join(dirpath, name)
            try:
                if os.path.islink(path):
                    target = os.path.realpath(path)
                    if os.path.commonpath([real_root, target]) != real_root:
                        skipped.append((path, "is a symlink that leaves the telemetry folder"))
                        continue
                st = os.stat(path)
            except (OSError, ValueError) as exc:
                skipped.append((path, f"cannot read: {getattr(exc, 'strerror', None) or exc}"))
                continue
            if not stat.S_ISREG(st.st_mode):
                skipped.append((path, "is not a regular file (FIFO, socket or device)"))
                continue
            out.append(TelemetryFile(path, span_in_name(name), (st.st_ino, st.st_size, st.st_mtime_ns)))
    return out, skipped, linked


def discover(directory: Path) -> list[TelemetryFile]:
    """The telemetry files :func:`scan` reads."""
    return scan(directory)[0]


def _groups(files: list[TelemetryFile], window: Window) -> list[tuple[str, Window, list[TelemetryFile]]]:
    """The files a run reads, each once: dated files by the day of their span (with the part
    of the window they can hold events for), undated files together (the whole window)."""
    by_day: dict[str, list[TelemetryFile]] = {}
    undated = []
    for f in files:
        if f.span is None:
            undated.append(f)
        elif f.wanted(window):
            by_day.setdefault(f.span[0].strftime("%Y-%m-%d"), []).append(f)
    out = []
    for day in sorted(by_day):
        group = by_day[day]
        lo = max(window.since, min(f.span[0] for f in group if f.span) - SLACK_BEFORE)
        hi = min(window.until, max(f.span[1] for f in group if f.span) + SLACK_AFTER)
        out.append((f"{day} files", Window(lo, hi), group))
    if undated:
        out.append(("undated files", window, undated))
    return out


def run(
    ctx: RunContext,
    *,
    hours: int = 1,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    telemetry_dir: str | Path | None = None,
    mode: str = "auto",
    now: datetime | None = None,
) -> AgentResult:
    """Ingest banterpacks telemetry for a window of whole UTC hours.

    ``hours``: the last N complete hours (default 1, the hourly cron path). ``since`` /
    ``until`` (ISO 8601 text or datetimes, rounded out to whole hours; ``until`` defaults to
    the current hour) take precedence over ``hours``. ``telemetry_dir`` overrides the
    setting. ``mode``: ``auto`` (file() on the embedded store, streaming on a server),
    ``file`` or ``stream`` (tests use both). ``now`` fixes the clock (tests, the demo).
    """
    now = now or utcnow()
    explicit = since is not None or until is not None
    window = resolve_window(hours=None if explicit else hours, since=since, until=until, now=now)
    directory = _telemetry_dir(ctx, telemetry_dir)
    files, skipped, linked_dirs = scan(directory)
    mode = _load_mode(ctx, mode, os.path.abspath(directory))
    tolerance = float(ctx.settings.ingest.clock_skew_tolerance_seconds)
    loader = _Loader(
        ctx,
        os.path.abspath(directory),
        mode,
        future=now + timedelta(seconds=tolerance),
        tolerance=tolerance,
        linked_dirs=linked_dirs,
    )
    groups = _groups(files, window)
    weeks = window.days(ROLLUP_DAYS)
    tally = _Tally(steps=len(groups) + len(weeks))
    for path, why in skipped:  # every file found is either read or reported
        log.warning("ingest packs: skipped %s: %s", path, why)
        tally.items.append(ItemOutcome(path, "skipped", why))
    ingested_at = ts_str(utcnow())
    stale: list[datetime] = []  # hours whose rollup is out of date
    loader.prepare()
    try:
        read_before = loader.read_before(groups, window)
        # Each file is parsed once per run, with the files of one day together.
        for label, rng, group in groups:
            _read_group(ctx, loader, tally, label, rng, window, group, read_before, ingested_at)
        stale = _stale_hours(ctx, window)
        _roll_up(ctx, tally, weeks, stale, ingested_at)
    finally:
        loader.finish()
    # A run that read no file cannot have added a row: the queries for new rows are skipped.
    new = _new_rows(ctx, window, ingested_at) if tally.totals["files"] or stale else _NOTHING_NEW
    for item in tally.items:
        if item.status == "ok" and not item.item.endswith("files"):
            first, _, last = item.item.partition("..")
            item.rows = sum(n for d, n in new["per_day"].items() if first <= d <= (last or first))
    found = _detect_gaps(ctx, window, now, tally.unreadable)
    _emit_metrics(ctx, window, new, tally.per_commit_bad, tally.totals["quarantined"], found["gaps"], now, ingested_at)
    return _result(window, mode, new, tally, skipped, found, loader.exact_checks)


@dataclass
class _Tally:
    """What the steps of one run found, for its result: the outcome of each item, the
    counts, the quarantine files written, bad lines per commit, the hours whose file could
    not be read (for gaps) and the progress over ``steps``."""

    steps: int
    done: int = 0
    items: list[ItemOutcome] = field(default_factory=list)
    totals: dict[str, int] = field(
        default_factory=lambda: {"quarantined": 0, "files": 0, "failed": 0, "unchanged": 0, "broken": 0}
    )
    quarantine_files: set[str] = field(default_factory=set)
    per_commit_bad: dict[str, int] = field(default_factory=dict)
    unreadable: dict[datetime, str] = field(default_factory=dict)  # hour -> why its file could not be read

    def step_done(self, ctx: RunContext) -> None:
        self.done += 1
        if ctx.progress:
            ctx.progress("ingest packs", self.done, self.steps)


def _telemetry_dir(ctx: RunContext, telemetry_dir: str | Path | None) -> Path:
    """The telemetry folder: the argument, else the setting; it must exist."""
    directory = Path(telemetry_dir).expanduser() if telemetry_dir else ctx.settings.path_of("telemetry_dir")
    if directory is None:
        raise ConfigError("telemetry_dir is not set", hint="set telemetry_dir in the config, or MUSE_TELEMETRY_DIR")
    if not directory.is_dir():
        raise ConfigError(f"telemetry dir {directory} does not exist or is not a directory")
    return directory


def _load_mode(ctx: RunContext, mode: str, root: str) -> str:
    """``file`` or ``stream``; ``auto`` is file() on the embedded store, else streaming."""
    if mode not in ("auto", "file", "stream"):
        raise ConfigError(f"mode must be auto, file or stream, not {mode!r}")
    if mode == "auto":
        # file() takes a glob; a directory name with glob characters would be misread.
        mode = "file" if ctx.store.backend == "embedded" and not (_GLOB_CHARS & set(root)) else "stream"
    return mode


def _read_group(
    ctx: RunContext,
    loader: _Loader,
    tally: _Tally,
    label: str,
    rng: Window,
    window: Window,
    group: list[TelemetryFile],
    read_before: dict[tuple[datetime, datetime], set[tuple[str, tuple[int, int, int]]]],
    ingested_at: str,
) -> None:
    """Load the files of one group not read before for ``rng``; quarantine their bad lines
    and the files that cannot be read; remember the files read."""
    totals = tally.totals
    todo = [f for f in group if (f.path, f.ident) not in read_before.get((rng.since, rng.until), set())]
    totals["unchanged"] += len(group) - len(todo)
    totals["files"] += len(todo)
    records: list[tuple[quarantine.Record, str]] = []
    broken: list[tuple[TelemetryFile, str]] = []
    if todo:
        try:
            records, broken = loader.load(rng, window, todo, ingested_at)
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            totals["failed"] += 1
            tally.items.append(ItemOutcome(label, "failed", exc.message))
            log.error("ingest packs: loading %s failed: %s", label, exc.message)
            todo = []
    for f, why in broken:
        tally.items.append(ItemOutcome(f.path, "failed", f"quarantined: {why}"))
        for hour in _hours_of(f, rng):
            tally.unreadable[hour] = f"{os.path.basename(f.path)} could not be read ({why[:120]})"
    totals["broken"] += len(broken)
    file_records = loader.file_records(broken)
    if records or file_records:
        qpath = quarantine.record(
            ctx.store,
            ctx.settings.state_dir,
            source="packs",
            table_source=SOURCE,
            agent_run_id=ctx.run_id,
            records=file_records + _bounded([r for r, _ in records]),
        )
        if qpath is not None:
            tally.quarantine_files.add(str(qpath))
        for _, sha in records:
            tally.per_commit_bad[sha or "unknown"] = tally.per_commit_bad.get(sha or "unknown", 0) + 1
        totals["quarantined"] += len(records)
    # Remembered last: a crash before this only means the next run reads them again.
    loader.remember([f for f in todo if f not in {b for b, _ in broken}], rng, window)
    tally.step_done(ctx)


def _stale_hours(ctx: RunContext, window: Window) -> list[datetime]:
    """The hours of the window whose stored events changed since their rollup (new events,
    or a run that died before its rollup); none when the rollup is in step."""
    bounds = {"since": ts_str(window.since), "until": ts_str(window.until)}
    check = ctx.store.named("ingest_packs_rollup_in_step", bounds).first() or {}
    if int(check.get("stored") or 0) == int(check.get("rolled") or 0):
        return []
    return [r["hour"] for r in ctx.store.named("ingest_packs_stale_hours", bounds).dicts()]


def _roll_up(ctx: RunContext, tally: _Tally, weeks: list[Window], stale: list[datetime], ingested_at: str) -> None:
    """Recompute the rollup of the ``stale`` hours, ROLLUP_DAYS at a time (one query per day
    or week cost more in per-query overhead than the work; the chunk bounds memory). A run
    that added nothing rolls up nothing, so it writes no row."""
    for week in weeks:
        stale_hours = [h for h in stale if week.since <= h < week.until]
        if not stale_hours:
            tally.done += 1
            continue
        label = (
            iso_hour(week.since)[:10]
            if len(week.days()) == 1
            else f"{iso_hour(week.since)[:10]}..{iso_hour(week.until - HOUR)[:10]}"
        )
        try:
            ctx.store.named(
                "ingest_packs_rollup",
                {
                    "since": ts_str(week.since),
                    "until": ts_str(week.until),
                    "hours": [h.strftime("%Y-%m-%d %H:%M:%S") for h in stale_hours],
                    "computed_at": ingested_at,
                },
            )
            tally.items.append(ItemOutcome(label, "ok", f"{len(stale_hours)} hour(s) rolled up"))
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            tally.totals["failed"] += 1
            tally.items.append(ItemOutcome(label, "failed", exc.message))
            log.error("ingest packs: rollup of %s failed: %s", label, exc.message)
        tally.step_done(ctx)


def _result(
    window: Window,
    mode: str,
    new: dict[str, Any],
    tally: _Tally,
    skipped: list[tuple[str, str]],
    found: dict[str, Any],
    exact_checks: int,
) -> AgentResult:
    """The run's outcome: one message line, the rows written and the details."""
    totals, gaps = tally.totals, found["gaps"]
    rows_written = new["events"] + new["llm_events"] + new["rollup_rows"] + totals["quarantined"] + found["new_hours"]
    new_gaps = [g for g in gaps if g["new"]]
    parts = [
        f"{new['events']} new event(s), {new['llm_events']} new llm call(s) in {window}",
        f"{totals['files']} file read(s)",
    ]
    if totals["unchanged"]:
        parts.append(f"{totals['unchanged']} unchanged file(s) not read again")
    if totals["quarantined"]:
        parts.append(f"{totals['quarantined']} line(s) quarantined")
    if totals["broken"]:
        parts.append(f"{totals['broken']} unreadable file(s) quarantined")
    if skipped:
        parts.append(f"{len(skipped)} file(s) skipped (first: {skipped[0][0]}: {skipped[0][1]})")
    if gaps:
        parts.append(
            f"{len(gaps)} gap(s) over {sum(g['hours'] for g in gaps)} hour(s)"
            + (f", {len(new_gaps)} new" if new_gaps else "")
        )
    if found["before_telemetry"]:
        parts.append(
            f"{found['before_telemetry']} hour(s) before telemetry began "
            + (f"({found['began']}) " if found["began"] else "(none stored yet) ")
            + "are not gaps"
        )
    if totals["failed"]:
        parts.append(f"{totals['failed']} step(s) failed")
    return AgentResult(
        status="failed" if totals["failed"] else "ok",
        message="; ".join(parts),
        rows_written=rows_written,
        items=tally.items,
        details={
            "window": {"since": iso_hour(window.since), "until": iso_hour(window.until)},
            "mode": mode,
            "new_events": new["events"],
            "new_llm_events": new["llm_events"],
            "per_commit": new["per_commit"],
            "quarantined": totals["quarantined"],
            "unreadable_files": totals["broken"],
            "unchanged_files": totals["unchanged"],
            "skipped_files": {p: why for p, why in skipped},
            "exact_checks": exact_checks,
            "quarantine_files": sorted(tally.quarantine_files),
            "gaps": gaps,
            "gap_hours_before_telemetry": found["before_telemetry"],
        },
    )


# Bad lines of one file that keep a raw excerpt in the quarantine; the rest keep file, line
# and reason only, so a foreign file in the folder is never copied whole into the store.
RAW_LINES_PER_FILE = 100


def _bounded(records: list[quarantine.Record]) -> list[quarantine.Record]:
    seen: dict[str, int] = {}
    out = []
    for r in records:
        n = seen[r.file] = seen.get(r.file, 0) + 1
        out.append(r if n <= RAW_LINES_PER_FILE else quarantine.Record(r.file, r.line, r.reason, "", r.raw_hash))
    return out


def _hours_of(f: TelemetryFile, rng: Window) -> list[datetime]:
    """The hours a dated file is named for, within ``rng`` (none for an undated file)."""
    if f.span is None:
        return []
    start, end = f.span
    return [h for h in rng.hours if start <= h < end]


class _Loader:
    """Loads a group of files, from file() (embedded) or streamed lines (server)."""

    def __init__(
        self, ctx: RunContext, root: str, mode: str, *, future: datetime, tolerance: float, linked_dirs: bool = False
    ) -> None:
        self.ctx = ctx
        self.root = root
        self.linked_dirs = linked_dirs
        self.mode = mode
        self.batch_lines = int(ctx.settings.ingest.stream_batch_lines)
        # Events dated at or after this are quarantined as in the future (clock skew).
        self.future = ts_str(future)
        self.tolerance = f"{tolerance:g} s"
        from muse.store import load_query

        text = load_query("ingest_packs_load")
        if mode == "file":
            source = (
                "(SELECT _path AS file, _row_number + 1 AS line_no, line "
                "FROM file({glob:String}, 'LineAsString') WHERE _path IN {paths:Array(String)})"
            )
        else:
            source = "muse_packs_lines"
        self.load_sql = text.replace("__LINES__", source)
        self.flagged_seen = False
        # Lines the cheap checks sent to the exact check this run, false alarms included: a
        # good file costs one parse per line; each flagged line costs the exact check too.
        self.exact_checks = 0

    def prepare(self) -> None:
        store = self.ctx.store
        store.named("ingest_packs_tmp_reasons")
        if self.mode == "stream":
            store.named("ingest_packs_tmp_lines")
            store.execute("TRUNCATE TABLE muse_packs_lines")

    def finish(self) -> None:
        # Only when this run flagged anything: a DELETE costs a mutation (0.5 s measured).
        if not self.flagged_seen:
            return
        try:
            self.ctx.store.named("ingest_packs_flagged_delete", {"agent_run_id": self.ctx.run_id})
        except StoreError as exc:  # the table's TTL clears what is left
            log.warning("could not clear this run's flagged lines: %s", exc.message)

    def read_before(
        self, groups: list[tuple[str, Window, list[TelemetryFile]]], window: Window
    ) -> dict[tuple[datetime, datetime], set[tuple[str, tuple[int, int, int]]]]:
        """Per group range, the files (path, identity) an earlier run read completely for a
        range and window covering this run's: unchanged since, they hold nothing new."""
        paths = sorted({f.path for _, _, group in groups for f in group})
        if not paths:
            return {}
        rows = self.ctx.store.named("ingest_packs_files_read", {"source": SOURCE, "paths": paths}).dicts()
        known: dict[tuple[str, tuple[int, int, int]], list[tuple[str, str, str, str]]] = {}
        for r in rows:
            key = (r["path"], (int(r["inode"]), int(r["size"]), int(r["mtime_ns"])))
            known.setdefault(key, []).append((r["since"], r["until"], r["window_since"], r["window_until"]))
        w_since, w_until = ts_str(window.since), ts_str(window.until)
        out: dict[tuple[datetime, datetime], set[tuple[str, tuple[int, int, int]]]] = {}
        for _, rng, group in groups:
            since, until = ts_str(rng.since), ts_str(rng.until)
            done = out.setdefault((rng.since, rng.until), set())
            for f in group:
                # ts_str text compares in time order (fixed-width ISO form).
                if any(
                    a <= since and b >= until and c <= w_since and d >= w_until
                    for a, b, c, d in known.get((f.path, f.ident), [])
                ):
                    done.add((f.path, f.ident))
        return out

    def remember(self, files: list[TelemetryFile], rng: Window, window: Window) -> None:
        if not files:
            return
        self.ctx.store.insert(
            "ingest_files",
            [
                {
                    "source": SOURCE,
                    "path": f.path,
                    "inode": f.ident[0],
                    "size": f.ident[1],
                    "mtime_ns": f.ident[2],
                    "since": ts_str(rng.since),
                    "until": ts_str(rng.until),
                    "window_since": ts_str(window.since),
                    "window_until": ts_str(window.until),
                    "agent_run_id": self.ctx.run_id,
                }
                for f in files
            ],
        )

    def file_records(self, broken: list[tuple[TelemetryFile, str]]) -> list[quarantine.Record]:
        """Quarantine records for files that could not be read, each version of a file once."""
        if not broken:
            return []
        records = [
            quarantine.Record(
                file=f.path,
                line=0,
                reason=f"file cannot be read: {why}",
                raw_hash=int.from_bytes(hashlib.blake2b(repr(f.ident).encode(), digest_size=8).digest(), "big"),
            )
            for f, why in broken
        ]
        known = {
            (r["file"], int(r["raw_hash"]))
            for r in self.ctx.store.named("ingest_quarantine_whole_files", {"source": SOURCE}).dicts()
        }
        return [r for r in records if (r.file, r.raw_hash) not in known]

    def load(
        self, rng: Window, window: Window, files: list[TelemetryFile], ingested_at: str
    ) -> tuple[list[tuple[quarantine.Record, str]], list[tuple[TelemetryFile, str]]]:
        """Load ``files``: events with a time in ``rng`` (the run's window, narrowed to where
        these files can hold events); bad lines of the whole run ``window`` are returned, and
        the files that could not be read (each with its error): the others load regardless."""
        store = self.ctx.store
        params: dict[str, Any] = {
            "agent_run_id": self.ctx.run_id,
            "ingested_at": ingested_at,
            "since": ts_str(rng.since),
            "until": ts_str(rng.until),
            "future": self.future,
        }
        readable = []
        broken: list[tuple[TelemetryFile, str]] = []
        for f in files:
            if os.access(f.path, os.R_OK):
                readable.append(f)
            else:
                log.warning("ingest packs: cannot read %s; skipped", f.path)
                broken.append((f, "permission denied"))
        if self.mode == "file":
            broken += self._load_files(params, readable)
        else:
            bad: dict[str, str] = {}
            for batch in _line_batches(readable, self.batch_lines, bad):
                store.insert("muse_packs_lines", batch, columns=("file", "line_no", "line"))
                store.execute(self.load_sql, params)
                store.execute("TRUNCATE TABLE muse_packs_lines")
            broken += [(f, bad[f.path]) for f in readable if f.path in bad]
        records = self._flagged(
            params, {"since": ts_str(window.since), "until": ts_str(window.until), "future": self.future}
        )
        return records, broken

    def _load_query(self, params: dict[str, Any], files: list[TelemetryFile]) -> None:
        paths = [f.path for f in files]
        # file() opens one reader per file its glob matches (up to max_threads), before the
        # _path filter prunes them, and splits a reader's output over threads only when there
        # are fewer readers than threads. With the folder's glob, one big file beside any other
        # file was parsed by one thread: a file of its own is named exactly (1M lines beside one
        # other file, 2 cores: load 2.17 -> 1.66 s, same CPU, medians of 8). A name file()
        # would take for a glob keeps the glob. The paths themselves are a bound Array(String)
        # parameter (quotes in a name arrive unchanged); the glob only narrows the listing.
        # Files of one folder are listed with that folder's `*` (it does not descend); the
        # recursive `/**` only when no symlinked folder could lead it astray (a link to `..`
        # made one listing take over a minute). Otherwise one query per folder.
        single = len(paths) == 1 and not (_GLOB_CHARS & set(paths[0]))
        folders = sorted({os.path.dirname(p) for p in paths})
        if single:
            glob = paths[0]
        elif len(folders) == 1 and not (_GLOB_CHARS & set(folders[0])):
            glob = folders[0] + "/*"
        elif not self.linked_dirs or any(_GLOB_CHARS & set(d) for d in folders):
            glob = self.root + "/**"
        else:
            for folder in folders:
                self._load_query(params, [f for f in files if os.path.dirname(f.path) == folder])
            return
        self.ctx.store.execute(self.load_sql, {**params, "glob": glob, "paths": paths})

    @staticmethod
    def _short(message: str) -> str:
        """ClickHouse's error without the path it repeats and the pipeline it ran in:
        'inflate failed: buffer error (ZLIB_INFLATE_FAILED)'."""
        text = message.removeprefix("query failed: ")
        code = re.search(r"\(([A-Z_]+)\)\s*$", text)
        if "DB::Exception: " in text:
            text = text.split("DB::Exception: ", 1)[1]
        text = re.split(r":? While |: \(in file", text, maxsplit=1)[0].rstrip(": ")
        return (f"{text} ({code.group(1)})" if code and code.group(1) not in text else text)[:300]

    def _load_files(self, params: dict[str, Any], files: list[TelemetryFile]) -> list[tuple[TelemetryFile, str]]:
        """Load the files in one query; when that fails, file by file, so one that cannot be
        read (a truncated .gz) is set aside with its error and its neighbours load."""
        if not files:
            return []
        try:
            self._load_query(params, files)
            return []
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            if len(files) == 1:
                return [(files[0], self._short(exc.message))]
            log.warning(
                "ingest packs: loading %d file(s) together failed (%s); loading them one by one",
                len(files),
                exc.message,
            )
        # What the failed query flagged is read again below: drop it so no line counts twice.
        self.ctx.store.named("ingest_packs_flagged_delete", {"agent_run_id": self.ctx.run_id})
        broken = []
        for f in files:
            try:
                self._load_query(params, [f])
            except StoreUnavailableError:
                raise
            except StoreError as exc:
                broken.append((f, self._short(exc.message)))
        return broken

    def _flagged(self, params: dict[str, Any], whole: dict[str, str]) -> list[tuple[quarantine.Record, str]]:
        store = self.ctx.store
        run = {"agent_run_id": self.ctx.run_id}
        flagged = store.query(
            "SELECT count() FROM ingest_packs_flagged WHERE agent_run_id = {agent_run_id:UUID}", run
        ).scalar(0)
        if not flagged:
            return []
        self.flagged_seen = True
        self.exact_checks += int(flagged)
        store.execute("TRUNCATE TABLE muse_packs_reasons")
        store.named("ingest_packs_check", {**run, "future": self.future, "tolerance": self.tolerance})
        cleared = store.query("SELECT count() FROM muse_packs_reasons WHERE reason = ''").scalar(0)
        if cleared:
            store.named("ingest_packs_load_cleared", params)
        rows = store.named("ingest_packs_quarantine", whole).dicts()
        store.named("ingest_packs_flagged_delete", run)  # this group's lines are done
        return [
            (
                quarantine.Record(
                    file=r["file"],
                    line=int(r["line_no"]),
                    reason=r["reason"],
                    raw=r["raw"],
                    raw_hash=int(r["raw_hash"]),
                ),
                r["commit_sha"],
            )
            for r in rows
        ]


def _line_batches(files: list[TelemetryFile], size: int, bad: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
    """Raw lines with their 1-based numbers, in batches; the server parses them. A file that
    cannot be read (or decompressed) to its end goes into ``bad`` with its error; the lines
    before the damage are sent, the other files go on."""
    batch: list[dict[str, Any]] = []
    for f in files:
        n = 0
        try:
            fd = os.open(f.path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO swapped in never blocks
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                bad[f.path] = "not a regular file"
                continue
            raw_fh = os.fdopen(fd, "rb")
            fh = gzip.GzipFile(fileobj=raw_fh, mode="rb") if f.path.endswith(".gz") else raw_fh
            with raw_fh, fh:
                for n, raw in enumerate(fh, start=1):
                    # A server gets text: invalid UTF-8 arrives as U+FFFD (the embedded path
                    # sees the bytes and quarantines such a line as invalid UTF-8).
                    text = raw.rstrip(b"\n").decode("utf-8", errors="replace")
                    if not text.strip():
                        continue
                    batch.append({"file": f.path, "line_no": n, "line": text})
                    if len(batch) >= size:
                        yield batch
                        batch = []
        except (OSError, EOFError, zlib.error) as exc:  # gone, unreadable or damaged: the others go on
            why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            bad[f.path] = f"{why} (after line {n})" if n else why
            log.warning("ingest packs: cannot read %s: %s", f.path, bad[f.path])
    if batch:
        yield batch


_NOTHING_NEW: dict[str, Any] = {
    "events": 0,
    "per_commit": {},
    "per_day": {},
    "llm": [],
    "llm_events": 0,
    "rollup_rows": 0,
}


def _new_rows(ctx: RunContext, window: Window, ingested_at: str) -> dict[str, Any]:
    params = {"since": ts_str(window.since), "until": ts_str(window.until), "ingested_at": ingested_at}
    per_commit: dict[str, int] = {}
    per_day: dict[str, int] = {}
    for r in ctx.store.named("ingest_packs_new_events", params).dicts():
        per_commit[r["commit_sha"]] = per_commit.get(r["commit_sha"], 0) + int(r["events"])
        per_day[r["day"]] = per_day.get(r["day"], 0) + int(r["events"])
    llm = (
        ctx.store.named("ingest_llm_new_totals", {**params, "source": SOURCE}).dicts()
        if int(ctx.store.named("ingest_llm_new_count", {**params, "source": SOURCE}).scalar(0))
        else []
    )
    rollup_rows = ctx.store.query(
        "SELECT count() FROM session_stats WHERE computed_at = {ingested_at:DateTime64(3, 'UTC')} "
        "AND hour >= {since:DateTime64(3, 'UTC')} AND hour < {until:DateTime64(3, 'UTC')}",
        params,
    ).scalar(0)
    return {
        "events": sum(per_commit.values()),
        "per_commit": per_commit,
        "per_day": per_day,
        "llm": llm,
        "llm_events": sum(int(r["calls"]) for r in llm),
        "rollup_rows": int(rollup_rows),
    }


def _detect_gaps(
    ctx: RunContext, window: Window, now: datetime, unreadable: dict[datetime, str] | None = None
) -> dict[str, Any]:
    """Record every complete hour of the window that is a gap (one ``ingest_gaps`` row per hour
    and kind), fold consecutive gap hours of one kind into one gap, and alert once per new gap.

    Hours before telemetry began (the first hour ``session_stats`` holds) are not gaps: a
    backfill of 1999 is not 8,760 silent hours. An hour whose file could not be read is a gap
    even then (its file says telemetry existed; its events are not stored), and it says why.
    Returns ``{"gaps": [...], "new_hours": n, "before_telemetry": n, "began": iso | None}``.
    """
    unreadable = unreadable or {}
    complete = [h for h in window.hours if h + HOUR <= floor_hour(now)]
    out: dict[str, Any] = {"gaps": [], "new_hours": 0, "before_telemetry": 0, "began": None}
    if not complete:
        return out
    first = ctx.store.named("ingest_packs_first_hour").first()
    began = first["first_hour"] if first and int(first["n"]) else None
    out["began"] = iso_hour(began) if began else None
    days = int(ctx.settings.ingest.gap_baseline_days)
    counts = _hourly_events(ctx, complete[0] - timedelta(days=days), complete[-1] + HOUR)
    existing = _recorded_gaps(ctx, complete[0] - HOUR, complete[-1] + HOUR)
    hours, stale, out["before_telemetry"] = _gap_hours(ctx, complete, began, counts, existing, unreadable)
    out["new_hours"] = _record_gaps(ctx, hours, stale)
    out["gaps"] = gaps = _fold_gaps(hours, existing)
    _alert_new_gaps(ctx, gaps)
    return out


def _hourly_events(ctx: RunContext, lo: datetime, hi: datetime) -> dict[datetime, int]:
    """Stored events per hour in [lo, hi). Keyed by the hour itself: the baseline looks up
    `days` earlier hours for every hour, and formatting each of them as text cost more than
    the queries (1,380 hours: 11K strftime)."""
    return {
        r["hour"]: int(r["events"])
        for r in ctx.store.named(
            "ingest_packs_hourly_events",
            {"since": lo.strftime("%Y-%m-%d %H:%M:%S"), "until": hi.strftime("%Y-%m-%d %H:%M:%S")},
        ).dicts()
    }


def _recorded_gaps(ctx: RunContext, lo: datetime, hi: datetime) -> dict[datetime, set[str]]:
    """The gap kinds recorded per hour in [lo, hi): the window and the hour before it (a gap
    that goes on is not new)."""
    existing: dict[datetime, set[str]] = {}
    for r in ctx.store.named(
        "ingest_gaps_in_window",
        {"since": lo.strftime("%Y-%m-%d %H:%M:%S"), "until": hi.strftime("%Y-%m-%d %H:%M:%S")},
    ).dicts():
        existing.setdefault(r["hour"], set()).add(r["kind"])
    return existing


def _gap_hours(
    ctx: RunContext,
    complete: list[datetime],
    began: datetime | None,
    counts: dict[datetime, int],
    existing: dict[datetime, set[str]],
    unreadable: dict[datetime, str],
) -> tuple[list[dict[str, Any]], dict[str, list[datetime]], int]:
    """Classify each complete hour: the gap hours (``no_telemetry``, or ``drop`` below
    ``gap_drop_factor`` x the trailing baseline), the recorded gap hours per kind that are
    gaps no more, and how many hours lie before telemetry began."""
    settings = ctx.settings
    days = int(settings.ingest.gap_baseline_days)
    min_days = int(settings.ingest.gap_min_baseline_days)
    factor = float(settings.ingest.gap_drop_factor)
    hours: list[dict[str, Any]] = []
    stale: dict[str, list[datetime]] = {}
    before_telemetry = 0
    for hour in complete:
        events = counts.get(hour, 0)
        kind = None
        baseline = 0.0
        if (began is None or hour < began) and hour not in unreadable:
            before_telemetry += 1  # no event stored at or before it: telemetry had not begun
        else:
            prior = [counts.get(hour - timedelta(days=d), 0) for d in range(1, days + 1)]
            prior = [p for p in prior if p > 0]
            baseline = float(statistics.fmean(prior)) if prior else 0.0
            if events == 0:
                kind = "no_telemetry"
            elif len(prior) >= min_days and events < factor * baseline:
                kind = "drop"
        recorded = existing.get(hour, set())
        for gone in recorded - ({kind} if kind else set()):
            stale.setdefault(gone, []).append(hour)
        if kind is not None:
            hours.append(
                {
                    "hour": hour,
                    "kind": kind,
                    "events": events,
                    "baseline": baseline,
                    "recorded": kind in recorded,
                    "reason": unreadable.get(hour),
                }
            )
    return hours, stale, before_telemetry


def _record_gaps(ctx: RunContext, hours: list[dict[str, Any]], stale: dict[str, list[datetime]]) -> int:
    """Delete the recorded gap hours that are gaps no more and insert the new ones; the
    number of hours inserted."""
    for kind, gone_hours in stale.items():  # one mutation per kind, not one per hour
        ctx.store.named(
            "ingest_gaps_delete", {"hours": [h.strftime("%Y-%m-%d %H:%M:%S") for h in gone_hours], "kind": kind}
        )
        log.info(
            "ingest packs: %d hour(s) from %s are no longer %s gaps", len(gone_hours), iso_hour(gone_hours[0]), kind
        )
    detected_at = ts_str(utcnow())
    inserts = [
        {
            "hour": g["hour"].strftime("%Y-%m-%d %H:%M:%S"),
            "kind": g["kind"],
            "events": g["events"],
            "baseline": g["baseline"],
            "detected_at": detected_at,
            "run_id": ctx.run_id,
        }
        for g in hours
        if not g["recorded"]
    ]
    if inserts:
        ctx.store.insert("ingest_gaps", inserts)
    return len(inserts)


def _alert_new_gaps(ctx: RunContext, gaps: list[dict[str, Any]]) -> None:
    """One warning alert for the gaps that are new (the first ten named)."""
    fresh = [g for g in gaps if g["new"]]
    if not fresh:
        return
    lines = [_gap_line(g, float(ctx.settings.ingest.gap_drop_factor)) for g in fresh]
    more = f"\n... and {len(lines) - 10} more gap(s)" if len(lines) > 10 else ""
    ctx.alert(
        "warning",
        "banterpacks telemetry gap",
        "\n".join(lines[:10]) + more,
        dedup_key=f"muse-ingest-packs-gap-{fresh[0]['since'][:13]}",
    )


def _fold_gaps(hours: list[dict[str, Any]], existing: dict[datetime, set[str]]) -> list[dict[str, Any]]:
    """Consecutive gap hours of one kind as one gap: since, until (exclusive), hours, events
    (summed), baseline (the mean of its hours'), and whether it is ``new``: none of its hours
    was recorded before and it does not continue a gap recorded in the hour before it (a gap
    that goes on is alerted once, when it starts)."""
    spans: list[list[dict[str, Any]]] = []
    for g in hours:
        last = spans[-1][-1] if spans else None
        if last is not None and last["kind"] == g["kind"] and g["hour"] - last["hour"] == HOUR:
            spans[-1].append(g)
        else:
            spans.append([g])
    out = []
    for span in spans:
        kind, start = span[0]["kind"], span[0]["hour"]
        continues = kind in existing.get(start - HOUR, set())
        reasons = list(dict.fromkeys(g["reason"] for g in span if g["reason"]))
        gap = {
            "since": iso_hour(start),
            "until": iso_hour(span[-1]["hour"] + HOUR),
            "hours": len(span),
            "kind": kind,
            "events": sum(g["events"] for g in span),
            "baseline": round(statistics.fmean(g["baseline"] for g in span), 1),
            "new": not continues and not any(g["recorded"] for g in span),
            "new_hours": sum(1 for g in span if not g["recorded"]),
        }
        if reasons:
            gap["reason"] = "; ".join(reasons[:3]) + (f"; and {len(reasons) - 3} more" if len(reasons) > 3 else "")
        out.append(gap)
    return out


def _gap_line(g: dict[str, Any], factor: float) -> str:
    when = g["since"] if g["hours"] == 1 else f"{g['since']} .. {g['until']} ({g['hours']} hours)"
    if g["kind"] == "no_telemetry":
        what = "no telemetry at all"
    elif g["hours"] == 1:
        what = f"{g['events']} events, baseline {g['baseline']:.0f} (below {factor:g}x)"
    else:
        what = f"{g['events']} events, baseline {g['baseline']:.0f} an hour (below {factor:g}x)"
    return f"{when}: {what}" + (f"; {g['reason']}" if g.get("reason") else "")


def _emit_metrics(
    ctx: RunContext,
    window: Window,
    new: dict[str, Any],
    per_commit_bad: dict[str, int],
    quarantined: int,
    gaps: list[dict[str, Any]],
    now: datetime,
    ingested_at: str,
) -> None:
    tel = ctx.telemetry
    for sha, n in new["per_commit"].items():
        tel.count("ingest.banterpacks", n, commit_sha=sha, status="ok")
    for sha, n in per_commit_bad.items():
        tel.count("ingest.banterpacks", n, commit_sha=sha, status="quarantined")
    tel.count("ingest.quarantined", quarantined, source=SOURCE)
    for kind in sorted({g["kind"] for g in gaps}):  # new gap hours, per kind
        n = sum(g["new_hours"] for g in gaps if g["kind"] == kind)
        if n:
            tel.count("ingest.gaps", n, kind=kind)
    from muse.telemetry import bounded_models

    model_tag = bounded_models([r["model"] for r in new["llm"]])
    latency: dict[tuple[str, str, int], float] = {}
    for r in new["llm"]:
        # Stamped at the end of their hour: a backfill is not "now" (muse.telemetry).
        at = float(r["hour_epoch"]) + 3599
        tel.count("llm.tokens_in", int(r["tokens_in"]), timestamp=at, source=SOURCE, model=r["model"])
        tel.count("llm.tokens_out", int(r["tokens_out"]), timestamp=at, source=SOURCE, model=r["model"])
        tel.count("llm.cost_usd", float(r["cost_usd"]), timestamp=at, source=SOURCE, model=r["model"])
        key = (model_tag[r["model"]], r["operation"], int(r["hour_epoch"]))
        latency[key] = max(latency.get(key, 0.0), float(r["latency_p95_ms"]))
    for (model, operation, hour), p95 in sorted(latency.items()):
        tel.gauge(
            "llm.latency_ms", p95, timestamp=hour + 3599.0, source=SOURCE, model=model, operation=operation, stat="p95"
        )
    newest = ctx.store.named("ingest_packs_newest_event", {"since": ts_str(window.until - timedelta(days=7))}).first()
    if not (newest and int(newest["n"])):  # nothing in a week: still report how far behind
        newest = ctx.store.named("ingest_packs_newest_event", {"since": "1970-01-01 00:00:00.000"}).first()
    if newest and int(newest["n"]):
        newest_ts = newest["newest"]
        tel.gauge("ingest.lag_seconds", max(0.0, (now - newest_ts).total_seconds()), repo=SOURCE)
