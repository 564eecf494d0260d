"""Plain sampling with a given schedule, without the RL environment: the baseline of every benchmark."""

from __future__ import annotations

import torch

from adagen_env.processes.base import Process
from adagen_env.processes.refinement import Refinement, refinement_nfe
from adagen_env.processes.schedules import by_name, inverse_activate, parameters_from_actions


def hand_designed_schedule(process: Process, num_steps: int, batch_size: int) -> torch.Tensor:
    """The hand-designed schedule (T, B, P) exactly as the environment applies it for a zero action."""
    baseline_pre = inverse_activate(process.parameters, process.baseline(num_steps))
    zeros = torch.zeros(batch_size, len(process.parameters))
    return torch.stack([parameters_from_actions(process.parameters, baseline_pre[t], zeros) for t in range(num_steps)])


@torch.no_grad()
def sample(
    process: Process,
    labels: torch.Tensor,
    schedule: torch.Tensor | None = None,
    num_steps: int | None = None,
    seed: int = 0,
    refine: Refinement | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Generate one image per label with ``schedule``, parameter values (T, P) or per sample (T, B, P).

    ``schedule=None`` runs the hand-designed schedule with ``num_steps`` steps (default: the process's own). The
    same ``seed`` gives the same images as the environment reset with that seed and stepped
    with zero actions. ``refine`` refines the finished batch with the same generator (``refinement_nfe``
    more model calls per sample), checked before any work. ``noise`` (diffusion and flow only) is the
    initial noise instead of a draw from ``seed``.
    """
    if refine is not None:
        refinement_nfe(process, refine)
    labels = torch.as_tensor(labels, dtype=torch.long)
    if schedule is None:
        schedule = hand_designed_schedule(process, num_steps or process.default_num_steps, len(labels))
    schedule = torch.as_tensor(schedule, dtype=torch.float32)
    num_parameters = len(process.parameters)
    if schedule.ndim == 2:
        schedule = schedule[:, None].expand(-1, len(labels), -1)
    if schedule.ndim != 3 or schedule.shape[1:] != (len(labels), num_parameters):
        raise ValueError(
            f"schedule must have shape (T, {num_parameters}) or (T, {len(labels)}, {num_parameters}), "
            f"got {tuple(schedule.shape)}"
        )
    if num_steps is not None and num_steps != len(schedule):
        raise ValueError(f"num_steps={num_steps} disagrees with the schedule's {len(schedule)} steps")
    if not torch.isfinite(schedule).all():
        raise ValueError("the schedule holds NaN or infinite values")
    generator = torch.Generator(process.device).manual_seed(seed)
    state = process.reset(labels, generator) if noise is None else process.reset(labels, generator, noise=noise)
    for values in schedule:
        state = process.step(state, by_name(process.parameters, values), len(schedule), generator)
    if refine is not None:
        state = process.refine(state, refine, generator)
    return process.decode(state)
