"""Issue 17: a re-run with nothing new writes nothing and counts nothing, whether it reads its
files again or not (test_ingest_packs.py: a run that died before its rollup is caught up by
the next one, which reads no file). Real files, a real chDB store."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest_world import T0, hour_file, ingest, session, write_jsonl
from muse.errors import ExitCode
from muse.telemetry import Telemetry

H = timedelta(hours=1)
TABLES = ("ui_events", "llm_events", "session_stats", "ingest_quarantine", "ingest_gaps", "ingest_files")


@pytest.fixture
def tdir(tmp_path: Path) -> Path:
    path = tmp_path / "telemetry"
    path.mkdir()
    return path


def raw(store: Any) -> dict[str, int]:
    return {t: store.query(f"SELECT count() FROM {t}").scalar() for t in TABLES}


def fill(tdir: Path, hours: int = 4) -> None:
    for h in range(hours):
        write_jsonl(hour_file(tdir, T0 + h * H), [e for m in range(3) for e in session(T0 + h * H + timedelta(minutes=m))])
    write_jsonl(hour_file(tdir, T0).with_name("bad.jsonl"), ['{"ts": "2026-05-04T10:00:01Z", "oops"'])


def test_a_rerun_that_reads_every_file_again_writes_and_counts_nothing(settings, store, tdir) -> None:
    """A wider window than the first run's: the ledger does not cover it, so every file is
    parsed again; nothing is new, so nothing is written, reported or emitted."""
    fill(tdir)
    first = ingest(settings, store, tdir, T0, T0 + 4 * H)
    assert first.result.details["new_events"] > 0 and first.result.details["quarantined"] == 1
    before = raw(store)
    tel = Telemetry(state_dir=settings.state_dir)
    again = ingest(settings, store, tdir, T0 - 2 * H, T0 + 4 * H, telemetry=tel)
    assert again.exit_code == ExitCode.OK
    assert again.result.details["unchanged_files"] == 0 and again.result.message.count("file read(s)") == 1
    assert (again.result.details["new_events"], again.result.details["new_llm_events"],
            again.result.details["quarantined"]) == (0, 0, 0)
    assert again.result.rows_written == 0, again.result.message
    assert not [i for i in again.result.items if "rolled up" in i.message]
    assert [(s.name, s.value) for s in tel.samples
            if s.name.startswith(("llm.", "ingest.banterpacks", "ingest.gaps")) or
            (s.name == "ingest.quarantined" and s.value)] == []
    after = raw(store)
    after.pop("ingest_files"), before.pop("ingest_files")  # the ledger learns the wider window
    assert after == before


def test_opening_the_store_does_not_import_pyarrow_and_pyarrow_still_imports(settings, store) -> None:
    """chdb imports pyarrow (and numpy) eagerly, 0.2-0.6 s of every embedded command; muse
    reads JSON, never Arrow. A later import of pyarrow in the same process still works."""
    store.close()
    code = ("import sys\n"
            "from muse.config import load_settings\n"
            "from muse.store import open_store\n"
            "with open_store(load_settings()) as st:\n"
            "    assert st.query('SELECT 1 AS one').scalar() == 1\n"
            "    print('pyarrow' in sys.modules, 'numpy' in sys.modules)\n"
            "try:\n"
            "    import pyarrow\n"
            "    print('importable')\n"
            "except ImportError:\n"
            "    print('not installed')\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split("\n")
    assert out[0] == "False False" and out[1] in ("importable", "not installed"), out
