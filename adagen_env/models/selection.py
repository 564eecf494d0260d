"""The selection network: a feature network trained only for choosing, never for scoring.

AdaGen-Bench's selection track (issue 25) lets a method query FD while it searches, and picks the
best static schedule (the normalised score's "1" anchor) by FD. If that FD were taken in one of
the evaluation's spaces (:data:`adagen_env.evaluation.metrics.SPACES`), a method could tune to the
very network that scores it. So choices are made in a space of their own: this network, which no
evaluation space and no reward uses. It differs from all five evaluation networks in seed,
architecture and objective: a strided CNN without pooling or dense layers before its features
(global average of 48 channels), trained to classify digits corrupted by Gaussian noise, dropped
pixels and shifts, with label smoothing. ``python -m adagen_env.training.train_selection_network``
reproduces the shipped weights (``adagen_env/weights/selection.pt``) bit for bit on one thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from adagen_env.models.checkpoints import load_frozen

SELECTION_SPACE = "selection"  # the name of its feature space: not one of the evaluation's SPACES
SELECTION_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "selection.pt"


@dataclass(frozen=True)
class SelectionNetworkConfig:
    channels: int = 1
    num_classes: int = 10
    widths: tuple[int, ...] = (16, 32, 48)  # the last is the feature dimension


class SelectionNetwork(nn.Module):
    """conv 16 -> conv 32 (stride 2) -> conv 48 (stride 2) -> global average -> 48-d features -> logits.

    SiLU activations and group norm; for (B, C, H, W) inputs in [0, 1] of any size >= 4x4."""

    def __init__(self, config: SelectionNetworkConfig = SelectionNetworkConfig()) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        previous = config.channels
        for i, width in enumerate(config.widths):
            layers += [nn.Conv2d(previous, width, 3, stride=1 if i == 0 else 2, padding=1), nn.GroupNorm(4, width)]
            layers.append(nn.SiLU())
            previous = width
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(previous, config.num_classes)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 48) features: the selection space."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def load_selection_network(device: str | torch.device = "cpu", path: Path = SELECTION_WEIGHTS) -> SelectionNetwork:
    """The shipped selection network, frozen and in eval mode (read with ``weights_only=True``)."""
    return load_frozen(SelectionNetwork, SelectionNetworkConfig, str(path), str(device))
