"""Evaluate a schedule: generate class-balanced samples in chunks, then score them against held-out data."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from tqdm import tqdm

from adagen_env.envs.core import ScheduleCore
from adagen_env.envs.spec import EpisodeSpec
from adagen_env.evaluation.metrics import DEFAULT_NUM_SAMPLES, Evaluator
from adagen_env.processes.base import Process
from adagen_env.processes.refinement import Refinement, refinement_nfe
from adagen_env.processes.sampling import sample

CHUNK_SEEDS = 1_000_003  # chunk i of an evaluation on seed s draws noise seed s * CHUNK_SEEDS + i
MAX_SEED = (2**63 - 1) // CHUNK_SEEDS - 1  # so that every chunk's noise seed fits torch's generators

# A generator of images: (labels (B,), seed) -> images (B, 1, H, W).
Generate = Callable[[torch.Tensor, int], torch.Tensor]
# A deterministic policy: a batch of torch observations -> actions (B, P).
Act = Callable[[dict[str, torch.Tensor]], torch.Tensor]


def balanced_labels(num_samples: int, num_classes: int) -> torch.Tensor:
    """0, 1, ..., C-1, 0, 1, ...: every class equally often, so class-conditional FD is fair."""
    return torch.arange(num_samples) % num_classes


def static_generator(
    process: Process, num_steps: int, schedule: torch.Tensor | None = None, refine: Refinement | None = None
) -> Generate:
    """Sampling with a fixed schedule (T, P); ``None`` is the hand-designed one. ``refine`` refines the
    finished samples (checked here, before any work)."""
    if refine is not None:
        refinement_nfe(process, refine)
    return lambda labels, seed: sample(process, labels, schedule, num_steps=num_steps, seed=seed, refine=refine)


def policy_generator(process: Process, act: Act, spec: EpisodeSpec | None = None) -> Generate:
    """Sampling driven by a policy through the environment core, exactly as in training: the episode
    ``spec`` (steps, smoothing, trade-off value, baseline, refinement, autocast) is the one the
    policy was trained with, for sampling (a policy card's ``spec.for_sampling(...)``); default:
    ``EpisodeSpec()``, the process's own step count. Its reward is dropped (sampling scores
    nothing), and the spec is checked against the process here, before any work. Same seed,
    same noise."""
    spec = EpisodeSpec.build(spec).replace(reward=None)
    if spec.tradeoff == "random":
        raise ValueError("sampling takes a fixed tradeoff in [0, 1]; 'random' is for training")
    spec = spec.resolve(process)

    @torch.no_grad()
    def generate(labels: torch.Tensor, seed: int) -> torch.Tensor:
        core = ScheduleCore(process, len(labels), spec)
        obs = core.reset(labels, seed)
        for _ in range(core.num_steps):
            obs, _, _, _ = core.step(act(obs))
        return core.images()

    return generate


def evaluate_generator(
    generate: Generate,
    evaluator: Evaluator,
    num_classes: int,
    num_samples: int = DEFAULT_NUM_SAMPLES,
    seed: int = 0,
    batch_size: int = 500,
    progress: bool = True,
) -> dict[str, float]:
    """FD, KID, precision, recall (every feature space of ``evaluator``), class accuracy, wall time
    and samples per second of ``generate`` on one seed.

    Chunk ``i`` is generated with seed ``seed * CHUNK_SEEDS + i``, so results do not depend on the
    machine, and different seeds give disjoint noise. Comparing generators on several seeds is
    :func:`adagen_env.evaluation.experiment.run_experiment`'s work.
    """
    return generate_and_score(generate, evaluator, num_classes, num_samples, seed, batch_size, progress)[0]


def generate_and_score(
    generate: Generate,
    evaluator: Evaluator,
    num_classes: int,
    num_samples: int = DEFAULT_NUM_SAMPLES,
    seed: int = 0,
    batch_size: int = 500,
    progress: bool = False,
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """``evaluate_generator``'s scores and the features it scored, by space: sample i of two generators
    scored on the same seed shares its label and noise, so their features pair up."""
    if num_samples < 2:
        raise ValueError(f"num_samples must be at least 2 for a Frechet distance, got {num_samples}")
    start = time.perf_counter()
    images, labels = generate_balanced(generate, num_classes, num_samples, seed, batch_size, progress)
    seconds = time.perf_counter() - start
    features = evaluator.all_features(images)
    result = evaluator.evaluate_features(features, labels)
    result.update(seconds=seconds, samples_per_second=num_samples / seconds)
    return result, features


def generate_balanced(
    generate: Generate, num_classes: int, num_samples: int, seed: int = 0, batch_size: int = 500, progress: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-balanced images and their labels, in chunks; chunk ``i`` uses seed ``seed * CHUNK_SEEDS + i``."""
    labels = balanced_labels(num_samples, num_classes)
    chunks = labels.split(batch_size)
    if not 0 <= seed <= MAX_SEED or len(chunks) > CHUNK_SEEDS:
        raise ValueError(
            f"an evaluation seed must be in 0..{MAX_SEED:,} (and at most {CHUNK_SEEDS:,} chunks of "
            f"samples); got seed {seed} and {len(chunks):,} chunks"
        )
    images = [
        generate(chunk, seed * CHUNK_SEEDS + i)
        for i, chunk in enumerate(tqdm(chunks, desc="sampling", disable=not progress, leave=False))
    ]
    return torch.cat(images), labels
