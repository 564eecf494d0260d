"""The benchmarked algorithms: one function each, ``algorithm(trial) -> act`` (see ``trial.py``).

RL algorithms train on the task's native batched env (flat observations, adversarial reward)
for exactly the budget's env steps. Off-policy ones run the bench's sanctioned configuration
(``zoo/*.yml``, :mod:`adagen_agents.bench.hyperparams`); the others their library's defaults.
On-policy algorithms keep their default env steps per rollout, spread over the env's parallel
samples and rounded up to whole episodes (SB3's PPO: 2,048 steps = 32 steps of 64 samples).
Black-box baselines (``blackbox.py``) tune a static schedule on the same budget of samples.

Add your own with ``@register("name")`` on a function of the trial, or name it from outside the
package as ``module:function`` (``adagen bench run --algo my_search:search``).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

from adagen_agents.bench.blackbox import cma_es, cma_es_per_class, random_search
from adagen_agents.bench.hyperparams import action_noise, config_path, sanctioned_config
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
    """A registered algorithm, or ``module:function`` imported from the current folder or PYTHONPATH;
    ``ValueError`` (one line) for a name that is neither."""
    if ":" in name:
        return load_plugin(name)
    if name not in ALGORITHMS:
        raise ValueError(
            f"unknown algorithm {name!r}; the algorithms: {', '.join(ALGORITHMS)}; "
            "or module:function for one of your own"
        )
    return ALGORITHMS[name]


def load_plugin(spec: str) -> Algorithm:
    """The function ``spec`` names (``module:function``), checked to be a function of one argument,
    the trial, before any run starts."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute or ":" in attribute:
        raise ValueError(f"algorithm {spec!r}: a plug-in is module:function, e.g. my_search:search")
    if os.getcwd() not in sys.path:  # as python -m would: the adagen script starts from its own folder
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name == error.name or module_name.startswith(error.name + ".")):
            raise ValueError(
                f"algorithm {spec!r}: no module {module_name!r} in the current folder or on PYTHONPATH"
            ) from None
        raise ValueError(f"algorithm {spec!r}: importing {module_name} failed: {error}") from None
    except Exception as error:  # noqa: BLE001  (the plug-in's own code: one line, before any run)
        raise ValueError(
            f"algorithm {spec!r}: importing {module_name} raised {type(error).__name__}: {error}"
        ) from None
    if not hasattr(module, attribute):
        raise ValueError(f"algorithm {spec!r}: {module_name} ({module.__file__}) has no {attribute!r}")
    function = getattr(module, attribute)
    if not callable(function):
        raise ValueError(f"algorithm {spec!r}: {attribute} is a {type(function).__name__}, not a function of the trial")
    try:
        inspect.signature(function).bind(None)
    except TypeError:
        raise ValueError(f"algorithm {spec!r}: {attribute} must take one argument, the trial") from None
    except ValueError:  # no signature to read (a builtin): it shows when it runs
        pass
    return function


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


def sb3_model(algorithm: SB3Algorithm, trial: Trial, overrides: dict[str, Any] | None = None) -> tuple[Any, int]:
    """The model the bench trains for ``algorithm`` on the trial's env, and the env steps it learns
    for. Its configuration (the sanctioned file's with ``overrides``, a tuned configuration's
    hyperparameters, over it; the rollout length) goes to ``trial.config``."""
    from adagen_agents.sb3_vec_env import SB3VecEnv

    cls = algorithm.load_class()
    env = trial.env
    steps_per_episode, budget = env.core.num_steps, trial.budget_samples * env.core.num_steps
    name = algorithm.class_name
    config = sanctioned_config(algorithm, trial.task.env_id, env.core.num_parameters)
    kwargs = dict(config.kwargs)
    recorded = dict(config.entry or {})
    for key, value in (overrides or {}).items():
        if key == "noise_std":  # the action noise's std: of the file's kind, normal by default
            kind = recorded.get("noise_type", "normal")
            kwargs["action_noise"] = action_noise(kind, value, env.core.num_parameters, f"tuned {name}")
        else:
            kwargs[key] = value
        recorded[key] = value
    if algorithm.on_policy:  # the default env steps per rollout, over all samples, in whole episodes
        # rounded down (to one episode at least): rounding up made a rollout of flow-heun-6-lite 33
        # steps per env, and only two of them (69% of the budget) fitted
        per_env = -(-algorithm.default("n_steps") // env.num_envs)
        kwargs["n_steps"] = recorded["n_steps"] = max(per_env // steps_per_episode, 1) * steps_per_episode
        rollout = kwargs["n_steps"] * env.num_envs
        if rollout > budget:
            raise BudgetTooSmall(f"{name} collects {rollout} env steps per update; the budget is {budget}")
        budget -= budget % rollout  # SB3 finishes every rollout it starts: only whole ones fit the budget
    elif kwargs.get("learning_starts", algorithm.default("learning_starts", 0)) >= budget:
        starts = kwargs.get("learning_starts", algorithm.default("learning_starts"))
        raise BudgetTooSmall(f"{name} starts learning after {starts} steps; the budget is {budget}")
    trial.config = {"file": config.file, "hyperparameters": recorded}
    try:
        model = cls(
            algorithm.policy(env.episode.observation_mode),
            SB3VecEnv(env),
            seed=trial.seed,
            device=trial.device,
            **kwargs,
        )
    except AssertionError as error:
        if "action space" in str(error):
            raise UnsupportedAlgorithm(
                f"{name} does not support Box actions, which every adagen task has ({env.single_action_space})"
            ) from None
        raise
    return model, budget


def sb3(algorithm: SB3Algorithm, overrides: dict[str, Any] | None = None) -> Algorithm:
    """An SB3 (or sb3-contrib) algorithm of the registry (:mod:`adagen_agents.sb3_algorithms`), with
    ``overrides`` over its sanctioned configuration (a tuned configuration's)."""

    def run(trial: Trial) -> Act:
        from stable_baselines3.common.callbacks import BaseCallback

        model, budget = sb3_model(algorithm, trial, overrides)
        space = trial.env.dict_observation_space

        class Curve(BaseCallback):
            def _on_step(self) -> bool:
                trial.checkpoint(lambda: sb3_act(self.model, flat_from=space))
                return True

        model.learn(budget, callback=Curve())
        return sb3_act(model, flat_from=space)

    rollout = "; default env steps per rollout, in whole episodes" if algorithm.on_policy else ""
    policy = algorithm.policy("flat")
    package = algorithm.package.replace("_", "-")
    path = config_path(algorithm)
    configured = f"the bench's configuration (zoo/{path.name})" if path.exists() else "its default hyperparameters"
    run.__doc__ = f"{package}'s {algorithm.class_name} ({policy}) with {configured}{rollout}."
    run.requires = (algorithm.package,)  # checked before a campaign starts
    return run


for _algorithm in SB3_ALGORITHMS.values():
    register(_algorithm.name)(sb3(_algorithm))

register("random-search")(random_search)
for _search in (cma_es, cma_es_per_class):
    _search.requires = ("cma",)
register("cma-es")(cma_es)
register("cma-es-per-class")(cma_es_per_class)
BUILT_IN = frozenset(ALGORITHMS)  # what a fresh process knows by name (a campaign's worker processes)


def missing_packages(names: list[str]) -> list[str]:
    """The packages the named algorithms need (their ``requires``) that are not installed."""
    needed = {m for name in names for m in getattr(get_algorithm(name), "requires", ())}
    return sorted(m for m in needed if importlib.util.find_spec(m) is None)
