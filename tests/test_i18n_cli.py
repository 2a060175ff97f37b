"""`muse i18n sync` and `muse i18n verify` through the CLI (no store held while it runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from episode_fixtures import Blog, make_blog
from fake_deepl import KEY, FakeDeepL
from i18n_fixtures import english_episode, english_row


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrated: Any) -> Iterator[tuple[Blog, FakeDeepL]]:
    from muse.publishing import blogrepo
    from muse.config import load_settings
    from muse.store import open_store

    deepl = FakeDeepL()
    blog = make_blog(tmp_path)
    monkeypatch.setenv("DEEPL_AUTH_KEY", KEY)
    monkeypatch.setenv("DEEPL_SERVER_URL", deepl.url)
    monkeypatch.setenv("MUSE_REPOS_BANTERBLOGS_PATH", str(blog.clone))
    settings = load_settings()
    post = blog.clone / "posts" / "ep-12.md"
    post.write_text(english_episode(12), encoding="utf-8")
    blogrepo.commit_and_push(settings, paths=[post], message="Episode 12")
    with open_store(settings) as store:
        store.insert("episodes", [english_row(12)])
    yield blog, deepl
    deepl.close()


def test_sync_then_verify_and_a_broken_translation_fails_verify(cli: Any, site: tuple[Blog, FakeDeepL]) -> None:
    blog, _ = site
    r = cli("i18n", "sync", "--json")
    assert r.exit_code == 0, r
    out = json.loads(r.stdout)
    assert out["status"] == "ok" and [i["status"] for i in out["items"]] == ["ok", "ok", "ok"]
    assert out["details"]["deploy"]["status"] == "skipped"  # no Vercel configured: said, not hidden
    assert out["rows_written"] == 4  # 3 episodes rows and the deployments row saying the deploy was skipped

    r = cli("i18n", "verify", "12")
    assert r.exit_code == 0, r
    lines = r.stdout.splitlines()
    assert lines[0] == "lang\tcheck\tresult\tdetail"
    assert "de\tnumbers\tok\t" in r.stdout and "hi\tcode\tok\t" in r.stdout
    assert lines[-1] == "episode 12: 3 translation(s) verified"

    hi = blog.clone / "posts_i18n" / "hi" / "ep-12.md"
    hi.write_text(hi.read_text(encoding="utf-8").replace("4,210", "४,२१०"), encoding="utf-8")
    (blog.clone / "posts_i18n" / "zh" / "ep-12.md").unlink()
    r = cli("i18n", "verify", "12", "--json")
    assert r.exit_code == 1
    res = json.loads(r.stdout)
    assert res["ok"] is False and res["langs"]["de"]["ok"] is True
    hi_checks = {c["name"]: c for c in res["langs"]["hi"]["checks"]}
    assert hi_checks["numbers"] == {"name": "numbers", "ok": False, "detail": "missing 1: 4,210"}
    assert res["langs"]["zh"]["checks"][0]["name"] == "file" and not res["langs"]["zh"]["checks"][0]["ok"]
    r = cli("i18n", "verify", "12")
    assert r.exit_code == 1 and "hi\tnumbers\tFAIL\tmissing 1: 4,210" in r.stdout
    assert r.stdout.splitlines()[-1] == "episode 12: failed for zh, hi"


def test_unknown_language_is_a_usage_error(cli: Any, site: Any) -> None:
    r = cli("i18n", "sync", "--langs", "de,klingon")
    assert r.exit_code == 2
    assert "Error: unknown language(s) klingon; known: de, es, fr" in r.stderr


def test_sync_without_a_key_exits_ok_and_says_it_skipped(cli: Any, site: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPL_AUTH_KEY")
    r = cli("i18n", "sync")
    assert r.exit_code == 0
    assert "i18n: ok - skipped: no DeepL key configured (set DEEPL_AUTH_KEY or deepl.auth_key)" in r.stdout


def test_verify_of_an_unknown_episode_names_the_missing_source(cli: Any, site: Any) -> None:
    r = cli("i18n", "verify", "99")
    assert r.exit_code == 1
    assert "Error: episode 99: English source" in r.stderr and "posts/ep-99.md does not exist" in r.stderr


@pytest.mark.parametrize("payload", [" <img src=x onerror=alert(1)>", " &lt;img src=x onerror=alert(1)&gt;"])
def test_a_provider_returning_markup_is_refused_by_sync_and_verify(cli: Any, site: tuple[Blog, FakeDeepL],
                                                                   payload: str) -> None:
    from muse.publishing import htmlcheck

    blog, deepl = site
    deepl.inject["DE"] = payload
    r = cli("i18n", "sync", "--langs", "de", "--json")
    de = blog.clone / "posts_i18n" / "de" / "ep-12.md"
    out = json.loads(r.stdout)
    assert r.exit_code == 1 and out["items"][0]["status"] == "failed", r
    assert "markup" in out["items"][0]["message"]
    assert not de.exists() or not htmlcheck.markup(de.read_text(encoding="utf-8").split("---", 2)[-1])
    assert "onerror" not in blog.git("log", "-p", "--all")


@pytest.mark.parametrize("edit", [
    lambda t: t.replace("\n## TL;DR\n", "\n## TL;DR\n\n<img src=x onerror=alert(1)>\n", 1),  # an HTML block
    lambda t: t.replace("4,210", "4,210 <b onmouseover=alert(1)>x</b>", 1),  # inline
    lambda t: t.replace("4,210", "4,210 &lt;img src=x onerror=alert(1)&gt;", 1),  # escaped: text that looks like a tag
    lambda t: t.replace('\ntitle: "', '\ntitle: "<svg onload=alert(1)> ', 1),  # in the title
])
def test_verify_refuses_markup_the_source_unit_lacks(cli: Any, site: tuple[Blog, FakeDeepL], edit: Any) -> None:
    blog, _ = site
    assert cli("i18n", "sync", "--langs", "de").exit_code == 0
    de = blog.clone / "posts_i18n" / "de" / "ep-12.md"
    text = de.read_text(encoding="utf-8")
    changed = edit(text)
    assert changed != text
    de.write_text(changed, encoding="utf-8")
    r = cli("i18n", "verify", "12", "--langs", "de")
    assert r.exit_code == 1, r
    assert "de\tmarkup\tFAIL\t1 tag(s) the source does not have: <" in r.stdout or \
        "de\tmarkup\tFAIL\t2 tag(s) the source does not have: <" in r.stdout, r.stdout
