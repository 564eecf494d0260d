"""Step parameters, their activations, and the map from a normalised action to parameter values.

A policy acts in *pre-activation* space: every step parameter has an activation that maps a
real number into its valid range (sigmoid for ratios, softplus for temperatures and guidance).
The hand-designed value is passed through the inverse activation and the scaled action is
added to it (the method's heuristic residual, docs/method.md), so the zero action gives the hand-designed
schedule and learning starts from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch


@dataclass(frozen=True)
class StepParameter:
    """One per-step parameter of a generation process.

    ``action_scale`` is the pre-activation change that a full action (+1 or -1) makes.
    ``floor`` keeps the inverse activation finite: a hand-designed value of exactly 0 (a
    guidance ramp that starts at 0, say) becomes ``floor`` before it is inverted.
    """

    name: str
    activation: Literal["sigmoid", "softplus"]
    action_scale: float
    floor: float = 1e-3


def activate(parameters: tuple[StepParameter, ...], pre: torch.Tensor) -> torch.Tensor:
    """Pre-activation values (..., P) -> parameter values in their valid ranges."""
    return torch.stack([_ACTIVATIONS[p.activation](pre[..., i]) for i, p in enumerate(parameters)], dim=-1)


def inverse_activate(parameters: tuple[StepParameter, ...], values: torch.Tensor) -> torch.Tensor:
    """Parameter values (..., P) -> pre-activation values, clamping to each parameter's floor."""
    columns = []
    for i, p in enumerate(parameters):
        v = values[..., i].double().clamp(min=p.floor)
        if p.activation == "sigmoid":
            columns.append(torch.logit(v.clamp(max=1 - p.floor)))
        else:
            columns.append(v + torch.log(-torch.expm1(-v)))
    return torch.stack(columns, dim=-1).to(values.dtype)


def by_name(parameters: tuple[StepParameter, ...], values: torch.Tensor) -> dict[str, torch.Tensor]:
    """Values (..., P) -> ``{name: values[..., i]}``: what processes read and ``info["parameters"]`` holds."""
    return {p.name: values[..., i] for i, p in enumerate(parameters)}


def action_scales(parameters: tuple[StepParameter, ...]) -> torch.Tensor:
    return torch.tensor([p.action_scale for p in parameters])


def parameters_from_actions(
    parameters: tuple[StepParameter, ...], baseline_pre: torch.Tensor, actions: torch.Tensor
) -> torch.Tensor:
    """Actions (B, P) in [-1, 1] around one step's baseline pre-activations (P,) -> values (B, P).

    The environment and :func:`adagen_env.processes.sampling.hand_designed_schedule` both call this, with
    the same shapes, so that the zero action reproduces the hand-designed schedule bit for bit.
    """
    return activate(parameters, baseline_pre + action_scales(parameters).to(actions) * actions)


_ACTIVATIONS = {"sigmoid": torch.sigmoid, "softplus": torch.nn.functional.softplus}
