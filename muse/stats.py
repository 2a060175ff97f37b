"""Small statistics the analytics worker needs, in plain Python (the series are short).

* :func:`bh_reject` — Benjamini-Hochberg: which of m p-values are discoveries at FDR q.
* :func:`binom_sf` — P(X >= k) for X ~ Binomial(n, p): how surprising k extreme calls of n are.
* :func:`change_point` — the single most likely step in a series (least squares split) with a
  Bonferroni-corrected p-value over the candidate splits and a confidence interval of the step.
* :func:`median_ratio_interval` — a percentile bootstrap interval of median(after)/median(before).
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass
from typing import Sequence


def norm_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def bh_reject(pvalues: Sequence[float], q: float, m: int | None = None) -> list[bool]:
    """Benjamini-Hochberg step-up: True for each p-value that is a discovery at FDR ``q``.

    ``m`` is the number of hypotheses tested (defaults to len(pvalues)); tests not passed in
    (e.g. hours without a single extreme call, p = 1) count towards it.

    Example: bh_reject([0.001, 0.04, 0.3], 0.05) == [True, False, False]
    """
    total = max(m if m is not None else len(pvalues), len(pvalues))
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    cutoff = -1
    for rank, i in enumerate(order, start=1):
        if pvalues[i] <= q * rank / total:
            cutoff = rank
    keep = set(order[:cutoff]) if cutoff > 0 else set()
    return [i in keep for i in range(len(pvalues))]


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space (n up to tens of thousands)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    # The upper tail from k on, by the pmf recurrence, until the terms stop mattering.
    log_first = (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                 + k * math.log(p) + (n - k) * math.log1p(-p))
    term, total, odds = 1.0, 1.0, p / (1 - p)
    for i in range(k, n):
        term *= (n - i) / (i + 1) * odds
        total += term
        if term < 1e-12 * total:
            break
    return min(1.0, math.exp(log_first) * total)


@dataclass(frozen=True)
class ChangePoint:
    index: int  # first index of the "after" segment
    before_mean: float
    after_mean: float
    before_median: float
    after_median: float
    step: float  # after_mean - before_mean
    step_low: float  # 95% interval of the step
    step_high: float
    t: float
    p_value: float  # Bonferroni-corrected over the candidate splits
    n_before: int
    n_after: int
    sustained: bool  # both halves of the after segment moved the same way, by half the step or more


def change_point(values: Sequence[float], *, min_size: int) -> ChangePoint | None:
    """The split of ``values`` into two segments that most reduces the squared error.

    The step's t statistic uses the pooled within-segment standard deviation; its p-value
    is the two-sided normal tail times the number of candidate splits (Bonferroni), so
    searching for the best split does not inflate false alarms. None when the series is
    shorter than two segments of ``min_size``.
    """
    n = len(values)
    if n < 2 * min_size or min_size < 2:
        return None
    prefix = [0.0]
    prefix2 = [0.0]
    for v in values:
        prefix.append(prefix[-1] + v)
        prefix2.append(prefix2[-1] + v * v)
    total, total2 = prefix[-1], prefix2[-1]
    best = None
    for k in range(min_size, n - min_size + 1):
        s1, s2 = prefix[k], total - prefix[k]
        sse = (prefix2[k] - s1 * s1 / k) + ((total2 - prefix2[k]) - s2 * s2 / (n - k))
        if best is None or sse < best[1]:
            best = (k, sse)
    assert best is not None
    k, sse = best
    before, after = list(values[:k]), list(values[k:])
    mb, ma = statistics.fmean(before), statistics.fmean(after)
    sd = math.sqrt(max(sse, 0.0) / (n - 2)) or 1e-12
    se = sd * math.sqrt(1 / k + 1 / (n - k))
    t = (ma - mb) / se
    candidates = n - 2 * min_size + 1
    p = min(1.0, 2 * norm_sf(abs(t)) * candidates)
    half = len(after) // 2
    first, second = statistics.fmean(after[:half] or after), statistics.fmean(after[half:])
    step = ma - mb
    sustained = all((x - mb) * step > 0 and abs(x - mb) >= abs(step) / 2 for x in (first, second))
    return ChangePoint(k, mb, ma, statistics.median(before), statistics.median(after), step,
                       step - 1.96 * se, step + 1.96 * se, t, p, k, n - k, sustained)


def median_ratio_interval(before: Sequence[float], after: Sequence[float], *, draws: int = 2000,
                          seed: int = 0) -> tuple[float, float, float]:
    """median(after) / median(before) and its 95% percentile bootstrap interval.

    Deterministic for a seed, so a re-run reports the same interval.
    """
    mb, ma = statistics.median(before), statistics.median(after)
    if mb == 0:
        return math.inf, math.inf, math.inf
    rng = random.Random(seed)
    ratios = []
    for _ in range(draws):
        b = statistics.median(rng.choices(before, k=len(before)))
        a = statistics.median(rng.choices(after, k=len(after)))
        if b:
            ratios.append(a / b)
    ratios.sort()
    lo = ratios[int(0.025 * (len(ratios) - 1))]
    hi = ratios[int(0.975 * (len(ratios) - 1))]
    return ma / mb, lo, hi
