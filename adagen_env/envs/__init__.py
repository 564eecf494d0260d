from adagen_env.envs.core import ScheduleCore, flat_layout
from adagen_env.envs.single_env import ScheduleEnv
from adagen_env.envs.vector_env import ScheduleVectorEnv

__all__ = ["ScheduleCore", "ScheduleEnv", "ScheduleVectorEnv", "flat_layout"]
