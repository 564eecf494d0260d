"""What a benchmarked algorithm gets (a :class:`Trial`), and how its policy is scored.

An algorithm is one function ``algorithm(trial) -> act``: it trains or searches within
``trial.budget_samples`` generated samples, then returns an act function (a batch of Dict torch
observations -> a batch of actions). The budget is sealed: one counting process generates for the
env and for ``trial.search_fd``, and refuses a step past the budget. The evaluation is kept from
the algorithm: ``trial.checkpoint`` hands the current policy to the campaign, which scores it on
the evaluation seed (the sample-efficiency curve) and shows the scores only in the run file.
"""

from __future__ import annotations

import time
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
from adagen_env.evaluation.metrics import CLASSIC_SPACES as SPACES
from adagen_env.evaluation.metrics import Evaluator
from adagen_env.evaluation.seeds import SEARCH_SEEDS
from adagen_env.paradigms import best_static_schedule, make_process
from adagen_env.processes.base import Process


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
# the space trial.search_fd scores candidates in. v0: the classifier space, which the evaluation also
# scores in. The selection track (issue 25) swaps in a network trained only for selection here; the
# query's samples are counted as they are now.
SEARCH_SPACE = "classifier"


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
    """One (algorithm, task, seed) run: the env to train on, the budget, the seed, the curve hook.

    ``env`` is the task's native batched env (flat observations, adversarial reward seeded with
    ``seed``) on ``device``. Algorithms that tune a static schedule instead call ``search_fd``. Both
    generate with one counting process: ``samples_used`` is every generation step it ran, in
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
        on_checkpoint: Callable[[int, int, Act], None] | None = None,
        device: str = "cpu",
    ):
        self.task, self.seed, self.device = task, seed, device
        self.budget_samples = task.budget_samples
        self._process = CountingProcess(make_process(task.env_id, device), task.budget_env_steps)
        self.env = task.make_env(seed, process=self._process, device=device)
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

    def checkpoint(self, current_act: Callable[[], Act]) -> None:
        """Hand ``current_act()`` to the campaign at each curve point the run has passed since the last
        call; it is scored on the evaluation seed, and nothing comes back."""
        while self._points and self.samples_used >= self._points[0]:
            point = self._points.pop(0)
            if self._on_checkpoint is not None:
                start = time.perf_counter()
                self._on_checkpoint(point, self.samples_used, current_act())
                self.evaluation_seconds += time.perf_counter() - start

    def search_fd(self, act: Act, num_samples: int) -> float:
        """FD in ``SEARCH_SPACE`` of ``num_samples`` samples made with ``act``, against the *training*
        images, on this run's search seed (a tuning seed): the objective of a practitioner's search.
        The samples are generated by the trial's counting process: they count against the budget."""
        if self.samples_used + num_samples > self.budget_samples:
            raise BudgetTooSmall(f"{num_samples} more samples would exceed the budget of {self.budget_samples}")
        if self._search_evaluator is None:
            self._search_evaluator = Evaluator(
                reference=load_digits("train"), spaces=(SEARCH_SPACE,), device=self.device
            )
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


# ------------------------------------------------------------------------------------- scoring


def evaluate_act(
    task: Task, act: Act | None, num_samples: int, evaluator: Evaluator, device: str = "cpu", seed: int | None = None
) -> dict[str, float]:
    """Every metric of ``evaluator`` for deterministic ``act`` (``None``: the hand-designed schedule)
    on ``num_samples`` samples of ``seed`` (default: the task's evaluation seed)."""
    process = get_process(task, device)
    generate = static_generator(process, task.num_steps) if act is None else policy_generator(process, act, task.spec)
    seed = task.eval_seed if seed is None else seed
    return evaluate_generator(generate, evaluator, process.num_classes, num_samples, seed=seed, progress=False)


_PROCESSES: dict[tuple[str, str], Process] = {}


def get_process(task: Task, device: str = "cpu") -> Process:
    """One process per task and device for evaluation (its generator is built once); not the trial's."""
    key = (task.name, str(device))
    if key not in _PROCESSES:
        _PROCESSES[key] = make_process(task.env_id, device)
    return _PROCESSES[key]


def anchors(task: Task, device: str = "cpu") -> dict[str, Generate]:
    """The normalised score's 0 and 1: the hand-designed and the best static schedule (picked on tuning seeds)."""
    process = get_process(task, device)
    found = best_static_schedule(task.env_id, process, task.num_steps)
    if found is None:
        raise ValueError(f"no best static schedule is registered for {task.env_id} at {task.num_steps} steps")
    return {
        "hand": static_generator(process, task.num_steps),
        "best_static": static_generator(process, task.num_steps, found[1]),
    }


def reference_results(task: Task, evaluator: Evaluator, device: str = "cpu") -> dict[str, dict[str, dict[str, float]]]:
    """The anchors at the task's evaluation and curve sample counts, on its evaluation seed."""
    num_classes = get_process(task, device).num_classes
    return {
        name: {
            str(n): evaluate_generator(generate, evaluator, num_classes, n, seed=task.eval_seed, progress=False)
            for n in (task.eval_samples, task.curve_samples)
        }
        for name, generate in anchors(task, device).items()
    }


def reference_noise(task: Task, evaluator: Evaluator, references: dict, device: str = "cpu") -> dict:
    """Each anchor's FD per space at the evaluation sample count on every one of the task's noise seeds
    (the first is the evaluation seed, read from ``references``): how much one FD draw moves."""
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


def normalised_scores(result: dict[str, float], references: dict, num_samples: int) -> dict[str, float]:
    """Per feature space, (FD of hand-designed - FD) / (FD of hand-designed - FD of best static):
    0 is the hand-designed schedule, 1 the best static one; ``mean`` over the spaces."""
    hand, best = references["hand"][str(num_samples)], references["best_static"][str(num_samples)]
    scores = {}
    for space in SPACES:
        key = f"{space}_fd"
        scores[space] = (hand[key] - result[key]) / (hand[key] - best[key])
    scores["mean"] = sum(scores[s] for s in SPACES) / len(SPACES)
    return scores
