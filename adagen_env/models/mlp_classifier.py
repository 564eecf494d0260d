"""A fully connected classifier: a third feature space, supervised like the CNN's but blind to locality.

It sees the same labels as :class:`~adagen_env.models.classifier.DigitClassifier` but no
convolutions, so what its penultimate features weigh differs with the architecture alone. The
shipped weights are reproduced by ``python -m adagen_env.training.train_feature_networks``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class MLPClassifierConfig:
    num_pixels: int = 64  # C x H x W of the images it takes
    num_classes: int = 10
    width: int = 256
    feature_dim: int = 64


class MLPClassifier(nn.Module):
    """pixels -> 256 -> 256 -> 64-d GELU features -> class logits, for (B, C, H, W) inputs in [0, 1]."""

    def __init__(self, config: MLPClassifierConfig = MLPClassifierConfig()) -> None:
        super().__init__()
        self.config = config
        c = config
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c.num_pixels, c.width),
            nn.GELU(),
            nn.Linear(c.width, c.width),
            nn.GELU(),
            nn.Linear(c.width, c.feature_dim),
            nn.GELU(),
        )
        self.head = nn.Linear(c.feature_dim, c.num_classes)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate (B, feature_dim) features."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
