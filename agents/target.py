"""What a command generates with and scores against, and the generators it compares.

A :class:`Target` is a registered paradigm's shipped generator and the embedded digits, a
user's generator file (``adagen generator``) and the images it was trained on, or a diffusers
pipeline and the user's images (:mod:`adagen_agents.pipelines`). It builds the evaluator, the
reward, the static schedules and the policies of that target, and refuses a policy trained for
another one, before any work.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from adagen_agents.card import GeneratorRef, PipelineRef, PolicyCard
from adagen_agents.files import same_file
from adagen_agents.loading import load_policy
from adagen_agents.pipelines import ClassMap, PipelineSource, read_pipeline
from adagen_agents.schedule_export import read_exported
from adagen_env import DIFFUSERS_ENV_ID
from adagen_env.data.datasets import ImageDataset, Split
from adagen_env.data.user_data import (
    GENERATOR_PROCESSES,
    DataSource,
    GeneratorFile,
    features_info,
    read_generator,
    user_evaluator,
)
from adagen_env.envs.core import ScheduleCore
from adagen_env.envs.spec import EpisodeSpec
from adagen_env.evaluation.generators import Act, Generate, policy_generator, static_generator
from adagen_env.evaluation.metrics import Evaluator
from adagen_env.paradigms import PARADIGMS, Paradigm, best_static_schedule, get_paradigm
from adagen_env.processes.autocast import with_autocast
from adagen_env.processes.base import Process
from adagen_env.rewards import make_scorer

DEFAULT_ENV = "AdaGen/MaskGIT-Digits-v0"
# the registered env a user's generator runs in when no env is named, by the generator's paradigm
GENERATOR_ENVS = {"diffusion": "AdaGen/Diffusion-Digits-v0", "flow": "AdaGen/Flow-Digits-v0"}


@dataclass
class Target:
    """``process`` runs without autocast; a spec's ``autocast`` wraps it where it runs. ``paradigm`` is
    ``None`` for a diffusers ``pipeline``."""

    paradigm: Paradigm | None
    process: Process
    generator: GeneratorFile | None = None
    features: str | None = None
    pipeline: PipelineSource | None = None

    @property
    def source(self) -> DataSource | None:
        """The user's images (a generator's training data, or a pipeline's ``--data``); ``None``: the digits."""
        if self.pipeline is not None:
            return self.pipeline.data
        return None if self.generator is None else self.generator.source

    def images(self, split: Split) -> ImageDataset | None:
        """The user's images of ``split`` as the reward and the evaluation see them; ``None``: the digits."""
        if self.pipeline is not None:
            return self.pipeline.load(split)
        return None if self.generator is None else self.generator.source.load(split)

    @cached_property
    def evaluator(self) -> Evaluator:
        """Built once per command: a user's folder is read and its reference features computed once."""
        if self.source is None:
            return Evaluator(device=self.process.device)
        return user_evaluator(self.images("heldout"), self.features, self.process.device)

    @cached_property
    def real_train_images(self) -> ImageDataset | None:
        """The training images (the reward's real side, the noise floor's other set); ``None``: the digits."""
        return self.images("train")

    @property
    def name(self) -> str:
        """The paradigm's name, the user's generator file's stem, or the pipeline's folder name."""
        if self.pipeline is not None:
            return Path(self.pipeline.path).name
        return self.paradigm.name if self.generator is None else Path(self.generator.path).stem

    @property
    def env_id(self) -> str:
        """The env this target runs in: the paradigm's, or ``AdaGen/Diffusers-v0`` for a pipeline."""
        return DIFFUSERS_ENV_ID if self.paradigm is None else self.paradigm.env_id

    @property
    def shipped(self) -> bool:
        """Whether this is a shipped generator (whose best static schedules were searched, whose policies ship)."""
        return self.generator is None and self.pipeline is None

    @property
    def flag(self) -> str | None:
        """The flag that named this target's generator: ``--generator``, ``--pipeline``, or ``None`` (shipped)."""
        if self.pipeline is not None:
            return "--pipeline"
        return None if self.generator is None else "--generator"

    @property
    def generator_ref(self) -> GeneratorRef | None:
        """What a policy card records of a user's generator."""
        if self.generator is None:
            return None
        shape = (self.process.image_channels, *self.process.image_shape)
        return GeneratorRef(
            str(Path(self.generator.path).resolve()), self.generator.source.path, shape, self.generator.sha256
        )

    @property
    def pipeline_ref(self) -> PipelineRef | None:
        """What a policy card records of a diffusers pipeline."""
        if self.pipeline is None:
            return None
        return PipelineRef.of(self.process, self.pipeline.class_names, self.pipeline.data.path)

    def card(self, core: ScheduleCore, algo: str) -> PolicyCard:
        """The card of a policy trained on ``core`` of this target."""
        env = None if self.paradigm is None else self.paradigm.env_id
        return PolicyCard.of(core, algo, env, self.generator_ref, self.pipeline_ref)

    def reward(self, name: str) -> Any:
        """The reward ``name`` for this target: by name for the digits; a user's generator or a pipeline
        gets an adversarial reward with the user's training images as the real side; a user's generator
        may also take the trajectory reward (or it mixed with an adversarial one), which needs none."""
        if name == "adversarial-latent" and self.pipeline is None:
            raise ValueError(
                "--reward adversarial-latent scores a diffusers pipeline's VAE latents; it needs --pipeline DIR "
                "(a pipeline with a VAE), not a generator of images"
            )
        if self.shipped or (self.generator is not None and name == "trajectory"):
            return name
        if name.startswith("trajectory") and self.pipeline is not None:
            raise ValueError(
                f"--reward {name} needs a 64-step solution of our own diffusion or flow generators; with "
                "--pipeline use --reward adversarial (its discriminator trains on your images)"
            )
        if not name.startswith(("adversarial", "trajectory")):
            raise ValueError(
                f"--reward {name} scores with networks of the shipped digits; with {self.flag} use "
                "--reward adversarial (its discriminator trains on your images)"
            )
        prompts = getattr(self.process, "prompts", None)  # a text-to-image pipeline's: each caption's embedding
        options = {} if prompts is None else {"class_embeddings": prompts.summary}
        return make_scorer(name, self.process.device, real=self.real_train_images, **self._scaling(name), **options)

    def on_prompts(self, prompts: list[str] | tuple[str, ...]) -> Target:
        """A text-to-image pipeline's target on other ``prompts`` (its labels); one line for any other target."""
        if self.pipeline is None or not self.pipeline.prompted:
            raise ValueError("--prompt is for a text-to-image pipeline (--pipeline of a UNet2DConditionModel)")
        source, process = self.pipeline.on_prompts(prompts, self.process.num_steps)
        return Target(None, process, features=self.features, pipeline=source)

    def evaluation(self) -> Target:
        """The target an evaluation samples: a text-to-image pipeline on its held-out captions (which no
        training saw, as their images), any other the same."""
        if self.pipeline is None or not self.pipeline.prompted:
            return self
        evaluated = self.on_prompts(self.pipeline.captions("heldout"))
        evaluated.__dict__["evaluator"] = self.evaluator  # built once: the held-out images' features
        return evaluated

    def _scaling(self, name: str) -> dict[str, Any]:
        """A pipeline's reward options for its size: the latent reward encodes through its VAE, and the
        discriminator works in the process's micro-batches (``--micro-batch``)."""
        micro_batch = getattr(self.process, "micro_batch", None)
        return {
            **({"process": self.process} if name == "adversarial-latent" else {}),
            **({"micro_batch": micro_batch} if micro_batch is not None else {}),
        }

    def resolve(self, spec: EpisodeSpec) -> EpisodeSpec:
        """``spec`` in plain values for this target (``smoothing="method"``: the paradigm's factor;
        ``baseline="best-static"``: the grid search's pick, which exists for the shipped generators only)."""
        if not self.shipped and spec.baseline == "best-static":
            raise ValueError(
                "--baseline best-static is the grid search's pick for a shipped generator; no grid "
                "search has run on yours (give a named schedule, or leave --baseline out)"
            )
        return spec.resolve(self.process, self.paradigm)

    def best_static(self, num_steps: int) -> tuple[dict, torch.Tensor] | None:
        """The grid search's best static schedule; searched for the shipped generators only."""
        return best_static_schedule(self.paradigm.name, self.process, num_steps) if self.shipped else None

    def check_card(self, card: PolicyCard, path: str) -> None:
        """Refuse a policy trained for another target (``ValueError``, one line); a pipeline's policy
        is checked against the process when it loads (:meth:`PolicyCard.check_process`)."""
        if self.pipeline is None and card.pipeline is not None:
            raise ValueError(f"{path} was trained on the diffusers pipeline {card.pipeline.path}; pass --pipeline")
        if self.pipeline is not None and card.pipeline is None:
            raise ValueError(f"{path} was not trained on a diffusers pipeline; leave out --pipeline")
        if self.generator is None and card.generator is not None:
            raise ValueError(f"{path} was trained for the generator {card.generator.path}; pass --generator")
        if self.generator is not None and card.generator is None:
            raise ValueError(f"{path} was trained for the shipped generator of {card.env}; leave out --generator")
        if card.generator is not None:
            ours = self.generator_ref
            if tuple(card.generator.image_shape) != ours.image_shape:
                raise ValueError(
                    f"{path} was trained for {list(card.generator.image_shape)} images, but "
                    f"{self.generator.path} makes {list(ours.image_shape)}"
                )
            if card.generator.sha256 is not None and card.generator.sha256 != ours.sha256:
                raise ValueError(
                    f"{path} was trained for another generator ({card.generator.path}, whose content "
                    f"differs from {self.generator.path}'s); pass the generator it was trained for"
                )

    def policy(self, path: str, num_steps: int | None = None, trust_pickle: bool = False) -> tuple[Act, PolicyCard]:
        """A policy for this target (``shipped``: the one for ``num_steps`` if one ships), refused if it
        was trained for another generator."""
        if not self.shipped and path == "shipped":
            raise ValueError(
                f"--policy shipped is a policy for a shipped generator; leave out {self.flag}, or pass your policy"
            )
        return load_policy(
            path,
            self.process,
            None if self.paradigm is None else self.paradigm.name,
            num_steps,
            trust_pickle,
            check=lambda card: self.check_card(card, path),
        )

    # ------------------------------------------------------------------ generators

    def static(self, schedule: str | torch.Tensor | None, spec: EpisodeSpec) -> Generate:
        """Sampling with a static schedule (a name of the process's ``named_schedules``, values (T, P), or
        ``None``: hand-designed) at ``spec``'s steps, refinement and autocast."""
        if isinstance(schedule, str) and schedule.endswith(".json"):
            return self.exported(schedule)
        process = with_autocast(self.process, spec.autocast)
        num_steps = spec.num_steps or process.default_num_steps
        if isinstance(schedule, str):
            schedule = named_schedule(process, self.env_id, schedule, num_steps)
        return static_generator(process, num_steps, schedule, spec.refine)

    def exported(self, path: str) -> Generate:
        """Sampling with a schedule of ``adagen export`` (its episode), refused if its policy was trained for
        another generator; a class the file has no row for (a text-to-image prompt) takes the row ``all``."""
        exported = read_exported(path)
        self.check_card(exported.card, path)
        if exported.card.pipeline is not None:
            exported.card.pipeline.check(self.process, path)
        elif exported.card.env is not None and self.paradigm is not None and exported.card.env != self.env_id:
            raise ValueError(f"{path} was exported for {exported.card.env}, not {self.env_id}")
        observes_label = getattr(self.process, "observes_label", True)
        if observes_label and len(exported.class_names) != self.process.num_classes:
            raise ValueError(
                f"{path} has schedules for {len(exported.class_names)} classes; this generator makes "
                f"{self.process.num_classes}"
            )
        return policy_generator(self.process, exported.act(), exported.spec)

    def comparison(self, policies: dict[str, tuple[Act, EpisodeSpec]], spec: EpisodeSpec) -> dict[str, Generate]:
        """Generators of trained policies (by name: act and sampling spec), then the hand-designed
        schedule and, where one was searched, the best static one, all at ``spec``'s steps and refinement."""
        generators = {
            name: policy_generator(self.process, act, policy_spec) for name, (act, policy_spec) in policies.items()
        }
        generators["hand-designed"] = self.static(None, spec)
        best = self.best_static(spec.num_steps)
        if best is not None:
            generators["best static"] = self.static(best[1], spec)
        return generators


def make_target(
    env: str | None = None,
    device: str | torch.device = "cpu",
    generator: str | None = None,
    data: str | None = None,
    features: str | None = None,
    pipeline: str | None = None,
    class_map: str | ClassMap | None = None,
    num_steps: int | None = None,
    micro_batch: int | None = None,
) -> Target:
    """The target of a command: ``env``'s shipped generator, the user's ``generator`` file (with its
    training ``data`` if they moved, and a ``features`` file), or a diffusers ``pipeline`` at
    ``num_steps`` (default: its own) scored against ``data``, its classes mapped by ``class_map`` or
    by name, its model calls and decodes on at most ``micro_batch`` samples at a time; every file is
    checked here, before any work."""
    if pipeline is not None:
        if generator is not None or env is not None:
            raise ValueError(f"--pipeline is the generator; leave out {'--generator' if generator else '--env'}")
        if data is None:
            raise ValueError("--pipeline needs --data: your images, which its reward and evaluation compare with")
        source, process = read_pipeline(pipeline, data, class_map, num_steps, device, micro_batch)
        return _with_features(Target(None, process, features=features, pipeline=source), features)
    if class_map is not None or micro_batch is not None:
        raise ValueError(f"{'--class-map' if class_map is not None else '--micro-batch'} goes with --pipeline")
    if generator is None:
        if data is not None or features is not None:
            given = "--data" if data is not None else "--features"
            raise ValueError(f"{given} goes with --generator (the shipped generators use the embedded digits)")
        paradigm = get_paradigm(env or DEFAULT_ENV)
        return Target(paradigm, paradigm.make_process(device))
    file = read_generator(generator, data)
    paradigm = get_paradigm(env or GENERATOR_ENVS[file.paradigm])

    def runs_it(p: Paradigm) -> bool:
        return p.process_class is GENERATOR_PROCESSES[file.paradigm]

    if not runs_it(paradigm):
        envs = ", ".join(p.env_id for p in PARADIGMS.values() if runs_it(p))
        raise ValueError(
            f"--env {paradigm.env_id} does not run {file.paradigm} generators; leave out --env or pass one of {envs}"
        )
    process = file.process(device, getattr(paradigm.process, "keywords", {}).get("solver"))
    return _with_features(Target(paradigm, process, file, features), features)


def _with_features(target: Target, features: str | None) -> Target:
    """The target, its ``features`` file checked now (not after training): of its kind of image, and
    trained on its images."""
    if features is not None:
        _ = target.evaluator
        trained_on, ours = features_info(features).get("data"), target.source.path
        if trained_on and Path(trained_on).exists() and not same_file(trained_on, ours):
            raise ValueError(
                f"--features {features} was trained on {trained_on}, but the generator's images are "
                f"{ours}; train features on them (adagen features --data ...)"
            )
    return target


def named_schedule(process: Process, env_id: str, name: str, num_steps: int) -> torch.Tensor | None:
    """A named static schedule of the process; ``None`` for the hand-designed one, which the sampler
    builds exactly; ``ValueError`` naming the schedules otherwise."""
    if name not in process.named_schedules:
        raise ValueError(f"unknown schedule {name!r} for {env_id}; its schedules: {', '.join(process.named_schedules)}")
    return None if name == "hand-designed" else process.static_schedule(num_steps, **process.named_schedules[name])
