"""Stable-Baselines3 on the native batched environment, without a per-sample Python env loop.

SB3 has no adapter for Gymnasium's vector API, and ``DummyVecEnv`` would step ``num_envs``
single envs one after another, each with its own generator forward pass. ``SB3VecEnv`` instead
makes one batched ``step`` per SB3 step and only translates the results to SB3's conventions.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn


class SB3VecEnv(VecEnv):
    """An SB3 ``VecEnv`` driving one Gymnasium ``VectorEnv`` (e.g. ``ScheduleVectorEnv``) directly.

    Requirements on ``venv``: its sub-envs end their episodes on the same step (``ScheduleVectorEnv``
    always does; otherwise ``step`` raises ``RuntimeError``), because the whole batch is reset at
    once; its autoreset mode is NEXT_STEP (the Gymnasium default) or DISABLED, because the adapter
    resets explicitly in the terminal step, as SB3 expects; observations are arrays or a flat dict
    of arrays.

    Behaves like ``DummyVecEnv`` over ``Monitor``-wrapped envs: a terminal step returns the next
    episode's first observation with ``dones`` True and, per sub-env, ``terminal_observation``,
    ``TimeLimit.truncated`` and Monitor's ``episode`` statistics (``t`` counts seconds since this
    adapter was created). So do not add ``VecMonitor`` (it would overwrite the same statistics).

    The sub-envs share one env, so seeds and options are per batch: ``reset`` uses the seed of
    sub-env 0 (``seed(s)`` seeds the batch with ``s``) and requires one options dict for all
    sub-envs. ``get_attr`` and ``env_method`` act on the shared env once and repeat the result per
    index; ``set_attr`` must address all sub-envs.
    """

    def __init__(self, venv: VectorEnv):
        mode = AutoresetMode(venv.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP))
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.DISABLED):
            raise ValueError(f"SB3VecEnv needs NEXT_STEP or DISABLED autoreset, not {mode}")
        self.venv = venv  # before super().__init__, which reads render_mode through get_attr
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: np.ndarray | None = None
        self._returns = np.zeros(self.num_envs, dtype=np.float64)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)
        self._t_start = time.time()

    def reset(self) -> VecEnvObs:
        """Reset the whole batch, consuming the seed and options set since the last reset."""
        if any(options != self._options[0] for options in self._options):
            raise ValueError("the sub-envs share one env: set_options needs one dict for all of them")
        obs = self._reset(seed=self._seeds[0], options=self._options[0])
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, terminated, truncated, info = self.venv.step(self._actions)
        rewards = np.asarray(rewards, dtype=np.float32)
        terminated, truncated = np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool)
        dones = terminated | truncated
        self._returns += rewards
        self._lengths += 1
        infos = _split_info(info, self.num_envs)
        if dones.any():
            if not dones.all():
                raise RuntimeError("SB3VecEnv resets the whole batch, so all sub-envs must end their episodes together")
            elapsed = round(time.time() - self._t_start, 6)
            for i, info_i in enumerate(infos):
                info_i["terminal_observation"] = _index(obs, i)
                info_i["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
                info_i["episode"] = {"r": round(float(self._returns[i]), 6), "l": int(self._lengths[i]), "t": elapsed}
            obs = self._reset(seed=None, options={})
        return obs, rewards, dones, infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The shared env's attribute (searched through Gymnasium vector wrappers), once per index."""
        value = _wrapper_attr(self.venv, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of the shared env; a subset of sub-envs cannot be addressed alone."""
        if sorted(self._get_indices(indices)) != list(range(self.num_envs)):
            raise ValueError("the sub-envs share one env: set_attr must address all of them (indices=None)")
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        """Call the shared env's method once, whatever the indices, and repeat its result per index."""
        result = _wrapper_attr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """True for ``Monitor`` (and its bases): the episode statistics are Monitor's.

        This makes ``evaluate_policy`` trust ``info["episode"]`` and ``VecMonitor`` warn about double counting.
        """
        return [issubclass(Monitor, wrapper_class) for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        """One frame per sub-env, from a single batched render."""
        if self.render_mode != "rgb_array":
            warnings.warn(f"The render mode is {self.render_mode}, but get_images needs 'rgb_array'.", stacklevel=2)
            return [None for _ in range(self.num_envs)]
        return list(self.venv.render())

    def _reset(self, seed: int | None, options: dict[str, Any]) -> VecEnvObs:
        obs, info = self.venv.reset(seed=seed, options=options)
        self.reset_infos = _split_info(info, self.num_envs)
        self._returns[:] = 0.0
        self._lengths[:] = 0
        return obs


def _split_info(info: dict[str, Any], num_envs: int) -> list[dict[str, Any]]:
    """Gymnasium's vector info (batched values, ``_key`` masks) -> SB3's one dict per sub-env."""
    infos: list[dict[str, Any]] = [{} for _ in range(num_envs)]
    for key, value in info.items():
        if key.startswith("_") and key[1:] in info:
            continue
        parts = _split_info(value, num_envs) if isinstance(value, dict) else value
        for i in np.flatnonzero(info.get(f"_{key}", np.ones(num_envs, dtype=bool))):
            infos[i][key] = parts[i]
    return infos


def _index(obs: VecEnvObs, i: int) -> VecEnvObs:
    """A copy of sub-env ``i``'s observation from a batched one (the env may reuse its buffers)."""
    if isinstance(obs, dict):
        return {key: np.copy(value[i]) for key, value in obs.items()}
    return np.copy(obs[i])


def _wrapper_attr(venv: VectorEnv, name: str) -> Any:
    """``name`` from the outermost Gymnasium vector wrapper that has it (they do not forward attributes)."""
    while not hasattr(venv, name) and isinstance(venv, VectorWrapper):
        venv = venv.env
    return getattr(venv, name)
