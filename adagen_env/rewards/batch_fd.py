"""Reward = minus the Frechet distance of the whole finished batch to real training images.

Every sample of the batch gets the same reward: it scores the batch's statistics, not any one
image, which is what makes it easy to hack (docs/method.md). Real features come from the *train*
split; the held-out split stays reserved for evaluation.
"""

from __future__ import annotations

import torch

from adagen_env.data.datasets import ImageDataset, load_digits
from adagen_env.evaluation.metrics import Evaluator, frechet_distance


class BatchFrechetDistance:
    name = "batch-fd"
    min_batch_size = 2

    def __init__(self, device: str | torch.device = "cpu", reference: ImageDataset | None = None):
        self.evaluator = Evaluator(reference if reference is not None else load_digits("train"), device=device)
        self.image_shape = self.evaluator.reference.image_shape
        self.image_channels = self.evaluator.reference.channels

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if len(images) < self.min_batch_size:
            raise ValueError(f"batch Frechet distance needs at least {self.min_batch_size} images, got {len(images)}")
        fd = frechet_distance(self.evaluator.features(images), self.evaluator.reference_features)
        return torch.full((len(images),), -fd, device=images.device)
