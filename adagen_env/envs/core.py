"""The batched torch core under both environments, and the public API for agents that skip numpy.

One episode = one generation run of a batch; one decision per generation step; the reward is
given once, at the last step, by a scorer of the finished images. Our PPO and the evaluation
drive this core directly (``reset``, ``step``, ``state_dict``); the Gymnasium envs only convert
its torch observations to numpy.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from adagen_env.envs.spec import EpisodeSpec, check_int
from adagen_env.paradigms import get_paradigm, make_process
from adagen_env.processes.autocast import with_autocast
from adagen_env.processes.base import Process
from adagen_env.processes.schedules import by_name, inverse_activate, parameters_from_actions
from adagen_env.rewards import Scorer, make_scorer
from adagen_env.rewards.latent import check_latents_fit, state_latents
from adagen_env.runtime.memory import check_fits, tensor_bytes

MAX_SEED = 2**63 - 1  # what every random generator here takes
MEMORY_PROBE_FROM = 1024  # batches from this size are checked against the memory available before they start
# peak memory per sample over the state it keeps (measured over a reset and 2 steps: VAR 3-6x, MaskGIT 11x,
# diffusion 13x)
ACTIVATIONS = 12


class ScheduleCore:
    """Runs ``num_envs`` samples of one process in lock-step; all episodes have ``spec.num_steps`` steps.

    Arguments: ``process`` (a registered name or env id, or a process object), ``num_envs``,
    ``spec`` (an :class:`~adagen_env.envs.spec.EpisodeSpec`: steps, reward, smoothing, trade-off,
    baseline, refinement, autocast; default ``EpisodeSpec()``), ``device`` (for a process given by
    name), ``generator`` (a ``torch.Generator`` on the process's device to draw the noise with, as a
    diffusers pipeline's ``generator=``: the same generator state gives the pipeline's noise;
    default: the core's own). The spec is resolved against the process (``self.spec``: plain
    values) and checked before any weights load where it can be. ``reward=None`` gives every
    reward 0 (sampling).

    ``reset(labels=None, seed=None)`` starts a batch: labels default to draws from
    ``np_random``; a seed restarts both ``np_random`` and the generator's noise, otherwise both go
    on. A reward with ``draw_starts`` (the trajectory reward) supplies each episode's initial noise
    instead: a start of its pool for each label, drawn through ``np_random``. ``step(actions)``
    applies actions (num_envs, P) in [-1, 1] and returns the observation, the reward (num_envs,),
    whether the episode ended, and the parameter values applied, by name.
    ``state_dict`` / ``load_state_dict`` carry the random state and the scorer's, for checkpoints.

    Where each knob acts (all here):

    - ``smoothing``: the step's residual in pre-activation space is an exponential moving average
      of the actions so far, ``s_t = smoothing * s_(t-1) + (1 - smoothing) * a_t`` (``s_0 = a_0``);
      zero actions keep ``s`` at zero, so they still give the baseline schedule bit for bit. The
      observation then holds ``smoothed_action`` (``s_(t-1)``, zeros at the first step): the MDP stays Markov.
    - ``tradeoff``: the episode is conditioned on a fidelity-diversity value ``l`` in [0, 1], shown in
      the observation (``tradeoff``, shape (1,)): ``"random"`` draws one per sample at every reset
      through ``np_random``, a number fixes it. With a reward, the terminal reward becomes
      ``(1 - l) * reward + l * fidelity``, fidelity being the projection network's probability of the
      asked class (``reward="fidelity"``: none of the metric's networks).
    - ``baseline``: the schedule the zero action gives; actions are residuals around it.
    - ``refine``: after the last step the finished batch is refined (``process.refine``) with the
      episode's own noise generator, before it is scored; ``images()`` returns the refined batch.
    - ``autocast``: the generator's model calls run under bf16 autocast
      (:mod:`adagen_env.processes.autocast`); observations, images and rewards stay float32.

    A scorer that declares ``scores = "latents"`` (the latent discriminator,
    :mod:`adagen_env.rewards.latent`) gets the process's final latents instead of decoded images;
    the batch is then decoded only for what needs images (the trade-off's fidelity).
    """

    def __init__(
        self,
        process: str | Process,
        num_envs: int,
        spec: EpisodeSpec | None = None,
        device: str | torch.device = "cpu",
        generator: torch.Generator | None = None,
    ):
        num_envs = check_int("num_envs", num_envs, 1)
        spec = EpisodeSpec.build(spec)
        # the registered paradigm of a process given by name (None for a process object of your own)
        self.paradigm = paradigm = get_paradigm(process) if isinstance(process, str) else None
        if isinstance(process, str):
            self.process = make_process(process, device, spec.autocast)  # checks the device
        else:
            self.process = with_autocast(process, spec.autocast)
        self.spec = spec = spec.resolve(self.process, paradigm)
        self.scorer = None if spec.reward is None else make_scorer(spec.reward, self.process.device)
        min_batch_size = getattr(self.scorer, "min_batch_size", 1)
        if num_envs < min_batch_size:
            raise ValueError(
                f"this reward scores whole batches of at least {min_batch_size} samples; "
                f"use the vector env with num_envs >= {min_batch_size}"
            )
        # the trade-off's fidelity half, mixed into the reward (none without a reward: nothing to mix)
        self.fidelity = (
            None if spec.tradeoff is None or self.scorer is None else make_scorer("fidelity", self.process.device)
        )
        for scorer, what in (
            (self.scorer, "give the scorer real images of the process's size"),
            (self.fidelity, "the trade-off's fidelity reward knows the shipped 8x8 grey digits only"),
        ):
            check_scorer_fits(scorer, self.process, what)
        # a reward that fixes each episode's start (the trajectory reward's pool of noise with known
        # solutions) prepares for the process here, draws the starts at every reset and gets them back
        self.scores_latents = getattr(self.scorer, "scores", "images") == "latents"
        self.pooled = hasattr(self.scorer, "draw_starts")
        if self.pooled:
            self.scorer.prepare(self.process)
        self.starts: torch.Tensor | None = None  # the episode's pool entries, when pooled
        self.num_envs, self.num_steps = num_envs, spec.num_steps
        self.num_parameters = len(self.process.parameters)
        # parameter values are computed on the CPU, as the plain sampler computes them, so that the
        # zero action is the hand-designed schedule bit for bit on every device; processes move them
        baseline = spec.baseline_tensor()
        schedule = self.process.baseline(self.num_steps) if baseline is None else baseline
        self.baseline_pre = inverse_activate(self.process.parameters, schedule)
        if num_envs >= MEMORY_PROBE_FROM:
            check_fits(
                f"num_envs={num_envs}",
                num_envs * self.memory_per_sample(),
                "lower num_envs (the samples one generator pass takes)",
            )
        self.np_random = np.random.default_rng()
        if generator is not None and generator.device.type != torch.device(self.process.device).type:
            raise ValueError(f"generator is on {generator.device}, but the process runs on {self.process.device}")
        self.generator = torch.Generator(self.process.device) if generator is None else generator
        self.seeded = generator is not None  # a generator given is used as it is, not seeded at reset
        self.t = 0
        self.state = None
        self.labels = None
        self.smoothed: torch.Tensor | None = None  # s_(t-1), when smoothing
        self.tradeoffs: torch.Tensor | None = None  # the episode's trade-off value per sample, when conditioned

    def memory_per_sample(self) -> int:
        """About the bytes a sample takes while the batch runs: ``ACTIVATIONS`` times the largest state the
        process keeps per sample over an episode of two samples (the network's passes come on top of it)."""
        generator = torch.Generator(self.process.device).manual_seed(0)
        labels = torch.arange(2, device=self.process.device) % self.process.num_classes
        with torch.no_grad():
            state = self.process.reset(labels, generator)
            largest = tensor_bytes(state)
            for t in range(self.num_steps):
                values = parameters_from_actions(
                    self.process.parameters, self.baseline_pre[t], torch.zeros(2, self.num_parameters)
                )
                state = self.process.step(state, by_name(self.process.parameters, values), self.num_steps, generator)
                largest = max(largest, tensor_bytes(state))
        return ACTIVATIONS * largest // 2

    # ------------------------------------------------------------------ spaces

    def observation_space(self) -> gym.spaces.Dict:
        """The observation of one sample."""
        return gym.spaces.Dict(
            {
                "progress": gym.spaces.Box(0.0, 1.0, (1,), np.float32),
                **({"label": gym.spaces.Discrete(self.process.num_classes)} if self._observes_label else {}),
                **self.process.observation_spaces(),
                **({"smoothed_action": self.action_space()} if self.spec.smoothing else {}),
                **({"tradeoff": gym.spaces.Box(0.0, 1.0, (1,), np.float32)} if self.spec.tradeoff is not None else {}),
            }
        )

    def action_space(self) -> gym.spaces.Box:
        """The action of one sample: one entry per step parameter, a residual around the baseline."""
        return gym.spaces.Box(-1.0, 1.0, (self.num_parameters,), np.float32)

    # ------------------------------------------------------------------ episode

    def reset(self, labels: Any = None, seed: int | None = None) -> dict[str, torch.Tensor]:
        """Start a new batch (see the class doc); returns the first observation."""
        seed = check_seed(seed)
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
            self.generator.manual_seed(seed)
        labels = self.draw_labels() if labels is None else self.check_labels(labels)
        if seed is None and not self.seeded:
            self.generator.manual_seed(int(self.np_random.integers(2**62)))
        self.seeded = True
        self.labels = labels.to(self.process.device)
        tradeoff = self.spec.tradeoff
        if tradeoff is not None:
            drawn = self.np_random.random(self.num_envs) if tradeoff == "random" else np.full(self.num_envs, tradeoff)
            self.tradeoffs = torch.as_tensor(drawn, dtype=torch.float32, device=self.process.device)
        if self.pooled:
            self.starts, noise = self.scorer.draw_starts(self.labels, self.np_random)
            self.state = self.process.reset(self.labels, self.generator, noise=noise)
        else:
            self.state = self.process.reset(self.labels, self.generator)
        self.t = 0
        self.smoothed = torch.zeros(self.num_envs, self.num_parameters)
        return self.observation()

    def draw_labels(self) -> torch.Tensor:
        return torch.from_numpy(self.np_random.integers(self.process.num_classes, size=self.num_envs))

    def check_labels(self, labels: Any) -> torch.Tensor:
        array = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        if array.shape != (self.num_envs,) or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"labels must be {self.num_envs} integer class indices, got {labels!r}")
        if array.min() < 0 or array.max() >= self.process.num_classes:
            raise ValueError(f"labels must lie in 0..{self.process.num_classes - 1}, got {array.tolist()}")
        return torch.as_tensor(array, dtype=torch.long)

    def step(self, actions: Any) -> tuple[dict[str, torch.Tensor], torch.Tensor, bool, dict[str, torch.Tensor]]:
        """Apply actions (num_envs, P): -> observation, reward (num_envs,), terminated, parameter values by name."""
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        if self.t >= self.num_steps:
            raise RuntimeError("the episode has ended; call reset()")
        actions = self.check_actions(actions)
        smoothing = self.spec.smoothing
        if smoothing:
            if self.t > 0:
                actions = smoothing * self.smoothed + (1 - smoothing) * actions
            self.smoothed = actions
        values = parameters_from_actions(self.process.parameters, self.baseline_pre[self.t], actions)
        parameters = by_name(self.process.parameters, values)
        self.state = self.process.step(self.state, parameters, self.num_steps, self.generator)
        self.t += 1
        terminated = self.t == self.num_steps
        if terminated and self.spec.refine is not None:
            self.state = self.process.refine(self.state, self.spec.refine, self.generator)
        if terminated and self.scorer is not None:
            # on the process's device whatever the scorer returns (a scorer of your own may answer on the CPU)
            # a latent scorer gets the latents, and nothing is decoded for it
            images = None if self.scores_latents else self.process.decode(self.state)
            scored = state_latents(self.process, self.state) if self.scores_latents else images
            starts = {"starts": self.starts} if self.pooled else {}
            reward = self.scorer(scored, self.labels, **starts).to(self.process.device, torch.float32)
            if self.fidelity is not None:
                images = self.process.decode(self.state) if images is None else images
                fidelity = self.fidelity(images, self.labels).to(self.process.device, torch.float32)
                reward = (1 - self.tradeoffs) * reward + self.tradeoffs * fidelity
        else:
            reward = torch.zeros(self.num_envs, device=self.process.device)
        return self.observation(), reward, terminated, parameters

    def check_actions(self, actions: Any) -> torch.Tensor:
        """Shape and finiteness are errors; values outside [-1, 1] are clipped (before any cast)."""
        actions = torch.as_tensor(actions)
        if actions.shape != (self.num_envs, self.num_parameters):
            raise ValueError(
                f"expected actions of shape ({self.num_envs}, {self.num_parameters}), got {tuple(actions.shape)}"
            )
        if not torch.isfinite(actions).all():
            raise ValueError("actions must be finite (got NaN or infinity)")
        return actions.clamp(-1.0, 1.0).to(device="cpu", dtype=torch.float32)

    @property
    def _observes_label(self) -> bool:
        """Whether the policy sees the label: not where labels are prompts (the process shows their embedding)."""
        return getattr(self.process, "observes_label", True)

    def observation(self) -> dict[str, torch.Tensor]:
        if self.state is None:
            raise RuntimeError("call reset() before observation()")
        return {
            "progress": torch.full((self.num_envs, 1), self.t / self.num_steps, device=self.process.device),
            "features": self.process.features(self.state),
            **({"label": self.labels} if self._observes_label else {}),
            **self.process.observation(self.state),
            **({"smoothed_action": self.smoothed.to(self.process.device)} if self.spec.smoothing else {}),
            **({"tradeoff": self.tradeoffs[:, None]} if self.spec.tradeoff is not None else {}),
        }

    def images(self) -> torch.Tensor:
        """The current batch decoded: (num_envs, C, H, W) in [0, 1]; finished (and refined) after the last step."""
        if self.state is None:
            raise RuntimeError("call reset() before images()")
        return self.process.decode(self.state)

    def render(self, scale: int) -> np.ndarray:
        """The partial images (num_envs, H*scale, W*scale, 3) uint8, masked positions visible."""
        if self.state is None:
            raise RuntimeError("call reset() before render()")
        frames = self.process.preview(self.state).cpu().numpy()
        return frames.repeat(scale, axis=1).repeat(scale, axis=2)

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """The random state (label draws, noise) and the scorer's; the episode in flight is not kept."""
        return {
            "np_random": self.np_random.bit_generator.state,
            "generator": self.generator.get_state(),
            "seeded": self.seeded,
            "scorer": self.scorer.state_dict() if hasattr(self.scorer, "state_dict") else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.np_random.bit_generator.state = state["np_random"]
        self.generator.set_state(state["generator"])
        self.seeded = state["seeded"]
        if state["scorer"] is not None:
            if not hasattr(self.scorer, "load_state_dict"):
                raise ValueError("the checkpoint holds a scorer's state, but this env's reward has none to load")
            self.scorer.load_state_dict(state["scorer"])


def check_seed(seed: Any) -> int | None:
    """``None``, or an integer in 0..2**63-1 (what every random generator here takes); ``ValueError`` otherwise."""
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed <= MAX_SEED
    ):
        raise ValueError(f"seed must be an integer in 0..2**63-1, got {seed!r}")
    return None if seed is None else int(seed)


def check_scorer_fits(scorer: Scorer | None, process: Process, hint: str) -> None:
    """A scorer that declares its image size must score the process's (C, H, W), one that scores latents
    the process's latents, and one that declares its classes must know the process's labels, every one
    of them; one line otherwise."""
    if getattr(scorer, "scores", "images") == "latents":
        check_latents_fit(scorer, process)
    makes = (process.image_channels, *process.image_shape)
    scorer_shape = getattr(scorer, "image_shape", None)
    if scorer_shape is not None:
        scores = (getattr(scorer, "image_channels", makes[0]), *scorer_shape)
        if tuple(scores) != tuple(makes):
            c, h, w = scores
            raise ValueError(
                f"the reward's real images are {c}x{h}x{w} (channels x height x width), but this process makes "
                f"{'x'.join(map(str, makes))} images; {hint}"
            )
    classes = getattr(scorer, "num_classes", None)
    if classes is not None and classes != process.num_classes:
        raise ValueError(
            f"the reward's real images hold {classes} class(es), but this process draws {process.num_classes}; "
            "map your classes to the model's (a diffusers model: class_ids=[...]), or give a model without "
            "classes your images as one class (ImageDataset.as_one_class())"
        )


def _get_np_random(env) -> np.random.Generator:
    return env.core.np_random


def _set_np_random(env, value: np.random.Generator) -> None:
    env.core.np_random = value


# Both envs' ``np_random``: the generator of the label draws is the core's.
core_np_random = property(_get_np_random, _set_np_random, doc="The generator of the label draws: the core's.")


def to_numpy(observation: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: v.cpu().numpy() for k, v in observation.items()}


def flat_layout(space: gym.spaces.Dict) -> dict[str, slice]:
    """Where each entry of a Dict observation sits in its flat vector (Gymnasium's flatten order:
    the Dict's keys in order, a ``Discrete`` entry one-hot)."""
    layout, start = {}, 0
    for key, sub in space.spaces.items():
        size = gym.spaces.flatdim(sub)
        layout[key] = slice(start, start + size)
        start += size
    return layout


def observation_space(space: gym.spaces.Dict, mode: str) -> gym.spaces.Dict | gym.spaces.Box:
    """The env's observation space for ``mode`` (``EpisodeSpec.observation_mode``): the Dict, or its flat Box."""
    return space if mode == "dict" else flat_space(space)


def flat_space(space: gym.spaces.Dict) -> gym.spaces.Box:
    """The flat float32 ``Box`` of a Dict observation space (Gymnasium's ``flatten_space``, in float32)."""
    flat = gym.spaces.flatten_space(space)
    return gym.spaces.Box(flat.low.astype(np.float32), flat.high.astype(np.float32), flat.shape, np.float32)


def flatten(space: gym.spaces.Dict, observation: dict[str, torch.Tensor]) -> torch.Tensor:
    """A batch of Dict observations -> (B, flatdim) float32, equal to ``gym.spaces.flatten`` per sample."""
    parts = []
    for key, sub in space.spaces.items():
        value = observation[key]
        if isinstance(sub, gym.spaces.Discrete):
            parts.append(torch.nn.functional.one_hot(value.long() - int(sub.start), int(sub.n)).float())
        else:
            parts.append(value.reshape(len(value), -1).float())
    return torch.cat(parts, dim=1)
