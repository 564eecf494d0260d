"""Reward = how close a diffusion or flow episode's image is to the many-step solution of its own ODE.

Diffusion and flow sample by integrating an ODE from Gaussian noise; with many small steps the
solver's error vanishes. So the distance of an N-step image to the ``REFERENCE_STEPS``-step
solution (the hand-designed schedule) from the *same* initial noise and label is the error the
schedule makes: a reward that needs no discriminator and no feature network, and cannot be
hacked by anything but following the ODE more closely (it pays for the reference schedule's
guidance too). It is cheap because the starts are a fixed pool: ``POOL_SIZE`` (label, noise)
pairs, seeded, whose reference solutions are computed once per generator and kept in memory
(``trajectory_pool``); episodes start from pool entries.

The hook into the env (:class:`~adagen_env.envs.core.ScheduleCore`): a scorer with a
``draw_starts`` method gets ``prepare(process)`` once when the env is made (here: refuse a process
that is no ODE sampler, compute the pool), ``draw_starts(labels, np_random)`` at every reset (a
pool entry of each label: its index and initial noise), and the indices back as
``starts=`` when it scores.

The reward is ``exp(-d / scale)`` in (0, 1], d the root-mean-square pixel distance (pixels in
[0, 1]) to the reference image and ``scale`` the pool's median distance of the hand-designed
schedule at the process's default step count, so that schedule earns about exp(-1) = 0.37.
``adversarial=w`` mixes in the adversarial reward: ``w * adversarial + (1 - w) * exp(-d / scale)``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from adagen_env.data.datasets import ImageDataset
from adagen_env.processes.base import Process
from adagen_env.processes.continuous import ContinuousProcess
from adagen_env.processes.sampling import sample
from adagen_env.rewards.adversarial import AdversarialScorer

POOL_SIZE = 4096  # (label, noise) starts; 16 s of 64-step solutions on one core for the digits' diffusion
REFERENCE_STEPS = 64  # steps of the hand-designed schedule whose solution counts as the exact one
CHUNK = 512  # pool entries solved together


@dataclass
class TrajectoryPool:
    """Fixed starts and their reference solutions, sorted by class (a class's entries are one block)."""

    key: tuple  # what the solutions depend on (generator, solver, size, steps, seed)
    labels: torch.Tensor  # (N,)
    noise: torch.Tensor  # (N, num_pixels), on the process's device
    references: torch.Tensor  # (N, C, H, W) in [0, 1]: the REFERENCE_STEPS-step images
    scale: float  # median distance of the hand-designed schedule at the default step count
    class_start: torch.Tensor  # (num_classes,)
    class_count: torch.Tensor  # (num_classes,)


_POOLS: dict[tuple, TrajectoryPool] = {}  # computed pools, by key: every env of one generator shares one


def distance(images: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """Root-mean-square pixel distance per image (B,)."""
    return (images.float() - references.float()).pow(2).flatten(1).mean(1).sqrt()


def trajectory_pool(
    process: Process, size: int = POOL_SIZE, steps: int = REFERENCE_STEPS, seed: int = 0
) -> TrajectoryPool:
    """The pool of ``process`` (computed on first use, then from memory): ``size`` labels, class-balanced,
    noise drawn on the CPU from ``seed`` (the same on every device), and their ``steps``-step solutions."""
    wrapped = getattr(process, "wrapped", process)  # under bf16 autocast: the process it wraps
    if not isinstance(wrapped, ContinuousProcess):
        raise ValueError(
            f"the trajectory reward needs an ODE sampler (diffusion or flow); this env's process is a "
            f"{type(wrapped).__name__}"
        )
    if size < process.num_classes:
        raise ValueError(f"the pool needs at least one start per class: size >= {process.num_classes}, got {size}")
    weights = hashlib.sha256()
    for tensor in wrapped.model.state_dict().values():
        weights.update(tensor.detach().cpu().numpy().tobytes())
    autocast = getattr(process, "autocast_dtype", None)
    key = (weights.hexdigest(), wrapped.solver, str(process.device), str(autocast), size, steps, seed)
    if key not in _POOLS:
        labels = torch.arange(size) * process.num_classes // size
        noise = torch.randn(size, wrapped.num_pixels, generator=torch.Generator().manual_seed(seed))
        noise = noise.to(process.device)
        references, distances = [], []
        chunks = range(0, size, CHUNK)
        for start in tqdm(chunks, desc=f"trajectory reward: {steps}-step solutions", leave=False):
            part = slice(start, start + CHUNK)
            reference = sample(process, labels[part], num_steps=steps, noise=noise[part])
            hand = sample(process, labels[part], num_steps=process.default_num_steps, noise=noise[part])
            references.append(reference)
            distances.append(distance(hand, reference))
        count = torch.bincount(labels, minlength=process.num_classes)
        _POOLS[key] = TrajectoryPool(
            key,
            labels.to(process.device),
            noise,
            torch.cat(references),
            torch.cat(distances).median().item(),
            torch.cumsum(count, 0) - count,
            count,
        )
    return _POOLS[key]


class TrajectoryScorer:
    """Per-sample reward in (0, 1]: closeness to the reference solution from the episode's own start
    (see the module doc); ``adversarial`` in [0, 1] mixes in an :class:`AdversarialScorer` (with
    ``real`` and ``seed``), whose ``stats`` and state this scorer then carries."""

    min_batch_size = 1

    def __init__(
        self,
        device: str | torch.device = "cpu",
        adversarial: float = 0.0,
        pool_size: int = POOL_SIZE,
        reference_steps: int = REFERENCE_STEPS,
        seed: int = 0,
        real: ImageDataset | None = None,
    ):
        if not 0 <= adversarial <= 1:
            raise ValueError(f"adversarial is a weight in [0, 1], got {adversarial}")
        self.name = "trajectory-adversarial" if adversarial else "trajectory"
        self.weight, self.pool_size, self.reference_steps, self.seed = adversarial, pool_size, reference_steps, seed
        self.adversarial = AdversarialScorer(device, real=real, seed=seed) if adversarial else None
        if self.adversarial is not None:  # the env checks the discriminator's real images against its process
            self.image_shape, self.image_channels = self.adversarial.image_shape, self.adversarial.image_channels
        self.pool: TrajectoryPool | None = None

    def prepare(self, process: Process) -> None:
        """Called by the env core once, with its process: refuses one that is no ODE sampler, finds the pool."""
        pool = trajectory_pool(process, self.pool_size, self.reference_steps, self.seed)
        if self.pool is not None and self.pool.key != pool.key:
            raise ValueError("one trajectory scorer serves envs of one generator; make one per generator")
        self.pool = pool

    def draw_starts(self, labels: torch.Tensor, np_random: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A pool entry of each label, drawn through the env's ``np_random``: indices (B,) and initial noise."""
        pool = self._pool()
        labels = labels.cpu()
        offsets = np_random.integers(0, pool.class_count[labels].numpy())
        starts = pool.class_start[labels] + torch.from_numpy(offsets)
        return starts, pool.noise[starts.to(pool.noise.device)]

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, labels: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
        pool = self._pool()
        starts = starts.to(pool.references.device)
        if not torch.equal(pool.labels[starts].cpu(), labels.long().cpu()):
            raise ValueError("the labels are not those of the pool entries the episodes started from")
        closeness = torch.exp(-distance(images.to(starts.device), pool.references[starts]) / pool.scale)
        if self.adversarial is None:
            return closeness.to(images.device)
        adversarial = self.adversarial(images, labels).to(starts.device)
        return (self.weight * adversarial + (1 - self.weight) * closeness).to(images.device)

    def _pool(self) -> TrajectoryPool:
        if self.pool is None:
            raise RuntimeError("the trajectory reward scores env episodes: pass it to an env, which prepares it")
        return self.pool

    @property
    def stats(self) -> dict[str, float]:
        """The mixed-in discriminator's statistics (none without one)."""
        return {} if self.adversarial is None else self.adversarial.stats

    def state_dict(self) -> dict[str, Any]:
        """The mixed-in discriminator's state; the pool is recomputed from the generator."""
        return {"adversarial": None if self.adversarial is None else self.adversarial.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (state["adversarial"] is None) != (self.adversarial is None):
            raise ValueError("the checkpoint's trajectory reward mixes in the adversarial one differently")
        if self.adversarial is not None:
            self.adversarial.load_state_dict(state["adversarial"])
