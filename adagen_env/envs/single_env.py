"""The single-sample environment: the same core as the vector env, with a batch of one."""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from adagen_env.envs.core import ScheduleCore, to_numpy
from adagen_env.processes.base import Process
from adagen_env.rewards import Scorer


class ScheduleEnv(gym.Env):
    """One sample's generation run; one decision per step; terminal reward from a scorer.

    ``reset(options={"label": 3})`` fixes the class, otherwise it is drawn through ``np_random``.
    Actions outside [-1, 1] are clipped; wrong shapes and non-finite values raise ``ValueError``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        process: str | Process = "maskgit-digits",
        num_steps: int | None = None,
        reward: str | Scorer = "adversarial",
        device: str | torch.device = "cpu",
        render_mode: str | None = None,
        render_scale: int = 16,
    ):
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or 'rgb_array', not {render_mode!r}")
        self.core = ScheduleCore(process, 1, num_steps, reward, device)
        self.render_mode, self.render_scale = render_mode, render_scale
        self.observation_space = self.core.observation_space()
        self.action_space = self.core.action_space()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self.action_space.seed(seed)
        options = options or {}
        unknown = set(options) - {"label"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; the only option is 'label'")
        labels = self.core.check_labels([options["label"]]) if "label" in options else self.core.draw_labels(self.np_random)
        return self._unbatch(self.core.reset(labels, seed, self.np_random)), {}

    def step(self, action: np.ndarray):
        action = np.asarray(action)
        if action.shape != self.action_space.shape:
            raise ValueError(f"expected an action of shape {self.action_space.shape}, got {action.shape}")
        obs, reward, terminated, values = self.core.step(action[None])
        return self._unbatch(obs), float(reward[0]), terminated, False, {"parameters": values[0].cpu().numpy()}

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        return self.core.render(self.render_scale)[0]

    @staticmethod
    def _unbatch(observation: dict[str, torch.Tensor]) -> dict[str, Any]:
        obs = {k: v[0] for k, v in to_numpy(observation).items()}
        obs["label"] = int(obs["label"])
        return obs
