"""Git writes to the blog repo against a real bare origin: commit, tag, push, rebase, revert."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from episode_fixtures import Blog, make_blog, write_episode
from muse.publishing import blogrepo


@pytest.fixture
def blog(tmp_path: Path) -> Blog:
    return make_blog(tmp_path)


@pytest.fixture
def bsettings(blog: Blog, monkeypatch: pytest.MonkeyPatch) -> Any:
    from muse.config import load_settings

    monkeypatch.setenv("MUSE_REPOS_BANTERBLOGS_PATH", str(blog.clone))
    monkeypatch.setenv("MUSE_REPOS_BANTERBLOGS_LOCK_TIMEOUT_SECONDS", "2")
    return load_settings()


def _hook(repo_git_dir: Path, name: str, script: str) -> None:
    path = repo_git_dir / "hooks" / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_commit_tag_push_then_the_same_content_is_not_committed_twice(blog: Blog, bsettings: Any) -> None:
    post, chart = write_episode(blog.clone, 12)
    sha = blogrepo.commit_and_push(bsettings, paths=[post, chart], message="Episode 12: faster", tag="episode-12")
    assert blog.tip("main") == sha
    assert blog.tag("episode-12") == sha
    assert blog.subjects() == ["Episode 12: faster", "Start the blog"]
    assert blog.show("main", "posts/ep-12.svg") == chart.read_text()
    again = blogrepo.push_files(bsettings, paths=[post, chart], message="Episode 12: faster", tag="episode-12")
    assert (again.sha, again.created) == (sha, False)
    assert blog.subjects() == ["Episode 12: faster", "Start the blog"]


def test_drafts_branch_is_created_from_main_and_main_is_untouched(blog: Blog, bsettings: Any) -> None:
    post, chart = write_episode(blog.clone, 3)
    res = blogrepo.push_files(bsettings, paths=[post, chart], message="Draft episode 3: x", branch="drafts")
    assert res.created and blog.has_branch("drafts")
    assert blog.subjects("drafts") == ["Draft episode 3: x", "Start the blog"]
    assert blog.show("main", "posts/ep-3.md") is None


@pytest.mark.parametrize("hook", ["post-checkout", "pre-push"])
def test_non_fast_forward_is_rebased_and_retried_once(blog: Blog, bsettings: Any, tmp_path: Path, hook: str) -> None:
    """Another machine pushes to main after our fetch and before our push lands. Real
    races, made deterministic by a hook in our clone that fires once: post-checkout gives
    git's classic "[rejected] (fetch first)", pre-push lands it during our push (the
    remote's ref moved under the update)."""
    other = blog.other_clone(tmp_path / "other")
    _hook(blog.clone / ".git", hook,
          f"[ -f {tmp_path}/raced ] && exit 0\ntouch {tmp_path}/raced\n"
          f"cd {other} && echo hi > about.md && git add about.md && git commit -qm 'About page' && git push -q origin main\n")
    post, chart = write_episode(blog.clone, 5)
    res = blogrepo.push_files(bsettings, paths=[post, chart], message="Episode 5: x", tag="episode-5")
    assert res.retried and res.created
    assert blog.subjects() == ["Episode 5: x", "About page", "Start the blog"]
    assert blog.tag("episode-5") == res.sha == blog.tip("main")


def test_a_second_rejection_after_the_retry_fails_cleanly(blog: Blog, bsettings: Any, tmp_path: Path) -> None:
    other = blog.other_clone(tmp_path / "other")
    # Races our first push (post-checkout, once) and our retry (post-rewrite, after the rebase).
    _hook(blog.clone / ".git", "post-checkout",
          f"[ -f {tmp_path}/raced ] && exit 0\ntouch {tmp_path}/raced\n"
          f"cd {other} && date +%s%N >> log.md && git add log.md && git commit -qm 'Busy' && git push -q origin main\n")
    _hook(blog.clone / ".git", "post-rewrite",
          f"cd {other} && date +%s%N >> log.md && git add log.md && git commit -qm 'Busier' && git push -q origin main\n")
    post, chart = write_episode(blog.clone, 8)
    with pytest.raises(blogrepo.PushRejected, match="fetch first"):
        blogrepo.push_files(bsettings, paths=[post, chart], message="Episode 8: x", tag="episode-8")
    local = subprocess.run(["git", "-C", str(blog.clone), "rev-parse", "main"], capture_output=True, text=True)
    assert local.stdout.strip() == blog.tip("main")
    assert "Episode 8: x" not in blog.subjects() and post.exists()


def test_a_hard_rejection_leaves_nothing_diverged_and_keeps_the_files(blog: Blog, bsettings: Any) -> None:
    _hook(blog.origin, "pre-receive", "echo 'main is frozen for the release' >&2\nexit 1\n")
    before = blog.tip("main")
    post, chart = write_episode(blog.clone, 6)
    with pytest.raises(blogrepo.PushRejected) as exc:
        blogrepo.commit_and_push(bsettings, paths=[post, chart], message="Episode 6: x", tag="episode-6")
    assert not exc.value.retryable
    assert "pre-receive hook declined" in exc.value.message and "main is frozen" in exc.value.message
    assert blog.tip("main") == before and blog.tag("episode-6") is None
    local = subprocess.run(["git", "-C", str(blog.clone), "rev-parse", "main"], capture_output=True, text=True)
    assert local.stdout.strip() == before  # local main is not ahead of origin
    tags = subprocess.run(["git", "-C", str(blog.clone), "tag"], capture_output=True, text=True).stdout
    assert "episode-6" not in tags
    assert post.exists() and chart.exists()  # the work is not lost


def test_revert_is_pushed_once_even_when_asked_twice(blog: Blog, bsettings: Any) -> None:
    post, chart = write_episode(blog.clone, 2)
    sha = blogrepo.commit_and_push(bsettings, paths=[post, chart], message="Episode 2: x", tag="episode-2")
    r1 = blogrepo.revert_and_push(bsettings, sha=sha, message="Revert episode 2: deploy error")
    r2 = blogrepo.revert_and_push(bsettings, sha=sha)
    assert r1 == r2 == blog.tip("main")
    assert blog.subjects()[:2] == ["Revert episode 2: deploy error", "Episode 2: x"]
    assert blog.show("main", "posts/ep-2.md") is None
    assert blog.tag("episode-2") == sha  # the tag still marks the episode's commit


def test_remove_is_one_commit_and_a_second_call_changes_nothing(blog: Blog, bsettings: Any) -> None:
    post, chart = write_episode(blog.clone, 4)
    blogrepo.commit_and_push(bsettings, paths=[post, chart], message="Episode 4: x")
    sha = blogrepo.remove_and_push(bsettings, rels=["posts/ep-4.md", "posts/ep-4.svg", "posts/ep-99.md"],
                                   message="Withdraw episode 4")
    assert sha == blog.tip("main") and blog.subjects()[:2] == ["Withdraw episode 4", "Episode 4: x"]
    assert blog.show("main", "posts/ep-4.md") is None and blog.show("main", "posts/ep-4.svg") is None
    assert blogrepo.remove_and_push(bsettings, rels=["posts/ep-4.md"], message="again") is None
    assert blog.tip("main") == sha


def test_revert_of_a_commit_not_on_main_is_refused(blog: Blog, bsettings: Any) -> None:
    with pytest.raises(blogrepo.NotOnBranch, match="is not on origin/main"):
        blogrepo.revert_and_push(bsettings, sha="0" * 40)


def test_stale_git_state_from_a_killed_run_is_cleared(blog: Blog, bsettings: Any) -> None:
    (blog.clone / ".git" / "index.lock").write_text("")
    post, chart = write_episode(blog.clone, 4)
    assert blogrepo.commit_and_push(bsettings, paths=[post, chart], message="Episode 4: x") == blog.tip("main")


def test_restore_missing_files_from_the_drafts_branch(blog: Blog, bsettings: Any) -> None:
    post, chart = write_episode(blog.clone, 9)
    blogrepo.push_files(bsettings, paths=[post, chart], message="Draft episode 9: x", branch="drafts")
    subprocess.run(["git", "-C", str(blog.clone), "checkout", "-q", "main"], check=True)
    assert not post.exists()
    restored = blogrepo.restore_missing(bsettings, paths=["posts/ep-9.md", "posts/ep-9.svg"], sources=["drafts"])
    assert restored == ["posts/ep-9.md", "posts/ep-9.svg"] and post.exists()


def test_misconfigured_clone_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from muse.config import load_settings
    from muse.errors import ConfigError

    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    monkeypatch.setenv("MUSE_REPOS_BANTERBLOGS_PATH", str(bare))
    with pytest.raises(ConfigError, match="is bare"):
        blogrepo.BlogRepo.from_settings(load_settings()).repo
    monkeypatch.setenv("MUSE_REPOS_BANTERBLOGS_PATH", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="does not exist"):
        blogrepo.BlogRepo.from_settings(load_settings()).repo
