"""`publish`: real bare git origin, real chDB store, loopback Vercel, Slack and PagerDuty."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from episode_fixtures import Blog, episode_row, episode_status, insert_episode, make_blog, write_episode
from fake_vercel import FakeVercel
from fakes import FakeHTTP, slack_and_pagerduty
from muse.agents import publisher
from muse.errors import ExitCode
from muse.runs import RunOutcome, run_agent
from muse.telemetry import Telemetry


@dataclass
class Pub:
    blog: Blog
    vercel: FakeVercel
    hooks: FakeHTTP  # Slack and PagerDuty
    settings: Any
    store: Any
    telemetry: Telemetry | None = None

    def run(self, fn: Any = publisher.run, **options: Any) -> RunOutcome:
        self.telemetry = Telemetry.from_settings(self.settings)
        return run_agent(self.settings, "publish", fn, store=self.store, telemetry=self.telemetry, **options)

    def episode(self, n: int, *, status: str = "ready", confidence: float = 0.82, **kw: Any) -> tuple[Path, Path]:
        files = write_episode(self.blog.clone, n, status=status, confidence=confidence)
        insert_episode(self.store, n, status=status, confidence=confidence, **kw)
        return files

    def status(self, n: int) -> dict[str, Any]:
        return episode_status(self.store, n)

    def deployments(self, n: int) -> list[tuple[str, str]]:
        rows = self.store.query("SELECT status, vercel_deployment_id FROM deployments FINAL "
                                "WHERE episode = {n:UInt32} ORDER BY ts", {"n": n}).rows
        return [(r[0], r[1]) for r in rows]

    def metrics(self) -> list[tuple[str, dict[str, Any]]]:
        assert self.telemetry is not None
        return [(s.name, s.tags) for s in self.telemetry.samples]

    def alerts(self) -> list[dict[str, Any]]:
        path = self.settings.state_dir / "alerts.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def slack_texts(self) -> list[str]:
        return [r.json()["text"] for r in self.hooks.requests if r.path.startswith("/slack/")]

    def pages(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.hooks.requests if r.path.startswith("/v2/enqueue")]


def publish_env(monkeypatch: pytest.MonkeyPatch, blog: Blog, vercel: FakeVercel | None, hooks: FakeHTTP,
                **extra: str) -> None:
    env = {
        "MUSE_REPOS_BANTERBLOGS_PATH": str(blog.clone),
        "MUSE_REPOS_BANTERBLOGS_LOCK_TIMEOUT_SECONDS": "5",
        "MUSE_VERCEL_DEPLOY_TIMEOUT_SECONDS": "5",
        "MUSE_VERCEL_POLL_INTERVAL_SECONDS": "0.02",
        "MUSE_VERCEL_RETRY_BACKOFF_SECONDS": "0.01",
        "MUSE_VERCEL_GIT_REPO": "acme/banterblogs",
        "MUSE_HTTP_TIMEOUT_SECONDS": "3",
        "SLACK_WEBHOOK_URL": f"{hooks.url}/slack/T000/B000/xyz",
        "PAGERDUTY_ROUTING_KEY": "pd-routing-key-0123",
        "MUSE_PAGERDUTY_EVENTS_URL": f"{hooks.url}/v2/enqueue",
    }
    if vercel is not None:
        env.update({"VERCEL_TOKEN": vercel.token, "MUSE_VERCEL_API_URL": vercel.url})
    env.update(extra)
    for k, v in env.items():
        monkeypatch.setenv(k, v)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FakeVercel, FakeHTTP]]:
    """One loopback Vercel and one Slack + PagerDuty per module (stopping one takes 0.5 s)."""
    vercel, hooks = FakeVercel(), slack_and_pagerduty()
    yield vercel, hooks
    vercel.close()
    hooks.close()


@pytest.fixture
def pub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Any, servers: tuple[FakeVercel, FakeHTTP]) -> Pub:
    from muse.config import load_settings

    vercel, hooks = servers
    vercel.reset()
    hooks.requests.clear()
    blog = make_blog(tmp_path)
    publish_env(monkeypatch, blog, vercel, hooks)
    return Pub(blog, vercel, hooks, load_settings(), store)


# -- ready ------------------------------------------------------------------------------
def test_ready_episode_is_committed_tagged_pushed_and_deployed(pub: Pub) -> None:
    production_before = pub.vercel.seed("c" * 40)
    pub.episode(7)
    out = pub.run(episode=7)
    assert out.exit_code == ExitCode.OK, out.result.message
    sha = pub.blog.tip("main")
    assert pub.blog.subjects()[0] == "Episode 7: Week 7: quantised models got faster"
    assert pub.blog.tag("episode-7") == sha
    assert pub.blog.show("main", "posts/ep-7.svg") is not None
    assert pub.status(7) == {"status": "published", "approved_by": "", "published_commit": sha}
    body = pub.vercel.created_bodies[-1]
    assert body["target"] == "production" and body["name"] == "banterblogs"
    assert body["gitSource"] == {"type": "github", "org": "acme", "repo": "banterblogs", "ref": "main", "sha": sha}
    dep = out.result.details["deployment_id"]
    assert [s for s, d in pub.deployments(7) if d == dep] == ["queued", "building", "ready"]
    assert out.result.details["build_time_ms"] == pub.vercel.build_ms
    assert ("publish.success", {"episode": 7, "deploy": "ready"}) in pub.metrics()
    assert ("deploy.build_time_ms", {}) in pub.metrics()
    assert f"READY in 1.2s at https://{pub.vercel.deployments[dep]['url']}" in out.result.message
    assert pub.vercel.rollbacks == [] and production_before not in pub.vercel.cancels
    assert not (pub.settings.state_dir / "publish" / "ep-7.json").exists()  # the journal is done


def test_already_published_is_a_no_op_that_says_so(pub: Pub) -> None:
    pub.episode(8)
    assert pub.run(episode=8).exit_code == ExitCode.OK
    commits, created = len(pub.blog.subjects()), len(pub.vercel.created_bodies)
    again = pub.run(episode="latest")
    assert again.exit_code == ExitCode.OK
    assert again.result.message.startswith("episode 8 is already published (")
    assert again.result.message.endswith("); nothing to do")
    assert len(pub.blog.subjects()) == commits and len(pub.vercel.created_bodies) == created


def test_rate_limited_then_ready_honours_retry_after(pub: Pub) -> None:
    pub.episode(9)
    pub.vercel.rate_limit_next = 1  # the first API call gets 429 with Retry-After: 1
    t0 = time.monotonic()
    out = pub.run(episode=9)
    elapsed = time.monotonic() - t0
    assert out.exit_code == ExitCode.OK, out.result.message
    assert pub.status(9)["status"] == "published"
    assert elapsed >= 1.0  # waited as told
    assert [r.path.split("?")[0] for r in pub.vercel.requests[:2]] == ["/v6/deployments"] * 2  # then retried
    assert len(pub.vercel.created_bodies) == 1


# -- deploy failures ----------------------------------------------------------------------
def test_build_error_reverts_main_marks_failed_and_pages(pub: Pub) -> None:
    previous = pub.vercel.seed("c" * 40)
    pub.episode(10)
    pub.vercel.script = ["QUEUED", "BUILDING", "ERROR"]
    out = pub.run(episode=10)
    assert out.exit_code == ExitCode.FAILED
    subjects = pub.blog.subjects()
    assert subjects[:2] == ["Revert episode 10: deploy error", "Episode 10: Week 10: quantised models got faster"]
    assert pub.blog.show("main", "posts/ep-10.md") is None
    assert pub.blog.tag("episode-10") is None  # the tag went with the revert
    assert pub.status(10)["status"] == "failed"
    assert "deploy_error" not in out.result.message and 'Command "npm run build" exited with 1' in out.result.message
    assert "production unchanged (the failed deployment never went live)" in out.result.message
    assert pub.vercel.rollbacks == [] and previous  # a failed build never served traffic
    assert ("publish.failed", {"episode": 10, "reason": "deploy_error"}) in pub.metrics()
    critical = [a for a in pub.alerts() if a["severity"] == "critical"]
    assert len(critical) == 1 and set(critical[0]["sinks"]) >= {"slack", "pagerduty"}
    assert pub.pages()[0]["event_action"] == "trigger"
    assert [s for s, _ in pub.deployments(10)][-1] == "error"


def test_timeout_cancels_the_deployment_and_reverts(pub: Pub, monkeypatch: pytest.MonkeyPatch) -> None:
    from muse.config import load_settings

    monkeypatch.setenv("MUSE_VERCEL_DEPLOY_TIMEOUT_SECONDS", "1")
    pub.settings = load_settings()
    pub.episode(11)
    pub.vercel.script = ["QUEUED", "BUILDING"]  # never finishes
    t0 = time.monotonic()
    out = pub.run(episode=11)
    assert out.exit_code == ExitCode.FAILED
    assert 1.0 <= time.monotonic() - t0 < 4
    dep = next(iter(d for d in pub.vercel.deployments))
    assert pub.vercel.cancels == [dep]
    assert "not READY after 1s (last state BUILDING); cancelled" in out.result.message
    assert pub.blog.subjects()[0] == "Revert episode 11: deploy timeout"
    assert pub.status(11)["status"] == "failed"
    assert ("timeout", dep) in pub.deployments(11)
    assert ("publish.failed", {"episode": 11, "reason": "deploy_timeout"}) in pub.metrics()


def test_losing_track_of_a_deployment_cancels_it_or_rolls_production_back(pub: Pub,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    """An API error mid-build: the deployment may go live. Still building: it is cancelled
    and production, which never served it, is left alone (no rollback to itself). Gone
    live: production goes back to the previous READY production deployment."""
    older = pub.vercel.seed("d" * 40, created=int(time.time() * 1000) - 7_200_000)
    previous = pub.vercel.seed("c" * 40)
    pub.vercel.seed("e" * 40, state="ERROR")  # not a rollback target
    pub.episode(12)
    pub.vercel.script = ["QUEUED", "BUILDING"]
    pub.vercel.fail_gets = 3  # the poll answers 500 three times: muse gives up on it
    out = pub.run(episode=12)
    assert out.exit_code == ExitCode.FAILED
    lost = next(d for d in pub.vercel.deployments if not d.startswith("dpl_seed"))
    assert pub.vercel.cancels == [lost] and pub.vercel.rollbacks == []
    # The operator reads in the log which deployment was cancelled, and why.
    assert any(r.levelname == "WARNING" and f"cancelled deployment {lost}" in r.getMessage()
               and "created despite the error" in r.getMessage() for r in caplog.records)
    assert f"production already serves {previous}" in out.result.message
    assert pub.vercel.live_sha() == "c" * 40
    assert pub.blog.subjects()[0] == "Revert episode 12: api error"
    pub.episode(28)
    pub.vercel.script, pub.vercel.step_seconds = ["QUEUED", "READY"], 0.001
    pub.vercel.fail_gets = 3
    out = pub.run(episode=28)  # this time it went live before muse lost track of it
    assert out.exit_code == ExitCode.FAILED
    assert pub.vercel.rollbacks == [previous] and older not in pub.vercel.rollbacks
    assert f"production rolled back to {previous}" in out.result.message
    assert ("rollback", previous) in pub.deployments(28) and pub.vercel.live_sha() == "c" * 40
    assert pub.status(12)["status"] == "failed" and pub.status(28)["status"] == "failed"


def test_unknown_github_repo_stops_before_anything_is_pushed(pub: Pub, monkeypatch: pytest.MonkeyPatch) -> None:
    from muse.config import load_settings

    monkeypatch.delenv("MUSE_VERCEL_GIT_REPO")  # and the clone's remote is a local path, not GitHub
    pub.settings = load_settings()
    pub.episode(26)
    out = pub.run(episode=26)
    assert out.exit_code == ExitCode.USAGE
    assert "cannot tell Vercel which GitHub repo to deploy" in out.result.message
    assert pub.blog.subjects() == ["Start the blog"] and pub.status(26)["status"] == "ready"


def test_lost_create_replies_are_found_not_built_again(pub: Pub) -> None:
    """The create call's replies are lost (502) although Vercel made the deployment: before
    every retry muse looks the commit up, finds it and follows it; one build, not three."""
    pub.vercel.seed("c" * 40)
    pub.episode(27)
    pub.vercel.lose_creates = 3
    out = pub.run(episode=27)
    assert out.exit_code == ExitCode.OK, out.result.message
    assert len(pub.vercel.created_bodies) == 1 and len(pub.vercel.deployments) == 2
    assert pub.vercel.live_sha() == pub.blog.tip("main") == pub.status(27)["published_commit"]
    assert out.result.details["deployment_id"] == next(d for d in pub.vercel.deployments if not d.startswith("dpl_seed"))


# -- git failures ---------------------------------------------------------------------------
def test_push_raced_by_another_clone_is_rebased_and_published(pub: Pub, tmp_path: Path) -> None:
    other = pub.blog.other_clone(tmp_path / "other")
    hook = pub.blog.clone / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\n[ -f {tmp_path}/raced ] && exit 0\ntouch {tmp_path}/raced\n"
                    f"cd {other} && echo x > about.md && git add about.md && git commit -qm About && "
                    "git push -q origin main\n")
    hook.chmod(0o755)
    pub.episode(13)
    out = pub.run(episode=13)
    assert out.exit_code == ExitCode.OK, out.result.message
    assert out.result.details["push_retried"] is True
    assert pub.blog.subjects()[:2] == ["Episode 13: Week 13: quantised models got faster", "About"]
    assert pub.vercel.created_bodies[-1]["gitSource"]["sha"] == pub.blog.tip("main")


def test_hard_push_rejection_fails_without_deploying_or_diverging(pub: Pub) -> None:
    hook = pub.blog.origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'pushes need a signed-off review' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = pub.blog.tip("main")
    post, _ = pub.episode(14)
    out = pub.run(episode=14)
    assert out.exit_code == ExitCode.FAILED
    assert "[remote rejected] (pre-receive hook declined): pushes need a signed-off review" in out.result.message
    assert pub.blog.tip("main") == before and pub.vercel.created_bodies == []
    assert pub.status(14)["status"] == "failed"
    # A refused push deployed nothing: its own metric, not the deploy-failure monitor's.
    assert ("publish.rejected", {"episode": 14, "reason": "push_rejected"}) in pub.metrics()
    assert not any(name == "publish.failed" for name, _ in pub.metrics())
    assert post.exists()


# -- validation, drafts, approval -------------------------------------------------------------
def test_invalid_episode_is_never_committed_and_findings_are_listed(pub: Pub) -> None:
    post, chart = pub.episode(15)
    post.write_text(post.read_text().replace("## What shipped", "## What we shipped").replace(
        "Sessions with an error", "Sessions with {{ error_metric }}"))
    chart.unlink()
    out = pub.run(episode=15)
    assert out.exit_code == ExitCode.FAILED
    lines = out.result.message.splitlines()
    assert lines[0] == "episode 15 is invalid and was not committed (3 finding(s)):"
    assert lines[1] == "posts/ep-15.md: missing section '## What shipped'"
    assert "broken relative image './ep-15.svg'" in lines[2] and "unrendered template marker '{{'" in lines[3]
    assert [i.status for i in out.result.items] == ["failed"] * 3
    assert pub.blog.subjects() == ["Start the blog"] and not pub.blog.has_branch("drafts")
    assert pub.status(15)["status"] == "failed"
    assert ("publish.failed", {"episode": 15, "reason": "invalid"}) in pub.metrics()
    assert any("missing section" in t for t in pub.slack_texts())
    assert pub.vercel.created_bodies == []


def test_low_confidence_goes_to_drafts_with_a_review_request(pub: Pub) -> None:
    pub.episode(16, status="draft", confidence=0.41)
    out = pub.run(episode=16)
    assert out.exit_code == ExitCode.OK, out.result.message
    assert pub.blog.subjects("drafts")[0] == "Draft episode 16: Week 16: quantised models got faster"
    assert pub.blog.show("drafts", "posts/ep-16.svg") is not None
    assert pub.blog.show("main", "posts/ep-16.md") is None and pub.vercel.created_bodies == []
    assert pub.status(16)["status"] == "draft"
    texts = pub.slack_texts()
    assert len(texts) == 1 and "Low confidence episode, review needed" in texts[0]
    assert "drafts:posts/ep-16.md" in texts[0] and "muse publish 16 --approve" in texts[0]
    assert ("publish.draft", {"episode": 16}) in pub.metrics()
    again = pub.run(episode=16)  # cron runs again: no new commit, no second message
    assert "already on drafts" in again.result.message and len(pub.slack_texts()) == 1


def test_below_threshold_never_reaches_main_even_if_marked_ready(pub: Pub) -> None:
    pub.episode(17, status="ready", confidence=0.55)
    out = pub.run(episode=17)
    assert out.exit_code == ExitCode.OK and out.result.details["status"] == "draft"
    assert pub.blog.show("main", "posts/ep-17.md") is None


def test_approve_publishes_a_reviewed_draft_and_records_who(pub: Pub) -> None:
    import subprocess

    pub.episode(18, status="draft", confidence=0.41)
    assert pub.run(episode=18).exit_code == ExitCode.OK
    # The clone moves on (another draft, another branch): approval must find the draft anyway.
    subprocess.run(["git", "-C", str(pub.blog.clone), "checkout", "-q", "main"], check=True)
    assert not (pub.blog.clone / "posts" / "ep-18.md").exists()
    out = pub.run(episode=18, approve=True, by="ana")
    assert out.exit_code == ExitCode.OK, out.result.message
    published = pub.blog.show("main", "posts/ep-18.md")
    assert published is not None and "approved_by: ana" in published and "status: ready" in published
    assert pub.status(18) == {"status": "published", "approved_by": "ana", "published_commit": pub.blog.tip("main")}
    assert pub.blog.tag("episode-18") == pub.blog.tip("main")


# -- rollback --------------------------------------------------------------------------------
def test_rollback_reverts_rolls_production_back_and_a_later_publish_promotes(pub: Pub) -> None:
    previous = pub.vercel.seed("c" * 40)
    pub.episode(19)
    first = pub.run(episode=19)
    live = first.result.details["deployment_id"]
    out = pub.run(publisher.rollback, episode=19)
    assert out.exit_code == ExitCode.OK, out.result.message
    assert pub.blog.subjects()[0] == "Roll back episode 19: Week 19: quantised models got faster"
    assert pub.blog.show("main", "posts/ep-19.md") is None
    assert pub.vercel.rollbacks == [previous] and live != previous
    assert pub.status(19)["status"] == "rolled_back"
    assert ("rollback", previous) in pub.deployments(19)
    info = [a for a in pub.alerts() if a["title"] == "Episode 19 rolled back"]
    assert info and info[0]["severity"] == "info"
    assert pub.run(publisher.rollback, episode=19).result.message == "episode 19 is already rolled back; nothing to do"
    # Vercel keeps production on the rollback target until a deployment is promoted.
    pub.episode(20)
    nxt = pub.run(episode=20)
    assert nxt.exit_code == ExitCode.OK
    assert pub.vercel.promotions == [nxt.result.details["deployment_id"]]
    # Publishing the withdrawn episode again needs an explicit approval.
    refused = pub.run(episode=19)
    assert refused.exit_code == ExitCode.USAGE and "--approve" in refused.result.message
    back = pub.run(episode=19, approve=True, by="ana")
    assert back.exit_code == ExitCode.OK, back.result.message
    assert pub.blog.show("main", "posts/ep-19.md") is not None


def _translate(pub: Pub, n: int, langs: tuple[str, ...]) -> None:
    """What a successful `muse i18n sync` leaves: files pushed to main and one row per language."""
    from muse.publishing import blogrepo
    from muse.translation.i18n_check import translation_relpath

    paths = []
    for lang in langs:
        path = pub.blog.clone / translation_relpath(lang, n)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {lang} {n}\n", encoding="utf-8")
        paths.append(path)
    sha = blogrepo.commit_and_push(pub.settings, paths=paths, message=f"i18n: translate episode {n}")
    pub.store.insert("episodes", [{**episode_row(n, status="published", ts="2026-05-04 07:00:00.000"), "lang": lang,
                                   "translation_of": n, "path": translation_relpath(lang, n), "published_commit": sha}
                                  for lang in langs])


def test_rollback_withdraws_the_episodes_translations_and_only_them(pub: Pub) -> None:
    pub.vercel.seed("c" * 40)
    for n in (30, 31):
        pub.episode(n)
        assert pub.run(episode=n).exit_code == ExitCode.OK
        _translate(pub, n, ("de", "zh"))
    out = pub.run(publisher.rollback, episode=31)
    assert out.exit_code == ExitCode.OK, out.result.message
    assert out.result.message.endswith("translations withdrawn: de, zh")
    assert out.result.details["translations_withdrawn"] == ["de", "zh"]
    assert pub.blog.show("main", "posts_i18n/de/ep-31.md") is None
    assert pub.blog.show("main", "posts_i18n/zh/ep-31.md") is None
    assert pub.blog.show("main", "posts_i18n/de/ep-30.md") == "# de 30\n"  # another episode's stays
    rows = pub.store.query("SELECT translation_of, lang, status FROM episodes FINAL WHERE lang != 'en' "
                           "ORDER BY translation_of, lang").rows
    assert rows == [(30, "de", "published"), (30, "zh", "published"), (31, "de", "rolled_back"),
                    (31, "zh", "rolled_back")]
    # Published again after a fix: i18n sees no published translation and translates anew.
    back = pub.run(episode=31, approve=True, by="ana")
    assert back.exit_code == ExitCode.OK, back.result.message
    live = pub.store.named("i18n_translations", {"episodes": [31], "langs": ["de", "zh"]}).dicts()
    assert [r["status"] for r in live] == ["rolled_back", "rolled_back"]


def test_rollback_of_an_unpublished_episode_is_a_usage_error(pub: Pub) -> None:
    pub.episode(21, status="draft", confidence=0.3)
    out = pub.run(publisher.rollback, episode=21)
    assert out.exit_code == ExitCode.USAGE
    assert out.result.message == "episode 21 is draft, not published: nothing to roll back"
    assert pub.alerts() == []  # a usage mistake pages nobody


def test_rollback_whose_production_rollback_fails_pages(pub: Pub) -> None:
    pub.vercel.seed("c" * 40)
    pub.episode(24)
    assert pub.run(episode=24).exit_code == ExitCode.OK
    pub.vercel.rollback_error = (402, "payment_required", "Rolling back further needs the Pro plan")
    out = pub.run(publisher.rollback, episode=24)
    assert out.exit_code == ExitCode.FAILED
    assert "production rollback failed" in out.result.message and "payment_required" in out.result.message
    assert pub.blog.show("main", "posts/ep-24.md") is None  # git is reverted all the same
    assert pub.status(24)["status"] == "rolled_back"
    assert [s for s, _ in pub.deployments(24)][-1] == "rollback_failed"
    assert [a["severity"] for a in pub.alerts()][-1] == "critical"


# -- without Vercel ---------------------------------------------------------------------------
def test_without_token_git_runs_and_the_deploy_is_reported_skipped(pub: Pub, monkeypatch: pytest.MonkeyPatch) -> None:
    from muse.config import load_settings

    monkeypatch.delenv("VERCEL_TOKEN")
    pub.settings = load_settings()
    pub.episode(22)
    out = pub.run(episode=22)
    assert out.exit_code == ExitCode.OK
    assert "; deploy SKIPPED: no VERCEL_TOKEN and no deploy hook configured, so nothing was deployed" \
        in out.result.message
    assert out.result.details["deploy"] == "skipped"
    assert pub.status(22)["status"] == "published" and pub.blog.tag("episode-22") == pub.blog.tip("main")
    assert pub.deployments(22) == [("skipped", "")]
    assert ("publish.success", {"episode": 22, "deploy": "skipped"}) in pub.metrics()
    assert pub.vercel.requests == []


def test_rollback_without_token_reverts_git_and_says_production_was_not_touched(
        pub: Pub, monkeypatch: pytest.MonkeyPatch) -> None:
    from muse.config import load_settings

    monkeypatch.delenv("VERCEL_TOKEN")
    pub.settings = load_settings()
    pub.episode(25)
    assert pub.run(episode=25).exit_code == ExitCode.OK
    out = pub.run(publisher.rollback, episode=25)
    assert out.exit_code == ExitCode.OK
    assert out.result.message.endswith("production was not rolled back on Vercel: no VERCEL_TOKEN")
    assert pub.deployments(25)[-1] == ("rollback_skipped", "")
    assert pub.alerts()[-1]["severity"] == "info"


def test_deploy_hook_without_token_is_triggered_but_unverified(pub: Pub, monkeypatch: pytest.MonkeyPatch) -> None:
    from muse.config import load_settings

    monkeypatch.delenv("VERCEL_TOKEN")
    monkeypatch.setenv("VERCEL_DEPLOY_HOOK_URL", pub.vercel.hook_url)
    pub.settings = load_settings()
    pub.episode(23)
    out = pub.run(episode=23)
    assert out.exit_code == ExitCode.OK and pub.vercel.hook_calls == 1
    assert "deploy hook triggered (job job" in out.result.message and "unverified" in out.result.message
    assert "hOoKsEcReT" not in out.result.message  # the hook URL is a secret
    assert pub.deployments(23)[0][0] == "hook_triggered"


def test_deploy_hook_is_retried_after_a_5xx_but_not_after_a_404(pub: Pub, monkeypatch: pytest.MonkeyPatch) -> None:
    from muse.config import load_settings

    monkeypatch.delenv("VERCEL_TOKEN")
    monkeypatch.setenv("VERCEL_DEPLOY_HOOK_URL", pub.vercel.hook_url)
    pub.settings = load_settings()
    pub.episode(26)
    pub.vercel.hook_faults = [502, 503]
    out = pub.run(episode=26)
    assert pub.vercel.hook_calls == 3 and "deploy hook triggered" in out.result.message
    assert pub.deployments(26)[0][0] == "hook_triggered"
    pub.vercel.hook_calls, pub.vercel.hook_faults = 0, [404, 503]
    pub.episode(27)
    out = pub.run(episode=27)
    assert pub.vercel.hook_calls == 1  # a hook that does not exist is not asked again
    assert pub.deployments(27)[0] == ("api_error", "") and "hOoKsEcReT" not in out.result.message


# -- issue 18: what production really serves ---------------------------------------------------
def _deploy(pub: Pub, n: int, sha: str) -> Any:
    """A deploy of ``sha`` recorded under episode ``n``, as `muse i18n sync` does for a translation commit."""
    from muse.publishing import deploy
    from muse.runs import AgentResult

    def fn(ctx: Any) -> AgentResult:
        r = deploy.deploy_commit(ctx, episode=n, sha=sha)
        return AgentResult(status="ok" if r.ok else "failed", message=r.message)
    return pub.run(fn)


def test_subject_is_not_doubled_when_the_title_names_the_episode(pub: Pub) -> None:
    write_episode(pub.blog.clone, 40)
    insert_episode(pub.store, 40, title="Episode 40: quantised models got faster")
    assert pub.run(episode=40).exit_code == ExitCode.OK
    assert pub.blog.subjects()[0] == "Episode 40: quantised models got faster"
    assert pub.run(publisher.rollback, episode=40).exit_code == ExitCode.OK
    assert pub.blog.subjects()[0] == "Roll back episode 40: quantised models got faster"


def test_rollback_after_a_translation_deploy_withdraws_the_episode(pub: Pub) -> None:
    before = pub.vercel.seed("c" * 40)
    pub.episode(41)
    assert pub.run(episode=41).exit_code == ExitCode.OK
    _translate(pub, 41, ("de",))
    assert _deploy(pub, 41, pub.blog.tip("main")).exit_code == ExitCode.OK  # the translations go live
    assert pub.vercel.live_sha() == pub.blog.tip("main")
    out = pub.run(publisher.rollback, episode=41)
    assert out.exit_code == ExitCode.OK, out.result.message
    # Back to the last deployment from before the episode, not to the episode's own deployment.
    assert pub.vercel.rollbacks == [before] and pub.vercel.live_sha() == "c" * 40
    assert f"production rolled back to {before}" in out.result.message


def test_a_refused_rollback_is_retried_by_running_it_again(pub: Pub) -> None:
    before = pub.vercel.seed("c" * 40)
    pub.episode(42)
    assert pub.run(episode=42).exit_code == ExitCode.OK
    sha = pub.blog.tip("main")
    pub.vercel.rollback_error = (403, "forbidden", "You don't have permission to roll back this project")
    out = pub.run(publisher.rollback, episode=42)
    assert out.exit_code == ExitCode.FAILED
    assert "production may still serve" in out.result.message
    assert "run `muse publish rollback 42` again" in out.result.message
    assert pub.vercel.live_sha() == sha and pub.status(42)["status"] == "rolled_back"
    assert [a["severity"] for a in pub.alerts()][-1] == "critical"
    pub.vercel.rollback_error = None
    again = pub.run(publisher.rollback, episode=42)
    assert again.exit_code == ExitCode.OK, again.result.message
    assert pub.vercel.live_sha() == "c" * 40 and pub.vercel.rollbacks == [before]
    assert [s for s, _ in pub.deployments(42)][-1] == "rollback"
    third = pub.run(publisher.rollback, episode=42)
    assert third.result.message == "episode 42 is already rolled back; nothing to do"


def test_rolling_back_the_only_episode_deploys_the_revert(pub: Pub) -> None:
    pub.episode(43)
    assert pub.run(episode=43).exit_code == ExitCode.OK
    out = pub.run(publisher.rollback, episode=43)
    assert out.exit_code == ExitCode.OK, out.result.message
    revert = pub.blog.tip("main")
    assert pub.vercel.live_sha() == revert and pub.blog.show(revert, "posts/ep-43.md") is None
    assert "the revert" in out.result.message and pub.vercel.rollbacks == []


def test_rolling_back_the_only_episode_pages_when_production_keeps_it(pub: Pub) -> None:
    pub.episode(44)
    assert pub.run(episode=44).exit_code == ExitCode.OK
    live = pub.blog.tip("main")
    pub.vercel.script = ["QUEUED", "ERROR"]  # the revert's build fails
    out = pub.run(publisher.rollback, episode=44)
    assert out.exit_code == ExitCode.FAILED
    assert pub.vercel.live_sha() == live and "production may still serve" in out.result.message
    assert [a["severity"] for a in pub.alerts()][-1] == "critical"


def test_production_pinned_outside_muse_is_promoted_or_reported_staged(pub: Pub) -> None:
    before = pub.vercel.seed("c" * 40)
    pub.episode(45)
    assert pub.run(episode=45).exit_code == ExitCode.OK
    pub.vercel.external_rollback(before)  # someone rolled back in the dashboard: production is pinned
    pub.episode(46)
    out = pub.run(episode=46)
    assert out.exit_code == ExitCode.OK, out.result.message
    dep = out.result.details["deployment_id"]
    assert pub.vercel.promotions == [dep] and pub.vercel.live_sha() == pub.blog.tip("main")
    assert "promoted to production (a rollback had pinned production" in out.result.message
    # Pinned again, and promoting is refused: the deploy is staged, not live, and says so.
    pub.vercel.external_rollback(before)
    pub.vercel.promote_error = (403, "forbidden", "Not authorized to promote")
    pub.episode(47)
    out = pub.run(episode=47)
    assert out.exit_code == ExitCode.FAILED
    assert "STAGED" in out.result.message and "it is not live" in out.result.message
    assert pub.status(47)["status"] == "failed" and pub.vercel.live_sha() == "c" * 40


def test_long_retry_after_on_polling_is_bounded_by_the_one_deadline(pub: Pub, monkeypatch: pytest.MonkeyPatch) -> None:
    from muse.config import load_settings

    monkeypatch.setenv("MUSE_VERCEL_DEPLOY_TIMEOUT_SECONDS", "2")
    pub.settings = load_settings()
    pub.vercel.seed("c" * 40)
    pub.episode(48)
    pub.vercel.script = ["QUEUED", "BUILDING"]
    pub.vercel.rate_limit_only = ("GET", "/v13/deployments/")  # every poll: 429, Retry-After 30
    pub.vercel.rate_limit_next, pub.vercel.retry_after = 10_000, "30"
    t0 = time.monotonic()
    out = pub.run(episode=48)
    assert time.monotonic() - t0 < 4
    assert out.exit_code == ExitCode.FAILED
    msg = out.result.message
    assert "not READY after" not in msg and "rate limited (HTTP 429)" in msg and "gave up on deployment" in msg
    assert "; cancelled" in msg  # the cancel response said CANCELED
    assert pub.vercel.rollbacks == []  # never a rollback to the deployment already in production
    builds = pub.store.query("SELECT build_time_ms FROM deployments FINAL WHERE episode = 48 AND "
                             "status = 'timeout'").rows
    assert builds == [(0,)]  # no invented 2000 ms build


# -- gaps found by mutation testing (issue 24) ----------------------------------------------
def test_a_draft_row_with_high_confidence_stays_a_draft(pub: Pub) -> None:
    """The council marked it draft (e.g. a contradiction): a high score does not publish it."""
    pub.episode(41, status="draft", confidence=0.95)
    out = pub.run(episode=41)
    assert out.exit_code == ExitCode.OK and out.result.details["status"] == "draft"
    assert pub.blog.show("main", "posts/ep-41.md") is None and pub.vercel.created_bodies == []
    assert pub.blog.show("drafts", "posts/ep-41.md") is not None


def test_timeout_whose_cancel_is_unconfirmed_says_so_and_checks_production(pub: Pub,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    """At the deadline the cancel is rate limited: muse must not claim it cancelled, and since
    the deployment may still go live it checks what production serves."""
    from muse.config import load_settings

    monkeypatch.setenv("MUSE_VERCEL_DEPLOY_TIMEOUT_SECONDS", "1")
    pub.settings = load_settings()
    previous = pub.vercel.seed("c" * 40)
    pub.episode(42)
    pub.vercel.script = ["QUEUED", "BUILDING"]
    pub.vercel.rate_limit_only, pub.vercel.rate_limit_next, pub.vercel.retry_after = (
        ("PATCH", "/v12/deployments/"), 100, "30")
    out = pub.run(episode=42)
    assert out.exit_code == ExitCode.FAILED
    dep = next(d for d in pub.vercel.deployments if not d.startswith("dpl_seed"))
    assert pub.vercel.cancels == []
    assert "not READY after 1s (last state BUILDING); cancel not confirmed" in out.result.message
    assert "cancelled" not in out.result.message
    assert f"production already serves {previous}" in out.result.message
    assert ("timeout", dep) in pub.deployments(42)
    assert any(r.levelname == "WARNING" and f"could not cancel deployment {dep}" in r.getMessage()
               for r in caplog.records)


def test_rollback_skips_every_deployment_of_the_episodes_commit(pub: Pub) -> None:
    """The episode's commit was deployed twice (a redeploy): the rollback target is the
    deployment before the episode, never the other deployment of the same commit."""
    previous = pub.vercel.seed("c" * 40, created=int(time.time() * 1000) - 7_200_000)
    pub.episode(43)
    first = pub.run(episode=43)
    assert first.exit_code == ExitCode.OK, first.result.message
    sha = first.result.details["sha"]
    redeploy = pub.vercel.seed(sha, created=int(time.time() * 1000))
    assert pub.vercel.live_sha() == sha and redeploy != first.result.details["deployment_id"]
    out = pub.run(publisher.rollback, episode=43)
    assert out.exit_code == ExitCode.OK, out.result.message
    assert pub.vercel.rollbacks == [previous] and pub.vercel.live_sha() == "c" * 40


def test_rollback_treats_an_unknown_later_deployment_as_containing_the_episode(pub: Pub) -> None:
    """Production moved on to a commit the blog clone does not know (pushed from elsewhere)
    after the episode went live: it may contain the episode, so it is rolled back too, to the
    deployment from before the episode."""
    previous = pub.vercel.seed("c" * 40, created=int(time.time() * 1000) - 7_200_000)
    pub.episode(44)
    assert pub.run(episode=44).exit_code == ExitCode.OK
    pub.vercel.seed("f" * 40, created=int(time.time() * 1000))
    assert pub.vercel.live_sha() == "f" * 40
    out = pub.run(publisher.rollback, episode=44)
    assert out.exit_code == ExitCode.OK, out.result.message
    assert pub.vercel.rollbacks == [previous] and pub.vercel.live_sha() == "c" * 40


def test_rollback_treats_an_unknown_deployment_made_in_the_same_millisecond_as_containing_it(pub: Pub) -> None:
    """A commit the blog clone does not know, deployed in the very millisecond the episode's
    deployment was created, cannot be shown to predate the episode: it may contain it, so the
    rollback skips it and goes to the deployment from before the episode."""
    previous = pub.vercel.seed("c" * 40, created=int(time.time() * 1000) - 7_200_000)
    pub.episode(60)
    first = pub.run(episode=60)
    assert first.exit_code == ExitCode.OK, first.result.message
    created = pub.vercel.deployments[first.result.details["deployment_id"]]["createdAt"]
    unknown = pub.vercel.seed("f" * 40, created=created)
    assert pub.vercel.live_sha() == "f" * 40
    out = pub.run(publisher.rollback, episode=60)
    assert out.exit_code == ExitCode.OK, out.result.message
    assert unknown not in pub.vercel.rollbacks
    assert pub.vercel.rollbacks == [previous] and pub.vercel.live_sha() == "c" * 40


def test_confidence_exactly_at_the_threshold_is_published_not_a_draft(pub: Pub) -> None:
    """Only an episode *below* council.confidence_threshold (0.6) waits for review; one
    scored exactly 0.6 (stored as Float32, read back as 0.6000000238) goes to main."""
    assert pub.settings["council.confidence_threshold"] == 0.6
    pub.episode(45, confidence=0.6)
    out = pub.run(episode=45)
    assert out.exit_code == ExitCode.OK, out.result.message
    assert out.result.details["status"] == "published"
    assert pub.blog.show("main", "posts/ep-45.md") is not None
    assert pub.status(45)["status"] == "published"


def test_a_zero_confidence_episode_is_a_draft(pub: Pub) -> None:
    """Confidence 0 (nothing could be checked) is the lowest score, not a missing one."""
    pub.episode(46, confidence=0.0)
    out = pub.run(episode=46)
    assert out.exit_code == ExitCode.OK and out.result.details["status"] == "draft", out.result.message
    assert "confidence 0.00 < 0.60" in out.result.message
    assert pub.blog.show("main", "posts/ep-46.md") is None and pub.vercel.created_bodies == []


def test_an_api_refusing_every_call_leaves_the_deployment_in_doubt(pub: Pub, caplog: pytest.LogCaptureFixture) -> None:
    """Vercel rate limits every call past the deadline: muse cannot tell whether a deployment
    of the commit exists, so it must not report that none went live, and the log says why."""
    pub.vercel.seed("c" * 40)
    pub.episode(47)
    pub.vercel.rate_limit_next, pub.vercel.retry_after = 1000, "30"
    out = pub.run(episode=47)
    assert out.exit_code == ExitCode.FAILED
    assert "a deployment of it may exist and could not be ruled out" in out.result.message
    assert "never went live" not in out.result.message
    assert pub.blog.subjects()[0] == "Revert episode 47: api error"
    assert any(r.levelname == "WARNING" and "could not check for a deployment of" in r.getMessage()
               for r in caplog.records)
    assert pub.status(47)["status"] == "failed"


def test_a_create_refused_before_anything_was_built_leaves_production_alone(pub: Pub) -> None:
    """The create is rate limited past the deadline; muse looks, finds no deployment of the
    commit, and says production was never touched (no rollback, no doubt raised)."""
    pub.vercel.seed("c" * 40)
    pub.episode(48)
    pub.vercel.rate_limit_only, pub.vercel.rate_limit_next, pub.vercel.retry_after = (
        ("POST", "/v13/deployments"), 1, "30")
    out = pub.run(episode=48)
    assert out.exit_code == ExitCode.FAILED
    assert "production unchanged (the failed deployment never went live)" in out.result.message
    assert "could not be ruled out" not in out.result.message
    assert pub.vercel.created_bodies == [] and pub.vercel.rollbacks == [] and pub.vercel.live_sha() == "c" * 40
    assert pub.blog.subjects()[0] == "Revert episode 48: api error"


def test_a_deployment_that_went_ready_as_muse_gave_up_is_published(pub: Pub, monkeypatch: pytest.MonkeyPatch) -> None:
    """The poll is rate limited past the deadline, so muse gives up and cancels; Vercel
    answers that the deployment is no longer building: it went READY meanwhile. That is a
    publish, not a failure to revert, and the time reported is the time muse waited."""
    from muse.config import load_settings

    monkeypatch.setenv("MUSE_VERCEL_POLL_INTERVAL_SECONDS", "0.5")
    pub.settings = load_settings()
    pub.episode(49)
    pub.vercel.script, pub.vercel.step_seconds = ["QUEUED", "READY"], 0.001
    pub.vercel.rate_limit_only, pub.vercel.rate_limit_next, pub.vercel.retry_after = (
        ("GET", "/v13/deployments/"), 1, "30")
    out = pub.run(episode=49)
    assert out.exit_code == ExitCode.OK, out.result.message
    dep = out.result.details["deployment_id"]
    assert pub.status(49)["status"] == "published" and pub.vercel.cancels == []
    assert ("ready", dep) in pub.deployments(49) and pub.vercel.live_sha() == pub.blog.tip("main")
    assert pub.blog.subjects()[0].startswith("Episode 49:")
    assert 500 <= out.result.details["build_time_ms"] < 5000  # one poll interval, then the give-up


def test_lost_creates_that_went_live_are_rolled_back_not_called_harmless(pub: Pub) -> None:
    """Every create reply is lost (502) and the look-ups in between are rate limited, so muse
    gives up on creating; meanwhile those builds went READY and live. The check after the
    error must see them: production goes back to the deployment before the episode."""
    previous = pub.vercel.seed("c" * 40, created=int(time.time() * 1000) - 7_200_000)
    pub.episode(50)
    pub.vercel.script, pub.vercel.step_seconds = ["QUEUED", "READY"], 0.001
    pub.vercel.lose_creates = 3
    pub.vercel.rate_limit_only, pub.vercel.rate_limit_next, pub.vercel.retry_after = (
        ("GET", "/v6/deployments"), 3, "30")
    out = pub.run(episode=50)
    assert out.exit_code == ExitCode.FAILED
    assert len(pub.vercel.created_bodies) == 3
    assert "a deployment of it may exist and could not be ruled out" in out.result.message
    assert "never went live" not in out.result.message
    assert pub.vercel.rollbacks == [previous] and pub.vercel.live_sha() == "c" * 40


def test_rollback_skips_an_unknown_deployment_made_between_two_of_the_episode(pub: Pub) -> None:
    """The episode went live, then a commit the clone does not know was deployed, then the
    episode's commit was redeployed. The unknown one came after the episode first went live,
    so it may contain it: the rollback goes to the deployment from before the episode."""
    previous = pub.vercel.seed("c" * 40, created=int(time.time() * 1000) - 7_200_000)
    pub.episode(51)
    first = pub.run(episode=51)
    assert first.exit_code == ExitCode.OK, first.result.message
    sha = first.result.details["sha"]
    now = int(time.time() * 1000)
    unknown = pub.vercel.seed("f" * 40, created=now + 1000)
    pub.vercel.seed(sha, created=now + 2000)
    assert pub.vercel.live_sha() == sha
    out = pub.run(publisher.rollback, episode=51)
    assert out.exit_code == ExitCode.OK, out.result.message
    assert unknown not in pub.vercel.rollbacks
    assert pub.vercel.rollbacks == [previous] and pub.vercel.live_sha() == "c" * 40


def test_rollback_goes_back_to_a_known_commit_from_before_the_episode(pub: Pub) -> None:
    """Production served the blog's own earlier commit (one the clone knows): that deployment
    does not contain the episode, so the rollback returns to it rather than redeploying."""
    before = pub.blog.tip("main")
    previous = pub.vercel.seed(before, created=int(time.time() * 1000) - 7_200_000)
    pub.episode(52)
    assert pub.run(episode=52).exit_code == ExitCode.OK
    out = pub.run(publisher.rollback, episode=52)
    assert out.exit_code == ExitCode.OK, out.result.message
    assert pub.vercel.rollbacks == [previous] and pub.vercel.live_sha() == before
    assert f"production rolled back to {previous}" in out.result.message
