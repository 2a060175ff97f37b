"""The episode validator: nothing invalid is ever committed to the blog repo.

Checks one episode file against the format in :mod:`muse.episode`:

* the YAML front-matter parses and has every ``REQUIRED_FRONT_MATTER`` field, with sane
  types (episode number, confidence in [0, 1], a known status, a title);
* the five ``REQUIRED_SECTIONS`` are present once each and in order, followed by the
  ``TRAILING_SECTIONS``;
* no unrendered template markers (``{{ }}``, ``{% %}``) outside code;
* every relative link and image (the chart ``ep-{n}.svg`` among them) points at a file
  that exists inside the blog repo, and the chart is referenced;
* no raw HTML (inline or block) as the blog's CommonMark + tables parser sees it
  (:mod:`muse.publishing.htmlcheck`): the episode template writes none;
* when the front-matter names an ``evidence`` sidecar (every episode the council writes),
  every number in the body was printed there by one of its facts (the check of
  ``muse council trace``); the sidecar is linked from the Evidence section, so it is one of
  the assets committed with the post.

Each problem is a :class:`Finding` naming file, line and what is wrong, so a report lists
them one per line. The publisher uses it before every commit; i18n may reuse it with its
own section titles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import unquote

from muse.episode import (
    REQUIRED_FRONT_MATTER,
    REQUIRED_SECTIONS,
    STATUSES,
    TRAILING_SECTIONS,
    EpisodeFormatError,
    chart_name,
    parse,
    section_titles,
)

_TEMPLATE_MARKER = re.compile(r"\{\{|\}\}|\{%|%\}")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:")
_HTML_REF = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_EPISODE_FILE = re.compile(r"^ep-(\d+)\.md$")


@dataclass(frozen=True)
class Finding:
    """One problem: where (file, 1-based line; 0 = the whole file) and what."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


@dataclass
class ValidationReport:
    path: Path
    findings: list[Finding] = field(default_factory=list)
    # Local files the episode references (the chart, other images), for committing with it.
    assets: list[Path] = field(default_factory=list)
    front_matter: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings

    def lines(self) -> list[str]:
        return [str(f) for f in self.findings]


def _display(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


def _link_targets(body: str) -> list[tuple[str, str, int]]:
    """(kind, target, 0-based body line) for every link and image, as the shared parser
    (muse.markdown) sees them: in paragraphs, headings and table cells alike."""
    from muse.markdown import parser

    tokens = parser().parse(body)
    lines = body.splitlines()
    out: list[tuple[str, str, int]] = []

    def line_of(target: str, span: list[int] | None) -> int:
        if not span:
            return 0
        for i in range(span[0], min(span[1], len(lines))):
            if target in lines[i]:
                return i
        return span[0]

    for tok in tokens:
        if tok.type == "inline":
            for child in tok.children or []:
                if child.type == "image":
                    src = str(child.attrGet("src") or "")
                    out.append(("image", src, line_of(src, tok.map)))
                elif child.type == "link_open":
                    href = str(child.attrGet("href") or "")
                    out.append(("link", href, line_of(href, tok.map)))
                elif child.type == "html_inline":
                    for m in _HTML_REF.finditer(child.content):
                        out.append(("html", m.group(1), line_of(m.group(1), tok.map)))
        elif tok.type == "html_block":
            for m in _HTML_REF.finditer(tok.content):
                out.append(("html", m.group(1), line_of(m.group(1), tok.map)))
    return out


def _is_local(target: str) -> bool:
    """Relative file references only: no scheme, no protocol-relative, no anchor, no root path."""
    return bool(target) and not (_SCHEME.match(target) or target.startswith(("#", "/", "?")))


def validate_text(
    text: str,
    *,
    path: Path,
    repo_root: Path | None = None,
    episode: int | None = None,
    sections: Sequence[str] = REQUIRED_SECTIONS,
    trailing: Sequence[str] = TRAILING_SECTIONS,
    required_front_matter: Sequence[str] = REQUIRED_FRONT_MATTER,
    require_chart: bool = True,
) -> ValidationReport:
    """Validate episode markdown whose links resolve relative to ``path``'s folder."""
    name = _display(path, repo_root)
    report = ValidationReport(path)
    add = lambda line, msg: report.findings.append(Finding(name, line, msg))  # noqa: E731

    if episode is None:
        m = _EPISODE_FILE.match(path.name)
        episode = int(m.group(1)) if m else None

    try:
        doc = parse(text)
    except EpisodeFormatError as exc:
        add(1, str(exc))
        return report
    fm = doc.front_matter
    report.front_matter = fm
    body = doc.body
    offset = text[: len(text) - len(body)].count("\n")  # lines before the body starts

    _check_front_matter(fm, episode, required_front_matter, add)
    _check_sections(body, [*sections, *trailing], add)

    # Template markers (front-matter text and body, outside code) -----------------------
    from muse.markdown import without_code

    lines = [*text[: len(text) - len(body)].split("\n")[:offset], *without_code(body).split("\n")]
    for i, line in enumerate(lines):
        m = _TEMPLATE_MARKER.search(line)
        if m:
            add(i + 1, f"unrendered template marker {m.group(0)!r}")

    _check_raw_html(body, offset, add)
    # Numbers bound to facts (episodes the council wrote carry front-matter `evidence`) ------
    if isinstance(fm.get("evidence"), str):
        _check_evidence(fm["evidence"], body, path=path, offset=offset, add=add)
    _check_links(
        report,
        body,
        path=path,
        repo_root=repo_root,
        offset=offset,
        chart=chart_name(episode) if episode is not None and require_chart else None,
        add=add,
    )
    # Whole-file findings first, then by line: the order a reader fixes them in.
    report.findings.sort(key=lambda f: f.line)
    return report


def _check_front_matter(fm: dict[str, Any], episode: int | None, required: Sequence[str], add: Any) -> None:
    """Required fields present, and title, episode, confidence and status well-formed."""
    for key in required:
        if key not in fm:
            add(1, f"front-matter lacks required field {key!r}")
    if "title" in fm and (not isinstance(fm["title"], str) or not fm["title"].strip()):
        add(1, "front-matter field 'title' must be a non-empty string")
    if "episode" in fm:
        if not isinstance(fm["episode"], int) or isinstance(fm["episode"], bool):
            add(1, f"front-matter field 'episode' must be an integer, got {fm['episode']!r}")
        elif episode is not None and fm["episode"] != episode:
            add(1, f"front-matter says episode {fm['episode']}, but this is episode {episode}")
    if "confidence" in fm:
        c = fm["confidence"]
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 <= c <= 1:
            add(1, f"front-matter field 'confidence' must be a number in [0, 1], got {c!r}")
    if "status" in fm and fm["status"] not in STATUSES:
        add(1, f"front-matter field 'status' must be one of {', '.join(STATUSES)}, got {fm['status']!r}")


def _check_sections(body: str, expected: Sequence[str], add: Any) -> None:
    """Every expected section once, in order."""
    titles = section_titles(body)
    for title in expected:
        count = titles.count(title)
        if count == 0:
            add(0, f"missing section '## {title}'")
        elif count > 1:
            add(0, f"section '## {title}' appears {count} times")
    present = [t for t in titles if t in expected]
    firsts = list(dict.fromkeys(present))
    if firsts != [t for t in expected if t in firsts]:
        add(0, f"sections out of order: expected {' / '.join(expected)}; found {' / '.join(firsts)}")


def _check_raw_html(body: str, offset: int, add: Any) -> None:
    """Raw HTML: muse's episode template writes none, so any tag the blog's parser finds
    came from a data- or provider-derived string that reached the markdown unescaped."""
    from muse.publishing.htmlcheck import raw_html

    for m in raw_html(body):
        if m.tag.startswith("</"):
            continue  # the opening tag is reported
        add(
            offset + m.line + 1,
            f"raw HTML {m.tag} in the body: muse writes no HTML, so a string from the data or a "
            f"provider reached the markdown unescaped",
        )


def _check_links(
    report: ValidationReport, body: str, *, path: Path, repo_root: Path | None, offset: int, chart: str | None, add: Any
) -> None:
    """Relative links and images resolve to files inside the blog repo (collected as the
    post's assets); ``chart``, when given, is referenced by an image."""
    base = path.parent
    root = repo_root.resolve() if repo_root is not None else None
    chart_referenced = False
    seen: set[Path] = set()
    for kind, target, body_line in _link_targets(body):
        if not _is_local(target):
            continue
        rel = unquote(target.split("#", 1)[0].split("?", 1)[0])
        if not rel:
            continue
        line = offset + body_line + 1
        resolved = (base / rel).resolve()
        if root is not None and not resolved.is_relative_to(root):
            add(line, f"{kind} {target!r} points outside the blog repo")
            continue
        if kind in ("image", "html") and chart and resolved.name == chart and resolved.parent == base.resolve():
            chart_referenced = True  # (a missing chart is reported once, as a broken image)
        if not resolved.exists():
            add(line, f"broken relative {kind} {target!r}: no file {_display(resolved, repo_root)}")
            continue
        if resolved.is_file() and resolved not in seen:
            seen.add(resolved)
            report.assets.append(resolved)
    if chart and not chart_referenced:
        add(0, f"the chart {chart} is not referenced by an image link")


def _check_evidence(name: str, body: str, *, path: Path, offset: int, add: Any) -> None:
    """The same check as `muse council trace`: every number in the body was printed by a fact
    of the sidecar, at that place."""
    from muse.analysis.evidence import EvidenceError, load_sidecar, trace

    if "/" in name or "\\" in name or not name.endswith(".evidence.json"):
        add(1, f"front-matter field 'evidence' must name a sidecar file beside the post, got {name!r}")
        return
    try:
        doc = load_sidecar(path.parent / name)
    except EvidenceError as exc:
        add(1, str(exc))
        return
    for t in trace(body, doc):
        if not t.traced:
            add(offset + t.line, f"number {t.number!r} was not produced by any fact of {name} (untraced)")


def validate_file(
    path: Path, *, repo_root: Path | None = None, episode: int | None = None, **options: Any
) -> ValidationReport:
    """Validate the episode file at ``path`` (see :func:`validate_text`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        report = ValidationReport(path)
        report.findings.append(Finding(_display(path, repo_root), 0, "file does not exist"))
        return report
    except UnicodeDecodeError as exc:
        report = ValidationReport(path)
        report.findings.append(Finding(_display(path, repo_root), 0, f"not UTF-8 text (byte {exc.start})"))
        return report
    return validate_text(text, path=path, repo_root=repo_root, episode=episode, **options)
