"""The benchmarked algorithms: one function each, ``algorithm(trial) -> act`` (see ``trial.py``).

RL algorithms train on the task's native batched env (flat observations, adversarial reward)
for exactly the budget's env steps, with their library's default hyperparameters. On-policy
algorithms keep their default env steps per rollout, spread over the env's parallel samples
and rounded up to whole episodes (SB3's PPO: 2,048 steps = 32 steps of 64 samples). Black-box
baselines (``blackbox.py``) tune a static schedule on the same budget of samples.

Add your own with ``@register("name")`` on a function of the trial.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from adagen_agents.bench.blackbox import cma_es, cma_es_per_class, random_search
from adagen_agents.bench.trial import BudgetTooSmall, Trial, UnsupportedAlgorithm
from adagen_agents.loading import sb3_act
from adagen_agents.ppo import PPO, PPOConfig
from adagen_agents.sb3_algorithms import SB3_ALGORITHMS, SB3Algorithm
from adagen_env.evaluation.generators import Act

Algorithm = Callable[[Trial], Act]
ALGORITHMS: dict[str, Algorithm] = {}


def register(name: str) -> Callable[[Algorithm], Algorithm]:
    """Add an algorithm to the benchmark under ``name`` (``adagen bench run --algo name``)."""

    def add(algorithm: Algorithm) -> Algorithm:
        ALGORITHMS[name] = algorithm
        return algorithm

    return add


def get_algorithm(name: str) -> Algorithm:
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; the algorithms: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


def our_ppo(what: str, **overrides) -> Algorithm:
    """Our batched PPO (``adagen_agents.ppo``): ``PPOConfig``'s defaults, changed by ``overrides``."""

    def run(trial: Trial) -> Act:
        config = PPOConfig(**{**overrides, "seed": trial.seed})
        updates = trial.budget_samples // config.episodes_per_update
        if updates < 1:
            raise BudgetTooSmall(
                f"ppo needs {config.episodes_per_update} samples for one update; the budget is {trial.budget_samples}"
            )
        agent = PPO(trial.env, config)
        agent.learn(updates, lambda a, stats: trial.checkpoint(lambda: a.predict))
        return agent.predict

    run.__doc__ = what
    return run


# "ppo" ran the campaign with the defaults before tuning; "ppo-tuned" is the configuration picked
# on tuning seeds (benchmarks/tune_ppo.py), since then PPOConfig's defaults
register("ppo")(
    our_ppo(
        "Our batched PPO with the defaults before tuning: 512 episodes per update, 64 minibatches.",
        episodes_per_update=512,
        minibatches=64,
    )
)
register("ppo-tuned")(
    our_ppo(
        "Our batched PPO, tuned on tuning seeds (today's defaults): 256 episodes per update, 32 minibatches.",
        episodes_per_update=256,
        minibatches=32,
    )
)


def sb3(algorithm: SB3Algorithm) -> Algorithm:
    """An SB3 (or sb3-contrib) algorithm of the registry (:mod:`adagen_agents.sb3_algorithms`), with its defaults."""

    def run(trial: Trial) -> Act:
        from stable_baselines3.common.callbacks import BaseCallback

        from adagen_agents.sb3_vec_env import SB3VecEnv

        cls = algorithm.load_class()
        env, kwargs = trial.env, {}
        steps_per_episode, budget = env.core.num_steps, trial.budget_samples * env.core.num_steps
        name = algorithm.class_name
        if algorithm.on_policy:  # the default env steps per rollout, over all samples, in whole episodes
            per_env = -(-algorithm.default("n_steps") // env.num_envs)
            kwargs["n_steps"] = -(-per_env // steps_per_episode) * steps_per_episode
            rollout = kwargs["n_steps"] * env.num_envs
            if rollout > budget:
                raise BudgetTooSmall(f"{name} collects {rollout} env steps per update; the budget is {budget}")
            budget -= budget % rollout  # SB3 finishes every rollout it starts: only whole ones fit the budget
        elif algorithm.default("learning_starts", 0) >= budget:
            raise BudgetTooSmall(
                f"{name} starts learning after {algorithm.default('learning_starts')} steps; the budget is {budget}"
            )
        try:
            model = cls(
                algorithm.policy(env.episode.observation_mode), SB3VecEnv(env), seed=trial.seed, device="cpu", **kwargs
            )
        except AssertionError as error:
            if "action space" in str(error):
                raise UnsupportedAlgorithm(
                    f"{name} does not support Box actions, which every adagen task has ({env.single_action_space})"
                ) from None
            raise
        space = env.dict_observation_space

        class Curve(BaseCallback):
            def _on_step(self) -> bool:
                trial.checkpoint(lambda: sb3_act(self.model, flat_from=space))
                return True

        model.learn(budget, callback=Curve())
        return sb3_act(model, flat_from=space)

    rollout = "; default env steps per rollout, in whole episodes" if algorithm.on_policy else ""
    policy = algorithm.policy("flat")
    package = algorithm.package.replace("_", "-")
    run.__doc__ = f"{package}'s {algorithm.class_name} ({policy}) with its default hyperparameters{rollout}."
    run.requires = (algorithm.package,)  # checked before a campaign starts
    return run


for _algorithm in SB3_ALGORITHMS.values():
    register(_algorithm.name)(sb3(_algorithm))

register("random-search")(random_search)
for _search in (cma_es, cma_es_per_class):
    _search.requires = ("cma",)
register("cma-es")(cma_es)
register("cma-es-per-class")(cma_es_per_class)


def missing_packages(names: list[str]) -> list[str]:
    """The packages the named algorithms need (their ``requires``) that are not installed."""
    needed = {m for name in names for m in getattr(get_algorithm(name), "requires", ())}
    return sorted(m for m in needed if importlib.util.find_spec(m) is None)
