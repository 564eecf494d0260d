"""The scorer interface: a terminal reward from finished images and the labels they were asked for."""

from __future__ import annotations

from typing import Protocol

import torch


class Scorer(Protocol):
    name: str  # optional; what a policy card records as the reward (default: the class name)
    min_batch_size: int  # optional (default 1); a scorer of batch statistics needs more
    image_shape: tuple[int, int]  # optional (H, W); the env refuses a process whose images differ
    image_channels: int  # optional; likewise

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [0, 1] (C = 1 for grey, 3 for RGB) and labels (B,) -> one reward per sample (B,)."""

    # Optional, for a reward that fixes each episode's start (the trajectory reward): the env core calls
    # prepare(process) once when it is made, draw_starts(labels, np_random) -> (starts (B,), initial noise)
    # at every reset, and passes the starts back when it scores: scorer(images, labels, starts=starts).
