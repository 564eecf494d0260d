"""What a generation process must provide for the environments, rewards and samplers.

A process is one paradigm's frozen generator plus its solver, batched in torch. It holds no
episode state of its own: ``reset`` returns a state, ``step`` returns the next one, so the
plain sampler and the environments run exactly the same code. Only ``reset`` and ``step`` call
the model; ``features``, ``observation``, ``decode`` and ``preview`` read the state.
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from adagen_env.processes.schedules import StepParameter


class Process(Protocol):
    parameters: tuple[StepParameter, ...]  # the per-step parameters an action sets, in action order
    feature_dim: int  # size of the hidden-state summary in the observation
    num_classes: int
    image_shape: tuple[int, int]  # (H, W) of the decoded images
    image_channels: int  # C of the decoded images: 1 grey, 3 RGB
    default_num_steps: int  # decisions per episode when the user names none
    device: torch.device
    named_schedules: dict[str, dict[str, Any]]  # keyword arguments of static_schedule, by name

    def check_num_steps(self, num_steps: int) -> None:
        """Raise ``ValueError`` if the process cannot run ``num_steps`` decisions."""

    def nfe(self, num_steps: int) -> int:
        """Model evaluations (a guided evaluation counts once) that ``num_steps`` decisions take."""

    def static_schedule(self, num_steps: int, **kwargs: Any) -> torch.Tensor:
        """A member of the process's family of static schedules: parameter values (num_steps, P)."""

    def baseline(self, num_steps: int) -> torch.Tensor:
        """The hand-designed schedule: parameter values (num_steps, P)."""

    def reset(self, labels: torch.Tensor, generator: torch.Generator) -> Any:
        """A fresh batch state for the given class labels (B,)."""

    def step(self, state: Any, values: dict[str, torch.Tensor], num_steps: int, generator: torch.Generator) -> Any:
        """Advance every sample by one step with its own parameter values, by name, (B,) each."""

    def features(self, state: Any) -> torch.Tensor:
        """A fixed-size summary (B, feature_dim) of the generator's hidden state for the current result."""

    def observation_spaces(self) -> dict[str, gym.spaces.Box]:
        """Spaces of one sample's ``features`` and of the process-specific observation entries."""

    def observation(self, state: Any) -> dict[str, torch.Tensor]:
        """The process-specific observation entries, batched."""

    def decode(self, state: Any) -> torch.Tensor:
        """Finished images (B, image_channels, H, W) in [0, 1]."""

    def preview(self, state: Any) -> torch.Tensor:
        """The current partial images as RGB (B, H, W, 3) uint8, for rendering."""


class ForwardOnDemand:
    """For processes whose state carries the conditional pass over its current content (``hidden`` and the
    output beside it, set by ``_with_forward``): ``step`` leaves that pass out after the last step, where
    no decision needs it and sampling never reads it, and an observation of the finished state runs it
    here. What the state shows is the same either way; sampling saves one pass per sample."""

    def _forwarded(self, state: Any) -> Any:
        return state if state.hidden is not None else self._with_forward(state)


def to_rgb(images: torch.Tensor) -> torch.Tensor:
    """Grey (B, 1, H, W) or colour (B, 3+, H, W) images in [0, 1] -> RGB (B, H, W, 3) uint8, as ``preview`` returns."""
    pixels = (images.clamp(0, 1) * 255).round().to(torch.uint8)
    if pixels.shape[1] == 1:
        return pixels[:, 0, :, :, None].expand(-1, -1, -1, 3).clone()
    return pixels[:, :3].permute(0, 2, 3, 1).contiguous()


def layer_norm_bound(norm: nn.LayerNorm) -> np.ndarray:
    """An exact bound on a LayerNorm's outputs: a normalised vector of width D has entries within sqrt(D - 1)."""
    width = norm.normalized_shape[0]
    return (np.sqrt(width - 1) * norm.weight.abs() + norm.bias.abs() + 1e-3).detach().cpu().numpy()


def gumbel(shape: torch.Size | tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Standard Gumbel noise from ``generator``: argmax(log-probs + noise) samples the distribution."""
    u = torch.rand(shape, generator=generator, device=device)
    return -torch.log((-torch.log(u.clamp(1e-20, 1.0))).clamp(min=1e-20))
