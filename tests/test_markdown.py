"""One markdown parser for every scan (muse.markdown): the cases where reading markdown by hand
disagreed with markdown-it, through the scans and through the episode validator that uses them."""

from __future__ import annotations

from pathlib import Path

import pytest

from episode_fixtures import write_episode
from muse import markdown
from muse.episode import parse, section_titles
from muse.publishing.validate import validate_file
from muse.translation.mdprotect import split_front_matter as translation_split


def test_a_closing_hashes_run_is_not_part_of_the_title() -> None:
    assert section_titles("## TL;DR ##\n\ntext\n\n## What shipped ###\n") == ["TL;DR", "What shipped"]


def test_a_setext_heading_is_a_section() -> None:
    assert section_titles("What shipped\n------------\n\ntext\n") == ["What shipped"]
    # ... while a '---' after a blank line is a rule, not a heading.
    assert section_titles("text\n\n---\n") == []


def test_an_indented_heading_line_is_code_not_a_section() -> None:
    body = "## TL;DR\n\n    ## not a section\n    {{ kept }}\n\nafter\n"
    assert section_titles(body) == ["TL;DR"]
    assert markdown.code_lines(body) == {2, 3}


@pytest.mark.parametrize("fence", ["````", "~~~"])
def test_a_long_or_tilde_fence_holds_backtick_fences_and_headings(fence: str) -> None:
    # A ``` line inside a ```` or ~~~ fence does not close it: the '## ...' stays code.
    body = f"## TL;DR\n\n{fence}markdown\n```\n## inside the fence\n```\n{fence}\n\n## What shipped\n"
    assert section_titles(body) == ["TL;DR", "What shipped"]
    assert markdown.code_lines(body) == {2, 3, 4, 5, 6}


def test_inline_code_is_blanked_by_the_parsers_own_spans() -> None:
    text = "a `{{ x }}` b ``{{ y ` z }}`` c {{ real }}\n"
    out = markdown.without_code(text)
    assert out.count("{{") == 1 and "{{ real }}" in out and len(out) == len(text)
    # An unclosed backtick is text, not code: what follows it is still scanned.
    assert "{{ seen }}" in markdown.without_code("a ` b {{ seen }}\n")


def test_one_front_matter_split_for_the_episode_and_the_translation_layer() -> None:
    text = "---\ntitle: T\nepisode: 3\n---\n\n## TL;DR\n"
    yaml_text, start, body_start = markdown.split_front_matter(text)
    assert (yaml_text, text[body_start:]) == ("title: T\nepisode: 3", "\n## TL;DR\n")
    assert translation_split(text) == (yaml_text, start, body_start)
    assert parse(text).body == text[body_start:]
    assert markdown.split_front_matter("## no front matter\n") is None
    assert translation_split("---\n- a list\n---\n") is None  # not a mapping: all markdown


def _validate(tmp_path: Path, extra: str) -> list[str]:
    (tmp_path / "posts").mkdir(exist_ok=True)
    post, _ = write_episode(tmp_path, 4, extra=extra)
    return validate_file(post, repo_root=tmp_path).lines()


def test_the_validator_ignores_markers_in_every_kind_of_code(tmp_path: Path) -> None:
    extra = ("\n````jinja\n```\n{{ a }}\n```\n````\n\n~~~\n{% for x in xs %}\n~~~\n\n"
             "    {{ indented }}\n\nText with ``{{ `b` }}`` code.\n")
    assert _validate(tmp_path, extra) == []


def test_a_fence_line_with_an_info_string_does_not_close_a_fence(tmp_path: Path) -> None:
    # By hand, "```jinja" inside a ``` fence closed it, and the code after it was scanned as prose.
    assert _validate(tmp_path, "\n```\n```jinja\n{{ in_code }}\n```\n") == []
    lines = _validate(tmp_path, "\n~~~\ncode\n~~~\n\nLeft over {{ caption }} here.\n")
    assert len(lines) == 1 and "unrendered template marker '{{'" in lines[0]


def test_the_validator_accepts_sections_with_closing_hashes_and_refuses_an_indented_one(tmp_path: Path) -> None:
    from episode_fixtures import episode_text

    (tmp_path / "posts").mkdir()
    text = episode_text(5).replace("## Why it matters\n", "## Why it matters ##\n")
    post, _ = write_episode(tmp_path, 5, text=text)
    assert validate_file(post, repo_root=tmp_path).ok
    text = episode_text(6).replace("## Why it matters\n", "    ## Why it matters\n")
    post, _ = write_episode(tmp_path, 6, text=text)
    assert "posts/ep-6.md: missing section '## Why it matters'" in validate_file(post, repo_root=tmp_path).lines()


def test_a_link_in_a_table_cell_is_checked(tmp_path: Path) -> None:
    lines = _validate(tmp_path, "\n| a | b |\n|---|---|\n| [notes](notes/gone.md) | 1 |\n")
    assert any("broken relative link 'notes/gone.md'" in l for l in lines), lines
