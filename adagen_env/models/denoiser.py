"""A tiny class-conditional network on continuous images, for diffusion and rectified flow.

The same architecture serves both paradigms; only what it is trained to predict differs (the
noise for diffusion, the velocity for rectified flow). It is a residual MLP over the pixels
(64 for the shipped 8x8 digits, C x H x W for a user's images)
whose blocks are modulated (adaptive LayerNorm, as in DiT) by an embedding of the time and the
class, with ``null_class`` standing for "no class" (classifier-free guidance). The forward pass
also returns the last hidden state, because the schedule policy observes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from adagen_env.models.checkpoints import load_frozen

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
TARGETS = ("native", "clean")


@dataclass(frozen=True)
class DenoiserConfig:
    image_shape: tuple[int, int, int] = (1, 8, 8)  # (channels, height, width) of the images it makes
    num_classes: int = 10
    width: int = 128
    depth: int = 4
    # what it predicts: "native" (the noise for diffusion, the velocity for flow: the shipped models)
    # or "clean" (the clean image, which the process turns into the native output). An MLP of width
    # 128 cannot pass 768 input pixels through to a noise or velocity output; a clean image it can
    target: str = "native"

    @property
    def num_pixels(self) -> int:
        c, h, w = self.image_shape
        return c * h * w

    @property
    def null_class(self) -> int:
        return self.num_classes


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of times in [0, 1] (B,) -> (B, dim)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device) / half)
    angles = 1000.0 * t[:, None].float() * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class ModulatedBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.modulation = nn.Linear(width, 3 * width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, h: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        shift, scale, gate = self.modulation(condition).chunk(3, dim=-1)
        return h + (1 + gate) * self.mlp(self.norm(h) * (1 + scale) + shift)


class Denoiser(nn.Module):
    def __init__(self, config: DenoiserConfig = DenoiserConfig()):
        super().__init__()
        if config.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, not {config.target!r}")
        self.config = config
        c = config
        self.input = nn.Linear(c.num_pixels, c.width)
        self.class_embedding = nn.Embedding(c.num_classes + 1, c.width)
        self.time_mlp = nn.Sequential(nn.Linear(c.width, c.width), nn.SiLU(), nn.Linear(c.width, c.width))
        self.blocks = nn.ModuleList(ModulatedBlock(c.width) for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.width)
        self.head = nn.Linear(c.width, c.num_pixels)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, num_pixels), times (B,) and labels (B,) -> prediction (B, num_pixels), hidden state (B, width)."""
        condition = nn.functional.silu(
            self.time_mlp(time_embedding(t, self.config.width)) + self.class_embedding(labels)
        )
        h = self.input(x)
        for block in self.blocks:
            h = block(h, condition)
        hidden = self.norm(h)
        return self.head(hidden), hidden


def weights_path(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.pt"


def load_denoiser(path: str, device: str = "cpu") -> Denoiser:
    """A shipped denoiser, frozen and in eval mode (shared by every env on the device)."""
    return load_frozen(Denoiser, DenoiserConfig, path, device)
