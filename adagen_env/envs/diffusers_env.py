"""``AdaGen/Diffusers-v0``: the environments around a diffusers pipeline (see
:mod:`adagen_env.processes.diffusers_adapter`). diffusers is imported only when one is built."""
from __future__ import annotations

from typing import Any

from adagen_env.envs.single_env import ScheduleEnv
from adagen_env.envs.vector_env import ScheduleVectorEnv
from adagen_env.processes.autocast import check_autocast
from adagen_env.processes.diffusers_adapter import DiffusersProcess
from adagen_env.rewards import Scorer


def make_diffusers_env(
    pipeline: Any,
    num_steps: int | None = None,
    guidance_scale: float | None = None,
    num_classes: int | None = None,
    null_class: int | None = None,
    reward: str | Scorer | None = None,
    autocast: str | None = None,
    **env_kwargs: Any,
) -> ScheduleEnv:
    """``gym.make("AdaGen/Diffusers-v0", pipeline=pipe, ...)``: one sample of ``pipe``.

    ``num_steps`` and ``guidance_scale`` default to the pipeline's own; ``reward`` defaults to
    ``None`` (0 everywhere), since the shipped scorers know only 8x8 digits: pass a scorer of
    your images. ``autocast="bf16"`` runs the model and the VAE under bf16 autocast on the
    pipeline's device (move the pipeline there first: ``pipe.to("cuda")``). Other keywords go
    to :class:`ScheduleEnv`.
    """
    check_autocast(autocast)
    process = DiffusersProcess.from_pipeline(pipeline, num_steps, guidance_scale, num_classes, null_class)
    return ScheduleEnv(process=process, num_steps=process.num_steps, reward=reward, autocast=autocast, **env_kwargs)


def make_diffusers_vector_env(
    num_envs: int = 1,
    pipeline: Any = None,
    num_steps: int | None = None,
    guidance_scale: float | None = None,
    num_classes: int | None = None,
    null_class: int | None = None,
    reward: str | Scorer | None = None,
    autocast: str | None = None,
    **env_kwargs: Any,
) -> ScheduleVectorEnv:
    """``gym.make_vec("AdaGen/Diffusers-v0", num_envs=64, pipeline=pipe, ...)``: ``num_envs`` samples
    in one batch, each with its own timesteps and guidance; arguments as :func:`make_diffusers_env`."""
    if pipeline is None:
        raise ValueError('AdaGen/Diffusers-v0 needs pipeline=... (a DiTPipeline, DDIMPipeline or DDPMPipeline)')
    check_autocast(autocast)
    process = DiffusersProcess.from_pipeline(pipeline, num_steps, guidance_scale, num_classes, null_class)
    return ScheduleVectorEnv(
        num_envs, process=process, num_steps=process.num_steps, reward=reward, autocast=autocast, **env_kwargs
    )
