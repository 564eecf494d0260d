"""The episode logic shared by the native vector env and the single env, in torch, batched.

One episode = one generation run of a batch; one decision per generation step; the reward is
given once, at the last step, by a scorer of the finished images.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from adagen_env.processes import make_process
from adagen_env.processes.base import Process
from adagen_env.rewards import Scorer, make_scorer
from adagen_env.schedules import inverse_activate, parameters_from_actions


class ScheduleCore:
    """Runs ``num_envs`` samples of one process in lock-step; all episodes have ``num_steps`` steps."""

    def __init__(
        self,
        process: str | Process,
        num_envs: int,
        num_steps: int | None,
        reward: str | Scorer,
        device: str | torch.device,
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        self.process = make_process(process, device) if isinstance(process, str) else process
        num_steps = self.process.default_num_steps if num_steps is None else num_steps
        if num_steps < 1:
            raise ValueError(f"num_steps must be at least 1, got {num_steps}")
        self.process.check_num_steps(num_steps)
        self.scorer = make_scorer(reward, self.process.device)
        min_batch_size = getattr(self.scorer, "min_batch_size", 1)
        if num_envs < min_batch_size:
            raise ValueError(
                f"this reward scores whole batches of at least {min_batch_size} samples; "
                f"use the vector env with num_envs >= {min_batch_size}"
            )
        self.num_envs, self.num_steps = num_envs, num_steps
        self.num_parameters = len(self.process.parameters)
        self.baseline_pre = inverse_activate(self.process.parameters, self.process.baseline(num_steps))
        self.generator = torch.Generator(self.process.device)
        self.seeded = False
        self.t = 0
        self.state = None
        self.labels = None

    def observation_space(self) -> gym.spaces.Dict:
        """The observation of one sample."""
        return gym.spaces.Dict(
            {
                "progress": gym.spaces.Box(0.0, 1.0, (1,), np.float32),
                "label": gym.spaces.Discrete(self.process.num_classes),
                **self.process.observation_spaces(),
            }
        )

    def action_space(self) -> gym.spaces.Box:
        """The action of one sample: one entry per step parameter, a residual around the baseline."""
        return gym.spaces.Box(-1.0, 1.0, (self.num_parameters,), np.float32)

    def reset(self, labels: torch.Tensor, seed: int | None, np_random: np.random.Generator) -> dict[str, torch.Tensor]:
        """Start a new batch; ``seed`` restarts the generator's noise, else it goes on (or is drawn once)."""
        if seed is not None:
            self.generator.manual_seed(seed)
        elif not self.seeded:
            self.generator.manual_seed(int(np_random.integers(2**62)))
        self.seeded = True
        self.labels = labels.to(self.process.device)
        self.state = self.process.reset(self.labels, self.generator)
        self.t = 0
        return self.observation()

    def draw_labels(self, np_random: np.random.Generator) -> torch.Tensor:
        return torch.from_numpy(np_random.integers(self.process.num_classes, size=self.num_envs))

    def check_labels(self, labels) -> torch.Tensor:
        array = np.asarray(labels)
        if array.shape != (self.num_envs,) or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"labels must be {self.num_envs} integer class indices, got {labels!r}")
        if array.min() < 0 or array.max() >= self.process.num_classes:
            raise ValueError(f"labels must lie in 0..{self.process.num_classes - 1}, got {array.tolist()}")
        return torch.as_tensor(array, dtype=torch.long)

    def step(self, actions: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, bool, torch.Tensor]:
        """Apply actions (num_envs, P): -> observation, reward (num_envs,), terminated, parameter values."""
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        if self.t >= self.num_steps:
            raise RuntimeError("the episode has ended; call reset()")
        actions = self.check_actions(actions)
        values = parameters_from_actions(self.process.parameters, self.baseline_pre[self.t], actions)
        self.state = self.process.step(self.state, values, self.num_steps, self.generator)
        self.t += 1
        terminated = self.t == self.num_steps
        if terminated:
            reward = self.scorer(self.process.decode(self.state), self.labels).float()
        else:
            reward = torch.zeros(self.num_envs, device=self.process.device)
        return self.observation(), reward, terminated, values

    def check_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Shape and finiteness are errors; values outside [-1, 1] are clipped (before any cast)."""
        actions = torch.as_tensor(actions)
        if actions.shape != (self.num_envs, self.num_parameters):
            raise ValueError(
                f"expected actions of shape ({self.num_envs}, {self.num_parameters}), got {tuple(actions.shape)}"
            )
        if not torch.isfinite(actions).all():
            raise ValueError("actions must be finite (got NaN or infinity)")
        return actions.clamp(-1.0, 1.0).to(torch.float32)

    def observation(self) -> dict[str, torch.Tensor]:
        return {
            "progress": torch.full((self.num_envs, 1), self.t / self.num_steps, device=self.process.device),
            "features": self.process.features(self.state),
            "label": self.labels,
            **self.process.observation(self.state),
        }

    def render(self, scale: int) -> np.ndarray:
        """The partial images (num_envs, H*scale, W*scale, 3) uint8, masked positions visible."""
        if self.state is None:
            raise RuntimeError("call reset() before render()")
        frames = self.process.preview(self.state).cpu().numpy()
        return frames.repeat(scale, axis=1).repeat(scale, axis=2)


def to_numpy(observation: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: v.cpu().numpy() for k, v in observation.items()}
