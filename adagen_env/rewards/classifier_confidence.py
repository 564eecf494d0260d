"""Reward = the shipped classifier's probability of the asked class. Fixed, so it can be hacked."""
from __future__ import annotations

import torch

from adagen_env.models.classifier import DigitClassifier, load_classifier


class ClassifierConfidence:
    min_batch_size = 1
    image_shape, image_channels = (8, 8), 1  # the shipped classifier's input

    def __init__(self, device: str | torch.device = "cpu", classifier: DigitClassifier | None = None):
        self.classifier = classifier if classifier is not None else load_classifier(device)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(self.classifier(images), dim=-1)
        return probs.gather(1, labels.long()[:, None])[:, 0]
