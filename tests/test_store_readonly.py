"""Read-only means read-only, through the store's API as well as `muse query`: a sandboxed
statement writes only when asked to, and a bounded read-only session leaves nothing armed
behind a query that finished in time."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from muse.errors import ExitCode
from muse.sandbox import SandboxRefused
from muse.store import HARD_STOP_GRACE_S, open_store

INSERT = "INSERT INTO agent_runs (agent, run_id, started, status) VALUES ('x', generateUUIDv4(), now64(), 'ok')"


def _runs(settings: Any) -> int:
    with open_store(settings) as st:
        return int(st.query("SELECT count() FROM agent_runs").scalar())


def test_a_sandboxed_query_reads_only_unless_asked_to_write(settings, migrated) -> None:
    """Even on a store opened for writing, a sandboxed statement without write=True is a read:
    the insert is refused before it runs and nothing is written."""
    with open_store(settings) as st:
        with pytest.raises(SandboxRefused, match="read-only for this command: INSERT writes"):
            st.sandboxed_query(INSERT)
    assert _runs(settings) == 0
    with open_store(settings) as st:
        st.sandboxed_query(INSERT, write=True)
    assert _runs(settings) == 1


def test_a_write_through_a_read_only_store_is_refused_even_when_allowed(settings, migrated) -> None:
    """write=True on a store opened read-only: the sandbox lets the statement through, the
    engine refuses it, and the refusal says so (not a bare engine error); nothing is written."""
    for bounded in (False, True):
        with open_store(settings, readonly=True, bounded=bounded) as ro:
            with pytest.raises(SandboxRefused, match="read-only") as err:
                ro.sandboxed_query(INSERT, write=True)
        # The engine's own words follow, whole: what refused it, and why.
        msg = err.value.message
        assert msg.startswith("query refused by ClickHouse's read-only mode: Code: 164."), msg
        assert msg.endswith("Cannot execute query in readonly mode. (READONLY)"), msg
        assert _runs(settings) == 0


def test_a_bounded_session_keeps_its_bounds_over_many_queries(settings, migrated) -> None:
    """Every statement of one read-only session runs under the query.* bounds and read-only,
    the first and the later ones alike, and each returns its rows."""
    with open_store(settings, readonly=True, bounded=True) as ro:
        for n in (1, 2, 3):
            assert ro.sandboxed_query("SELECT {n:UInt8} AS n", {"n": n}).scalar() == n
            assert ro.query("SELECT getSetting('readonly')").scalar() == 1
            assert ro.query("SELECT getSetting('max_execution_time')").scalar() == settings["query.timeout_seconds"]
        with pytest.raises(SandboxRefused):
            ro.sandboxed_query(INSERT, write=True)
        # A later statement cannot lift a bound with its own SETTINGS: refused, and why.
        with pytest.raises(SandboxRefused) as err:
            ro.sandboxed_query("SELECT 1 SETTINGS max_execution_time = 0")
        msg = err.value.message
        assert msg.startswith("query refused: changing settings (SETTINGS or SET) is not allowed in a read-only "
                              "query: Code: 164."), msg
        assert "Cannot modify 'max_execution_time' setting in readonly mode" in msg
        assert err.value.hint == "the bounds are the query.* keys of the config"
        assert ro.query("SELECT getSetting('max_execution_time')").scalar() == settings["query.timeout_seconds"]
    assert _runs(settings) == 0


def test_a_query_that_finished_in_time_leaves_no_hard_stop_armed(migrated) -> None:
    """The watchdog that ends a read-only process whose query overran its bound (plus a grace)
    is for that query only: a process that keeps working after a quick bounded query (the
    agents open read-only stores too) is not ended later."""
    code = textwrap.dedent(f"""
        import time
        from muse.config import load_settings
        from muse.store import open_store
        settings = load_settings(overrides={{"query.timeout_seconds": 0.5}})
        with open_store(settings, readonly=True, bounded=True) as ro:
            assert ro.sandboxed_query("SELECT 1 AS one").scalar() == 1
            time.sleep(0.5 + {HARD_STOP_GRACE_S} + 1.0)
            assert ro.sandboxed_query("SELECT 2 AS two").scalar() == 2
        print("still running")
    """)
    res = subprocess.run([sys.executable, "-c", code], env={**os.environ}, capture_output=True, text=True,
                         timeout=120)
    assert (res.returncode, res.stdout.strip()) == (0, "still running"), res.stderr[-2000:]
    assert "query stopped" not in res.stderr


def test_a_read_only_query_stuck_past_its_bound_ends_the_process_and_frees_the_store(settings, migrated) -> None:
    """The engine checks max_execution_time between blocks; a statement stuck inside one would
    hold the store's lock from the agents. After query.timeout_seconds plus a grace the process
    ends (exit 1, one log line) and the lock is free. The stall is injected: the engine's call
    for this statement sleeps far past the bound, as a runaway block would."""
    code = textwrap.dedent("""
        import time
        from muse.config import load_settings
        from muse.store import open_store
        settings = load_settings(overrides={"query.timeout_seconds": 0.5})
        ro = open_store(settings, readonly=True, bounded=True)
        engine = ro._session

        class Stuck:
            def __getattr__(self, name):
                return getattr(engine, name)

            def query(self, sql, *args, **kwargs):
                if "stuck_here" in sql:
                    time.sleep(60)
                return engine.query(sql, *args, **kwargs)

        ro._session = Stuck()
        ro.sandboxed_query("SELECT 'stuck_here' AS s")
        print("returned")
    """)
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-c", code], env={**os.environ}, capture_output=True, text=True,
                         timeout=120)
    took = time.monotonic() - t0
    assert res.returncode == ExitCode.FAILED and "returned" not in res.stdout, (res.returncode, res.stderr[-2000:])
    assert "query stopped after query.timeout_seconds (0.5s)" in res.stderr, res.stderr[-2000:]
    assert 0.5 + HARD_STOP_GRACE_S <= took < 40  # the bound and its grace, then no longer
    with open_store(settings) as rw:  # the lock came free with the process
        assert rw.query("SELECT count() FROM agent_runs").scalar() == 0
