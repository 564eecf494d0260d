"""A denoising MLP autoencoder whose bottleneck is the metrics' second learned feature space.

The classifier's features see what separates the ten classes; a metric that only looks there
can be fooled by images that are classified right but look wrong. This network differs in
both architecture (fully connected, no convolutions) and objective (reconstruct the clean
image from a corrupted one, no labels), so its 32-d bottleneck weighs appearance rather than
class. The shipped weights are reproduced by ``python -m adagen_env.training.train_encoder``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from adagen_env.models.checkpoints import load_frozen

WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "weights" / "encoder.pt"


@dataclass(frozen=True)
class EncoderConfig:
    num_pixels: int = 64  # 8x8 image
    width: int = 256
    feature_dim: int = 32


class DigitAutoencoder(nn.Module):
    """pixels -> 256 -> 256 -> 32-d features -> 256 -> 256 -> pixel logits, for (B, 1, 8, 8) inputs in [0, 1]."""

    def __init__(self, config: EncoderConfig = EncoderConfig()) -> None:
        super().__init__()
        self.config = config
        c = config
        self.encoder = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c.num_pixels, c.width),
            nn.SiLU(),
            nn.Linear(c.width, c.width),
            nn.SiLU(),
            nn.Linear(c.width, c.feature_dim),  # linear bottleneck: the feature space
        )
        self.decoder = nn.Sequential(
            nn.Linear(c.feature_dim, c.width),
            nn.SiLU(),
            nn.Linear(c.width, c.width),
            nn.SiLU(),
            nn.Linear(c.width, c.num_pixels),
        )

    @property
    def feature_dim(self) -> int:
        return self.config.feature_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, feature_dim) bottleneck features of (B, 1, H, W) images."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits, shaped like ``x``; ``sigmoid`` gives the image in [0, 1]."""
        return self.decoder(self.features(x)).view(x.shape)


def load_encoder(device: str | torch.device = "cpu", path: str = str(WEIGHTS_PATH)) -> DigitAutoencoder:
    """The shipped autoencoder, frozen and in eval mode: a fresh module per call (the file is read once)."""
    return load_frozen(DigitAutoencoder, EncoderConfig, path, device)
