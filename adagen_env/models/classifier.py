"""A small CNN digit classifier whose penultimate features are the space all metrics live in.

Standard FID uses Inception on 299x299 photos; for 8x8 digits a classifier trained on the
digits themselves gives features that actually separate the classes. The shipped weights are
reproduced by ``python -m adagen_env.training.train_classifier``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import torch
from torch import nn

WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "weights" / "classifier.pt"


class DigitClassifier(nn.Module):
    """conv 32 -> conv 64 -> max-pool to 4x4 -> 64-d ReLU features -> class logits, for (B, C, H, W)
    inputs in [0, 1] with H, W >= 4 (the shipped one: 1 channel, 8x8, 10 classes)."""

    feature_dim = 64

    def __init__(self, num_classes: int = 10, channels: int = 1) -> None:
        super().__init__()
        self.num_classes, self.channels = num_classes, channels
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveMaxPool2d(4),  # 8x8 -> 4x4 as a 2x2 max-pool; larger images pool larger windows
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, self.feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(self.feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate (B, 64) features: the feature space of FD and precision/recall."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@cache
def _weights() -> dict[str, torch.Tensor]:
    return torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)


def load_classifier(device: str | torch.device = "cpu") -> DigitClassifier:
    """The shipped frozen classifier in eval mode: a fresh module per call (the file is read once),
    so that no user of it can switch another's to training mode."""
    with torch.random.fork_rng(devices=[]):  # the random initialisation is overwritten
        model = DigitClassifier()
    model.load_state_dict(_weights())
    return model.to(device).eval().requires_grad_(False)
