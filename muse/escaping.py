"""One escaping layer for data-derived strings, per output context.

Every string that comes from data (model names, quantizations, datasets, commit subjects,
reasons from other components) is hostile until it is escaped for the place it lands in:

==================  ===========================================================
context             function
==================  ===========================================================
markdown text       :func:`md_text` (also headings: :func:`md_heading`, link text:
                    :func:`md_link_text`)
code span           :func:`md_code` (outside tables), :func:`md_cell_code` (in a
                    GFM table cell, where ``|`` must be escaped even inside code)
table cell text     :func:`md_cell`
YAML front-matter   :func:`yaml_text` (the YAML library quotes; this defuses what the
                    site's templates might act on)
SVG / XML text      :func:`svg_text` (then Jinja2's autoescape; XML forbids control
                    characters outright, so they are made visible first)
==================  ===========================================================

All of them first :func:`clean` the text: control characters and ANSI escapes are shown as
``\\xNN`` (never emitted), bidirectional overrides and marks are shown as ``\\u202e`` etc.
(they can reorder what a reader sees), private-use characters are dropped (the council's
invisible fact markers use them, so data cannot forge one), whitespace runs collapse to one
space (no newline can start a heading or end a table row) and very long strings are cut
with an ellipsis. Template markers (``{{``, ``}}``, ``{%``, ``%}``, ``{#``) are split so the
validator never mistakes data for an unrendered template.

Terminal and log escaping is not here (it belongs to the CLI output layer).
"""

from __future__ import annotations

import re
from typing import Any

MAX_LEN = 120

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BIDI = re.compile(r"[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_PRIVATE = re.compile(r"[\ue000-\uf8ff]")
_OTHER_INVISIBLE = re.compile(r"[\u200b-\u200d\u2028\u2029\ufeff]")
_TEMPLATE = re.compile(r"(\{)(?=[{%#])|([%#}])(?=\})")
# Every ASCII punctuation character may be backslash-escaped in CommonMark; escaping all of
# them leaves no emphasis, link, code, HTML, entity or table syntax in the text.
_MD_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")


def clean(value: Any, *, max_len: int = MAX_LEN) -> str:
    """Data text made inert and visible: one line, no control/bidi/private characters."""
    text = str(value)
    text = _PRIVATE.sub("", text)
    text = text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)
    text = _BIDI.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)
    text = _OTHER_INVISIBLE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)
    text = " ".join(text.split())
    if len(text) > max_len:
        text = text[: max_len - 1].rstrip() + "…"
    return text


def _defuse(text: str) -> str:
    # "{{" -> "{ {" etc.: nothing in data reads as a Jinja marker afterwards.
    return _TEMPLATE.sub(lambda m: (m.group(1) or m.group(2)) + " ", text)


def md_text(value: Any, *, max_len: int = MAX_LEN) -> str:
    """Markdown inline text: all ASCII punctuation backslash-escaped."""
    return _MD_PUNCT.sub(r"\\\1", _defuse(clean(value, max_len=max_len)))


def md_label(value: Any, *, max_len: int = MAX_LEN) -> str:
    """A short data label in prose (a severity, a metric name): escaped text, or inline code
    when it holds a digit, because a digit in prose is a claim that must come from a fact."""
    text = clean(value, max_len=max_len)
    return md_code(text) if any(ch.isdigit() for ch in text) else md_text(text)


md_cell = md_text  # escaped '|' is literal in a GFM table cell too
md_heading = md_text  # a single line, '#' escaped: cannot become another heading
md_link_text = md_text  # '[' and ']' escaped: cannot close the link early


def _code(text: str) -> str:
    text = _defuse(text) or " "
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_code(value: Any, *, max_len: int = MAX_LEN) -> str:
    """Inline code for an identifier outside a table: a fence longer than any backtick run."""
    return _code(clean(value, max_len=max_len))


def md_cell_code(value: Any, *, max_len: int = MAX_LEN) -> str:
    """Inline code inside a GFM table cell: '|' splits cells even inside code, so escape it
    (GFM turns '\\|' back into '|' before parsing the span); a trailing backslash would
    escape the closing pipe, so it is padded."""
    text = clean(value, max_len=max_len).replace("|", "\\|")
    return _code(text + (" " if text.endswith("\\") else ""))


def yaml_text(value: Any, *, max_len: int = 200) -> str:
    """A front-matter string: the YAML dumper quotes it; markup characters a site template
    might emit raw are replaced by look-alikes, template markers are split."""
    text = _defuse(clean(value, max_len=max_len))
    return text.replace("<", "‹").replace(">", "›").replace("&", "＆").replace("`", "ʼ")


def svg_text(value: Any, *, max_len: int = 60) -> str:
    """Text for an SVG <text>/<title>: cleaned here, '<' '&' '"' escaped by the template's
    autoescape (never mark this Markup)."""
    return _defuse(clean(value, max_len=max_len))
