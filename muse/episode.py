"""The episode file format, shared by the council (writes), publisher (validates) and i18n.

An episode is ``<posts_dir>/ep-{n}.md`` in the blog repo: YAML front-matter between
``---`` lines, then markdown whose level-2 headings are the sections below, in order.
The chart sits beside it as ``ep-{n}.svg`` and is referenced by a relative image link.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The five sections every episode has, in this order (defect 9 of the source design:
# it never named them). The council's template renders exactly these; the publisher's
# validator checks exactly these.
REQUIRED_SECTIONS: tuple[str, ...] = ("TL;DR", "What shipped", "Model performance", "User experience", "Why it matters")
# Always present after the required five.
TRAILING_SECTIONS: tuple[str, ...] = ("Data quality", "Evidence")

REQUIRED_FRONT_MATTER: tuple[str, ...] = (
    "title",
    "episode",
    "date",
    "lang",
    "status",
    "confidence",
    "confidence_components",
    "hearts_commit",
    "packs_commit",
    "run_id",
    "forced",
)

# Episode status values (one row version per change in the episodes table):
#   draft        confidence below the threshold; goes to the drafts branch; needs --approve
#   ready        confidence at or above the threshold; the publisher may put it on main
#   published    on main and deployed (or deploy skipped without Vercel, said so)
#   failed       invalid, or its deploy failed and was rolled back
#   rolled_back  reverted on purpose with `muse publish rollback`
STATUSES: tuple[str, ...] = ("draft", "ready", "published", "failed", "rolled_back")


@dataclass
class EpisodeDoc:
    front_matter: dict[str, Any]
    body: str


class EpisodeFormatError(ValueError):
    pass


def post_name(episode: int) -> str:
    return f"ep-{episode}.md"


def chart_name(episode: int) -> str:
    return f"ep-{episode}.svg"


def evidence_name(episode: int) -> str:
    """The evidence sidecar beside the post (schema in muse/analysis/evidence.py, docs/council.md)."""
    return f"ep-{episode}.evidence.json"


def parse(text: str) -> EpisodeDoc:
    """Split front-matter and body; raise EpisodeFormatError with a one-line reason."""
    import yaml

    from muse.markdown import split_front_matter

    split = split_front_matter(text)
    if split is None:
        raise EpisodeFormatError("no YAML front-matter (the file must start with a '---' line)")
    yaml_text, _, body_start = split
    try:
        fm = yaml.safe_load(yaml_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark else ""
        raise EpisodeFormatError(f"front-matter is not valid YAML{where}") from None
    if not isinstance(fm, dict):
        raise EpisodeFormatError("front-matter must be a mapping")
    return EpisodeDoc(fm, text[body_start:])


def render(front_matter: dict[str, Any], body: str) -> str:
    """Front-matter through a YAML library (never string formatting), then the body."""
    import yaml

    # No line wrapping: a wrapped value could start a line with '---' and end the block early.
    fm = yaml.safe_dump(front_matter, sort_keys=False, allow_unicode=True, default_flow_style=False, width=float("inf"))
    return f"---\n{fm}---\n\n{body.lstrip()}"


def section_titles(body: str) -> list[str]:
    """Level-2 headings in order, as the blog's markdown parser sees them (muse.markdown)."""
    from muse.markdown import headings

    return headings(body, 2)


# The episodes columns that say what an episode is (not which run wrote it, nor when): what
# the council compares before writing a new row version, and what a re-render carries over.
CONTENT_COLUMNS: tuple[str, ...] = (
    "hearts_commit",
    "packs_commit",
    "title",
    "path",
    "confidence_score",
    "completeness",
    "correlation_strength",
    "recency",
    "tokens_total",
    "cost_total",
    "status",
    "forced",
    "approved_by",
)
