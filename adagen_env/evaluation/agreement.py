"""Does the reward agree with the evaluation? Rank correlations between a reward and each space's metrics.

An agent only gets better images if a higher reward means better images. Over a set of schedules
(a run's checkpoints, or the static grid) this measures, per feature space and metric, Spearman's
rank correlation between the mean reward and the quality the evaluator sees, signed so that +1
means "more reward, better images" for every metric: FD and KID enter negated (lower is better),
precision and recall as they are. A reward that climbs while FD worsens shows up as a negative
number, space by space.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

AGREEMENT_METRICS = {"fd": -1, "kid": -1, "precision": 1, "recall": 1}  # metric: sign that makes "higher = better"


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            result[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return result


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of two equal-length sequences (NaN with fewer than 3 pairs, or a
    constant sequence)."""
    if len(x) != len(y):
        raise ValueError(f"need sequences of one length, got {len(x)} and {len(y)}")
    if len(x) < 3:
        return float("nan")
    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sx, sy = math.sqrt(sum((a - mx) ** 2 for a in rx)), math.sqrt(sum((b - my) ** 2 for b in ry))
    return cov / (sx * sy) if sx > 0 and sy > 0 else float("nan")


def reward_agreement(
    rewards: Sequence[float], scores: Sequence[dict[str, float]], spaces: Sequence[str]
) -> dict[str, float]:
    """``f"{space}_{metric}"``: the signed Spearman correlation between ``rewards`` and that score
    over the same schedules (``scores[i]`` is an :meth:`Evaluator.evaluate` result of schedule i).
    +1: the reward ranks schedules as the space does; -1: the reverse."""
    if len(rewards) != len(scores):
        raise ValueError(f"need one score dict per reward, got {len(rewards)} rewards and {len(scores)} scores")
    return {
        f"{space}_{metric}": spearman(rewards, [sign * s[f"{space}_{metric}"] for s in scores])
        for space in spaces
        for metric, sign in AGREEMENT_METRICS.items()
    }
