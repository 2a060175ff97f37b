"""Traceable numbers: every number an episode states goes through :class:`Facts`.

``Facts.num(value, ...)`` formats a value, records where it came from (named query, its
parameters, the row keys behind it) and returns the text to print. The Evidence appendix
lists every recorded fact; :func:`trace` maps each number in a rendered episode back to
those entries, and reports any number that has none.

Identifiers (model names, quantizations, commit shas, commit subjects) are printed as
inline code and are not claims: the tracer skips code spans, code blocks, images and the
appendix itself.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

NUMBER = re.compile(r"(?<![\w.])[-+−]?\d[\d,]*(?:\.\d+)?%?")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
MAX_KEYS = 20


@dataclass
class Fact:
    id: str
    text: str
    value: Any
    label: str
    query: str
    params: dict[str, Any]
    keys: list[str]
    more_keys: int = 0


@dataclass
class Facts:
    """Registry of the numbers of one episode, in order of first use."""

    items: list[Fact] = field(default_factory=list)

    def num(self, value: Any, fmt: str = "{:,.0f}", *, label: str, query: str,
            params: dict[str, Any] | None = None, keys: Iterable[Any] = (), unit: str = "") -> str:
        """Format ``value`` and record its provenance; return the text to print."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            text = "n/a"
        else:
            text = fmt.format(value) + unit
        key_list = [str(k) for k in keys]
        for fact in self.items:
            # One entry per (text, query, params): repeating a figure adds no new evidence.
            if fact.text == text and fact.query == query and fact.params == (params or {}) and fact.label == label:
                return text
        self.items.append(Fact(f"E{len(self.items) + 1}", text, value, label, query, dict(params or {}),
                               key_list[:MAX_KEYS], max(0, len(key_list) - MAX_KEYS)))
        return text

    def pct(self, value: float | None, **kw: Any) -> str:
        return self.num(None if value is None else value * 100, "{:+.1f}", unit="%", **kw)

    def as_rows(self) -> list[dict[str, Any]]:
        return [{"id": f.id, "value": f.text, "label": f.label, "query": f.query, "params": f.params,
                 "keys": f.keys, "more_keys": f.more_keys} for f in self.items]


def _cell(text: str) -> str:
    # GFM splits table cells on '|' even inside code spans, unless escaped.
    return text.replace("|", "\\|").replace("\n", " ")


def appendix_table(facts: Facts) -> str:
    """The Evidence appendix as a markdown table (values, query, parameters, row keys)."""
    from muse.templating import md_code, md_text

    lines = ["| id | value | what | query | parameters | row keys |", "|---|---|---|---|---|---|"]
    for f in facts.items:
        keys = ", ".join(f.keys) + (f" (+{f.more_keys} more)" if f.more_keys else "")
        query = f"sql/queries/{f.query}.sql" if f.query.isidentifier() else f.query
        params = json.dumps(f.params, sort_keys=True, default=str, ensure_ascii=False)
        lines.append("| " + " | ".join(_cell(x) for x in (
            f.id, md_text(f.text), md_text(f.label), md_code(query), md_code(params),
            md_code(keys) if keys else "-")) + " |")
    return "\n".join(lines)


def _strip_code(body: str) -> str:
    out, fenced = [], False
    for line in body.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced or line.startswith("    ") or line.lstrip().startswith("!["):
            continue
        out.append(_CODE_SPAN.sub(" ", line))
    return "\n".join(out)


def split_evidence(body: str) -> tuple[str, str]:
    """(text before the Evidence appendix, the appendix)."""
    marker = re.search(r"^## Evidence\s*$", body, re.MULTILINE)
    if not marker:
        return body, ""
    return body[:marker.start()], body[marker.end():]


def parse_appendix(appendix: str) -> list[dict[str, str]]:
    rows = []
    for line in appendix.splitlines():
        if not line.startswith("| E"):
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) >= 6:
            rows.append(dict(zip(("id", "value", "what", "query", "parameters", "row_keys"), cells)))
    return rows


def numbers_in(text: str) -> list[str]:
    return [m.group(0).rstrip(",") for m in NUMBER.finditer(_strip_code(text))]


@dataclass
class TraceLine:
    number: str
    evidence: list[dict[str, str]]

    @property
    def traced(self) -> bool:
        return bool(self.evidence)


def trace(body: str) -> list[TraceLine]:
    """Every number in the episode text with the evidence entries whose value contains it."""
    text, appendix = split_evidence(body)
    entries = parse_appendix(appendix)
    tokens = [(e, set(numbers_in(e["value"]))) for e in entries]
    lines = []
    for number in numbers_in(text):
        hits = [e for e, nums in tokens if number in nums]
        lines.append(TraceLine(number, hits))
    return lines
