from adagen_env.envs.single_env import ScheduleEnv
from adagen_env.envs.vector_env import ScheduleVectorEnv

__all__ = ["ScheduleEnv", "ScheduleVectorEnv"]
