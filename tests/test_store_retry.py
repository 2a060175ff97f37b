"""Store retries, decided without a server: which failures are retried (network drops,
timeouts, the server's transient codes), how often, and which fail at once."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from clickhouse_driver.errors import NetworkError, ServerException

from muse.errors import ReadOnlyError, StoreError, StoreUnavailableError
from muse.store import QueryResult, Store


class Scripted(Store):
    """The real Store logic over a backend that fails as scripted, then answers."""

    backend = "scripted"

    def __init__(self, failures: list[BaseException], **kw: Any) -> None:
        super().__init__(**kw)
        self.failures = list(failures)
        self.calls = 0

    def _raw_query(self, sql: str, params: Any) -> QueryResult:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return QueryResult(columns=["x"], types=["UInt8"], rows=[(1,)], rows_read=1)

    def describe(self) -> str:
        return "scripted"


TRANSIENT = [
    ConnectionResetError(104, "Connection reset by peer"),
    TimeoutError("timed out"),
    EOFError("Unexpected EOF while reading bytes"),
    NetworkError("Code: 210. Connection refused (127.0.0.1:9000)"),
    ServerException("Code: 209. DB::Exception: Timeout exceeded while reading from socket", code=209),
    ServerException("DB::Exception: Too many simultaneous queries", code=202),
    ServerException("DB::Exception: Timeout exceeded: elapsed 30 seconds", code=159),  # no query limits set
    RuntimeError("Code: 999. Coordination::Exception: Connection loss"),
    RuntimeError("Code: 425. DB::Exception: System error"),
    ServerException("DB::Exception: Too many parts (300). Merges are processing significantly slower than inserts",
                    code=252),
]


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: type(e).__name__ + ":" + str(e)[:20])
def test_each_kind_of_transient_error_is_retried_then_succeeds(exc: BaseException) -> None:
    st = Scripted([exc, exc], retries=3, backoff=0)
    assert st.query("SELECT 1").rows == [(1,)]
    assert st.calls == 3 and st.stats.retries == 2 and st.stats.errors == []


def test_a_transient_error_that_persists_gives_up_after_the_configured_attempts(caplog) -> None:
    st = Scripted([TimeoutError("timed out")] * 5, retries=3, backoff=0.2)
    with caplog.at_level(logging.WARNING, logger="muse.store"):
        with pytest.raises(StoreUnavailableError, match="query failed after 3 attempts: timed out"):
            st.query("SELECT 1")
    assert st.calls == 3 and st.stats.retries == 2 and st.stats.errors == ["timed out"]
    waits = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert ["attempt 1/3" in waits[0], "retrying in 0.2s" in waits[0]] == [True, True]
    assert "attempt 2/3" in waits[1] and "retrying in 0.4s" in waits[1]  # backoff doubles


@pytest.mark.parametrize("exc", [
    ServerException("Code: 62. DB::Exception: Syntax error", code=62),
    RuntimeError("Code: 60. DB::Exception: Unknown table expression identifier 'nope'"),
    ValueError("bad value"),
    StoreError("invalid setting value 'x'"),  # already classified by the backend: passed on as it is
    # Code 252 is transient as "too many parts" (merges catch up), but the same insert over
    # too many partitions fails the same way every time.
    ServerException("Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 100)",
                    code=252),
])
def test_a_mistake_is_not_retried(exc: BaseException) -> None:
    st = Scripted([exc], retries=3, backoff=0)
    with pytest.raises(StoreError) as info:
        st.query("SELECT 1")
    assert not isinstance(info.value, StoreUnavailableError)
    assert st.calls == 1 and st.stats.retries == 0


@pytest.mark.parametrize("exc", [FileNotFoundError(2, "No such file or directory", "/state/clickhouse/x.bin"),
                                 PermissionError(13, "Permission denied", "/state/clickhouse")])
def test_a_missing_file_or_refused_permission_is_not_retried(exc: BaseException) -> None:
    """Both are OSErrors like a dropped connection, but no retry brings a file back."""
    st = Scripted([exc, exc, exc], retries=3, backoff=0)
    with pytest.raises(StoreError) as info:
        st.query("SELECT 1")
    assert not isinstance(info.value, StoreUnavailableError)
    assert st.calls == 1 and st.stats.retries == 0 and "query failed:" in str(info.value)


def test_an_insert_is_retried_like_a_query(caplog) -> None:
    class Inserts(Scripted):
        def _raw_insert(self, table: str, columns: Any, rows: Any, dedup_token: Any = None) -> None:
            self.calls += 1
            if self.failures:
                raise self.failures.pop(0)

    st = Inserts([ConnectionResetError(104, "Connection reset by peer")], retries=3, backoff=0)
    with caplog.at_level(logging.WARNING, logger="muse.store"):
        assert st.insert("t", [{"a": 1}]) == 1
    assert st.calls == 2 and st.stats.retries == 1 and st.stats.rows_written == 1
    assert any("store: insert into t failed (attempt 1/3)" in r.getMessage() for r in caplog.records)


def test_a_write_refused_by_a_read_only_session_names_the_flag_and_is_not_retried() -> None:
    st = Scripted([ServerException("Code: 164. DB::Exception: Cannot execute query in readonly mode", code=164)],
                  retries=3, backoff=0, readonly=True)
    with pytest.raises(ReadOnlyError, match="read-only for this command") as info:
        st.query("INSERT INTO t VALUES (1)")
    assert "--write" in str(info.value.hint) and st.calls == 1


def test_one_retry_setting_means_one_attempt() -> None:
    st = Scripted([TimeoutError("timed out")], retries=1, backoff=0)
    with pytest.raises(StoreUnavailableError, match="after 1 attempts"):
        st.query("SELECT 1")
    assert st.calls == 1


def test_a_read_only_server_session_is_enforced_by_the_server() -> None:
    """Without a server: the settings every query of a read-only server session carries.
    readonly=2 refuses every write (code 164, above) yet allows the session's own limits;
    readonly=1 would refuse those limits and 0 would allow writes."""
    from muse.store import server_settings

    assert server_settings(readonly=True) == {"server_side_params": True, "readonly": 2}
    assert "readonly" not in server_settings(readonly=False)
    assert server_settings(readonly=False)["server_side_params"] is True


class Bounded(Scripted):
    """A sandboxed session (`muse query`): its bounds are entered once, before its first query."""

    def _enter_limits(self, limits: Any) -> None:
        pass


@pytest.mark.parametrize("code, says", [(159, "ran longer than query.timeout_seconds (5 s)"),
                                        (241, "needed more memory than query.max_memory_mb")])
def test_a_query_its_bound_stopped_is_not_retried_but_a_dropped_connection_is(code: int, says: str) -> None:
    """Under `muse query`'s bounds, ClickHouse's "Timeout exceeded" (159) or memory limit
    (241), transient anywhere else, is the answer: one line at once, not three attempts that
    take three times the bound. A dropped connection of the same session is still retried."""
    from muse.sandbox import QueryLimitError, QueryLimits

    limits = QueryLimits(timeout_seconds=5)
    st = Bounded([ServerException(f"Code: {code}. DB::Exception: limit reached", code=code)],
                 retries=3, backoff=0, readonly=True, limits=limits)
    with pytest.raises(QueryLimitError, match=re.escape(says)):
        st.query("SELECT 1")
    assert st.calls == 1 and st.stats.retries == 0
    st = Bounded([ServerException("Code: 209. DB::Exception: Timeout exceeded while reading from socket", code=209)],
                 retries=3, backoff=0, readonly=True, limits=limits)
    assert st.query("SELECT 1").rows == [(1,)] and st.calls == 2
