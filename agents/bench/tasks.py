"""The AdaGen-Bench suite: named tasks, each fixing its env, its budget and its evaluation."""

from __future__ import annotations

from dataclasses import dataclass

from adagen_env.envs import ScheduleVectorEnv
from adagen_env.envs.spec import EpisodeSpec
from adagen_env.evaluation.seeds import REPORT_SEEDS
from adagen_env.paradigms import get_paradigm
from adagen_env.processes.base import Process
from adagen_env.rewards import AdversarialScorer

CURVE_FRACTIONS = (0.25, 0.5, 0.75, 1.0)  # where along the budget the sample-efficiency curve is scored
EVAL_SEEDS = len(REPORT_SEEDS)  # evaluation seeds every final policy and both anchors are scored on (v1), averaged
NOISE_SEEDS = EVAL_SEEDS  # v0: the seeds the references were scored on to measure the noise of one FD draw
LITE_BUDGET = 2048  # a sixth of the full budget
LITE_EVAL = {"eval_samples": 1000, "curve_samples": 250}


@dataclass(frozen=True)
class Task:
    """One benchmark task.

    ``budget_samples`` is what an algorithm may spend: finished samples generated while it trains
    or searches (one episode = one sample, so ``budget_samples * num_steps`` env steps). The final
    policy is scored with deterministic actions on ``eval_samples`` class-balanced samples of the
    evaluation seeds ``eval_seeds`` (``EVAL_SEEDS`` from ``eval_seed`` on; v1), averaged; the learning
    curve on ``curve_samples`` samples of ``eval_seed``.
    """

    name: str
    env_id: str
    num_steps: int
    budget_samples: int
    nfe: int  # model calls per sample
    num_envs: int = 64
    eval_samples: int = 2000
    curve_samples: int = 500
    eval_seed: int = REPORT_SEEDS.start

    @property
    def budget_env_steps(self) -> int:
        return self.budget_samples * self.num_steps

    @property
    def eval_seeds(self) -> range:
        """The evaluation seeds a final policy and both anchors are scored on, averaged (the first is ``eval_seed``)."""
        return range(self.eval_seed, self.eval_seed + EVAL_SEEDS)

    @property
    def noise_seeds(self) -> range:
        """The evaluation seeds the references are scored on to measure FD's noise (the first is ``eval_seed``)."""
        return range(self.eval_seed, self.eval_seed + NOISE_SEEDS)

    @property
    def process_name(self) -> str:
        return get_paradigm(self.env_id).name

    @property
    def spec(self) -> EpisodeSpec:
        """The task's episode: its step count, flat observations, the adversarial reward."""
        return EpisodeSpec(num_steps=self.num_steps, observation_mode="flat")

    def make_env(
        self, seed: int, reward: object | None = None, process: Process | None = None, device: str = "cpu"
    ) -> ScheduleVectorEnv:
        """The task's native batched env, with a fresh adversarial reward seeded by ``seed``, generating
        with ``process`` (a trial's counting one) or else a fresh process on ``device``."""
        reward = AdversarialScorer(seed=seed, device=device) if reward is None else reward
        spec = self.spec.replace(reward=reward)
        return ScheduleVectorEnv(self.num_envs, self.process_name if process is None else process, spec, device)


FULL = (
    Task("maskgit-8", "AdaGen/MaskGIT-Digits-v0", num_steps=8, nfe=8, budget_samples=12_288),
    Task("var-4", "AdaGen/VAR-Digits-v0", num_steps=4, nfe=4, budget_samples=12_288),
    Task("diffusion-6", "AdaGen/Diffusion-Digits-v0", num_steps=6, nfe=6, budget_samples=12_288),
    Task("flow-heun-6", "AdaGen/Flow-Heun-Digits-v0", num_steps=3, nfe=6, budget_samples=12_288),
)
# the lite suite: one task per paradigm at a sixth of the budget, scored on fewer samples, so that one
# algorithm's 10 seeds fit in minutes; MaskGIT at 4 steps, its costliest generator at half the calls
LITE = (
    Task("maskgit-4-lite", "AdaGen/MaskGIT-Digits-v0", num_steps=4, nfe=4, budget_samples=LITE_BUDGET, **LITE_EVAL),
    Task("var-4-lite", "AdaGen/VAR-Digits-v0", num_steps=4, nfe=4, budget_samples=LITE_BUDGET, **LITE_EVAL),
    Task("diffusion-6-lite", "AdaGen/Diffusion-Digits-v0", num_steps=6, nfe=6, budget_samples=LITE_BUDGET, **LITE_EVAL),
    Task("flow-heun-6-lite", "AdaGen/Flow-Heun-Digits-v0", num_steps=3, nfe=6, budget_samples=LITE_BUDGET, **LITE_EVAL),
)
TASKS: dict[str, Task] = {t.name: t for t in (*FULL, *LITE)}


@dataclass(frozen=True)
class Suite:
    """A named set of tasks with its default training seeds and results folder."""

    name: str
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    results: str  # under adagen-results/ by default


SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite("full", tuple(t.name for t in FULL), (0, 1, 2), "bench"),
        Suite("lite", tuple(t.name for t in LITE), tuple(range(10)), "bench-lite"),
    )
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; the tasks: {', '.join(TASKS)}")
    return TASKS[name]


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; the suites: {', '.join(SUITES)}")
    return SUITES[name]
