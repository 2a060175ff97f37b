"""muse changes the mode only of a state dir it created; it refuses `/`, the home dir and system dirs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from muse.errors import ExitCode


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.parametrize("mode", [0o755, 0o1777, 0o750])
def test_an_existing_dir_keeps_its_mode_and_gets_a_warning(cli, tmp_path, mode) -> None:
    d = tmp_path / "shared"
    d.mkdir()
    d.chmod(mode)
    first = None
    for args in (("db", "status"), ("query", "SELECT 1"), ("health", "--offline")):
        r = cli("--state-dir", str(d), *args)
        assert r.exit_code in (0, 1), r  # db status: 1 = migrations pending
        assert _mode(d) == mode, args
        first = first or r
    r = first
    assert f"state dir {d} is accessible to other users (mode {mode & 0o777:o})" in r.stderr
    assert "chmod 700" in r.stderr


def test_a_private_existing_dir_gets_no_warning(cli, tmp_path) -> None:
    d = tmp_path / "mine"
    d.mkdir(mode=0o700)
    d.chmod(0o700)
    r = cli("--state-dir", str(d), "db", "status")
    assert "accessible to other users" not in r.stderr and _mode(d) == 0o700


def test_a_new_dir_is_created_private_whatever_the_umask(cli, tmp_path) -> None:
    d = tmp_path / "new" / "state"
    old = os.umask(0)
    try:
        r = cli("--state-dir", str(d), "db", "status")
    finally:
        os.umask(old)
    assert r.exit_code in (0, 1), r
    assert _mode(d) == 0o700


@pytest.mark.parametrize("target", ["/", "/tmp", "/etc", "/usr", "/var", "/home", "HOME", "HOME/"])
def test_root_home_and_system_dirs_are_refused_and_untouched(cli, tmp_path, monkeypatch, target) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    monkeypatch.setenv("HOME", str(home))
    path = Path(target.replace("HOME", str(home))) if target.startswith("HOME") else Path(target)
    before = _mode(path)
    entries = sorted(os.listdir(path))
    for args in (("db", "status"), ("query", "SELECT 1"), ("watcher", "check"), ("health", "--offline")):
        r = cli("--state-dir", target.replace("HOME", str(home)), *args)
        assert r.exit_code in (ExitCode.USAGE, ExitCode.FAILED), r
        assert "state dir" in r.output and ("system directory" in r.output or "home directory" in r.output)
    assert _mode(path) == before
    # Nothing muse would put in a state dir was left behind. (Only muse's own names are
    # compared: other processes, such as a second test worker, create files in /tmp meanwhile.)
    muse_names = {"alerts.jsonl", "clickhouse", "demo", "locks", "metrics.json", "pages", "publish", "quarantine",
                  "runs", "watcher_status.json"}
    new = set(os.listdir(path)) - set(entries)
    assert not [n for n in new if n in muse_names or n.endswith(".lock") or n.startswith("muse")], new


def test_a_subdirectory_of_a_system_dir_is_fine(settings) -> None:
    from muse.config import check_state_dir

    check_state_dir(Path("/var/lib/muse"))
    check_state_dir(Path("/tmp/somebody/muse"))
