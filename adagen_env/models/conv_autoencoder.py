"""A convolutional autoencoder: a fourth feature space, label-free like the MLP one but local.

Where the MLP denoising autoencoder (:mod:`adagen_env.models.encoder`) reconstructs masked
pixels through dense layers, this one reconstructs clean images through convolutions and a
linear bottleneck, so its features weigh local strokes. The shipped weights are reproduced by
``python -m adagen_env.training.train_feature_networks``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ConvAutoencoderConfig:
    channels: int = 1
    height: int = 8  # even sizes: one stride-2 convolution halves them
    width: int = 8
    hidden: int = 32
    feature_dim: int = 32


class ConvAutoencoder(nn.Module):
    """conv 32 -> stride-2 conv 64 -> linear 32-d bottleneck -> mirror image; (B, C, H, W) in [0, 1]."""

    def __init__(self, config: ConvAutoencoderConfig = ConvAutoencoderConfig()) -> None:
        super().__init__()
        self.config = config
        c = config
        if c.height % 2 or c.width % 2:
            raise ValueError(f"the convolutional autoencoder takes even sizes, got {c.height}x{c.width}")
        self.grid = (2 * c.hidden, c.height // 2, c.width // 2)
        flat = 2 * c.hidden * (c.height // 2) * (c.width // 2)
        self.encoder = nn.Sequential(
            nn.Conv2d(c.channels, c.hidden, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(c.hidden, 2 * c.hidden, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.Flatten(),
            nn.Linear(flat, c.feature_dim),  # linear bottleneck: the feature space
        )
        self.decoder_in = nn.Sequential(nn.Linear(c.feature_dim, flat), nn.SiLU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * c.hidden, c.hidden, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(c.hidden, c.channels, 3, padding=1),
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, feature_dim) bottleneck features."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits shaped like ``x``; ``sigmoid`` gives the image."""
        return self.decoder(self.decoder_in(self.features(x)).view(-1, *self.grid))
