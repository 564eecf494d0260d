"""``AdaGen/Diffusers-v0``: the environments around a diffusers pipeline (see
:mod:`adagen_env.processes.diffusers_adapter`). diffusers is imported only when one is built."""

from __future__ import annotations

from typing import Any

from adagen_env.envs.single_env import ScheduleEnv
from adagen_env.envs.spec import KNOBS, EpisodeSpec
from adagen_env.envs.vector_env import ScheduleVectorEnv
from adagen_env.processes.diffusers_adapter import DiffusersProcess

# a pipeline's env has no reward unless you give one: the shipped scorers know only 8x8 digits
DIFFUSERS_DEFAULT = EpisodeSpec(reward=None)


# the keywords of gym.make that build the pipeline's process (DiffusersProcess.from_pipeline's), not the env
PROCESS_OPTIONS = ("guidance_scale", "num_classes", "null_class", "class_ids", "prompts", "micro_batch")


def _process_and_spec(
    pipeline: Any, spec: EpisodeSpec | None, kwargs: dict[str, Any]
) -> tuple[DiffusersProcess, EpisodeSpec]:
    """The pipeline's process and the episode spec; the process's options and the spec's knobs given as
    keywords are taken out of ``kwargs`` (what is left goes to the env)."""
    if pipeline is None:
        raise ValueError(
            "AdaGen/Diffusers-v0 needs pipeline=... (a DiTPipeline, DDIMPipeline, DDPMPipeline or "
            "StableDiffusionPipeline)"
        )
    knobs = {name: kwargs.pop(name) for name in list(kwargs) if name in KNOBS}
    options = {name: kwargs.pop(name) for name in list(kwargs) if name in PROCESS_OPTIONS}
    spec = EpisodeSpec.build(
        DIFFUSERS_DEFAULT if spec is None else spec, **knobs
    )  # checked before the pipeline is read
    process = DiffusersProcess.from_pipeline(pipeline, spec.num_steps, **options)
    return process, spec.replace(num_steps=process.num_steps)


def make_diffusers_env(pipeline: Any = None, spec: EpisodeSpec | None = None, **kwargs: Any) -> ScheduleEnv:
    """``gym.make("AdaGen/Diffusers-v0", pipeline=pipe, ...)``: one sample of ``pipe``.

    The process's options (:meth:`DiffusersProcess.from_pipeline`): ``num_steps`` and
    ``guidance_scale`` default to the pipeline's own; ``class_ids`` are the model's classes of the
    env's labels 0..C-1 (your classes; default: the model's own classes, or the first
    ``num_classes`` of them); a text-to-image pipeline takes ``prompts`` (its labels) instead;
    ``micro_batch`` caps the samples per model call and decode. ``reward`` defaults to ``None`` (0
    everywhere), since the shipped scorers know only 8x8 digits: pass a scorer of your images, of the
    same classes. ``autocast="bf16"`` runs the model and the VAE under bf16 autocast on the
    pipeline's device (move the pipeline there first: ``pipe.to("cuda")``). The episode's other
    knobs and the env's keywords go to :class:`ScheduleEnv`.
    """
    process, spec = _process_and_spec(pipeline, spec, kwargs)
    return ScheduleEnv(process=process, spec=spec, **kwargs)


def make_diffusers_vector_env(
    num_envs: int = 1, pipeline: Any = None, spec: EpisodeSpec | None = None, **kwargs: Any
) -> ScheduleVectorEnv:
    """``gym.make_vec("AdaGen/Diffusers-v0", num_envs=64, pipeline=pipe, ...)``: ``num_envs`` samples
    in one batch, each with its own timesteps and guidance; arguments as :func:`make_diffusers_env`."""
    process, spec = _process_and_spec(pipeline, spec, kwargs)
    return ScheduleVectorEnv(num_envs, process=process, spec=spec, **kwargs)
