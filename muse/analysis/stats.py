"""Small, deterministic statistics for the council and the analytics worker.

Every result can be recomputed exactly: seeds are fixed, so a council fact's ``--run``
reproduces the same interval and p-value from the same rows.

Council (findings with n, interval and p):

* :func:`pearson`, :func:`fisher_ci`, :func:`permutation_p` — a correlation as a finding;
* :func:`ratio_of_medians` — a before/after change with a bootstrap interval (numpy when it
  is importable, else fewer pure-Python resamples). The analytics worker's regressions use it
  too: one bootstrap, one seed (``SEED``) and one number of resamples (``BOOTSTRAP``).

Analytics worker (the series are short):

* :func:`bh_reject` — Benjamini-Hochberg: which of m p-values are discoveries at FDR q.
* :func:`binom_sf` — P(X >= k) for X ~ Binomial(n, p): how surprising k extreme calls of n are.
* :func:`change_point` — the single most likely step in a series (least squares split) with a
  Bonferroni-corrected p-value over the candidate splits and a confidence interval of the step.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

SEED = 20261205
PERMUTATIONS = 10_000
BOOTSTRAP = 500


def median(values: list[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    mid = len(s) // 2
    return float(s[mid]) if len(s) % 2 else (s[mid - 1] + s[mid]) / 2.0


def pearson(x: list[float], y: list[float]) -> float | None:
    n = len(x)
    if n < 3 or n != len(y):
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx <= 0 or syy <= 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def fisher_ci(r: float, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """Fisher z interval for a Pearson r (needs n >= 4)."""
    if n < 4:
        return None
    z = math.atanh(max(-0.999999, min(0.999999, r)))
    half = NormalDist().inv_cdf(0.5 + level / 2) / math.sqrt(n - 3)
    return math.tanh(z - half), math.tanh(z + half)


def permutation_p(x: list[float], y: list[float], *, rounds: int = PERMUTATIONS, seed: int = SEED) -> float | None:
    """Two-sided permutation p-value of Pearson r: exact for n <= 8, else seeded Monte Carlo."""
    r0 = pearson(x, y)
    if r0 is None:
        return None
    import itertools

    n = len(x)
    hits = total = 0
    if n <= 8:
        for perm in itertools.permutations(y):
            r = pearson(x, list(perm))
            total += 1
            hits += r is not None and abs(r) >= abs(r0) - 1e-12
        return hits / total
    rng = random.Random(seed)
    ys = list(y)
    for _ in range(rounds):
        rng.shuffle(ys)
        r = pearson(x, ys)
        total += 1
        hits += r is not None and abs(r) >= abs(r0) - 1e-12
    return (hits + 1) / (total + 1)


@dataclass(frozen=True)
class RatioOfMedians:
    ratio: float | None  # median(after) / median(before)
    low: float | None
    high: float | None
    n_before: int
    n_after: int
    median_before: float | None
    median_after: float | None


def ratio_of_medians(
    before: list[float], after: list[float], *, min_n: int = 20, rounds: int = BOOTSTRAP, seed: int = SEED
) -> RatioOfMedians:
    """median(after) / median(before) with a seeded percentile-bootstrap 95% interval.

    The interval is None when either side has fewer than ``min_n`` values (the council asks
    for 20; the analytics worker, whose series are a few runs per commit, for 1 and says n);
    the ratio is None when the median before is 0. Deterministic: the same values give the
    same interval on every run."""
    mb, ma = median(before), median(after)
    ratio = ma / mb if mb and ma is not None else None
    if ratio is None or len(before) < min_n or len(after) < min_n:
        return RatioOfMedians(ratio, None, None, len(before), len(after), mb, ma)
    try:
        import numpy as np

        rng = np.random.default_rng(seed)
        b, a = np.asarray(sorted(before), dtype=float), np.asarray(sorted(after), dtype=float)
        chunk = max(1, 2_000_000 // max(b.size, a.size))  # bounded memory for large samples
        mbs = np.concatenate(
            [np.median(rng.choice(b, size=(min(chunk, rounds - i), b.size)), axis=1) for i in range(0, rounds, chunk)]
        )
        mas = np.concatenate(
            [np.median(rng.choice(a, size=(min(chunk, rounds - i), a.size)), axis=1) for i in range(0, rounds, chunk)]
        )
        ok = mbs > 0
        ratios = np.sort(mas[ok] / mbs[ok])
        if not ratios.size:  # every resample's median before was 0: no interval to give
            return RatioOfMedians(ratio, None, None, len(before), len(after), mb, ma)
        low, high = float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))
    except ImportError:  # pragma: no cover - numpy ships with the store's dependencies
        pyrng = random.Random(seed)
        sb, sa = sorted(before), sorted(after)
        rs = []
        for _ in range(min(rounds, 400)):
            x = median([pyrng.choice(sb) for _ in sb])
            y = median([pyrng.choice(sa) for _ in sa])
            if x:
                rs.append((y or 0) / x)
        rs.sort()
        low, high = rs[int(0.025 * (len(rs) - 1))], rs[int(0.975 * (len(rs) - 1))]
    return RatioOfMedians(ratio, low, high, len(before), len(after), mb, ma)


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
    log_first = (
        math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p) + (n - k) * math.log1p(-p)
    )
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
    return ChangePoint(
        k,
        mb,
        ma,
        statistics.median(before),
        statistics.median(after),
        step,
        step - 1.96 * se,
        step + 1.96 * se,
        t,
        p,
        k,
        n - k,
        sustained,
    )
