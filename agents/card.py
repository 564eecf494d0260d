"""The policy card: what a policy file records about its training, under a versioned schema.

Every policy file holds one: ours (``.pt``, key ``card``) and the ``.json`` that ``adagen train``
writes beside an SB3 ``.zip``. It names the env and the algorithm, and holds the episode spec
the policy was trained in (:class:`~adagen_env.envs.spec.EpisodeSpec`), so that ``adagen
eval``/``sample``/``actions`` and ``policy_generator`` sample it exactly as it was trained.

Reading is strict: a card of another schema version, or with keys this version does not know, is
one clear ``ValueError`` line naming the file. Files written before cards existed (a free-form
``metadata`` dict) are read through :func:`card_from_legacy`, which knows their keys.

A policy trained on a diffusers pipeline also records the pipeline (:class:`PipelineRef`) under
the optional key ``pipeline``, written only for such policies: every other card is as schema 1
always wrote it, and a card without the key reads as before.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adagen_env.envs.spec import EpisodeSpec
from adagen_env.paradigms import get_paradigm

if TYPE_CHECKING:
    from adagen_env.envs.core import ScheduleCore

CARD_SCHEMA = 1
CARD_KEYS = ("schema", "env", "algo", "spec", "num_envs", "generator", "pipeline")
GENERATOR_KEYS = ("path", "data", "image_shape", "sha256")
PIPELINE_KEYS = (
    "path",
    "pipeline",
    "config_sha256",
    "guidance_scale",
    "null_class",
    "class_ids",
    "class_names",
    "data",
)


@dataclass(frozen=True)
class GeneratorRef:
    """A user's own generator (a file of ``adagen generator``) the policy was trained for."""

    path: str
    data: str
    image_shape: tuple[int, int, int]  # (C, H, W) of the images it makes
    sha256: str | None = None  # the file's content hash (None in cards migrated from before it was kept)


@dataclass(frozen=True)
class PipelineRef:
    """The diffusers pipeline a policy was trained on: what identifies it (``config_sha256``, a hash of
    its model's, scheduler's and VAE's configs), the guidance scale and null class of its baseline, what
    the policy's labels mean (``class_ids``: the model's class of each label; ``None``: an unconditional
    model), and where it and the images of its reward were (``None``: a pipeline built in Python)."""

    path: str | None
    pipeline: str | None  # the pipeline's class name
    config_sha256: str
    guidance_scale: float
    null_class: int | None
    class_ids: tuple[int, ...] | None
    class_names: tuple[str, ...] | None = None  # the names of the labels (the classes of the reward's images)
    data: str | None = None

    @classmethod
    def of(cls, process: Any, class_names: tuple[str, ...] | None = None, data: str | None = None) -> PipelineRef:
        """The reference of a :class:`~adagen_env.processes.DiffusersProcess`."""
        return cls(
            process.source,
            process.pipeline_class,
            process.config_sha256,
            process.guidance_scale,
            process.null_class,
            process.class_ids,
            None if class_names is None else tuple(class_names),
            data,
        )

    def check(self, process: Any, source: str) -> None:
        """Refuse a process that is not this pipeline as trained: another model, scheduler or VAE
        config, guidance scale or class map (``ValueError``, one line naming ``source``)."""
        trained = f"{source} was trained on the diffusers pipeline {self.path or self.pipeline}"
        if getattr(process, "config_sha256", None) is None:
            raise ValueError(f"{trained}; sample it with that pipeline (adagen --pipeline, or AdaGenPipeline)")
        if process.config_sha256 != self.config_sha256:
            raise ValueError(
                f"{trained} (config sha256 {self.config_sha256[:12]}), but this one's model, scheduler or VAE "
                f"config differs (sha256 {process.config_sha256[:12]}); pass the pipeline it was trained on"
            )
        ours = PipelineRef.of(process)
        for name in ("guidance_scale", "null_class", "class_ids"):
            if getattr(ours, name) != getattr(self, name):
                raise ValueError(
                    f"{trained} with {name} {_shown(getattr(self, name))}, but this process has "
                    f"{_shown(getattr(ours, name))}"
                )


@dataclass(frozen=True)
class PolicyCard:
    """``env``: the registered env id (``None``: a process of your own); ``algo``: ``ppo`` or an SB3
    algorithm's name; ``spec``: the resolved episode spec of training; ``num_envs``: samples per
    batch while training; ``generator``: the user's generator it was trained for, if any;
    ``pipeline``: the diffusers pipeline it was trained on, if any."""

    env: str | None
    algo: str
    spec: EpisodeSpec
    num_envs: int | None = None
    generator: GeneratorRef | None = None
    pipeline: PipelineRef | None = None

    @classmethod
    def of(
        cls,
        core: ScheduleCore,
        algo: str,
        env: str | None = None,
        generator: GeneratorRef | None = None,
        pipeline: PipelineRef | None = None,
    ) -> PolicyCard:
        """The card of a policy trained on ``core``: its resolved spec and batch size; ``env`` defaults
        to the core's registered env, if it was built from one by name, and ``pipeline`` to the core's
        diffusers pipeline, if it runs one."""
        if env is None and core.paradigm is not None:
            env = core.paradigm.env_id
        if pipeline is None and getattr(core.process, "config_sha256", None) is not None:
            pipeline = PipelineRef.of(core.process)
        return cls(env, algo, core.spec, core.num_envs, generator, pipeline)

    @property
    def process_name(self) -> str | None:
        """The registered paradigm's name (``maskgit-digits``), or ``None`` for a process of your own."""
        return None if self.env is None else get_paradigm(self.env).name

    @property
    def num_steps(self) -> int:
        return self.spec.num_steps

    def sampling_spec(self, **overrides: Any) -> EpisodeSpec:
        """The spec to sample this policy with (:meth:`EpisodeSpec.for_sampling`)."""
        return self.spec.for_sampling(**overrides)

    def check_process(self, process: Any, source: str) -> None:
        """Refuse a process of another diffusers pipeline than the one this policy was trained on, or a
        pipeline's process for a policy of a registered env (one line naming ``source``)."""
        if self.pipeline is not None:
            self.pipeline.check(process, source)
        elif self.env is not None and getattr(process, "config_sha256", None) is not None:
            raise ValueError(f"{source} was trained on {self.env}, not on a diffusers pipeline")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``torch.save(weights_only)`` files and JSON."""
        generator = (
            None
            if self.generator is None
            else {**dataclasses.asdict(self.generator), "image_shape": list(self.generator.image_shape)}
        )
        data = {
            "schema": CARD_SCHEMA,
            "env": self.env,
            "algo": self.algo,
            "spec": self.spec.to_dict(),
            "num_envs": self.num_envs,
            "generator": generator,
        }
        if self.pipeline is not None:  # written only when there is one: other cards stay readable by older adagens
            data["pipeline"] = {
                **dataclasses.asdict(self.pipeline),
                "class_ids": _list(self.pipeline.class_ids),
                "class_names": _list(self.pipeline.class_names),
            }
        return data

    @classmethod
    def from_dict(cls, data: Any, source: str) -> PolicyCard:
        """A card from :meth:`to_dict`'s data; one-line ``ValueError`` naming ``source`` otherwise."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: damaged policy card (not a dict)")
        schema = data.get("schema")
        if schema != CARD_SCHEMA:
            raise ValueError(
                f"{source}: policy card schema {schema!r}, but this adagen reads schema {CARD_SCHEMA}; "
                "use the adagen version that wrote it"
            )
        unknown = set(data) - set(CARD_KEYS)
        if unknown:
            raise ValueError(
                f"{source}: unknown key(s) {', '.join(sorted(map(str, unknown)))} in its policy card "
                f"(schema {CARD_SCHEMA} has {', '.join(CARD_KEYS)})"
            )
        for key in ("env", "algo", "spec"):
            if key not in data:
                raise ValueError(f"{source}: damaged policy card (no {key})")
        return cls(
            env=_env(data["env"], source),
            algo=_text(data["algo"], "algo", source),
            spec=EpisodeSpec.from_dict(data["spec"], source),
            num_envs=data.get("num_envs"),
            generator=_generator(data.get("generator"), source),
            pipeline=_pipeline(data.get("pipeline"), source),
        )


def card_from_legacy(metadata: Any, source: str) -> PolicyCard:
    """The card of a file written before cards existed: its free-form ``metadata`` (env, process,
    num_steps, reward, algo, num_envs, smoothing, tradeoff, baseline, generator, data, image_shape)."""
    known = {
        "env",
        "process",
        "num_steps",
        "reward",
        "algo",
        "num_envs",
        "smoothing",
        "tradeoff",
        "baseline",
        "generator",
        "data",
        "image_shape",
    }
    if not isinstance(metadata, dict):
        raise ValueError(f"{source}: damaged policy file (its metadata is not a dict)")
    unknown = set(metadata) - known
    if unknown:
        raise ValueError(
            f"{source}: unknown metadata key(s) {', '.join(sorted(map(str, unknown)))}; not a policy file adagen wrote"
        )
    if not isinstance(metadata.get("num_steps"), int) or "algo" not in metadata:
        raise ValueError(f"{source}: damaged policy file (its metadata lacks num_steps or algo)")
    env = metadata.get("env") or (get_paradigm(metadata["process"]).env_id if "process" in metadata else None)
    spec = EpisodeSpec.from_dict(
        {
            "num_steps": metadata["num_steps"],
            "reward": metadata.get("reward"),
            "smoothing": metadata.get("smoothing", 0.0),
            "tradeoff": "random" if metadata.get("tradeoff") is True else None,
            "baseline": metadata.get("baseline"),
        },
        source,
    )
    generator = None
    if metadata.get("generator"):
        generator = _generator(
            {"path": metadata["generator"], "data": metadata.get("data"), "image_shape": metadata.get("image_shape")},
            source,
        )
    return PolicyCard(
        _env(env, source), _text(metadata["algo"], "algo", source), spec, metadata.get("num_envs"), generator
    )


def _env(env: Any, source: str) -> str | None:
    if env is None:
        return None
    try:
        return get_paradigm(env).env_id
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None


def _text(value: Any, name: str, source: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{source}: damaged policy card ({name} is not a string)")
    return value


def _generator(data: Any, source: str) -> GeneratorRef | None:
    if data is None:
        return None
    if not isinstance(data, dict) or not set(GENERATOR_KEYS[:3]) <= set(data) <= set(GENERATOR_KEYS):
        raise ValueError(f"{source}: damaged policy card (its generator has {', '.join(GENERATOR_KEYS)})")
    shape = data["image_shape"]
    if not (isinstance(shape, (list, tuple)) and len(shape) == 3 and all(isinstance(v, int) for v in shape)):
        raise ValueError(f"{source}: damaged policy card (generator image_shape must be 3 integers)")
    sha256 = data.get("sha256")
    return GeneratorRef(
        _text(data["path"], "generator path", source),
        _text(data["data"], "generator data", source),
        tuple(shape),
        None if sha256 is None else _text(sha256, "generator sha256", source),
    )


def _pipeline(data: Any, source: str) -> PipelineRef | None:
    if data is None:
        return None
    if not isinstance(data, dict) or set(data) != set(PIPELINE_KEYS):
        raise ValueError(f"{source}: damaged policy card (its pipeline has {', '.join(PIPELINE_KEYS)})")
    ids, names = data["class_ids"], data["class_names"]
    scale, null = data["guidance_scale"], data["null_class"]
    if not (
        isinstance(data["config_sha256"], str)
        and isinstance(scale, (int, float))
        and (null is None or isinstance(null, int))
        and (ids is None or (isinstance(ids, list) and all(isinstance(i, int) for i in ids)))
        and (names is None or (isinstance(names, list) and all(isinstance(n, str) for n in names)))
        and all(data[key] is None or isinstance(data[key], str) for key in ("path", "pipeline", "data"))
    ):
        raise ValueError(f"{source}: damaged policy card (its pipeline's values are of the wrong types)")
    return PipelineRef(
        data["path"],
        data["pipeline"],
        data["config_sha256"],
        float(scale),
        null,
        None if ids is None else tuple(ids),
        None if names is None else tuple(names),
        data["data"],
    )


def _list(values: tuple | None) -> list | None:
    return None if values is None else list(values)


def _shown(value: Any) -> str:
    """A value of a pipeline reference in a message: a long class map shortened."""
    if isinstance(value, tuple) and len(value) > 8:
        return f"[{', '.join(map(str, value[:8]))}, ... ({len(value)} classes)]"
    return str(list(value) if isinstance(value, tuple) else value)
