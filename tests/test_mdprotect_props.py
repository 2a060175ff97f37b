"""Property tests of the protection layer on generated markdown.

1. protect -> identity "translation" (in every encoding) -> apply gives the document back
   byte for byte, for structured episodes and for arbitrary markdown-ish text.
2. protect -> a translation that changes every word (the fake DeepL's) -> apply keeps the
   outline: headings, blocks, code (byte-identical), inline code, links, images, numbers.
"""

from __future__ import annotations

import os
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fake_deepl import fake_words, fake_xml
from muse.translation import mdprotect as mp

TERMS = ("p95", "tokens/s", "q4_K_M", "TL;DR", "Chimera Muse", "banterhearts")
FAST = settings(max_examples=int(os.environ.get("MUSE_PROP_EXAMPLES", "120")), deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- generators -----------------------------------------------------------------------------------

letters = st.text(alphabet=string.ascii_letters + "éüßç中文हिन्दी", min_size=1, max_size=8)
word = st.one_of(letters, letters, st.sampled_from(TERMS))
number = st.one_of(
    st.integers(-5000, 100000).map(str),
    st.floats(0, 1000, allow_nan=False).map(lambda f: f"{f:.2f}"),
    st.integers(0, 100).map(lambda i: f"{i}%"),
    st.integers(1000, 9_999_999).map(lambda i: f"{i:,}"),
    st.integers(1, 500).map(lambda i: f"{i}ms"),
    st.sampled_from(["2026-01-15", "v1.2.3", "p99", "int8", "fp16", "3.2x", "(0.82)", "12.5%."]),
)
code_text = st.text(alphabet=string.ascii_letters + string.digits + " _-.|*[]()<>#!", min_size=1, max_size=12) \
    .filter(lambda s: s.strip() and not s.startswith(" ") and not s.endswith(" "))
url = st.builds(lambda host, path: f"https://{host}.example.com/{path}", letters.filter(str.isascii),
                st.text(alphabet=string.ascii_lowercase + string.digits + "-_/", max_size=10))


def phrase(n: int = 4) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(word, word, number), min_size=1, max_size=n).map(" ".join)


inline_atom = st.one_of(
    phrase(),
    phrase(),
    code_text.map(lambda c: f"`{c}`"),
    st.builds(lambda t, u: f"[{t}]({u})", phrase(3), url),
    st.builds(lambda t, u, title: f'[{t}]({u} "{title}")', phrase(2), url, letters.filter(str.isascii)),
    st.builds(lambda t, p: f"![{t}]({p}.svg)", phrase(2), letters.filter(str.isascii)),
    url.map(lambda u: f"<{u}>"),
    url,
    phrase(2).map(lambda t: f"*{t}*"),
    phrase(2).map(lambda t: f"**{t}**"),
    phrase(2).map(lambda t: f"_{t}_"),
    phrase(2).map(lambda t: f"~~{t}~~"),
    phrase(2).map(lambda t: f"***{t}***"),
    phrase(2).map(lambda t: f"<b>{t}</b>"),
    st.sampled_from(["&amp;", "&#123;", "&copy;", "\\*", "\\[", "\\_", "<br/>", ":", "—", "(", ")", "!", "?",
                     "<!-- note -->", "<ops@example.com>", "foo_bar_baz", "a*b*c"]),
    phrase(2).map(lambda t: f"[{t}][ref]"),
    phrase(1).map(lambda t: f"[{t}]"),
    st.builds(lambda t, u: f"[![{t}](chart.svg)]({u})", phrase(1), url),
    phrase(2).map(lambda t: f"{t}  \n{t}"),
    phrase(2).map(lambda t: f"{t}\\\n{t}"),
)
inline = st.lists(inline_atom, min_size=1, max_size=4).map(" ".join)
paragraph = st.lists(inline, min_size=1, max_size=3).map("\n".join)


def heading() -> st.SearchStrategy[str]:
    atx = st.builds(lambda lvl, t, close: "#" * lvl + " " + t + (" " + "#" * lvl if close else ""),
                    st.integers(1, 6), inline, st.booleans())
    setext = st.builds(lambda t, ch: f"{t}\n{ch * 5}", inline, st.sampled_from("=-"))
    return st.one_of(atx, setext)


fence = st.builds(lambda lang, body: f"```{lang}\n{body}\n```", st.sampled_from(["", "python", "sql", "json"]),
                  st.lists(st.text(alphabet=string.printable.replace("`", "").replace("\r", "")
                                   .replace("\x0b", "").replace("\x0c", ""), max_size=30)
                           .map(lambda s: s.replace("\n", " ")), min_size=1, max_size=3).map("\n".join))
indented = st.lists(code_text, min_size=1, max_size=3).map(lambda ls: "\n".join("    " + x for x in ls))


def cell() -> st.SearchStrategy[str]:
    return st.one_of(phrase(2), number, code_text.filter(lambda c: "|" not in c).map(lambda c: f"`{c}`"))


table = st.builds(
    lambda cols, rows: "\n".join(["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
                                 + ["| " + " | ".join(r[:len(cols)] + ["x"] * (len(cols) - len(r))) + " |"
                                    for r in rows]),
    st.lists(cell(), min_size=1, max_size=4), st.lists(st.lists(cell(), min_size=1, max_size=4), max_size=3))
html_block = st.builds(lambda t: f"<div class=\"note\">\n{t}\n</div>", phrase(3))
hr = st.sampled_from(["---", "***", "___"])


def items(marker: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(st.tuples(marker, paragraph), min_size=1, max_size=3).map(
        lambda its: "\n".join(m + " " + p.replace("\n", "\n" + " " * (len(m) + 1)) for m, p in its))


lists = st.one_of(items(st.sampled_from(["-", "*", "+"])), items(st.sampled_from(["1.", "2.", "10."])))
refdef = st.builds(lambda u: f'[ref]: {u} "Reference"', url)
nested = st.builds(lambda a, b, c: f"- {a}\n  - {b}\n\n    {c}\n- {a}", inline, inline, paragraph.map(
    lambda p: p.replace("\n", "\n    ")))
leaf = st.one_of(paragraph, paragraph, heading(), fence, indented, table, html_block, hr, lists, refdef, nested)
quote = st.lists(st.one_of(paragraph, lists, fence), min_size=1, max_size=2).map(
    lambda bs: "\n".join("> " + line if line else ">" for line in "\n\n".join(bs).split("\n")))
block = st.one_of(leaf, leaf, leaf, quote)
body = st.lists(block, min_size=1, max_size=5).map(lambda bs: "\n\n".join(bs) + "\n")
front = st.builds(lambda title, summary, ep: (
    f"---\ntitle: {mp._yaml_scalar(title)}\nepisode: {ep}\ndate: '2026-01-15'\nlang: en\nstatus: published\n"
    f"summary: {mp._yaml_scalar(summary)}\nconfidence: 0.82\n---\n\n"), phrase(5), phrase(8), st.integers(1, 999))
document = st.builds(lambda fm, b: fm + b, st.one_of(front, st.just("")), body)

# Arbitrary text over markdown's special characters: the parser's odd corners.
chaos = st.text(alphabet=string.ascii_letters[:6] + string.digits[:3] + " \n\t*_`[]()<>!#\\|~&-+.:>=\"'", max_size=120)


# -- properties -----------------------------------------------------------------------------------------


def _round_trips(doc: str) -> mp.Protected:
    p = mp.protect(doc, terms=TERMS)
    assert mp.apply(p, [u.content for u in p.units]) == doc
    xml = [mp.to_xml(u) for u in p.units]
    assert mp.apply(p, [mp.from_xml(u, x) if x is not None else None for u, x in zip(p.units, xml)]) == doc
    opaque = [mp.to_opaque(u) for u in p.units]
    assert mp.apply(p, [mp.from_opaque(u, o) if o is not None else None for u, o in zip(p.units, opaque)]) == doc
    assert mp.apply(p, [mp.from_segments(u, mp.segments(u)) for u in p.units]) == doc
    return p


@FAST
@given(document)
def test_identity_round_trip_of_episodes(doc: str) -> None:
    p = _round_trips(doc)
    # Generated episodes use no tabs or escaped pipes: every unit must be mapped.
    assert not p.kept_verbatim, p.kept_verbatim


@FAST
@given(chaos)
def test_identity_round_trip_of_arbitrary_text(doc: str) -> None:
    _round_trips(doc)


def _outline(doc: str) -> tuple:
    fm = mp.split_front_matter(doc)
    o = mp.outline(doc[fm[2]:] if fm else doc)
    return o.blocks, o.headings, o.code, o.html, o.links, o.images


def _translated(p: mp.Protected, mode: str) -> str:
    out = []
    for u in p.units:
        if mode == "xml" and (x := mp.to_xml(u)) is not None:
            out.append(mp.from_xml(u, fake_xml(x, "DE", {mp.IGNORE_TAG})))
        elif mode == "opaque" and (o := mp.to_opaque(u)) is not None:
            out.append(mp.from_opaque(u, fake_words(o, "HI")))
        else:
            out.append(mp.from_segments(u, [fake_words(s, "HI") for s in mp.segments(u)]))
    return mp.apply(p, out, lang="de")


@FAST
@given(document, st.sampled_from(["xml", "opaque", "segments"]))
def test_translation_keeps_structure_code_links_and_numbers(doc: str, mode: str) -> None:
    p = mp.protect(doc, terms=TERMS)
    out = _translated(p, mode)
    assert _outline(out) == _outline(doc)
    src_numbers = mp.numbers(mp.outline(doc).text)
    for n in src_numbers:
        assert n in out, n
    # Something did change wherever the source had human words.
    if any(u.translatable for u in p.units):
        assert out != doc


@FAST
@given(chaos, st.sampled_from(["xml", "opaque", "segments"]))
def test_translation_of_arbitrary_text_keeps_code_and_links(doc: str, mode: str) -> None:
    p = mp.protect(doc)
    out = _translated(p, mode)
    src, new = _outline(doc), _outline(out)
    assert new[2:] == src[2:]  # code, HTML, links, images
