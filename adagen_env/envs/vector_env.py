"""The native batched environment: one generator forward pass steps every sample in flight."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from adagen_env.envs.core import (
    MAX_SEED,
    ScheduleCore,
    check_seed,
    core_np_random,
    flatten,
    observation_space,
    to_numpy,
)
from adagen_env.envs.spec import EpisodeSpec, check_int
from adagen_env.processes.base import Process


class ScheduleVectorEnv(VectorEnv):
    """``num_envs`` samples generated together; each picks its own step parameters.

    ### Action
    ``Box(-1, 1, (num_envs, P))``: per sample, one entry per step parameter of the process (for
    MaskGIT ``mask_ratio``, ``remask_temperature``, ``temperature``, ``guidance``). Parameter value
    = activation(inverse activation(hand-designed value) + scale x action), so the zero action is
    the hand-designed schedule bit for bit. Values outside [-1, 1] are clipped; a wrong shape or
    a NaN / infinite action raises ``ValueError``. ``info["parameters"]`` holds the values applied,
    by name.

    ### Observation
    ``observation_mode="dict"`` (default): a ``Dict`` with ``progress`` (steps taken /
    ``num_steps``), ``label`` (``Discrete``), ``features`` (the generator's hidden state for the
    current partial result) and the process's own entries. ``"flat"``: the same as one ``Box``
    (Gymnasium's flatten order, the label one-hot; :func:`adagen_env.envs.flat_layout` says where
    each entry sits), for clients that need a flat vector.

    ### Reward
    Terminal only: 0 until the last step, then the scorer's reward of each finished image
    (``reward``: ``"adversarial"``, ``"adversarial-projected"``, ``"classifier"``, ``"batch-fd"`` or a scorer object,
    which
    may be shared by several envs).

    ### Episode end
    After ``num_steps`` steps every episode terminates together (never truncated). Autoreset
    follows Gymnasium's default (next step): the ``step`` after the last one starts a new batch,
    ignores its actions, and returns reward 0. ``autoreset_mode="disabled"`` instead asks for an
    explicit ``reset()`` after the last step (what TorchRL's ``GymWrapper`` needs); a ``step``
    without it raises ``RuntimeError``. Its ``reset`` takes Gymnasium's ``options={"reset_mask":
    ...}`` when the mask selects every sub-env (the batch resets as a whole).

    ### Arguments
    ``num_envs``, ``process`` (a registered name or a process object), ``spec`` (an
    :class:`~adagen_env.envs.spec.EpisodeSpec`), ``device``, ``render_mode`` (``"rgb_array"``),
    ``render_scale`` (pixels per image pixel), ``autoreset_mode`` (``"next_step"`` or ``"disabled"``),
    and any knob of the spec as a keyword (``num_steps``, ``reward``, ``smoothing``, ``tradeoff``,
    ``baseline``, ``refine``, ``autocast``, ``observation_mode``), which replaces the spec's value:
    ``gym.make_vec(id, num_envs=64, num_steps=4, smoothing=0.8)``. Where each knob acts:
    :class:`~adagen_env.envs.core.ScheduleCore`. ``self.spec`` is the resolved spec.

    ### Reset and seeding
    ``reset(seed=s)`` seeds the label draws and the generator's noise; a list of one int per
    sub-env (as ``SyncVectorEnv`` takes) seeds the batch as a whole, since the batch shares one
    noise stream. ``reset(options={"labels": [...]})`` fixes the classes; otherwise they are
    drawn through ``np_random``.
    """

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 64,
        process: str | Process = "maskgit-digits",
        spec: EpisodeSpec | None = None,
        device: str | torch.device = "cpu",
        render_mode: str | None = None,
        render_scale: int = 16,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        **knobs: Any,
    ):
        spec = EpisodeSpec.build(spec, **knobs)
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or 'rgb_array', not {render_mode!r}")
        modes = {"next_step": AutoresetMode.NEXT_STEP, "disabled": AutoresetMode.DISABLED}
        mode = modes.get(autoreset_mode) if isinstance(autoreset_mode, str) else autoreset_mode
        if mode not in modes.values():
            raise ValueError(f"autoreset_mode must be 'next_step' or 'disabled', not {autoreset_mode!r}")
        self.autoreset_mode = mode  # per instance, where Gymnasium's own vector envs keep it too
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        self.render_scale = check_int("render_scale", render_scale, 1)
        self.core = ScheduleCore(process, num_envs, spec, device)
        self.num_envs = self.core.num_envs
        self.render_mode = render_mode
        self.dict_observation_space = self.core.observation_space()
        self.single_observation_space = observation_space(self.dict_observation_space, self.episode.observation_mode)
        self.single_action_space = self.core.action_space()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._autoreset = False

    @property
    def episode(self) -> EpisodeSpec:
        """The resolved episode spec this env runs (``env.spec`` is Gymnasium's ``EnvSpec``)."""
        return self.core.spec

    np_random = core_np_random

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray] | np.ndarray, dict[str, Any]]:
        seed = self._batch_seed(seed)
        super().reset(seed=seed)
        if seed is not None:
            self.single_action_space.seed(seed)
            self.action_space.seed(seed)
        options = options or {}
        unknown = set(options) - {"labels", "reset_mask"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; the options are 'labels' and 'reset_mask'")
        # Gymnasium's partial reset (autoreset disabled); one generator pass serves the batch, so all or nothing
        if "reset_mask" in options and not np.all(options["reset_mask"]):
            raise ValueError("reset_mask must select every sub-env: the batch is generated, and reset, as a whole")
        self._autoreset = False
        return self._numpy(self.core.reset(options.get("labels"), seed)), {}

    def _batch_seed(self, seed: int | list[int] | None) -> int | None:
        """One seed for the batch: an int as it is, a list of one int per sub-env mixed into one."""
        if seed is None or (isinstance(seed, int | np.integer) and not isinstance(seed, bool)):
            return check_seed(seed)
        if isinstance(seed, list | tuple) and len(seed) == self.num_envs:
            if all(s is None for s in seed):
                return None
            if all(isinstance(s, int | np.integer) and not isinstance(s, bool) and 0 <= s <= MAX_SEED for s in seed):
                return int(np.random.SeedSequence([int(s) for s in seed]).generate_state(1, np.uint64)[0] >> 2)
        raise ValueError(
            f"seed must be None, a non-negative int, or a list of {self.num_envs} non-negative ints "
            f"(one per sub-env), got {seed!r}"
        )

    def step(self, actions: np.ndarray):
        if self._autoreset:
            if self.autoreset_mode == AutoresetMode.DISABLED:
                raise RuntimeError("the episodes have ended: call reset() first (autoreset_mode='disabled')")
            self.core.check_actions(actions)
            obs, info = self.reset()
            zeros = np.zeros(self.num_envs, dtype=bool)
            return obs, np.zeros(self.num_envs, dtype=np.float32), zeros, zeros, info
        obs, reward, terminated, parameters = self.core.step(actions)
        self._autoreset = terminated
        every = np.ones(self.num_envs, dtype=bool)
        values = {name: value.cpu().numpy() for name, value in parameters.items()}
        info = {"parameters": {**values, **{f"_{name}": every for name in values}}, "_parameters": every}
        return (
            self._numpy(obs),
            reward.cpu().numpy(),
            np.full(self.num_envs, terminated),
            np.zeros(self.num_envs, dtype=bool),
            info,
        )

    def _numpy(self, observation: dict[str, torch.Tensor]) -> dict[str, np.ndarray] | np.ndarray:
        if self.episode.observation_mode == "flat":
            return flatten(self.dict_observation_space, observation).cpu().numpy()
        return to_numpy(observation)

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode is None:
            return None
        return tuple(self.core.render(self.render_scale))
