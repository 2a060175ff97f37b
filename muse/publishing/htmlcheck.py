"""Markup in episode markdown as the blog renders it: raw HTML tags, and tag-like text.

The blog renders posts with CommonMark + tables (raw HTML passes through), the
configuration of :func:`muse.markdown.parser`, the one parser every muse scan uses.
Parsed that way, every raw HTML tag is an ``html_inline`` or ``html_block`` token; this
module lists them per *unit* (each inline run: paragraph, heading, table cell row, list
item text; each HTML block), with the source line and the tag and its attribute names
(``<img onerror src>``). It also lists tag-like *text* (``&lt;img onerror&gt;`` renders as
the visible text ``<img onerror>``): harmless in the page, but a provider that returns it
where the source had none has injected it, and the next tool to unescape it makes it live.

The publisher's validator refuses any raw HTML in an English episode (muse writes none);
``i18n verify`` refuses a translation whose units carry markup their source unit did not.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Iterable

from muse.markdown import parser

_TAG_TEXT = re.compile(r"<\s*/?\s*[A-Za-z!?][^<>]*>?")


@dataclass(frozen=True)
class Markup:
    unit: int  # index of the inline run or HTML block, in document order
    line: int  # 0-based line in the parsed text
    tag: str  # "<img onerror src>", "</script>", "<!-- -->"
    raw: bool  # True: a live tag in the rendered HTML; False: tag-like visible text


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = " ".join(sorted({name for name, _ in attrs}))
        self.tags.append(f"<{tag}{' ' + names if names else ''}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self.tags.append(f"</{tag}>")

    def handle_comment(self, data: str) -> None:
        self.tags.append("<!-- -->")

    def handle_decl(self, decl: str) -> None:
        self.tags.append(f"<!{decl.split(' ', 1)[0]}>")

    def handle_pi(self, data: str) -> None:
        self.tags.append("<?>")

    def unknown_decl(self, data: str) -> None:
        self.tags.append("<![>")


def tags_in(html: str) -> list[str]:
    """The tags of an HTML fragment, as the browser's tokenizer would see them."""
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


_TEXT_TAG = re.compile(r"<\s*(/?)\s*([A-Za-z!?][\w:-]*)(.*)", re.S)
_TEXT_ATTR = re.compile(r"([A-Za-z_:@][\w:.@-]*)\s*(?:=|(?=\s|/|>|$))")


def _text_tag(text: str) -> str:
    """'<img src=x onerror=alert(1)>' shown as text -> '<img onerror src>' (a cut-off one too)."""
    m = _TEXT_TAG.match(text)
    if not m:
        return text[:40]
    slash, name, rest = m.groups()
    if slash:
        return f"</{name.lower()}>"
    names = " ".join(
        sorted({a.lower() for a in _TEXT_ATTR.findall(re.sub(r"=\s*(?:\"[^\"]*\"?|'[^']*'?|[^\s>]*)", "=", rest))})
    )
    return f"<{name.lower()}{' ' + names if names else ''}>"


def markup(body: str) -> list[Markup]:
    """Every raw tag and every tag-like text of a markdown body, by unit."""
    out: list[Markup] = []
    unit = -1
    for tok in parser().parse(body):
        line = tok.map[0] if tok.map else 0
        if tok.type == "html_block":
            unit += 1
            out += [Markup(unit, line, t, True) for t in tags_in(tok.content)]
        elif tok.type == "inline":
            unit += 1
            for child in tok.children or []:
                if child.type == "html_inline":
                    out += [Markup(unit, line, t, True) for t in tags_in(child.content)]
                elif child.type == "text":
                    out += [Markup(unit, line, _text_tag(m.group(0)), False) for m in _TAG_TEXT.finditer(child.content)]
    return out


def raw_html(body: str) -> list[Markup]:
    """The live tags only."""
    return [m for m in markup(body) if m.raw]


def added_markup(source: str, translated: str) -> list[Markup]:
    """Markup of ``translated`` that the same unit of ``source`` does not have.

    Units are compared by position (the structure check makes sure both have the same
    blocks); when the unit counts differ, the whole documents are compared instead.
    """
    src, tr = markup(source), markup(translated)
    same_shape = _unit_count(source) == _unit_count(translated)
    key = (lambda m: (m.unit, m.tag, m.raw)) if same_shape else (lambda m: (m.tag, m.raw))
    allowed = Counter(key(m) for m in src)
    added: list[Markup] = []
    for m in tr:
        k = key(m)
        if allowed[k] > 0:
            allowed[k] -= 1
        else:
            added.append(m)
    return added


def _unit_count(body: str) -> int:
    return sum(1 for tok in parser().parse(body) if tok.type in ("inline", "html_block"))


def describe(items: Iterable[Markup], limit: int = 3) -> str:
    items = list(items)
    shown = ", ".join(f"{m.tag}{'' if m.raw else ' (as text)'}" for m in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
