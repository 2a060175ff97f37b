"""The narrator on a real chDB store and real git repos, against a loopback OpenAI-compatible
server: only verified numbers reach the episode, and every failure falls back to the template."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import timedelta
from typing import Any, Callable

import pytest

from fake_openai import KEY, FakeOpenAI
from fakes import closed_port
from muse import episode as epfmt
from muse.analysis import narrator
from muse.analysis.evidence import trace
from muse.runs import RunContext
from muse.telemetry import Telemetry
from test_council import NOW, World, section, vouch, world  # noqa: F401 - world is a fixture
from test_council_run import live_world  # noqa: F401 - live_world is a fixture

Claims = Callable[[dict[str, Any]], list[dict[str, Any]]]


@pytest.fixture
def fake() -> Any:
    f = FakeOpenAI()
    yield f
    f.close()


def regression(world: World, store: Any) -> None:
    """mistral-7b regresses at day 3 on the benchmark and for its users; two control models."""
    world.fill(store, hearts_p95=[400] * 7, user_latency=[1000] * 7, models=["llama3-8b", "mistral-7b"],
               step=("mistral-7b", 3, 1.5))
    world.fill_users(store, models={"mistral-7b": 800, "llama3-8b": 600, "qwen2-7b": 700},
                     slower=("mistral-7b", 3, 1.5))
    world.insight(store, model="mistral-7b", day=3, baseline=400, observed=600)


def cfg(fake: FakeOpenAI, **kw: Any) -> dict[str, Any]:
    return {"narrator.base_url": fake.url, "narrator.api_key": KEY, "narrator.analysts": "analyst-a",
            "narrator.judge": "", "narrator.max_retries": 0, "narrator.timeout_seconds": 5,
            "council.link_span_days": 3, **kw}


def narrate(world: World, store: Any, overrides: dict[str, Any], telemetry: Telemetry | None = None) -> Any:
    from muse.agents import council

    settings = world.settings(**overrides)
    ctx = RunContext("council", str(uuid.uuid4()), settings, store,
                     telemetry or Telemetry(state_dir=settings.state_dir), NOW)
    return council.compose(ctx, window=council.Window(NOW - timedelta(days=7), NOW), verdict=vouch(world, store),
                           narrate=True)


class Payload:
    """What an analyst received: the skeleton and the facts, looked up by label."""

    def __init__(self, req: dict[str, Any]) -> None:
        doc = json.loads(req["messages"][1]["content"])
        self.sections = {s["section"]: s for s in doc["sections"]}
        self.facts = doc["facts"]

    def fact(self, label_start: str, contains: str = "") -> dict[str, Any]:
        return next(f for f in self.facts if f["label"].startswith(label_start) and contains in f["label"])


def script(fake: FakeOpenAI, model: str, claims: Claims) -> None:
    fake.answer(model, lambda req: {"claims": claims(Payload(req))})


def users_claim(p: Payload) -> dict[str, Any]:
    u = p.fact("user latency change", "mistral")
    lo, hi = p.fact("95% interval low", "mistral"), p.fact("95% interval high", "mistral")
    ci = p.fact("interval level")
    return {"section": "Why it matters", "facts": [u["id"], lo["id"], hi["id"], ci["id"]],
            "text": f"Users' `mistral-7b` calls got slower by {u['display']} after the commit "
                    f"({ci['display']} CI {lo['display']} to {hi['display']})."}


def body_of(comp: Any) -> str:
    return epfmt.parse(comp.markdown).body


def assert_every_number_traced(comp: Any) -> None:
    body = body_of(comp)
    lines = trace(body, comp.evidence)
    assert lines and [t.number for t in lines if not t.traced] == []


def test_claims_citing_the_right_facts_are_narrated_and_traced(world: World, store: Any, fake: FakeOpenAI) -> None:
    regression(world, store)

    def claims(p: Payload) -> list[dict[str, Any]]:
        step = p.fact("p95 change, median after vs before", "mistral-7b/q4_K_M/chat")
        before = p.fact("median p95 before the change point", "mistral-7b/q4_K_M/chat")
        after = p.fact("median p95 after the change point", "mistral-7b/q4_K_M/chat")
        u = p.fact("user latency change", "mistral")
        lat, sessions = p.fact("event-weighted mean user latency"), p.fact("sessions on the full days")
        return [
            {"section": "TL;DR", "facts": [before["id"], after["id"], step["id"]],
             "text": f"`mistral-7b` benchmark p95 rose from {before['display']} to {after['display']} "
                     f"({step['display']})."},
            # A documented rounding: "+50%" for +49.9x% is printed as the fact's own display.
            {"section": "TL;DR", "facts": [u["id"]], "text": "Its users felt it: about +50% slower."},
            {"section": "User experience", "facts": [lat["id"], sessions["id"]],
             "text": f"Across {sessions['display']} sessions users waited {lat['display']} on average."},
            users_claim(p),
            # Causal wording backed by the before/after comparison whose interval excludes zero.
            {"section": "Why it matters", "facts": [u["id"]],
             "text": f"The commit led to a {u['display']} slowdown for `mistral-7b` users."},
        ]

    script(fake, "analyst-a", claims)
    comp = narrate(world, store, cfg(fake))
    nar = comp.narration
    assert [c.reason for c in nar.claims if not c.kept] == []
    assert nar.sections == {"TL;DR": "bullets", "User experience": "bullets", "Why it matters": "bullets"}
    tldr, why = section(comp.markdown, "TL;DR"), section(comp.markdown, "Why it matters")
    assert "- `mistral-7b` benchmark p95 rose from 400 ms to 600 ms (+50.0%)." in tldr
    u = next(f for f in comp.evidence["facts"] if f["label"].startswith("user latency change") and "mistral" in f["label"])
    assert f"about {u['display']} slower" in tldr and "+50%" not in tldr
    assert "8,400 sessions" in section(comp.markdown, "User experience")
    assert "The commit led to a" in why and "**Users'" not in why  # the template's text is replaced
    dq = section(comp.markdown, "Data quality")
    assert "- Narrator: TL;DR, User experience, Why it matters written by `analyst-a`" in dq
    assert_every_number_traced(comp)
    # The narrated numbers are bound to the facts they cite, at the place they are printed.
    body = body_of(comp)
    t = next(t for t in trace(body, comp.evidence) if t.number == u["display"] and t.line == body[:body.index(
        "about ")].count("\n") + 1)
    assert t.fact["id"] == u["id"]
    # The request held the facts and the skeleton only, at temperature 0 in JSON mode.
    req = fake.chat_requests("analyst-a")[0]
    assert req["temperature"] == 0 and req["response_format"] == {"type": "json_object"}
    sent = json.loads(req["messages"][1]["content"])
    assert set(sent) == {"sections", "facts"} and [s["section"] for s in sent["sections"]] == list(narrator.NARRATED)
    assert set(sent["facts"][0]) == {"id", "value", "display", "unit", "label", "finding"}
    assert "bench tweak" not in req["messages"][1]["content"]  # no commit subjects, no rows


@pytest.mark.parametrize("bad, reason", [
    ("invent", "matches no fact the claim cites"),
    ("missing_id", "cites E999, which is not a fact of this episode"),
    ("wrong_fact", "which the claim does not cite"),
    ("causal", "causal wording"),
    ("flip_sign", "matches no fact the claim cites"),
    ("identifier", "which the episode's facts do not"),
])
def test_unverifiable_claims_are_dropped_with_their_reason(world: World, store: Any, fake: FakeOpenAI, bad: str,
                                                           reason: str) -> None:
    regression(world, store)

    def claims(p: Payload) -> list[dict[str, Any]]:
        u = p.fact("user latency change", "mistral")
        ctrl = p.fact("user latency change", "llama3-8b")
        err = p.fact("session-weighted error rate")
        text = {"invent": ("Users' calls got 37% slower.", [u["id"]]),
                "missing_id": (f"Users' calls moved {u['display']}.", [u["id"], "E999"]),
                "wrong_fact": (f"Users' `mistral-7b` calls moved {ctrl['display']}.", [u["id"]]),
                "causal": (f"The error rate of {err['display']} was caused by the release.", [err["id"]]),
                "flip_sign": (f"Users' calls moved -{u['display'].lstrip('+')}.", [u["id"]]),
                "identifier": (f"`gpt-5` moved {u['display']}.", [u["id"]])}[bad]
        return [users_claim(p), {"section": "Why it matters", "text": text[0], "facts": text[1]}]

    script(fake, "analyst-a", claims)
    comp = narrate(world, store, cfg(fake))
    dropped = [c for c in comp.narration.claims if not c.kept]
    assert len(dropped) == 1 and reason in dropped[0].reason, dropped
    assert [c.kept for c in comp.narration.claims] == [True, False]
    why = section(comp.markdown, "Why it matters")
    assert why.strip().startswith("- Users' `mistral-7b` calls got slower by")
    assert "37%" not in why and "gpt-5" not in why and "caused" not in why
    assert_every_number_traced(comp)


def test_judge_merges_and_a_judge_adding_a_number_falls_back_to_bullets(world: World, store: Any,
                                                                       fake: FakeOpenAI) -> None:
    regression(world, store)
    script(fake, "analyst-a", lambda p: [users_claim(p)])
    script(fake, "analyst-b", lambda p: [users_claim(p)])

    def judge(req: dict[str, Any]) -> dict[str, Any]:
        doc = json.loads(req["messages"][1]["content"])
        claim = doc["sections"][0]["claims"][0]
        return {"sections": [{"section": "Why it matters", "facts": claim["facts"],
                              "text": "In short: " + claim["text"]}]}

    fake.answer("judge-j", judge)
    comp = narrate(world, store, cfg(fake, **{"narrator.analysts": "analyst-a,analyst-b",
                                              "narrator.judge": "judge-j"}))
    assert comp.narration.sections["Why it matters"] == "judge"
    assert section(comp.markdown, "Why it matters").strip().startswith("In short: Users' `mistral-7b` calls")
    assert "`analyst-a`, `analyst-b` merged by `judge-j`" in section(comp.markdown, "Data quality")
    assert_every_number_traced(comp)

    # Now the judge slips in a number (a real fact's, but one no verified claim cited).
    def sneaky(req: dict[str, Any]) -> dict[str, Any]:
        doc = json.loads(req["messages"][1]["content"])
        claim = doc["sections"][0]["claims"][0]
        return {"sections": [{"section": "Why it matters", "facts": claim["facts"] + ["E1"],
                              "text": claim["text"] + " It is the worst week in 12 months."}]}

    fake.answer("judge-j", sneaky)
    comp = narrate(world, store, cfg(fake, **{"narrator.judge": "judge-j"}))
    why = section(comp.markdown, "Why it matters")
    assert comp.narration.sections["Why it matters"] == "bullets"
    assert "12 months" not in why and why.strip().startswith("- Users' `mistral-7b` calls got slower by")
    assert_every_number_traced(comp)

    # A judge that is down leaves the verified claims as bullets too.
    fake.fault("judge-j", "500")
    comp = narrate(world, store, cfg(fake, **{"narrator.judge": "judge-j"}))
    assert comp.narration.sections["Why it matters"] == "bullets"
    assert [(c.operation, c.status) for c in comp.narration.calls] == [("analyst", "ok"), ("judge", "error")]


def test_judge_cannot_use_a_fact_no_claim_cited() -> None:
    f = narrator.fact_from_dict({"id": "E1", "label": "a", "value": 3.0, "unit": "", "display": "3"})
    g = narrator.fact_from_dict({"id": "E2", "label": "b", "value": 4.0, "unit": "", "display": "4"})
    text, why = narrator.verify("Three is 3 and four is 4.", ["E1", "E2"], {"E1": f, "E2": g}, allowed={"E1"},
                                code=set(), supported=set())
    assert text is None and why == "cites E2, which no verified claim used"


def test_rounding_rules() -> None:
    pct = narrator.fact_from_dict({"id": "E1", "label": "change", "value": 0.4987, "unit": "%", "display": "+49.9%",
                                   "scale": 100.0, "format": "{:+.1f}"})
    ms = narrator.fact_from_dict({"id": "E2", "label": "latency", "value": 1234.4, "unit": "ms",
                                  "display": "1,234 ms"})
    facts = {"E1": pct, "E2": ms}

    def ok(text: str, cited: list[str]) -> bool:
        return narrator.verify(text, cited, facts, code=set(), supported=set())[0] is not None

    assert ok("up +50%", ["E1"]) and ok("up 49.9%", ["E1"]) and ok("up +49.9%", ["E1"])
    assert not ok("up 49.87%", ["E1"])  # more decimals than the fact shows is not a rounding
    assert not ok("up 51%", ["E1"]) and not ok("up -50%", ["E1"]) and not ok("up 50", ["E1"])  # value, sign, unit
    assert ok("at 1,234 ms", ["E2"]) and ok("at 1234ms", ["E2"]) and not ok("at 1.2 s", ["E2"])
    assert not ok("at 1,234 ms", ["E1"])  # the right number from an uncited fact
    seven = {"E3": narrator.fact_from_dict({"id": "E3", "label": "days", "value": 7, "unit": "", "display": "7"})}
    for text in ("-7 days", "$7", "7ms", "7%"):
        assert narrator.verify(text, ["E3"], seven, code=set(), supported=set())[0] is None, text
    text, _ = narrator.verify("up +50% at 1234ms", ["E1", "E2"], facts, code=set(), supported=set())
    assert re.sub("[\ue000-\ue002]|E\\d", "", text) == "up +49.9% at 1,234 ms"


def test_hostile_model_output_is_escaped_and_cannot_forge_a_marker(world: World, store: Any,
                                                                  fake: FakeOpenAI) -> None:
    regression(world, store)

    def claims(p: Payload) -> list[dict[str, Any]]:
        u = p.fact("user latency change", "mistral")
        forged = "\ue000E1\ue00199\ue002"
        return [{"section": "Why it matters", "facts": [u["id"]],
                 "text": f"## Pwned <script>alert('x')</script> [click](http://evil.example) moved {u['display']}."},
                {"section": "Why it matters", "facts": [u["id"]], "text": f"Forged {forged} and {u['display']}."}]

    script(fake, "analyst-a", claims)
    comp = narrate(world, store, cfg(fake))
    why = section(comp.markdown, "Why it matters")
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").render(why)
    assert "<script" not in html and "<a " not in html and "<h2" not in html and "&lt;script&gt;" in html
    # The forged marker's private-use characters are dropped: "E199" is inert text, no fact, no number.
    assert "- Forged E199 and +" in why and not any("\ue000" <= ch <= "\uf8ff" for ch in comp.markdown)
    assert_every_number_traced(comp)


@pytest.mark.parametrize("fault", ["500", "429", "refuse", "prose", "garbage", "slow", "401", "404"])
def test_failures_never_block_the_episode(world: World, store: Any, fake: FakeOpenAI, fault: str) -> None:
    regression(world, store)
    script(fake, "analyst-a", lambda p: [users_claim(p)])
    over: dict[str, Any] = {"narrator.analysts": "analyst-a"}
    if fault == "401":
        over["narrator.api_key"] = "sk-wrong-key-000"
    elif fault == "404":
        over["narrator.analysts"] = "no-such-model"
    elif fault == "slow":
        over["narrator.timeout_seconds"] = 0.5
        fake.fault_delay = 2.0
        fake.fault(None, "slow")
    else:
        fake.fault(None, fault)
    comp = narrate(world, store, cfg(fake, **over))
    assert comp.narration.narrated == [] and comp.status == "ready"
    assert section(comp.markdown, "Why it matters").lstrip().startswith("**Users' `mistral-7b` calls")  # template
    assert "- Narrator: nothing it wrote verified against the facts" in section(comp.markdown, "Data quality")
    call = comp.narration.calls[0]
    expect = {"500": "HTTP 500: The server had an error", "429": "HTTP 429: Rate limit reached",
              "refuse": "refused: I'm sorry", "prose": "answer is not a JSON object", "garbage": "malformed answer",
              "slow": "timed out", "401": "HTTP 401: API key rejected", "404": "HTTP 404: The model"}[fault]
    assert call.status in ("error", "refused") and call.error.startswith(expect), call
    assert "sk-" not in call.error and "***" not in call.error
    assert_every_number_traced(comp)
    rows = store.query("SELECT model, operation, status, error_msg FROM llm_events FINAL "
                       "WHERE source = 'council'").dicts()
    assert [(r["operation"], r["status"]) for r in rows] == [("analyst", call.status)]


def test_429_with_retry_after_is_retried_then_narrated(world: World, store: Any, fake: FakeOpenAI) -> None:
    regression(world, store)
    script(fake, "analyst-a", lambda p: [users_claim(p)])
    fake.fault("analyst-a", "429", times=1)
    t0 = time.monotonic()
    comp = narrate(world, store, cfg(fake, **{"narrator.max_retries": 2}))
    assert comp.narration.narrated == ["Why it matters"]
    assert len(fake.chat_requests("analyst-a")) == 2 and time.monotonic() - t0 >= 1.0  # waited Retry-After: 1


def test_all_endpoints_down(world: World, store: Any) -> None:
    regression(world, store)
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    comp = narrate(world, store, {"narrator.base_url": dead, "narrator.analysts": "a,b", "narrator.judge": "j",
                                  "narrator.max_retries": 0, "narrator.timeout_seconds": 2,
                                  "council.link_span_days": 3})
    assert comp.narration.narrated == [] and [c.error for c in comp.narration.calls] == ["endpoint unreachable"] * 2
    assert "- Narrator: nothing it wrote verified" in section(comp.markdown, "Data quality")
    assert_every_number_traced(comp)


def test_server_without_json_mode_is_read_by_the_tolerant_parser(world: World, store: Any, fake: FakeOpenAI) -> None:
    regression(world, store)
    fake.json_mode = False
    fake.answer("analyst-a", lambda req: "Here you go:\n```json\n" + json.dumps(
        {"claims": [users_claim(Payload(req))]}) + "\n```\nAnything else?")
    comp = narrate(world, store, cfg(fake))
    assert comp.narration.narrated == ["Why it matters"]
    assert [("response_format" in r) for r in fake.chat_requests()] == [True, False]


def test_calls_are_recorded_with_cost_and_the_daily_budget_stops_the_narrator(world: World, store: Any,
                                                                              fake: FakeOpenAI) -> None:
    regression(world, store)
    script(fake, "analyst-a", lambda p: [users_claim(p)])
    script(fake, "analyst-b", lambda p: [users_claim(p)])
    prices = {"analyst-a": {"in": 1000.0, "out": 2000.0}, "analyst-b": {"in": 1000.0, "out": 2000.0}}
    tel = Telemetry(state_dir=world.tmp / "tel")
    comp = narrate(world, store, cfg(fake, **{"narrator.analysts": "analyst-a,analyst-b", "narrator.prices": prices,
                                              "narrator.daily_budget_usd": 100.0}), telemetry=tel)
    rows = store.query("SELECT model, operation, tokens_in, tokens_out, latency_ms, toFloat64(cost_usd) AS cost, "
                       "status FROM llm_events FINAL WHERE source = 'council' ORDER BY model").dicts()
    assert [(r["model"], r["operation"], r["status"]) for r in rows] == [("analyst-a", "analyst", "ok"),
                                                                        ("analyst-b", "analyst", "ok")]
    for r in rows:
        assert r["tokens_in"] > 100 and r["tokens_out"] > 10
        assert r["cost"] == pytest.approx((r["tokens_in"] * 1000 + r["tokens_out"] * 2000) / 1e6, abs=1e-6)
    names = {s.name for s in tel.samples}
    assert {"narrator.calls", "narrator.latency_ms", "narrator.tokens", "narrator.cost_usd"} <= names
    assert comp.narration.cost == pytest.approx(sum(r["cost"] for r in rows), abs=1e-5)

    # The first call's cost passes the budget: the second analyst is never asked.
    spent = sum(r["cost"] for r in rows)
    before = len(fake.chat_requests())
    comp = narrate(world, store, cfg(fake, **{"narrator.analysts": "analyst-a,analyst-b", "narrator.prices": prices,
                                              "narrator.daily_budget_usd": spent + 0.01}))
    assert [r["model"] for r in fake.chat_requests()[before:]] == ["analyst-a"]
    assert comp.narration.narrated == ["Why it matters"]  # what was bought is used

    # Today's spend is over the budget: no call at all, the templates write the episode.
    before = len(fake.chat_requests())
    comp = narrate(world, store, cfg(fake, **{"narrator.prices": prices, "narrator.daily_budget_usd": 0.5}))
    assert len(fake.chat_requests()) == before and comp.narration.narrated == []
    assert "- Narrator: not used (the daily cost budget is spent)" in section(comp.markdown, "Data quality")
    # A token budget works the same way.
    comp = narrate(world, store, cfg(fake, **{"narrator.daily_budget_usd": 0, "narrator.daily_budget_tokens": 10}))
    assert comp.narration.stopped == "the daily token budget is spent"
    assert_every_number_traced(comp)


def test_a_lost_contradiction_keeps_the_template(world: World, store: Any, fake: FakeOpenAI) -> None:
    """Users faster while the benchmark got slower: narration that drops the contradiction is not used."""
    world.fill(store, hearts_p95=[400] * 7, user_latency=[1000] * 7, models=["llama3-8b", "mistral-7b"],
               step=("mistral-7b", 3, 1.5))
    world.fill_users(store, models={"mistral-7b": 800, "llama3-8b": 600}, slower=("mistral-7b", 3, 0.6))
    world.insight(store, model="mistral-7b", day=3, baseline=400, observed=600)
    script(fake, "analyst-a", lambda p: [{"section": "Why it matters", "facts": [p.fact("user latency change",
                                                                                         "mistral")["id"]],
                                          "text": "Users moved " + p.fact("user latency change", "mistral")["display"]
                                                  + "."}])
    comp = narrate(world, store, cfg(fake))
    assert "Contradiction" in section(comp.markdown, "Why it matters")
    assert comp.narration.sections["Why it matters"] == "template: narration lost a caveat"


def test_demo_config_leaves_the_narrator_off(world: World, store: Any) -> None:
    from muse.agents import council

    world.fill(store, hearts_p95=[400] * 7, user_latency=[1000] * 7)
    settings = world.settings()
    assert settings["narrator.enabled"] is False
    ctx = RunContext("council", str(uuid.uuid4()), settings, store, Telemetry(state_dir=settings.state_dir), NOW)
    comp = council.compose(ctx, window=council.Window(NOW - timedelta(days=7), NOW), verdict=vouch(world, store))
    assert comp.narration is None and "Narrator" not in comp.markdown


def test_health_probe(fake: FakeOpenAI) -> None:
    from muse.config import load_settings
    from muse.ops.probes import probe_narrator

    base = {"narrator.enabled": True, "narrator.base_url": fake.url, "narrator.analysts": "analyst-a",
            "narrator.judge": "judge-j"}
    ok = probe_narrator(load_settings(overrides=base, env={"MUSE_NARRATOR_API_KEY": KEY}), 5)
    assert ok.level == "ok" and "2 model(s) listed" in ok.detail
    assert fake.chat_requests()[-1]["max_tokens"] == 5
    bad = probe_narrator(load_settings(overrides=base, env={"OPENAI_API_KEY": "sk-bad-123456"}), 5)
    assert bad.level == "fail" and bad.detail.startswith("HTTP 401: API key rejected") and "3456" not in bad.detail
    missing = probe_narrator(load_settings(overrides={**base, "narrator.judge": "gone"}, env={
        "MUSE_NARRATOR_API_KEY": KEY}), 5)
    assert missing.level == "fail" and "gone" in missing.detail
    off = probe_narrator(load_settings(env={}), 5)
    assert off.level == "info"


def test_cli_narrate_dry_run_then_rerender_and_trace(live_world: World, cli: Any, fake: FakeOpenAI) -> None:
    env = {"MUSE_REPOS_BANTERHEARTS_PATH": str(live_world.tmp / "hearts"),
           "MUSE_REPOS_BANTERPACKS_PATH": str(live_world.tmp / "packs"),
           "MUSE_REPOS_BANTERBLOGS_PATH": str(live_world.tmp / "blog"),
           "MUSE_NARRATOR_BASE_URL": fake.url, "OPENAI_API_KEY": KEY, "MUSE_NARRATOR_ANALYSTS": "analyst-a",
           "MUSE_NARRATOR_MAX_RETRIES": "0"}
    assert cli("council", "generate", "--force", env=env).exit_code == 0
    post = live_world.tmp / "blog" / "posts" / "ep-1.md"
    original = post.read_text()

    def claims(p: Payload) -> list[dict[str, Any]]:
        avg, results = p.fact("mean benchmark p95"), p.fact("benchmark results on the full days")
        return [{"section": "TL;DR", "facts": [avg["id"], results["id"]],
                 "text": f"Benchmarks averaged {avg['display']} p95 over {results['display']} results."},
                {"section": "TL;DR", "facts": [avg["id"]], "text": "Benchmarks averaged 999 ms."}]

    script(fake, "analyst-a", claims)
    r = cli("council", "narrate", "1", "--dry-run", "--json", env=env)
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    assert set(doc) >= {"markdown", "claims", "calls"} and doc["calls"] == 1
    assert [(c["kept"], c["reason"]) for c in doc["claims"]] == [
        (True, ""), (False, "number '999' matches no fact the claim cites")]
    assert "- Benchmarks averaged" in section(doc["markdown"], "TL;DR")
    assert post.read_text() == original  # a dry run writes nothing
    r = cli("council", "narrate", "1", "--dry-run", env=env)
    assert r.exit_code == 0 and "DROPPED" in r.stdout and "## TL;DR" in r.stdout
    r = cli("council", "narrate", "1", env=env)
    assert r.exit_code == 0, r
    assert "- Benchmarks averaged" in section(post.read_text(), "TL;DR")
    assert "999" not in post.read_text()
    r = cli("council", "trace", "1", env=env)
    assert r.exit_code == 0 and "0 without a fact" in r.stdout, r
    from muse.store import open_store

    with open_store(live_world.settings()) as st:
        versions = st.query("SELECT count() FROM episodes WHERE episode = 1").scalar()
        row = st.named("council_episode", {"episode": 1, "lang": "en"}).first()
    assert versions == 2 and row["status"] == "draft"
    # Narrating twice keeps one narrator line in Data quality.
    assert cli("council", "narrate", "1", env=env).exit_code == 0
    assert section(post.read_text(), "Data quality").count("- Narrator:") == 1
    assert cli("council", "trace", "1", env=env).exit_code == 0


def test_cli_generate_narrate(live_world: World, cli: Any, fake: FakeOpenAI) -> None:
    env = {"MUSE_REPOS_BANTERHEARTS_PATH": str(live_world.tmp / "hearts"),
           "MUSE_REPOS_BANTERPACKS_PATH": str(live_world.tmp / "packs"),
           "MUSE_REPOS_BANTERBLOGS_PATH": str(live_world.tmp / "blog"),
           "MUSE_NARRATOR_BASE_URL": fake.url, "MUSE_NARRATOR_API_KEY": KEY, "MUSE_NARRATOR_ANALYSTS": "analyst-a"}
    script(fake, "analyst-a", lambda p: [{"section": "User experience", "facts": [p.fact("sessions on the full")["id"]],
                                          "text": f"{p.fact('sessions on the full')['display']} sessions."}])
    r = cli("council", "generate", "--force", "--json", env=env)
    assert r.exit_code == 0 and len(fake.chat_requests()) == 0  # off unless asked
    r = cli("council", "generate", "--force", "--narrate", "--json", env=env)
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["details"]["narration"]["narrated"] == ["User experience"]
    assert cli("council", "trace", "1", env=env).exit_code == 0
    r = cli("config", "show", "--json", env=env)
    assert json.loads(r.stdout)["settings"]["narrator.api_key"] == "********" and KEY not in r.output


def _prop_facts() -> dict[str, Any]:
    rows = [("E1", 0.4987, "%", "+49.9%", 100.0), ("E2", 1234.4, "ms", "1,234 ms", 1.0), ("E3", 7, "", "7", 1.0),
            ("E4", -0.012, "%", "-1.2%", 100.0), ("E5", 0.21, "", "$0.21", 1.0),
            ("E6", "2026-11-16 02:00", "", "2026-11-16 02:00", 1.0)]
    return {i: narrator.fact_from_dict({"id": i, "label": f"fact {i}", "value": v, "unit": u, "display": d,
                                        "scale": sc}) for i, v, u, d, sc in rows}


def test_verified_text_never_holds_an_untraced_number() -> None:
    """Whatever a model writes, text that passes verification traces every number to a fact."""
    from hypothesis import given, settings as hsettings, strategies as st

    from muse.analysis.evidence import Facts, sidecar, strip_markers

    facts = _prop_facts()
    pieces = st.sampled_from(["+49.9%", "49.9%", "+50%", "1,234 ms", "1234ms", "7", "-1.2%", "$0.21", "0.21",
                              "2026-11-16 02:00", "12", "3.5", "`m-7b`", "`x9`", "`", " ", "a", "x", "\\", "(",
                              ")", "[", "]", "-", "+", ",", ".", "%", "ms", "\ue000", "\ue001", "\ue002", "E1",
                              "\n", "#", "*", "<", "$"])

    @hsettings(max_examples=600, deadline=None)
    @given(st.lists(pieces, max_size=14), st.lists(st.sampled_from(sorted(facts)), max_size=4), st.booleans())
    def check(parts: list[str], cited: list[str], paragraphs: bool) -> None:
        text, _ = narrator.verify("".join(parts), cited, facts, code={"`m-7b`"}, supported=set(),
                                  paragraphs=paragraphs)
        if text is None:
            return
        body, occ = strip_markers("Intro.\n\n- " + text + "\n")
        doc, _ = sidecar(episode=1, body=body, facts=Facts(list(facts.values())), occurrences=occ)
        assert [t.number for t in trace(body, doc) if not t.traced] == [], (parts, body)
        assert not any("\ue000" <= ch <= "\uf8ff" for ch in body)

    check()


def test_odd_json_shapes_are_dropped_not_crashed(world: World, store: Any, fake: FakeOpenAI) -> None:
    regression(world, store)
    fake.answer("analyst-a", lambda req: {"claims": [5, {"section": ["x"], "text": {"a": 1}, "facts": 7},
                                                     {"section": "Why it matters", "text": "ok", "facts": "E1"},
                                                     users_claim(Payload(req))]})
    fake.answer("judge-j", {"sections": [{"section": ["Why it matters"], "text": 3}, "junk"]})
    comp = narrate(world, store, cfg(fake, **{"narrator.judge": "judge-j"}))
    assert comp.narration.sections["Why it matters"] == "bullets"
    assert sum(c.kept for c in comp.narration.claims) == 1
    assert_every_number_traced(comp)
