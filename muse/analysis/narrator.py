"""Narrator: LLM analysts and a judge that may only say what the episode's facts say.

An optional layer over the templated episode (docs/narrator.md). Input is the episode's
fact set (id, value, display, unit, label, finding) and the skeleton of the narrated
sections (their names, the fact ids and the identifiers the template printed there) --
never rows or logs. Each analyst model returns claims as JSON, each citing fact ids; every
claim is verified here (:func:`verify`), the judge merges the kept claims into prose per
section and is verified the same way, restricted to the facts the kept claims cited. A
number in narrated text is printed through its :class:`~muse.analysis.evidence.Fact` (the invisible
markers), so ``muse council trace`` and the publisher's validator treat it exactly like
templated text. Whatever fails (endpoint down, 429, timeout, malformed JSON, refusal,
budget spent, nothing verifies) falls back: judge -> kept claims as bullets -> template.

Every call is one ``llm_events`` row (``source = 'council'``, operation ``analyst`` or
``judge``) and ``narrator.*`` metrics. Entry points: :func:`narrate_marked` (used by
``agents/council.py`` while composing), :func:`run_narrate` (``muse council narrate``),
:func:`probe` (``muse health``). The ``openai`` SDK is imported only when a call is made.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Literal

from muse import escaping as esc
from muse.analysis.evidence import MARKER, NUMBER, Fact, Facts

if TYPE_CHECKING:
    from muse.config import Settings

log = logging.getLogger(__name__)

SOURCE = "council"
# Sections the narrator may rewrite, in episode order. Tables, commit lists, data quality and
# evidence stay templated: they are reference material, not prose.
NARRATED = ("TL;DR", "User experience", "Why it matters")
MAX_CLAIM_CHARS = 1200
MAX_SECTION_CHARS = 4000
MAX_CLAIMS = 40

_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
# Words that assert a cause. Allowed only when a cited fact belongs to a before/after
# comparison whose interval excludes no change (see _supports_cause).
CAUSAL = re.compile(
    r"\b(caus(?:e|es|ed|ing)|because|due to|led to|leads? to|leading to|result(?:s|ed)? in|"
    r"as a result|owing to|driven by|thanks to|attributable|responsible for|triggered|"
    r"blame[sd]?|explains?|therefore|hence|consequently)\b",
    re.IGNORECASE,
)
# A caveat the template printed must survive narration: (in the template, in the narration).
CAVEATS = (
    (re.compile(r"contradiction", re.I), re.compile(r"contradict", re.I), "the contradiction"),
    (
        re.compile(r"may be noise|too small to tell|not significant|says nothing either way", re.I),
        re.compile(r"noise|too small|not significant|inconclusive|says nothing|cannot tell|can't tell", re.I),
        "the caveat that a result may be noise or too small to tell",
    ),
    (
        re.compile(r"cannot speak", re.I),
        re.compile(r"cannot speak|can't speak|cannot tell|not enough", re.I),
        "the caveat that user data cannot speak",
    ),
)
# Inline markdown the narration may not produce (links, images, html, headings, tables, emphasis).
_PROSE_ESCAPE = re.compile(r"([\\*_\[\]<>|#!~&{}])")
_FINDINGS = {
    "council_user_link": "before/after comparison of users' calls on the same model at a commit",
    "council_model_runs": "benchmark series split at its change point (median before vs after)",
    "council_correlation": "day-by-day correlation of benchmark and user latency (secondary)",
    "council_hearts_daily": "benchmarks over the full days of the window",
    "council_packs_daily": "user experience over the full days of the window",
    "council_insights": "a finding of the analytics worker",
    "council_freshness": "data quality: freshness",
    "watcher_gate_run": "data quality: watcher verdict",
    "council_llm_totals": "LLM spend in the window",
    "council confidence": "data quality: confidence",
}


# --- configuration -------------------------------------------------------------------------


@dataclass
class Config:
    base_url: str
    api_key: str
    analysts: list[str]
    judge: str
    timeout: float
    max_retries: int
    budget_usd: float
    budget_tokens: int
    prices: dict[str, tuple[float, float]]

    @property
    def problem(self) -> str:
        if not self.base_url:
            return "narrator.base_url is not set"
        if not self.analysts:
            return "narrator.analysts lists no model"
        return ""


def parse_prices(raw: Any) -> dict[str, tuple[float, float]]:
    """``{model: {in: USD per 1M input tokens, out: ...}}``; a bad entry raises ValueError naming it."""
    if isinstance(raw, str):
        raw = json.loads(raw) if raw.strip() else {}
    out: dict[str, tuple[float, float]] = {}
    for model, p in (raw or {}).items():
        try:
            pin, pout = float(p["in"]), float(p["out"])
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"narrator.prices.{model}: expected {{in: <USD per 1M>, out: <USD per 1M>}}") from None
        if pin < 0 or pout < 0 or not (math.isfinite(pin) and math.isfinite(pout)):
            raise ValueError(f"narrator.prices.{model}: prices must be finite and >= 0")
        out[str(model)] = (pin, pout)
    return out


def config(settings: Settings) -> Config:
    return Config(
        base_url=settings.narrator.base_url.rstrip("/"),
        api_key=settings.narrator.api_key,
        analysts=[m.strip() for m in settings.narrator.analysts.split(",") if m.strip()],
        judge=settings.narrator.judge.strip(),
        timeout=settings.narrator.timeout_seconds,
        max_retries=settings.narrator.max_retries,
        budget_usd=settings.narrator.daily_budget_usd,
        budget_tokens=settings.narrator.daily_budget_tokens,
        prices=parse_prices(settings.narrator.prices),
    )


def cost_of(cfg: Config, model: str, tokens_in: int, tokens_out: int) -> float:
    pin, pout = cfg.prices.get(model, (0.0, 0.0))
    return (tokens_in * pin + tokens_out * pout) / 1_000_000


# --- results -------------------------------------------------------------------------------


@dataclass
class Call:
    model: str
    operation: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: int = 0
    cost_usd: float = 0.0
    status: str = "ok"
    error: str = ""


@dataclass
class Claim:
    section: str
    text: str
    facts: list[str]
    model: str
    kept: bool = False
    reason: str = ""
    marked: str = ""  # the verified text with fact markers

    def as_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "text": self.text,
            "facts": self.facts,
            "model": self.model,
            "kept": self.kept,
            "reason": self.reason,
        }


@dataclass
class Narration:
    """What the narrator did to one episode."""

    sections: dict[str, str] = field(default_factory=dict)  # section -> "judge" | "bullets" | "template: why"
    claims: list[Claim] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    analysts: list[str] = field(default_factory=list)  # the analysts whose answers were usable
    judge: str = ""
    stopped: str = ""  # why the narrator did not run at all

    @property
    def narrated(self) -> list[str]:
        return [s for s, how in self.sections.items() if not how.startswith("template")]

    @property
    def tokens(self) -> int:
        return sum(c.tokens_in + c.tokens_out for c in self.calls)

    @property
    def cost(self) -> float:
        return sum(c.cost_usd for c in self.calls)

    def note(self) -> str:
        """The Data quality line. No digits outside code: it carries no fact."""
        if self.stopped:  # reasons are worded without digits (a digit here would be an untraced number)
            why = esc.md_code(self.stopped) if re.search(r"\d", self.stopped) else self.stopped
            return f"- Narrator: not used ({why}); every section is from the template."
        if not self.narrated:
            return "- Narrator: nothing it wrote verified against the facts; every section is from the template."
        judge = f" merged by {esc.md_code(self.judge)}" if any(v == "judge" for v in self.sections.values()) else ""
        names = ", ".join(esc.md_code(m) for m in self.analysts)
        parts = [
            f"- Narrator: {', '.join(self.narrated)} written by {names}{judge} from the facts alone; every "
            "number in it was checked against the fact it cites."
        ]
        templ = [s for s in self.sections if s not in self.narrated]
        if templ:
            parts.append(f" {', '.join(templ)} from the template.")
        return "".join(parts)

    def summary(self) -> dict[str, Any]:
        return {
            "narrated": self.narrated,
            "sections": self.sections,
            "analysts": self.analysts,
            "judge": self.judge,
            "calls": len(self.calls),
            "tokens": self.tokens,
            "cost_usd": round(self.cost, 6),
            "claims_kept": sum(c.kept for c in self.claims),
            "claims_dropped": sum(not c.kept for c in self.claims),
            "stopped": self.stopped,
        }


# --- verification --------------------------------------------------------------------------


def _decimals(number: str) -> int:
    return len(number.split(".")[1].rstrip("%")) if "." in number else 0


def _to_float(number: str) -> float | None:
    try:
        return float(number.replace(",", "").replace("−", "-").rstrip("%"))
    except ValueError:
        return None


def _numeric(f: Fact) -> float | None:
    if isinstance(f.value, bool) or not isinstance(f.value, (int, float)):
        return None
    v = float(f.value) * (f.scale or 1.0)
    return v if math.isfinite(v) else None


def _display_pattern(display: str) -> re.Pattern[str]:
    # Not after a sign or "$" either: "-7" or "$7" is not the fact "7" (and would trace as "-7").
    return re.compile(r"(?<![\w.,+\-−$])" + re.escape(display) + r"(?![\w%]|[.,]\d)")


def _rounding_match(token: str, after: str, f: Fact) -> int | None:
    """Length of ``after`` the unit takes when ``token`` (+ unit) is a documented rounding of
    ``f``: same unit, same sign, no more decimals than the display, equal once rounded."""
    shown = _numeric(f)
    if shown is None:
        return None
    t = _to_float(token)
    if t is None:
        return None
    unit_len = 0
    if f.unit == "%":
        if not token.endswith("%"):
            return None
    elif token.endswith("%"):
        return None
    elif f.unit:
        m = re.match(r" ?" + re.escape(f.unit) + r"(?!\w)", after)
        if not m:
            return None
        unit_len = m.end()
    elif re.match(r"[^\W\d_]", after):
        return None  # "7ms" is not the unitless fact "7"
    if f.display.startswith("$") != token.startswith("$"):
        return None
    unsigned = token.lstrip("$")[:1] not in "+-−"
    if unsigned and shown < 0:
        return None  # "12%" for a -12% fact would flip the direction
    d = _decimals(token)
    disp_num = NUMBER.search(f.display)
    if disp_num is None or d > _decimals(disp_num.group(0)):
        return None
    return unit_len if abs(round(shown, d) - t) < 0.5 * 10 ** (-d - 3) + 1e-9 else None


def _clean(text: str, *, paragraphs: bool = False) -> str:
    text = str(text)
    if paragraphs:
        return "\n\n".join(esc.clean(p, max_len=MAX_SECTION_CHARS) for p in re.split(r"\n\s*\n", text) if p.strip())
    return esc.clean(text, max_len=MAX_CLAIM_CHARS)


def verify(
    text: str,
    cited: list[str],
    facts: dict[str, Fact],
    *,
    allowed: set[str] | None = None,
    code: set[str],
    supported: set[str],
    paragraphs: bool = False,
) -> tuple[str | None, str]:
    """The claim's text with every number printed through its fact, or None and why.

    ``facts``: every fact of the episode; ``cited``: the ids the claim cites; ``allowed``:
    the ids it may cite (the judge: those its verified claims cited); ``code``: the code
    spans (identifiers) it may use; ``supported``: ids of facts that support causal wording.
    """
    text = _clean(text, paragraphs=paragraphs)
    if not text:
        return None, "empty text"
    if not cited:
        return None, "cites no fact"
    for cid in cited:
        if cid not in facts:
            return None, f"cites {cid}, which is not a fact of this episode"
        if allowed is not None and cid not in allowed:
            return None, f"cites {cid}, which no verified claim used"
    m = CAUSAL.search(text)
    if m and not any(c in supported for c in cited):
        return None, (
            f"causal wording ({m.group(0)!r}) without a cited before/after comparison whose interval excludes no change"
        )
    out: list[str] = []
    pos = 0
    for cm in _CODE.finditer(text):
        prose, reason = _verify_prose(text[pos : cm.start()], cited, facts)
        if prose is None:
            return None, reason
        if cm.group(0) not in code:
            return None, f"names {cm.group(0)}, which the episode's facts do not"
        out.append(prose)
        out.append(cm.group(0))
        pos = cm.end()
    prose, reason = _verify_prose(text[pos:], cited, facts)
    if prose is None:
        return None, reason
    out.append(prose)
    return "".join(out), ""


def _verify_prose(text: str, cited: list[str], facts: dict[str, Fact]) -> tuple[str | None, str]:
    mine = [facts[c] for c in dict.fromkeys(cited)]
    spans: list[tuple[int, int, Fact]] = []

    def free(s: int, e: int) -> bool:
        return all(e <= a or s >= b for a, b, _ in spans)

    # 1. Exact display strings of cited facts, longest first ("1,234 ms" before "1,234").
    for f in sorted(mine, key=lambda f: -len(f.display)):
        if not re.search(r"\d", f.display):
            continue
        for m in _display_pattern(f.display).finditer(text):
            if free(m.start(), m.end()):
                spans.append((m.start(), m.end(), f))
    # 2. Every other number: a documented rounding of a cited fact, else rejected with why.
    for m in NUMBER.finditer(text):
        token = m.group(0).rstrip(",")
        s, e = m.start(), m.start() + len(token)
        if s > 0 and text[s - 1] == "$":
            s, token = s - 1, "$" + token
        if not free(s, e):
            continue
        if s > 0 and text[s - 1] in "+-−":
            # "-+1,234 ms": the fact would print after a stray sign and read as "-1,234".
            return None, f"number {token!r} follows a second sign"
        hit = None
        for f in mine:
            unit_len = _rounding_match(token, text[e:], f)
            if unit_len is not None:
                hit = (s, e + unit_len, f)
                break
        if hit is None:
            owner = next(
                (f for f in facts.values() if f.id not in cited and _display_pattern(f.display).match(text, s)), None
            )
            if owner is not None:
                return None, (
                    f"number {owner.display!r} is {owner.id}'s ({owner.label}), which the claim does not cite"
                )
            return None, f"number {token!r} matches no fact the claim cites"
        spans.append(hit)
    spans.sort(key=lambda x: x[0])
    out, pos = [], 0
    for s, e, f in spans:
        out.append(_PROSE_ESCAPE.sub(r"\\\1", text[pos:s]))
        out.append(str(f))  # printed as the fact's own display, with its marker
        pos = e
    out.append(_PROSE_ESCAPE.sub(r"\\\1", text[pos:]))
    return "".join(out), ""


def _supports_cause(facts: list[Fact]) -> set[str]:
    """Facts of a before/after comparison of the same model whose interval excludes no change."""
    out: set[str] = set()
    link = [f for f in facts if f.query == "council_user_link"]
    for f in link:
        args = (f.rule or {}).get("args") or {}
        if args.get("part") != "change":
            continue

        def bound(part: str, f: Fact = f, args: dict[str, Any] = args) -> float | None:  # this iteration's f, args
            g = next(
                (
                    x
                    for x in link
                    if x.params == f.params
                    and ((x.rule or {}).get("args") or {}).get("where") == args.get("where")
                    and ((x.rule or {}).get("args") or {}).get("part") == part
                ),
                None,
            )
            return _numeric(g) if g is not None else None

        lo, hi = bound("low"), bound("high")
        if lo is not None and hi is not None and (lo > 0 or hi < 0):
            out.update(
                x.id
                for x in link
                if x.params == f.params and ((x.rule or {}).get("args") or {}).get("where") == args.get("where")
            )
    return out


# --- the episode's sections ----------------------------------------------------------------


def split_sections(marked: str) -> list[tuple[str, int, int]]:
    """(title, body start, body end) of each level-2 section of the marked body."""
    heads = [(m.group(1), m.start(), m.end()) for m in re.finditer(r"(?m)^## (.+)\n", marked)]
    out = []
    for i, (title, _, end) in enumerate(heads):
        nxt = heads[i + 1][1] if i + 1 < len(heads) else len(marked)
        out.append((title.strip(), end, nxt))
    return out


def _plain(marked: str) -> str:
    return MARKER.sub(lambda m: m.group(2), marked)


def _skeleton(marked: str, facts: dict[str, Fact]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    sections = []
    bodies = {}
    for title, s, e in split_sections(marked):
        if title not in NARRATED:
            continue
        body = marked[s:e]
        bodies[title] = body
        ids = list(dict.fromkeys(m.group(1) for m in MARKER.finditer(body)))
        idents = sorted({m.group(0) for m in _CODE.finditer(_plain(body))})
        sections.append({"section": title, "facts": ids, "identifiers": idents})
    return sections, bodies


def fact_input(f: Fact) -> dict[str, Any]:
    value = f.value if not (isinstance(f.value, float) and not math.isfinite(f.value)) else None
    return {
        "id": f.id,
        "value": value,
        "display": f.display,
        "unit": f.unit,
        "label": f.label,
        "finding": _FINDINGS.get(f.query, f.query),
    }


ANALYST_PROMPT = """You write claims for sections of an engineering report about LLM benchmarks and users.
Use ONLY the facts given. Answer with one JSON object and nothing else:
{"claims": [{"section": "<one of the section names>", "text": "<one or two sentences>", "facts": ["E1", ...]}]}
Rules:
- Every number in "text" must be copied exactly from the "display" of a fact listed in that claim's "facts".
- Cite every fact whose number you use. Never compute, convert, add or invent a number.
- Write model names, commit ids and other identifiers in backticks exactly as listed in "identifiers".
- Do not say something caused something ("caused", "because", "due to", "led to") unless you cite a
  before/after comparison whose interval excludes no change.
- Keep every contradiction and every caveat (noise, too small to tell, cannot speak) the facts imply.
- No links, no headings, no tables, no markdown other than backticks."""

JUDGE_PROMPT = """You merge verified claims into short prose for each section of an engineering report.
Use ONLY the claims given: no number, fact id or identifier that they do not contain. Answer with one JSON
object and nothing else:
{"sections": [{"section": "<name>", "text": "<one or two short paragraphs>", "facts": ["E1", ...]}]}
Copy numbers exactly as the claims print them; cite in "facts" every fact whose number you print; keep
identifiers in backticks; keep every contradiction and caveat; no causal words the claims do not use;
no links, headings or tables."""


# --- calls ---------------------------------------------------------------------------------


class _Budget:
    def __init__(self, cfg: Config, spent_usd: float, spent_tokens: int) -> None:
        self.cfg, self.usd, self.tokens = cfg, spent_usd, spent_tokens

    def exhausted(self) -> str:
        if self.cfg.budget_usd > 0 and self.usd >= self.cfg.budget_usd:
            return "the daily cost budget is spent"
        if self.cfg.budget_tokens > 0 and self.tokens >= self.cfg.budget_tokens:
            return "the daily token budget is spent"
        return ""

    def add(self, call: Call) -> None:
        self.usd += call.cost_usd
        self.tokens += call.tokens_in + call.tokens_out


def parse_json(text: str) -> dict[str, Any] | None:
    """Tolerant: a bare object, one inside a ```json fence, or the outermost {...} in chatter."""
    text = (text or "").strip()
    candidates = [text]
    fence = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    if fence:
        candidates.append(fence.group(1))
    if "{" in text:
        candidates.append(text[text.index("{") : text.rindex("}") + 1] if "}" in text else "")
    for c in candidates:
        try:
            doc = json.loads(c)
        except (ValueError, TypeError):
            continue
        if isinstance(doc, dict):
            return doc
    return None


def _error_text(exc: Exception) -> str:
    """A short reason from an SDK exception: status and the server's own message, never a header."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError):
        return "endpoint unreachable"
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code in (401, 403):  # OpenAI's message echoes part of the key: never shown
            return f"HTTP {exc.status_code}: API key rejected (narrator.api_key)"
        body = exc.body if isinstance(exc.body, dict) else {}
        err = body.get("error") if isinstance(body.get("error"), dict) else body
        msg = (err or {}).get("message") or ""
        return esc.clean(f"HTTP {exc.status_code}" + (f": {msg}" if msg else ""), max_len=200)
    return esc.clean(f"{type(exc).__name__}: {exc}", max_len=200)


class Client:
    """One OpenAI-compatible endpoint through the official SDK; each call recorded."""

    def __init__(self, cfg: Config, budget: _Budget) -> None:
        from openai import OpenAI  # lazy: `muse --help` never pays for it

        self.cfg = cfg
        self.budget = budget
        self.calls: list[Call] = []
        # The SDK retries 408/409/429/5xx and connection errors max_retries times with
        # backoff, honouring Retry-After (up to a minute); each try is bounded by timeout.
        self.sdk = OpenAI(
            base_url=cfg.base_url, api_key=cfg.api_key or "no-key", timeout=cfg.timeout, max_retries=cfg.max_retries
        )
        self.json_mode = True

    def chat(self, model: str, operation: str, system: str, user: str) -> tuple[dict[str, Any] | None, str]:
        """The model's JSON answer, or None and why (never raises for a failed call)."""
        import openai
        from openai.types.chat import ChatCompletionMessageParam

        stop = self.budget.exhausted()
        if stop:
            return None, stop
        call = Call(model, operation)
        t0 = time.monotonic()
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        try:
            kw: dict[str, Any] = {"response_format": {"type": "json_object"}} if self.json_mode else {}
            try:
                resp = self.sdk.chat.completions.create(model=model, messages=messages, temperature=0, **kw)
            except openai.BadRequestError as exc:
                if not self.json_mode or "response_format" not in str(exc):
                    raise
                self.json_mode = False  # this server has no JSON mode: the tolerant parser reads prose
                resp = self.sdk.chat.completions.create(model=model, messages=messages, temperature=0)
            usage = getattr(resp, "usage", None)
            call.tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
            call.tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
            choice = resp.choices[0] if resp.choices else None
            msg = choice.message if choice is not None else None
            refusal = getattr(msg, "refusal", None) if msg is not None else None
            if choice is None or msg is None:
                call.status, call.error = "error", "no choices in the answer"
            elif refusal:
                call.status, call.error = "refused", esc.clean(f"refused: {refusal}", max_len=200)
            elif choice.finish_reason == "length":
                call.status, call.error = "error", "answer cut off (finish_reason length)"
            else:
                doc = parse_json(msg.content or "")
                if doc is None:
                    call.status, call.error = "error", "answer is not a JSON object"
                else:
                    return self._done(call, t0, doc)
        except openai.OpenAIError as exc:
            call.status, call.error = "error", _error_text(exc)
        except (ValueError, TypeError, AttributeError) as exc:  # a server whose reply breaks the SDK's model
            call.status, call.error = "error", esc.clean(f"malformed answer ({type(exc).__name__})", max_len=200)
        self._done(call, t0, None)
        return None, call.error

    def _done(self, call: Call, t0: float, doc: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str]:
        call.latency_ms = int((time.monotonic() - t0) * 1000)
        call.cost_usd = cost_of(self.cfg, call.model, call.tokens_in, call.tokens_out)
        self.budget.add(call)
        self.calls.append(call)
        if call.status != "ok":
            log.warning("narrator %s %s: %s", call.operation, call.model, call.error)
        return doc, call.error


def record(store: Any, telemetry: Any, run_id: str, calls: Iterable[Call]) -> None:
    """One llm_events row and metrics per call. Failing to record never fails the episode."""
    from muse.hours import ts_str

    rows = []
    now = datetime.now(timezone.utc)
    for c in calls:
        rows.append(
            {
                "ts": ts_str(now),
                "event_id": uuid.uuid4().int >> 64,
                "run_id": run_id,
                "source": SOURCE,
                "model": c.model,
                "operation": c.operation,
                "tokens_in": c.tokens_in,
                "tokens_out": c.tokens_out,
                "latency_ms": c.latency_ms,
                "cost_usd": round(c.cost_usd, 6),
                "status": c.status,
                "error_msg": c.error[:500],
            }
        )
        if telemetry is not None:
            tags = {"model": c.model, "operation": c.operation, "status": c.status}
            telemetry.count("narrator.calls", 1, **tags)
            telemetry.histogram("narrator.latency_ms", c.latency_ms, **tags)
            telemetry.count("narrator.tokens", c.tokens_in + c.tokens_out, model=c.model, operation=c.operation)
            telemetry.count("narrator.cost_usd", c.cost_usd, model=c.model, operation=c.operation)
    if rows and store is not None:
        try:
            store.insert("llm_events", rows)
        except Exception:  # accounting must not take the episode down (logged)
            log.warning("narrator: could not record %d call(s) in llm_events", len(rows), exc_info=True)


def spent_today(store: Any) -> tuple[float, int]:
    from muse.hours import ts_str

    day = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    row = store.named("narrator_spend", {"source": SOURCE, "since": ts_str(day)}).first() or {}
    return float(row.get("cost_usd") or 0.0), int(row.get("tokens") or 0)


# --- narration -----------------------------------------------------------------------------


def narrate_marked(
    marked: str, facts: Facts | list[Fact], *, settings: Settings, store: Any, telemetry: Any = None, run_id: str = ""
) -> tuple[str, Narration]:
    """Narrate the NARRATED sections of a marked body (fact markers in place); return the
    new marked body, with the Data quality section saying what the narrator did."""
    items = facts.items if isinstance(facts, Facts) else list(facts)
    by_id = {f.id: f for f in items}
    nar = Narration()
    skeleton, bodies = _skeleton(marked, by_id)
    for s in skeleton:
        nar.sections[s["section"]] = "template: not narrated"
    try:
        cfg = config(settings)
    except ValueError as exc:
        cfg = None
        log.warning("narrator: %s", exc)
        nar.stopped = "narrator.prices is malformed"
    if cfg is not None and cfg.problem:
        nar.stopped = cfg.problem
    if not nar.stopped:
        try:
            budget = _Budget(cfg, *spent_today(store))  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001
            log.warning("narrator: cannot read today's spend (%s)", type(exc).__name__)
            budget = _Budget(cfg, 0.0, 0)  # type: ignore[arg-type]
        nar.stopped = budget.exhausted()
    if nar.stopped:
        log.warning("narrator not used: %s", nar.stopped)
        if telemetry is not None:
            telemetry.count("narrator.skipped", 1, reason=nar.stopped.split(" ")[0])
        return _with_note(marked, nar), nar
    assert cfg is not None
    try:
        client = Client(cfg, budget)
    except Exception as exc:  # noqa: BLE001 - e.g. the SDK missing: the template stands
        nar.stopped = f"client error ({type(exc).__name__})"
        return _with_note(marked, nar), nar
    try:
        new = _narrate(client, cfg, marked, items, by_id, skeleton, bodies, nar)
    except Exception:  # a narrator bug must not cost the episode: every section stays templated
        log.warning("narrator failed; the templates write the episode", exc_info=True)
        new = marked
        nar.sections = {k: "template: narrator error" for k in nar.sections}
    finally:
        nar.calls = client.calls
        record(store, telemetry, run_id or str(uuid.uuid4()), client.calls)
    if telemetry is not None:
        telemetry.count("narrator.sections_narrated", len(nar.narrated))
        telemetry.count("narrator.claims_kept", sum(c.kept for c in nar.claims))
        telemetry.count("narrator.claims_dropped", sum(not c.kept for c in nar.claims))
    return _with_note(new, nar), nar


def _narrate(
    client: Client,
    cfg: Config,
    marked: str,
    items: list[Fact],
    by_id: dict[str, Fact],
    skeleton: list[dict[str, Any]],
    bodies: dict[str, str],
    nar: Narration,
) -> str:
    """The analysts' claims, each verified against the facts; the judge's merge of the kept
    ones; per section the first text that keeps the template's caveats, spliced into ``marked``."""
    if not skeleton:
        return marked
    code = {c for s in skeleton for c in s["identifiers"]}
    supported = _supports_cause(items)
    names = {s["section"] for s in skeleton}
    _analyst_claims(client, cfg, skeleton, by_id, names, code=code, supported=supported, nar=nar)
    kept = {s: [c for c in nar.claims if c.kept and c.section == s] for s in names}
    merged = _judge(client, cfg, kept, by_id, supported=supported, nar=nar)
    results = _choose(names, bodies, kept, merged, nar)
    out, pos = [], 0
    for title, start, end in split_sections(marked):
        if title in results:
            out.append(marked[pos:start])
            out.append("\n" + results[title][1].strip() + "\n\n")
            pos = end
    out.append(marked[pos:])
    return "".join(out)


def _analyst_claims(
    client: Client,
    cfg: Config,
    skeleton: list[dict[str, Any]],
    by_id: dict[str, Fact],
    names: set[str],
    *,
    code: set[str],
    supported: set[str],
    nar: Narration,
) -> None:
    """Ask each analyst for claims over the offered facts; record each, kept only when verified."""
    offered = list(dict.fromkeys(i for s in skeleton for i in s["facts"]))
    offered_facts = [by_id[i] for i in offered if i in by_id]
    payload = json.dumps(
        {"sections": skeleton, "facts": [fact_input(f) for f in offered_facts]}, ensure_ascii=False, default=str
    )
    for model in cfg.analysts:
        doc, why = client.chat(model, "analyst", ANALYST_PROMPT, payload)
        if doc is None:
            continue
        raw = doc.get("claims")
        if not isinstance(raw, list):
            nar.claims.append(Claim("", "", [], model, reason="answer has no 'claims' list"))
            continue
        nar.analysts.append(model)
        for item in raw[:MAX_CLAIMS]:
            if not isinstance(item, dict):
                continue
            cites = item["facts"] if isinstance(item.get("facts"), list) else []
            claim = Claim(
                esc.clean(item.get("section", ""), max_len=80),
                esc.clean(item.get("text", "")),
                [esc.clean(x, max_len=20) for x in cites if isinstance(x, (str, int))],
                model,
            )
            nar.claims.append(claim)
            if claim.section not in names:
                claim.reason = f"section {claim.section!r} is not one the narrator writes"
                continue
            text, reason = verify(str(item.get("text", "")), claim.facts, by_id, code=code, supported=supported)
            claim.kept, claim.reason, claim.marked = text is not None, reason, text or ""


def _judge(
    client: Client,
    cfg: Config,
    kept: dict[str, list[Claim]],
    by_id: dict[str, Fact],
    *,
    supported: set[str],
    nar: Narration,
) -> dict[str, tuple[str | None, str]]:
    """The judge's merged paragraph per section, verified like a claim (None text: dropped)."""
    merged: dict[str, tuple[str | None, str]] = {}
    if not (cfg.judge and any(kept.values())):
        return merged
    nar.judge = cfg.judge
    jpayload = json.dumps(
        {
            "sections": [
                {"section": s, "claims": [{"text": _plain(c.marked), "facts": c.facts} for c in kept[s]]}
                for s in NARRATED
                if kept.get(s)
            ]
        },
        ensure_ascii=False,
    )
    doc, why = client.chat(cfg.judge, "judge", JUDGE_PROMPT, jpayload)
    raw = doc.get("sections") if doc is not None else None
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("section"), str) or not kept.get(item["section"]):
            continue
        s = item["section"]
        allowed = {i for c in kept[s] for i in c.facts}
        allowed_code = {m.group(0) for c in kept[s] for m in _CODE.finditer(c.marked)}
        cited = [
            str(x) for x in (item["facts"] if isinstance(item.get("facts"), list) else []) if isinstance(x, (str, int))
        ]
        text, reason = verify(
            str(item.get("text", "")),
            cited,
            by_id,
            allowed=allowed,
            code=allowed_code,
            supported=supported,
            paragraphs=True,
        )
        merged[s] = (text, reason)
        if text is None:
            log.warning("narrator judge %s: section %s dropped: %s", cfg.judge, s, reason)
    if doc is None:
        log.warning("narrator judge %s failed: %s", cfg.judge, why)
    return merged


def _choose(
    names: set[str],
    bodies: dict[str, str],
    kept: dict[str, list[Claim]],
    merged: dict[str, tuple[str | None, str]],
    nar: Narration,
) -> dict[str, tuple[str, str]]:
    """Per section: the judge's text, else the kept claims as bullets, whichever keeps every
    caveat of the template's text; a section with neither keeps the template."""
    results: dict[str, tuple[str, str]] = {}
    for s in names:
        template = _plain(bodies[s])
        options = []
        text, _ = merged.get(s, (None, ""))
        if text is not None:
            options.append(("judge", text))
        if kept[s]:
            options.append(("bullets", "\n".join(f"- {c.marked}" for c in kept[s])))
        chosen = None
        for how, body in options:
            lost = next(
                (what for t_re, n_re, what in CAVEATS if t_re.search(template) and not n_re.search(_plain(body))), None
            )
            if lost:
                log.warning("narrator: %s for %s drops %s", how, s, lost)
                continue
            chosen = (how, body)
            break
        if chosen is None:
            nar.sections[s] = "template: " + ("no claim verified" if not kept[s] else "narration lost a caveat")
        else:
            nar.sections[s] = chosen[0]
            results[s] = chosen
    return results


_NOTE = re.compile(r"(?m)^- Narrator: .*\n")


def _with_note(marked: str, nar: Narration) -> str:
    """Put the narrator's line at the end of the Data quality list (before the chart)."""
    for title, start, end in split_sections(marked):
        if title != "Data quality":
            continue
        body = _NOTE.sub("", marked[start:end])
        at = body.find("\n![")
        at = at if at >= 0 else len(body.rstrip("\n"))
        body = body[:at].rstrip("\n") + "\n" + nar.note() + "\n" + body[at:]
        return marked[:start] + body + marked[end:]
    return marked


# --- an existing episode ---------------------------------------------------------------------


def mark_body(body: str, doc: dict[str, Any]) -> tuple[str, list[Fact]]:
    """The body with each recorded occurrence wrapped in its fact's marker again."""
    facts = [fact_from_dict(d) for d in doc.get("facts", []) if isinstance(d, dict)]
    by_id = {f.id: f for f in facts}
    out, pos = [], 0
    for o in sorted(doc.get("occurrences", []), key=lambda o: int(o["offset"])):
        f = by_id.get(o.get("fact"))
        s, n = int(o["offset"]), int(o["length"])
        if f is None or s < pos or body[s : s + n] != f.display:
            raise ValueError(
                f"occurrence of {o.get('fact')} at offset {s} does not hold its fact; run `muse council trace` first"
            )
        out.append(body[pos:s])
        out.append(str(f))
        pos = s + n
    out.append(body[pos:])
    return "".join(out), facts


def fact_from_dict(d: dict[str, Any]) -> Fact:
    value = d.get("value")
    return Fact(
        str(d["id"]),
        str(d.get("label", "")),
        value if value is not None else float("nan"),
        str(d.get("unit", "")),
        str(d.get("display", "")),
        str(d.get("kind", "")),
        str(d.get("query", "")),
        dict(d.get("params") or {}),
        dict(d.get("rule") or {}),
        list(d.get("row_keys") or []),
        int(d.get("more_row_keys") or 0),
        float(d.get("scale") or 1.0),
        str(d.get("format") or "{}"),
    )


_FACT_IDS = "\ue003facts\ue003"
_FACTS_LINE = re.compile(r"(?m)^Facts: [^\n]*$")


def run_narrate(ctx: Any, *, episode: int, dry_run: bool = False) -> Any:
    """``muse council narrate``: narrate an existing episode from its evidence sidecar.

    Dry run: the markdown, every claim kept or dropped with its reason, the call count; the
    episode is not written (the calls are still recorded in llm_events: they were spent).
    Otherwise the post and its sidecar are rewritten and a new episodes row version is
    inserted, unless the episode is already published.
    """
    from muse import episode as epfmt
    from muse.errors import InputError
    from muse.analysis.evidence import EvidenceError, dump_sidecar, load_sidecar, sha256, sidecar, strip_markers, trace
    from muse.fsutil import atomic_write_text
    from muse.hours import ts_str
    from muse.runs import AgentResult

    row = ctx.store.named("council_episode", {"episode": episode, "lang": "en"}).first()
    if row is None:
        raise InputError(f"episode {episode} does not exist")
    if not dry_run and row["status"] in ("published", "rolled_back"):
        raise InputError(
            f"episode {episode} is {row['status']}; only an unpublished episode is re-rendered "
            "(use --dry-run to see the narration)"
        )
    blog = ctx.settings.repos.banterblogs.dir
    post = (blog / row["path"]) if blog else None
    if post is None or not post.is_file():
        raise InputError(f"episode {episode}: file {row['path']} is missing from the blog repo {blog}")
    try:
        parsed = epfmt.parse(post.read_text(encoding="utf-8"))
        evidence = load_sidecar(post.with_name(epfmt.evidence_name(episode)))
        marked, facts = mark_body(parsed.body, evidence)
    except (EvidenceError, epfmt.EpisodeFormatError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"episode {episode}: {exc}") from None
    marked = _FACTS_LINE.sub(_FACT_IDS, marked, count=1)
    new_marked, nar = narrate_marked(
        marked, facts, settings=ctx.settings, store=ctx.store, telemetry=ctx.telemetry, run_id=ctx.run_id
    )
    fm = parsed.front_matter
    body, occ = strip_markers(epfmt.parse(epfmt.render(fm, new_marked)).body)
    doc, _ = sidecar(episode=episode, body=body, facts=Facts(list(facts)), occurrences=occ)
    ids = ", ".join(f["id"] for f in doc["facts"])
    body = body.replace(_FACT_IDS, ids)
    markdown, _ = strip_markers(epfmt.render(fm, new_marked).replace(_FACT_IDS, ids))
    doc["body_sha256"] = sha256(body)
    untraced = [t for t in trace(body, doc) if not t.traced]
    if untraced:  # verification let a number through that no fact printed: a bug, never written
        raise RuntimeError(
            f"episode {episode}: narration left untraced numbers: " + ", ".join(repr(t.number) for t in untraced[:5])
        )
    details = {
        "episode": episode,
        "markdown": markdown,
        "claims": [c.as_dict() for c in nar.claims],
        "calls": len(nar.calls),
        "narration": nar.summary(),
        "dry_run": dry_run,
    }
    how = ", ".join(nar.narrated) or "no section"
    if dry_run:
        return AgentResult(message=f"episode {episode}: dry run, narrated {how}; nothing written", details=details)
    atomic_write_text(post.with_name(epfmt.evidence_name(episode)), dump_sidecar(doc))
    atomic_write_text(post, markdown)
    keep = ("episode", "lang", *epfmt.CONTENT_COLUMNS)
    ctx.store.insert(
        "episodes",
        [
            {
                **{k: row[k] for k in keep},
                "ts": ts_str(datetime.now(timezone.utc)),
                "run_id": ctx.run_id,
                "translation_of": None,
                "published_commit": "",
            }
        ],
    )
    return AgentResult(
        message=f"episode {episode} re-rendered: narrated {how} ({len(nar.calls)} calls)",
        rows_written=1,
        details=details,
    )


def probe(settings: Settings, timeout: float) -> tuple[Literal["ok", "fail", "info"], str]:
    """`muse health`: the endpoint lists the configured models and answers one tiny call.

    Returns ``(level, detail)``; :func:`muse.ops.probes.probe_narrator` times it and makes it a
    probe result (the analysis layer never imports the ops layer)."""
    if not settings.narrator.enabled:
        return "info", "disabled (narrator.enabled is false)"
    try:
        cfg = config(settings)
    except ValueError as exc:
        return "fail", str(exc)
    if cfg.problem:
        return "fail", cfg.problem
    try:
        from openai import OpenAI

        sdk = OpenAI(base_url=cfg.base_url, api_key=cfg.api_key or "no-key", timeout=timeout, max_retries=0)
        listed = {m.id for m in sdk.models.list()}
        wanted = list(dict.fromkeys([*cfg.analysts, *([cfg.judge] if cfg.judge else [])]))
        missing = [m for m in wanted if m not in listed]
        if missing:
            return "fail", f"models not served by the endpoint: {', '.join(esc.clean(m) for m in missing)}"
        sdk.chat.completions.create(
            model=cfg.analysts[0], temperature=0, max_tokens=5, messages=[{"role": "user", "content": "Reply with: ok"}]
        )
        return "ok", f"{len(wanted)} model(s) listed; {esc.clean(cfg.analysts[0])} answered"
    except Exception as exc:  # noqa: BLE001 - a probe never takes health down with it
        return "fail", _error_text(exc)
