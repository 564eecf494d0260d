"""Pluggable terminal rewards: scorers of finished images, chosen by name or passed in."""

from __future__ import annotations

from functools import partial
from typing import Any

import torch

from adagen_env.rewards.adversarial import AdversarialScorer, ScoringOnly
from adagen_env.rewards.base import Scorer
from adagen_env.rewards.batch_fd import BatchFrechetDistance
from adagen_env.rewards.classifier_confidence import ClassifierConfidence, fidelity_scorer
from adagen_env.rewards.latent import latent_scorer
from adagen_env.rewards.trajectory import TrajectoryScorer

SCORERS = {
    "adversarial": AdversarialScorer,
    "adversarial-projected": partial(AdversarialScorer, discriminator="projected"),
    # a diffusers pipeline with a VAE: the discriminator scores its latents, the real images encoded once
    # (needs process= and real=; adagen_env.rewards.latent)
    "adversarial-latent": latent_scorer,
    # remedies against a discriminator that memorises its 1,297 real images (docs/method.md, section 5)
    # DiffAugment on every training step's reals and fakes: Zhao et al. 2020's translation, cutout, colour ranges
    "adversarial-diffaug": partial(AdversarialScorer, augment="diffaug"),
    # the same augmentations with ADA's adaptive probability, r_t target 0.6 (Karras et al. 2020)
    "adversarial-ada": partial(AdversarialScorer, augment="ada"),
    # R1 with gamma 0.1: between StyleGAN2-ADA's 0.01 (CIFAR-10) and Mescheder et al.'s 10; at 1 it held
    # the logits of real digits against noise within about 0.7 of zero
    "adversarial-r1": partial(AdversarialScorer, r1=0.1),
    # LeCam with lambda 0.3, Tseng et al.'s weight for BigGAN on limited CIFAR-10; EMA decay 0.99, theirs
    "adversarial-lecam": partial(AdversarialScorer, lecam=0.3),
    # half of each step's fakes from the last 4,096 past fakes: the half of Shrivastava et al. 2017's history buffer
    "adversarial-replay": partial(AdversarialScorer, replay=0.5),
    # 3 discriminators on bootstrap resamples, the mean of their probabilities (3x the discriminator's cost)
    "adversarial-ensemble": partial(AdversarialScorer, ensemble=3),
    # log D clipped at -10: the original minimax generator reward, which keeps pushing hopeless samples
    "adversarial-logd": partial(AdversarialScorer, shaping="logd"),
    # sigmoid of the logit standardised per class by the fakes' moving mean and std: no class is easier
    "adversarial-classnorm": partial(AdversarialScorer, shaping="class-norm"),
    # DiffAugment + R1 + LeCam at the strengths above, the combination Tseng et al. report as complementary
    "adversarial-robust": partial(AdversarialScorer, augment="diffaug", r1=0.1, lecam=0.3),
    # diffusion and flow only: closeness to the 64-step solution from the same noise (no discriminator)
    "trajectory": TrajectoryScorer,
    # half that, half the plain adversarial reward
    "trajectory-adversarial": partial(TrajectoryScorer, adversarial=0.5),
    "fidelity": fidelity_scorer,  # the projection network's class probability: the trade-off's fidelity half
    "classifier": ClassifierConfidence,  # uses a metric network: shows reward hacking, not for use
    "batch-fd": BatchFrechetDistance,  # likewise
}


def make_scorer(reward: str | Scorer, device: str | torch.device = "cpu", **options: Any) -> Scorer:
    """A scorer by name (one of ``SCORERS``, made with ``options``, e.g. ``real=``) and named so, or the
    given scorer object unchanged."""
    if isinstance(reward, str):
        if reward not in SCORERS:
            raise ValueError(f"unknown reward {reward!r}; choose one of {sorted(SCORERS)} or pass a scorer")
        scorer = SCORERS[reward](device=device, **options)
        scorer.name = reward  # what a policy card records
        return scorer
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
    "TrajectoryScorer",
    "latent_scorer",
    "make_scorer",
]
