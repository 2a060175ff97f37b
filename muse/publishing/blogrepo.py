"""Write access to the blog repo: commit, tag, push and revert in muse's working clone.

``repos.banterblogs.path`` is a working clone that belongs to muse (the publisher and i18n
commit through it); ``repos.banterblogs.remote`` is where pushes go. Rules every write
follows:

* One writer at a time: every command that touches the clone holds an inter-process lock
  (``<state dir>/locks/blogrepo.lock``, waiting up to ``repos.banterblogs.lock_timeout_seconds``).
  Holding it also means any git state left behind by a killed muse (``index.lock``, a
  rebase or revert in progress) is stale, so it is cleared first.
* Origin is the truth: before committing, the local branch is reset to the remote's tip
  (a new branch such as ``drafts`` starts from the remote main). Local-only commits can
  only come from an interrupted run; they are logged and left in the reflog.
* Idempotent: committing content the branch already has makes no new commit and returns
  the commit that last changed those paths, so a re-run after a crash is safe.
* A non-fast-forward push (someone else pushed first) is handled by fetch + rebase + one
  retry. Any push that finally fails resets the local branch to the remote's tip (nothing
  diverges) and puts the files being committed back in the working tree.
* Branch and tag are pushed atomically (``git push --atomic``), so a tag never lands
  without its commit. Episode tags are moved with the episode (``+refs/tags/...``).

Errors are :class:`GitError` (one line naming what failed and where) or
:class:`PushRejected` for a push the remote refused.
"""

from __future__ import annotations

import logging
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from muse.errors import ConfigError, MuseError, StoreLockTimeout
from muse.locks import FileLock

if TYPE_CHECKING:
    from muse.config import Settings

log = logging.getLogger(__name__)

# Used only when the clone and the user have no git identity configured.
DEFAULT_IDENTITY = ("muse publisher", "muse@localhost")
_NON_FAST_FORWARD = ("fetch first", "non-fast-forward", "stale info")
# The remote's ref moved between its advertisement and our update (a push raced ours).
_RACED = ("cannot lock ref", "but expected")


class GitError(MuseError):
    """A git operation on the blog repo failed (the message says which, and where)."""


class PushRejected(GitError):
    """The remote refused a push. ``retryable`` is True for a non-fast-forward."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class NotOnBranch(GitError):
    """The commit to revert is not (or no longer) on the branch: there is nothing to revert."""


@dataclass(frozen=True)
class PushResult:
    sha: str  # the commit now at the tip of the branch that holds the files
    branch: str
    created: bool  # False: the branch already had this content, nothing new was committed
    retried: bool = False  # a non-fast-forward was resolved by fetch + rebase + retry
    tag: str | None = None


@dataclass
class BlogRepo:
    """The configured working clone (resolved, validated lazily)."""

    path: Path
    remote: str
    main: str
    drafts: str
    lock_path: Path
    lock_timeout: float
    _repo: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "BlogRepo":
        path = settings.repos.banterblogs.dir
        if path is None:
            raise ConfigError(
                "repos.banterblogs.path is not set (the blog repo's working clone)",
                hint="set it in the config file or MUSE_REPOS_BANTERBLOGS_PATH",
            )
        return cls(
            path=path,
            remote=settings.repos.banterblogs.remote,
            main=settings.repos.banterblogs.branch,
            drafts=settings.repos.banterblogs.drafts_branch,
            lock_path=settings.state_dir / "locks" / "blogrepo.lock",
            lock_timeout=settings.repos.banterblogs.lock_timeout_seconds,
        )

    @property
    def repo(self) -> Any:
        if self._repo is None:
            import git

            try:
                repo = git.Repo(str(self.path))
            except git.NoSuchPathError:
                raise ConfigError(f"blog repo {self.path} does not exist") from None
            except git.InvalidGitRepositoryError:
                raise ConfigError(f"blog repo {self.path} is not a git repository") from None
            if repo.bare:
                raise ConfigError(f"blog repo {self.path} is bare; repos.banterblogs.path must be a working clone")
            if self.remote not in [r.name for r in repo.remotes]:
                raise ConfigError(
                    f"blog repo {self.path} has no remote {self.remote!r}", hint="set repos.banterblogs.remote"
                )
            self._repo = repo
        return self._repo

    @property
    def root(self) -> Path:
        return Path(self.repo.working_tree_dir).resolve()

    def rel(self, path: Path | str) -> str:
        """Repo-relative POSIX path of a file inside the clone."""
        p = Path(path)
        full = (p if p.is_absolute() else self.root / p).resolve()
        try:
            return full.relative_to(self.root).as_posix()
        except ValueError:
            raise GitError(f"{path} is outside the blog repo {self.root}") from None

    # -- plumbing -----------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {"GIT_TERMINAL_PROMPT": "0"}
        name = self.git("config", "user.name", check=False)[1]
        email = self.git("config", "user.email", check=False)[1]
        if not name:
            env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = DEFAULT_IDENTITY[0]
        if not email:
            env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = DEFAULT_IDENTITY[1]
        return env

    def git(self, *args: str, check: bool = True, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        status, out, err = self.repo.git.execute(
            ["git", *args],
            with_extended_output=True,
            with_exceptions=False,
            env={"GIT_TERMINAL_PROMPT": "0", **(env or {})},
        )
        if check and status != 0:
            detail = (err or out).strip().splitlines()
            raise GitError(f"git {args[0]} failed in {self.path}: {detail[-1] if detail else f'exit {status}'}")
        return status, out, err

    def rev(self, ref: str) -> str | None:
        status, out, _ = self.git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        return out.strip() if status == 0 and out.strip() else None

    def remote_ref(self, branch: str) -> str:
        return f"refs/remotes/{self.remote}/{branch}"

    def fetch(self) -> None:
        self.git("fetch", "--prune", "--no-tags", self.remote, f"+refs/heads/*:refs/remotes/{self.remote}/*")

    def is_ancestor(self, sha: str, ref: str) -> bool:
        return self.git("merge-base", "--is-ancestor", sha, ref, check=False)[0] == 0

    @contextmanager
    def locked(self) -> Iterator["BlogRepo"]:
        """Exclusive use of the working clone across processes; clears stale state first."""
        lock = FileLock(self.lock_path, what="the blog repo working clone")
        try:
            lock.acquire(timeout=self.lock_timeout)
        except StoreLockTimeout:
            raise GitError(
                f"the blog repo {self.path} is in use by {lock.holder()} for more than {self.lock_timeout:g}s",
                hint="raise repos.banterblogs.lock_timeout_seconds",
            ) from None
        try:
            self._clear_stale_state()
            yield self
        finally:
            lock.release()

    def _clear_stale_state(self) -> None:
        gd = Path(self.repo.git_dir)
        if (gd / "index.lock").exists():
            log.warning("removing stale %s left by an interrupted git command", gd / "index.lock")
            (gd / "index.lock").unlink(missing_ok=True)
        for marker, cmd in (
            ("rebase-merge", "rebase"),
            ("rebase-apply", "rebase"),
            ("REVERT_HEAD", "revert"),
            ("CHERRY_PICK_HEAD", "cherry-pick"),
            ("MERGE_HEAD", "merge"),
        ):
            if (gd / marker).exists():
                log.warning("aborting a %s left in progress by an interrupted run", cmd)
                self.git(cmd, "--abort", check=False)

    def start_branch(self, branch: str) -> str | None:
        """Fetch and check out ``branch`` at the remote's tip; return that sha, or None when
        the remote has no such branch yet (it then starts from the remote main)."""
        self.fetch()
        remote_sha = self.rev(self.remote_ref(branch))
        start = remote_sha or self.rev(self.remote_ref(self.main))
        if start is None:
            raise GitError(
                f"{self.remote} of blog repo {self.path} has neither {branch!r} nor {self.main!r}",
                hint="push an initial commit to the blog repo's main branch",
            )
        local = self.rev(f"refs/heads/{branch}")
        if local and local != start and not self.is_ancestor(local, start):
            log.warning(
                "blog repo: local %s has commits not on %s (%s); resetting to %s/%s (the reflog keeps them)",
                branch,
                self.remote,
                local[:8],
                self.remote,
                branch,
            )
        self.git("checkout", "--quiet", "--force", "-B", branch, start)
        return remote_sha

    def reset_to_remote(self, branch: str, start: str | None) -> None:
        """After a failed push: the local branch goes back to the remote's tip (or its start)."""
        self.git(
            "fetch", "--prune", "--no-tags", self.remote, f"+refs/heads/*:refs/remotes/{self.remote}/*", check=False
        )
        target = self.rev(self.remote_ref(branch)) or start
        if target:
            self.git("checkout", "--quiet", "--force", "-B", branch, target, check=False)

    def push(self, branch: str, tag: str | None = None) -> None:
        """Push branch (and tag) atomically; raise PushRejected with the remote's reason."""
        refspecs = [f"refs/heads/{branch}:refs/heads/{branch}"]
        if tag:
            refspecs.append(f"+refs/tags/{tag}:refs/tags/{tag}")
        status, out, err = self.git("push", "--porcelain", "--atomic", self.remote, *refspecs, check=False)
        if status != 0 and "atomic" in err and "not support" in err:
            # A remote without atomic push: branch first, so a tag never precedes its commit.
            for spec in refspecs:
                status, out, err = self.git("push", "--porcelain", self.remote, spec, check=False)
                if status != 0:
                    break
        if status == 0:
            return
        # Porcelain lines: "!<TAB>from:to<TAB>[rejected] (reason)" for each refused ref.
        reasons = [(line.split("\t") + ["", ""])[2] or line for line in out.splitlines() if line.startswith("!")]
        own = [r for r in reasons if "atomic push failed" not in r] or reasons
        raced = any(k in line for line in (out + err).splitlines() for k in _RACED)
        if own and (raced or all("[rejected]" in r and any(k in r for k in _NON_FAST_FORWARD) for r in own)):
            raise PushRejected(f"push of {branch} to {self.remote} rejected: {own[0]}", retryable=True)
        detail = own[0] if own else ((err or out).strip().splitlines() or [f"exit {status}"])[-1]
        hook_lines = [line[len("remote: ") :].strip() for line in err.splitlines() if line.startswith("remote: ")]
        if hook_lines and hook_lines[0]:
            detail += f": {hook_lines[0]}"
        raise PushRejected(f"push of {branch} to {self.remote} rejected: {detail}", retryable=False)

    def push_with_retry(self, branch: str, tag: str | None) -> bool:
        """Push; on a non-fast-forward fetch, rebase onto the new tip, retag and retry once.
        Returns True when the retry was needed."""
        try:
            self.push(branch, tag)
            return False
        except PushRejected as exc:
            if not exc.retryable:
                raise
            log.info("blog repo: %s; fetching, rebasing and retrying once", exc.message)
        self.fetch()
        status, _, err = self.git("rebase", self.remote_ref(branch), check=False, env=self._env())
        if status != 0:
            self.git("rebase", "--abort", check=False)
            raise GitError(
                f"rebasing onto {self.remote}/{branch} after a non-fast-forward push failed: "
                f"{(err.strip().splitlines() or ['conflict'])[-1]}"
            )
        if tag:
            self.git("tag", "--force", tag, "HEAD")
        self.push(branch, tag)
        return True

    def push_or_reset(self, branch: str) -> str:
        """Push the commit just made on ``branch`` (see push_with_retry) and return it; if the
        push finally fails, the local branch goes back to the remote's tip and the error is raised."""
        try:
            self.push_with_retry(branch, None)
        except MuseError:
            self.reset_to_remote(branch, None)
            raise
        return str(self.rev("HEAD"))

    def write_files(self, contents: dict[str, bytes]) -> None:
        for rel, data in contents.items():
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


def _read_contents(blog: BlogRepo, paths: Sequence[Path | str]) -> dict[str, bytes]:
    contents: dict[str, bytes] = {}
    for p in paths:
        rel = blog.rel(p)
        try:
            contents[rel] = (blog.root / rel).read_bytes()
        except FileNotFoundError:
            raise GitError(f"cannot commit {rel}: no such file in the blog repo {blog.root}") from None
    if not contents:
        raise GitError("nothing to commit: no paths given")
    return contents


def push_files(
    settings: Settings, *, paths: Sequence[Path | str], message: str, branch: str | None = None, tag: str | None = None
) -> PushResult:
    """Commit ``paths`` (as they are in the working clone now) on ``branch`` and push it.

    See the module docstring for the rules. Returns where the content now is.
    """
    blog = BlogRepo.from_settings(settings)
    branch = branch or blog.main
    contents = _read_contents(blog, paths)
    rels = list(contents)
    with blog.locked():
        remote_sha = blog.start_branch(branch)
        start = blog.rev("HEAD")
        blog.write_files(contents)
        blog.git("add", "--", *rels)
        changed = blog.git("diff", "--cached", "--name-only", "--", *rels)[1].split()
        try:
            if not changed:
                # The branch already has exactly this content: nothing new to commit.
                sha = blog.git("log", "-1", "--format=%H", "HEAD", "--", *rels)[1].strip() or str(start)
                if tag:
                    blog.git("tag", "--force", tag, sha)
                if remote_sha is None or tag:
                    # A new branch still has to exist on the remote; a tag may be missing there.
                    if not _remote_has(blog, branch, tag, sha):
                        blog.push(branch, tag)
                log.info("blog repo: %s already has %s at %s; nothing to commit", branch, ", ".join(rels), sha[:8])
                return PushResult(sha, branch, created=False, tag=tag)
            blog.git("commit", "--quiet", "-m", message, "--", *rels, env=blog._env())
            if tag:
                blog.git("tag", "--force", tag, "HEAD")
            retried = blog.push_with_retry(branch, tag)
            sha = str(blog.rev("HEAD"))
            log.info("blog repo: pushed %s to %s/%s%s", sha[:8], blog.remote, branch, f" (tag {tag})" if tag else "")
            return PushResult(sha, branch, created=True, retried=retried, tag=tag)
        except MuseError:
            blog.reset_to_remote(branch, start if remote_sha is None else None)
            if tag:
                blog.git("tag", "--delete", tag, check=False)
            blog.write_files(contents)  # the reset removed them from the working tree; put them back
            raise


def _remote_has(blog: BlogRepo, branch: str, tag: str | None, sha: str) -> bool:
    status, out, _ = blog.git(
        "ls-remote", blog.remote, f"refs/heads/{branch}", *([f"refs/tags/{tag}"] if tag else []), check=False
    )
    if status != 0:
        return False
    refs = {ref: oid for oid, ref in (line.split("\t", 1) for line in out.splitlines() if "\t" in line)}
    if f"refs/heads/{branch}" not in refs:
        return False
    return not tag or refs.get(f"refs/tags/{tag}") == sha


def commit_and_push(
    settings: Settings, *, paths: Sequence[Path | str], message: str, branch: str = "main", tag: str | None = None
) -> str:
    """Commit ``paths`` on ``branch`` (created from the remote main if missing), optionally
    tag the commit, push both, and return the sha that holds the content on the remote.

    Example: commit_and_push(settings, paths=[post, chart], message="Episode 12: ...", tag="episode-12")
    """
    return push_files(settings, paths=paths, message=message, branch=branch, tag=tag).sha


def _drop_tag(blog: BlogRepo, tag: str | None, sha: str) -> None:
    """Delete ``tag`` locally and on the remote when it still names ``sha`` (a reverted
    episode must not stay tagged as published). Idempotent."""
    if not tag:
        return
    status, out, _ = blog.git("ls-remote", blog.remote, f"refs/tags/{tag}", check=False)
    remote = out.split("\t", 1)[0].strip() if status == 0 and out.strip() else ""
    if remote and remote == sha:
        blog.git("push", "--porcelain", blog.remote, f":refs/tags/{tag}")
        log.info("blog repo: deleted tag %s (it named the reverted %s) on %s", tag, sha[:8], blog.remote)
    if blog.rev(f"refs/tags/{tag}") == sha:
        blog.git("tag", "--delete", tag, check=False)


def revert_and_push(
    settings: Settings, *, sha: str, message: str | None = None, branch: str | None = None, drop_tag: str | None = None
) -> str:
    """Revert commit ``sha`` on ``branch`` (default: the main branch), push, and return the
    revert commit; ``drop_tag`` (``episode-N``) is deleted when it names ``sha``.
    Idempotent: when the branch already has a revert of ``sha``, returns it."""
    blog = BlogRepo.from_settings(settings)
    branch = branch or blog.main
    with blog.locked():
        if blog.start_branch(branch) is None:
            raise GitError(f"{blog.remote} of blog repo {blog.path} has no branch {branch!r}")
        full = blog.rev(sha)
        if full is None or not blog.is_ancestor(full, "HEAD"):
            raise NotOnBranch(f"commit {sha[:12]} is not on {blog.remote}/{branch}; nothing to revert")
        done = blog.git("log", "--format=%H", "-F", f"--grep=This reverts commit {full}", "HEAD")[1].split()
        if done:
            log.info("blog repo: %s is already reverted by %s", full[:8], done[0][:8])
            _drop_tag(blog, drop_tag, full)
            return done[0]
        status, _, err = blog.git("revert", "--no-edit", full, check=False, env=blog._env())
        if status != 0:
            blog.git("revert", "--abort", check=False)
            blog.reset_to_remote(branch, None)
            raise GitError(
                f"git revert of {full[:8]} on {branch} failed: {(err.strip().splitlines() or ['conflict'])[-1]}"
            )
        if message:
            # Keep git's trailer: it is how a re-run recognises the revert.
            blog.git("commit", "--quiet", "--amend", "-m", f"{message}\n\nThis reverts commit {full}.", env=blog._env())
        head = blog.push_or_reset(branch)
        log.info("blog repo: pushed revert %s of %s to %s/%s", head[:8], full[:8], blog.remote, branch)
        _drop_tag(blog, drop_tag, full)
        return head


def remove_and_push(settings: Settings, *, rels: Sequence[str], message: str, branch: str | None = None) -> str | None:
    """Delete ``rels`` (paths relative to the clone) on ``branch`` (default: the main
    branch) in one commit and push it. Returns the commit, or None when none of them is on
    the branch any more (idempotent: a re-run after a crash makes no second commit).

    Example: remove_and_push(settings, rels=["posts_i18n/de/ep-12.md"], message="Withdraw ...")
    """
    blog = BlogRepo.from_settings(settings)
    branch = branch or blog.main
    with blog.locked():
        if blog.start_branch(branch) is None:
            raise GitError(f"{blog.remote} of blog repo {blog.path} has no branch {branch!r}")
        tracked = blog.git("ls-files", "--", *rels)[1].split("\n") if rels else []
        present = [r for r in tracked if r]
        if not present:
            log.info("blog repo: %s has none of %s; nothing to remove", branch, ", ".join(rels))
            return None
        blog.git("rm", "--quiet", "--", *present)
        blog.git("commit", "--quiet", "-m", message, env=blog._env())
        head = blog.push_or_reset(branch)
        log.info("blog repo: pushed %s removing %s to %s/%s", head[:8], ", ".join(present), blog.remote, branch)
        return head


def read_file_at(settings: Settings, ref: str, rel: str) -> bytes | None:
    """The content of ``rel`` at ``ref`` (e.g. ``origin/drafts``), or None."""
    blog = BlogRepo.from_settings(settings)
    status, out, _ = blog.repo.git.execute(
        ["git", "show", f"{ref}:{rel}"],
        with_extended_output=True,
        with_exceptions=False,
        stdout_as_string=False,
        strip_newline_in_stdout=False,
    )
    return out if status == 0 else None


def restore_missing(settings: Settings, *, paths: Sequence[str], sources: Sequence[str]) -> list[str]:
    """Write files missing from the working tree from the first source that has them.

    A source is a remote branch name (``drafts``: a draft awaiting approval after the clone
    moved to main), a ref (``refs/tags/episode-12``) or a commit sha (a reverted episode).
    Returns the paths restored.
    """
    blog = BlogRepo.from_settings(settings)
    restored: list[str] = []
    with blog.locked():
        blog.fetch()
        for rel in paths:
            if (blog.root / rel).exists():
                continue
            for source in sources:
                if not source:
                    continue
                ref = (
                    source
                    if source.startswith("refs/") or re.fullmatch(r"[0-9a-f]{7,40}", source)
                    else blog.remote_ref(source)
                )
                data = read_file_at(settings, ref, rel)
                if data is not None:
                    blog.write_files({rel: data})
                    restored.append(rel)
                    log.info("blog repo: restored %s from %s", rel, source)
                    break
    return restored


def remote_tip(settings: Settings, branch: str | None = None) -> str | None:
    """The commit ``branch`` (default: the main branch) has on the remote now."""
    blog = BlogRepo.from_settings(settings)
    with blog.locked():
        blog.fetch()
        return blog.rev(blog.remote_ref(branch or blog.main))


def descends(settings: Settings, ancestor: str, shas: Sequence[str]) -> dict[str, bool | None]:
    """For each commit of ``shas``: does it contain ``ancestor`` (descend from it, or be it)?
    None when the blog clone does not know one of the two commits (after a fetch)."""
    blog = BlogRepo.from_settings(settings)
    out: dict[str, bool | None] = {}
    with blog.locked():
        blog.fetch()
        base = blog.rev(ancestor) if ancestor else None
        for sha in dict.fromkeys(shas):
            full = blog.rev(sha) if sha and re.fullmatch(r"[0-9a-f]{7,40}", sha) else None
            out[sha] = None if base is None or full is None else blog.is_ancestor(base, full)
    return out


def create_local_blog(root: Path, *, name: str = "banterblogs", posts_dir: str = "posts") -> Path:
    """A bare origin and a working clone with one commit on main, for the demo and tests.

    Returns the working clone (set it as ``repos.banterblogs.path``). Idempotent.
    """
    import git

    root = Path(root)
    origin = root / f"{name}.git"
    clone = root / name
    if (clone / ".git").exists():
        return clone
    root.mkdir(parents=True, exist_ok=True)
    git.Repo.init(str(origin), bare=True, initial_branch="main")
    repo = git.Repo.clone_from(str(origin), str(clone))
    (clone / posts_dir).mkdir(parents=True, exist_ok=True)
    (clone / posts_dir / ".gitkeep").write_text("")
    (clone / "README.md").write_text(f"# {name}\n\nEpisodes are published here by muse.\n")
    env = {
        "GIT_AUTHOR_NAME": DEFAULT_IDENTITY[0],
        "GIT_AUTHOR_EMAIL": DEFAULT_IDENTITY[1],
        "GIT_COMMITTER_NAME": DEFAULT_IDENTITY[0],
        "GIT_COMMITTER_EMAIL": DEFAULT_IDENTITY[1],
    }
    repo.git.execute(["git", "checkout", "-q", "-B", "main"])
    repo.git.execute(["git", "add", "README.md", f"{posts_dir}/.gitkeep"])
    repo.git.execute(["git", "commit", "-q", "-m", "Start the blog"], env={**os.environ, **env})
    repo.git.execute(["git", "push", "-q", "-u", "origin", "main"])
    return clone
