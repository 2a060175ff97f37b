"""Real git repos with controlled commit dates, and rows for their commits, for watcher tests."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from muse.hours import ts_str

ACTOR = ("Muse Test", "muse-test@example.com")


def now() -> datetime:
    return datetime.now(timezone.utc)


def ago(**kw: float) -> datetime:
    return now() - timedelta(**kw)


class GitRepo:
    """A working repo on branch main whose commits carry the committer date we choose."""

    def __init__(self, path: Path) -> None:
        import git

        self.path = path
        self.repo = git.Repo.init(str(path), initial_branch="main")
        self._n = 0

    def commit(self, when: datetime, message: str = "change") -> str:
        import git

        self._n += 1
        (self.path / "file.txt").write_text(f"{message} {self._n}\n")
        self.repo.index.add(["file.txt"])
        actor = git.Actor(*ACTOR)
        c = self.repo.index.commit(f"{message} {self._n}", author=actor, committer=actor,
                                   author_date=when, commit_date=when)
        return c.hexsha

    def mirror(self, dest: Path) -> Path:
        """A bare mirror clone (what a server-side cron job usually has)."""
        import git

        git.Repo.clone_from(str(self.path), str(dest), mirror=True)
        return dest

    def fetch_into(self, mirror: Path) -> None:
        import git

        git.Repo(str(mirror)).remote("origin").fetch("+refs/*:refs/*")


def add_bench_rows(store: Any, sha: str, *, n: int = 3, ts: datetime | None = None,
                   run_id: str | None = None) -> str:
    """n bench_runs rows of one report (run_id) for commit sha; returns the run_id."""
    run_id = run_id or str(uuid.uuid4())
    ts = ts or now()
    store.insert("bench_runs", [{
        "ts": ts_str(ts), "run_id": run_id, "commit_sha": sha, "model": f"model-{i}", "quant": "q4",
        "dataset": "chat", "latency_p50_ms": 100, "latency_p95_ms": 200, "latency_p99_ms": 300,
        "tokens_per_sec": 50.0, "cost_per_1k": 0.01, "memory_peak_mb": 1000,
    } for i in range(n)])
    return run_id


def add_ui_events(store: Any, sha: str, *, n: int = 5, newest: datetime | None = None, first_id: int = 1) -> None:
    """n ui_events for commit sha, one a minute, the newest at `newest`."""
    newest = newest or now()
    store.insert("ui_events", [{
        "ts": ts_str(newest - timedelta(minutes=n - 1 - i)), "event_id": first_id + i,
        "session_id": str(uuid.UUID(int=first_id + i)), "commit_sha": sha, "event_type": "overlay_open",
        "latency_ms": 120, "user_agent": "Mozilla/5.0", "metadata": "{}",
    } for i in range(n)])


# -- fixtures and helpers shared by the watcher test modules (import them by name) ----------

@pytest.fixture
def repos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """banterhearts and banterpacks repos in tmp_path, configured through the environment."""
    hearts, packs = GitRepo(tmp_path / "banterhearts"), GitRepo(tmp_path / "banterpacks")
    monkeypatch.setenv("MUSE_REPOS_BANTERHEARTS_PATH", str(hearts.path))
    monkeypatch.setenv("MUSE_REPOS_BANTERPACKS_PATH", str(packs.path))
    return SimpleNamespace(hearts=hearts, packs=packs)


@pytest.fixture
def settings(repos: SimpleNamespace, isolated_env: dict[str, str]) -> Any:
    """Settings that point at the test repos (overrides conftest's, so `store` uses it too)."""
    from muse.config import load_settings

    return load_settings()


def check(settings: Any, store: Any, tel: Any = None) -> tuple[Any, Any]:
    """One watcher check through the run lifecycle, on an open store."""
    from muse.agents import watcher
    from muse.runs import run_agent
    from muse.telemetry import Telemetry

    tel = tel or Telemetry.from_settings(settings)
    return run_agent(settings, "watcher", watcher.run, store=store, telemetry=tel), tel


def fresh_world(repos: SimpleNamespace, store: Any) -> tuple[str, str]:
    """Latest hearts commit 10 min old with its report in; packs commit 2 h old, events 5 min ago."""
    hearts = repos.hearts.commit(ago(minutes=10))
    add_bench_rows(store, hearts, n=3)
    packs = repos.packs.commit(ago(hours=2))
    add_ui_events(store, packs, n=5, newest=ago(minutes=5))
    return hearts, packs
