"""adagen: Gymnasium environments where RL agents learn sample-adaptive generation schedules.

Importing the package registers one environment id per paradigm of
:mod:`adagen_env.paradigms` with Gymnasium (``gym.make`` gives the single env, ``gym.make_vec``
the native batched one), and ``AdaGen/Diffusers-v0`` around a diffusers pipeline you pass in.
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

# your own diffusers pipeline: gym.make_vec(DIFFUSERS_ENV_ID, num_envs=..., pipeline=pipe); diffusers is imported only then
DIFFUSERS_ENV_ID = "AdaGen/Diffusers-v0"
if DIFFUSERS_ENV_ID not in gym.registry:
    gym.register(
        DIFFUSERS_ENV_ID,
        entry_point="adagen_env.envs.diffusers_env:make_diffusers_env",
        vector_entry_point="adagen_env.envs.diffusers_env:make_diffusers_vector_env",
    )

__all__ = ["DIFFUSERS_ENV_ID", "PARADIGMS", "ScheduleEnv", "ScheduleVectorEnv", "get_paradigm", "make_process"]
