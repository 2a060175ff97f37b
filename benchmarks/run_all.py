"""Every benchmark of the project, one table of ratios against their targets.

Each benchmark measures its own baseline in the same run and reports medians; this entry
point runs them in turn and prints one table. ``--quick`` shrinks the data sizes so the
whole table takes a few minutes (the ratios at full size are the ones that count).

Usage: python benchmarks/run_all.py [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _suite(quick: bool) -> list[tuple[str, Callable[[], Any]]]:
    from benchmarks import (analytics, council_generate, digest_speed, help_startup, i18n_protect, ingest_hearts,
                            ingest_packs, publish_git, query_sandbox, store_growth, watcher_check)

    q = quick
    return [
        ("help", lambda: help_startup.main(repeats=11 if q else 21)),
        ("ingest-packs", lambda: ingest_packs.main(events=100_000 if q else 1_000_000, repeats=3, workdir=None)),
        ("ingest-hearts", lambda: ingest_hearts.main(100 if q else 1_000)),
        ("watcher", lambda: watcher_check.main(ui_events=1_000_000 if q else 10_000_000,
                                               bench_runs=100_000 if q else 1_000_000, repeats=7,
                                               workdir=None, keep=False)),
        ("analytics", lambda: analytics.main(rows=100_000 if q else 1_000_000, repeats=3)),
        ("council", lambda: council_generate.main(ui_events=1_000_000 if q else 10_000_000, repeats=5)),
        ("publish", lambda: publish_git.main(repeats=7 if q else 15)),
        ("i18n", lambda: i18n_protect.main(repeats=7 if q else 15)),
        ("digest", lambda: digest_speed.main(events=100_000 if q else 1_000_000)),
        ("query-sandbox", lambda: query_sandbox.main(events=100_000 if q else 1_000_000)),
        ("store-growth", lambda: store_growth.main(runs=100 if q else 1_000)),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller data sizes")
    ap.add_argument("--only", nargs="*", help="run only these benchmarks")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    for name, run in _suite(args.quick):
        if args.only and name not in args.only:
            continue
        print(f"\n=== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            out = run()
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others
            traceback.print_exc()
            rows.append({"name": name, "ratio": float("nan"), "target": float("nan"), "pass": False,
                         "note": "crashed"})
            continue
        results = out if isinstance(out, list) else [out]
        # Some benchmarks return several ratios at once ({"wall": {...}, "rss": {...}}).
        results = [v for r in results for v in ([x for x in r.values() if isinstance(x, dict) and "ratio" in x]
                                                 or [r])]
        for r in results:
            rows.append({**r, "suite": name, "seconds": time.perf_counter() - t0})
    print("\n| benchmark | measured | baseline | ratio | target | verdict |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "ratio" not in r:  # a throughput figure, no target ratio (e.g. hearts reports/s)
            facts = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()
                              if k not in ("suite", "seconds"))
            print(f"| {r['suite']} | {facts} | | | | info |")
            continue
        print(f"| {r['name']} | {r.get('measured', float('nan')):.4g} | {r.get('baseline', float('nan')):.4g} | "
              f"{r['ratio']:.2f} | <= {r['target']} | {'PASS' if r['pass'] else 'FAIL'} |")
    return 0 if all(r.get("pass", True) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
