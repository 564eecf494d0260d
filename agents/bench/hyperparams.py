"""The sanctioned configurations of the off-policy algorithms: rl-zoo3-format files in ``zoo/``, one per
algorithm (``td3.yml``, named after the class as rl-zoo3 names its ``hyperparams/*.yml``), keyed by env id.

SB3's defaults assume one env. In a task's batched env of 64 samples per step they give no action
noise (TD3, DDPG), one gradient step per 64 transitions and under two batched steps of random
actions before learning, and v0's TD3 and DDPG runs repeated each other's outcomes. The files set
these for every task's env. They hold plain values only (read with ``yaml.safe_load``); action
noise is written as rl-zoo3 writes it, ``noise_type`` (``normal`` or ``ornstein-uhlenbeck``) and
``noise_std``. The bench decides the budget, the batch and the policy, so a file may not set
``n_timesteps`` or ``n_envs``, and its ``policy`` must be the one the bench builds.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adagen_agents.bench.trial import SetupError
from adagen_agents.sb3_algorithms import SB3Algorithm
from adagen_env.runtime.files import one_line

ZOO = Path(__file__).resolve().parent / "zoo"
NOISE = ("noise_type", "noise_std")
BENCH_DECIDES = {
    "n_timesteps": "the task's budget",
    "n_envs": "the task's batch of samples",
    "env": "the task's env",
    "seed": "the run's seed",
    "device": "--device",
    "action_noise": "noise_type and noise_std",
}


@dataclass(frozen=True)
class Config:
    """An algorithm's configuration for one env: the file's entry as written (``None``: no file, the
    library's defaults) and the constructor's keyword arguments it gives."""

    file: str | None
    entry: dict[str, Any] | None
    kwargs: dict[str, Any]


def config_path(algorithm: SB3Algorithm) -> Path:
    return ZOO / f"{algorithm.class_name.lower()}.yml"


def sanctioned_config(algorithm: SB3Algorithm, env_id: str, action_dim: int) -> Config:
    """``algorithm``'s configuration for ``env_id`` from its file in ``zoo/``; the library's defaults
    when it has none. Anything wrong in the file is one line naming it (``SetupError``)."""
    path = config_path(algorithm)
    if not path.exists():
        return Config(None, None, {})
    entry = read_entry(path, env_id)
    where = f"{path}: {env_id}"
    constructor = inspect.signature(algorithm.load_class().__init__).parameters
    for key, value in entry.items():
        if key in BENCH_DECIDES:
            raise SetupError(f"{where}: {key} is the bench's to set ({BENCH_DECIDES[key]})")
        if key not in constructor and key not in NOISE:
            raise SetupError(f"{where}: {key!r} is not a hyperparameter of {algorithm.class_name}")
        if not isinstance(value, bool | int | float | str):
            raise SetupError(f"{where}: {key} is {value!r}; the files hold plain numbers, strings and booleans only")
    kwargs = {k: v for k, v in entry.items() if k not in (*NOISE, "policy")}
    policy = entry.get("policy", algorithm.policy("flat"))
    if policy != algorithm.policy("flat"):
        raise SetupError(
            f"{where}: policy {policy!r}; the bench trains {algorithm.policy('flat')} on flat observations"
        )
    noise = action_noise(entry.get("noise_type"), entry.get("noise_std"), action_dim, where)
    if noise is not None:
        kwargs["action_noise"] = noise
    return Config(path.name, entry, kwargs)


def read_entry(path: Path, env_id: str) -> dict[str, Any]:
    try:
        import yaml
    except ImportError as error:
        raise ImportError("the bench's hyperparameter files need PyYAML: pip install pyyaml") from error
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise SetupError(f"{path}: not readable YAML ({one_line(str(error))})") from None
    if not isinstance(data, dict) or not isinstance(data.get(env_id), dict):
        raise SetupError(f"{path} has no entry for {env_id} (a mapping of hyperparameters under the env id)")
    return data[env_id]


def action_noise(kind: Any, std: Any, action_dim: int, where: str) -> Any:
    """rl-zoo3's ``noise_type`` and ``noise_std`` as an SB3 action noise (``None`` when neither is set)."""
    if kind is None and std is None:
        return None
    from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

    kinds = {"normal": NormalActionNoise, "ornstein-uhlenbeck": OrnsteinUhlenbeckActionNoise}
    if kind not in kinds:
        raise SetupError(f"{where}: noise_type {kind!r}; the bench knows {', '.join(kinds)}")
    if isinstance(std, bool) or not isinstance(std, int | float) or not std > 0:
        raise SetupError(f"{where}: noise_std {std!r}; {kind} noise needs a standard deviation above 0")
    return kinds[kind](mean=np.zeros(action_dim), sigma=float(std) * np.ones(action_dim))
