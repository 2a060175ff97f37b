"""`muse query` without --write reads only the store's tables, bounded; --write writes only them.

Every test runs the real CLI on a real embedded store; each hostile statement below worked
(read a file, wrote one, went to the network, or ran unbounded) before the sandbox.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from muse.errors import ExitCode
from muse.sandbox import SandboxRefused, parse_tree


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    p = tmp_path / "outside" / "secret.txt"
    p.parent.mkdir()
    p.write_text("TOPSECRET-4711\n")
    return p


def _refused(r, *words: str) -> None:
    assert r.exit_code == ExitCode.USAGE, r
    first = r.stderr.splitlines()[0]
    assert first.startswith("Error: query refused"), r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)


@pytest.mark.parametrize("sql, names", [
    ("SELECT * FROM file('{f}', 'LineAsString')", "file()"),
    ("SELECT base64Encode(file('{f}'))", "file()"),
    ("SELECT count() FROM numbers(3) WHERE number IN (SELECT length(line) FROM file('{f}', 'LineAsString', 'line String'))",
     "file()"),
    ("WITH s AS (SELECT * FROM file('{f}', 'RawBLOB')) SELECT * FROM s", "file()"),
    ("SELECT * FROM numbers(1) UNION ALL SELECT length(c1) FROM file('{f}', 'CSV')", "file()"),
    ("EXPLAIN QUERY TREE SELECT * FROM file('{f}', 'LineAsString')", "file()"),
    ("DESCRIBE TABLE file('{f}', 'LineAsString')", "file()"),
    ("SELECT * FROM executable('cat {f}', 'LineAsString', 'x String')", "executable()"),
    ("SELECT * FROM python('x')", "python()"),
    ("SELECT * FROM filesystem('{d}')", "filesystem()"),
    ("SELECT * FROM merge('system', '.*')", "merge()"),
    ("SELECT * FROM sqlite('{f}', 't')", "sqlite()"),
    ("SELECT dictGet('d', 'x', 1)", "dictGet()"),
    ("SELECT joinGet('other.j', 'v', 1)", "joinGet()"),
    ("SELECT * FROM system.settings", "system.settings"),
    ("SELECT * FROM `system`.`users`", "system.users"),
    ("SELECT * FROM INFORMATION_SCHEMA.TABLES", "INFORMATION_SCHEMA.TABLES"),
    ("SELECT 1 IN system.users", "system.users"),
    ("SHOW TABLES FROM system", "system"),
])
def test_reads_outside_the_store_are_refused_before_running(cli, migrated, secret_file, sql, names) -> None:
    r = cli("query", sql.format(f=secret_file, d=secret_file.parent))
    _refused(r, names)
    assert "TOPSECRET" not in r.output


@pytest.mark.parametrize("sql", [
    "SELECT * FROM url('http://127.0.0.1:{port}/x', 'CSV', 'a String')",
    "SELECT * FROM s3('http://127.0.0.1:{port}/b/k.csv', 'CSV', 'a String')",
    "SELECT * FROM remote('127.0.0.1:{port}', system.one)",
    "SELECT * FROM mysql('127.0.0.1:{port}', 'db', 't', 'u', 'p')",
    "SELECT * FROM postgresql('127.0.0.1:{port}', 'db', 't', 'u', 'p')",
    "SELECT * FROM cluster('default', system.one)",
    "SELECT * FROM hdfs('hdfs://127.0.0.1:{port}/x', 'CSV', 'a String')",
    "SELECT * FROM azureBlobStorage('http://127.0.0.1:{port}/c', 'c', 'b', 'CSV')",
])
def test_network_table_functions_are_refused_without_a_connection(cli, migrated, sql) -> None:
    # A listening socket that records whether anyone connected.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.setblocking(False)
    port = srv.getsockname()[1]
    try:
        t0 = time.monotonic()
        r = cli("query", sql.format(port=port))
        _refused(r, "table function")
        assert time.monotonic() - t0 < 20
        with pytest.raises(BlockingIOError):
            srv.accept()
    finally:
        srv.close()


@pytest.mark.parametrize("write", [False, True])
@pytest.mark.parametrize("sql, says", [
    ("INSERT INTO FUNCTION file('{out}', 'CSV') SELECT 1", "file()"),
    ("INSERT INTO TABLE FUNCTION file('{out}', 'CSV', 'a UInt8') VALUES (1)", "file()"),
    ("SELECT 1 INTO OUTFILE '{out}'", "INTO OUTFILE"),
    ("SELECT 1 INTO OUTFILE '{out}' TRUNCATE FORMAT CSV", "INTO OUTFILE"),
    ("SELECT 1 FORMAT CSV", "FORMAT"),
])
def test_file_writes_are_refused_even_with_write(cli, migrated, tmp_path, sql, says, write) -> None:
    out = tmp_path / "written.csv"
    r = cli("query", sql.format(out=out), *(["--write"] if write else []))
    assert r.exit_code == ExitCode.USAGE, r
    assert not out.exists()
    if write or "INSERT" not in sql:
        _refused(r, says)
    else:
        assert "read-only" in r.stderr and "--write" in r.stderr


def test_the_store_metadata_cannot_be_overwritten(cli, migrated, settings) -> None:
    meta = next(p for p in settings.embedded_store_path.rglob("*.sql") if "dropped" not in str(p))
    before = meta.read_bytes()
    for extra in ([], ["--write"]):
        r = cli("query", f"SELECT 'garbage' INTO OUTFILE '{meta}' TRUNCATE FORMAT RawBLOB", *extra)
        assert r.exit_code == ExitCode.USAGE
        r = cli("query", f"INSERT INTO FUNCTION file('{meta}', 'RawBLOB') SELECT 'garbage'", *extra)
        assert r.exit_code == ExitCode.USAGE
    assert meta.read_bytes() == before
    assert cli("query", "SELECT count() FROM ui_events FINAL").exit_code == 0


@pytest.mark.parametrize("sql", [
    "SELECT 1 SETTINGS max_execution_time = 0",
    "SELECT 1 SETTINGS readonly = 0",
    "SELECT count() FROM numbers(10) SETTINGS max_result_rows = 0",
    "SET max_result_rows = 0",
    "SET readonly = 0",
])
def test_settings_cannot_be_lifted_by_the_query(cli, migrated, sql) -> None:
    _refused(cli("query", sql))


def test_the_engine_itself_refuses_setting_changes_in_a_sandboxed_session(settings, migrated) -> None:
    from muse.errors import ReadOnlyError
    from muse.store import open_store

    with open_store(settings, readonly=True, bounded=True) as st:
        assert st.sandboxed_query("SELECT 1 AS one").scalar() == 1
        # Past the sandbox's own check: the session is now readonly = 1.
        with pytest.raises(ReadOnlyError, match="Cannot modify"):
            st.query("SELECT 1 SETTINGS max_execution_time = 0")
        # ... and the configured bound is still the one in force.
        assert st.query("SELECT getSetting('max_execution_time') AS t").scalar() == settings["query.timeout_seconds"]


def test_a_second_statement_cannot_ride_along(cli, migrated, tmp_path) -> None:
    out = tmp_path / "second.csv"
    r = cli("query", f"SELECT 1; INSERT INTO FUNCTION file('{out}', 'CSV') SELECT 1", "--write")
    assert r.exit_code == ExitCode.USAGE and "Multi-statements" in r.stderr
    r = cli("query", f"INSERT INTO agent_runs (agent, run_id, started, status) VALUES "
                     f"('x', generateUUIDv4(), now64(), 'ok'); INSERT INTO FUNCTION file('{out}', 'CSV') SELECT 1",
            "--write")
    _refused(r, "';'")
    assert not out.exists()
    assert cli("query", "SELECT count() AS n FROM agent_runs", "--format", "csv").stdout == "n\n0\n"


@pytest.mark.parametrize("sql, says", [
    ("CREATE TABLE leak (a String) ENGINE = File(CSV, '{out}')", "engine File"),
    ("CREATE TABLE leak (a String) ENGINE = URL('http://127.0.0.1:9/x', CSV)", "engine URL"),
    ("CREATE TABLE leak AS file('{out}', 'CSV', 'a String')", "file()"),
    ("CREATE VIEW leak AS SELECT * FROM file('{out}', 'CSV', 'a String')", "file()"),
    ("CREATE DICTIONARY d (a UInt8) PRIMARY KEY a SOURCE(FILE(path '{out}' format 'CSV')) LAYOUT(FLAT()) LIFETIME(0)",
     "DICTIONARY"),
    ("CREATE DATABASE other", "DATABASE"),
    ("DROP DATABASE default", "DATABASE"),
    ("BACKUP TABLE agent_runs TO File('{out}')", "BACKUP"),
    ("SYSTEM SHUTDOWN", "SYSTEM"),
    ("ALTER TABLE agent_runs MOVE PARTITION tuple() TO TABLE other.t", "MOVE"),
    ("INSERT INTO system.one SELECT 1", "system.one"),
    ("RENAME TABLE agent_runs TO other.agent_runs", "RENAME"),
])
def test_write_reaches_only_the_store_tables(cli, migrated, tmp_path, sql, says) -> None:
    out = tmp_path / "w.csv"
    _refused(cli("query", sql.format(out=out), "--write"), says)
    assert not out.exists()
    assert cli("query", "EXISTS TABLE agent_runs", "--format", "csv").stdout.strip().endswith("1")


def test_write_still_works_on_the_store_tables(cli, migrated) -> None:
    assert cli("query", "CREATE TABLE scratch (a UInt8) ENGINE = MergeTree ORDER BY a", "--write").exit_code == 0
    assert cli("query", "INSERT INTO scratch VALUES (1), (2)", "--write").exit_code == 0
    assert cli("query", "INSERT INTO scratch SELECT number FROM numbers(3)", "--write").exit_code == 0
    assert cli("query", "ALTER TABLE scratch DELETE WHERE a = 0", "--write").exit_code == 0
    assert cli("query", "SELECT count() AS n FROM scratch", "--format", "csv").stdout == "n\n4\n"
    assert cli("query", "DROP TABLE scratch", "--write").exit_code == 0


@pytest.mark.parametrize("sql", [
    "SELECT count() FROM ui_events FINAL",
    "SELECT model, avg(latency_p95_ms) FROM bench_runs FINAL GROUP BY model",
    "SELECT count() FROM ui_events FINAL WHERE commit_sha = {sha:String}",
    "SELECT number, toString(number) AS s FROM numbers(5)",
    "SELECT count() FROM (SELECT * FROM system.zeros LIMIT 10)",
    "SELECT * FROM values('a UInt8, b String', (1, 'x'), (2, 'y'))",
    "SELECT count() FROM (SELECT * FROM generateRandom('a UInt8, b String', 1, 10) LIMIT 7)",
    "SELECT * FROM generate_series(1, 3)",
    "SELECT * FROM system.one",
    "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name",
    "SELECT count() FROM system.parts WHERE active",
    "SHOW TABLES",
    "DESCRIBE TABLE ui_events",
    "SHOW CREATE TABLE agent_runs",
    "EXISTS TABLE agent_runs",
    "EXPLAIN SELECT count() FROM ui_events FINAL",
    "WITH t AS (SELECT 1 AS x) SELECT x FROM t WHERE x IN t",
    "SELECT a.agent FROM agent_runs AS a JOIN agent_runs AS b ON a.run_id = b.run_id",
    "SELECT 1;",
])
def test_ordinary_reads_still_work(cli, migrated, sql) -> None:
    r = cli("query", sql, "-p", "sha=0123")
    assert r.exit_code == 0, r


def test_the_readme_precision_query_with_its_comment_still_works(cli, migrated) -> None:
    from muse.resources import resource_path

    sql = (resource_path("sql") / "queries" / "analytics_insight_precision.sql").read_text()
    r = cli("query", "--", sql)  # the file starts with a comment: `--` ends the options
    assert r.exit_code == 0, r
    assert r.stdout.splitlines()[0].split() == ["type", "total", "open", "acknowledged", "true_positives",
                                                "false_positives", "precision"]


def test_a_name_that_injects_dump_lines_is_refused(cli, migrated) -> None:
    _refused(cli("query", "SELECT 1 AS `x\n Function numbers (children 1)`"), "line break")
    _refused(cli("query", "SELECT * FROM `system\n.x`.`t`"))


def test_parse_tree_refuses_injected_lines() -> None:
    good = ["SelectWithUnionQuery (children 1)", " ExpressionList (children 1)", "  SelectQuery (children 1)",
            "   ExpressionList (children 1)", "    Literal UInt64_1"]
    assert parse_tree(good).children[0].children[0].kind == "SelectQuery"
    for bad in (good + ["    Function file (children 1)"], good + [" Identifier x"], good[:-1],
                good + ["Function numbers"], good[:1] + ["   Literal x"] + good[1:]):
        with pytest.raises(SandboxRefused):
            parse_tree(bad)


def test_timeout_stops_a_long_query_in_one_line(cli, migrated, monkeypatch) -> None:
    monkeypatch.setenv("MUSE_QUERY_TIMEOUT_SECONDS", "0.5")
    t0 = time.monotonic()
    r = cli("query", "SELECT sum(sipHash64(number)) FROM numbers(100000000000)")
    took = time.monotonic() - t0
    assert r.exit_code == ExitCode.FAILED, r
    assert r.stderr.splitlines()[0] == ("Error: query stopped: it ran longer than query.timeout_seconds (0.5 s); "
                                        "narrow it (WHERE, LIMIT) or raise the bound")
    assert took < 15  # one attempt, no retries of a timeout


def test_result_rows_are_capped(cli, migrated, monkeypatch) -> None:
    monkeypatch.setenv("MUSE_QUERY_MAX_RESULT_ROWS", "10")
    assert cli("query", "SELECT number FROM numbers(10)", "--format", "csv").exit_code == 0
    r = cli("query", "SELECT number FROM numbers(1000)", "--format", "csv")
    assert r.exit_code == ExitCode.FAILED and r.stdout == ""
    assert "query.max_result_rows (10)" in r.stderr.splitlines()[0]


def test_memory_is_capped(cli, migrated, monkeypatch) -> None:
    monkeypatch.setenv("MUSE_QUERY_MAX_MEMORY_MB", "64")
    r = cli("query", "SELECT length(groupArray(repeat('x', 200))) FROM numbers(20000000)")
    assert r.exit_code == ExitCode.FAILED, r
    assert "query.max_memory_mb (64 MB)" in r.stderr.splitlines()[0]


def test_write_is_not_bounded_by_the_read_limits(cli, migrated, monkeypatch) -> None:
    monkeypatch.setenv("MUSE_QUERY_MAX_RESULT_ROWS", "1")
    assert cli("query", "CREATE TABLE scratch (a UInt64) ENGINE = MergeTree ORDER BY a", "--write").exit_code == 0
    assert cli("query", "INSERT INTO scratch SELECT number FROM numbers(100)", "--write").exit_code == 0
    assert cli("query", "SELECT count() AS n FROM scratch", "--format", "csv").stdout == "n\n100\n"


SERVER_URL = os.environ.get("MUSE_TEST_CLICKHOUSE_URL", "")


@pytest.mark.skipif(not SERVER_URL, reason="MUSE_TEST_CLICKHOUSE_URL is not set; needs a ClickHouse server")
def test_server_backend_refuses_file_reads(cli) -> None:
    r = cli("--store-url", SERVER_URL, "query", "SELECT * FROM file('/etc/hostname')")
    _refused(r, "file()")
