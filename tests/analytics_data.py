"""Deterministic llm_events / bench_runs rows for the analytics tests.

`demo_like` builds a small store that looks like the demo data set: a few benchmark
series over 40 banterhearts commits with a latency regression planted at one commit
(one model/quant series, p95 +45% from that commit on), and hourly LLM traffic with one
hour whose cost is five times the usual.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

UTC = timezone.utc


def ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def sha(label: str) -> str:
    return hashlib.sha1(label.encode()).hexdigest()


def uid(label: str) -> str:
    return str(uuid.UUID(hashlib.md5(label.encode()).hexdigest()))


_EVENT = [0]


def llm(at: datetime, *, source: str = "banterpacks", operation: str = "chat", model: str = "gpt-4o-mini",
        tokens_in: int = 300, tokens_out: int = 100, latency_ms: int = 1000, cost: float = 0.001,
        status: str = "ok", run: str | None = None, event_id: int | None = None,
        ingested: datetime | None = None) -> dict[str, Any]:
    if event_id is None:
        _EVENT[0] += 1
        event_id = _EVENT[0]
    row = {"ts": ts(at), "event_id": event_id, "run_id": uid(run or f"run-{at:%Y%m%d%H}-{source}"),
           "source": source, "commit_sha": "", "model": model, "operation": operation, "tokens_in": tokens_in,
           "tokens_out": tokens_out, "latency_ms": latency_ms, "cost_usd": round(cost, 6), "status": status}
    if ingested is not None:
        row["ingested_at"] = ts(ingested)
    return row


def bench(at: datetime, commit: str, *, model: str = "llama3-8b", quant: str = "q4", dataset: str = "mmlu",
          p95: float = 100, tps: float = 50.0, cost: float = 0.01, run: str | None = None) -> dict[str, Any]:
    return {"ts": ts(at), "run_id": uid(run or f"bench-{commit}"), "commit_sha": commit, "model": model,
            "quant": quant, "dataset": dataset, "latency_p50_ms": int(p95 * 0.6), "latency_p95_ms": int(round(p95)),
            "latency_p99_ms": int(p95 * 1.3), "tokens_per_sec": tps, "cost_per_1k": cost, "memory_peak_mb": 4000}


@dataclass
class DemoLike:
    regression_commit: str
    regression_series: tuple[str, str, str]
    spike_hour: datetime
    commits: list[str]


def demo_like(store: Any, now: datetime, *, seed: int = 7) -> DemoLike:
    """Insert demo-like data ending at ``now`` and return what was planted."""
    rng = random.Random(seed)
    series = [("llama3-8b", "q4", "mmlu"), ("llama3-8b", "q8", "mmlu"), ("qwen2-7b", "q4", "mmlu"),
              ("llama3-8b", "q4", "gsm8k")]
    base_p95 = {s: 400 + 60 * i for i, s in enumerate(series)}
    # 40 commits: the 34 before the regression give every series the 30 earlier runs a
    # benchmark baseline needs (analytics.bench_min_baseline_runs).
    commits = [sha(f"hearts-{i}") for i in range(40)]
    planted_at = 34  # commits 34..39 carry the regression
    start = now - timedelta(days=17)
    rows = []
    for i, commit in enumerate(commits):
        at = start + timedelta(hours=10 * i)
        for s in series:
            p95 = base_p95[s] * (1 + rng.uniform(-0.02, 0.02))
            tps = 40 * (1 + rng.uniform(-0.02, 0.02))
            if s == series[0] and i >= planted_at:
                p95 *= 1.45
            rows.append(bench(at, commit, model=s[0], quant=s[1], dataset=s[2], p95=p95, tps=tps,
                              cost=0.02, run=f"report-{i}"))
    store.insert("bench_runs", rows)
    # Hourly LLM traffic for 5 days, steady cost; one hour (3 hours ago) costs 5x.
    spike = (now - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    first = spike - timedelta(days=5)
    events = []
    hour = first
    while hour <= now - timedelta(hours=1):
        factor = 5.0 if hour == spike else 1.0
        for k in range(6):
            at = hour + timedelta(minutes=5 + 8 * k)
            events.append(llm(at, source="banterpacks", operation="chat", model="gpt-4o-mini",
                              tokens_in=400 + rng.randint(-40, 40), tokens_out=120 + rng.randint(-20, 20),
                              latency_ms=900 + rng.randint(-80, 80), cost=0.02 * factor * (1 + rng.uniform(-0.05, 0.05))))
        hour += timedelta(hours=1)
    store.insert("llm_events", events)
    return DemoLike(commits[planted_at], series[0], spike, commits)
