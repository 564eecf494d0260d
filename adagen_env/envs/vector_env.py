"""The native batched environment: one generator forward pass steps every sample in flight."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from adagen_env.envs.core import ScheduleCore, to_numpy
from adagen_env.processes.base import Process
from adagen_env.rewards import Scorer


class ScheduleVectorEnv(VectorEnv):
    """``num_envs`` samples generated together; each picks its own step parameters.

    All episodes last ``num_steps`` steps, so they end together. Autoreset follows Gymnasium's
    default (next step): the ``step`` after the last one starts a new batch, ignores its
    actions, and returns reward 0. ``reset(options={"labels": [...]})`` fixes the classes,
    otherwise they are drawn uniformly through ``np_random``.
    """

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 64,
        process: str | Process = "maskgit-digits",
        num_steps: int | None = None,
        reward: str | Scorer = "adversarial",
        device: str | torch.device = "cpu",
        render_mode: str | None = None,
        render_scale: int = 16,
    ):
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or 'rgb_array', not {render_mode!r}")
        self.core = ScheduleCore(process, num_envs, num_steps, reward, device)
        self.num_envs = num_envs
        self.render_mode, self.render_scale = render_mode, render_scale
        self.single_observation_space = self.core.observation_space()
        self.single_action_space = self.core.action_space()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._autoreset = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self.single_action_space.seed(seed)
            self.action_space.seed(seed)
        options = options or {}
        unknown = set(options) - {"labels"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; the only option is 'labels'")
        labels = self.core.check_labels(options["labels"]) if "labels" in options else self.core.draw_labels(self.np_random)
        self._autoreset = False
        return to_numpy(self.core.reset(labels, seed, self.np_random)), {}

    def step(self, actions: np.ndarray):
        if self._autoreset:
            self.core.check_actions(actions)
            obs, info = self.reset()
            zeros = np.zeros(self.num_envs, dtype=bool)
            return obs, np.zeros(self.num_envs, dtype=np.float32), zeros, zeros, info
        obs, reward, terminated, values = self.core.step(actions)
        self._autoreset = terminated
        info = {"parameters": values.cpu().numpy(), "_parameters": np.ones(self.num_envs, dtype=bool)}
        return (
            to_numpy(obs),
            reward.cpu().numpy(),
            np.full(self.num_envs, terminated),
            np.zeros(self.num_envs, dtype=bool),
            info,
        )

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode is None:
            return None
        return tuple(self.core.render(self.render_scale))
