"""Reward = a fixed classifier's probability of the asked class.

With the metric's classifier (``reward="classifier"``) it shows reward hacking and is not for
use. With the projected discriminator's frozen network, which no metric uses
(``reward="fidelity"``, :func:`fidelity_scorer`), it is the fidelity half of the trade-off
reward (:mod:`adagen_env.envs.core`): it pays for class-typical images, not for diversity.
"""

from __future__ import annotations

import torch
from torch import nn

from adagen_env.models.classifier import load_classifier
from adagen_env.models.projection_features import load_projection_features


class ClassifierConfidence:
    name = "classifier"
    min_batch_size = 1
    image_shape, image_channels = (8, 8), 1  # the shipped classifier's input

    def __init__(self, device: str | torch.device = "cpu", classifier: nn.Module | None = None):
        self.classifier = classifier if classifier is not None else load_classifier(device)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(self.classifier(images), dim=-1)
        return probs.gather(1, labels.long()[:, None])[:, 0]


def fidelity_scorer(device: str | torch.device = "cpu") -> ClassifierConfidence:
    """The projection network's probability of the asked class: fidelity, from none of the metric's networks."""
    scorer = ClassifierConfidence(device, classifier=load_projection_features(device))
    scorer.name = "fidelity"
    return scorer
