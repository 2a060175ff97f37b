"""The episode validator: every rule, with the file and line it names."""

from __future__ import annotations

from pathlib import Path

from episode_fixtures import CHART_SVG, body, episode_text, front_matter, write_episode
from muse.episode import REQUIRED_SECTIONS, TRAILING_SECTIONS, render
from muse.publishing.validate import validate_file, validate_text


def _repo(tmp_path: Path) -> Path:
    (tmp_path / "posts").mkdir(parents=True)
    return tmp_path


def test_a_council_episode_is_valid_and_its_chart_is_an_asset(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    post, chart = write_episode(root, 12)
    report = validate_file(post, repo_root=root)
    assert report.ok, report.lines()
    assert report.assets == [chart.resolve()]
    assert report.front_matter["episode"] == 12


def test_each_problem_is_one_finding_naming_file_and_line(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    fm = front_matter(7)
    del fm["packs_commit"], fm["run_id"]
    fm["confidence"] = 1.7
    sections = ("TL;DR", "Model performance", "What shipped", "User experience", "Data quality", "Evidence")
    text = render(fm, body(7, sections=sections, extra="\nSee {{ chart_caption }} and ![old](ep-6.svg).\n"
                                                      "Also [the notes](notes/missing.md).\n"))
    post = root / "posts" / "ep-7.md"
    post.write_text(text)
    (root / "posts" / "ep-7.svg").write_text(CHART_SVG)
    report = validate_file(post, repo_root=root)
    lines = report.lines()
    marker_line = text.splitlines().index(next(l for l in text.splitlines() if "{{ chart_caption }}" in l)) + 1
    assert "posts/ep-7.md:1: front-matter lacks required field 'packs_commit'" in lines
    assert "posts/ep-7.md:1: front-matter lacks required field 'run_id'" in lines
    assert any("'confidence' must be a number in [0, 1], got 1.7" in l for l in lines)
    assert "posts/ep-7.md: missing section '## Why it matters'" in lines
    assert any(l.startswith("posts/ep-7.md: sections out of order: expected TL;DR / What shipped") for l in lines)
    assert f"posts/ep-7.md:{marker_line}: unrendered template marker '{{{{'" in lines
    assert any(l.startswith(f"posts/ep-7.md:{marker_line}: broken relative image 'ep-6.svg'") for l in lines)
    assert any("broken relative link 'notes/missing.md': no file posts/notes/missing.md" in l for l in lines)
    assert len(lines) == 8, lines


def test_markers_inside_code_and_remote_links_are_fine(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    extra = ("\nTemplates look like `{{ name }}`.\n\n```jinja\n{% for x in xs %}{{ x }}{% endfor %}\n```\n\n"
             "[Vercel](https://vercel.com/docs) [mail](mailto:a@b.c) [top](#tldr) [root](/about)\n")
    post, _ = write_episode(root, 3, extra=extra)
    assert validate_file(post, repo_root=root).ok


def test_missing_chart_and_reference_to_it(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    post, _ = write_episode(root, 4, chart=False)
    assert [str(f) for f in validate_file(post, repo_root=root).findings] == [
        f"posts/ep-4.md:{post.read_text().splitlines().index('![p95 latency per day](./ep-4.svg)') + 1}: "
        "broken relative image './ep-4.svg': no file posts/ep-4.svg"]
    post2, _ = write_episode(root, 5, text=episode_text(5, chart=False))
    assert [f.message for f in validate_file(post2, repo_root=root).findings] == [
        "the chart ep-5.svg is not referenced by an image link"]


def test_links_must_stay_inside_the_blog_repo(tmp_path: Path) -> None:
    root = _repo(tmp_path / "blog")
    (tmp_path / "secret.txt").write_text("x")
    post, _ = write_episode(root, 8, extra="\n[leak](../../secret.txt)\n")
    assert any("points outside the blog repo" in line for line in validate_file(post, repo_root=root).lines())


def test_front_matter_that_does_not_parse(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    post = root / "posts" / "ep-9.md"
    post.write_text("---\ntitle: [unclosed\nepisode: 9\n---\n\n## TL;DR\n")
    assert validate_file(post, repo_root=root).lines() == ["posts/ep-9.md:1: front-matter is not valid YAML at line 3"]
    post.write_text("# no front-matter\n")
    assert validate_file(post, repo_root=root).lines() == [
        "posts/ep-9.md:1: no YAML front-matter (the file must start with a '---' line)"]
    assert validate_file(root / "posts" / "ep-10.md", repo_root=root).lines() == ["posts/ep-10.md: file does not exist"]


def test_wrong_episode_number_status_and_duplicate_section(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    text = render(front_matter(11, status="shipped", episode=12),
                  body(11, sections=REQUIRED_SECTIONS + ("TL;DR",) + TRAILING_SECTIONS))
    (root / "posts" / "ep-11.svg").write_text(CHART_SVG)
    report = validate_text(text, path=root / "posts" / "ep-11.md", repo_root=root)
    assert [str(f) for f in report.findings] == [
        "posts/ep-11.md: section '## TL;DR' appears 2 times",
        "posts/ep-11.md:1: front-matter says episode 12, but this is episode 11",
        "posts/ep-11.md:1: front-matter field 'status' must be one of draft, ready, published, failed, rolled_back, "
        "got 'shipped'"]


def test_raw_html_from_data_is_refused_with_its_line(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    # What an unescaped model name ``x`|<img src=x onerror=alert(1)>`` makes of a table row:
    # the pipe splits the cell, the code span breaks, the tag becomes live HTML.
    row = "| `x`|<img src=x onerror=alert(1)>` | q4 | ds | 1 | 2 | +1% | 3 |"
    extra = ("\n| model | quant | dataset | first p95 | latest p95 | change | tokens/s |\n"
             "|---|---|---|---|---|---|---|\n" + row + "\n\n<script>alert(1)</script>\n\n"
             "Said <b onmouseover=alert(1)>hi</b>.\n")
    post, _ = write_episode(root, 9, extra=extra)
    lines = post.read_text().splitlines()
    findings = [f for f in validate_file(post, repo_root=root).findings if "raw HTML" in f.message]
    got = {(f.line, f.message.split(" in the body")[0]) for f in findings}
    assert got == {(lines.index(row) + 1, "raw HTML <img onerror src>"),
                   (lines.index("<script>alert(1)</script>") + 1, "raw HTML <script>"),
                   (lines.index("Said <b onmouseover=alert(1)>hi</b>.") + 1, "raw HTML <b onmouseover>")}


def test_escaped_markup_and_code_spans_are_text_not_html(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    extra = "\nModel `x|<img src=x onerror=alert(1)>` and \\<b\\> and &lt;img onerror&gt; render as text.\n"
    post, _ = write_episode(root, 10, extra=extra)
    assert validate_file(post, repo_root=root).ok
