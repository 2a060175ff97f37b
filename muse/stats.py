"""Small, deterministic statistics for the council: every result can be recomputed exactly.

Seeds are fixed, so a fact's ``--run`` reproduces the same interval and p-value from the
same rows. Pure Python except the bootstrap, which uses numpy when it is importable (it is a
dependency of the store's client libraries) and falls back to fewer pure-Python resamples.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from statistics import NormalDist

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


def ratio_of_medians(before: list[float], after: list[float], *, min_n: int = 20, rounds: int = BOOTSTRAP,
                     seed: int = SEED) -> RatioOfMedians:
    """Ratio of medians with a seeded percentile-bootstrap 95% interval (None below min_n)."""
    mb, ma = median(before), median(after)
    ratio = ma / mb if mb and ma is not None else None
    if ratio is None or len(before) < min_n or len(after) < min_n:
        return RatioOfMedians(ratio, None, None, len(before), len(after), mb, ma)
    try:
        import numpy as np

        rng = np.random.default_rng(seed)
        b, a = np.asarray(sorted(before), dtype=float), np.asarray(sorted(after), dtype=float)
        chunk = max(1, 2_000_000 // max(b.size, a.size))  # bounded memory for large samples
        mbs = np.concatenate([np.median(rng.choice(b, size=(min(chunk, rounds - i), b.size)), axis=1)
                              for i in range(0, rounds, chunk)])
        mas = np.concatenate([np.median(rng.choice(a, size=(min(chunk, rounds - i), a.size)), axis=1)
                              for i in range(0, rounds, chunk)])
        ok = mbs > 0
        ratios = np.sort(mas[ok] / mbs[ok])
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
