"""An English episode as the council writes it, published on a real blog origin, for the
i18n tests: front-matter, blockquote, lists with inline code, a table, fenced SQL, a
chart image, links, numbers and glossary terms."""

from __future__ import annotations

import uuid
from typing import Any

from episode_fixtures import HEARTS, PACKS
from muse.episode import render


def front_matter(n: int) -> dict[str, Any]:
    return {
        "title": f"Episode {n}: p95 latency of q4_K_M fell 18% while users waited longer",
        "episode": n, "date": "2026-05-04", "lang": "en", "status": "published", "confidence": 0.82,
        "confidence_components": {"completeness": 0.93, "correlation_strength": 0.82, "recency": 1.0},
        "hearts_commit": HEARTS, "packs_commit": PACKS, "run_id": str(uuid.UUID(int=n)), "forced": False,
        "summary": "Benchmarks got faster (p95 412 ms to 338 ms) but users saw slower answers; 1,204 runs.",
    }


BODY = """> **Note:** this week the *banterhearts* suite ran on new hardware. See [the setup](https://blog.example.com/setup "Setup").

Window: 2026-04-27 to 2026-05-04 UTC.

## TL;DR

- **Regression:** `llama-3-8b` `q4_K_M` on `gsm8k`: p95 went from 412 ms to 338 ms at commit `3f9a1c2`.
- Users: mean latency 1.8 s over 4,210 sessions (up 12% second half vs first half), error rate 1.4%.
- LLM spend in the window: $12.34 for 1,204,311 tokens.

## What shipped

**banterhearts**: 2 commits in the window.

- `3f9a1c2` `switch the q4 kernels`
- `77be01d` `batch the tokenizer`

## Model performance

| model | quant | dataset | first p95 | latest p95 | change | tokens/s |
|---|---|---|---|---|---|---|
| `llama-3-8b` | `q4_K_M` | `gsm8k` | 412 ms | 338 ms | -18.0% | 41.7 |
| `qwen-2-7b` | `int8` | `mmlu` | 280 ms | 291 ms | +3.9% | 55.2 |

Findings of the analytics worker:

- **warning** latency outlier (`qwen-2-7b` `int8` `mmlu`): p95 291 ms against a baseline of 280 ms, z 2.4.

## User experience

Across 168 hours of telemetry, 4,210 sessions saw a mean latency of 1.8 s, an error rate of 1.4% and an abandonment rate of 6.2%. The slowest day was 2026-05-01 at 2.3 s.

## Why it matters

Over 7 days with both benchmark and user data, daily benchmark p95 latency and daily user latency have a weak correlation (r = 0.31, n = 7).

## Data quality

Confidence is 0.82, the lowest of three components (threshold 0.6):

- Completeness 0.93: 78 of 84 expected benchmark results.
- Recency 1.0: the staler source's newest data is 2 h old.

![Daily benchmark p95 latency against user latency](./ep-12.svg)

## Evidence

```sql
SELECT quantile(0.95)(latency_ms) FROM llm_events WHERE model = {m:String}
```

| id | value | what |
|---|---|---|
| E1 | 412 | first p95 of `llama-3-8b` |
"""


def english_episode(n: int = 12) -> str:
    return render(front_matter(n), BODY.replace("ep-12.svg", f"ep-{n}.svg"))


def english_row(n: int, *, status: str = "published", age_hours: float = 1.0) -> dict[str, Any]:
    from datetime import timedelta

    from muse.hours import ts_str, utcnow

    fm = front_matter(n)
    return {
        "ts": ts_str(utcnow() - timedelta(hours=age_hours)), "episode": n, "lang": "en", "translation_of": None,
        "run_id": str(uuid.UUID(int=n)), "hearts_commit": HEARTS, "packs_commit": PACKS, "title": fm["title"],
        "path": f"posts/ep-{n}.md", "confidence_score": 0.82, "completeness": 0.93, "correlation_strength": 0.82,
        "recency": 1.0, "tokens_total": 48211, "cost_total": 1.234567, "status": status, "forced": False,
        "approved_by": "", "published_commit": "", "schema_version": 1,
    }
