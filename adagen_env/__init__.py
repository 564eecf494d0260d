"""adagen: Gymnasium environments where RL agents learn sample-adaptive generation schedules.

Importing the package registers the environments with Gymnasium.
"""
import gymnasium as gym

from adagen_env.envs import ScheduleEnv, ScheduleVectorEnv

ENVIRONMENTS = {
    "AdaGen/MaskGIT-Digits-v0": "maskgit-digits",
    "AdaGen/Diffusion-Digits-v0": "diffusion-digits",
    "AdaGen/Flow-Digits-v0": "flow-digits",
    "AdaGen/Flow-Heun-Digits-v0": "flow-heun-digits",
    "AdaGen/VAR-Digits-v0": "var-digits",
}

for _env_id, _process in ENVIRONMENTS.items():
    if _env_id not in gym.registry:
        gym.register(
            _env_id,
            entry_point="adagen_env.envs:ScheduleEnv",
            vector_entry_point="adagen_env.envs:ScheduleVectorEnv",
            kwargs={"process": _process},
        )

__all__ = ["ENVIRONMENTS", "ScheduleEnv", "ScheduleVectorEnv"]
