"""Pluggable terminal rewards: scorers of finished images, chosen by name or passed in."""

from __future__ import annotations

from functools import partial

import torch

from adagen_env.rewards.adversarial import AdversarialScorer, ScoringOnly
from adagen_env.rewards.base import Scorer
from adagen_env.rewards.batch_fd import BatchFrechetDistance
from adagen_env.rewards.classifier_confidence import ClassifierConfidence, fidelity_scorer

SCORERS = {
    "adversarial": AdversarialScorer,
    "adversarial-projected": partial(AdversarialScorer, discriminator="projected"),
    "fidelity": fidelity_scorer,  # the projection network's class probability: the trade-off's fidelity half
    "classifier": ClassifierConfidence,  # uses a metric network: shows reward hacking, not for use
    "batch-fd": BatchFrechetDistance,  # likewise
}


def make_scorer(reward: str | Scorer, device: str | torch.device = "cpu") -> Scorer:
    """A scorer by name (one of ``SCORERS``), or the given scorer object unchanged."""
    if isinstance(reward, str):
        if reward not in SCORERS:
            raise ValueError(f"unknown reward {reward!r}; choose one of {sorted(SCORERS)} or pass a scorer")
        return SCORERS[reward](device=device)
    if not callable(reward):
        raise TypeError(f"reward must be a name or a callable scorer, got {type(reward).__name__}")
    return reward


__all__ = [
    "SCORERS",
    "AdversarialScorer",
    "ScoringOnly",
    "BatchFrechetDistance",
    "ClassifierConfidence",
    "Scorer",
    "make_scorer",
]
