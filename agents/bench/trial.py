"""What a benchmarked algorithm gets (a :class:`Trial`), and how its policy is scored.

An algorithm is one function ``algorithm(trial) -> act``: it trains or searches within
``trial.budget_samples`` generated samples, then returns an act function (a batch of Dict torch
observations -> a batch of actions). The budget is sealed: one counting process generates for the
env and for ``trial.search_fd``, and refuses a step past the budget. The evaluation is kept from
the algorithm: ``trial.checkpoint`` hands the current policy to the campaign, which scores it on
the evaluation seed (the sample-efficiency curve) and shows the scores only in the run file.

A trial runs on one of two tracks (``TRACKS``). On the *reward* track an algorithm sees only the
env's reward: ``trial.search_fd`` is sealed. On the *selection* track it may also query FD in the
selection space (:mod:`adagen_env.models.selection`), a network no evaluation space and no reward
uses; the query's samples count against the budget. On both, the trial notes the env's terminal
rewards as they pass (below the env, out of the algorithm's way) so that each curve point records
the mean reward of the recent episodes beside its score: the report's alignment of reward and score.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import torch

from adagen_agents.bench.tasks import CURVE_FRACTIONS, Task
from adagen_env.data.datasets import load_digits
from adagen_env.evaluation.generators import (
    Act,
    Generate,
    evaluate_generator,
    policy_generator,
    static_generator,
)
from adagen_env.evaluation.metrics import SPACES, Evaluator
from adagen_env.evaluation.seeds import SEARCH_SEEDS
from adagen_env.evaluation.selection import SelectionEvaluator
from adagen_env.models.selection import SELECTION_SPACE
from adagen_env.paradigms import best_static_schedule, make_process
from adagen_env.processes.base import Process

TRACKS = ("reward", "selection", "tuned")  # tuned: the reward track, each algorithm with its tuned hyperparameters
RECENT_SAMPLES = 256  # a curve point's reward: the mean terminal reward of at least this many latest samples


class SetupError(ValueError):
    """An algorithm cannot run on a task at all (found before it trains): the same for every seed."""


class BudgetTooSmall(SetupError):
    """The task's budget does not cover one update (or one candidate) of the algorithm."""


class UnsupportedAlgorithm(SetupError):
    """The algorithm cannot act in the task's action space."""


class BudgetExceeded(RuntimeError):
    """The algorithm asked the trial's generator for more than the budget."""


class SealedError(AttributeError):
    """The algorithm reached for something the trial keeps from it."""


# what a Trial no longer hands out, and why (an algorithm that reaches for one gets this line)
SEALED = {
    "process": "generate through trial.env, whose every generation step counts against the budget",
    "curve": "the learning curve is scored on the evaluation seed and kept from the algorithm until its run ends",
}
# the space trial.search_fd scores candidates in (the selection track only): a network trained only for
# selection, which no evaluation space and no reward uses (v0 searched in the evaluation's classifier space)
SEARCH_SPACE = SELECTION_SPACE


class CountingProcess:
    """A process that counts every generation step it runs, one per sample, and refuses the steps past
    ``limit``: the budget holds whatever drives the generator (the env, ``search_fd``, or code of the
    algorithm's own on ``trial.env.core.process``). Everything else is the wrapped process's."""

    def __init__(self, process: Process, limit: int):
        self.wrapped, self.limit, self.steps = process, limit, 0

    def __getattr__(self, name: str) -> Any:
        if name == "wrapped":  # not set yet (copying, unpickling): no delegation, no recursion
            raise AttributeError(name)
        return getattr(self.wrapped, name)

    def step(self, state: Any, values: dict[str, torch.Tensor], num_steps: int, generator: torch.Generator) -> Any:
        batch = len(next(iter(values.values())))
        if self.steps + batch > self.limit:
            raise BudgetExceeded(
                f"the budget of {self.limit} generation steps is spent ({self.steps} used; {batch} more asked)"
            )
        self.steps += batch
        return self.wrapped.step(state, values, num_steps, generator)

    def refine(self, *args: Any, **kwargs: Any) -> Any:
        raise SealedError("the bench's episodes have no refinement; the trial's generator does not refine")


class Trial:
    """One (algorithm, task, seed) run on a track: the env to train on, the budget, the seed, the curve hook.

    ``env`` is the task's native batched env (flat observations, adversarial reward seeded with
    ``seed``) on ``device``. On the selection track (``track="selection"``) an algorithm may also call
    ``search_fd``, FD in the selection space; on the reward track that raises :class:`SealedError`.
    Both generate with one counting process: ``samples_used`` is every generation step it ran, in
    samples, and a step past the budget raises :class:`BudgetExceeded`. ``checkpoint`` takes a
    function that returns the current act function, and calls it only when the next curve point (a
    quarter, half, three quarters of the budget) has been passed; the campaign scores it out of the
    algorithm's sight. ``config``: what the algorithm ran with, for the run file.

    The seal holds for what the trial hands out. An algorithm runs in the campaign's Python process,
    so one that builds a generator or an evaluator of its own is beyond it, as is any use of Python's
    introspection; the report trusts the algorithm's code to that extent.
    """

    def __init__(
        self,
        task: Task,
        seed: int,
        on_checkpoint: Callable[..., None] | None = None,
        device: str = "cpu",
        track: str = "reward",
    ):
        if track not in TRACKS:
            raise ValueError(f"unknown track {track!r}; the tracks: {', '.join(TRACKS)}")
        self.task, self.seed, self.device, self.track = task, seed, device, track
        self.budget_samples = task.budget_samples
        self._process = CountingProcess(make_process(task.env_id, device), task.budget_env_steps)
        self.env = task.make_env(seed, process=self._process, device=device)
        # the terminal rewards as they pass, noted below the env (its core's step, which the env's step and
        # our PPO both call): (samples, their mean) per finished batch, for the curve's reward column
        self._rewards: deque[tuple[int, float]] = deque(maxlen=max(1, -(-RECENT_SAMPLES // self.env.num_envs)))
        core = self.env.core
        step = core.step

        def noting_step(actions: Any):
            out = step(actions)
            if out[2]:  # terminated: the batch's rewards are in
                self._rewards.append((len(out[1]), float(out[1].float().mean())))
            return out

        core.step = noting_step
        self.config: dict[str, Any] = {}
        self._points = [round(f * task.budget_samples) for f in CURVE_FRACTIONS[:-1]]
        self._on_checkpoint = on_checkpoint
        self.evaluation_seconds = 0.0  # spent scoring curve points: not the algorithm's time
        self._search_evaluator: Evaluator | None = None

    def __getattr__(self, name: str) -> Any:
        if name in SEALED:
            raise SealedError(f"trial.{name} is sealed: {SEALED[name]}")
        raise AttributeError(f"'Trial' object has no attribute {name!r}")

    @property
    def samples_used(self) -> int:
        """The samples generated so far: generation steps over the task's steps per sample, rounded up."""
        return -(-self._process.steps // self.task.num_steps)

    def recent_reward(self) -> float | None:
        """The mean terminal reward of the env's latest episodes (at least ``RECENT_SAMPLES`` samples
        once there are that many); ``None`` before any episode ended. For the run file, not the algorithm."""
        if not self._rewards:
            return None
        return sum(n * r for n, r in self._rewards) / sum(n for n, _ in self._rewards)

    def checkpoint(self, current_act: Callable[[], Act]) -> None:
        """Hand ``current_act()`` to the campaign at each curve point the run has passed since the last
        call; it is scored on the evaluation seed, and nothing comes back."""
        while self._points and self.samples_used >= self._points[0]:
            point = self._points.pop(0)
            if self._on_checkpoint is not None:
                start = time.perf_counter()
                self._on_checkpoint(point, self.samples_used, current_act(), self.recent_reward())
                self.evaluation_seconds += time.perf_counter() - start

    def search_fd(self, act: Act, num_samples: int) -> float:
        """Selection track only: FD in the selection space (``SEARCH_SPACE``) of ``num_samples`` samples
        made with ``act``, against the *training* images, on this run's search seed (a tuning seed): the
        objective of a practitioner's search. The samples are generated by the trial's counting process:
        they count against the budget. On the reward track: :class:`SealedError`."""
        if self.track != "selection":
            raise SealedError(
                f"trial.search_fd is sealed on the {self.track} track, where an algorithm sees only the env's "
                "reward; FD queries (in the selection space) are the selection track's (--track selection)"
            )
        if self.samples_used + num_samples > self.budget_samples:
            raise BudgetTooSmall(f"{num_samples} more samples would exceed the budget of {self.budget_samples}")
        if self._search_evaluator is None:
            self._search_evaluator = selection_evaluator(self.device)
        generate = policy_generator(self._process, act, self.task.spec)
        result = evaluate_generator(
            generate,
            self._search_evaluator,
            self._process.num_classes,
            num_samples,
            seed=SEARCH_SEEDS.start + self.seed,
            progress=False,
        )
        return result[f"{SEARCH_SPACE}_fd"]


_SELECTION: dict[str, SelectionEvaluator] = {}


def selection_evaluator(device: str = "cpu") -> SelectionEvaluator:
    """FD in the selection space against the train split, one per device (its reference features once)."""
    if str(device) not in _SELECTION:
        _SELECTION[str(device)] = SelectionEvaluator(reference=load_digits("train"), device=device)
    return _SELECTION[str(device)]


# ------------------------------------------------------------------------------------- scoring


NEAR_BOUND = 1e-3  # a squashed action this close to +-1 is saturated up to rounding (tanh reaches 0.99999)


class ActionLog:
    """``act``, noting what it does: the largest |action|, the share of actions at the bounds (|a| >= 1)
    and within ``NEAR_BOUND`` of them, and a digest of every action it took, so that the report can
    tell why two runs score alike."""

    def __init__(self, act: Act):
        self.act, self.largest, self.count, self.saturated, self.near = act, 0.0, 0, 0, 0
        self.hash = hashlib.sha256()

    def __call__(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        actions = self.act(observation)
        values = torch.as_tensor(actions).detach().float().cpu().clamp(-1, 1)  # the env clips as this does
        self.largest = max(self.largest, float(values.abs().max())) if values.numel() else self.largest
        self.count += values.numel()
        self.saturated += int((values.abs() >= 1).sum())
        self.near += int((values.abs() >= 1 - NEAR_BOUND).sum())
        self.hash.update(values.numpy().tobytes())
        return actions

    def summary(self) -> dict[str, Any]:
        return {
            "max_abs": self.largest,
            "saturated_share": self.saturated / max(1, self.count),
            "near_bound_share": self.near / max(1, self.count),
            "digest": self.hash.hexdigest()[:16],
        }


def evaluate_act(
    task: Task, act: Act | None, num_samples: int, evaluator: Evaluator, device: str = "cpu", seed: int | None = None
) -> dict[str, float]:
    """Every metric of ``evaluator`` for deterministic ``act`` (``None``: the hand-designed schedule)
    on ``num_samples`` samples of ``seed`` (default: the task's evaluation seed)."""
    process = get_process(task, device)
    generate = static_generator(process, task.num_steps) if act is None else policy_generator(process, act, task.spec)
    seed = task.eval_seed if seed is None else seed
    return evaluate_generator(generate, evaluator, process.num_classes, num_samples, seed=seed, progress=False)


def evaluate_final(
    task: Task, act: Act, evaluator: Evaluator, device: str = "cpu"
) -> tuple[list[dict[str, float]], dict[str, Any]]:
    """``act`` on ``task.eval_samples`` samples of each of the task's evaluation seeds (``task.eval_seeds``):
    the result per seed, and what the policy did on the first seed (:class:`ActionLog`)."""
    log = ActionLog(act)
    per_seed = [
        evaluate_act(task, log if i == 0 else act, task.eval_samples, evaluator, device, seed)
        for i, seed in enumerate(task.eval_seeds)
    ]
    return per_seed, log.summary()


def mean_result(results: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each FD over several seeds' results."""
    keys = [k for k in results[0] if k.endswith("_fd")]
    return {k: sum(r[k] for r in results) / len(results) for k in keys}


_PROCESSES: dict[tuple[str, str], Process] = {}


def get_process(task: Task, device: str = "cpu") -> Process:
    """One process per task and device for evaluation (its generator is built once); not the trial's."""
    key = (task.name, str(device))
    if key not in _PROCESSES:
        _PROCESSES[key] = make_process(task.env_id, device)
    return _PROCESSES[key]


def anchors(task: Task, device: str = "cpu", best: dict | None = None) -> dict[str, Generate]:
    """The normalised score's 0 and 1: the hand-designed and the best static schedule. ``best``: the
    keyword arguments of the best static schedule (v1: the bench's pick in the selection space,
    :func:`adagen_agents.bench.anchors.selection_pick`); ``None``: the registry's pick (v0, picked by the
    evaluation's classifier on tuning seeds)."""
    process = get_process(task, device)
    if best is None:
        found = best_static_schedule(task.env_id, process, task.num_steps)
        if found is None:
            raise ValueError(f"no best static schedule is registered for {task.env_id} at {task.num_steps} steps")
        schedule = found[1]
    else:
        schedule = process.static_schedule(task.num_steps, **best)
    return {
        "hand": static_generator(process, task.num_steps),
        "best_static": static_generator(process, task.num_steps, schedule),
    }


def reference_results(
    task: Task, evaluator: Evaluator, device: str = "cpu", best: dict | None = None
) -> dict[str, dict[str, dict[str, float]]]:
    """The anchors at the task's evaluation and curve sample counts, on its evaluation seed (one draw)."""
    num_classes = get_process(task, device).num_classes
    return {
        name: {
            str(n): evaluate_generator(generate, evaluator, num_classes, n, seed=task.eval_seed, progress=False)
            for n in (task.eval_samples, task.curve_samples)
        }
        for name, generate in anchors(task, device, best).items()
    }


def anchor_references(task: Task, evaluator: Evaluator, best: dict, device: str = "cpu") -> dict[str, Any]:
    """v1's references: each anchor on ``task.eval_samples`` samples of every evaluation seed
    (``task.eval_seeds``), averaged (``anchor[str(eval_samples)]``, what final scores divide by) and
    kept per seed (``per_seed``, and ``noise``: each FD's draws, from which the report judges every
    denominator); and on ``task.curve_samples`` samples of the first seed, for the curve points."""
    if task.eval_samples == task.curve_samples:
        raise ValueError(f"task {task.name}: eval_samples and curve_samples must differ (the references key by them)")
    num_classes = get_process(task, device).num_classes
    out: dict[str, Any] = {"per_seed": {}, "noise": {"seeds": list(task.eval_seeds), "samples": task.eval_samples}}
    for name, generate in anchors(task, device, best).items():
        draws = [
            evaluate_generator(generate, evaluator, num_classes, task.eval_samples, seed=seed, progress=False)
            for seed in task.eval_seeds
        ]
        curve = evaluate_generator(
            generate, evaluator, num_classes, task.curve_samples, seed=task.eval_seed, progress=False
        )
        out[name] = {str(task.eval_samples): mean_result(draws), str(task.curve_samples): curve}
        out["per_seed"][name] = draws
        out["noise"][name] = {key: [d[key] for d in draws] for key in draws[0] if key.endswith("_fd")}
    return out


def reference_noise(task: Task, evaluator: Evaluator, references: dict, device: str = "cpu") -> dict:
    """Each anchor's FD per space at the evaluation sample count on every one of the task's noise seeds
    (the first is the evaluation seed, read from ``references``): how much one FD draw moves (v0)."""
    num_classes = get_process(task, device).num_classes
    noise: dict[str, Any] = {"seeds": list(task.noise_seeds), "samples": task.eval_samples}
    for name, generate in anchors(task, device).items():
        draws = [references[name][str(task.eval_samples)]]
        draws += [
            evaluate_generator(generate, evaluator, num_classes, task.eval_samples, seed=seed, progress=False)
            for seed in task.noise_seeds[1:]
        ]
        noise[name] = {key: [d[key] for d in draws] for key in draws[0] if key.endswith("_fd")}
    return noise


def normalised_scores(
    result: dict[str, float], references: dict, num_samples: int, spaces: tuple[str, ...] | None = None
) -> dict[str, float]:
    """Per feature space, (FD of hand-designed - FD) / (FD of hand-designed - FD of best static):
    0 is the hand-designed schedule, 1 the best static one; ``mean`` over the spaces. ``spaces``:
    default, every evaluation space (``SPACES``) that the result and the references both hold."""
    hand, best = references["hand"][str(num_samples)], references["best_static"][str(num_samples)]
    if spaces is None:
        spaces = tuple(s for s in SPACES if f"{s}_fd" in result and f"{s}_fd" in hand)
    scores = {}
    for space in spaces:
        key = f"{space}_fd"
        scores[space] = (hand[key] - result[key]) / (hand[key] - best[key])
    scores["mean"] = sum(scores[s] for s in spaces) / len(spaces)
    return scores
