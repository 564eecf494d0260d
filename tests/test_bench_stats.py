"""AdaGen-Bench's per-task tests: Welch, the permutation test (exact and Monte-Carlo) and Holm's correction."""

import math

import numpy as np
import pytest

from adagen_agents.bench.stats import PERMUTATIONS, holm, permutation_p, welch_p


def test_welch_matches_scipy_and_is_nan_without_spread():
    scipy_stats = pytest.importorskip("scipy.stats")
    a, b = np.array([0.1, 0.4, 0.35, 0.2]), np.array([0.5, 0.9, 0.7])
    assert welch_p(a, b) == pytest.approx(scipy_stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-9)
    assert math.isnan(welch_p(np.array([1.0, 1.0]), np.array([2.0, 2.0])))
    assert math.isnan(welch_p(np.array([1.0]), np.array([2.0, 3.0])))


def test_permutation_test_is_exact_at_few_seeds_and_seeded_monte_carlo_beyond():
    # 3 seeds a side, fully separated: 2 of the C(6, 3) = 20 splits are as extreme (two-sided)
    assert permutation_p(np.array([1.0, 1.1, 0.9]), np.array([0.5, 0.4, 0.6])) == (0.1, True)
    assert permutation_p(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == (1.0, True)  # no difference: every split
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.3, 1, 10), rng.normal(0, 1, 10)  # C(20, 10) = 184,756 splits: Monte-Carlo
    p, exact = permutation_p(a, b)
    assert not exact and permutation_p(a, b) == (p, False)  # the fixed seed: the same p every time
    assert p >= 1 / (PERMUTATIONS + 1)
    separated = permutation_p(np.arange(10.0) + 100, np.arange(10.0))[0]
    assert separated == 1 / (PERMUTATIONS + 1)  # never 0


def test_holm_steps_down_and_counts_untestable_comparisons():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    adjusted = holm([0.01, math.nan])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1])  # m = 2: the NaN still counts
    assert holm([0.6, 0.9]) == pytest.approx([1.0, 1.0])
