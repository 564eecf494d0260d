"""The frozen feature network of the projected discriminator, separate from every metric network.

Projected GANs (Sauer et al., 2021) let the discriminator look at a fixed pretrained network's
features at several scales instead of raw pixels, and the method uses such a discriminator for
its reward. Ours must not be a network the ``Evaluator`` uses (the policy would then optimise
the metric), so this is its own network: strided convolutions (no pooling, unlike the metric's
classifier), another seed, trained on the digits' train split with a different augmentation
(random erasing as well as shifts). It returns its feature maps at 8x8, 4x4 and 2x2. The
shipped weights are reproduced by ``python -m adagen_env.training.train_projection_features``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import torch
from torch import nn

WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "weights" / "projection_features.pt"
IMAGE_SHAPE = (1, 8, 8)  # (C, H, W) of the images it was trained on


class ProjectionFeatures(nn.Module):
    """conv 16 (8x8) -> conv 32, stride 2 (4x4) -> conv 64, stride 2 (2x2) -> mean -> class logits."""

    widths = (16, 32, 64)

    def __init__(self, num_classes: int = 10, channels: int = 1) -> None:
        super().__init__()
        w1, w2, w3 = self.widths
        self.stages = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(channels, w1, 3, padding=1), nn.GELU()),
                nn.Sequential(nn.Conv2d(w1, w2, 3, stride=2, padding=1), nn.GELU()),
                nn.Sequential(nn.Conv2d(w2, w3, 3, stride=2, padding=1), nn.GELU()),
            ]
        )
        self.head = nn.Linear(w3, num_classes)  # only for training it

    def feature_maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The maps of every stage for (B, C, H, W) images in [0, 1]."""
        maps, h = [], 2 * images - 1
        for stage in self.stages:
            h = stage(h)
            maps.append(h)
        return maps

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.feature_maps(images)[-1].mean(dim=(2, 3)))


@cache
def _weights() -> dict[str, torch.Tensor]:
    return torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)


def load_projection_features(device: str | torch.device = "cpu") -> ProjectionFeatures:
    """The shipped network, frozen and in eval mode; a fresh module per call (the file is read once)."""
    with torch.random.fork_rng(devices=[]):  # the random initialisation is overwritten
        model = ProjectionFeatures()
    model.load_state_dict(_weights())
    return model.to(device).eval().requires_grad_(False)
