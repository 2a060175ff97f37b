"""Deterministic demo data: banterhearts and banterpacks git repos, hourly UI telemetry.

Everything is a pure function of the seed and absolute UTC time: the commits of a day, the
reports of a commit, the events of an hour. The first run fixes ``start`` (the current hour
minus ``days``) in ``manifest.json``; every later run appends only what is missing up to
the current hour (commits after the repo's tip, telemetry files that do not exist yet), so
commit shas never change and re-running never duplicates anything. Data ends at the start of
the current hour (complete hours only), so two runs within the same hour produce the same
files and the same commits.

Planted, for later agents to find (positions are fractions of the initial span, so a short
test demo has them too), recorded in ``manifest.json`` under ``planted``:

* ``latency_regression``: from one banterhearts commit on, every report of one
  (model, quant) series has p50/p95/p99 x REGRESSION_FACTOR (p95 +55%), on every dataset and
  every later commit;
* ``throughput_drop``: the same series' tokens_per_sec / THROUGHPUT_DIVISOR from that commit on;
* ``llm_latency_shift``: from the same time on, every LLM call of REGRESSION_MODEL is
  x REGRESSION_FACTOR slower, both the app's (banterpacks llm_call, user side) and the
  benchmark reports' own llm_calls (banterhearts);
* ``cost_spike``: one hour in which banterpacks llm_call cost (and tokens_in) is x5;
* ``telemetry_gap``: one hour with no telemetry file at all;
* ``quarantined_line``: one malformed line (truncated JSON) in one telemetry file.
"""

from __future__ import annotations

import json
import math
import os
import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from muse.hours import HOUR, floor_hour, iso_hour, require_ts

SEED = 20260501
MANIFEST_VERSION = 1
MODELS = ("llama3-8b", "mistral-7b", "qwen2-7b")
QUANTS = ("q4_k_m", "q8_0")
DATASETS = ("chat-short", "rag-long")
REGRESSION_MODEL, REGRESSION_QUANT = "mistral-7b", "q4_k_m"
REGRESSION_FACTOR = 1.55
THROUGHPUT_DIVISOR = 1.3  # the planted series' tokens/s after the regressing commit
COST_SPIKE_FACTOR = 5.0
# Where the planted events sit, as fractions of the initial span.
AT_REGRESSION, AT_COST_SPIKE, AT_GAP, AT_BAD_LINE = 0.55, 0.70, 0.80, 0.86

_BASE_P50 = {"llama3-8b": 180.0, "mistral-7b": 210.0, "qwen2-7b": 240.0}
_QUANT_LAT = {"q4_k_m": 1.0, "q8_0": 1.35}
_DATASET_LAT = {"chat-short": 1.0, "rag-long": 2.6}
_BASE_TPS = {"llama3-8b": 95.0, "mistral-7b": 85.0, "qwen2-7b": 80.0}
_PRICE_IN = {"llama3-8b": 0.20e-6, "mistral-7b": 0.25e-6, "qwen2-7b": 0.15e-6}  # USD per token
_PRICE_OUT = {"llama3-8b": 0.60e-6, "mistral-7b": 0.75e-6, "qwen2-7b": 0.45e-6}
_MEMORY = {"llama3-8b": 5200, "mistral-7b": 4900, "qwen2-7b": 5600}
_APP_MODELS = (("mistral-7b", 0.5), ("llama3-8b", 0.35), ("qwen2-7b", 0.15))
_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Edg/126.0",
)
_HEARTS_SUBJECTS = (
    "perf: tune kv-cache eviction",
    "bench: add long-context rag prompts",
    "fix: warmup before timing runs",
    "perf: fuse rmsnorm kernel",
    "chore: bump llama.cpp",
    "bench: pin sampling temperature",
    "perf: batch prefill for short prompts",
    "refactor: split quant loaders",
    "fix: count tokens after detokenize",
    "perf: speculative decoding for q4",
    "bench: record peak memory per run",
    "chore: refresh eval datasets",
)
_PACKS_SUBJECTS = (
    "feat: keyboard shortcut for the overlay",
    "fix: debounce query submit",
    "perf: lazy-load the answer panel",
    "feat: show sources under answers",
    "fix: overlay focus on Safari",
    "chore: upgrade react",
    "feat: retry on transient LLM errors",
    "perf: stream tokens into the panel",
    "fix: session end on tab close",
)
_AUTHOR = ("Banter Bench Bot", "bench@banterhearts.dev")
_PACKS_AUTHOR = ("Banter Packs CI", "ci@banterpacks.dev")


def _rng(*parts: Any) -> random.Random:
    return random.Random(":".join(str(p) for p in (SEED, *parts)))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


# -- schedules: pure functions of the seed and the day ------------------------------------


def hearts_commit_times(day: date) -> list[datetime]:
    """banterhearts commits of a UTC day: a few on weekdays, at most one at weekends."""
    rng = _rng("hearts-day", day.isoformat())
    n = rng.choice((2, 3, 3, 4)) if day.weekday() < 5 else rng.choice((0, 1))
    base = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    hours = sorted(rng.sample(range(7, 21), n))
    return [base + timedelta(hours=h, minutes=rng.randrange(0, 60), seconds=rng.randrange(60)) for h in hours]


def packs_commit_times(day: date) -> list[datetime]:
    """banterpacks commits (deploys) of a UTC day: one or two on weekdays."""
    rng = _rng("packs-day", day.isoformat())
    if day.weekday() >= 5:
        return []
    base = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    hours = sorted(rng.sample(range(9, 18), rng.choice((1, 1, 2))))
    return [base + timedelta(hours=h, minutes=rng.randrange(0, 60), seconds=rng.randrange(60)) for h in hours]


def _days(first: datetime, last: datetime) -> Iterable[date]:
    d = first.date()
    while d <= last.date():
        yield d
        d += timedelta(days=1)


@dataclass(frozen=True)
class Plan:
    """Where the planted events are, derived from the start and span of the demo."""

    start: datetime
    span_days: int

    def _at(self, fraction: float) -> datetime:
        return self.start + timedelta(hours=int(self.span_days * 24 * fraction))

    @property
    def regression_time(self) -> datetime:
        """The first banterhearts commit at or after the regression point."""
        at = self._at(AT_REGRESSION)
        for day in _days(at, at + timedelta(days=30)):
            for t in hearts_commit_times(day):
                if t >= at:
                    return t
        raise AssertionError("no banterhearts commit within 30 days")  # pragma: no cover

    @property
    def cost_spike_hour(self) -> datetime:
        return self._at(AT_COST_SPIKE).replace(hour=15)

    @property
    def gap_hour(self) -> datetime:
        return self._at(AT_GAP).replace(hour=10)

    @property
    def bad_line_hour(self) -> datetime:
        return self._at(AT_BAD_LINE).replace(hour=14)


# -- banterhearts reports ------------------------------------------------------------------


def hearts_reports(commit_time: datetime, commit_sha: str, plan: Plan) -> dict[str, dict[str, Any]]:
    """The reports of the benchmark run after the commit at ``commit_time``: {run_id: report},
    one per model, each with results for every quant and dataset."""
    out = {}
    regressed = commit_time >= plan.regression_time
    age_days = (commit_time - plan.start).total_seconds() / 86400
    for model in MODELS:
        rng = _rng("report", commit_time.isoformat(), model)
        run_id = _uuid(rng)
        ts = commit_time + timedelta(minutes=rng.randrange(2, 7), seconds=rng.randrange(60))
        results = _bench_results(rng, model, regressed=regressed, age_days=age_days)
        calls = _llm_calls(rng, model, regressed=regressed)
        out[run_id] = {
            "schema_version": 1,
            "run_id": run_id,
            "commit_sha": commit_sha,
            "ts": _iso(ts),
            "results": results,
            "llm_calls": calls,
        }
    return out


def _bench_results(rng: random.Random, model: str, *, regressed: bool, age_days: float) -> list[dict[str, Any]]:
    """One result per quant and dataset; the planted series is slower (and its throughput
    lower) once ``regressed``."""
    results = []
    for quant in QUANTS:
        hit = regressed and (model, quant) == (REGRESSION_MODEL, REGRESSION_QUANT)
        for dataset in DATASETS:
            drift = 1.0 - 0.002 * age_days  # the team slowly gets faster
            p50 = (
                _BASE_P50[model]
                * _QUANT_LAT[quant]
                * _DATASET_LAT[dataset]
                * drift
                * rng.uniform(0.97, 1.03)
                * (REGRESSION_FACTOR if hit else 1.0)
            )
            p95 = p50 * rng.uniform(1.55, 1.65)
            p99 = p95 * rng.uniform(1.25, 1.40)
            tps = (
                _BASE_TPS[model]
                / _QUANT_LAT[quant]
                * (0.8 if dataset == "rag-long" else 1.0)
                * rng.uniform(0.97, 1.03)
                / (THROUGHPUT_DIVISOR if hit else 1.0)
            )
            results.append(
                {
                    "model": model,
                    "quant": quant,
                    "dataset": dataset,
                    "latency_p50_ms": round(p50),
                    "latency_p95_ms": round(p95),
                    "latency_p99_ms": round(p99),
                    "tokens_per_sec": round(tps, 2),
                    "cost_per_1k": round(
                        (_PRICE_IN[model] + _PRICE_OUT[model]) * 500 * (1.2 if quant == "q8_0" else 1.0), 6
                    ),
                    "memory_peak_mb": round(
                        _MEMORY[model] * (1.8 if quant == "q8_0" else 1.0) * rng.uniform(0.99, 1.01)
                    ),
                }
            )
    return results


def _llm_calls(rng: random.Random, model: str, *, regressed: bool) -> list[dict[str, Any]]:
    """The twelve LLM calls a benchmark run logs (generate, judge, embed), a few failed."""
    calls = []
    for i in range(12):
        operation = ("generate", "generate", "judge", "embed")[i % 4]
        tokens_in = _tokens_in(rng)
        tokens_out = 0 if operation == "embed" else int(min(4000, max(1, rng.lognormvariate(5.0, 0.7))))
        latency = (
            _BASE_P50[model]
            * (0.3 + tokens_out / 120)
            * rng.uniform(0.8, 1.3)
            * (REGRESSION_FACTOR if regressed and model == REGRESSION_MODEL else 1.0)
        )
        failed = rng.random() < 0.03
        calls.append(
            {
                "model": model,
                "operation": operation,
                "tokens_in": tokens_in,
                "tokens_out": tokens_out,
                "latency_ms": round(latency),
                "cost_usd": round(tokens_in * _PRICE_IN[model] + tokens_out * _PRICE_OUT[model], 6),
                "status": "error" if failed else "ok",
                "error_msg": "upstream timeout after 30s" if failed else "",
            }
        )
    return calls


def _tokens_in(rng: random.Random) -> int:
    """Prompt sizes from a few tokens to very long contexts (log-normal, median ~900)."""
    return int(min(200_000, max(3, rng.lognormvariate(6.8, 1.4))))


# -- banterpacks telemetry -----------------------------------------------------------------


def _sessions_expected(hour: datetime) -> float:
    h = hour.hour
    daily = 0.10 + 0.75 * math.exp(-(((h - 15) / 4.0) ** 2)) + 0.25 * math.exp(-(((h - 9) / 2.5) ** 2))
    weekly = (1.0, 1.02, 1.0, 0.97, 0.9, 0.55, 0.5)[hour.weekday()]
    return 420.0 * daily * weekly


def hour_events(hour: datetime, commits: list[tuple[datetime, str]], plan: Plan) -> list[dict[str, Any]]:
    """The UI events of one hour, given the banterpacks commits (time, sha), oldest first."""
    rng = _rng("hour", hour.isoformat())
    live = [c for c in commits if c[0] < hour]
    if not live:
        return []
    newest, previous = live[-1], (live[-2] if len(live) > 1 else live[-1])
    fresh = hour - newest[0] < timedelta(hours=3)  # some clients still run the previous build
    n_sessions = max(1, int(_sessions_expected(hour) * rng.uniform(0.9, 1.1)))
    spike = hour == plan.cost_spike_hour
    regressed = hour >= plan.regression_time
    events: list[dict[str, Any]] = []
    for _ in range(n_sessions):
        sid = _uuid(rng)
        sha = previous[1] if fresh and rng.random() < 0.15 else newest[1]
        ua = rng.choice(_USER_AGENTS)
        t = hour + timedelta(seconds=rng.uniform(0, 3000))
        locale = rng.choice(("en-US", "en-GB", "de-DE", "hi-IN", "zh-CN"))

        def emit(kind: str, latency: float, **extra: Any) -> None:
            events.append(
                {
                    "ts": _iso(t),
                    "session_id": sid,
                    "commit_sha": sha,
                    "event_type": kind,
                    "latency_ms": int(latency),
                    "user_agent": ua,
                    "metadata": {"locale": locale, **extra.pop("metadata", {})},
                    **extra,
                }
            )

        emit("overlay_open", rng.uniform(40, 180), metadata={"route": rng.choice(("/", "/docs", "/chat"))})
        if rng.random() >= 0.18:  # the others open the overlay and leave (abandonment)
            for q in range(rng.choice((1, 1, 2, 2, 3, 4))):
                t += timedelta(seconds=rng.uniform(3, 40))
                model = rng.choices([m for m, _ in _APP_MODELS], [w for _, w in _APP_MODELS])[0]
                tokens_in = _tokens_in(rng)
                tokens_out = int(min(4000, max(1, rng.lognormvariate(5.2, 0.7))))
                llm_latency = (
                    _BASE_P50[model]
                    * (1.5 + tokens_out / 90)
                    * rng.uniform(0.8, 1.25)
                    * (REGRESSION_FACTOR if regressed and model == REGRESSION_MODEL else 1.0)
                )
                cost = tokens_in * _PRICE_IN[model] + tokens_out * _PRICE_OUT[model]
                if spike:  # a prompt template bug: every call sends five times the context
                    tokens_in, cost = tokens_in * 5, cost * COST_SPIKE_FACTOR
                failed = rng.random() < 0.02
                emit(
                    "llm_call",
                    llm_latency,
                    model=model,
                    operation="chat",
                    tokens_in=tokens_in,
                    tokens_out=tokens_out,
                    cost_usd=round(cost, 6),
                    status="error" if failed else "ok",
                    error_msg="rate limited" if failed else "",
                )
                if failed or rng.random() < 0.02:
                    emit("error", 0, metadata={"code": "E_LLM" if failed else "E_RENDER"})
                else:
                    emit("query_submit", llm_latency + rng.uniform(60, 200), metadata={"query_no": q + 1})
        t += timedelta(seconds=rng.uniform(5, 60))
        emit("session_end", 0)
    events.sort(key=lambda e: e["ts"])
    return events


# -- the demo folder -------------------------------------------------------------------------


@dataclass
class DemoPaths:
    root: Path

    @property
    def hearts(self) -> Path:
        return self.root / "banterhearts"

    @property
    def packs(self) -> Path:
        return self.root / "banterpacks"

    @property
    def telemetry(self) -> Path:
        return self.root / "telemetry"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def config(self) -> Path:
        return self.root / "muse.yaml"

    def telemetry_file(self, hour: datetime) -> Path:
        return self.telemetry / hour.strftime("%Y-%m-%d") / (hour.strftime("%Y-%m-%dT%H") + ".jsonl")


@dataclass
class GenerateResult:
    manifest: dict[str, Any]
    new_hearts_commits: int
    new_packs_commits: int
    new_hours: int
    new_events: int


def _actor(pair: tuple[str, str]) -> Any:
    import git

    return git.Actor(*pair)


def _open_repo(path: Path) -> Any:
    import git

    if (path / ".git").is_dir():
        return git.Repo(str(path))
    path.mkdir(parents=True, exist_ok=True)
    return git.Repo.init(str(path), initial_branch="main")


def _commits(repo: Any) -> list[tuple[datetime, str]]:
    if not repo.head.is_valid():
        return []
    out = [(c.committed_datetime.astimezone(timezone.utc), c.hexsha) for c in repo.iter_commits("main")]
    return sorted(out)


def _commit(repo: Any, files: dict[str, str], message: str, when: datetime, author: tuple[str, str]) -> str:
    root = Path(repo.working_tree_dir)
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    repo.index.add(sorted(files))
    actor = _actor(author)
    parents = [repo.head.commit] if repo.head.is_valid() else []
    commit = repo.index.commit(
        message, author=actor, committer=actor, author_date=when, commit_date=when, parent_commits=parents
    )
    return commit.hexsha


def _append(root: Path, rel: str, line: str) -> str:
    path = root / rel
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    return old + line + "\n"


def generate(demo_dir: Path, *, now: datetime, days: int = 14, scale: float = 1.0) -> GenerateResult:
    """Create or extend the demo data under ``demo_dir`` up to the hour before ``now``.

    ``days`` and ``scale`` (a factor on the number of sessions per hour) apply when the demo
    is created; they are kept in the manifest so an extension continues the same way.
    """
    paths = DemoPaths(Path(demo_dir))
    paths.root.mkdir(parents=True, exist_ok=True)
    current = floor_hour(now)
    manifest = _load_manifest(paths) or _new_manifest(paths, current, days=days, scale=scale)
    start = require_ts(manifest["start"])
    plan = Plan(start, int(manifest["span_days"]))
    scale = float(manifest.get("scale", 1.0))

    hearts = _open_repo(paths.hearts)
    new_hearts = _extend_hearts(hearts, start, current, plan)
    packs = _open_repo(paths.packs)
    new_packs = _extend_packs(packs, start, current)
    new_hours, new_events = _extend_telemetry(paths, _commits(packs), start, current, plan, scale)
    regression_sha = next((sha for t, sha in _commits(hearts) if t == plan.regression_time), None)
    manifest.update(
        {
            "generated_until": iso_hour(current),
            "repos": {"banterhearts": str(paths.hearts), "banterpacks": str(paths.packs)},
            "telemetry_dir": str(paths.telemetry),
            "planted": _planted(paths, plan, current, regression_sha),
        }
    )
    _write_atomic(paths.manifest, json.dumps(manifest, indent=2) + "\n")
    return GenerateResult(manifest, new_hearts, new_packs, new_hours, new_events)


def _new_manifest(paths: DemoPaths, current: datetime, *, days: int, scale: float) -> dict[str, Any]:
    """The manifest of a demo created now (or whose manifest was lost: the repos remember the start)."""
    start = current - timedelta(days=days)
    if (paths.hearts / ".git").is_dir():
        first = _commits(_open_repo(paths.hearts))
        start = first[0][0] if first else start
    return {"version": MANIFEST_VERSION, "seed": SEED, "start": iso_hour(start), "span_days": days, "scale": scale}


def _extend_hearts(hearts: Any, start: datetime, current: datetime, plan: Plan) -> int:
    """banterhearts: initial commit at start, then the schedule up to the current hour; returns
    the commits made.

    The benchmark runs after each commit and writes its reports into the working tree
    (reports/ is git-ignored, as in a CI checkout), stamped with that commit's sha: so the
    newest commit has its reports, which is what the watcher checks.
    """
    existing = _commits(hearts)
    new_hearts = 0
    if not existing:
        _commit(
            hearts,
            {
                "README.md": "# banterhearts\n\nLLM inference benchmarks. Reports: reports/benchmarks/.\n",
                ".gitignore": "reports/\n",
            },
            "Initial commit",
            start,
            _AUTHOR,
        )
        existing = _commits(hearts)
        new_hearts += 1
    tip = existing[-1][0]
    root = Path(hearts.working_tree_dir)
    for day in _days(tip, current):
        for t in hearts_commit_times(day):
            # Ten minutes of room: the benchmark of a commit finishes a few minutes after it.
            if not (tip < t and t + timedelta(minutes=10) < current):
                continue
            rng = _rng("hearts-msg", t.isoformat())
            subject = rng.choice(_HEARTS_SUBJECTS)
            files = {
                "CHANGELOG.md": _append(root, "CHANGELOG.md", f"- {t.date()} {subject}"),
                "src/engine.py": f"VERSION = {len(existing) + new_hearts}\n",
            }
            _commit(hearts, files, subject, t, _AUTHOR)
            new_hearts += 1
    reports_dir = root / "reports" / "benchmarks"
    for t, sha in _commits(hearts)[1:]:
        for rid, doc in hearts_reports(t, sha, plan).items():
            target = reports_dir / f"{rid}.json"
            if not target.exists():
                _write_atomic(target, json.dumps(doc, indent=2) + "\n")
    return new_hearts


def _extend_packs(packs: Any, start: datetime, current: datetime) -> int:
    """banterpacks: deploys up to an hour before the current hour, so the newest has telemetry;
    returns the commits made."""
    pcommits = _commits(packs)
    new_packs = 0
    if not pcommits:
        _commit(
            packs,
            {"README.md": "# banterpacks\n\nThe overlay UI.\n", "src/overlay.ts": "export const v = 0;\n"},
            "Initial commit",
            start - timedelta(hours=1),
            _PACKS_AUTHOR,
        )
        pcommits = _commits(packs)
        new_packs += 1
    ptip = pcommits[-1][0]
    proot = Path(packs.working_tree_dir)
    for day in _days(ptip, current):
        for t in packs_commit_times(day):
            if not (ptip < t < current - HOUR):
                continue
            rng = _rng("packs-msg", t.isoformat())
            subject = rng.choice(_PACKS_SUBJECTS)
            files = {
                "src/overlay.ts": f"export const v = {len(pcommits) + new_packs};\n",
                "CHANGELOG.md": _append(proot, "CHANGELOG.md", f"- {t.date()} {subject}"),
            }
            _commit(packs, files, subject, t, _PACKS_AUTHOR)
            new_packs += 1
    return new_packs


def _extend_telemetry(
    paths: DemoPaths, pcommits: list[tuple[datetime, str]], start: datetime, current: datetime, plan: Plan, scale: float
) -> tuple[int, int]:
    """One telemetry file per complete hour, named by the hour; never rewritten. Returns
    (files written, events in them)."""
    new_hours = new_events = 0
    hour = start
    while hour < current:
        path = paths.telemetry_file(hour)
        if hour != plan.gap_hour and not path.exists():
            events = hour_events(hour, pcommits, plan)
            if scale < 1.0:  # a smaller demo (tests): a fixed share of the sessions
                sessions = sorted({e["session_id"] for e in events})
                chosen = set(sessions[: max(1, round(len(sessions) * scale))])
                events = [e for e in events if e["session_id"] in chosen]
            lines = [json.dumps(e) for e in events]
            if hour == plan.bad_line_hour and len(lines) > 8:
                lines[6] = lines[6][: len(lines[6]) // 2]  # a client crashed mid-write
            _write_atomic(path, "\n".join(lines) + "\n" if lines else "")
            new_hours += 1
            new_events += len(events)
        hour += HOUR
    return new_hours, new_events


def _planted(paths: DemoPaths, plan: Plan, current: datetime, regression_sha: str | None) -> dict[str, Any]:
    """What the demo planted for the agents to find, and whether each was reached by now."""
    bad_file = paths.telemetry_file(plan.bad_line_hour)
    return {
        "latency_regression": {
            "commit": regression_sha,
            "commit_time": iso_hour(plan.regression_time) if regression_sha else None,
            "at": plan.regression_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "model": REGRESSION_MODEL,
            "quant": REGRESSION_QUANT,
            "datasets": list(DATASETS),
            "metric": "latency_p95_ms",
            "factor": REGRESSION_FACTOR,
            "note": "p50/p95/p99 x1.55 on this series from this commit on (every later commit too)",
        },
        "throughput_drop": {
            "commit": regression_sha,
            "model": REGRESSION_MODEL,
            "quant": REGRESSION_QUANT,
            "datasets": list(DATASETS),
            "metric": "tokens_per_sec",
            "factor": round(1 / THROUGHPUT_DIVISOR, 4),
            "note": f"tokens_per_sec / {THROUGHPUT_DIVISOR:g} on this series from this commit on",
        },
        "llm_latency_shift": {
            "model": REGRESSION_MODEL,
            "sources": ["banterpacks", "banterhearts"],
            "metric": "latency_ms",
            "factor": REGRESSION_FACTOR,
            "start_hour": iso_hour(floor_hour(plan.regression_time) + HOUR)
            if floor_hour(plan.regression_time) != plan.regression_time
            else iso_hour(plan.regression_time),
            "commit": regression_sha,
            "note": "every LLM call of this model x1.55 slower from the regressing commit on: the app's "
            "(user side, from the first hour starting after the commit) and the reports' own calls",
        },
        "cost_spike": {
            "hour": iso_hour(plan.cost_spike_hour),
            "factor": COST_SPIKE_FACTOR,
            "source": "banterpacks",
            "reached": plan.cost_spike_hour < current,
            "note": "llm_call cost_usd and tokens_in x5 for every call in this hour",
        },
        "telemetry_gap": {
            "hour": iso_hour(plan.gap_hour),
            "kind": "no_telemetry",
            "reached": plan.gap_hour < current,
            "note": "no telemetry file for this hour",
        },
        "quarantined_line": {"file": str(bad_file), "line": 7, "reason": "invalid JSON", "reached": bad_file.exists()},
    }


def _load_manifest(paths: DemoPaths) -> dict[str, Any] | None:
    try:
        doc = json.loads(paths.manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("version") == MANIFEST_VERSION else None


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
