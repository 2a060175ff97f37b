"""`muse publish` from the command line, and a publish killed between push and deploy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, muse_cmd
from episode_fixtures import Blog, episode_status, insert_episode, make_blog, write_episode
from fake_vercel import FakeVercel
from fakes import FakeHTTP
from test_publish import publish_env, servers  # noqa: F401 (servers: the same module-scoped fixture)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrated: Any,
        servers: tuple[FakeVercel, FakeHTTP]) -> tuple[Blog, FakeVercel, Any]:
    from muse.config import load_settings

    vercel, hooks = servers
    vercel.reset()
    hooks.requests.clear()
    blog = make_blog(tmp_path)
    publish_env(monkeypatch, blog, vercel, hooks)
    return blog, vercel, load_settings()


def _episode(settings: Any, blog: Blog, n: int, **kw: Any) -> None:
    from muse.store import open_store

    write_episode(blog.clone, n, **{k: v for k, v in kw.items() if k in ("status", "confidence")})
    with open_store(settings) as st:
        insert_episode(st, n, **kw)


def _status(settings: Any, n: int) -> dict[str, Any]:
    from muse.store import open_store

    with open_store(settings) as st:
        return episode_status(st, n)


def test_publish_number_latest_and_rollback_all_parse(cli: Any, env: tuple[Blog, FakeVercel, Any]) -> None:
    blog, vercel, settings = env
    previous = vercel.seed("c" * 40)
    _episode(settings, blog, 31)
    r = cli("publish", "31")
    assert r.exit_code == 0, r
    assert "publish: ok - episode 31 published:" in r.stdout and "READY" in r.stdout
    again = cli("publish", "latest", "--json")
    assert again.exit_code == 0, again
    doc = json.loads(again.stdout)
    assert doc["status"] == "ok" and doc["details"]["noop"] is True and "already published" in doc["message"]
    bare = cli("publish")  # no argument: latest
    assert bare.exit_code == 0 and "episode 31 is already published" in bare.stdout
    rb = cli("publish", "rollback", "31", "--json")
    assert rb.exit_code == 0, rb
    assert json.loads(rb.stdout)["details"]["production_deployment"] == previous
    assert _status(settings, 31)["status"] == "rolled_back"


def test_approve_by_name_from_the_cli(cli: Any, env: tuple[Blog, FakeVercel, Any]) -> None:
    blog, vercel, settings = env
    _episode(settings, blog, 32, status="draft", confidence=0.3)
    draft = cli("publish", "32")
    assert draft.exit_code == 0 and "is a draft (confidence 0.30 < 0.60)" in draft.stdout
    r = cli("publish", "32", "--approve", "--by", "ana")
    assert r.exit_code == 0, r
    assert _status(settings, 32)["approved_by"] == "ana"


def test_bad_arguments_are_usage_errors(cli: Any, env: tuple[Blog, FakeVercel, Any]) -> None:
    r = cli("publish", "twelve")
    assert r.exit_code == 2 and "EPISODE must be a number or 'latest', got 'twelve'" in r.output
    r = cli("publish", "5", "--by", "ana")
    assert r.exit_code == 2 and "--by only makes sense with --approve" in r.output
    r = cli("publish", "404")
    assert r.exit_code == 1 and "episode 404 is not in the episodes table" in r.output
    helped = cli("publish", "--help")
    assert helped.exit_code == 0 and "rollback" in helped.stdout and "[EPISODE|latest]" in helped.stdout


def test_missing_blog_repo_setting_is_a_config_error(cli: Any, migrated: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MUSE_REPOS_BANTERBLOGS_PATH", raising=False)
    r = cli("publish", "1")
    assert r.exit_code == 2 and "repos.banterblogs.path is not set" in r.output


# -- crash safety ---------------------------------------------------------------------------
def _kill_after_push(settings: Any, blog: Blog, vercel: FakeVercel, n: int) -> str:
    """Run `muse publish n` in a process and SIGKILL it while its deployment request is in
    flight: after the push, before it learns the deployment id. Returns the pushed sha."""
    vercel.block_create = threading.Event()
    proc = subprocess.Popen([*muse_cmd(), "publish", str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert vercel.create_seen.wait(60), proc.communicate(timeout=5)
        sha = blog.tip("main")
        assert blog.subjects()[0].startswith(f"Episode {n}: ") and blog.tag(f"episode-{n}") == sha
        journal = json.loads((settings.state_dir / "publish" / f"ep-{n}.json").read_text())
        assert (journal["phase"], journal["sha"]) == ("pushed", sha)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        vercel.block_create.set()
        vercel.block_create = None
        vercel.create_seen.clear()
    return sha


def test_killed_between_push_and_deploy_then_a_rerun_completes(cli: Any, env: tuple[Blog, FakeVercel, Any]) -> None:
    blog, vercel, settings = env
    _episode(settings, blog, 33)
    sha = _kill_after_push(settings, blog, vercel, 33)
    assert _status(settings, 33)["status"] == "ready"  # nothing recorded it as published
    r = cli("publish", "33")
    assert r.exit_code == 0, r
    assert _status(settings, 33) == {"status": "published", "approved_by": "", "published_commit": sha}
    assert len(vercel.created_bodies) == 1  # the deployment the killed run started was followed, not duplicated
    assert [s for s in blog.subjects() if s.startswith("Episode 33")] == ["Episode 33: Week 33: quantised models got "
                                                                        "faster"]
    assert not (settings.state_dir / "publish" / "ep-33.json").exists()


def test_killed_between_push_and_deploy_then_a_rerun_rolls_back(cli: Any, env: tuple[Blog, FakeVercel, Any]) -> None:
    blog, vercel, settings = env
    _episode(settings, blog, 34)
    sha = _kill_after_push(settings, blog, vercel, 34)
    (dep,) = vercel.deployments.values()
    # The build the killed run started is still queued when the rerun looks, then fails.
    vercel.step_seconds = 0.25
    dep["_script"], dep["_born"] = ["QUEUED"] * 8 + ["ERROR"], time.monotonic()
    r = cli("publish", "34")
    assert r.exit_code == 1
    assert blog.subjects()[0] == "Revert episode 34: deploy error"
    assert blog.show("main", "posts/ep-34.md") is None
    assert _status(settings, 34)["status"] == "failed"
    assert len(vercel.created_bodies) == 1 and sha
