"""Rectified flow as a process: the straight noise-to-data path, Euler or Heun, a time per sample.

Path: ``x_t = t * x_1 + (1 - t) * noise`` with data at t = 1 (SiT's convention); the model
predicts the velocity ``x_1 - noise``. Time runs from 0 (noise) to 1 (data); the hand-designed
schedule is uniform times with guidance scale 1.5 (w = 0.5, docs/method.md).

Solvers (:mod:`adagen_env.processes.solvers`): ``euler`` (one model evaluation per step) and ``heun``
(two: the second at the Euler prediction, so NFE = 2 x steps).
"""

from __future__ import annotations

import torch

from adagen_env.processes.continuous import MIN_TIME_GAP, ContinuousProcess


def noised(x1: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A point of the path: what the model is trained on."""
    t = t.float()[:, None]
    return t * x1 + (1 - t) * noise


class FlowProcess(ContinuousProcess):
    paradigm = "flow"
    weights_name = "flow_digits"
    t_start, t_end = 0.0, 1.0
    guidance_baseline = 0.5
    solvers = ("euler", "heun")

    def noised(self, data: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return noised(data, noise, t)

    def denoised(self, x: torch.Tensor, t: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        return x + (1 - t.float())[:, None] * output

    def from_clean(self, x: torch.Tensor, t: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        # at t = 1 (Heun's last evaluation) the velocity is undetermined by the clean image: the
        # remaining time is floored at the smallest time step, so that it stays finite
        return (clean - x) / (1 - t.float()).clamp(min=MIN_TIME_GAP)[:, None]
