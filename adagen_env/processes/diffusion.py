"""Diffusion as a process: a VP noise path, DDIM or DPM-Solver++(2M), a time per sample.

Path (continuous-time VP with a linear beta schedule, as in score SDEs and DPM-Solver):
``x_t = alpha_t * x_0 + sigma_t * noise``, ``log alpha_t = -beta_d t^2 / 4 - beta_0 t / 2``,
``sigma_t = sqrt(1 - alpha_t^2)``. The model predicts the noise. Time runs from 1 (noise) to
0.01; the hand-designed schedule is uniform times with constant guidance (METHOD.md).

Solvers, both one model evaluation per step and exact for per-sample times:
- ``dpm-solver-2m`` (default): DPM-Solver++(2M), second order, reusing each sample's previous
  clean-image estimate; first order on the first and the last step (as diffusers does for
  few steps), where it equals DDIM.
- ``ddim``: first order.
"""
from __future__ import annotations

import torch

from adagen_env.processes.continuous import ContinuousProcess, ContinuousState

BETA_0, BETA_1 = 0.1, 20.0


def log_alpha(t: torch.Tensor) -> torch.Tensor:
    return -0.25 * t**2 * (BETA_1 - BETA_0) - 0.5 * t * BETA_0


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Signal and noise scales at times ``t`` (float64 for the solver's log-SNR differences)."""
    la = log_alpha(t.double())
    return la.exp(), (-torch.expm1(2 * la)).sqrt()


def noised(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A point of the path: what the model is trained on."""
    alpha, sigma = alpha_sigma(t)
    return (alpha[:, None] * x0 + sigma[:, None] * noise).float()


class DiffusionProcess(ContinuousProcess):
    weights_name = "diffusion_digits"
    t_start, t_end = 1.0, 0.01
    guidance_baseline = 0.5  # w = 0.5 is a classifier-free guidance scale of 1.5
    solvers = ("dpm-solver-2m", "ddim")
    calls_per_step = {"dpm-solver-2m": 1, "ddim": 1}

    def denoised(self, x: torch.Tensor, t: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        alpha, sigma = alpha_sigma(t)
        return ((x.double() - sigma[:, None] * output.double()) / alpha[:, None]).float()

    def solve(
        self, state: ContinuousState, t_next: torch.Tensor, guidance: torch.Tensor, last: bool
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        eps = self.guided(state.x, state.t, state.labels, guidance, cond=state.cond)
        alpha, sigma = alpha_sigma(state.t)
        alpha_next, sigma_next = alpha_sigma(t_next)
        lam, lam_next = (alpha / sigma).log(), (alpha_next / sigma_next).log()
        h = lam_next - lam
        x0 = (state.x.double() - sigma[:, None] * eps.double()) / alpha[:, None]
        estimate = x0
        if self.solver == "dpm-solver-2m" and "x0" in state.memory and not last:
            r = (lam - state.memory["lam"]) / h
            estimate = (1 + 0.5 / r)[:, None] * x0 - (0.5 / r)[:, None] * state.memory["x0"]
        x_next = (sigma_next / sigma)[:, None] * state.x.double() - (alpha_next * torch.expm1(-h))[:, None] * estimate
        return x_next.float(), {"x0": x0, "lam": lam}
