"""Cost of the translation protection layer against plain markdown parsing.

Measured: one full round trip of an episode through muse.translation.mdprotect - protect (front-matter
YAML nodes, block parse, an instrumented inline parse per unit, number/term scan), XML
encoding of every unit, XML decoding and restore, apply. Baseline: markdown-it-py parsing
the same document once (block + inline), the least any markdown-aware approach must do.
Target: ratio <= 4 (a DeepL request for the same episode takes hundreds of milliseconds,
so the layer must stay in the low milliseconds).

Usage: python benchmarks/i18n_protect.py [--sections 40] [--repeats 15]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import interleaved, report  # noqa: E402

SECTION = """## Model performance {i}

> **Note:** the *banterhearts* suite ran on new hardware. See [the setup](https://blog.example.com/s{i} "Setup").

- **Regression:** `llama-3-8b` `q4_K_M` on `gsm8k`: p95 went from 412 ms to 338 ms at commit `3f9a1c2`.
- Users: mean latency 1.8 s over 4,210 sessions (up 12% second half vs first half), error rate 1.4%.

| model | quant | dataset | first p95 | latest p95 | change | tokens/s |
|---|---|---|---|---|---|---|
| `llama-3-8b` | `q4_K_M` | `gsm8k` | 412 ms | 338 ms | -18.0% | 41.7 |
| `qwen-2-7b` | `int8` | `mmlu` | 280 ms | 291 ms | +3.9% | 55.2 |

Across 168 hours of telemetry, 4,210 sessions saw a mean latency of 1.8 s, an error rate of 1.4% and an
abandonment rate of 6.2%. The slowest day was 2026-05-01 at 2.3 s.

```sql
SELECT quantile(0.95)(latency_ms) FROM llm_events WHERE model = {{m:String}}
```

![Daily benchmark p95 latency against user latency](./ep-{i}.svg)
"""
TERMS = ("p50", "p95", "p99", "tokens/s", "q4_K_M", "int8", "fp16", "banterhearts", "TL;DR", "Chimera Muse")


def document(sections: int) -> str:
    fm = ("---\ntitle: 'Episode 12: p95 latency of q4_K_M fell 18%'\nepisode: 12\nlang: en\nstatus: published\n"
          "summary: Benchmarks got faster (p95 412 ms to 338 ms) but users saw slower answers.\n---\n\n")
    return fm + "\n".join(SECTION.format(i=i) for i in range(sections))


def main(sections: int = 40, repeats: int = 15) -> dict:
    from markdown_it import MarkdownIt

    from muse.translation import mdprotect as mp

    doc = document(sections)
    plain = MarkdownIt("commonmark").enable(["table", "strikethrough"])

    def round_trip() -> float:
        t0 = time.perf_counter()
        p = mp.protect(doc, terms=TERMS)
        out = mp.apply(p, [mp.from_xml(u, x) if (x := mp.to_xml(u)) is not None else None for u in p.units])
        elapsed = time.perf_counter() - t0
        assert out == doc
        return elapsed

    def parse() -> float:
        t0 = time.perf_counter()
        plain.parse(doc)
        return time.perf_counter() - t0

    round_trip(), parse()  # warm caches (the parser instance, imports)
    measured, baseline = interleaved(round_trip, parse, repeats)
    units = len(mp.protect(doc, terms=TERMS).units)
    print(f"document: {len(doc):,} chars, {sections} sections, {units} translatable units")
    return report("mdprotect round trip vs markdown-it parse", measured, baseline, 4.0)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sections", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    sys.exit(0 if main(args.sections, args.repeats)["pass"] else 1)
