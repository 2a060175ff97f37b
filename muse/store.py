"""ClickHouse access: one interface, two backends.

* embedded (default): chDB, in-process ClickHouse, persisted at ``<state dir>/clickhouse``.
  A chDB path can be open in one process only, so the store takes an inter-process lock
  (flock) on it and waits for it up to ``store.lock_timeout_seconds``.
* server: ``clickhouse://user:pass@host:9000/db`` through clickhouse-driver (native protocol).

Values are always bound as ClickHouse query parameters (``{name:Type}`` in the SQL text),
never formatted into SQL. Named queries live in ``sql/queries/<name>.sql``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone, tzinfo
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence, TypeVar
from urllib.parse import unquote, urlparse
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from muse.errors import ConfigError, ReadOnlyError, StateDirError, StoreError, StoreUnavailableError
from muse.locks import FileLock
from muse.resources import resource_path
from muse.sandbox import LIMIT_CODES, QueryLimitError, QueryLimits, SandboxRefused
from muse.sandbox import prepare as sandbox_prepare

if TYPE_CHECKING:
    from muse.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# ClickHouse error codes that retrying can fix (network, timeouts, too many parts, memory).
_TOKEN = re.compile(r"[A-Za-z0-9_:.\-]{1,200}")
TRANSIENT_CODES = {159, 202, 209, 210, 241, 252, 319, 425, 999}
READONLY_CODE = 164


@dataclass
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    rows_read: int = 0
    bytes_read: int = 0
    elapsed: float = 0.0

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]

    def first(self) -> dict[str, Any] | None:
        return dict(zip(self.columns, self.rows[0])) if self.rows else None

    def scalar(self, default: Any = None) -> Any:
        return self.rows[0][0] if self.rows and self.rows[0] else default

    def text_rows(self) -> list[tuple[Any, ...]]:
        """The rows with each date and time in ClickHouse's text form for its column's type
        ('2026-05-01 13:00:00' for DateTime, '2026-05-01 13:00:00.000' for DateTime64(3),
        '2026-05-01' for Date), in UTC: what `muse query` prints."""
        from muse.hours import ts_str

        cols = [(i, t.digits) for i, t in enumerate(map(date_type, self.types)) if t is not None]
        if not cols:
            return self.rows
        out = []
        for row in self.rows:
            values = list(row)
            for i, digits in cols:
                v = values[i]
                if isinstance(v, datetime):
                    values[i] = ts_str(v, digits)
                elif isinstance(v, date):
                    values[i] = v.isoformat()
            out.append(tuple(values))
        return out

    def text_dicts(self) -> list[dict[str, Any]]:
        """:meth:`dicts` with the text form of :meth:`text_rows`."""
        return [dict(zip(self.columns, row)) for row in self.text_rows()]


@dataclass(frozen=True)
class DateType:
    """A result column's date or time type, under any Nullable/LowCardinality wrapper."""

    kind: str  # "date" (Date, Date32) or "datetime" (DateTime, DateTime64)
    digits: int  # fractional digits of the text form: DateTime64's precision, 0 for DateTime
    zone: str | None  # the column's own time zone; None: the session's


_DATE_TYPE = re.compile(
    r"(?:Nullable\(|LowCardinality\()*(?P<base>DateTime64|DateTime|Date32|Date)(?:\((?P<args>[^()]*)\))?\)*"
)
UTC = timezone.utc
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "UCT", "Etc/UCT", "GMT", "Etc/GMT", "Universal", "Zulu", "Etc/Zulu"})


@lru_cache(maxsize=256)
def date_type(type_name: str) -> DateType | None:
    """What a result column's type says about its values' dates, or None for any other type
    (an Array or Tuple of times is not converted)."""
    m = _DATE_TYPE.fullmatch(type_name)
    if m is None:
        return None
    base = m["base"]
    if base in ("Date", "Date32"):
        return DateType("date", 0, None)
    args = [a.strip().strip("'") for a in (m["args"] or "").split(",") if a.strip()]
    digits = 0
    if base == "DateTime64":
        if not args or not args[0].isdigit():
            return None
        digits = int(args.pop(0))
    return DateType("datetime", digits, args[0] if args else None)


@lru_cache(maxsize=64)
def zone(name: str) -> tzinfo:
    """The tzinfo of a ClickHouse time zone name (UTC itself for its aliases)."""
    if name in _UTC_NAMES:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise StoreError(f"a result column has the time zone {name!r}, which this system's tz database lacks") from None


def _converters(
    types: Sequence[str], make: Callable[[DateType], Callable[[Any], Any] | None]
) -> list[tuple[int, Callable[[Any], Any]]]:
    """One converter per date or time column of a result, chosen once from its types."""
    out = []
    for i, type_name in enumerate(types):
        t = date_type(type_name)
        fn = make(t) if t is not None else None
        if fn is not None:
            out.append((i, fn))
    return out


def _convert(rows: Iterable[Sequence[Any]], convs: list[tuple[int, Callable[[Any], Any]]]) -> list[tuple[Any, ...]]:
    if not convs:
        return [tuple(r) for r in rows]
    out = []
    for r in rows:
        values = r if type(r) is list else list(r)  # JSON's row lists are fresh: converted in place
        for i, fn in convs:
            v = values[i]
            if v is not None:
                values[i] = fn(v)
        out.append(tuple(values))
    return out


def convert_text_rows(
    types: Sequence[str], rows: Iterable[Sequence[Any]], *, session_zone: tzinfo = UTC
) -> list[tuple[Any, ...]]:
    """Rows of ClickHouse's JSON output with each DateTime/DateTime64 value (text in its
    column's zone, else the session's) an aware UTC ``datetime`` and each Date a ``date``."""

    def make(t: DateType) -> Callable[[Any], Any]:
        if t.kind == "date":
            return date.fromisoformat
        parse, tz = datetime.fromisoformat, zone(t.zone) if t.zone else session_zone
        if tz is UTC:
            # Appending the offset is ~7x faster than .replace(tzinfo=...) and gives timezone.utc.
            return lambda v: parse(v + "+00:00")
        return lambda v: parse(v).replace(tzinfo=tz).astimezone(UTC)

    return _convert(rows, _converters(types, make))


def convert_server_rows(
    types: Sequence[str], rows: Iterable[Sequence[Any]], *, server_zone: tzinfo = UTC
) -> list[tuple[Any, ...]]:
    """Rows from clickhouse-driver in the embedded store's shape: each DateTime/DateTime64 an
    aware UTC ``datetime`` (the driver gives a column without a zone of its own as naive
    wall-clock time in the server's zone), UUIDs as text, decimals as floats."""

    def make(t: DateType) -> Callable[[Any], Any] | None:
        if t.kind == "date":
            return None
        if server_zone is UTC:
            return lambda v: v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
        return lambda v: (v.replace(tzinfo=server_zone) if v.tzinfo is None else v).astimezone(UTC)

    convs = _converters(types, make)
    dated = {i for i, t in enumerate(types) if date_type(t) is not None}
    plain = [i for i in range(len(types)) if i not in dated]
    out = []
    for row in _convert(rows, convs):
        values = list(row)
        for i in plain:
            values[i] = _plain(values[i])
        out.append(tuple(values))
    return out


@dataclass
class PartsReport:
    """Live (active) and replaced-but-not-yet-removed (outdated) parts of the store."""

    active_parts: int = 0
    active_bytes: int = 0
    outdated_parts: int = 0
    outdated_bytes: int = 0
    tables_configured: int = 0
    waited_s: float = 0.0


# A run ends by waiting (at most store.cleanup_wait_seconds) for ClickHouse's cleanup thread
# when the replaced parts left on disk pass either bound; below them it leaves them to the
# next run. So the outdated data on disk never exceeds about these bounds plus one run's.
OUTDATED_PARTS_BOUND = 16
OUTDATED_BYTES_FLOOR = 4 * 1024 * 1024
OUTDATED_BYTES_SHARE = 0.10


@dataclass
class StoreStats:
    """Counters a run reports: how much the store read and wrote for it."""

    queries: int = 0
    rows_read: int = 0
    rows_written: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list)


def _error_code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    text = str(exc)
    if text.startswith("Code: "):
        try:
            return int(text[6:].split(".", 1)[0])
        except ValueError:
            return None
    return None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # ClickHouse appends a stack trace after ". Stack trace:"; the first line is enough.
    return text.split(" Stack trace:")[0][:500]


def load_query(name: str) -> str:
    """The text of a named query from sql/queries/<name>.sql."""
    if not name.replace("_", "").isalnum():
        raise StoreError(f"invalid query name {name!r}")
    path = resource_path("sql") / "queries" / f"{name}.sql"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(f"named query {name!r} not found at {path}") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, (date, UUID, Decimal)):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


class Store:
    """Common behaviour: retries, named queries, accounting. Backends implement _raw_*."""

    backend = "abstract"

    def __init__(
        self, *, retries: int = 3, backoff: float = 0.5, readonly: bool = False, limits: QueryLimits | None = None
    ) -> None:
        self.retries = max(1, retries)
        self.backoff = backoff
        self.readonly = readonly
        # Bounds of a sandboxed read-only session (`muse query`): a query they stop is not retried.
        self.limits = limits
        self._limited = False
        self.stats = StoreStats()

    # -- backend hooks -----------------------------------------------------------
    def _raw_query(self, sql: str, params: Mapping[str, Any]) -> QueryResult:  # pragma: no cover
        raise NotImplementedError

    def _raw_insert(
        self, table: str, columns: Sequence[str], rows: list[dict[str, Any]], dedup_token: str | None = None
    ) -> None:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover
        raise NotImplementedError

    def maintain(self, *, wait: float, force: bool = False) -> PartsReport | None:
        """Keep the store's size proportional to its live data (embedded store only; a
        ClickHouse server runs its own cleanup all the time). None when there is nothing to do."""
        return None

    # -- public API ---------------------------------------------------------------
    def _retrying(self, what: str, fn: Callable[[], T]) -> T:
        """``fn`` under the one retry policy (muse.retry): transient faults are retried
        ``store.retries`` times in all, the backoff doubling from ``store.retry_backoff_seconds``;
        any other failure is classified into muse's store errors at once."""
        from muse import retry

        attempts = 0

        def attempt() -> T:
            nonlocal attempts
            attempts += 1
            return fn()

        def transient(exc: BaseException) -> bool:
            if isinstance(exc, (StoreError, StoreUnavailableError)):
                return False
            code = _error_code(exc)
            if code == READONLY_CODE or (self.limits is not None and code in LIMIT_CODES):
                return False
            return self._is_transient(exc, code)

        def on_retry(exc: BaseException | None, attempt_no: int, wait: float) -> None:
            self.stats.retries += 1
            log.warning(
                "store: %s failed (attempt %d/%d), retrying in %.1fs: %s",
                what,
                attempt_no,
                self.retries,
                wait,
                _one_line(exc) if exc else "failed",
            )

        try:
            return retry.call(
                attempt,
                what=f"store: {what}",
                attempts=self.retries,
                backoff=self.backoff,
                max_backoff=float("inf"),
                max_wait=float("inf"),
                transient=transient,
                on_retry=on_retry,
                sleep=lambda s: time.sleep(s),
            )
        except (StoreError, StoreUnavailableError):
            raise
        except Exception as exc:  # classified below
            code = _error_code(exc)
            if self.limits is not None and code in LIMIT_CODES:
                raise QueryLimitError(self.limits.message(code), code=code) from exc
            if code == READONLY_CODE:
                raise ReadOnlyError(
                    "the store is read-only for this command: " + _one_line(exc),
                    hint="pass --write to allow writes",
                ) from exc
            if not self._is_transient(exc, code):
                raise StoreError(f"{what} failed: {_one_line(exc)}", code=code) from exc
            self.stats.errors.append(_one_line(exc))
            raise StoreUnavailableError(f"{what} failed after {attempts} attempts: {_one_line(exc)}") from exc

    def _is_transient(self, exc: BaseException, code: int | None) -> bool:
        """Network drops, timeouts and the server's transient codes; not a missing file or a
        refused permission (an OSError too), which no retry can fix."""
        from muse.retry import PERMANENT_OS_ERRORS

        if isinstance(exc, PERMANENT_OS_ERRORS):
            return False
        if isinstance(exc, (ConnectionError, TimeoutError, OSError, EOFError)):
            return True
        # Code 252 is also "Too many partitions for single INSERT block": the same insert
        # fails the same way every time (it was retried, then reported as store unavailable).
        if code == 252 and "too many partitions" in str(exc).lower():
            return False
        return code in TRANSIENT_CODES

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run one statement with bound parameters and return its rows."""
        if self.limits is not None and not self._limited:
            self._enter_limits(self.limits)
            self._limited = True
        result = self._retrying("query", lambda: self._raw_query(sql, dict(params or {})))
        self.stats.queries += 1
        self.stats.rows_read += result.rows_read
        return result

    def sandboxed_query(self, sql: str, params: Mapping[str, Any] | None = None, *, write: bool = False) -> QueryResult:
        """Run an ad-hoc statement after the sandbox (muse.sandbox) checked ClickHouse's parse of it:
        only the store's own tables, no files, processes or network; reads only unless ``write``."""
        params = dict(params or {})

        def check_query(text: str, values: Mapping[str, Any]) -> QueryResult:
            # The sandbox's own formatQuery and EXPLAIN AST: they read nothing and run before
            # the bounds, so a long statement's syntax tree does not count as a result.
            if self._limited:
                return self.query(text, values)
            return self._retrying("query", lambda: self._raw_query(text, dict(values)))

        try:
            prepared = sandbox_prepare(check_query, sql, params, write=write)
        except ReadOnlyError as exc:
            # EXPLAIN applies a query's own SETTINGS, and a sandboxed session (readonly = 1)
            # refuses every change of a setting: say so rather than suggest --write.
            raise SandboxRefused(
                "query refused: changing settings (SETTINGS or SET) is not allowed in a "
                "read-only query: " + exc.message.split(": ", 1)[-1],
                hint="the bounds are the query.* keys of the config",
            ) from exc
        try:
            return self.query(prepared.canonical, params)
        except ReadOnlyError as exc:
            if not self.readonly:
                raise
            raise SandboxRefused(
                "query refused by ClickHouse's read-only mode: " + exc.message.split(": ", 1)[-1],
                hint="a read-only query only reads; pass --write to write to the store's tables",
            ) from exc

    def _enter_limits(self, limits: QueryLimits) -> None:  # pragma: no cover - per backend
        raise NotImplementedError

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns nothing (DDL, INSERT ... SELECT, OPTIMIZE)."""
        self.query(sql, params)

    def named(self, name: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run the named query sql/queries/<name>.sql."""
        return self.query(load_query(name), params)

    def insert(
        self,
        table: str,
        rows: Iterable[Mapping[str, Any]],
        columns: Sequence[str] | None = None,
        *,
        dedup_token: str | None = None,
    ) -> int:
        """Insert Python rows (dicts) into a table; returns the number of rows sent.

        ``dedup_token`` (letters, digits, ``_:.-``) makes a retried insert of the same batch a
        no-op on tables with insert deduplication (``non_replicated_deduplication_window``).
        """
        batch = [dict(r) for r in rows]
        if not batch:
            return 0
        if not table.replace("_", "").replace(".", "").isalnum():
            raise StoreError(f"invalid table name {table!r}")
        if dedup_token is not None and not _TOKEN.fullmatch(dedup_token):
            raise StoreError(f"invalid dedup token {dedup_token!r}")
        cols = list(columns or batch[0].keys())
        self._retrying(f"insert into {table}", lambda: self._raw_insert(table, cols, batch, dedup_token))
        self.stats.rows_written += len(batch)
        return len(batch)

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EmbeddedStore(Store):
    """chDB at a local path, guarded by an inter-process lock."""

    backend = "embedded"

    def __init__(
        self,
        path: Path,
        *,
        lock_timeout: float = 60.0,
        readonly: bool = False,
        retries: int = 3,
        backoff: float = 0.5,
        on_wait: Callable[[str], None] | None = None,
        limits: QueryLimits | None = None,
    ) -> None:
        super().__init__(retries=retries, backoff=backoff, readonly=readonly, limits=limits)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = FileLock(self.path.parent / (self.path.name + ".lock"), what="the embedded store")
        self._lock.acquire(timeout=lock_timeout, on_wait=on_wait)
        try:
            chdb_session = _import_chdb_session()
            self._session: Any = chdb_session.Session(str(self.path))  # None once closed
            # Numbers as JSON numbers: the default quotes 64-bit integers and decimals.
            self._session.query("SET output_format_json_quote_64bit_integers = 0")
            self._session.query("SET output_format_json_quote_decimals = 0")
            # A DateTime without a zone of its own (now(), a bound DateTime parameter) is read
            # and written in UTC, whatever TZ the process has (chDB takes the process's zone).
            self._session.query("SET session_timezone = 'UTC'")
            if readonly and limits is None:
                # Lasts for this session; closing the session resets it. Level 2 refuses every
                # write and DDL but still lets a query carry its own SETTINGS (e.g. for FINAL).
                # A bounded session gets readonly = 1 instead, before its first query runs.
                self._session.query("SET readonly = 2")
        except Exception as exc:
            self._lock.release()
            raise StoreUnavailableError(f"cannot open the embedded store at {self.path}: {_one_line(exc)}") from exc

    def describe(self) -> str:
        return f"embedded chDB at {self.path}"

    def _enter_limits(self, limits: QueryLimits) -> None:
        # The sandbox's bounds, then readonly = 1: from here on the engine refuses any change
        # of a setting (a SETTINGS clause or SET), so no query in this session can lift them.
        # Set after the sandbox's own checks, whose EXPLAIN output must not count as a result.
        for name, value in limits.engine_settings().items():
            self._session.query(f"SET {name} = {_setting_literal(value)}")
        self._session.query("SET readonly = 1")

    def parts(self) -> PartsReport:
        row = self.named("store_parts").first() or {}
        return PartsReport(
            int(row.get("active_parts") or 0),
            int(row.get("active_bytes") or 0),
            int(row.get("outdated_parts") or 0),
            int(row.get("outdated_bytes") or 0),
        )

    def maintain(self, *, wait: float, force: bool = False) -> PartsReport | None:
        """Bounded maintenance at the end of a run (see sql/queries/store_cleanup_settings.sql).

        Gives every MergeTree table the cleanup settings (once per table), then, when the
        replaced parts on disk pass OUTDATED_PARTS_BOUND or the byte bound (or ``force``),
        waits up to ``wait`` seconds for the cleanup thread to remove them.
        """
        if self.readonly:
            return None
        configured = 0
        for (name,) in self.named("store_tables_without_cleanup").rows:
            self.execute(load_query("store_cleanup_settings"), {"table": name})
            configured += 1
        report = self.parts()
        report.tables_configured = configured
        byte_bound = max(OUTDATED_BYTES_FLOOR, int(report.active_bytes * OUTDATED_BYTES_SHARE))
        if not (force or report.outdated_parts > OUTDATED_PARTS_BOUND or report.outdated_bytes > byte_bound):
            return report
        t0 = time.monotonic()
        while report.outdated_parts and time.monotonic() - t0 < wait:
            time.sleep(0.1)
            report = self.parts()
        report.tables_configured = configured
        report.waited_s = time.monotonic() - t0
        if report.outdated_parts:
            log.info(
                "store: %d replaced part(s) (%d bytes) still on disk after %.1fs; the next run removes them",
                report.outdated_parts,
                report.outdated_bytes,
                report.waited_s,
            )
        return report

    def _raw_query(self, sql: str, params: Mapping[str, Any]) -> QueryResult:
        watchdog = None
        if self.readonly and self.limits is not None and self.limits.timeout_seconds:
            # The engine's max_execution_time is checked between blocks; the store lock must
            # still come free for the agents. A read-only session can stop anywhere safely.
            timeout = self.limits.timeout_seconds
            watchdog = threading.Timer(timeout + HARD_STOP_GRACE_S, _hard_stop, (timeout,))
            watchdog.daemon = True
            watchdog.start()
        try:
            res = self._session.query(sql, "JSONCompact", params=_stringify(params) if params else None)
        finally:
            if watchdog is not None:
                watchdog.cancel()
        return self._result(res)

    def _result(self, res: Any) -> QueryResult:
        raw = res.data() if res is not None else ""
        if not raw.strip():
            return QueryResult(
                [],
                [],
                [],
                rows_read=_safe(res, "rows_read"),
                bytes_read=_safe(res, "bytes_read"),
                elapsed=_safe_f(res, "elapsed"),
            )
        doc = json.loads(raw)
        meta = doc.get("meta", [])
        stats = doc.get("statistics", {})
        types = [m["type"] for m in meta]
        return QueryResult(
            columns=[m["name"] for m in meta],
            types=types,
            rows=convert_text_rows(types, doc.get("data", [])),
            rows_read=int(stats.get("rows_read", 0)),
            bytes_read=int(stats.get("bytes_read", 0)),
            elapsed=float(stats.get("elapsed", 0.0)),
        )

    def _raw_insert(
        self, table: str, columns: Sequence[str], rows: list[dict[str, Any]], dedup_token: str | None = None
    ) -> None:
        # JSONEachRow data after FORMAT is parsed as data, never as SQL. The token was checked
        # against _TOKEN (no quotes or backslashes) before it reaches the SQL text.
        body = "\n".join(json.dumps({c: r.get(c) for c in columns}, default=_json_default) for r in rows)
        col_list = ", ".join(f"`{c}`" for c in columns)
        settings = f" SETTINGS insert_deduplication_token = '{dedup_token}'" if dedup_token else ""
        self._session.query(f"INSERT INTO {table} ({col_list}){settings} FORMAT JSONEachRow\n{body}")

    def close(self) -> None:
        session = getattr(self, "_session", None)
        if session is not None:
            try:
                session.close()
            finally:
                self._session = None
                self._lock.release()


def _import_chdb_session() -> Any:
    """chdb.session, without the pyarrow (and numpy) it imports eagerly when installed: muse
    reads results as JSON, never Arrow, and that import cost every embedded command 0.2-0.6 s
    (importing chdb.session: 0.58-0.95 s with it, 0.31-0.56 s without, on a busy machine).
    chdb makes pyarrow optional (it sets it to None when the import fails); a later
    ``import pyarrow`` elsewhere in the process still works."""
    import sys

    if "chdb.session" in sys.modules or "pyarrow" in sys.modules:
        from chdb import session as chdb_session

        return chdb_session
    sys.modules["pyarrow"] = None  # type: ignore[assignment]  # makes `import pyarrow` raise ImportError
    try:
        from chdb import session as chdb_session
    finally:
        if sys.modules.get("pyarrow", 0) is None:
            del sys.modules["pyarrow"]
    return chdb_session


def _setting_literal(value: Any) -> str:
    """A bound's value as SET text: numbers from typed config, or one of our fixed words."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise StoreError(f"invalid setting value {value!r}")
    if isinstance(value, str):
        if not value.isidentifier():
            raise StoreError(f"invalid setting value {value!r}")
        return f"'{value}'"
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


HARD_STOP_GRACE_S = 5.0


def _hard_stop(timeout: float) -> None:
    """A read-only query ran past query.timeout_seconds and its own grace: end the process,
    which releases the store's lock (flock) for the agents waiting on it."""
    import os

    from muse.errors import ExitCode

    log.error(
        "query stopped after query.timeout_seconds (%gs): it overrode max_execution_time; "
        "ending the process so the waiting agents get the store",
        timeout,
    )
    for handler in logging.getLogger("muse").handlers:
        handler.flush()
    os._exit(int(ExitCode.FAILED))


def _safe(res: Any, attr: str) -> int:
    try:
        return int(getattr(res, attr)())
    except Exception:  # noqa: BLE001
        return 0


def _safe_f(res: Any, attr: str) -> float:
    try:
        return float(getattr(res, attr)())
    except Exception:  # noqa: BLE001
        return 0.0


def _stringify(params: Mapping[str, Any]) -> dict[str, str]:
    """chDB binds parameters from their text form; ClickHouse parses them by declared type."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, datetime):
            out[key] = value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            out[key] = "[" + ", ".join(_literal(v) for v in value) + "]"
        elif value is None:
            out[key] = "\\N"
        elif isinstance(value, str):
            # ClickHouse reads parameter text in its escaped format: a backslash, tab or
            # newline in the value must be escaped to arrive unchanged.
            out[key] = value.translate(_PARAM_ESCAPES)
        else:
            out[key] = str(value)
    return out


def _literal(value: Any) -> str:
    """One element of an array parameter as a ClickHouse literal; text quoted and escaped, so
    a quote or backslash in it (a file name such as q'uote.jsonl) arrives unchanged."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if value is None:
        return "NULL"
    text = value if isinstance(value, str) else str(_json_default(value))
    return "'" + text.translate(_QUOTED_ESCAPES) + "'"


_QUOTED_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"})
_PARAM_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"})


class ServerStore(Store):
    """A ClickHouse server over the native protocol (clickhouse-driver)."""

    backend = "server"

    def __init__(
        self,
        url: str,
        *,
        readonly: bool = False,
        retries: int = 3,
        backoff: float = 0.5,
        connect_timeout: float = 5.0,
        limits: QueryLimits | None = None,
    ) -> None:
        super().__init__(retries=retries, backoff=backoff, readonly=readonly, limits=limits)
        parsed = urlparse(url)
        if parsed.scheme not in ("clickhouse", "clickhouses"):
            raise StoreError(f"store URL must start with clickhouse:// (got scheme {parsed.scheme!r})")
        try:
            _ = parsed.port  # reading it validates it
        except ValueError as exc:
            # (the URL itself is not repeated: it may hold a password)
            raise ConfigError(
                f"store.url: bad port ({exc})", hint="clickhouse://user:pass@host:9000/db; the port is 1-65535"
            ) from None
        self._where = f"{parsed.hostname}:{parsed.port or 9000}/{(parsed.path or '/default').lstrip('/') or 'default'}"
        from clickhouse_driver import Client

        settings = server_settings(readonly=readonly)
        self._client = Client(
            host=parsed.hostname or "localhost",
            port=parsed.port or 9000,
            user=unquote(parsed.username or "default"),
            password=unquote(parsed.password or ""),
            database=(parsed.path or "/default").lstrip("/") or "default",
            secure=parsed.scheme == "clickhouses",
            connect_timeout=connect_timeout,
            settings=settings,
        )
        # Fail fast, with retries, when the server is unreachable.
        self._retrying("query", lambda: self._raw_query("SELECT 1", {}))
        self.stats = StoreStats()

    def describe(self) -> str:
        return f"ClickHouse server {self._where}"

    def _enter_limits(self, limits: QueryLimits) -> None:
        # Sent with every later query of this connection. A query's own SETTINGS/SET is refused
        # by the sandbox; a read-only user's settings profile should cap them too (docs/security.md).
        self._client.settings.update(limits.engine_settings())

    def _raw_query(self, sql: str, params: Mapping[str, Any]) -> QueryResult:
        rows, meta = self._client.execute(sql, dict(params) or None, with_column_types=True)
        progress = getattr(self._client.last_query, "progress", None)
        rows_read = getattr(progress, "rows", 0) if progress else 0
        bytes_read = getattr(progress, "bytes", 0) if progress else 0
        elapsed = getattr(self._client.last_query, "elapsed", 0.0) or 0.0
        types = [m[1] for m in meta]
        return QueryResult(
            [m[0] for m in meta],
            types,
            convert_server_rows(types, rows, server_zone=self._server_zone()),
            rows_read,
            bytes_read,
            elapsed,
        )

    def _server_zone(self) -> tzinfo:
        """The server's time zone, in which clickhouse-driver gives zone-less times (naive)."""
        info = getattr(self._client.connection, "server_info", None)
        name = info.get_timezone() if info is not None else None
        return zone(name) if name else UTC

    def _raw_insert(
        self, table: str, columns: Sequence[str], rows: list[dict[str, Any]], dedup_token: str | None = None
    ) -> None:
        col_list = ", ".join(f"`{c}`" for c in columns)
        settings = {"insert_deduplication_token": dedup_token} if dedup_token else None
        self._client.execute(
            f"INSERT INTO {table} ({col_list}) VALUES", [[r.get(c) for c in columns] for r in rows], settings=settings
        )

    def close(self) -> None:
        self._client.disconnect()


def server_settings(*, readonly: bool) -> dict[str, Any]:
    """Settings sent with every query of a server session. A read-only store is enforced by the
    server (readonly=2: reads and session settings only, every write refused with code 164),
    not by muse parsing SQL; parameters are bound server-side, never formatted in."""
    settings: dict[str, Any] = {"server_side_params": True}
    if readonly:
        settings["readonly"] = 2
    return settings


def _plain(value: Any) -> Any:
    """Make server values look like embedded (JSON) values so agents see one shape (dates
    and times are converted by their column's type, in convert_server_rows)."""
    if isinstance(value, (UUID,)):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def open_store(
    settings: Settings, *, readonly: bool = False, on_wait: Callable[[str], None] | None = None, bounded: bool = False
) -> Store:
    """Open the store the settings describe.

    ``bounded`` (with ``readonly``) applies the ``query.*`` bounds of an ad-hoc read-only query.
    """
    url = settings.store_url
    retries = settings.store.retries
    backoff = settings.store.retry_backoff_seconds
    limits = QueryLimits.from_settings(settings) if bounded and readonly else None
    if url:
        return ServerStore(url, readonly=readonly, retries=retries, backoff=backoff, limits=limits)
    try:
        settings.ensure_state_dir()
        return EmbeddedStore(
            settings.embedded_store_path,
            lock_timeout=settings.store.lock_timeout_seconds,
            readonly=readonly,
            retries=retries,
            backoff=backoff,
            on_wait=on_wait,
            limits=limits,
        )
    except OSError as exc:
        # A read-only or full state dir: the store's lock file cannot be made.
        raise StateDirError(f"cannot open the embedded store in {settings.state_dir}: {exc.strerror or exc}") from None
