"""Tiny class-conditional discriminators for the adversarial reward, trained online on CPU: one
on pixels, and a projected one on a frozen feature network's maps.

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


class ProjectedDiscriminator(nn.Module):
    """A discriminator on a frozen network's feature maps: one small trainable head per scale.

    Each head (spectral-norm 1x1 conv to ``width`` channels, LeakyReLU, spectral-norm 3x3 conv,
    sum pooling) gives a class-projected logit as in :class:`Discriminator`; the logit is their
    sum. Only the heads train; ``features`` (any module with ``feature_maps(images)`` and a
    ``widths`` tuple) stays frozen, and images it cannot take fail at construction.
    """

    def __init__(
        self, features: nn.Module, num_classes: int, image_shape: tuple[int, int, int], width: int = 32
    ) -> None:
        super().__init__()
        self.features = features.eval().requires_grad_(False)
        try:
            with torch.no_grad():
                self.features.feature_maps(torch.zeros(1, *image_shape, device=next(features.parameters()).device))
        except RuntimeError as e:
            c, h, w = image_shape
            raise ValueError(
                f"the projected discriminator's feature network does not take {c}x{h}x{w} images "
                f"({str(e).splitlines()[0]}); use the pixel discriminator (--reward adversarial)"
            ) from e
        self.heads = nn.ModuleList(
            nn.Sequential(
                spectral_norm(nn.Conv2d(channels, width, 1)),
                nn.LeakyReLU(NEGATIVE_SLOPE),
                spectral_norm(nn.Conv2d(width, width, 3, padding=1)),
                nn.LeakyReLU(NEGATIVE_SLOPE),
            )
            for channels in features.widths
        )
        self.linears = nn.ModuleList(spectral_norm(nn.Linear(width, 1)) for _ in features.widths)
        self.embeds = nn.ModuleList(spectral_norm(nn.Embedding(num_classes, width)) for _ in features.widths)

    def train(self, mode: bool = True) -> ProjectedDiscriminator:
        super().train(mode)
        self.features.eval()  # frozen: never in training mode
        return self

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Logits (B,): high = looks like a real image of its class, at every scale together."""
        with torch.no_grad():
            maps = self.features.feature_maps(images)
        logits = torch.zeros(len(images), device=images.device)
        for feature_map, head, linear, embed in zip(maps, self.heads, self.linears, self.embeds):
            h = head(feature_map).sum(dim=(2, 3))
            logits = logits + linear(h)[:, 0] + (embed(labels.long()) * h).sum(dim=1)
        return logits
