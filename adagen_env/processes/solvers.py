"""Guidance and ODE solvers as small pure functions with explicit per-sample times (k-diffusion style).

Every solver advances images ``x`` (B, ...) from times ``t`` (B,) to ``t_next`` (B,), each sample
with its own times. It gets the guided model output at ``(x, t)`` from the caller (the process
computes it anyway, for the policy's observation), a function ``model(x, t)`` for any further
evaluations, and the memory it returned on the previous step; it returns the next images and
its new memory. ``SOLVERS`` maps a name to ``(function, model evaluations per step)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x, t) -> guided model output
Memory = dict[str, torch.Tensor]


def guided(cond: torch.Tensor, uncond: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Classifier-free guidance ``cond + w * (cond - uncond)`` with one weight per sample (B,).

    ``w = 0`` is the conditional model alone; a classifier-free *scale* s is ``w = s - 1``.
    """
    w = weight.reshape(-1, *([1] * (cond.ndim - 1)))
    return cond + w * (cond - uncond)


# ---------------------------------------------------------------------------------- VP diffusion path
# x_t = alpha_t x_0 + sigma_t noise, log alpha_t = -beta_d t^2 / 4 - beta_0 t / 2 (linear beta
# schedule of score SDEs and DPM-Solver), sigma_t = sqrt(1 - alpha_t^2); the model predicts the noise.
BETA_0, BETA_1 = 0.1, 20.0


def log_alpha(t: torch.Tensor) -> torch.Tensor:
    return -0.25 * t**2 * (BETA_1 - BETA_0) - 0.5 * t * BETA_0


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Signal and noise scales at times ``t`` (float64 for the solvers' log-SNR differences)."""
    la = log_alpha(t.double())
    return la.exp(), (-torch.expm1(2 * la)).sqrt()


def per_sample(c: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample coefficients (B,) shaped to broadcast against ``x`` (B, ...)."""
    return c.reshape(-1, *([1] * (x.ndim - 1)))


def dpm_solver_pp(
    x: torch.Tensor,
    x0: torch.Tensor,
    alpha: torch.Tensor,
    sigma: torch.Tensor,
    alpha_next: torch.Tensor,
    sigma_next: torch.Tensor,
    memory: Memory,
    second_order: bool,
) -> tuple[torch.Tensor, Memory]:
    """DPM-Solver++ in data prediction for any VP path, given each sample's signal and noise scales
    (B,) float64 and clean estimate ``x0``: first order (= DDIM), or 2M reusing the previous clean
    estimate. ``sigma_next = 0`` lands on the clean estimate."""
    lam, lam_next = (alpha / sigma).log(), (alpha_next / sigma_next).log()
    h = lam_next - lam
    estimate = x0
    if second_order and "x0" in memory:
        r = (lam - memory["lam"]) / h
        estimate = per_sample(1 + 0.5 / r, x0) * x0 - per_sample(0.5 / r, x0) * memory["x0"]
    x_next = per_sample(sigma_next / sigma, x) * x.double() - per_sample(alpha_next * torch.expm1(-h), x) * estimate
    return x_next.to(x.dtype), {"x0": x0, "lam": lam}


def _dpm_solver(
    x: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, memory: Memory, second_order: bool
) -> tuple[torch.Tensor, Memory]:
    """DPM-Solver++ on this package's VP path, from the predicted noise at times ``t``."""
    alpha, sigma = alpha_sigma(t)
    alpha_next, sigma_next = alpha_sigma(t_next)
    x0 = (x.double() - sigma[:, None] * eps.double()) / alpha[:, None]
    return dpm_solver_pp(x, x0, alpha, sigma, alpha_next, sigma_next, memory, second_order)


def ddim(model: Model, x, t, t_next, output, memory: Memory, last: bool) -> tuple[torch.Tensor, Memory]:
    """First-order step of the VP path; ``output`` is the predicted noise."""
    return _dpm_solver(x, output, t, t_next, memory, second_order=False)


def dpm_solver_2m(model: Model, x, t, t_next, output, memory: Memory, last: bool) -> tuple[torch.Tensor, Memory]:
    """DPM-Solver++(2M): second order from the second step on; first order on the last step, as
    diffusers does for few steps."""
    return _dpm_solver(x, output, t, t_next, memory, second_order=not last)


# ---------------------------------------------------------------------------------- straight (flow) path
def euler(model: Model, x, t, t_next, output, memory: Memory, last: bool) -> tuple[torch.Tensor, Memory]:
    """``x + (t_next - t) v``; ``output`` is the predicted velocity."""
    return x + per_sample((t_next - t).float(), x) * output, {}


def heun(model: Model, x, t, t_next, output, memory: Memory, last: bool) -> tuple[torch.Tensor, Memory]:
    """Euler's prediction, then the mean of the velocities at both ends (one more model evaluation)."""
    dt = per_sample((t_next - t).float(), x)
    velocity_next = model(x + dt * output, t_next)
    return x + dt * (output + velocity_next) / 2, {}


Solver = Callable[..., tuple[torch.Tensor, Memory]]
SOLVERS: dict[str, tuple[Solver, int]] = {
    "dpm-solver-2m": (dpm_solver_2m, 1),
    "ddim": (ddim, 1),
    "euler": (euler, 1),
    "heun": (heun, 2),
}
