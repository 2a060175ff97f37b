"""Numbers bound to facts: every number an episode states is rendered through a :class:`Fact`.

A fact is one value with its provenance: id (``E12``), value, unit, display string, the
named query (``sql/queries/<query>.sql``, or a git/config/derived source), its parameters,
the rule that turns the query's rows into the value (see ``muse.analysis.factrules.RULES``), and the
row keys behind it. Templates never receive a bare number: they print ``Fact`` objects,
whose ``str()`` wraps the display string in invisible private-use markers. After rendering,
:func:`strip_markers` removes the markers and records, per occurrence, the fact id and the
character offset in the body. The result goes to the sidecar ``ep-{n}.evidence.json``
(schema below, versioned), published beside the post.

:func:`trace` scans the post body for numbers (outside code spans, code blocks and image
lines) and reports, for each occurrence, the fact whose recorded span covers it. A number
no fact produced (typed in by hand, or shifted by an edit) is untraced; ``muse council
trace`` exits 1 and the publisher's validator refuses the post.

Sidecar schema (``version`` 1)::

    {"schema": "muse.episode.evidence", "version": 1, "episode": 1,
     "body_sha256": "<sha256 of the post body after the front-matter>",
     "facts": [{"id": "E1", "label": "...", "value": 1234.5, "unit": "ms", "display": "1,234 ms",
                "kind": "sql|git|config|derived|window", "query": "council_hearts_daily",
                "params": {...}, "rule": {"name": "...", "args": {...}},
                "row_keys": [...], "more_row_keys": 0}],
     "occurrences": [{"fact": "E1", "offset": 812, "length": 8}]}
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

SCHEMA = "muse.episode.evidence"
VERSION = 1
MAX_KEYS = 20

# Private-use characters: the escaping layer strips them from data, so data cannot forge one.
_START, _MID, _END = "\ue000", "\ue001", "\ue002"
# A fact's number as a draft carries it (``Fact.marked``): group 1 the fact id, group 2 the
# display text. The narrator reads drafts with it too.
MARKER = re.compile(f"{_START}(E\\d+){_MID}(.*?){_END}", re.DOTALL)

NUMBER = re.compile(r"(?<![\w.])[-+−]?\d[\d,]*(?:\.\d+)?%?")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
_LINK_DEST = re.compile(r"(?<=\])\([^)\s]*\)")  # a link's target is an address, not a claim


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class Fact:
    id: str
    label: str
    value: Any
    unit: str
    display: str
    kind: str
    query: str
    params: dict[str, Any]
    rule: dict[str, Any]
    keys: list[str] = field(default_factory=list)
    more_keys: int = 0
    scale: float = 1.0  # display = fmt(value * scale): fractions shown as percent
    fmt: str = "{}"

    def __str__(self) -> str:
        return f"{_START}{self.id}{_MID}{self.display}{_END}"

    @property
    def plain(self) -> str:
        return self.display

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "value": _jsonable(self.value),
            "unit": self.unit,
            "display": self.display,
            "kind": self.kind,
            "query": self.query,
            "params": self.params,
            "rule": self.rule,
            "format": self.fmt,
            "scale": self.scale,
            "row_keys": self.keys,
            "more_row_keys": self.more_keys,
        }


def fmt_value(value: Any, fmt: str, unit: str = "", scale: float = 1.0) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    text = fmt.format(value * scale if scale != 1.0 else value)
    if not unit:
        return text
    return text + (unit if unit in ("%", "×") else f" {unit}")


@dataclass
class Facts:
    """Registry of the facts of one episode, in order of first use."""

    items: list[Fact] = field(default_factory=list)

    def add(
        self,
        value: Any,
        fmt: str = "{:,.0f}",
        *,
        label: str,
        query: str,
        params: dict[str, Any] | None = None,
        rule: dict[str, Any] | None = None,
        keys: Iterable[Any] = (),
        unit: str = "",
        kind: str = "sql",
        scale: float = 1.0,
    ) -> Fact:
        display = fmt_value(value, fmt, unit, scale)
        params = dict(params or {})
        rule = dict(rule or {})
        for fact in self.items:
            if (fact.query, fact.params, fact.rule, fact.label, fact.display) == (query, params, rule, label, display):
                return fact
        key_list = [str(k) for k in keys]
        if isinstance(value, float):
            value = float(value)
        fact = Fact(
            f"E{len(self.items) + 1}",
            label,
            value,
            unit,
            display,
            kind,
            query,
            params,
            rule,
            key_list[:MAX_KEYS],
            max(0, len(key_list) - MAX_KEYS),
            scale,
            fmt,
        )
        self.items.append(fact)
        return fact

    def by_id(self, fact_id: str) -> Fact | None:
        return next((f for f in self.items if f.id == fact_id), None)


@dataclass(frozen=True)
class Occurrence:
    fact: str
    offset: int
    length: int


def strip_markers(text: str) -> tuple[str, list[Occurrence]]:
    """Remove the invisible markers; return the text and where each fact was printed."""
    out: list[str] = []
    occ: list[Occurrence] = []
    pos = 0
    size = 0
    for m in MARKER.finditer(text):
        chunk = text[pos : m.start()]
        out.append(chunk)
        size += len(chunk)
        display = m.group(2)
        occ.append(Occurrence(m.group(1), size, len(display)))
        out.append(display)
        size += len(display)
        pos = m.end()
    out.append(text[pos:])
    result = "".join(out)
    if _START in result or _END in result:
        raise ValueError("unbalanced fact marker in the rendered episode")
    return result, occ


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sidecar(
    *, episode: int, body: str, facts: Facts, occurrences: list[Occurrence]
) -> tuple[dict[str, Any], list[Occurrence]]:
    """The sidecar document, facts renumbered E1.. in order of first use (derived facts that
    are not printed follow); returns it and the renumbered occurrences."""
    order = list(dict.fromkeys(o.fact for o in occurrences))
    for f in facts.items:
        if f.kind == "derived" and f.id not in order:
            order.append(f.id)
    derived_refs = [
        i
        for f in facts.items
        if f.kind == "derived" and f.id in order
        for i in (f.rule.get("args") or {}).get("facts", [])
    ]
    for i in derived_refs:
        if i not in order:
            order.append(i)
    new = {old: f"E{n + 1}" for n, old in enumerate(order)}
    by_id = {f.id: f for f in facts.items}
    out_facts = []
    for old in order:
        d = by_id[old].as_dict()
        d["id"] = new[old]
        if d["kind"] == "derived":
            d["rule"] = {
                **d["rule"],
                "args": {**d["rule"].get("args", {}), "facts": [new[i] for i in d["rule"]["args"]["facts"]]},
            }
        out_facts.append(d)
    occ = [Occurrence(new[o.fact], o.offset, o.length) for o in occurrences]
    doc = {
        "schema": SCHEMA,
        "version": VERSION,
        "episode": episode,
        "body_sha256": sha256(body),
        "facts": out_facts,
        "occurrences": [{"fact": o.fact, "offset": o.offset, "length": o.length} for o in occ],
    }
    return doc, occ


def dump_sidecar(doc: dict[str, Any]) -> str:
    """JSON with one fact and one occurrence per line: small, and diffs read per fact."""

    def one(x: Any) -> str:
        return json.dumps(x, ensure_ascii=False, default=str, sort_keys=False)

    head = {k: v for k, v in doc.items() if k not in ("facts", "occurrences")}
    parts = [one(head)[:-1]]
    for key in ("facts", "occurrences"):
        items = ",\n  ".join(one(x) for x in doc.get(key, []))
        parts.append(f', "{key}": [\n  {items}\n]' if items else f', "{key}": []')
    return "".join(parts) + "}\n"


class EvidenceError(ValueError):
    pass


def load_sidecar(path: Path) -> dict[str, Any]:
    """The sidecar, checked for schema and version; EvidenceError with a one-line reason."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvidenceError(f"evidence file {path.name} does not exist") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvidenceError(f"evidence file {path.name} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise EvidenceError(f"evidence file {path.name} is not a {SCHEMA} document")
    if doc.get("version") != VERSION:
        raise EvidenceError(f"evidence file {path.name} has version {doc.get('version')!r}; this muse reads {VERSION}")
    if not isinstance(doc.get("facts"), list) or not isinstance(doc.get("occurrences"), list):
        raise EvidenceError(f"evidence file {path.name} lacks 'facts' or 'occurrences'")
    return doc


def _blank(m: re.Match[str]) -> str:
    return " " * len(m.group(0))


def _scannable(body: str) -> str:
    """The body with code spans, code blocks, indented code and image lines blanked out
    (same length, so offsets still hold). Identifiers live in code and are not claims."""
    out, fenced = [], False
    for line in body.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            fenced = not fenced
            out.append(" " * len(line))
        elif fenced or line.startswith("    ") or stripped.startswith("!["):
            out.append(" " * len(line))
        else:
            out.append(line)
    text = "\n".join(out)
    return _LINK_DEST.sub(_blank, _CODE_SPAN.sub(_blank, text))


def numbers_in(body: str) -> list[tuple[str, int]]:
    """(number text, offset) of every number outside code."""
    return [(m.group(0).rstrip(","), m.start()) for m in NUMBER.finditer(_scannable(body))]


@dataclass
class TraceLine:
    number: str
    offset: int
    line: int  # 1-based line in the body
    fact: dict[str, Any] | None

    @property
    def traced(self) -> bool:
        return self.fact is not None


def trace(body: str, doc: dict[str, Any]) -> list[TraceLine]:
    """Each number occurrence in ``body`` with the fact printed at that place, or None."""
    facts = {f["id"]: f for f in doc.get("facts", []) if isinstance(f, dict)}
    spans: list[tuple[int, int, dict[str, Any]]] = []
    for o in doc.get("occurrences", []):
        try:
            start, length, fact = int(o["offset"]), int(o["length"]), facts.get(o["fact"])
        except (KeyError, TypeError, ValueError):
            continue
        # The span must still hold the fact's display text: an edit before it shifts it away.
        if fact is not None and body[start : start + length] == fact.get("display"):
            spans.append((start, start + length, fact))
    spans.sort(key=lambda s: s[0])
    lines = []
    for number, offset in numbers_in(body):
        hit = next((f for s, e, f in spans if s <= offset and offset + len(number) <= e), None)
        lines.append(TraceLine(number, offset, body.count("\n", 0, offset) + 1, hit))
    return lines
