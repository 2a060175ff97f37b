"""The one markdown parser configuration every muse scan uses.

CommonMark plus tables and strikethrough, with raw HTML *recognised* (``html: True``) so that
the validator and the translation checks can find it and refuse it; nothing is ever
rendered from it. The episode validator, the HTML check and the translation layer all parse
with this configuration, so they agree on what a heading, a fence or an inline code span is.

The scans every caller shares live here too: the front-matter split, the headings of a level,
the lines of code blocks, and the body with its code blanked out. None of them reads markdown
by hand: a closing ``##``, a setext heading, an indented code block, a four-backtick or a
``~~~`` fence mean what CommonMark says they mean.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any


def new_parser() -> Any:
    """A fresh parser in the shared configuration (for callers that add their own rules)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


@lru_cache(maxsize=1)
def parser() -> Any:
    """The shared parser, built once per process."""
    return new_parser()


# -- front matter ------------------------------------------------------------------------------
# YAML front matter: the document starts with a '---' line, the YAML follows, a '---' line ends it.
_FRONT = re.compile(r"\A---\n(.*?)\n---\n?", re.DOTALL)


def split_front_matter(text: str) -> tuple[str, int, int] | None:
    """(front-matter YAML text, its start offset, the body's start offset), or None when the
    text does not open with a ``---`` block. Only the split: what the YAML says is the
    caller's to parse (the episode format, the translation layer)."""
    m = _FRONT.match(text)
    if not m:
        return None
    return m.group(1), m.start(1), m.end()


# -- scans -----------------------------------------------------------------------------------------
def headings(body: str, level: int = 2) -> list[str]:
    """The text of every heading of ``level`` in order, as the parser sees them: ATX
    (``## Title``, closing ``##`` dropped) and setext (``Title`` over ``---``); nothing
    inside a fence or an indented code block."""
    tokens = parser().parse(body)
    tag = f"h{level}"
    return [
        tokens[i + 1].content.strip()
        for i, tok in enumerate(tokens)
        if tok.type == "heading_open" and tok.tag == tag and i + 1 < len(tokens)
    ]


def code_lines(body: str) -> set[int]:
    """0-based indexes of the lines of fenced (any fence length, backticks or tildes) and
    indented code blocks, fence lines included."""
    out: set[int] = set()
    for tok in parser().parse(body):
        if tok.type in ("fence", "code_block") and tok.map:
            out.update(range(tok.map[0], tok.map[1]))
    return out


def without_code(body: str) -> str:
    """``body`` with every code block and inline code span blanked to spaces, so a line-by-line
    scan (template markers) sees only prose; line numbers and column positions are kept."""
    lines = body.split("\n")
    blocks = code_lines(body)
    chars = list(body)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    for i in blocks:
        if i < len(lines):
            for k in range(starts[i], starts[i] + len(lines[i])):
                chars[k] = " "
    for a, b in _code_spans(body):
        for k in range(a, b):
            if chars[k] != "\n":
                chars[k] = " "
    return "".join(chars)


def _code_spans(body: str) -> list[tuple[int, int]]:
    """(start, end) offsets in ``body`` of each inline code span the parser found, backticks
    included. The parser gives the spans in source order but no offsets: each is found as
    the next run of exactly its number of backticks after the previous one, within the
    lines of its paragraph, heading or table cell."""
    lines = body.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    spans: list[tuple[int, int]] = []
    for tok in parser().parse(body):
        if tok.type != "inline" or not tok.map or not tok.children:
            continue
        pos, end = starts[tok.map[0]], starts[min(tok.map[1], len(lines))]
        for child in tok.children:
            if child.type != "code_inline":
                continue
            opener = _backtick_run(body, child.markup, pos, end)
            if opener is None:
                break
            closer = _backtick_run(body, child.markup, opener + len(child.markup), end)
            if closer is None:
                break
            spans.append((opener, closer + len(child.markup)))
            pos = closer + len(child.markup)
    return spans


def _backtick_run(text: str, run: str, pos: int, end: int) -> int | None:
    """Offset of the next run of exactly ``run`` (backticks) in text[pos:end], not escaped."""
    i = text.find(run, pos, end)
    while i >= 0:
        j = i + len(run)
        before = text[i - 1] if i > 0 else ""
        if before != "`" and (j >= len(text) or text[j] != "`") and before != "\\":
            return i
        # skip the whole run this occurrence is part of
        while j < end and text[j] == "`":
            j += 1
        i = text.find(run, j, end)
    return None
