"""Paired comparison of two schedules: the FD difference with a bootstrap confidence interval in
every feature space, and a verdict that says "beats" only when every space agrees.

Both schedules are sampled with the same labels and the same noise seeds, so sample i of A and
sample i of B form a pair. Resampling pairs (the same indices for both sets) and recomputing
FD(A) - FD(B) gives the spread that comes from the generated samples. The reference images are
fixed, so the interval leaves out their own sampling noise: it is a lower bound on the
uncertainty of a comparison against another reference set.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from adagen_env.metrics import Evaluator, frechet_distance

RESAMPLES = 200
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Difference:
    """FD(A) - FD(B) in one feature space (negative: A is closer to the real images) and its interval."""

    space: str
    difference: float
    low: float
    high: float

    @property
    def winner(self) -> str | None:
        """"a" or "b" when the interval excludes 0, else None (level in this space)."""
        if self.high < 0:
            return "a"
        if self.low > 0:
            return "b"
        return None


def paired_fd_difference(
    evaluator: Evaluator,
    images_a: torch.Tensor,
    images_b: torch.Tensor,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> list[Difference]:
    """FD(A) - FD(B) against the evaluator's reference in each of its spaces, with a percentile
    bootstrap interval over resampled pairs; ``images_a[i]`` and ``images_b[i]`` must be a pair."""
    if images_a.shape != images_b.shape:
        raise ValueError(f"paired sets must have one shape, got {tuple(images_a.shape)} and {tuple(images_b.shape)}")
    if len(images_a) < 2 or resamples < 2 or not 0 < confidence < 1:
        raise ValueError(f"need at least 2 pairs, resamples >= 2 and 0 < confidence < 1, got "
                         f"{len(images_a)}, {resamples}, {confidence}")
    generator = torch.Generator().manual_seed(seed)
    draws = [torch.randint(len(images_a), (len(images_a),), generator=generator) for _ in range(resamples)]
    tail = (1 - confidence) / 2
    differences = []
    for space in evaluator.spaces:
        reference = evaluator.reference_features_in(space).cpu()  # beside a and b: the bootstrap runs on the CPU
        a = evaluator.space_features(images_a, space).double().cpu()
        b = evaluator.space_features(images_b, space).double().cpu()
        boot = torch.tensor([frechet_distance(reference, a[i]) - frechet_distance(reference, b[i]) for i in draws])
        low, high = torch.quantile(boot, torch.tensor([tail, 1 - tail], dtype=boot.dtype)).tolist()
        differences.append(Difference(space, frechet_distance(reference, a) - frechet_distance(reference, b), low, high))
    return differences


def verdict(differences: list[Difference], name_a: str, name_b: str) -> str:
    """"A beats B" only when A's FD is lower beyond the interval in every space; "level" when no
    space tells them apart; otherwise "mixed", naming the spaces each side wins."""
    winners = {d.space: d.winner for d in differences}
    if all(w == "a" for w in winners.values()):
        return f"{name_a} beats {name_b} in every space"
    if all(w == "b" for w in winners.values()):
        return f"{name_b} beats {name_a} in every space"
    if all(w is None for w in winners.values()):
        return "level in every space"
    parts = [f"{name} better in {', '.join(s for s, w in winners.items() if w == side)}"
             for side, name in (("a", name_a), ("b", name_b)) if side in winners.values()]
    level = [s for s, w in winners.items() if w is None]
    if level:
        parts.append(f"level in {', '.join(level)}")
    return "mixed: " + "; ".join(parts)
