"""What a command generates with and scores against, and the generators it compares.

A :class:`Target` is a registered paradigm's shipped generator and the embedded digits, or a
user's generator file (``adagen generator``) and the images it was trained on. It builds the
evaluator, the reward, the static schedules and the policies of that target, and refuses a
policy trained for another one, before any work.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from adagen_agents.card import GeneratorRef, PolicyCard
from adagen_agents.files import same_file
from adagen_agents.loading import load_policy
from adagen_env.data.datasets import ImageDataset
from adagen_env.data.user_data import GENERATOR_PROCESSES, GeneratorFile, features_info, read_generator, user_evaluator
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
    """``process`` runs without autocast; a spec's ``autocast`` wraps it where it runs."""

    paradigm: Paradigm
    process: Process
    generator: GeneratorFile | None = None
    features: str | None = None

    @cached_property
    def evaluator(self) -> Evaluator:
        """Built once per command: a user's folder is read and its reference features computed once."""
        if self.generator is None:
            return Evaluator(device=self.process.device)
        return user_evaluator(self.generator.source.load("heldout"), self.features, self.process.device)

    @cached_property
    def real_train_images(self) -> ImageDataset | None:
        """The training images (the reward's real side, the noise floor's other set); ``None``: the digits."""
        return None if self.generator is None else self.generator.source.load("train")

    @property
    def name(self) -> str:
        """The paradigm's name, or the user's generator file's stem."""
        return self.paradigm.name if self.generator is None else Path(self.generator.path).stem

    @property
    def generator_ref(self) -> GeneratorRef | None:
        """What a policy card records of a user's generator."""
        if self.generator is None:
            return None
        shape = (self.process.image_channels, *self.process.image_shape)
        return GeneratorRef(
            str(Path(self.generator.path).resolve()), self.generator.source.path, shape, self.generator.sha256
        )

    def reward(self, name: str) -> Any:
        """The reward ``name`` for this target: by name for the digits; a user's generator gets an
        adversarial reward (or the trajectory reward mixed with one) with its own training images as
        the real side, or the trajectory reward, which needs no real images."""
        if self.generator is None or name == "trajectory":
            return name
        if not name.startswith(("adversarial", "trajectory")):
            raise ValueError(
                f"--reward {name} scores with networks of the shipped digits; with --generator use "
                "--reward adversarial (its discriminator trains on your images)"
            )
        return make_scorer(name, self.process.device, real=self.real_train_images)

    def resolve(self, spec: EpisodeSpec) -> EpisodeSpec:
        """``spec`` in plain values for this target (``smoothing="method"``: the paradigm's factor;
        ``baseline="best-static"``: the grid search's pick, which exists for the shipped generators only)."""
        if self.generator is not None and spec.baseline == "best-static":
            raise ValueError(
                "--baseline best-static is the grid search's pick for a shipped generator; no grid "
                "search has run on yours (give a named schedule, or leave --baseline out)"
            )
        return spec.resolve(self.process, self.paradigm)

    def best_static(self, num_steps: int) -> tuple[dict, torch.Tensor] | None:
        """The grid search's best static schedule; searched for the shipped generators only."""
        return None if self.generator is not None else best_static_schedule(self.paradigm.name, self.process, num_steps)

    def check_card(self, card: PolicyCard, path: str) -> None:
        """Refuse a policy trained for another target (``ValueError``, one line)."""
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
        if self.generator is not None and path == "shipped":
            raise ValueError(
                "--policy shipped is a policy for a shipped generator; leave out --generator, or pass your policy"
            )
        return load_policy(
            path,
            self.process,
            self.paradigm.name,
            num_steps,
            trust_pickle,
            check=lambda card: self.check_card(card, path),
        )

    # ------------------------------------------------------------------ generators

    def static(self, schedule: str | torch.Tensor | None, spec: EpisodeSpec) -> Generate:
        """Sampling with a static schedule (a name of the process's ``named_schedules``, values (T, P), or
        ``None``: hand-designed) at ``spec``'s steps, refinement and autocast."""
        process = with_autocast(self.process, spec.autocast)
        num_steps = spec.num_steps or process.default_num_steps
        if isinstance(schedule, str):
            schedule = named_schedule(process, self.paradigm, schedule, num_steps)
        return static_generator(process, num_steps, schedule, spec.refine)

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
) -> Target:
    """The target of a command: ``env``'s shipped generator, or the user's ``generator`` file (with its
    training ``data`` if they moved, and a ``features`` file); every file is checked here, before any work."""
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
    target = Target(paradigm, process, file, features)
    if features is not None:
        _ = target.evaluator  # a features file of other kinds of image fails now, not after training
        trained_on = features_info(features).get("data")
        if trained_on and Path(trained_on).exists() and not same_file(trained_on, file.source.path):
            raise ValueError(
                f"--features {features} was trained on {trained_on}, but the generator's images are "
                f"{file.source.path}; train features on them (adagen features --data ...)"
            )
    return target


def named_schedule(process: Process, paradigm: Paradigm, name: str, num_steps: int) -> torch.Tensor | None:
    """A named static schedule of the process; ``None`` for the hand-designed one, which the sampler
    builds exactly; ``ValueError`` naming the schedules otherwise."""
    if name not in process.named_schedules:
        raise ValueError(
            f"unknown schedule {name!r} for {paradigm.env_id}; its schedules: {', '.join(process.named_schedules)}"
        )
    return None if name == "hand-designed" else process.static_schedule(num_steps, **process.named_schedules[name])
