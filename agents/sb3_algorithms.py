"""The one registry of Stable-Baselines3 and sb3-contrib algorithms: ``adagen train --algo``,
policy loading and AdaGen-Bench all read it.

Each entry names the class by module, so sb3-contrib is imported only when one of its
algorithms is used; a missing package is one line that says what to install.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SB3Algorithm:
    """One algorithm: ``module.class_name``; ``on_policy``: it collects rollouts of ``n_steps``;
    ``recurrent``: its policy carries an LSTM state (``MlpLstmPolicy``)."""

    name: str
    module: str
    class_name: str
    on_policy: bool = False
    recurrent: bool = False

    @property
    def package(self) -> str:
        return self.module.split(".")[0]

    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None

    def load_class(self) -> type:
        """The algorithm's class; ``ImportError`` (one line, what to install) if its package is missing."""
        try:
            return getattr(importlib.import_module(self.module), self.class_name)
        except ImportError as error:
            raise ImportError(
                f"{self.name} needs {self.package.replace('_', '-')}: pip install -e '.[bench]'"
            ) from error

    def policy(self, observation_mode: str) -> str:
        """SB3's policy name for the env's observations (``dict``: a Dict, ``flat``: a Box)."""
        if self.recurrent:
            return "MultiInputLstmPolicy" if observation_mode == "dict" else "MlpLstmPolicy"
        return "MultiInputPolicy" if observation_mode == "dict" else "MlpPolicy"

    def default(self, argument: str, missing: Any = None) -> Any:
        """The default value of one of the class's constructor arguments (``n_steps``, ``learning_starts``)."""
        parameter = inspect.signature(self.load_class().__init__).parameters.get(argument)
        return missing if parameter is None else parameter.default


SB3_ALGORITHMS: dict[str, SB3Algorithm] = {
    a.name: a
    for a in (
        SB3Algorithm("sb3-ppo", "stable_baselines3", "PPO", on_policy=True),
        SB3Algorithm("sb3-a2c", "stable_baselines3", "A2C", on_policy=True),
        SB3Algorithm("sb3-sac", "stable_baselines3", "SAC"),
        SB3Algorithm("sb3-td3", "stable_baselines3", "TD3"),
        SB3Algorithm("sb3-ddpg", "stable_baselines3", "DDPG"),
        SB3Algorithm("tqc", "sb3_contrib", "TQC"),
        SB3Algorithm("crossq", "sb3_contrib", "CrossQ"),
        SB3Algorithm("trpo", "sb3_contrib", "TRPO", on_policy=True),
        SB3Algorithm("ars", "sb3_contrib", "ARS"),
        SB3Algorithm("recurrent-ppo", "sb3_contrib", "RecurrentPPO", on_policy=True, recurrent=True),
    )
}


def get_sb3_algorithm(name: str) -> SB3Algorithm:
    """An algorithm by its adagen name; ``ValueError`` naming the choices otherwise."""
    if name not in SB3_ALGORITHMS:
        raise ValueError(f"unknown SB3 algorithm {name!r}; choose one of {', '.join(SB3_ALGORITHMS)}")
    return SB3_ALGORITHMS[name]
