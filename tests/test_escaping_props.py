"""Property tests of muse.escaping: whatever a data string holds, each context stays intact.

Rendered with the CommonMark + tables parser the blog uses (markdown-it), YAML with the safe
loader, SVG with an XML parser."""

from __future__ import annotations

from xml.etree import ElementTree

from hypothesis import example, given, settings, strategies as st
from markdown_it import MarkdownIt

from muse import escaping as esc
from muse.episode import render as render_episode
from muse.templating import render

MD = MarkdownIt("commonmark").enable("table")

HOSTILE_PARTS = ["|", "`", "``", "<", ">", "&", "&amp;", "{{", "}}", "{%", "%}", "{#", "\n", "\r\n", "\x1b[31m",
                 "\u202e", "\u200f", "\u2066", "\\", "\\|", "*", "_", "[", "](", ")", "#", "## ", "<img src=x onerror=1>",
                 "<script>", "</td>", "---", "!", "\ue000", "\ue001", "\ue002", "\t", "\x00", "\x7f", "é", "😀"]
hostile = st.lists(st.one_of(st.sampled_from(HOSTILE_PARTS), st.text(max_size=8)), max_size=12).map("".join)
long_hostile = st.one_of(hostile, st.builds(lambda s, n: s * n, hostile, st.integers(1, 80)))


def _raw_html(tokens: list) -> list:
    out = []
    for t in tokens:
        if t.type == "html_block":
            out.append(t)
        for c in t.children or []:
            if c.type == "html_inline":
                out.append(c)
    return out


def _inline_texts(tokens: list) -> str:
    return "".join(c.content for t in tokens for c in (t.children or []) if c.type in ("text", "code_inline"))


@settings(max_examples=300, deadline=None)
@given(long_hostile)
@example("x`|<img src=x onerror=alert(1)>")
@example("{{ boom }}")
def test_table_cells_keep_their_columns_and_show_the_text(value: str) -> None:
    row = f"| {esc.md_cell_code(value)} | {esc.md_cell(value)} | end |"
    tokens = MD.parse(f"| a | b | c |\n|---|---|---|\n{row}\n")
    cells = [t for t in tokens if t.type == "td_open"]
    assert len(cells) == 3
    assert _raw_html(tokens) == []
    inline = [t for t in tokens if t.type == "inline"]
    assert inline[-1].content == "end"
    shown = esc.clean(value)
    # The code cell shows the cleaned text itself (template markers split), nothing else.
    code = [c.content for c in inline[3].children or [] if c.type == "code_inline"]
    assert len(code) == 1 and code[0].strip() == esc._defuse(shown).strip()


@settings(max_examples=300, deadline=None)
@given(long_hostile)
def test_code_span_text_and_heading_render_as_one_inline_without_html(value: str) -> None:
    doc = f"## Title {esc.md_heading(value)}\n\nA {esc.md_code(value)} b {esc.md_text(value)} " \
          f"[{esc.md_link_text(value)}](ep-1.svg) end.\n"
    tokens = MD.parse(doc)
    assert _raw_html(tokens) == []
    kinds = [t.type for t in tokens]
    assert kinds == ["heading_open", "inline", "heading_close", "paragraph_open", "inline", "paragraph_close"]
    para = tokens[4].children or []
    assert [c.type for c in para].count("code_inline") == 1
    assert [c.type for c in para].count("link_open") == 1
    assert para[-1].type == "text" and para[-1].content.endswith("end.")
    # What a reader sees is the cleaned text; no markup from the data survives as markup.
    assert "\x1b" not in _inline_texts(tokens) and "\u202e" not in _inline_texts(tokens)
    html = MD.render(doc)
    assert "<img" not in html and "<script" not in html


@settings(max_examples=200, deadline=None)
@given(long_hostile)
def test_no_template_markers_no_invisible_or_control_characters(value: str) -> None:
    for fn in (esc.md_text, esc.md_label, esc.md_code, esc.md_cell_code, esc.yaml_text, esc.svg_text):
        out = fn(value)
        stripped = out
        for marker in ("{{", "}}", "{%", "%}", "{#"):
            assert marker not in stripped, (fn.__name__, out)
        assert "\n" not in out and "\r" not in out
        assert not any(ord(ch) < 32 or 0x7f <= ord(ch) <= 0x9f for ch in out)
        assert not any(0xE000 <= ord(ch) <= 0xF8FF for ch in out)  # cannot forge a fact marker
        assert not any(ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f" for ch in out)
        assert len(out) <= 2 * esc.MAX_LEN * 2 + 8  # long strings are cut


@settings(max_examples=200, deadline=None)
@given(long_hostile)
def test_front_matter_round_trips_and_carries_no_markup(value: str) -> None:
    from muse.episode import parse

    text = render_episode({"title": esc.yaml_text(value), "summary": esc.yaml_text(value * 3), "episode": 1},
                          "## TL;DR\n")
    doc = parse(text)
    fm = doc.front_matter
    assert doc.body.strip() == "## TL;DR" and fm["summary"] == esc.yaml_text(value * 3)
    assert fm["title"] == esc.yaml_text(value) and fm["episode"] == 1
    assert not set("<>`") & set(fm["title"])


@settings(max_examples=150, deadline=None)
@given(long_hostile)
def test_svg_text_is_well_formed_xml_showing_the_text(value: str) -> None:
    panel = {"y0": 50, "h": 100, "ticks": [], "labels": [{"x": 1, "text": esc.svg_text(value)}], "zero": 10,
             "mark": None, "title": esc.svg_text(value),
             "lines": [{"name": esc.svg_text(value), "color": "#c0392b", "points": "", "dots": []}]}
    svg = render("chart.svg.j2", width=100, height=100, left=10, plot_w=80, episode=1, panels=[panel])
    root = ElementTree.fromstring(svg)
    texts = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert esc.svg_text(value) in texts
    assert not [el for el in root.iter() if el.tag.split("}")[1] not in ("svg", "title", "rect", "text", "line",
                                                                         "polyline", "circle")]


@settings(max_examples=200, deadline=None)
@given(long_hostile)
def test_a_label_never_puts_a_digit_in_prose(value: str) -> None:
    from muse.analysis.evidence import numbers_in

    doc = f"A {esc.md_label(value)} b.\n"
    assert numbers_in(doc) == []
    assert _raw_html(MD.parse(doc)) == []
