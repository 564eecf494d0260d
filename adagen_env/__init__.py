"""adagen: Gymnasium environments where RL agents learn sample-adaptive generation schedules.

Importing the package registers one environment id per paradigm of
:mod:`adagen_env.paradigms` with Gymnasium (``gym.make`` gives the single env, ``gym.make_vec``
the native batched one).
"""
import gymnasium as gym

from adagen_env.envs import ScheduleEnv, ScheduleVectorEnv
from adagen_env.paradigms import PARADIGMS, get_paradigm, make_process

for _paradigm in PARADIGMS.values():
    if _paradigm.env_id not in gym.registry:
        gym.register(
            _paradigm.env_id,
            entry_point="adagen_env.envs:ScheduleEnv",
            vector_entry_point="adagen_env.envs:ScheduleVectorEnv",
            kwargs={"process": _paradigm.name},
        )

__all__ = ["PARADIGMS", "ScheduleEnv", "ScheduleVectorEnv", "get_paradigm", "make_process"]
