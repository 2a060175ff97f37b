"""Read-only git helpers shared by agents (GitPython, imported lazily)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from muse.errors import ConfigError, InputError


@dataclass(frozen=True)
class Commit:
    sha: str
    time: datetime  # timezone-aware, UTC
    subject: str
    author: str


def _repo(path: Path):  # -> git.Repo (gitpython is imported lazily)
    import git

    try:
        return git.Repo(str(path))
    except git.NoSuchPathError:
        raise ConfigError(f"git repo {path} does not exist") from None
    except git.InvalidGitRepositoryError:
        raise ConfigError(f"{path} is not a git repository") from None


def _commit(c) -> Commit:  # c: a git.Commit (gitpython is imported lazily)
    return Commit(
        c.hexsha,
        datetime.fromtimestamp(c.committed_date, timezone.utc),
        c.summary if isinstance(c.summary, str) else c.summary.decode("utf-8", "replace"),
        c.author.name or "",
    )


def latest_commit(path: Path, branch: str) -> Commit:
    """The tip of ``branch`` (works on a bare mirror too)."""
    import git

    repo = _repo(path)
    try:
        return _commit(repo.commit(branch))
    except (git.BadName, ValueError):
        raise InputError(f"git repo {path} has no branch {branch!r}") from None


def commits_between(path: Path, branch: str, since: datetime, until: datetime) -> list[Commit]:
    """Commits on ``branch`` with commit time in [since, until), newest first."""
    import git

    repo = _repo(path)
    try:
        commits = repo.iter_commits(branch, since=since.isoformat(), until=until.isoformat())
        return [c for c in map(_commit, commits) if since <= c.time < until]
    except (git.BadName, ValueError, git.GitCommandError):
        raise InputError(f"git repo {path} has no branch {branch!r}") from None


def find_commit(path: Path, sha: str) -> Commit | None:
    """The commit ``sha`` (full or abbreviated) names in the repo, or None if it has none."""
    import git

    repo = _repo(path)
    try:
        return _commit(repo.commit(sha))
    except (git.BadName, ValueError, git.GitCommandError):
        return None
