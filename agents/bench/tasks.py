"""The AdaGen-Bench suite: named tasks, each fixing its env, its budget and its evaluation."""

from __future__ import annotations

from dataclasses import dataclass

from adagen_env.envs import ScheduleVectorEnv
from adagen_env.envs.spec import EpisodeSpec
from adagen_env.evaluation.seeds import REPORT_SEEDS
from adagen_env.paradigms import get_paradigm
from adagen_env.rewards import AdversarialScorer

CURVE_FRACTIONS = (0.25, 0.5, 0.75, 1.0)  # where along the budget the sample-efficiency curve is scored


@dataclass(frozen=True)
class Task:
    """One benchmark task.

    ``budget_samples`` is what an algorithm may spend: finished samples generated while it trains
    or searches (one episode = one sample, so ``budget_samples * num_steps`` env steps). The final
    policy is scored with deterministic actions on ``eval_samples`` class-balanced samples of the
    evaluation seed ``eval_seed``; the learning curve on the first ``curve_samples`` of them.
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
    def process_name(self) -> str:
        return get_paradigm(self.env_id).name

    @property
    def spec(self) -> EpisodeSpec:
        """The task's episode: its step count, flat observations, the adversarial reward."""
        return EpisodeSpec(num_steps=self.num_steps, observation_mode="flat")

    def make_env(self, seed: int, reward: object | None = None) -> ScheduleVectorEnv:
        """The task's native batched env, with a fresh adversarial reward seeded by ``seed``."""
        reward = AdversarialScorer(seed=seed) if reward is None else reward
        return ScheduleVectorEnv(self.num_envs, self.process_name, spec=self.spec.replace(reward=reward))


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("maskgit-8", "AdaGen/MaskGIT-Digits-v0", num_steps=8, nfe=8, budget_samples=12_288),
        Task("var-4", "AdaGen/VAR-Digits-v0", num_steps=4, nfe=4, budget_samples=12_288),
        Task("diffusion-6", "AdaGen/Diffusion-Digits-v0", num_steps=6, nfe=6, budget_samples=12_288),
        Task("flow-heun-6", "AdaGen/Flow-Heun-Digits-v0", num_steps=3, nfe=6, budget_samples=12_288),
    )
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; the tasks: {', '.join(TASKS)}")
    return TASKS[name]
