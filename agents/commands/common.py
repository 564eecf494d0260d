"""What several commands share: flag checks, the sampling overrides, and how a comparison is shown."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path

from adagen_agents.card import PolicyCard
from adagen_agents.files import check_output, resumed_path, same_file
from adagen_agents.loading import read_card
from adagen_agents.ppo import PPOConfig
from adagen_agents.schedule_export import read_exported
from adagen_agents.target import Target, make_target
from adagen_env.data.datasets import DIGIT_CLASS_NAMES, read_class_names
from adagen_env.envs.spec import KNOBS, EpisodeSpec
from adagen_env.evaluation.experiment import Report
from adagen_env.evaluation.metrics import NEAREST_NEIGHBOURS
from adagen_env.processes.base import Process
from adagen_env.processes.refinement import refinement_nfe

MIN_SCORED = NEAREST_NEIGHBOURS + 1  # the fewest samples precision and recall (k-NN) can score
RESULTS_DIR = "adagen-results"  # where installed commands write when not told where
PPO_FIELDS = {f.name: f for f in fields(PPOConfig)}
# the files a command reads (--resume: see resumable_out)
INPUT_FLAGS = ("policy", "generator", "data", "features", "pipeline", "class_map")


def flag(name: str) -> str:
    """The command-line flag of a spec or config field: its own ``flag`` or ``--field-name``."""
    own = KNOBS[name].metadata["flag"] if name in KNOBS else None
    return own or "--" + name.replace("_", "-")


def check_out(
    args: argparse.Namespace,
    name: str = "out",
    suffixes: tuple[str, ...] = (),
    beside: tuple[str, ...] = (),
    resumable: bool = False,
) -> Path:
    """The command's output ``--NAME``, checked before any work (:func:`adagen_agents.files.check_output`)
    against the command's inputs and ``--overwrite``."""
    given = {flag(n): getattr(args, n, None) for n in INPUT_FLAGS}
    # files only: not --policy shipped, nor a resumed run's class map (a dict, from its card)
    inputs = {name: value for name, value in given.items() if isinstance(value, str | Path) and value != "shipped"}
    return check_output(
        getattr(args, name),
        flag(name),
        inputs,
        getattr(args, "overwrite", False),
        getattr(args, "resume", None),
        suffixes,
        beside,
        resumable,
    )


def resumable_out(args: argparse.Namespace, default: Path) -> Path:
    """``--out`` as given; else, when resuming, a new file beside the resumed one
    (:func:`~adagen_agents.files.resumed_path`); else ``default``."""
    if args.out:
        return Path(args.out)
    return resumed_path(args.resume) if args.resume else default


def say_resume(resumed: str | Path, out: Path) -> None:
    """One line on where a resumed run writes, before it starts: in place only when ``--out`` names the file."""
    if same_file(out, resumed):
        print(f"resuming {resumed} in place (--out names it): its checkpoints replace it")
    else:
        print(f"resuming {resumed} into {out} ({resumed} stays as it is)")


def at_least(args: argparse.Namespace, minimum: int | float, *names: str) -> None:
    """Each named flag, if given, is at least ``minimum``; ``ValueError`` naming the flag otherwise."""
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value < minimum:
            raise ValueError(f"--{name.replace('_', '-')} must be at least {minimum}, got {value}")


def sampling_overrides(args: argparse.Namespace) -> dict:
    """The sampling knobs given on the command line (``--steps``, ``--tradeoff``, ``--refine``, ``--autocast``)."""
    return {
        name: getattr(args, name)
        for name, f in KNOBS.items()
        if f.metadata["sampling"] and getattr(args, name, None) is not None
    }


def static_spec(args: argparse.Namespace) -> EpisodeSpec:
    """The episode of a static schedule: the sampling knobs given, no reward; a trade-off needs a policy."""
    overrides = sampling_overrides(args)
    if "tradeoff" in overrides:
        raise ValueError("--tradeoff is for a policy trained with adagen train --tradeoff; give --policy")
    return EpisodeSpec(reward=None, **overrides)


def learned_name(card: PolicyCard, spec: EpisodeSpec) -> str:
    """``learned (ppo)``, or ``learned (ppo, tradeoff 0.5)`` for a trade-off policy."""
    return f"learned ({card.algo}" + (")" if spec.tradeoff is None else f", tradeoff {spec.tradeoff:g})")


def say_refinement(process: Process, spec: EpisodeSpec) -> None:
    """One line on the model calls a refinement adds (nothing without one)."""
    if spec.refine is not None:
        extra, steps = refinement_nfe(process, spec.refine), spec.num_steps or process.default_num_steps
        print(f"refinement adds {extra} model calls per sample: {process.nfe(steps)} -> {process.nfe(steps) + extra}")


def command_target(args: argparse.Namespace) -> Target:
    """The command's target from its flags; a pipeline runs at ``--steps``, else at its policy's (or
    exported schedule's) steps (a pipeline's process follows one step count), and its class map is shown."""
    num_steps, policy = args.num_steps, getattr(args, "policy", None)
    schedules = getattr(args, "schedule", None) or []
    exported = [name for name in ([schedules] if isinstance(schedules, str) else schedules) if name.endswith(".json")]
    if num_steps is None and policy not in (None, "shipped") and args.pipeline is not None:
        num_steps = read_card(policy).num_steps
    elif num_steps is None and exported and args.pipeline is not None:
        num_steps = read_exported(exported[0]).spec.num_steps
    target = make_target(
        args.env,
        args.device,
        args.generator,
        args.data,
        getattr(args, "features", None),
        args.pipeline,
        args.class_map,
        num_steps,
        args.micro_batch,
    )
    if target.pipeline is not None:
        print(target.pipeline.map_line())
    return target


def class_names(target: Target) -> tuple[str, ...]:
    """The target's class names by label: the digits' "0" to "9", or those of the user's images
    (their class sub-folders, sorted), read without decoding an image; ``all`` for a pipeline's model
    without classes."""
    if target.pipeline is not None:
        return target.pipeline.class_names
    return DIGIT_CLASS_NAMES if target.generator is None else read_class_names(target.generator.source.path)


def class_aliases(target: Target) -> dict[str, int]:
    """Other names of the target's classes by label: a pipeline's own label names of the mapped classes."""
    return {} if target.pipeline is None else target.pipeline.aliases


def classes_line(names: Sequence[str]) -> str:
    """``classes: 0 china, 1 fox``: which number each class name is (``classes: 0..9`` where the
    names are the numbers)."""
    if tuple(names) == tuple(map(str, range(len(names)))):
        return f"classes: 0..{len(names) - 1}" if len(names) > 1 else "classes: 0"
    return "classes: " + ", ".join(f"{label} {name}" for label, name in enumerate(names))


def class_label(
    value: str, names: Sequence[str], flag: str = "--label", aliases: Mapping[str, int] | None = None
) -> int:
    """A class given by name or by number: a name first (a class folder named "3" is that class,
    whatever its number), then another name of it (``aliases``: a pipeline's label names), then a
    number in 0..C-1; ``ValueError`` listing the classes otherwise."""
    if value in names:
        return list(names).index(value)
    if aliases and value in aliases:
        return aliases[value]
    if value.isascii() and value.isdigit() and int(value) < len(names):
        return int(value)
    raise ValueError(
        f"{flag} must be a class name or a number in 0..{len(names) - 1}, got {value!r}; {classes_line(names)}"
    )


def show(report: Report, json_path: str | Path | None = None) -> None:
    """Print the report's table; write it (JSON and Markdown, with provenance) when a path is given."""
    print(report.table())
    if json_path is not None:
        written = report.write(json_path)
        print(f"wrote {', '.join(map(str, written))}")
