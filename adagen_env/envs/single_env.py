"""The single-sample environment: the same core as the vector env, with a batch of one."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from adagen_env.envs.core import ScheduleCore, check_seed, core_np_random, flatten, observation_space, to_numpy
from adagen_env.envs.spec import EpisodeSpec, check_int
from adagen_env.processes.base import Process


class ScheduleEnv(gym.Env):
    """One sample's generation run: one decision per generation step, a terminal reward.

    ### Action
    ``Box(-1, 1, (P,))``, one entry per step parameter of the process (MaskGIT: ``mask_ratio``,
    ``remask_temperature``, ``temperature``, ``guidance``; diffusion and flow: ``time_step``,
    ``guidance``; VAR: ``guidance``, ``top_k``, ``top_p``, ``temperature``), a residual around the
    hand-designed schedule in pre-activation space: the zero action is the hand-designed schedule.
    Values outside [-1, 1] are clipped; a wrong shape or a non-finite value raises ``ValueError``.

    ### Observation
    A ``Dict``: ``progress`` (steps taken / ``num_steps``), ``label`` (``Discrete``), ``features``
    (the generator's hidden state for the current partial result) and the process's own entries
    (MaskGIT: ``tokens``, ``mask``; diffusion and flow: ``time``, ``denoised``; VAR: ``image``).
    ``observation_mode="flat"`` gives the same as one float32 ``Box`` (layout:
    :func:`adagen_env.envs.flat_layout`).

    ### Reward
    0 until the last step, then the scorer's reward of the finished image (``reward``:
    ``"adversarial"``, ``"adversarial-projected"``, ``"classifier"``, or a scorer object, which may be shared by
    many envs).

    ### Episode end
    Terminates after ``num_steps`` steps; never truncated. Stepping after the end raises
    ``RuntimeError`` until ``reset``.

    ### Arguments
    ``process`` (a registered name or a process object), ``spec`` (an
    :class:`~adagen_env.envs.spec.EpisodeSpec`), ``device``, ``render_mode`` (``"rgb_array"``),
    ``render_scale``, and any knob of the spec as a keyword (``num_steps``, ``reward``,
    ``smoothing``, ``tradeoff``, ``baseline``, ``refine``, ``autocast``, ``observation_mode``), as for
    the vector env. ``env.unwrapped.episode`` is the resolved spec (``env.spec`` is Gymnasium's).
    ``reset(options={"label": 3})`` fixes the class, otherwise it is drawn
    through ``np_random``; ``reset(seed=s)`` seeds the label draw and the generator's noise.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        process: str | Process = "maskgit-digits",
        spec: EpisodeSpec | None = None,
        device: str | torch.device = "cpu",
        render_mode: str | None = None,
        render_scale: int = 16,
        **knobs: Any,
    ):
        spec = EpisodeSpec.build(spec, **knobs)
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or 'rgb_array', not {render_mode!r}")
        self.render_scale = check_int("render_scale", render_scale, 1)
        self.core = ScheduleCore(process, 1, spec, device)
        self.render_mode = render_mode
        self.dict_observation_space = self.core.observation_space()
        self.observation_space = observation_space(self.dict_observation_space, self.episode.observation_mode)
        self.action_space = self.core.action_space()

    @property
    def episode(self) -> EpisodeSpec:
        """The resolved episode spec this env runs (``env.spec`` is Gymnasium's ``EnvSpec``)."""
        return self.core.spec

    np_random = core_np_random

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any] | np.ndarray, dict[str, Any]]:
        seed = check_seed(seed)  # before Gymnasium's own check, which raises its own error type
        super().reset(seed=seed)
        if seed is not None:
            self.action_space.seed(seed)
        options = options or {}
        unknown = set(options) - {"label"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; the only option is 'label'")
        labels = [options["label"]] if "label" in options else None
        return self._unbatch(self.core.reset(labels, seed)), {}

    def step(self, action: np.ndarray):
        action = np.asarray(action)
        if action.shape != self.action_space.shape:
            raise ValueError(f"expected an action of shape {self.action_space.shape}, got {action.shape}")
        obs, reward, terminated, parameters = self.core.step(action[None])
        info = {"parameters": {name: float(value[0]) for name, value in parameters.items()}}
        return self._unbatch(obs), float(reward[0]), terminated, False, info

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        return self.core.render(self.render_scale)[0]

    def _unbatch(self, observation: dict[str, torch.Tensor]) -> dict[str, Any] | np.ndarray:
        if self.episode.observation_mode == "flat":
            return flatten(self.dict_observation_space, observation)[0].cpu().numpy()
        obs = {k: v[0] for k, v in to_numpy(observation).items()}
        obs["label"] = int(obs["label"])
        return obs
