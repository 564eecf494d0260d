"""Diffusion as a process: a VP noise path, DDIM or DPM-Solver++(2M), a time per sample.

Path (continuous-time VP with a linear beta schedule, as in score SDEs and DPM-Solver; the
functions live in :mod:`adagen_env.processes.solvers`): ``x_t = alpha_t * x_0 + sigma_t * noise``. The
model predicts the noise. Time runs from 1 (noise) to 0.01; the hand-designed schedule is
uniform times with constant guidance (docs/method.md).

Solvers, both one model evaluation per step and exact for per-sample times:
- ``dpm-solver-2m`` (default): DPM-Solver++(2M), second order, reusing each sample's previous
  clean-image estimate; first order on the first and the last step (as diffusers does for
  few steps), where it equals DDIM.
- ``ddim``: first order.
"""

from __future__ import annotations

import torch

from adagen_env.processes.continuous import ContinuousProcess
from adagen_env.processes.solvers import alpha_sigma


def noised(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A point of the path: what the model is trained on."""
    alpha, sigma = alpha_sigma(t)
    return (alpha[:, None] * x0 + sigma[:, None] * noise).float()


class DiffusionProcess(ContinuousProcess):
    paradigm = "diffusion"
    weights_name = "diffusion_digits"
    t_start, t_end = 1.0, 0.01
    guidance_baseline = 0.5  # w = 0.5 is a classifier-free guidance scale of 1.5
    solvers = ("dpm-solver-2m", "ddim")

    def noised(self, data: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return noised(data, noise, t)

    def denoised(self, x: torch.Tensor, t: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        alpha, sigma = alpha_sigma(t)
        return ((x.double() - sigma[:, None] * output.double()) / alpha[:, None]).float()

    def from_clean(self, x: torch.Tensor, t: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        alpha, sigma = alpha_sigma(t)
        return ((x.double() - alpha[:, None] * clean.double()) / sigma[:, None]).float()
