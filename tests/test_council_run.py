"""`muse council generate` end to end: the gate, forcing, re-runs, drafts, trace and preview."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from fakes import slack_and_pagerduty
from muse import episode as epfmt
from muse.analysis import circuit
from muse.errors import ExitCode
from muse.hours import ts_str
from muse.runs import run_agent
from muse.store import open_store
from test_council import RISING, World, git_repo


def _now() -> datetime:
    return datetime.now(timezone.utc)


@pytest.fixture
def live_world(tmp_path: Path, migrated: Any) -> World:
    """A world whose week ends now, filled and closed (the CLI opens the store itself)."""
    w = World.__new__(World)
    w.tmp = tmp_path
    today = _now().replace(hour=0, minute=0, second=0, microsecond=0)
    w.days = [today - timedelta(days=6 - i) for i in range(7)]
    w.hearts = git_repo(tmp_path / "hearts", [(d + timedelta(hours=1), f"bench {i}") for i, d in enumerate(w.days)])
    w.packs = git_repo(tmp_path / "packs", [(d + timedelta(hours=1), f"ui {i}") for i, d in enumerate(w.days)])
    git_repo(tmp_path / "blog", [(today - timedelta(days=30), "init")])
    with open_store(w.settings()) as st:
        # 23 of 24 hours a day: telemetry completeness stays below 1 at any hour of the day, so a
        # threshold of 1.0 makes a draft whenever the test runs (at 23:00 a full day reached 1.0).
        w.fill(st, hearts_p95=RISING, user_latency=[1000 + 3 * v for v in RISING], hours_per_day=23)
    return w


def _vouch(w: World, *, status: str = "valid", age: timedelta = timedelta(0)) -> str:
    run_id = str(uuid.uuid4())
    checked = _now() - age
    with open_store(w.settings()) as st:
        st.insert("watcher_runs", [{
            "ts": ts_str(checked), "run_id": run_id, "hearts_commit": w.hearts[-1], "packs_commit": w.packs[-1],
            "hearts_rows_found": 24, "packs_rows_found": 100, "hearts_status": status, "packs_status": status,
            "lag_seconds": 60, "status": status}])
    circuit.write_status(w.settings().state_dir, run_id=run_id, checked_at=checked, hearts_commit=w.hearts[-1],
                         packs_commit=w.packs[-1])
    return run_id


def _episodes(w: World) -> list[dict[str, Any]]:
    with open_store(w.settings()) as st:
        return st.query("SELECT episode, status, forced, hearts_commit FROM episodes FINAL ORDER BY episode").dicts()


def _generate(w: World, **kw: Any):
    from muse.agents import council

    return run_agent(w.settings(**kw.pop("overrides", {})), "council", council.run, **kw)


def test_blocked_without_a_valid_status_file(live_world: World) -> None:
    out = _generate(live_world)
    assert out.exit_code == ExitCode.BLOCKED and "circuit breaker" in out.result.message
    assert _episodes(live_world) == []
    assert not list((live_world.tmp / "blog").glob("posts/*"))


def test_hand_made_status_file_does_not_open_the_gate(live_world: World) -> None:
    circuit.write_status(live_world.settings().state_dir, run_id=str(uuid.uuid4()), checked_at=_now(),
                         hearts_commit=live_world.hearts[-1], packs_commit=live_world.packs[-1])
    out = _generate(live_world)
    assert out.exit_code == ExitCode.BLOCKED and _episodes(live_world) == []


def test_stale_status_file_blocks(live_world: World) -> None:
    _vouch(live_world, age=timedelta(minutes=31))
    assert _generate(live_world).exit_code == ExitCode.BLOCKED


def test_forced_generation_is_recorded_everywhere(live_world: World) -> None:
    out = _generate(live_world, force=True)
    assert out.exit_code == ExitCode.OK and out.result.forced
    [ep] = _episodes(live_world)
    assert ep["forced"] is True
    text = (live_world.tmp / "blog" / "posts" / "ep-1.md").read_text()
    doc = epfmt.parse(text)
    assert doc.front_matter["forced"] is True
    assert "**FORCED:**" in doc.body.split("## TL;DR")[0]
    with open_store(live_world.settings()) as st:
        assert st.query("SELECT forced FROM agent_runs FINAL WHERE agent = 'council'").scalar() is True


def test_open_gate_rerun_keeps_number_and_new_commit_gets_the_next(live_world: World) -> None:
    _vouch(live_world)
    first = _generate(live_world)
    assert first.exit_code == ExitCode.OK, first.result.message
    assert first.result.details["episode"] == 1 and not first.result.forced
    again = _generate(live_world)
    assert again.result.details["episode"] == 1
    assert [e["episode"] for e in _episodes(live_world)] == [1]
    with open_store(live_world.settings()) as st:
        # The same episode computed again: no new row version, raw count() included.
        assert st.query("SELECT count() FROM episodes WHERE episode = 1").scalar() == 1
    assert again.result.rows_written == 0 and again.result.details["unchanged"] is True
    # What the episode says changed (here its status): a new row version, read once by FINAL.
    status = again.result.details["status"]
    changed = _generate(live_world, overrides={"council.confidence_threshold": 1.0 if status == "ready" else 0.0})
    assert changed.result.details["status"] != status and changed.result.rows_written == 1
    assert [(e["episode"], e["status"]) for e in _episodes(live_world)] == [(1, changed.result.details["status"])]
    with open_store(live_world.settings()) as st:
        assert st.query("SELECT count() FROM episodes WHERE episode = 1").scalar() == 2
    import git

    repo = git.Repo(str(live_world.tmp / "hearts"))
    (live_world.tmp / "hearts" / "new").write_text("x")
    repo.index.add(["new"])
    live_world.hearts.append(repo.index.commit("one more").hexsha)
    _vouch(live_world)
    third = _generate(live_world)
    assert third.result.details["episode"] == 2
    assert [e["hearts_commit"] for e in _episodes(live_world)] == [live_world.hearts[-2], live_world.hearts[-1]]


def test_draft_alerts_slack_review_needed(live_world: World) -> None:
    fake = slack_and_pagerduty()
    try:
        _vouch(live_world)
        out = _generate(live_world, overrides={"council.confidence_threshold": 1.0,
                                               "slack.webhook_url": fake.url + "/slack/T/B/x"})
        assert out.result.details["status"] == "draft"
        [msg] = [r.json()["text"] for r in fake.requests if r.path.startswith("/slack/")]
        assert "review needed" in msg and "posts/ep-1.md" in msg
    finally:
        fake.close()


def test_cli_generate_trace_and_preview(live_world: World, cli: Any) -> None:
    env = {"MUSE_REPOS_BANTERHEARTS_PATH": str(live_world.tmp / "hearts"),
           "MUSE_REPOS_BANTERPACKS_PATH": str(live_world.tmp / "packs"),
           "MUSE_REPOS_BANTERBLOGS_PATH": str(live_world.tmp / "blog")}
    r = cli("council", "generate", env=env)
    assert r.exit_code == ExitCode.BLOCKED and "circuit breaker" in r.output
    r = cli("council", "generate", "--force", "--json", env=env)
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["forced"] is True and "WARNING: --force" in r.stderr
    r = cli("council", "trace", "latest", env=env)
    assert r.exit_code == 0 and "0 without a fact" in r.stdout
    r = cli("council", "trace", "1", "--json", env=env)
    doc = json.loads(r.stdout)
    assert doc["untraced"] == [] and doc["numbers"] > 20
    assert all(t["fact"]["display"] for t in doc["trace"])
    # Every fact's query re-runs as printed and reproduces its value.
    sidecar = json.loads((live_world.tmp / "blog" / "posts" / "ep-1.evidence.json").read_text())
    assert sidecar["schema"] == "muse.episode.evidence" and sidecar["version"] == 1
    for fact in sidecar["facts"][:12]:
        r = cli("council", "trace", "1", "--fact", fact["id"], "--run", "--json", env=env)
        assert r.exit_code == 0, (fact, r.output)
        assert json.loads(r.stdout)["run"]["reproduced"] is True
    assert cli("council", "trace", "1", "--fact", "E9999", env=env).exit_code == ExitCode.FAILED
    assert cli("council", "trace", "1", "--run", env=env).exit_code == ExitCode.USAGE
    # A number typed into the post by hand is untraced: trace exits 1 and names it.
    post = live_world.tmp / "blog" / "posts" / "ep-1.md"
    post.write_text(post.read_text().replace("## User experience\n", "## User experience\n\nIt cost users 84 ms.\n"))
    r = cli("council", "trace", "1", env=env)
    assert r.exit_code == 1 and "untraced: '84'" in r.stderr
    r = cli("council", "preview", "1", env=env)
    assert r.exit_code == 0 and "Episode 1:" in r.stdout and "## TL;DR" in r.stdout
    assert cli("council", "preview", "7", env=env).exit_code == ExitCode.FAILED
    assert cli("council", "preview", "seven", env=env).exit_code == ExitCode.USAGE
