"""The one markdown parser configuration every muse scan uses.

CommonMark plus tables and strikethrough, with raw HTML *recognised* (``html: True``) so that
the validator and the translation checks can find it and refuse it; nothing is ever
rendered from it. The episode validator, the HTML check and the translation layer all parse
with this configuration, so they agree on what a heading, a fence or an inline code span is.
"""

from __future__ import annotations

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
