"""`i18n sync`: real chDB store, real bare git origin, loopback DeepL and Vercel."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from episode_fixtures import Blog, make_blog
from fake_deepl import KEY, FakeDeepL
from fake_vercel import FakeVercel
from i18n_fixtures import english_episode, english_row
from muse.publishing import blogrepo
from muse.agents import i18n
from muse.errors import ExitCode
from muse.translation.i18n_check import check_translation
from muse.runs import RunOutcome, run_agent
from muse.telemetry import Telemetry

LANGS = ["de", "zh", "hi"]


@dataclass
class Env:
    blog: Blog
    deepl: FakeDeepL
    vercel: FakeVercel
    settings: Any
    store: Any
    telemetry: Telemetry | None = None

    def run(self, **options: Any) -> RunOutcome:
        self.telemetry = Telemetry.from_settings(self.settings)
        options.setdefault("langs", LANGS)
        return run_agent(self.settings, "i18n", i18n.run, store=self.store, telemetry=self.telemetry, **options)

    def publish_english(self, n: int = 12, **row: Any) -> str:
        post = self.blog.clone / "posts" / f"ep-{n}.md"
        post.parent.mkdir(parents=True, exist_ok=True)
        post.write_text(english_episode(n), encoding="utf-8")
        sha = blogrepo.commit_and_push(self.settings, paths=[post], message=f"Episode {n}", tag=f"episode-{n}")
        self.store.insert("episodes", [english_row(n, **row)])
        return sha

    def on_origin(self, rel: str) -> str | None:
        return self.blog.show("main", rel)

    def rows(self, n: int = 12) -> dict[str, dict[str, Any]]:
        res = self.store.query("SELECT lang, translation_of, status, path, published_commit, title, tokens_total "
                               "FROM episodes FINAL WHERE episode = {n:UInt32} AND lang != 'en'", {"n": n})
        return {r["lang"]: r for r in res.dicts()}

    def metrics(self) -> list[tuple[str, float, dict[str, Any]]]:
        assert self.telemetry is not None
        return [(s.name, s.value, s.tags) for s in self.telemetry.samples]

    def alerts(self) -> list[dict[str, Any]]:
        path = self.settings.state_dir / "alerts.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def vercel() -> Iterator[FakeVercel]:
    fake = FakeVercel()
    yield fake
    fake.http.close()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Any, vercel: FakeVercel) -> Iterator[Env]:
    vercel.reset()
    deepl = FakeDeepL()
    blog = make_blog(tmp_path)
    for k, v in {
        "DEEPL_AUTH_KEY": KEY, "DEEPL_SERVER_URL": deepl.url,
        "MUSE_REPOS_BANTERBLOGS_PATH": str(blog.clone), "MUSE_REPOS_BANTERBLOGS_LOCK_TIMEOUT_SECONDS": "5",
        "VERCEL_TOKEN": vercel.token, "MUSE_VERCEL_API_URL": vercel.url, "MUSE_VERCEL_GIT_REPO": "acme/banterblogs",
        "MUSE_VERCEL_DEPLOY_TIMEOUT_SECONDS": "5", "MUSE_VERCEL_POLL_INTERVAL_SECONDS": "0.02",
        "MUSE_HTTP_TIMEOUT_SECONDS": "3",
    }.items():
        monkeypatch.setenv(k, v)
    from muse.config import load_settings

    yield Env(blog, deepl, vercel, load_settings(), store)
    deepl.close()


def _untranslated_front_matter(text: str) -> list[str]:
    """Front-matter lines without the translated entries (title, summary, lang)."""
    out, skipping = [], False
    for line in text.split("\n---\n", 1)[0].splitlines():
        if line.startswith((" ", "\t")) and skipping:
            continue
        skipping = line.startswith(("title:", "summary:", "lang:"))
        if not skipping:
            out.append(line)
    return out


def test_new_episode_is_translated_into_every_language_in_one_commit_and_deployed(env: Env) -> None:
    env.publish_english(12)
    before = env.blog.subjects()
    out = env.run()
    assert out.exit_code == ExitCode.OK, out.result.message
    assert [(i.item, i.status) for i in out.result.items] == [("ep-12/de", "ok"), ("ep-12/zh", "ok"),
                                                                ("ep-12/hi", "ok")]
    # One commit with the three files, pushed to origin main and deployed on Vercel.
    subjects = env.blog.subjects()
    assert len(subjects) == len(before) + 1 and subjects[0] == "i18n: translate episode 12 into de, hi, zh"
    sha = env.blog.tip()
    files = env.blog.git("show", "--name-only", "--format=", sha).split()
    assert sorted(files) == ["posts_i18n/de/ep-12.md", "posts_i18n/hi/ep-12.md", "posts_i18n/zh/ep-12.md"]
    created = env.vercel.created_bodies
    assert len(created) == 1 and created[0]["gitSource"]["sha"] == sha
    assert out.result.details["deploy"]["status"] == "ready"
    # One episodes row per language, pointing at the English episode.
    rows = env.rows()
    assert set(rows) == set(LANGS)
    for lang, r in rows.items():
        assert (r["translation_of"], r["status"], r["path"], r["published_commit"]) == (
            12, "published", f"posts_i18n/{lang}/ep-12.md", sha)
        assert r["tokens_total"] == 0  # the LLM spend belongs to the English episode
    assert rows["de"]["title"].startswith("de·Episode 12: p95")
    deployment_rows = env.store.query("SELECT count() FROM deployments FINAL WHERE commit_sha = {s:String}",
                                      {"s": sha}).rows[0][0]
    assert deployment_rows >= 1 and out.result.rows_written == 3 + deployment_rows  # every row the run wrote
    assert ("i18n.complete", 1.0, {"langs": "de/hi/zh"}) in env.metrics()
    # The translations are translated, and faithful.
    source = english_episode(12)
    for lang in LANGS:
        text = env.on_origin(f"posts_i18n/{lang}/ep-12.md")
        assert text is not None and f"{lang}·" in text
        assert all(c.ok for c in check_translation(source, text, lang=lang)), lang
        # Every other front-matter byte is the source's.
        assert _untranslated_front_matter(text) == _untranslated_front_matter(source)
        assert f"\nlang: {lang}\n" in text
        assert "```sql\nSELECT quantile(0.95)(latency_ms) FROM llm_events WHERE model = {m:String}\n```" in text
        assert "![Daily benchmark p95 latency against user latency](./ep-12.svg)" in text


def test_what_is_sent_per_language_tag_handling_glossary_and_placeholders(env: Env) -> None:
    env.publish_english(12)
    assert env.run().exit_code == ExitCode.OK
    de, zh, hi = (env.deepl.translate_bodies(t) for t in ("DE", "ZH-HANS", "HI"))
    assert len(de) == len(zh) == len(hi) == 1  # one request per language carries the whole episode
    # The shipped glossary only keeps terms verbatim: no DeepL glossary, terms protected in the text.
    assert env.deepl.glossaries == {}
    for body, target in ((de[0], "DE"), (zh[0], "ZH")):
        assert body["tag_handling"] == "xml" and body["ignore_tags"] == ["x"]
        assert body["source_lang"] == "EN" and "glossary_id" not in body
        sent = "\n".join(body["text"])
        assert '<x i="' in sent and "`q4_K_M`</x>" in sent
        assert ">p95</x>" in sent  # a verbatim term travels inside an ignored tag
    assert zh[0]["target_lang"] == "ZH-HANS"
    # Hindi: no tag handling, no glossary; code, numbers, URLs and terms never leave muse.
    body = hi[0]
    assert "tag_handling" not in body and "glossary_id" not in body and body["target_lang"] == "HI"
    sent = "\n".join(body["text"])
    assert "\u27e6" in sent
    for protected in ("q4_K_M", "412", "1,204", "https://blog.example.com/setup", "p95", "tokens/s",
                      "banterhearts", "SELECT", "ep-12.svg"):
        assert protected not in sent, protected


def test_second_run_skips_what_is_translated(env: Env) -> None:
    env.publish_english(12)
    assert env.run().exit_code == ExitCode.OK
    tip, requests = env.blog.tip(), len(env.deepl.translate_bodies())
    again = env.run()
    assert again.exit_code == ExitCode.OK
    assert [i.status for i in again.result.items] == ["skipped"] * 3
    assert "nothing new to translate" in again.result.message
    assert env.blog.tip() == tip and len(env.deepl.translate_bodies()) == requests
    assert len(env.vercel.created_bodies) == 1


def test_quota_exceeded_keeps_what_is_done_and_the_next_run_completes(env: Env) -> None:
    env.publish_english(12)
    env.deepl.fail_next(456, after=1)  # German goes through, Chinese hits the quota
    out = env.run()
    assert out.exit_code == ExitCode.FAILED
    status = {i.item: (i.status, i.message) for i in out.result.items}
    assert status["ep-12/de"][0] == "ok"
    assert status["ep-12/zh"] == ("failed", "DeepL quota exceeded (HTTP 456); the rest is translated on a later run")
    assert status["ep-12/hi"][0] == "skipped" and "not attempted" in status["ep-12/hi"][1]
    assert len(env.deepl.translate_bodies("HI")) == 0  # no request after the 456
    # German is committed, recorded and deployed; the others are not there.
    assert env.on_origin("posts_i18n/de/ep-12.md") is not None
    assert env.on_origin("posts_i18n/zh/ep-12.md") is None
    assert set(env.rows()) == {"de"}
    assert not (env.blog.clone / "posts_i18n" / "zh" / "ep-12.md").exists()
    alerts = env.alerts()
    assert alerts and alerts[-1]["title"] == "muse i18n failed" and "quota" in alerts[-1]["text"]
    # Quota back: the next run does the rest only.
    again = env.run()
    assert again.exit_code == ExitCode.OK, again.result.message
    assert [(i.item, i.status) for i in again.result.items] == [("ep-12/de", "skipped"), ("ep-12/zh", "ok"),
                                                                  ("ep-12/hi", "ok")]
    assert len(env.deepl.translate_bodies("DE")) == 1
    assert set(env.rows()) == set(LANGS)


def test_wrong_key_says_so_and_stops(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.publish_english(12)
    env.deepl.key = "another-key"
    out = env.run()
    assert out.exit_code == ExitCode.FAILED
    assert "DeepL rejected the key (HTTP 403)" in out.result.message
    assert [i.status for i in out.result.items] == ["failed", "skipped", "skipped"]
    assert len(env.deepl.http.requests) == 1  # nothing more was asked of DeepL
    assert not (env.blog.clone / "posts_i18n").exists()
    assert KEY not in json.dumps(out.result.details) + out.result.message


def test_429_is_retried_by_the_library(env: Env) -> None:
    env.publish_english(12)
    env.deepl.fail_next(429)
    out = env.run(langs=["de"])
    assert out.exit_code == ExitCode.OK, out.result.message
    assert len(env.deepl.translate_bodies("DE")) == 2  # the 429, then the retry


def test_one_language_failing_does_not_block_the_others(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSE_DEEPL_MAX_RETRIES", "1")
    from muse.config import load_settings

    env.settings = load_settings()
    env.publish_english(12)
    env.deepl.fail_next(429, times=2)  # German: 429, retry, 429 again -> German fails
    env.deepl.inject["ZH-HANS"] = "\n\n# an extra heading"  # Chinese comes back with broken structure
    out = env.run()
    assert out.exit_code == ExitCode.FAILED
    status = {i.item: (i.status, i.message) for i in out.result.items}
    assert status["ep-12/de"] == ("failed", "DeepL kept answering 429 (too many requests) after the library's retries")
    assert status["ep-12/zh"][0] == "failed" and "failed its checks, not written" in status["ep-12/zh"][1]
    assert "headings" in status["ep-12/zh"][1]
    assert status["ep-12/hi"][0] == "ok"
    assert env.on_origin("posts_i18n/hi/ep-12.md") is not None
    assert not (env.blog.clone / "posts_i18n" / "zh" / "ep-12.md").exists()  # never written
    assert set(env.rows()) == {"hi"}


def test_damaged_placeholders_fall_back_to_segments(env: Env) -> None:
    env.publish_english(12)
    env.deepl.mangle_placeholders.add("HI")
    out = env.run(langs=["hi"])
    assert out.exit_code == ExitCode.OK, out.result.message
    assert out.result.details["segment_fallbacks"]["ep-12/hi"]
    first, *segments = env.deepl.translate_bodies("HI")  # the whole episode, then the damaged units as segments
    assert "\u27e6" in "".join(first["text"]) and segments
    assert not any("\u27e6" in t for body in segments for t in body["text"])
    assert all(len(body["text"]) <= 50 for body in segments)  # DeepL's limit per request
    text = env.on_origin("posts_i18n/hi/ep-12.md")
    assert all(c.ok for c in check_translation(english_episode(12), text, lang="hi"))


def test_push_failure_keeps_files_and_next_run_adopts_them_without_paying_twice(env: Env) -> None:
    env.publish_english(12)
    hook = env.blog.origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'blog is frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    out = env.run()
    assert out.exit_code == ExitCode.FAILED
    assert "written but not pushed" in out.result.message and "the next run commits them" in out.result.message
    assert env.rows() == {}
    for lang in LANGS:  # whole files, in the working clone, nowhere else
        assert (env.blog.clone / "posts_i18n" / lang / "ep-12.md").is_file()
        assert env.on_origin(f"posts_i18n/{lang}/ep-12.md") is None
    hook.unlink()
    requests = len(env.deepl.translate_bodies())
    again = env.run()
    assert again.exit_code == ExitCode.OK, again.result.message
    assert all(i.message.startswith("adopted") for i in again.result.items)
    assert len(env.deepl.translate_bodies()) == requests
    assert set(env.rows()) == set(LANGS) and env.on_origin("posts_i18n/de/ep-12.md") is not None


def test_a_failed_write_leaves_no_file(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.publish_english(12)
    real = os.fsync

    def fsync(fd: int) -> None:
        if "/hi/" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(28, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    out = env.run()
    status = {i.item: (i.status, i.message) for i in out.result.items}
    assert status["ep-12/hi"] == ("failed", "could not write posts_i18n/hi/ep-12.md: No space left on device")
    assert os.listdir(env.blog.clone / "posts_i18n" / "hi") == []
    assert set(env.rows()) == {"de", "zh"}


def test_failed_deploy_reverts_the_translations(env: Env) -> None:
    env.publish_english(12)
    env.vercel.script = ["BUILDING", "ERROR"]
    out = env.run()
    assert out.exit_code == ExitCode.FAILED
    assert "deploy of translations" in out.result.message and "reverted by" in out.result.message
    assert env.on_origin("posts_i18n/de/ep-12.md") is None  # main builds again
    assert env.blog.subjects()[0] == "Revert i18n translations: deploy error"
    assert {r["status"] for r in env.rows().values()} == {"failed"}
    assert not any(name == "i18n.complete" for name, _, _ in env.metrics())
    # The next run translates again (and deploys fine this time).
    env.vercel.script = ["READY"]
    again = env.run()
    assert again.exit_code == ExitCode.OK, again.result.message
    assert {r["status"] for r in env.rows().values()} == {"published"}


def test_window_explicit_episode_and_unpublished_refusal(env: Env) -> None:
    env.publish_english(12, age_hours=24 * 5)  # too old for the 2-day window
    env.store.insert("episodes", [english_row(13, status="draft")])
    out = env.run()
    assert out.exit_code == ExitCode.OK and "no English episode published in the last 2 day(s)" in out.result.message
    assert env.deepl.http.requests == []
    out = env.run(episode=12, langs=["de"])
    assert out.exit_code == ExitCode.OK and env.on_origin("posts_i18n/de/ep-12.md") is not None
    out = env.run(episode=13)
    assert out.exit_code == ExitCode.FAILED
    assert out.result.message == "episode 13 is draft; only published episodes are translated"


def test_without_a_key_the_run_is_skipped_and_says_why(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPL_AUTH_KEY")
    from muse.config import load_settings

    env.settings = load_settings()
    env.publish_english(12)
    out = env.run()
    assert out.exit_code == ExitCode.OK and out.result.details["skipped"] is True
    assert out.result.message == ("skipped: no DeepL key configured (set DEEPL_AUTH_KEY or deepl.auth_key); "
                                  "nothing was translated")
    assert env.deepl.http.requests == []


def test_unreachable_deepl_stops_further_requests(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DEEPL_SERVER_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("MUSE_DEEPL_MAX_RETRIES", "0")
    from muse.config import load_settings

    env.settings = load_settings()
    env.publish_english(12)
    out = env.run()
    assert out.exit_code == ExitCode.FAILED
    assert [i.status for i in out.result.items] == ["failed", "skipped", "skipped"]
    assert out.result.items[0].message.startswith("DeepL unreachable:")
    assert out.result.items[1].message.startswith("not attempted: DeepL unreachable")


def test_a_used_up_quota_is_seen_before_translating(env: Env) -> None:
    env.publish_english(12)
    env.deepl.char_limit = env.deepl.char_count = 500_000
    out = env.run()
    assert out.exit_code == ExitCode.FAILED
    assert out.result.items[0].message == ("DeepL quota exhausted (500000 of 500000); "
                                           "the rest is translated on a later run")
    assert env.deepl.translate_bodies() == [] and out.result.details["usage"] == {"characters": 500000,
                                                                                   "limit": 500000}


def test_demo_step_says_why_it_skipped(migrated: Any) -> None:
    out = i18n.demo_step(migrated)
    assert out.result.status == "ok" and out.result.details["skipped"] is True
    assert "no DeepL key configured" in out.result.message


# -- issue 18 -------------------------------------------------------------------------------------
def test_a_glossary_term_deepl_changes_cannot_break_a_language(env: Env, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """DeepL flexes glossary entries ('tokens/s' -> 'Token/s' in German). Verbatim terms are
    protected in the text, so every run passes its checks; a really translated term that
    DeepL did not apply is translated once more without the glossary, not failed forever."""
    from muse.config import load_settings

    glossary = tmp_path / "glossary.yaml"
    glossary.write_text("terms: [p95, tokens/s, banterhearts, q4_K_M]\ntranslations:\n  de: {users: Benutzer}\n")
    monkeypatch.setenv("MUSE_I18N_GLOSSARY_FILE", str(glossary))
    env.settings = load_settings()
    env.deepl.flex["DE"]["users"] = "Nutzern"
    env.publish_english(12)
    out = env.run(langs=["de", "zh"])
    assert out.exit_code == ExitCode.OK, out.result.message
    text = env.on_origin("posts_i18n/de/ep-12.md")
    assert text is not None and "tokens/s" in text and "Token/s" not in text
    assert out.result.details["glossary_fallbacks"] == {"ep-12/de": ["users"]}
    assert [g["source_lang"] for g in env.deepl.glossaries.values()] == ["EN"]  # created with "en"


def test_a_redeploy_after_a_failed_deploy_does_not_pay_deepl_again(env: Env) -> None:
    env.publish_english(12)
    env.vercel.script = ["QUEUED", "ERROR"]
    failed = env.run(langs=["de", "hi"])
    assert failed.exit_code == ExitCode.FAILED
    assert env.on_origin("posts_i18n/hi/ep-12.md") is None  # reverted
    paid = len(env.deepl.translate_bodies())
    billed = env.deepl.char_count
    env.vercel.script = ["QUEUED", "READY"]
    again = env.run(langs=["de", "hi"])
    assert again.exit_code == ExitCode.OK, again.result.message
    assert len(env.deepl.translate_bodies()) == paid and env.deepl.char_count == billed  # nothing sent, nothing billed
    assert env.on_origin("posts_i18n/hi/ep-12.md") is not None
    assert {r["status"] for r in env.rows().values()} == {"published"}
    assert all("from the cache" in i.message for i in again.result.items)


def test_usage_errors_do_not_stop_translation_and_a_bare_403_stops_it(env: Env) -> None:
    env.publish_english(12)
    env.deepl.fail_next(503, path="/v2/usage", times=10)
    out = env.run(langs=["de"])
    assert out.exit_code == ExitCode.OK, out.result.message
    assert "usage_error" in out.result.details
    env.publish_english(13)
    env.deepl.fail_next(403, body=b"", path="/v2/translate")
    out = env.run(langs=["de"], episode=13)
    assert out.exit_code == ExitCode.FAILED
    assert "DeepL rejected the key (HTTP 403)" in out.result.message


def test_messages_say_what_happened(env: Env) -> None:
    env.publish_english(12)
    env.deepl.fail_next(400, times=3, body={"message": "Value for 'target_lang' not supported."})
    out = env.run()
    assert out.exit_code == ExitCode.FAILED
    assert out.result.message.startswith("no translation written; 3 failed")
    assert "nothing new to translate" not in out.result.message
