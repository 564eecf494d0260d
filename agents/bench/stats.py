"""Tests for per-task comparisons of two algorithms over training seeds, valid at a few seeds.

The report's percentile bootstrap is unreliable at 3 to 10 seeds a side, so each comparison also
gets Welch's t-test (unequal variances) and a two-sided permutation test of the difference of
means: exact over every split of the pooled seeds while there are at most ``EXACT_LIMIT``, else
Monte-Carlo over ``PERMUTATIONS`` random splits drawn with the fixed seed ``SEED``. The report
makes many comparisons at once, so it corrects each test's p-values with Holm's step-down method,
which holds the chance of any false finding among them at ``ALPHA``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

ALPHA = 0.05
EXACT_LIMIT = 5_000  # splits of the pooled seeds an exact test enumerates (10 + 10 seeds have 184,756)
PERMUTATIONS = 10_000
SEED = 0  # every bootstrap and Monte-Carlo draw of the report starts here


def welch_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p of Welch's t-test of mean(a) = mean(b); NaN when a side has fewer than 2 values or
    neither side varies."""
    if len(a) < 2 or len(b) < 2:
        return math.nan
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    if va + vb == 0:
        return math.nan
    from scipy.stats import t as student

    t = (np.mean(a) - np.mean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return float(2 * student.sf(abs(t), df))


def permutation_p(a: np.ndarray, b: np.ndarray) -> tuple[float, bool]:
    """Two-sided p of the permutation test of the difference of means, and whether it is exact. The
    Monte-Carlo p counts the observed split, (1 + extreme) / (1 + draws), so it is never 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not len(a) or not len(b):
        return math.nan, True
    pooled = np.concatenate([a, b])
    n, total = len(a), len(pooled)
    exact = math.comb(total, n) <= EXACT_LIMIT
    if exact:
        splits = np.array(list(itertools.combinations(range(total), n)))
    else:
        splits = np.random.default_rng(SEED).random((PERMUTATIONS, total)).argsort(axis=1)[:, :n]
    sums = pooled[splits].sum(axis=1)
    differences = np.abs(sums / n - (pooled.sum() - sums) / (total - n))
    observed = abs(a.mean() - b.mean())
    extreme = int((differences >= observed - 1e-12 * max(1.0, observed)).sum())  # ties count, float-safe
    if exact:
        return extreme / len(splits), True
    return (extreme + 1) / (len(splits) + 1), False


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the given order. A NaN p (no test possible) stays NaN
    and still counts among the comparisons, which only makes the others' correction stricter."""
    m = len(p_values)
    order = sorted((i for i, p in enumerate(p_values) if not math.isnan(p)), key=lambda i: p_values[i])
    adjusted, running = [math.nan] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
