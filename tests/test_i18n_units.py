"""The translation engine, glossaries, translation checks and protection examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from fake_deepl import KEY, FakeDeepL
from i18n_fixtures import english_episode
from muse.translation import mdprotect as mp
from muse.errors import UsageError
from muse.translation.glossary import Glossary, load
from muse.translation.i18n_check import check_translation
from muse.translation.languages import LANGS, resolve_langs
from muse.translation.translate import Translator, make_client


@pytest.fixture
def deepl() -> Iterator[FakeDeepL]:
    fake = FakeDeepL()
    yield fake
    fake.close()


TRANSLATED = {"DE": {"users": "Nutzer", "suite": "Testreihe"}, "ZH": {"users": "用户"}}


def _translator(deepl: FakeDeepL, terms: tuple[str, ...] = ("p95", "tokens/s", "banterhearts"),
                translations: dict[str, dict[str, str]] | None = None) -> Translator:
    from muse.config import load_settings

    s = load_settings(env={"DEEPL_AUTH_KEY": KEY, "DEEPL_SERVER_URL": deepl.url, "XDG_DATA_HOME": "/nonexistent"})
    return Translator(make_client(s), Glossary(Path("glossary.yaml"), terms, (),
                                               TRANSLATED if translations is None else translations))


def _posts(deepl: FakeDeepL) -> int:
    return len(deepl.requests_to("/v2/glossaries", "POST"))


# -- languages ---------------------------------------------------------------------------------


def test_language_table_maps_muse_codes_to_deepl_explicitly() -> None:
    assert [(s.code, s.deepl, s.glossary_lang, s.tag_handling) for s in resolve_langs("de, zh,hi")] == [
        ("de", "DE", "DE", True), ("zh", "ZH-HANS", "ZH", True), ("hi", "HI", "HI", False)]
    assert LANGS["pt-br"].deepl == "PT-BR" and LANGS["zh-hant"].deepl == "ZH-HANT"
    with pytest.raises(UsageError, match="unknown language.*xx.*known: de, es"):
        resolve_langs("de,xx")


# -- glossaries ----------------------------------------------------------------------------------


def test_glossary_is_created_once_per_pair_and_reused_by_name_and_content(deepl: FakeDeepL) -> None:
    doc = english_episode(12)
    t = _translator(deepl)
    t.translate(doc, LANGS["de"])
    t.translate(doc, LANGS["zh"])
    t.translate(doc, LANGS["hi"])
    assert _posts(deepl) == 2  # DE and ZH; DeepL has no EN->HI glossary
    # Only the terms really translated, with the lower-case codes DeepL's specification lists.
    assert [(r.json()["source_lang"], r.json()["target_lang"]) for r in deepl.requests_to("/v2/glossaries", "POST")] \
        == [("en", "de"), ("en", "zh")]
    created = {g["target_lang"]: g for g in deepl.glossaries.values()}
    assert created["ZH"]["entries"] == {"users": "用户"}
    assert created["DE"]["name"].startswith("muse-en-de-")
    # The next run (a new client) finds them by name and content: nothing is created.
    t2 = _translator(deepl)
    r = t2.translate(doc, LANGS["de"])
    assert _posts(deepl) == 2 and r.glossary_id == created["DE"]["glossary_id"]
    assert deepl.translate_bodies("DE")[-1]["glossary_id"] == created["DE"]["glossary_id"]
    assert "de·Nutzer" not in r.text and "Nutzer" in r.text  # DeepL applied the glossary


def test_without_translated_terms_no_glossary_is_made(deepl: FakeDeepL) -> None:
    r = _translator(deepl, translations={}).translate(english_episode(12), LANGS["de"])
    assert _posts(deepl) == 0 and r.glossary_id is None and "glossary_id" not in deepl.translate_bodies("DE")[0]


def test_changed_terms_make_a_new_glossary_and_delete_the_old_one(deepl: FakeDeepL) -> None:
    _translator(deepl).glossary_for(LANGS["de"])
    old = next(iter(deepl.glossaries))
    gid = _translator(deepl, translations={"DE": {"users": "Benutzer"}}).glossary_for(LANGS["de"])
    assert gid != old and list(deepl.glossaries) == [gid]
    assert deepl.glossaries[gid]["entries"] == {"users": "Benutzer"}


def test_a_glossary_with_our_name_but_other_content_is_replaced(deepl: FakeDeepL) -> None:
    t = _translator(deepl)
    gid = t.glossary_for(LANGS["de"])
    deepl.glossaries[gid]["entries"] = {"users": "Leute", "suite": "Testreihe"}
    new = _translator(deepl).glossary_for(LANGS["de"])
    assert new != gid and gid not in deepl.glossaries
    assert deepl.glossaries[new]["entries"]["users"] == "Nutzer"


def test_verbatim_terms_are_protected_in_the_text_for_every_language(deepl: FakeDeepL) -> None:
    """DeepL flexes glossary entries ('tokens/s' -> 'Token/s' in German): a term kept
    verbatim never reaches it as text, glossary or not."""
    t = _translator(deepl)
    source = english_episode(12)
    for lang in ("de", "zh", "hi"):
        r = t.translate(source, LANGS[lang])
        assert r.glossary_id or lang == "hi"  # German and Chinese go with a glossary of translated terms
        assert "*banterhearts*" in r.text and "tokens/s" in r.text and "Token/s" not in r.text
        assert all(c.ok for c in check_translation(source, r.text, lang=lang, terms=t.glossary.terms)), lang


def test_a_glossary_term_deepl_changed_falls_back_once_to_protected_mode(deepl: FakeDeepL) -> None:
    deepl.flex["DE"]["users"] = "Nutzern"  # DeepL declines the entry: the glossary form is not in the answer
    t = _translator(deepl, translations={"DE": {"users": "Benutzer"}})
    r = t.translate(english_episode(12), LANGS["de"])
    assert r.glossary_fallback == ["users"]
    bodies = deepl.translate_bodies("DE")
    assert len(bodies) == 2 and "glossary_id" in bodies[0] and "glossary_id" not in bodies[1]
    assert "users" in r.text and "de·users" not in r.text  # kept verbatim the second time
    assert r.billed_characters == sum(len(x) for b in bodies for x in b["text"])


def test_markup_dropped_by_deepl_is_resent_as_segments(deepl: FakeDeepL) -> None:
    deepl.drop_markup.add("DE")
    source = english_episode(12)
    r = _translator(deepl).translate(source, LANGS["de"])
    assert r.segment_fallbacks  # the units whose answer lost a tag
    assert all(c.ok for c in check_translation(source, r.text, lang="de", terms=("p95", "tokens/s", "banterhearts")))


def test_units_are_batched_within_deepls_limits(deepl: FakeDeepL) -> None:
    doc = "---\ntitle: Many\nlang: en\n---\n\n" + "\n\n".join(f"Paragraph number {i} is here." for i in range(120))
    r = _translator(deepl).translate(doc, LANGS["de"])
    assert [len(b["text"]) for b in deepl.translate_bodies("DE")] == [50, 50, 21]
    assert r.text.count("de·Paragraph de·number") == 120


def test_glossary_file_rejects_bad_entries_one_by_one(tmp_path: Path) -> None:
    f = tmp_path / "glossary.yaml"
    f.write_text("terms:\n  - p95\n  - 'tab\there'\n  - 42\n  - P95\n  - ''\n  - tokens/s\n")
    g = load(f)
    assert g.terms == ("p95", "tokens/s")
    assert g.rejected == (
        f"{f}: terms[1] ('tab\\there'): holds a tab, line break or control character; entry skipped",
        f"{f}: terms[2] (42): expected a string, got int; entry skipped",
        f"{f}: terms[3] ('P95'): duplicate term; entry skipped",
        f"{f}: terms[4] (''): empty term; entry skipped",
    )


def test_shipped_glossary_is_valid() -> None:
    from muse.translation.glossary import default_path

    g = load(default_path())
    assert not g.rejected and {"p95", "p50", "p99", "tokens/s", "q4_K_M", "int8", "fp16"} <= set(g.terms)


# -- checks ----------------------------------------------------------------------------------------


def _good(lang: str = "de") -> str:
    from fake_deepl import FakeDeepL as _F  # noqa: F401 - the fake's translation, without a server
    from fake_deepl import fake_words

    p = mp.protect(english_episode(12), terms=("p95",))
    return mp.apply(p, [mp.from_segments(u, [fake_words(s, lang.upper()) for s in mp.segments(u)])
                        for u in p.units], lang=lang)


@pytest.mark.parametrize("change, check, detail", [
    (lambda t: t.replace("lang: de", "lang: en"), "front_matter", "lang is 'en', expected 'de'"),
    (lambda t: t.replace("confidence: 0.82", "confidence: 0.9"), "front_matter", "changed: confidence"),
    (lambda t: t.replace("## de·Why de·it de·matters", "### de·Why de·it de·matters"), "headings",
     "levels [2, 2, 2, 2, 2, 2, 2] became [2, 2, 2, 2, 3, 2, 2] (7 sections vs 6)"),
    (lambda t: t.replace("quantile(0.95)", "quantile(0.99)"), "code", "code blocks differ"),
    (lambda t: t.replace("`77be01d`", "`77be01e`"), "code", "inline code differ"),
    (lambda t: t.replace("4,210", "4.210"), "numbers", "missing 1: 4,210"),
    (lambda t: t.replace("https://blog.example.com/setup", "https://blog.example.com/einrichtung"), "links",
     "links differ"),
    (lambda t: t.replace("./ep-12.svg", "./ep-12-de.svg"), "links", "images differ"),
    (lambda t: t.replace("p95", "P-95"), "glossary", "missing 1: p95"),
    (lambda t: t.replace("\n- de·Users:", "\n\nde·Users:"), "structure", "item"),
])
def test_checks_catch_what_a_translation_must_not_change(change: Any, check: str, detail: str) -> None:
    good = _good()
    assert all(c.ok for c in check_translation(english_episode(12), good, lang="de", terms=("p95",)))
    results = {c.name: c for c in check_translation(english_episode(12), change(good), lang="de", terms=("p95",))}
    assert not results[check].ok and detail in results[check].detail, results[check]


# -- protection examples -------------------------------------------------------------------------------


def _kinds(text: str, terms: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    p = mp.protect(text, terms=terms)
    return [(x.kind, x.text) for u in p.units for x in u.pieces]


def test_inline_spans_are_protected_by_what_the_parser_found() -> None:
    assert _kinds("See [the **docs**](https://x.io/a_b \"T\"), `q4_K_M` and ![c](c.svg) at 12.5% &amp; p95.\n",
                  ("p95",)) == [
        ("text", "See "), ("open", "["), ("text", "the "), ("open", "**"), ("text", "docs"), ("close", "**"),
        ("close", '](https://x.io/a_b "T")'), ("text", ", "), ("keep", "`q4_K_M`"), ("text", " and "),
        ("keep", "![c](c.svg)"), ("text", " at "), ("keep", "12.5%"), ("text", " "), ("keep", "&amp;"),
        ("text", " "), ("keep", "p95"), ("text", ".")]


def test_code_html_and_reference_definitions_are_never_units() -> None:
    doc = "```\nnot text\n```\n\n    indented\n\n<div>\nraw\n</div>\n\n[r]: https://x.io\n\n---\n"
    assert mp.protect(doc).units == []


def test_front_matter_only_title_and_summary_change_and_lang_follows_the_target() -> None:
    doc = ("---\ntitle: 'Episode 3: p95 up'\nepisode: 3\nlang: en\nsummary: >-\n  Two\n  lines\ntags: [a, b]\n---\n\n"
           "Body.\n")
    p = mp.protect(doc, terms=())
    assert [u.where for u in p.units] == ["title", "summary", "line 11"]
    out = mp.apply(p, ["Folge 3: p95 hoch", "Zwei Zeilen", "Text."], lang="de")
    assert out == ('---\ntitle: "Folge 3: p95 hoch"\nepisode: 3\nlang: de\nsummary: "Zwei Zeilen"\n'
                   "tags: [a, b]\n---\n\nText.\n")


def test_a_pipe_added_in_a_table_cell_is_escaped() -> None:
    doc = "| a | b |\n|---|---|\n| left | right |\n"
    p = mp.protect(doc)
    out = mp.apply(p, [u.content.replace("left", "links | rechts") for u in p.units])
    assert "| links \\| rechts | right |" in out
    assert mp.outline(out).blocks == mp.outline(doc).blocks


def test_carriage_returns_are_refused_with_a_reason() -> None:
    with pytest.raises(mp.ProtectError, match="carriage returns"):
        mp.protect("a\r\nb\r\n")


def test_terms_match_whole_words_only_and_ignore_case() -> None:
    text = "P95 and p95/p99, not xp95 or p950; Chimera  Muse is not Chimera Muse."
    spans = mp.find_terms(text, ("p95", "p99", "Chimera Muse"))
    assert [text[a:b] for a, b in spans] == ["P95", "p95", "p99", "Chimera Muse"]
