"""What the publisher's safety costs, against the bare minimum doing the same work.

1. ``blogrepo.push_files`` (lock, fetch, reset to origin, add, commit, tag, atomic push with
   tag) against plain ``git add && git commit && git push`` of the same two files into an
   identical repo (target ratio <= 4: the fetch, reset and tag are what make a push safe to
   retry and never diverge, and they cost git processes).
2. ``validate_file`` on an episode against markdown-it parsing the same text alone
   (target ratio <= 3: the validator is one parse plus line scans).

Usage: python benchmarks/publish_git.py [--repeats 15] [--lines 2000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from benchmarks.common import interleaved, report  # noqa: E402


def main(repeats: int = 15, lines: int = 2000) -> list[dict]:
    from episode_fixtures import episode_text, write_episode
    from muse.publishing import blogrepo
    from muse.config import load_settings
    from muse.publishing.validate import validate_file

    tmp = Path(tempfile.mkdtemp(prefix="muse-bench-"))
    ours = blogrepo.create_local_blog(tmp / "ours")
    plain = blogrepo.create_local_blog(tmp / "plain")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp / "data"), "MUSE_REPOS_BANTERBLOGS_PATH": str(ours)}
    settings = load_settings(env=env)
    git_env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
               "GIT_COMMITTER_EMAIL": "b@b"}
    counter = iter(range(1, 10_000))

    def muse_push() -> float:
        n = next(counter)
        post, chart = write_episode(ours, n)
        t0 = time.perf_counter()
        blogrepo.push_files(settings, paths=[post, chart], message=f"Episode {n}", tag=f"episode-{n}")
        return time.perf_counter() - t0

    def plain_push() -> float:
        n = next(counter)
        post, chart = write_episode(plain, n)
        t0 = time.perf_counter()
        for cmd in (["git", "add", str(post), str(chart)], ["git", "commit", "-qm", f"Episode {n}"],
                    ["git", "push", "-q", "origin", "main"]):
            subprocess.run(cmd, cwd=plain, check=True, env=git_env, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t0

    muse_push(), plain_push()  # warm up
    results = [report("push_files vs git add+commit+push", *interleaved(muse_push, plain_push, repeats), 4.0)]

    extra = "\n".join(f"Line {i} with a [link](#evidence) and `code {i}`." for i in range(lines))
    post, _ = write_episode(tmp / "v", 1, text=episode_text(1, extra=extra))
    text = post.read_text()
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark")

    def validate() -> float:
        t0 = time.perf_counter()
        assert validate_file(post, repo_root=tmp / "v").ok
        return time.perf_counter() - t0

    def parse_only() -> float:
        t0 = time.perf_counter()
        md.parse(text)
        return time.perf_counter() - t0

    validate(), parse_only()
    results.append(report(f"validate_file vs markdown-it parse ({len(text.splitlines())} lines)",
                          *interleaved(validate, parse_only, repeats), 3.0))
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--lines", type=int, default=2000)
    args = ap.parse_args()
    sys.exit(0 if all(r["pass"] for r in main(args.repeats, args.lines)) else 1)
