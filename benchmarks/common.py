"""Shared helpers for benchmarks: medians of repeated runs and a ratio line.

The machine is noisy: every benchmark measures its baseline in the same run, interleaved
with the measured command, and reports the ratio of medians against a target.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

BIN = Path(sys.executable).parent


def time_cmd(cmd: Sequence[str], **kw) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t0


def interleaved(a: Callable[[], float], b: Callable[[], float], repeats: int) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for _ in range(repeats):
        xs.append(a())
        ys.append(b())
    return xs, ys


def report(name: str, measured: list[float], baseline: list[float], target: float, unit: str = "s") -> dict:
    m, b = statistics.median(measured), statistics.median(baseline)
    ratio = m / b if b else float("inf")
    verdict = "PASS" if ratio <= target else "FAIL"
    print(f"{name}: measured median {m:.4f}{unit}, baseline median {b:.4f}{unit}, "
          f"ratio {ratio:.2f} (target <= {target}) {verdict}")
    return {"name": name, "measured": m, "baseline": b, "ratio": ratio, "target": target, "pass": ratio <= target}
