"""Black-box baselines: tune a *static* schedule on the same budget of samples as the RL runs.

A static schedule here is one action per step (the env's residual around the hand-designed
schedule, so all zeros is the hand-designed schedule), the same for every sample; per class, one
such schedule per class. Each candidate is scored on ``SEARCH_SAMPLES`` samples, which count
against the budget, by what the trial's track allows:

- reward track: the mean terminal reward of the candidate's episodes in the trial's env (the same
  online adversarial discriminator, seeded by the run, that the RL algorithms train against), to be
  maximised, so that RL against a search compares optimisers, not signals;
- selection track: ``trial.search_fd``, FD in the selection space (a network no evaluation space
  uses) against the training images, on a tuning seed, to be minimised.

v0 searched FD in the evaluation's classifier space: a third of its headline score was the objective.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from adagen_agents.bench.trial import BudgetTooSmall, Trial
from adagen_env.evaluation.generators import Act
from adagen_env.evaluation.seeds import SEARCH_SEEDS

SEARCH_SAMPLES = 256  # samples per candidate
SIGMA = 0.3  # spread of candidates around the hand-designed schedule, in action units


def static_act(actions: torch.Tensor, num_steps: int) -> Act:
    """Act with fixed actions: ``(T, P)`` one per step, or ``(C, T, P)`` one per class and step."""

    def act(observation: dict[str, torch.Tensor]) -> torch.Tensor:  # on the CPU, where the actions are
        step = (observation["progress"][:, 0].cpu() * num_steps).round().long().clamp(0, num_steps - 1)
        if actions.dim() == 2:
            return actions[step]
        return actions[observation["label"].cpu().long(), step]

    return act


def _num_candidates(trial: Trial) -> int:
    n = trial.budget_samples // SEARCH_SAMPLES
    if n < 2:
        raise BudgetTooSmall(
            f"a search needs at least 2 candidates of {SEARCH_SAMPLES} samples; the budget is {trial.budget_samples}"
        )
    return n


def _shape(trial: Trial, per_class: bool) -> tuple[int, ...]:
    core = trial.env.core
    shape = (core.num_steps, core.num_parameters)
    return (core.process.num_classes, *shape) if per_class else shape


def episode_reward(trial: Trial, act: Act, num_samples: int) -> float:
    """The mean terminal reward of ``act``'s episodes in the trial's env, over at least ``num_samples``
    samples (whole batches): the reward track's objective. The env's core generates, so every sample
    counts against the budget, and its discriminator learns from them as it does from an RL run's."""
    core = trial.env.core
    batches = -(-num_samples // core.num_envs)
    if trial.samples_used + batches * core.num_envs > trial.budget_samples:
        raise BudgetTooSmall(
            f"{batches * core.num_envs} more samples would exceed the budget of {trial.budget_samples}"
        )
    total = 0.0
    for batch in range(batches):
        # every candidate on the same noise and labels (as search_fd scores each on one seed): common random numbers
        observation = core.reset(seed=(SEARCH_SEEDS.start + trial.seed) * 1_000 + batch)
        for _ in range(core.num_steps):
            observation, reward, terminated, _ = core.step(act(observation))
        total += float(reward.float().mean())
    return total / batches


def objective(trial: Trial, act: Act) -> float:
    """What a search minimises on the trial's track: selection-space FD, or minus the mean episode reward."""
    if trial.track == "selection":
        return trial.search_fd(act, SEARCH_SAMPLES)
    return -episode_reward(trial, act, SEARCH_SAMPLES)


class _Best:
    """The best candidate so far (the hand-designed schedule until one beats it); ``fd``: its objective."""

    def __init__(self, trial: Trial, shape: tuple[int, ...]):
        self.trial, self.actions, self.fd = trial, torch.zeros(shape), math.inf
        self.per_class = len(shape) == 3

    def score(self, actions: torch.Tensor) -> float:
        fd = objective(self.trial, static_act(actions, self.trial.task.num_steps))
        if fd < self.fd:
            self.actions, self.fd = actions, fd
        self.trial.checkpoint(self.act)
        return fd

    def act(self) -> Act:
        return static_act(self.actions, self.trial.task.num_steps)


def random_search(trial: Trial) -> Act:
    """The hand-designed schedule, then Gaussian candidates around it (std ``SIGMA``, clipped to [-1, 1])."""
    n, shape = _num_candidates(trial), _shape(trial, per_class=False)
    best = _Best(trial, shape)
    generator = torch.Generator().manual_seed(trial.seed)
    best.score(torch.zeros(shape))
    for _ in range(n - 1):
        best.score((SIGMA * torch.randn(shape, generator=generator)).clamp(-1, 1))
    return best.act()


def _cma(best: _Best, n: int, start: torch.Tensor, sigma: float) -> None:
    """``n`` candidates of CMA-ES around ``start`` (separable, diagonal covariance, for the
    per-class search's many dimensions), each scored through ``best``."""
    try:
        import cma
    except ImportError as error:
        raise ImportError("CMA-ES needs the cma package: pip install -e '.[bench]'") from error
    options = {"seed": best.trial.seed + 1, "bounds": [-1, 1], "verbose": -9, "CMA_diagonal": best.per_class}
    es = cma.CMAEvolutionStrategy(start.flatten().numpy().astype(np.float64), sigma, options)
    evaluated = 0
    while evaluated < n:
        candidates = es.ask()[: n - evaluated]  # the last generation is cut to what the budget allows
        fds = [best.score(torch.tensor(x, dtype=torch.float32).view(start.shape)) for x in candidates]
        evaluated += len(candidates)
        if len(candidates) == es.popsize:
            es.tell(candidates, fds)


def cma_es(trial: Trial) -> Act:
    """CMA-ES over one static schedule, from the hand-designed one (step size ``SIGMA``)."""
    shape = _shape(trial, per_class=False)
    best = _Best(trial, shape)
    _cma(best, _num_candidates(trial), torch.zeros(shape), SIGMA)
    return best.act()


def cma_es_per_class(trial: Trial) -> Act:
    """CMA-ES over one static schedule with half the budget, then separable CMA-ES over one
    schedule per class, started from the best static one, with the other half."""
    n, shape = _num_candidates(trial), _shape(trial, per_class=False)
    static = _Best(trial, shape)
    _cma(static, n // 2, torch.zeros(shape), SIGMA)
    per_class = _Best(trial, _shape(trial, per_class=True))
    start = static.actions.expand(per_class.actions.shape).clone()  # the static best, for every class
    per_class.actions, per_class.fd = start, static.fd
    _cma(per_class, n - n // 2, start, SIGMA / 2)
    return per_class.act()
