"""Episode files and episodes rows for the publisher's tests, valid or broken on purpose.

Builds on the shared format in ``muse/episode.py``: the files are what the council writes
(front-matter with every required field, the five sections then the trailing ones, the
chart ``ep-{n}.svg`` beside the post, referenced by a relative image link).
"""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muse.episode import REQUIRED_SECTIONS, TRAILING_SECTIONS, chart_name, post_name, render

CHART_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="320" height="120" viewBox="0 0 320 120">'
             '<polyline points="0,100 80,60 160,70 240,30 320,20" fill="none" stroke="#c33"/></svg>\n')
HEARTS = "a1" * 20
PACKS = "b2" * 20


def front_matter(n: int, *, title: str | None = None, status: str = "ready", confidence: float = 0.82,
                 **extra: Any) -> dict[str, Any]:
    fm: dict[str, Any] = {
        "title": title or f"Week {n}: quantised models got faster",
        "episode": n, "date": "2026-05-04", "lang": "en", "status": status, "confidence": confidence,
        "confidence_components": {"completeness": 0.93, "correlation_strength": confidence, "recency": 1.0},
        "hearts_commit": HEARTS, "packs_commit": PACKS, "run_id": str(uuid.UUID(int=n)), "forced": False,
    }
    fm.update(extra)
    return fm


def body(n: int, *, sections: tuple[str, ...] = REQUIRED_SECTIONS + TRAILING_SECTIONS, chart: bool = True,
         extra: str = "") -> str:
    text = {
        "TL;DR": "p95 latency of llama-3-8b q4 fell 18% (412 ms to 338 ms) across 1,204 runs.",
        "What shipped": "- `3f9a1c2` switch the q4 kernels\n- `77be01d` batch the tokenizer",
        "Model performance": (f"![p95 latency per day](./{chart_name(n)})\n\n"
                              "| model | p95 ms |\n|---|---|\n| llama-3-8b q4 | 338 |" if chart else "No chart."),
        "User experience": "Sessions with an error fell from 2.1% to 1.4% (see [the method](#evidence)).",
        "Why it matters": "Faster answers kept more sessions going: abandonment fell 0.6 points.",
        "Data quality": "Completeness 93%; two hours of telemetry were missing on Tuesday.",
        "Evidence": "```sql\nSELECT quantile(0.95)(latency_ms) FROM llm_events WHERE model = {m:String}\n```\n"
                    "Rows: bench_runs 1,204; session_stats 168.",
    }
    parts = [f"## {s}\n\n{text.get(s, 'Text.')}\n" for s in sections]
    return "\n".join(parts) + extra


def episode_text(n: int, **kw: Any) -> str:
    body_kw = {k: kw.pop(k) for k in ("sections", "chart", "extra") if k in kw}
    return render(front_matter(n, **kw), body(n, **body_kw))


def write_episode(clone: Path, n: int, *, posts_dir: str = "posts", text: str | None = None, chart: bool = True,
                  **kw: Any) -> tuple[Path, Path]:
    post = clone / posts_dir / post_name(n)
    post.parent.mkdir(parents=True, exist_ok=True)
    post.write_text(text if text is not None else episode_text(n, **kw), encoding="utf-8")
    svg = clone / posts_dir / chart_name(n)
    if chart:
        svg.write_text(CHART_SVG, encoding="utf-8")
    return post, svg


def episode_row(n: int, *, status: str = "ready", confidence: float = 0.82, title: str | None = None,
                path: str | None = None, approved_by: str = "", ts: str = "2026-05-04 06:00:00.000") -> dict[str, Any]:
    return {
        "ts": ts, "episode": n, "lang": "en", "translation_of": None, "run_id": str(uuid.UUID(int=n)),
        "hearts_commit": HEARTS, "packs_commit": PACKS, "title": title or f"Week {n}: quantised models got faster",
        "path": path if path is not None else f"posts/{post_name(n)}", "confidence_score": confidence,
        "completeness": 0.93, "correlation_strength": confidence, "recency": 1.0, "tokens_total": 48211,
        "cost_total": 1.234567, "status": status, "forced": False, "approved_by": approved_by,
        "published_commit": "", "schema_version": 1,
    }


def insert_episode(store: Any, n: int, **kw: Any) -> dict[str, Any]:
    row = episode_row(n, **kw)
    store.insert("episodes", [row])
    return row


def episode_status(store: Any, n: int) -> dict[str, Any]:
    return store.query("SELECT status, approved_by, published_commit FROM episodes FINAL "
                       "WHERE episode = {n:UInt32} AND lang = 'en'", {"n": n}).first()


@dataclass
class Blog:
    """A real bare origin and muse's working clone of it."""

    clone: Path
    origin: Path

    def git(self, *args: str, repo: Path | None = None) -> str:
        return subprocess.run(["git", "-C", str(repo or self.origin), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    def subjects(self, branch: str = "main") -> list[str]:
        return self.git("log", "--format=%s", branch).splitlines()

    def tip(self, branch: str = "main") -> str:
        return self.git("rev-parse", branch)

    def has_branch(self, branch: str) -> bool:
        return bool(self.git("branch", "--list", branch))

    def show(self, ref: str, path: str) -> str | None:
        res = subprocess.run(["git", "-C", str(self.origin), "show", f"{ref}:{path}"], capture_output=True, text=True)
        return res.stdout if res.returncode == 0 else None

    def tag(self, name: str) -> str | None:
        res = subprocess.run(["git", "-C", str(self.origin), "rev-parse", "--verify", "--quiet",
                              f"refs/tags/{name}^{{commit}}"], capture_output=True, text=True)
        return res.stdout.strip() or None

    def other_clone(self, where: Path) -> Path:
        """A second clone (another machine) that can push to the same origin."""
        subprocess.run(["git", "clone", "-q", str(self.origin), str(where)], check=True, capture_output=True)
        for k, v in (("user.name", "other"), ("user.email", "other@example.org")):
            subprocess.run(["git", "-C", str(where), "config", k, v], check=True)
        return where


def make_blog(root: Path) -> Blog:
    from muse.publishing.blogrepo import create_local_blog

    clone = create_local_blog(root / "blog")
    return Blog(clone=clone, origin=root / "blog" / "banterblogs.git")
