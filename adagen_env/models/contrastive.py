"""A contrastive (SimCLR-style) encoder: a fifth feature space, learnt from no labels and no pixels' loss.

Its objective is to give two augmented views of one image nearby features and other images'
views distant ones (NT-Xent, Chen et al. 2020). It never reconstructs and never sees a label,
so it weighs what survives the augmentations (shifts, contrast, noise, erased patches): shape
rather than exact grey levels. The projection head is used for training only; the features are
the representation before it. Reproduced by ``python -m adagen_env.training.train_feature_networks``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ContrastiveConfig:
    channels: int = 1
    hidden: int = 32
    feature_dim: int = 64
    projection_dim: int = 32


class ContrastiveEncoder(nn.Module):
    """conv 32 -> stride-2 conv 64 -> stride-2 conv 128 -> 2x2 average pool -> 64-d features
    (-> projection head, for the loss); (B, C, H, W) inputs in [0, 1] with H, W >= 4."""

    def __init__(self, config: ContrastiveConfig = ContrastiveConfig()) -> None:
        super().__init__()
        self.config = config
        c = config
        self.body = nn.Sequential(
            nn.Conv2d(c.channels, c.hidden, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(c.hidden, 2 * c.hidden, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(2 * c.hidden, 4 * c.hidden, 3, stride=2, padding=1),
            nn.GELU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * c.hidden, c.feature_dim),
        )
        self.projection = nn.Sequential(
            nn.GELU(), nn.Linear(c.feature_dim, c.feature_dim), nn.GELU(), nn.Linear(c.feature_dim, c.projection_dim)
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, feature_dim) representation, before the projection head."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The projection the contrastive loss compares."""
        return self.projection(self.features(x))
