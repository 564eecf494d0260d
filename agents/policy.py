"""The schedule policy network of AdaNAT, scaled down: generator features modulated by the step.

features (+ one-hot class, where the policy sees the label: not for a text-to-image process, whose
features end with the prompt's embedding) -> linear; step -> sinusoidal embedding -> MLP -> scale and shift of
a LayerNorm (adaptive LayerNorm); a small MLP head to the outputs. The actor's last layer
starts at zero, so an untrained policy's mean action is 0: the hand-designed schedule.

A policy conditioned on the fidelity-diversity trade-off (``tradeoff=True``) also reads the
observation's ``tradeoff`` value, embedded like the step and joined to the inputs.
"""

from __future__ import annotations

import math

import torch
from torch import nn

STEP_EMBEDDING = 32


def sinusoidal_embedding(progress: torch.Tensor, dim: int = STEP_EMBEDDING) -> torch.Tensor:
    """progress (B, 1) in [0, 1] -> (B, dim) sines and cosines at geometric frequencies."""
    frequencies = torch.exp(torch.linspace(0, math.log(1000.0), dim // 2, device=progress.device))
    angles = progress * frequencies
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def label_classes(process: object) -> int:
    """The width of the one-hot label a policy of ``process`` reads: its classes, or 0 where the
    observation has no label (a text-to-image process: its labels are prompts, shown by embedding)."""
    return process.num_classes if getattr(process, "observes_label", True) else 0


class ScheduleNet(nn.Module):
    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        out_dim: int,
        hidden: int = 128,
        zero_init: bool = True,
        tradeoff: bool = False,
    ):
        super().__init__()
        self.num_classes, self.tradeoff = num_classes, tradeoff
        self.inputs = nn.Linear(feature_dim + num_classes + (STEP_EMBEDDING if tradeoff else 0), hidden)
        self.step = nn.Sequential(nn.Linear(STEP_EMBEDDING, hidden), nn.SiLU(), nn.Linear(hidden, 2 * hidden))
        self.norm = nn.LayerNorm(hidden, elementwise_affine=False)
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, out_dim))
        if zero_init:
            nn.init.zeros_(self.head[-1].weight)
            nn.init.zeros_(self.head[-1].bias)

    def forward(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = [observation["features"]]
        if self.num_classes:
            inputs.append(nn.functional.one_hot(observation["label"].long(), self.num_classes).float())
        if self.tradeoff:
            inputs.append(sinusoidal_embedding(observation["tradeoff"]))
        h = self.inputs(torch.cat(inputs, dim=-1))
        scale, shift = self.step(sinusoidal_embedding(observation["progress"])).chunk(2, dim=-1)
        return self.head(self.norm(h) * (1 + scale) + shift)
