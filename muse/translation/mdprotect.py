"""Carry a markdown document through machine translation without breaking it.

The document is parsed with markdown-it-py (CommonMark + tables + strikethrough), never
with regular expressions. What a translator may touch is cut into *units*: the inline
content of each paragraph, heading and table cell, and the human-readable front-matter
values (``title``, ``summary``). Everything else - front-matter keys and other values,
fenced and indented code, HTML blocks, rules, reference definitions, list and quote
markers - is outside every unit and is copied byte for byte.

Inside a unit, the inline parser's own rules decide what is protected. Each rule of the
parser is wrapped to record the source span it consumed, so spans are exact:

* kept verbatim ("keep"): inline code, images, autolinks, inline HTML, entities,
  backslash escapes, and, in the human text, every word that holds a digit (numbers,
  p95, q4_K_M, 2026-01-15, 12.5%), bare URLs, and glossary terms (unless a DeepL
  glossary takes care of them);
* paired markup ("open"/"close"): a link's ``[`` and its ``](destination "title")`` tail
  around the translatable label; emphasis, strong and strikethrough markers.

A unit is then sent in one of three encodings:

* ``to_xml``: for languages where DeepL supports tag handling - human text XML-escaped,
  each keep as ``<x i="N">original</x>`` (sent with ``ignore_tags=x``), each pair as an
  element (``<a i="N">label</a>``) so DeepL moves it with the words it wraps;
* ``to_opaque``: for languages without tag handling (Hindi) - each keep and marker as an
  opaque token ``⟦N⟧`` that has no letters for a translator to change;
* ``segments``: the last resort - only the human text between protected spans, one
  segment at a time, so structure cannot depend on the translator at all.

Restoring checks that every keep and every pair came back exactly once and well nested
(``RestoreError`` otherwise, and the caller falls back to segments). Protected spans are
restored from the source, never from what the translator returned.

The invariant, tested with hypothesis: protect, then an identity "translation" in any
encoding, then ``apply`` gives back the document unchanged, byte for byte.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Literal, Sequence
from xml.sax.saxutils import escape as _xml_escape

# Human-readable front-matter values; every other key and value stays byte-identical.
TRANSLATABLE_FRONT_MATTER: tuple[str, ...] = ("title", "summary")
# The ignore tag DeepL is asked to leave alone (ignore_tags).
IGNORE_TAG = "x"
# Element names for paired markup in the XML encoding; DeepL keeps them on their words.
PAIR_TAGS: tuple[str, ...] = ("a", "em", "b", "s")
# Opaque placeholder delimiters for languages without tag handling: no letters, no
# markdown meaning, unlikely in prose. A unit whose text holds them is sent as segments.
OPEN_MARK, CLOSE_MARK = "\u27e6", "\u27e7"  # ⟦ ⟧

# A placeholder as a translator may hand it back (it may add spaces inside).
_OPAQUE = re.compile(OPEN_MARK + r"\s*(\d+)\s*" + CLOSE_MARK)
# Characters trimmed off a digit-bearing word before it is kept (sentence punctuation).
_LEAD_PUNCT = "\"'([{<«“‘"
_TRAIL_PUNCT = ".,;:!?)]}>\"'»”’"


class ProtectError(ValueError):
    """The document cannot be protected (one line saying why)."""


class RestoreError(ValueError):
    """A translated unit lost, duplicated or mis-nested a protected span."""


PieceKind = Literal["text", "keep", "open", "close"]


@dataclass(frozen=True)
class Piece:
    kind: PieceKind
    text: str  # the source text of this piece
    pair: int = -1  # open/close: the pair they belong to
    tag: str = ""  # open/close: element name in the XML encoding


@dataclass
class Unit:
    """One run of human text: region [start, end) of the document, as pieces."""

    start: int
    end: int
    pieces: list[Piece]
    where: str  # for messages: "title", "line 12"
    kind: Literal["md", "yaml"] = "md"
    single_line: bool = False  # headings, table cells, front-matter values
    prefixes: list[str] = field(default_factory=list)  # container markers after each newline
    table_cell: bool = False

    @property
    def content(self) -> str:
        return "".join(p.text for p in self.pieces)

    @property
    def translatable(self) -> bool:
        """True when some text piece holds a letter (otherwise nothing to send)."""
        return any(p.kind == "text" and _has_letter(p.text) for p in self.pieces)


@dataclass
class Protected:
    source: str
    units: list[Unit]
    lang_region: tuple[int, int] | None = None  # the front-matter `lang` value
    kept_verbatim: list[str] = field(default_factory=list)  # units that could not be mapped


def _has_letter(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


# -- markdown-it with span recording ------------------------------------------------------

_REC = "__mdprotect_recorder"
_KEEP_RULES = {"backticks", "autolink", "html_inline", "entity", "escape", "image", "linkify"}


class _Recorder:
    """Source spans consumed by the inline rules run on one unit's inline state."""

    def __init__(self, tokens: list[Any]) -> None:
        self.tokens = tokens
        self.keeps: list[tuple[int, int]] = []
        self.links: list[tuple[int, int, int]] = []  # start, label_end, end
        self.delim_pos: dict[int, tuple[int, int]] = {}  # id(token) -> (pos, len)
        self.delim_tokens: list[Any] = []  # keep the objects alive so ids stay unique


def _wrap(name: str, fn: Any) -> Any:
    def rule(state: Any, silent: bool) -> bool:
        rec = state.env.get(_REC) if isinstance(state.env, dict) else None
        # Image alt text is parsed on a separate state: only the unit's own state records.
        if silent or rec is None or state.tokens is not rec.tokens:
            return fn(state, silent)
        start, ntok = state.pos, len(state.tokens)
        label_end = -1
        if name == "link" and state.src[start] == "[":
            label_end = state.md.helpers.parseLinkLabel(state, start, True)
        ok = fn(state, silent)
        if ok:
            if name in _KEEP_RULES:
                rec.keeps.append((start, state.pos))
            elif name == "link":
                rec.links.append((start, label_end, state.pos))
            elif name in ("emphasis", "strikethrough"):
                # The first push may flush pending text into a token of its own; the
                # delimiter tokens are the last ones, covering exactly [start, pos).
                pos = state.pos
                for tok in reversed(state.tokens[ntok:]):
                    if pos <= start:
                        break
                    pos -= len(tok.content)
                    rec.delim_pos[id(tok)] = (pos, len(tok.content))
                    rec.delim_tokens.append(tok)
        return ok

    return rule


@lru_cache(maxsize=1)
def markdown() -> Any:
    """The shared parser (:mod:`muse.markdown`) with span recording on every inline rule."""
    from muse.markdown import new_parser

    md = new_parser()
    for rule in md.inline.ruler.__rules__:
        md.inline.ruler.at(rule.name, _wrap(rule.name, rule.fn))
    return md


@lru_cache(maxsize=1)
def _block_markdown() -> Any:
    """The same parser without the core inline pass: protect parses each unit's inline
    content itself, once, with span recording."""
    from muse.markdown import new_parser

    return new_parser().disable("inline")


# -- splitting human text: numbers, URLs, glossary terms ------------------------------------


def _is_word_boundary(text: str, i: int) -> bool:
    """True when position i is outside the text or not a word character."""
    return i < 0 or i >= len(text) or not (text[i].isalnum() or text[i] == "_")


def _fold(text: str) -> str:
    """Lower case that keeps every index in place (characters whose lower case is longer
    stay as they are)."""
    if text.isascii():
        return text.lower()
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)


@lru_cache(maxsize=8)
def _folded_terms(terms: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_fold(t) for t in sorted({t for t in terms if t}, key=len, reverse=True))


def find_terms(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) of glossary terms in text: case-insensitive, whole
    words only, longest term first."""
    if not terms or not text:
        return []
    hay = _fold(text)
    taken = [False] * len(text)
    found: list[tuple[int, int]] = []
    for needle in _folded_terms(tuple(terms)):
        i = hay.find(needle)
        while i >= 0:
            j = i + len(needle)
            if _is_word_boundary(text, i - 1) and _is_word_boundary(text, j) and not any(taken[i:j]):
                found.append((i, j))
                for k in range(i, j):
                    taken[k] = True
            i = hay.find(needle, i + 1)
    return sorted(found)


def _keep_word(word: str) -> bool:
    return any(ch.isdigit() for ch in word) or "://" in word or word.lower().startswith("www.")


def split_text(text: str, terms: Sequence[str] = ()) -> list[Piece]:
    """Human text as pieces: words holding a digit, URLs and terms become keeps."""
    spans = find_terms(text, terms)
    # Words (maximal runs without whitespace) that hold a digit or are URLs.
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        word = text[i:j]
        if _keep_word(word):
            a, b = i, j
            while a < b and text[a] in _LEAD_PUNCT:
                a += 1
            while b > a and text[b - 1] in _TRAIL_PUNCT:
                b -= 1
            if a < b and _keep_word(text[a:b]):
                spans.append((a, b))
        i = j
    pieces: list[Piece] = []
    pos = 0
    for a, b in _merge(spans):
        if a > pos:
            pieces.append(Piece("text", text[pos:a]))
        pieces.append(Piece("keep", text[a:b]))
        pos = b
    if pos < n:
        pieces.append(Piece("text", text[pos:]))
    return pieces


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out


def _finish(pieces: list[Piece], terms: Sequence[str]) -> list[Piece]:
    """Split text pieces into text/keep and merge neighbouring keeps."""
    out: list[Piece] = []
    for p in pieces:
        parts = split_text(p.text, terms) if p.kind == "text" else [p]
        for q in parts:
            if q.kind == "keep" and out and out[-1].kind == "keep":
                out[-1] = Piece("keep", out[-1].text + q.text)
            elif q.kind == "text" and out and out[-1].kind == "text":
                out[-1] = Piece("text", out[-1].text + q.text)
            elif q.text:
                out.append(q)
    return out


# -- inline content -> pieces ----------------------------------------------------------------

_PAIR_TYPES = {"em_open": ("em", "em_close"), "strong_open": ("b", "strong_close"), "s_open": ("s", "s_close")}


def inline_pieces(content: str, env: dict[str, Any], terms: Sequence[str] = ()) -> list[Piece]:
    """The pieces of one inline content string (paragraph, heading or cell)."""
    md = markdown()
    tokens: list[Any] = []
    rec = _Recorder(tokens)
    local_env = dict(env)
    local_env[_REC] = rec
    md.inline.parse(content, md, local_env, tokens)

    events: list[tuple[int, int, PieceKind, int, str]] = []  # start, end, kind, pair, tag
    pair_id = 0
    for a, b in rec.keeps:
        events.append((a, b, "keep", -1, ""))
    for start, label_end, end in rec.links:
        if label_end <= start + 1 or not content[start + 1 : label_end].strip():
            events.append((start, end, "keep", -1, ""))
            continue
        events.append((start, start + 1, "open", pair_id, "a"))
        events.append((label_end, end, "close", pair_id, "a"))
        pair_id += 1
    # Emphasis pairs: the parser turned delimiter tokens into *_open/*_close in place.
    stack: list[tuple[str, str, int, int]] = []  # closing type, tag, start, end
    for tok in tokens:
        if id(tok) not in rec.delim_pos:
            continue
        pos, length = rec.delim_pos[id(tok)]
        if tok.type in _PAIR_TYPES:
            tag, closing = _PAIR_TYPES[tok.type]
            a, b = (pos - 1, pos + 1) if tok.type == "strong_open" else (pos, pos + length)
            stack.append((closing, tag, a, b))
        elif tok.type in ("em_close", "strong_close", "s_close"):
            if not stack or stack[-1][0] != tok.type:
                raise ProtectError("unbalanced emphasis")
            _, tag, a, b = stack.pop()
            c, d = (pos, pos + 2) if tok.type == "strong_close" else (pos, pos + length)
            events.append((a, b, "open", pair_id, tag))
            events.append((c, d, "close", pair_id, tag))
            pair_id += 1
    events.sort(key=lambda e: (e[0], e[1]))
    pieces: list[Piece] = []
    pos = 0
    for a, b, kind, pid, tag in events:
        if a < pos:
            raise ProtectError("overlapping inline spans")
        if a > pos:
            pieces.append(Piece("text", content[pos:a]))
        pieces.append(Piece(kind, content[a:b], pid, tag))
        pos = b
    if pos < len(content):
        pieces.append(Piece("text", content[pos:]))
    _check_nesting(pieces)
    return _finish(pieces, terms)


def _check_nesting(pieces: Sequence[Piece]) -> None:
    stack: list[int] = []
    for p in pieces:
        if p.kind == "open":
            stack.append(p.pair)
        elif p.kind == "close":
            if not stack or stack.pop() != p.pair:
                raise ProtectError("mis-nested inline markup")
    if stack:
        raise ProtectError("unclosed inline markup")


# -- block level: where is each inline content in the source? --------------------------------


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    return starts


def _line(text: str, starts: list[int], n: int) -> str:
    if n >= len(starts):
        return ""
    end = starts[n + 1] - 1 if n + 1 < len(starts) else len(text)
    return text[starts[n] : end]


def render_unit(unit: Unit, content: str) -> str:
    """The source text that replaces the unit's region for a given (new) content."""
    if unit.kind == "md" and unit.table_cell:
        content = _escape_cell(unit, content)
    if unit.single_line:
        content = " ".join(content.split("\n"))
    lines = content.split("\n")
    out = [lines[0]]
    for i, line in enumerate(lines[1:]):
        prefix = unit.prefixes[i] if i < len(unit.prefixes) else (unit.prefixes[-1] if unit.prefixes else "")
        out.append("\n" + prefix + line)
    return "".join(out)


def _escape_cell(unit: Unit, content: str) -> str:
    # A '|' the translator added would split the table cell; the source's own are kept.
    if content == unit.content or "|" not in content:
        return content
    src_pipes = unit.content.count("|")
    if content.count("|") <= src_pipes:
        return content
    return content.replace("\\|", "\x00").replace("|", "\\|").replace("\x00", "\\|")


def _locate(
    text: str, starts: list[int], first_line: int, content: str, trailing: str
) -> tuple[int, int, list[str]] | None:
    """Map inline content (lines joined by '\\n') back to its source region."""
    lines = content.split("\n")
    offsets: list[int] = []
    for i, c in enumerate(lines):
        sl = _line(text, starts, first_line + i)
        if i < len(lines) - 1:
            if not sl.endswith(c):
                return None
            offsets.append(len(sl) - len(c))
        else:
            e = len(sl)
            while e >= len(c):
                if sl[:e].endswith(c) and all(ch in trailing for ch in sl[e:]):
                    break
                e -= 1
            else:
                return None
            offsets.append(e - len(c))
    prefixes = [_line(text, starts, first_line + i)[: offsets[i]] for i in range(1, len(lines))]
    start = starts[first_line] + offsets[0]
    last = first_line + len(lines) - 1
    end = starts[last] + offsets[-1] + len(lines[-1])
    return start, end, prefixes


def _table_cells(text: str, starts: list[int], line_no: int, contents: list[str]) -> list[tuple[int, int] | None]:
    sl = _line(text, starts, line_no)
    out: list[tuple[int, int] | None] = []
    pos = 0
    for c in contents:
        if not c:
            out.append(None)
            continue
        i = sl.find(c, pos)
        if i < 0:
            out.append(None)
            continue
        out.append((starts[line_no] + i, starts[line_no] + i + len(c)))
        pos = i + len(c)
    return out


def protect_body(
    text: str, offset: int, *, terms: Sequence[str] = (), first_line: int = 1
) -> tuple[list[Unit], list[str]]:
    """Units of a markdown body that starts at `offset` (line `first_line`) of the document."""
    if "\r" in text or "\x00" in text:
        raise ProtectError("the markdown holds carriage returns or NUL characters; save it with '\\n' line ends")
    env: dict[str, Any] = {}
    tokens = _block_markdown().parse(text, env)
    starts = _line_starts(text)
    units: list[Unit] = []
    kept: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "tr_open":
            # A table row: its cells' inline tokens, in order, on one source line.
            cells, j = [], i + 1
            while tokens[j].type != "tr_close":
                if tokens[j].type == "inline":
                    cells.append(tokens[j])
                j += 1
            regions = _table_cells(text, starts, tok.map[0], [c.content for c in cells])
            for cell, region in zip(cells, regions):
                if not cell.content.strip():
                    continue
                where = f"line {tok.map[0] + first_line}"
                if region is None:
                    kept.append(where)
                    continue
                _add_unit(
                    units,
                    kept,
                    text,
                    env,
                    terms,
                    region[0],
                    region[1],
                    [],
                    cell.content,
                    where,
                    offset,
                    single_line=True,
                    table_cell=True,
                )
            i = j + 1
            continue
        if tok.type == "inline" and tok.map and i > 0 and tokens[i - 1].type in ("paragraph_open", "heading_open"):
            opener = tokens[i - 1]
            where = f"line {tok.map[0] + first_line}"
            if tok.content.strip():
                atx = opener.type == "heading_open" and opener.markup.startswith("#")
                located = _locate(text, starts, tok.map[0], tok.content, " \t#" if atx else " \t")
                if located is None:
                    kept.append(where)
                else:
                    start, end, prefixes = located
                    _add_unit(
                        units, kept, text, env, terms, start, end, prefixes, tok.content, where, offset, single_line=atx
                    )
        i += 1
    return units, kept


def _add_unit(
    units: list[Unit],
    kept: list[str],
    text: str,
    env: dict[str, Any],
    terms: Sequence[str],
    start: int,
    end: int,
    prefixes: list[str],
    content: str,
    where: str,
    offset: int,
    *,
    single_line: bool = False,
    table_cell: bool = False,
) -> None:
    try:
        pieces = inline_pieces(content, env, terms)
    except ProtectError:
        kept.append(where)
        return
    unit = Unit(start + offset, end + offset, pieces, where, "md", single_line, prefixes, table_cell)
    # The mapping must reproduce the source exactly, or the unit stays as it is.
    if unit.content != content or render_unit(unit, content) != text[start:end]:
        kept.append(where)
        return
    units.append(unit)


# -- front-matter ------------------------------------------------------------------------------


def split_front_matter(text: str) -> tuple[str, int, int] | None:
    """(front-matter YAML, its start offset, body start offset), or None when the text does
    not start with a YAML mapping between '---' lines (then it is all markdown). The split is
    the core's (:func:`muse.markdown.split_front_matter`, as for the episode format)."""
    from muse.markdown import split_front_matter as split

    found = split(text)
    if found is None or _front_matter_node(found[0]) is None:
        return None
    return found


def _front_matter_node(yaml_text: str) -> Any:
    import yaml

    try:
        node = yaml.compose(yaml_text)
    except yaml.YAMLError:
        return None
    return node if isinstance(node, yaml.MappingNode) else None


def protect_front_matter(text: str, *, terms: Sequence[str] = ()) -> tuple[list[Unit], tuple[int, int] | None]:
    import yaml

    fm = split_front_matter(text)
    if fm is None:
        return [], None
    yaml_text, base, _ = fm
    node = _front_matter_node(yaml_text)
    if node is None:
        return [], None
    units: list[Unit] = []
    lang_region = None
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode) or not isinstance(value, yaml.ScalarNode):
            continue
        if value.tag != "tag:yaml.org,2002:str":
            continue
        start, end = base + value.start_mark.index, base + value.end_mark.index
        if key.value == "lang":
            lang_region = (start, end)
        elif key.value in TRANSLATABLE_FRONT_MATTER and value.value.strip():
            units.append(
                Unit(start, end, _finish([Piece("text", value.value)], terms), key.value, "yaml", single_line=True)
            )
    return units, lang_region


def _yaml_scalar(value: str) -> str:
    import yaml

    out = yaml.safe_dump(value, default_style='"', allow_unicode=True, width=float("inf"))
    return out[: out.rindex('"') + 1]


# -- the document --------------------------------------------------------------------------------


def protect(text: str, *, terms: Sequence[str] = ()) -> Protected:
    """Cut a document (front-matter + markdown) into translatable units."""
    fm_units, lang_region = protect_front_matter(text, terms=terms)
    fm = split_front_matter(text)
    body_start = fm[2] if fm else 0
    body_units, kept = protect_body(
        text[body_start:], body_start, terms=terms, first_line=text.count("\n", 0, body_start) + 1
    )
    return Protected(text, fm_units + body_units, lang_region, kept)


def apply(protected: Protected, contents: Sequence[str | None], *, lang: str | None = None) -> str:
    """The document with each unit's region replaced by its new content (None = as is)."""
    if len(contents) != len(protected.units):
        raise ValueError(f"{len(contents)} contents for {len(protected.units)} units")
    src = protected.source
    edits: list[tuple[int, int, str]] = []
    for unit, new in zip(protected.units, contents):
        if new is None or new == unit.content:
            continue
        if unit.kind == "yaml":
            region = src[unit.start : unit.end]
            tail = region[len(region.rstrip()) :]
            edits.append((unit.start, unit.end, _yaml_scalar(" ".join(new.split("\n"))) + tail))
        else:
            edits.append((unit.start, unit.end, render_unit(unit, new)))
    if lang is not None and protected.lang_region is not None:
        a, b = protected.lang_region
        region = src[a:b]
        if region.strip() != lang:
            edits.append((a, b, _yaml_scalar(lang) if not lang.replace("-", "").isalnum() else lang))
    out, pos = [], 0
    for a, b, new in sorted(edits):
        out.append(src[pos:a])
        out.append(new)
        pos = b
    out.append(src[pos:])
    return "".join(out)


# -- encodings -------------------------------------------------------------------------------------


def _xml_char_ok(ch: str) -> bool:
    o = ord(ch)
    return o in (0x9, 0xA, 0xD) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000


def to_xml(unit: Unit) -> str | None:
    """The unit as XML for DeepL's tag_handling='xml' with ignore_tags=x, or None if it
    holds characters XML cannot carry."""
    if not all(_xml_char_ok(ch) for ch in unit.content):
        return None
    out = []
    for n, p in enumerate(unit.pieces):
        if p.kind == "text":
            out.append(_xml_escape(p.text))
        elif p.kind == "keep":
            out.append(f'<{IGNORE_TAG} i="{n}">{_xml_escape(p.text)}</{IGNORE_TAG}>')
        elif p.kind == "open":
            out.append(f'<{p.tag} i="{p.pair}">')
        else:
            out.append(f"</{p.tag}>")
    return "".join(out)


def from_xml(unit: Unit, translated: str) -> str:
    """Restore a unit from DeepL's XML answer; RestoreError if a span was lost."""
    try:
        root = ET.fromstring(f"<r>{translated}</r>")
    except ET.ParseError as exc:
        raise RestoreError(f"translation is not well-formed XML ({exc})") from None
    keeps = {str(n): p for n, p in enumerate(unit.pieces) if p.kind == "keep"}
    opens = {str(p.pair): p for p in unit.pieces if p.kind == "open"}
    closes = {str(p.pair): p for p in unit.pieces if p.kind == "close"}
    seen_keep: set[str] = set()
    seen_pair: set[str] = set()
    out: list[str] = []

    def walk(elem: ET.Element) -> None:
        for child in elem:
            i = child.get("i", "")
            if child.tag == IGNORE_TAG:
                if i not in keeps or i in seen_keep:
                    raise RestoreError(f"unknown or repeated protected span {i!r}")
                seen_keep.add(i)
                out.append(keeps[i].text)
            elif child.tag in PAIR_TAGS:
                if i not in opens or i in seen_pair or opens[i].tag != child.tag:
                    raise RestoreError(f"unknown or repeated markup <{child.tag} i={i!r}>")
                seen_pair.add(i)
                out.append(opens[i].text)
                out.append(child.text or "")
                walk(child)
                out.append(closes[i].text)
            else:
                raise RestoreError(f"unexpected element <{child.tag}>")
            out.append(child.tail or "")

    out.append(root.text or "")
    walk(root)
    if seen_keep != set(keeps) or seen_pair != set(opens):
        raise RestoreError(
            f"{len(keeps) - len(seen_keep)} protected span(s) and "
            f"{len(opens) - len(seen_pair)} markup pair(s) missing from the translation"
        )
    return "".join(out)


def to_opaque(unit: Unit) -> str | None:
    """The unit with ⟦N⟧ placeholders, or None if its text already holds the markers."""
    out = []
    for n, p in enumerate(unit.pieces):
        if p.kind == "text":
            if OPEN_MARK in p.text or CLOSE_MARK in p.text:
                return None
            out.append(p.text)
        else:
            out.append(f"{OPEN_MARK}{n}{CLOSE_MARK}")
    return "".join(out)


def from_opaque(unit: Unit, translated: str) -> str:
    """Restore a unit from placeholders; RestoreError if one is lost, repeated or moved
    so that markup pairs cross."""
    markers = {n: p for n, p in enumerate(unit.pieces) if p.kind != "text"}
    out: list[str] = []
    seen: list[int] = []
    pos = 0
    for m in _OPAQUE.finditer(translated):
        n = int(m.group(1))
        if n not in markers or n in seen:
            raise RestoreError(f"unknown or repeated placeholder {m.group(0)!r}")
        seen.append(n)
        out.append(translated[pos : m.start()])
        out.append(markers[n].text)
        pos = m.end()
    out.append(translated[pos:])
    if len(seen) != len(markers):
        raise RestoreError(f"{len(markers) - len(seen)} placeholder(s) missing from the translation")
    _check_nesting([markers[n] for n in seen])
    text = "".join(out)
    if OPEN_MARK in text or CLOSE_MARK in text:
        raise RestoreError("a damaged placeholder is left in the translation")
    return text


def segments(unit: Unit) -> list[str]:
    """The human text of a unit, one segment per text piece that holds a letter, with
    surrounding whitespace removed (it is restored from the source)."""
    return [p.text.strip() for p in unit.pieces if p.kind == "text" and _has_letter(p.text)]


def from_segments(unit: Unit, translated: Sequence[str]) -> str:
    it = iter(translated)
    out = []
    for p in unit.pieces:
        if p.kind == "text" and _has_letter(p.text):
            core = p.text.strip()
            lead = p.text[: len(p.text) - len(p.text.lstrip())]
            trail = p.text[len(p.text.rstrip()) :]
            try:
                new = next(it)
            except StopIteration:
                raise RestoreError("fewer segments than sent") from None
            out.append(lead + (new.strip() if core else new) + trail)
        else:
            out.append(p.text)
    if next(it, None) is not None:
        raise RestoreError("more segments than sent")
    return "".join(out)


# -- what a translation must keep: the document's outline -----------------------------------------


@dataclass
class Outline:
    """Structure of a markdown document that a translation must not change."""

    blocks: list[str]  # block token types in order (paragraph_open, heading_open, ...)
    headings: list[int]  # heading levels in order
    code: list[str]  # fenced and indented code blocks, exact source lines
    html: list[str]  # HTML blocks, exact source lines
    links: list[str]  # link destinations (sorted)
    images: list[str]  # image sources (sorted)
    text: str  # the human text (inline text outside code), for number and term checks

    @property
    def sections(self) -> int:
        return sum(1 for h in self.headings if h == 2)


def outline(body: str) -> Outline:
    md = markdown()
    tokens = md.parse(body)
    starts = _line_starts(body)
    blocks, headings, code, html, links, images, text = [], [], [], [], [], [], []

    def source(tok: Any) -> str:
        a, b = tok.map
        end = starts[b] if b < len(starts) else len(body)
        return body[starts[a] : end]

    def inline(children: list[Any]) -> None:
        for c in children:
            if c.type == "link_open":
                links.append(c.attrGet("href") or "")
            elif c.type == "image":
                images.append(c.attrGet("src") or "")
                inline(c.children or [])
            elif c.type == "text":
                text.append(c.content)
            elif c.type in ("softbreak", "hardbreak"):
                text.append("\n")

    for tok in tokens:
        if tok.nesting == 1 or tok.type in ("fence", "code_block", "html_block", "hr"):
            blocks.append(tok.type)
        if tok.type == "heading_open":
            headings.append(int(tok.tag[1:]))
        elif tok.type in ("fence", "code_block"):
            code.append(source(tok))
        elif tok.type == "html_block":
            html.append(source(tok))
        elif tok.type == "inline":
            inline(tok.children or [])
            text.append("\n")
    return Outline(blocks, headings, code, html, sorted(links), sorted(images), "".join(text))


_NUMBER = re.compile(r"[0-9]+(?:[.,:][0-9]+)*")


def numbers(text: str) -> list[str]:
    """Every number written in ASCII digits (12, 0.82, 1,234, 2026-01-15 as 2026 01 15),
    in order: what a translation must still contain."""
    return _NUMBER.findall(text)
