"""Is a translated episode faithful to its English source? (`muse i18n verify`, and the
gate the i18n agent passes every translation through before it writes the file.)

Checks, each pass/fail with a one-line detail:

* ``file``: the translation exists;
* ``front_matter``: it parses, its ``lang`` is the target language, and every key but
  the translated ones (title, summary) and ``lang`` has the source's value;
* ``headings``: the same heading levels in the same order, so the same section count;
* ``structure``: the same sequence of markdown blocks (lists, tables, quotes, ...);
* ``code``: fenced/indented code and HTML blocks byte-identical, inline code identical;
* ``markup``: rendered as the blog does (CommonMark + tables, :mod:`muse.publishing.htmlcheck`), no
  unit carries a raw HTML tag or tag-like text (``&lt;img onerror&gt;``) that the same unit
  of the source lacks; the title and summary carry none the source's lack;
* ``numbers``: every number of the source's human text appears in the translation;
* ``links``: link destinations and image paths identical;
* ``glossary``: every glossary term of the source appears in the translation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from muse import episode as epfmt
from muse.translation import mdprotect

POSTS_I18N = "posts_i18n"
CHECKS: tuple[str, ...] = (
    "file",
    "front_matter",
    "headings",
    "structure",
    "code",
    "markup",
    "numbers",
    "links",
    "glossary",
)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


def translation_relpath(lang: str, episode: int) -> str:
    return f"{POSTS_I18N}/{lang}/{epfmt.post_name(episode)}"


def source_relpath(posts_dir: str, episode: int) -> str:
    return f"{posts_dir.strip('/')}/{epfmt.post_name(episode)}"


def _inline_code(body: str) -> list[str]:
    md = mdprotect.markdown()
    out = []
    for tok in md.parse(body):
        for c in tok.children or []:
            if c.type == "code_inline":
                out.append(c.content)
    return sorted(out)


def _human_text(doc: epfmt.EpisodeDoc, outline: mdprotect.Outline) -> str:
    fm = "\n".join(str(doc.front_matter.get(k, "")) for k in mdprotect.TRANSLATABLE_FRONT_MATTER)
    return fm + "\n" + outline.text


def _first_diff(a: Sequence[Any], b: Sequence[Any]) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"item {i + 1}: {str(x)[:60]!r} became {str(y)[:60]!r}"
    return f"{len(a)} in the source, {len(b)} in the translation"


def check_translation(source: str, translated: str, *, lang: str, terms: Sequence[str] = ()) -> list[Check]:
    """Compare a translation with its source; every check of CHECKS after ``file``."""
    try:
        src = epfmt.parse(source)
    except epfmt.EpisodeFormatError as exc:
        raise ValueError(f"the English source does not parse: {exc}") from None
    try:
        tr = epfmt.parse(translated)
    except epfmt.EpisodeFormatError as exc:
        return [Check("front_matter", False, str(exc))] + [
            Check(n, False, "front-matter does not parse") for n in CHECKS[2:]
        ]
    so, to = mdprotect.outline(src.body), mdprotect.outline(tr.body)
    src_text, tr_text = _human_text(src, so), _human_text(tr, to)
    return [
        _front_matter_check(src, tr, lang),
        _headings_check(so, to),
        _structure_check(so, to),
        _code_check(src, tr, so, to),
        _markup_check(src, tr),
        _numbers_check(src_text, tr_text),
        _links_check(so, to),
        _glossary_check(src_text, tr_text, terms),
    ]


def _front_matter_check(src: epfmt.EpisodeDoc, tr: epfmt.EpisodeDoc, lang: str) -> Check:
    """``lang`` is the target; every other key but the translated ones kept, none added."""
    changed = [
        k
        for k in src.front_matter
        if k not in mdprotect.TRANSLATABLE_FRONT_MATTER
        and k != "lang"
        and tr.front_matter.get(k) != src.front_matter[k]
    ]
    extra = [k for k in tr.front_matter if k not in src.front_matter]
    if tr.front_matter.get("lang") != lang:
        return Check("front_matter", False, f"lang is {tr.front_matter.get('lang')!r}, expected {lang!r}")
    if changed or extra:
        return Check("front_matter", False, "changed: " + ", ".join(changed + [f"+{k}" for k in extra]))
    return Check("front_matter", True, f"{len(tr.front_matter)} keys")


def _headings_check(so: mdprotect.Outline, to: mdprotect.Outline) -> Check:
    if so.headings == to.headings:
        return Check("headings", True, f"{len(so.headings)} headings, {so.sections} sections")
    return Check(
        "headings",
        False,
        f"levels {so.headings} became {to.headings} ({so.sections} sections vs {to.sections})",
    )


def _structure_check(so: mdprotect.Outline, to: mdprotect.Outline) -> Check:
    return Check(
        "structure",
        so.blocks == to.blocks,
        f"{len(so.blocks)} blocks" if so.blocks == to.blocks else _first_diff(so.blocks, to.blocks),
    )


def _code_check(src: epfmt.EpisodeDoc, tr: epfmt.EpisodeDoc, so: mdprotect.Outline, to: mdprotect.Outline) -> Check:
    """Code blocks, HTML blocks and inline code spans byte-identical."""
    code_src = (so.code, so.html, _inline_code(src.body))
    code_tr = (to.code, to.html, _inline_code(tr.body))
    if code_src == code_tr:
        return Check("code", True, f"{len(so.code)} blocks, {len(code_src[2])} inline spans identical")
    which = [n for n, a, b in zip(("code blocks", "HTML blocks", "inline code"), code_src, code_tr) if a != b]
    a, b = next((x, y) for x, y in zip(code_src, code_tr) if x != y)
    return Check("code", False, f"{', '.join(which)} differ: {_first_diff(a, b)}")


def _markup_check(src: epfmt.EpisodeDoc, tr: epfmt.EpisodeDoc) -> Check:
    """No raw HTML tag in the body, title or summary that the source lacks there."""
    from muse.publishing import htmlcheck

    added = htmlcheck.added_markup(src.body, tr.body)
    for key in mdprotect.TRANSLATABLE_FRONT_MATTER:
        added += htmlcheck.added_markup(str(src.front_matter.get(key, "")), str(tr.front_matter.get(key, "")))
    if added:
        first = added[0]
        return Check(
            "markup",
            False,
            f"{len(added)} tag(s) the source does not have: "
            f"{htmlcheck.describe(added)} (first near body line {first.line + 1})",
        )
    return Check("markup", True, f"{len(htmlcheck.raw_html(tr.body))} raw tags, as in the source")


def _numbers_check(src_text: str, tr_text: str) -> Check:
    """Every number of the source's human text, as often, in the translation's."""
    return _kept("numbers", Counter(mdprotect.numbers(src_text)), tr_text, "numbers")


def _kept(name: str, wanted: Counter[str], text: str, what: str) -> Check:
    """Each item of ``wanted`` occurs in ``text`` at least as often as it is wanted."""
    missing = [item for item, k in wanted.items() if text.count(item) < k]
    return Check(
        name,
        not missing,
        f"{sum(wanted.values())} {what} present"
        if not missing
        else f"missing {len(missing)}: {', '.join(missing[:8])}",
    )


def _links_check(so: mdprotect.Outline, to: mdprotect.Outline) -> Check:
    if so.links == to.links and so.images == to.images:
        return Check("links", True, f"{len(so.links)} links, {len(so.images)} images identical")
    kind = "links" if so.links != to.links else "images"
    a, b = (so.links, to.links) if kind == "links" else (so.images, to.images)
    return Check("links", False, f"{kind} differ: {_first_diff(a, b)}")


def _glossary_check(src_text: str, tr_text: str, terms: Sequence[str]) -> Check:
    """Every use of a glossary term in the source, as often, in the translation (any case)."""
    found = Counter(src_text[a:b].casefold() for a, b in mdprotect.find_terms(src_text, terms))
    return _kept("glossary", found, tr_text.casefold(), "term uses")


def verify_files(
    repo: Path, posts_dir: str, episode: int, langs: Sequence[str], *, terms: Sequence[str] = ()
) -> dict[str, list[Check]]:
    """Check every language's translation of one episode in a blog checkout."""
    src_path = repo / source_relpath(posts_dir, episode)
    try:
        source = src_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        from muse.errors import InputError

        raise InputError(f"episode {episode}: English source {src_path} does not exist") from None
    out: dict[str, list[Check]] = {}
    for lang in langs:
        path = repo / translation_relpath(lang, episode)
        if not path.is_file():
            out[lang] = [Check("file", False, f"{path} does not exist")]
            continue
        checks = [Check("file", True, str(path.relative_to(repo)))]
        checks += check_translation(source, path.read_text(encoding="utf-8"), lang=lang, terms=terms)
        out[lang] = checks
    return out
