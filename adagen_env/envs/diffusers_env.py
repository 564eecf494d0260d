"""``AdaGen/Diffusers-v0``: the environments around a diffusers pipeline (see
:mod:`adagen_env.processes.diffusers_adapter`). diffusers is imported only when one is built."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adagen_env.envs.single_env import ScheduleEnv
from adagen_env.envs.spec import KNOBS, EpisodeSpec
from adagen_env.envs.vector_env import ScheduleVectorEnv
from adagen_env.processes.diffusers_adapter import DiffusersProcess

# a pipeline's env has no reward unless you give one: the shipped scorers know only 8x8 digits
DIFFUSERS_DEFAULT = EpisodeSpec(reward=None)


def _process_and_spec(
    pipeline: Any,
    guidance_scale: float | None,
    num_classes: int | None,
    null_class: int | None,
    class_ids: Sequence[int] | None,
    spec: EpisodeSpec | None,
    kwargs: dict[str, Any],
) -> tuple[DiffusersProcess, EpisodeSpec]:
    """The pipeline's process and the episode spec; the spec's knobs given as keywords are taken out of ``kwargs``."""
    if pipeline is None:
        raise ValueError("AdaGen/Diffusers-v0 needs pipeline=... (a DiTPipeline, DDIMPipeline or DDPMPipeline)")
    knobs = {name: kwargs.pop(name) for name in list(kwargs) if name in KNOBS}
    spec = EpisodeSpec.build(
        DIFFUSERS_DEFAULT if spec is None else spec, **knobs
    )  # checked before the pipeline is read
    process = DiffusersProcess.from_pipeline(
        pipeline, spec.num_steps, guidance_scale, num_classes, null_class, class_ids
    )
    return process, spec.replace(num_steps=process.num_steps)


def make_diffusers_env(
    pipeline: Any = None,
    guidance_scale: float | None = None,
    num_classes: int | None = None,
    null_class: int | None = None,
    class_ids: Sequence[int] | None = None,
    spec: EpisodeSpec | None = None,
    **kwargs: Any,
) -> ScheduleEnv:
    """``gym.make("AdaGen/Diffusers-v0", pipeline=pipe, ...)``: one sample of ``pipe``.

    ``num_steps`` and ``guidance_scale`` default to the pipeline's own; ``class_ids`` are the
    model's classes of the env's labels 0..C-1 (your classes; default: the model's own classes, or
    the first ``num_classes`` of them); ``reward`` defaults to ``None`` (0 everywhere), since the
    shipped scorers know only 8x8 digits: pass a scorer of your images, of the same classes.
    ``autocast="bf16"`` runs the model and the VAE under bf16 autocast on the pipeline's device
    (move the pipeline there first: ``pipe.to("cuda")``). The episode's other knobs and the env's
    keywords go to :class:`ScheduleEnv`.
    """
    process, spec = _process_and_spec(pipeline, guidance_scale, num_classes, null_class, class_ids, spec, kwargs)
    return ScheduleEnv(process=process, spec=spec, **kwargs)


def make_diffusers_vector_env(
    num_envs: int = 1,
    pipeline: Any = None,
    guidance_scale: float | None = None,
    num_classes: int | None = None,
    null_class: int | None = None,
    class_ids: Sequence[int] | None = None,
    spec: EpisodeSpec | None = None,
    **kwargs: Any,
) -> ScheduleVectorEnv:
    """``gym.make_vec("AdaGen/Diffusers-v0", num_envs=64, pipeline=pipe, ...)``: ``num_envs`` samples
    in one batch, each with its own timesteps and guidance; arguments as :func:`make_diffusers_env`."""
    process, spec = _process_and_spec(pipeline, guidance_scale, num_classes, null_class, class_ids, spec, kwargs)
    return ScheduleVectorEnv(num_envs, process=process, spec=spec, **kwargs)
