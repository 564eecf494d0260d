"""A tiny class-conditional discriminator for the adversarial reward, trained online on CPU.

Spectral norm on every layer keeps it Lipschitz, so its logits (and the reward built from
them) change smoothly while the policy moves. The class enters by projection (Miyato and
Koyama, 2018): ``logit = linear(h) + <embed(y), h>``, which asks "is this a real image *of
class y*", not just "is this a real image".
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

NEGATIVE_SLOPE = 0.2


class Discriminator(nn.Module):
    """conv ``width`` -> conv 2*width, stride 2 -> conv 2*width -> sum-pooled features -> one logit.

    Takes (B, C, H, W) images in [0, 1] and labels (B,); global pooling makes any H, W work.
    """

    def __init__(self, num_classes: int = 10, width: int = 32, channels: int = 1) -> None:
        super().__init__()
        self.feature_dim = 2 * width
        self.body = nn.Sequential(
            spectral_norm(nn.Conv2d(channels, width, 3, padding=1)),
            nn.LeakyReLU(NEGATIVE_SLOPE),
            spectral_norm(nn.Conv2d(width, self.feature_dim, 4, stride=2, padding=1)),  # 8x8 -> 4x4
            nn.LeakyReLU(NEGATIVE_SLOPE),
            spectral_norm(nn.Conv2d(self.feature_dim, self.feature_dim, 3, padding=1)),
            nn.LeakyReLU(NEGATIVE_SLOPE),
        )
        self.linear = spectral_norm(nn.Linear(self.feature_dim, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, self.feature_dim))

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Logits (B,): high = looks like a real image of its class."""
        h = self.body(2.0 * images - 1.0).sum(dim=(2, 3))  # sum pooling, as in SNGAN's discriminators
        return self.linear(h)[:, 0] + (self.embed(labels.long()) * h).sum(dim=1)
