from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ROOT, muse_cmd
from fakes import closed_port
from muse import migrations
from muse.errors import ExitCode, ReadOnlyError, StoreError, StoreUnavailableError
from muse.locks import FileLock
from muse.store import ServerStore, load_query, open_store


def test_parameters_are_bound_not_formatted(store) -> None:
    hostile = "x'); DROP TABLE agent_runs; --"
    store.insert("agent_runs", [{"agent": hostile, "run_id": "00000000-0000-4000-8000-000000000001",
                                 "started": "2026-01-01 00:00:00.000", "status": "ok"}])
    r = store.query("SELECT agent FROM agent_runs WHERE agent = {a:String}", {"a": hostile})
    assert r.rows == [(hostile,)]
    assert store.query("EXISTS TABLE agent_runs").scalar() == 1


def test_string_parameters_arrive_unchanged(store) -> None:
    for value in ("a\\nb", "tab\there", "line\nbreak", "back\\slash\\", "\\N", "quote ' \"", "nul\0"):
        assert store.query("SELECT {v:String}", {"v": value}).scalar() == value


# Calls that take a query name (sql/queries/<name>.sql) as their first argument: the store's
# `named`, `load_query`, and the council's fact builder `F.rows/sql/pct` (it runs store.named).
_QUERY_LOADERS = {"named", "named_query", "load_query"}
_FACT_BUILDERS = {"rows", "sql", "pct"}


def _query_names_in_code() -> dict[str, str]:
    """Every literal query name the code passes to a loader, with where it was found."""
    import ast

    found: dict[str, str] = {}
    for base in ("muse", "agents"):
        for path in sorted((ROOT / base).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                facts = (isinstance(f, ast.Attribute) and f.attr in _FACT_BUILDERS
                         and isinstance(f.value, ast.Name) and f.value.id == "F")
                first = node.args[0]
                if (name in _QUERY_LOADERS or facts) and isinstance(first, ast.Constant) \
                        and isinstance(first.value, str):
                    found.setdefault(first.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_query_the_code_names_exists() -> None:
    """A mistyped `store.named("...")` fails here, not in production at 2 a.m."""
    from muse.resources import resource_path

    files = {p.stem for p in (resource_path("sql") / "queries").glob("*.sql")}
    used = _query_names_in_code()
    assert len(used) > 50, f"the collector found only {len(used)} query names; is it still looking?"
    missing = {name: where for name, where in used.items() if name not in files}
    assert not missing, f"named in code but no sql/queries/<name>.sql: {missing}"
    # The other way round: a query file nobody names (not even indirectly, as a string in the
    # code, the benchmarks or the tests) is dead SQL.
    text = "\n".join(p.read_text(encoding="utf-8") for base in ("muse", "agents", "benchmarks", "tests")
                     for p in (ROOT / base).rglob("*.py"))
    unused = sorted(n for n in files - set(used) if f'"{n}"' not in text)
    assert not unused, f"query files no code names: {unused}"


def test_every_query_file_parses(store) -> None:
    from muse.resources import resource_path

    names = [p.stem for p in (resource_path("sql") / "queries").glob("*.sql")]
    assert names
    for name in names:
        sql = load_query(name)
        # formatQuery parses without running or binding ({name:Type} placeholders are valid
        # syntax for it); EXPLAIN AST would demand a value for every placeholder.
        store.query("SELECT formatQuery({q:String})", {"q": sql.strip().rstrip(";")})
    with pytest.raises(StoreError, match="Syntax error"):
        store.query("SELECT formatQuery({q:String})", {"q": "SELECT count( FROM x"})
    with pytest.raises(StoreError, match="not found"):
        load_query("no_such_query")


def test_bad_sql_is_a_store_error_not_a_retry(store) -> None:
    with pytest.raises(StoreError, match="UNKNOWN_TABLE"):
        store.query("SELECT * FROM nope")
    assert store.stats.retries == 0


def test_readonly_store_refuses_writes_and_writes_nothing(settings, migrated) -> None:
    with open_store(settings, readonly=True) as ro:
        with pytest.raises(ReadOnlyError):
            ro.execute("INSERT INTO agent_runs (agent, run_id, started, status) "
                       "VALUES ('x', generateUUIDv4(), now64(), 'ok')")
    with open_store(settings) as rw:
        assert rw.query("SELECT count() FROM agent_runs").scalar() == 0


def test_server_backend_unreachable_retries_then_typed_error() -> None:
    t0 = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="after 3 attempts"):
        ServerStore(f"clickhouse://default:@127.0.0.1:{closed_port()}/default", retries=3, backoff=0.05,
                    connect_timeout=0.5)
    assert time.monotonic() - t0 >= 0.05 + 0.1  # two backoffs happened


@pytest.mark.server
@pytest.mark.skipif(not os.environ.get("MUSE_TEST_CLICKHOUSE_URL"),
                    reason="MUSE_TEST_CLICKHOUSE_URL is not set; server-backend tests need a ClickHouse server")
def test_server_backend_roundtrip() -> None:
    st = ServerStore(os.environ["MUSE_TEST_CLICKHOUSE_URL"])
    try:
        assert st.query("SELECT {a:UInt32} + 1 AS b", {"a": 41}).rows == [(42,)]
    finally:
        st.close()


def test_migrations_twice_change_nothing(store) -> None:
    def snapshot():
        return store.query("SELECT name, create_table_query FROM system.tables "
                           "WHERE database = currentDatabase() ORDER BY name").rows, \
            store.query("SELECT version, name, checksum FROM schema_migrations ORDER BY version").rows

    before = snapshot()
    assert migrations.migrate(store) == []
    assert snapshot() == before
    assert {r[0] for r in before[0]} >= {"bench_runs", "llm_events", "ui_events", "session_stats", "watcher_runs",
                                         "episodes", "deployments", "agent_runs", "schema_migrations"}


def test_db_status_and_migrate_cli(cli) -> None:
    r = cli("db", "status")
    assert r.exit_code == 1 and "PENDING" in r.stdout and "muse db migrate" in r.stdout
    r = cli("db", "migrate")
    assert r.exit_code == 0 and "applied 001_initial_schema" in r.stdout
    r = cli("db", "migrate")
    assert r.exit_code == 0 and "nothing to apply" in r.stdout
    r = cli("db", "status", "--json")
    assert r.exit_code == 0 and '"current": true' in r.stdout


def test_query_cli_readonly_by_default(cli, migrated) -> None:
    ins = "INSERT INTO agent_runs (agent, run_id, started, status) VALUES ('x', generateUUIDv4(), now64(), 'ok')"
    r = cli("query", ins)
    assert r.exit_code == ExitCode.USAGE
    assert "read-only" in r.stderr and "--write" in r.stderr
    assert cli("query", "SELECT count() AS n FROM agent_runs", "--format", "csv").stdout == "n\n0\n"
    assert cli("query", ins, "--write").exit_code == 0
    r = cli("query", "SELECT agent, count() AS n FROM agent_runs WHERE agent = {a:String} GROUP BY agent",
            "-p", "a=x", "--json")
    assert r.exit_code == 0 and '"n": 1' in r.stdout
    assert cli("query", "SELECT 1", "-p", "oops").exit_code == ExitCode.USAGE


@pytest.mark.parametrize("sql, says, hint", [
    ("SELEC 1", "Syntax error: failed at position 7", None),
    ("SELECT nosuch FROM agent_runs", "Unknown expression identifier `nosuch`", None),
    ("SELECT * FROM no_such_table", "no_such_table", "SHOW TABLES"),
    ("SELECT agent FROM agent_runs WHERE agent = {a:String}", "Substitution `a` is not set", "--param"),
])
def test_query_cli_sql_mistake_is_a_usage_error_in_one_line(cli, migrated, sql, says, hint) -> None:
    r = cli("query", sql)
    assert r.exit_code == ExitCode.USAGE, r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith("Error: query failed: Code: ") and says in first
    assert "Expected one of" not in r.stderr and len(first) < 320
    assert (hint in r.stderr) if hint else "Hint:" not in r.stderr


def test_query_cli_into_a_closed_pipe_stops_quietly(settings, migrated, isolated_env) -> None:
    env = {**os.environ, **isolated_env}
    # The plain table format writes line by line, so the closed pipe is hit mid-output.
    cmd = muse_cmd() + ["query", "SELECT number, repeat('x', 100) AS pad FROM numbers(200000)"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(100)
    proc.stdout.close()  # like `| head -c 100`
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert "BrokenPipe" not in stderr and "Traceback" not in stderr and "Error" not in stderr


def test_two_query_processes_at_once_both_succeed(settings, migrated, isolated_env) -> None:
    env = {**os.environ, **isolated_env}
    cmd = muse_cmd() + ["query", "SELECT sleep(1) AS s, count() AS n FROM system.one", "--format", "csv"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert all(o[0].strip().endswith("0,1") for o in outs)
    assert sum("waiting up to" in o[1] for o in outs) >= 1  # one of them waited, and said so


def test_store_lock_timeout_names_holder_and_exit_code(settings, migrated, isolated_env) -> None:
    lock = FileLock(settings.state_dir / "clickhouse.lock", what="the embedded store")
    lock.acquire(timeout=1)
    try:
        env = {**os.environ, **isolated_env, "MUSE_STORE_LOCK_TIMEOUT_SECONDS": "0.5"}
        res = subprocess.run(muse_cmd() + ["query", "SELECT 1"], env=env, capture_output=True, text=True,
                             timeout=60)
    finally:
        lock.release()
    assert res.returncode == ExitCode.STORE_UNAVAILABLE
    assert f"pid {os.getpid()}" in res.stderr and "gave up after 0.5s" in res.stderr


def test_a_migration_failing_half_way_stays_pending_and_is_retried(store, tmp_path, monkeypatch) -> None:
    """Its first statement ran, its second failed: the error says so, the migration is not
    recorded as applied (agents keep refusing the store), and once fixed a second
    `migrate` applies it exactly once while the migrations before it are not re-run."""
    from muse.errors import SchemaOutdatedError, StoreError

    real = migrations.available()
    broken = tmp_path / "999_half_way.sql"
    broken.write_text("-- first half\nCREATE TABLE IF NOT EXISTS half_way (x UInt8) ENGINE = MergeTree ORDER BY x;\n"
                      "INSERT INTO half_way SELECT no_such_column FROM half_way;\n")
    monkeypatch.setattr(migrations, "available", lambda: [*real, migrations.Migration(999, "half_way", broken)])
    assert [m.version for m in migrations.pending(store)] == [999]
    with pytest.raises(StoreError, match="no_such_column|Missing columns|UNKNOWN_IDENTIFIER"):
        migrations.migrate(store)
    assert store.query("SELECT count() FROM system.tables WHERE name = 'half_way' "
                       "AND database = currentDatabase()").scalar() == 1  # the first half ran
    assert [m.version for m in migrations.pending(store)] == [999]
    with pytest.raises(SchemaOutdatedError, match="1 pending migration.*999_half_way"):
        migrations.require_current(store)
    broken.write_text("CREATE TABLE IF NOT EXISTS half_way (x UInt8) ENGINE = MergeTree ORDER BY x;\n"
                      "INSERT INTO half_way VALUES (7);\n")
    assert [m.version for m in migrations.migrate(store)] == [999]
    migrations.require_current(store)
    assert store.query("SELECT version FROM schema_migrations FINAL WHERE version >= 999").rows == [(999,)]
    assert store.query("SELECT x FROM half_way").rows == [(7,)]
    assert migrations.migrate(store) == []
    assert all(st.applied and st.checksum_matches for st in migrations.status(store))
    # Editing a migration after it was applied shows as a checksum mismatch in `db status`.
    broken.write_text(broken.read_text() + "-- edited later\n")
    assert [st.migration.version for st in migrations.status(store) if not st.checksum_matches] == [999]
