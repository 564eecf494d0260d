"""The ``adagen`` command: train schedule policies, evaluate schedules and policies, write sample grids."""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, fields
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import torch

from adagen_agents.action_plots import action_spread, plot_actions, require_matplotlib
from adagen_agents.files import check_writable_file, check_writable_folder, one_line
from adagen_agents.loading import SB3_ALGOS, load_policy, policy_metadata, read_sb3_metadata, shipped_policy
from adagen_agents.ppo import PPOConfig, check_world_size, read_checkpoint
from adagen_agents.threads import SlowdownWatchdog, choose_threads
from adagen_agents.train import DEFAULT_UPDATES
from adagen_env import distributed
from adagen_env.devices import check_device
from adagen_env.comparison import paired_fd_difference, verdict
from adagen_env.adaptivity import record_actions
from adagen_env.evaluation import balanced_labels, generate_and_evaluate, policy_generator, static_generator
from adagen_env.datasets import ImageDataset
from adagen_env.images import save_grid
from adagen_env.metrics import DEFAULT_NUM_SAMPLES, Evaluator, noise_floor
from adagen_env.paradigms import PARADIGMS, Paradigm, best_static_schedule, get_paradigm
from adagen_env.processes.autocast import AUTOCAST_DTYPES, check_autocast, with_autocast
from adagen_env.processes.base import Process
from adagen_env.refinement import Refinement, refinement_nfe
from adagen_env.rewards import SCORERS
from adagen_env.seeds import EVALUATION_SEEDS, REPORT_SEEDS
from adagen_env.tables import format_table
from adagen_env.training.train_classifier import EPOCHS as CLASSIFIER_EPOCHS
from adagen_env.training.train_denoiser import STEPS as TRAIN_STEPS
from adagen_env.training.train_denoiser import train_denoiser
from adagen_env.training.train_encoder import STEPS as ENCODER_STEPS
from adagen_env.user_data import (GENERATOR_PROCESSES, HELDOUT_FRACTION, MIN_SIZE, GeneratorFile, data_source,
                                  read_generator, save_features, save_generator, train_feature_networks, user_evaluator)

DEFAULT_ENV = "AdaGen/MaskGIT-Digits-v0"
DEFAULT_REWARD = "adversarial"
DEFAULT_NUM_ENVS = 256
DEFAULT_TIMESTEPS = 200_000
# FD, precision, recall: the classifier's space; encoder_fd, pixels_fd: the other two (all metrics in --json)
METRIC_COLUMNS = ("fd", "precision", "recall", "encoder_fd", "pixels_fd", "accuracy", "seconds", "samples_per_second")
ENV_HELP = f"environment id, one of {', '.join(p.env_id for p in PARADIGMS.values())}"
POLICY_SAFETY = (
    "A .pt file is read with torch.load(weights_only=True) and cannot run code; an SB3 .zip is a "
    "pickle by SB3's design and can run code when loaded: use only .zip files you trust."
)


class UsageError(Exception):
    """A problem with the command line, reported as one line."""


# ---------------------------------------------------------------------- what a command generates with

# the registered env a user's generator runs in when --env is not given, by the generator's paradigm
GENERATOR_ENVS = {"diffusion": "AdaGen/Diffusion-Digits-v0", "flow": "AdaGen/Flow-Digits-v0"}


@dataclass
class Target:
    """What a command generates with and scores against: a paradigm's shipped generator and the
    embedded digits, or a user's generator file (``--generator``) and the images it was trained on."""

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

    def best_static(self, num_steps: int) -> tuple[dict, torch.Tensor] | None:
        """The grid search's best static schedule; searched for the shipped generators only."""
        return None if self.generator is not None else best_static_schedule(self.paradigm.name, self.process, num_steps)

    def policy(self, path: str, num_steps: int | None = None):
        """A policy for this target (``load_policy``; ``shipped``: the one for ``num_steps`` if one
        ships), refused if it was trained for another generator."""
        if self.generator is not None and path == "shipped":
            raise UsageError("--policy shipped is a policy for a shipped generator; leave out --generator, or pass your policy")
        metadata = policy_metadata(shipped_policy(self.paradigm.name, num_steps) if path == "shipped" else path)
        trained_for = metadata.get("generator")
        if self.generator is None and trained_for:
            raise UsageError(f"{path} was trained for the generator {trained_for}; pass --generator")
        if self.generator is not None and not trained_for:
            raise UsageError(f"{path} was trained for the shipped generator of {metadata['env']}; leave out --generator")
        shape = [self.process.image_channels, *self.process.image_shape]
        if trained_for and metadata.get("image_shape") != shape:
            raise UsageError(f"{path} was trained for {metadata.get('image_shape')} images, but {self.generator.path} "
                             f"makes {shape}")
        return load_policy(path, self.process, self.paradigm.name, num_steps)


def make_target(args: argparse.Namespace) -> Target:
    """The target of the command line; ``--generator`` files, ``--data`` and ``--features`` are checked here, before any work."""
    generator_path, data, features = (getattr(args, name, None) for name in ("generator", "data", "features"))
    if generator_path is None:
        if data is not None or features is not None:
            given = "--data" if data is not None else "--features"
            raise UsageError(f"{given} goes with --generator (the shipped generators use the embedded digits)")
        paradigm = get_paradigm(args.env or DEFAULT_ENV)
        return Target(paradigm, paradigm.make_process(args.device, args.autocast))
    generator = read_generator(generator_path, data)
    paradigm = get_paradigm(args.env or GENERATOR_ENVS[generator.paradigm])

    def runs_it(p: Paradigm) -> bool:
        return p.process_class is GENERATOR_PROCESSES[generator.paradigm]

    if not runs_it(paradigm):
        envs = ", ".join(p.env_id for p in PARADIGMS.values() if runs_it(p))
        raise UsageError(f"--env {paradigm.env_id} does not run {generator.paradigm} generators; leave out --env "
                         f"or pass one of {envs}")
    check_autocast(args.autocast)
    process = generator.process(args.device, getattr(paradigm.process, "keywords", {}).get("solver"))
    process = with_autocast(process, args.autocast)
    target = Target(paradigm, process, generator, features)
    if features is not None:
        target.evaluator  # a features file of other images fails now, not after training
    return target


# ---------------------------------------------------------------------- schedules and comparisons


@lru_cache(maxsize=None)
def schedule_names(paradigm_name: str) -> tuple[str, ...]:
    """The named static schedules of a paradigm (its process's ``named_schedules``)."""
    return tuple(get_paradigm(paradigm_name).make_process("cpu").named_schedules)


def schedules_epilog() -> str:
    lines = ["named schedules, by environment (--schedule):"]
    lines += [f"  {p.env_id}: {', '.join(schedule_names(p.name))}" for p in PARADIGMS.values()]
    return "\n".join(lines)


def static_schedule(process: Process, paradigm: Paradigm, name: str, num_steps: int, command: str) -> torch.Tensor | None:
    """A named static schedule; ``None`` for the hand-designed one, which the sampler builds exactly."""
    if name not in process.named_schedules:
        names = ", ".join(process.named_schedules)
        if name == "all":
            raise UsageError(f"--schedule all is for adagen eval; adagen {command} takes one of: {names}")
        also = "; or all, for every one" if command == "eval" else ""
        raise UsageError(f"unknown schedule {name!r} for {paradigm.env_id}; its schedules: {names}{also}")
    return None if name == "hand-designed" else process.static_schedule(num_steps, **process.named_schedules[name])


def compare(
    target: Target, num_steps: int, generators: dict, samples: int, seeds: range, extra_nfe: int = 0
) -> tuple[list[dict], dict[str, float], list[dict]]:
    """Evaluate named generators side by side, each on the same seeds and sample count, then compare
    the first with each other one, paired, in every feature space (FD difference, 95 % bootstrap interval).
    Each row's ``nfe`` is the model calls per sample: the steps' and ``extra_nfe`` (a refinement's)."""
    process, evaluator = target.process, target.evaluator
    nfe = process.nfe(num_steps) + extra_nfe
    first_space = evaluator.spaces[0]
    if target.generator is not None:
        print(f"feature spaces: {', '.join(evaluator.spaces)}" + (
            "" if target.features else " (no --features: train networks on your images with adagen features)"))
    rows, images = [], {}
    for name, generate in generators.items():
        per_seed = []
        for seed in seeds:
            result, generated = generate_and_evaluate(generate, evaluator, process.num_classes, samples, seed)
            rows.append({"schedule": name, "steps": num_steps, "nfe": nfe, "seed": seed, **result})
            per_seed.append(generated)
            print(f"{name} seed {seed}: FD ({first_space}) {result[f'{first_space}_fd']:.3f}", file=sys.stderr)
        images[name] = torch.cat(per_seed)  # sample i of every generator shares its label and noise seed
    floor = noise_floor(evaluator, target.real_train_images)
    columns = METRIC_COLUMNS if "classifier" in evaluator.spaces else (
        *(f"{space}_{metric}" for space in evaluator.spaces for metric in ("fd", "precision", "recall")),
        "seconds", "samples_per_second")
    print(format_table(rows, ("schedule", "steps", "nfe", "seed", *columns)))
    print(
        f"\nnoise floor ({first_space}): FD {floor[f'{first_space}_fd']:.3f}, precision "
        f"{floor[f'{first_space}_precision']:.3f}, recall {floor[f'{first_space}_recall']:.3f} "
        f"between the {int(floor['n'])} real training images and the held-out reference"
    )
    comparisons = []
    first, *others = generators
    for other in others:
        differences = paired_fd_difference(evaluator, images[first], images[other])
        said = verdict(differences, first, other)
        comparisons.append({"a": first, "b": other, "verdict": said,
                            "fd_differences": [vars(d) for d in differences]})
        spans = ", ".join(f"{d.space} {d.difference:+.3g} [{d.low:+.3g}, {d.high:+.3g}]" for d in differences)
        print(f"{first} vs {other}: FD difference (paired, 95 % bootstrap interval) {spans}: {said}")
    return rows, floor, comparisons


def tradeoff_for(metadata: dict, given: float | None) -> float | None:
    """The trade-off value to show a policy: ``--tradeoff`` (0 when left out) for a policy trained
    with ``adagen train --tradeoff``; none for any other, which refuses the flag."""
    if not metadata.get("tradeoff", False):
        if given is not None:
            raise UsageError("--tradeoff is for a policy trained with adagen train --tradeoff; this one was not")
        return None
    return 0.0 if given is None else given


def policy_comparison(
    target: Target, policy_path: str, num_steps: int | None, refine: Refinement | None = None,
    tradeoffs: tuple[float | None, ...] = (None,),
) -> tuple[int, dict]:
    """Generators for a trained policy (one per value of ``tradeoffs``, see ``tradeoff_for``), the
    hand-designed schedule and (if known) the best static one, each refined by ``refine`` when given."""
    process = target.process
    act, metadata = target.policy(policy_path, num_steps)
    num_steps = num_steps or metadata["num_steps"]
    generators = {}
    for given in tradeoffs:
        tradeoff = tradeoff_for(metadata, given)
        name = f"learned ({metadata['algo']}" + (")" if tradeoff is None else f", tradeoff {tradeoff:g})")
        generators[name] = policy_generator(process, num_steps, act, metadata.get("smoothing", 0.0), refine, tradeoff)
    generators["hand-designed"] = static_generator(process, num_steps, refine=refine)
    best = target.best_static(num_steps)
    if best is not None:
        generators["best static"] = static_generator(process, num_steps, best[1], refine)
    return num_steps, generators


def refinement_cost(process: Process, refine: Refinement | None, num_steps: int) -> int:
    """The model calls ``--refine`` adds per sample (0 without it), stated in one line; a paradigm
    without refinement, or a refinement that changes nothing, is refused here."""
    if refine is None:
        return 0
    extra, base = refinement_nfe(process, refine), process.nfe(num_steps)
    print(f"refinement adds {extra} model calls per sample: {base} -> {base + extra}")
    return extra


def at_least(args: argparse.Namespace, minimum: int | float, *names: str) -> None:
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value < minimum:
            raise UsageError(f"--{name.replace('_', '-')} must be at least {minimum}, got {value}")


# ---------------------------------------------------------------------- eval and sample


def tradeoff_needs_policy(args: argparse.Namespace) -> None:
    """``--tradeoff`` without ``--policy`` is refused before any work: static schedules have no knob."""
    if args.tradeoff is not None and not args.policy:
        raise UsageError("--tradeoff is for a policy trained with adagen train --tradeoff; give --policy")


def cmd_eval(args: argparse.Namespace) -> None:
    tradeoff_needs_policy(args)
    at_least(args, 2, "samples")
    at_least(args, 1, "seeds")
    if args.json:
        check_writable_file(args.json, "--json")
    target = make_target(args)
    paradigm, process = target.paradigm, target.process
    seeds = range(args.seed, args.seed + args.seeds)
    if args.policy:
        num_steps, generators = policy_comparison(target, args.policy, args.steps, args.refine, (args.tradeoff,))
    else:
        num_steps = args.steps or process.default_num_steps
        names = list(process.named_schedules) if args.schedule == ["all"] else args.schedule
        generators = {
            name: static_generator(process, num_steps, static_schedule(process, paradigm, name, num_steps, "eval"), args.refine)
            for name in names
        }
    extra_nfe = refinement_cost(process, args.refine, num_steps)
    rows, floor, comparisons = compare(target, num_steps, generators, args.samples, seeds, extra_nfe)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "noise_floor": floor, "comparisons": comparisons}, indent=2))
        print(f"wrote {args.json}")


def cmd_sample(args: argparse.Namespace) -> None:
    tradeoff_needs_policy(args)
    at_least(args, 1, "n")
    check_writable_file(args.out, "--out")
    target = make_target(args)
    paradigm, process = target.paradigm, target.process
    if not 0 <= args.label < process.num_classes:
        raise UsageError(f"--label must be in 0..{process.num_classes - 1}, got {args.label}")
    labels = torch.full((args.n,), args.label)
    if args.policy:
        act, metadata = target.policy(args.policy, args.steps)
        num_steps = args.steps or metadata["num_steps"]
        generate = policy_generator(process, num_steps, act, metadata.get("smoothing", 0.0), args.refine,
                                    tradeoff_for(metadata, args.tradeoff))
    else:
        num_steps = args.steps or process.default_num_steps
        generate = static_generator(process, num_steps, static_schedule(process, paradigm, args.schedule, num_steps, "sample"),
                                    args.refine)
    refinement_cost(process, args.refine, num_steps)
    path = save_grid(generate(labels, args.seed), args.out)
    print(f"wrote {path}")


def cmd_actions(args: argparse.Namespace) -> None:
    at_least(args, 2, "samples")
    require_matplotlib()
    check_writable_file(args.out, "--out")
    target = make_target(args)
    paradigm, process = target.paradigm, target.process
    act, metadata = target.policy(args.policy, args.steps)
    num_steps = args.steps or metadata["num_steps"]
    labels = balanced_labels(args.samples, process.num_classes)
    _, values = record_actions(process, num_steps, act, labels, args.seed, metadata.get("smoothing", 0.0),
                               tradeoff_for(metadata, args.tradeoff))
    best = target.best_static(num_steps)
    path = plot_actions(values, labels, process, f"{paradigm.name}, {num_steps} steps", args.out,
                        None if best is None else best[1])
    for name, spread in action_spread(values, labels, process).items():
        print(f"{name}: spread over samples {spread['over_samples']:.3g}, within a class {spread['within_class']:.3g} "
              f"(std at a step, mean over steps)")
    print(f"wrote {path}")


# ---------------------------------------------------------------------- train

PPO_FIELDS = {f.name: f for f in fields(PPOConfig)}
SHARED_WITH_SB3 = ("seed", "episodes_per_update")  # PPOConfig fields that the SB3 path uses too


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def resume_values(path: Path) -> tuple[dict[str, Any], dict[str, Any], int]:
    """What a checkpoint fixes: (run values env/steps/reward/algo/num_envs, PPO config, updates done)."""
    if path.suffix == ".zip":
        meta = read_sb3_metadata(path)
        run = {"env": meta["env"], "steps": meta["num_steps"], "reward": meta["reward"], "algo": meta["algo"],
               "smoothing": meta.get("smoothing", 0.0), "tradeoff": meta.get("tradeoff", False)}
        if "num_envs" in meta:
            run["num_envs"] = meta["num_envs"]
        run.update({key: meta[key] for key in ("generator", "data") if key in meta})
        return run, {}, 0
    state = read_checkpoint(path)
    check_world_size(path, state, distributed.launched_world_size())  # before any work, not at PPO.load
    meta = state["metadata"]
    missing = {"env", "num_steps", "reward"} - set(meta)
    if missing:
        raise ValueError(f"{path}: its metadata lacks {', '.join(sorted(missing))}; it was not written by adagen train")
    run = {"env": meta["env"], "steps": meta["num_steps"], "reward": meta["reward"], "algo": "ppo",
           "smoothing": meta.get("smoothing", 0.0), "tradeoff": meta.get("tradeoff", False)}
    if "num_envs" in meta:
        run["num_envs"] = meta["num_envs"]
    run.update({key: meta[key] for key in ("generator", "data") if key in meta})
    return run, state["config"], state["updates"]


def apply_resume(args: argparse.Namespace) -> int:
    """Take the run's settings from ``--resume``'s checkpoint; say which explicitly given flags it overrides.

    Returns the number of updates the checkpoint has done (0 for SB3).
    """
    path = Path(args.resume)
    if not path.exists():
        raise UsageError(f"--resume: no checkpoint at {path}")
    run, config, updates = resume_values(path)
    ignored = []
    for name, theirs in run.items():
        given = getattr(args, name)
        same = given is None or (get_paradigm(given).name == get_paradigm(theirs).name if name == "env" else given == theirs)
        if not same:
            ignored.append(f"{flag(name)} {given} (checkpoint: {theirs})")
        setattr(args, name, theirs)
    for name, theirs in config.items():
        given = getattr(args, name, None)
        if given is not None and given != theirs:
            ignored.append(f"{flag(name)} {given} (checkpoint: {theirs})")
        if name in PPO_FIELDS:
            setattr(args, name, theirs)
    if ignored:
        print(f"adagen train: resuming {path}, whose settings win; ignoring {', '.join(ignored)}", file=sys.stderr)
    return updates


def check_train_flags(args: argparse.Namespace) -> None:
    at_least(args, 1, "num_envs", "timesteps", "eval_samples")
    at_least(args, 2, "final_samples")
    at_least(args, 0, "updates", "checkpoint_every", "eval_every")
    if args.minutes is not None and not args.minutes > 0:
        raise UsageError(f"--minutes must be positive (leave it out for no cap), got {args.minutes}")
    if args.algo == "ppo":
        if args.timesteps is not None:
            raise UsageError("--timesteps is for --algo sb3-*; our PPO trains for --updates")
    else:
        ppo_only = [flag(n) for n in (*PPO_FIELDS, "updates", "minutes")
                    if n not in SHARED_WITH_SB3 and getattr(args, n) is not None]
        if ppo_only:
            raise UsageError(f"{', '.join(ppo_only)}: options of our PPO (--algo ppo), not of {args.algo}")


def cmd_train(args: argparse.Namespace) -> None:
    from adagen_agents.train import PPOLogger, train_ppo, train_sb3
    from adagen_env.envs import ScheduleVectorEnv

    done = apply_resume(args) if args.resume else 0
    args.algo = args.algo or "ppo"
    args.reward = args.reward or DEFAULT_REWARD
    args.smoothing = 0.0 if args.smoothing is None else args.smoothing
    check_train_flags(args)
    args.num_envs = args.num_envs or DEFAULT_NUM_ENVS
    try:
        config = PPOConfig(**{name: getattr(args, name) for name in PPO_FIELDS if getattr(args, name) is not None})
    except ValueError as e:  # "PPOConfig.epochs must be positive" -> "--epochs must be positive"
        raise UsageError(re.sub(r"PPOConfig\.(\w+)", lambda m: flag(m.group(1)), str(e))) from e
    ranks = distributed.launched_world_size()  # torchrun's processes, before joining their group
    if ranks > 1 and args.algo != "ppo":
        raise UsageError(f"torchrun runs our PPO (--algo ppo) only, not {args.algo}")
    if args.algo == "ppo" and not args.resume and config.episodes_per_update % (args.num_envs * ranks):
        per_rank = f" x {ranks} torchrun processes" if ranks > 1 else ""
        raise UsageError(f"--episodes-per-update {config.episodes_per_update} must be a multiple of "
                         f"--num-envs {args.num_envs}{per_rank}")
    distributed.init_from_launcher(args.device)
    target = make_target(args)
    paradigm = target.paradigm
    args.env = paradigm.env_id
    if args.smoothing == "method":
        args.smoothing = paradigm.smoothing
    reward = args.reward
    if target.generator is not None:
        if not args.reward.startswith("adversarial"):
            raise UsageError(f"--reward {args.reward} scores with networks of the shipped digits; with --generator use "
                             "--reward adversarial (its discriminator trains on your images)")
        reward = SCORERS[args.reward](device=args.device, real=target.real_train_images)
    main_rank = distributed.rank() == 0  # under torchrun only rank 0 logs, writes and compares
    threads = choose_threads(args.threads)  # every rank sets its threads
    if main_rank:
        print(threads)
    env = ScheduleVectorEnv(num_envs=args.num_envs, process=target.process, num_steps=args.steps, reward=reward,
                            smoothing=args.smoothing, tradeoff="random" if args.tradeoff else None)
    steps = env.core.num_steps
    generated_by = paradigm.name if target.generator is None else Path(target.generator.path).stem
    reward_name = f"{args.reward}-tradeoff" if args.tradeoff else args.reward
    name = f"{generated_by}-{args.algo}-{reward_name}-{steps}steps-seed{config.seed}"
    suffix = ".pt" if args.algo == "ppo" else ".zip"
    out = Path(args.out) if args.out else Path("policies") / (name + suffix)
    out = out.with_suffix(".zip") if args.algo != "ppo" else out
    logdir = Path(args.logdir or Path("runs") / name)
    if main_rank:
        check_writable_file(out, "--out")
        check_writable_folder(logdir, "--logdir")
    metadata = {"env": paradigm.env_id, "process": paradigm.name, "num_steps": steps, "reward": args.reward,
                "algo": args.algo, "num_envs": args.num_envs, "smoothing": env.core.smoothing, "tradeoff": args.tradeoff}
    if target.generator is not None:
        metadata.update(generator=str(Path(target.generator.path).resolve()), data=target.generator.source.path,
                        image_shape=[target.process.image_channels, *target.process.image_shape])
    evaluator = target.evaluator if main_rank and (args.eval_every or args.algo != "ppo") else None

    if args.algo == "ppo":
        updates = DEFAULT_UPDATES if args.updates is None else args.updates
        logger = PPOLogger(env, logdir, updates, done, args.eval_every, args.eval_samples,
                           watchdog=SlowdownWatchdog(switch=args.threads == "auto"), evaluator=evaluator) if main_rank else None
        try:
            result = train_ppo(env, config, out=out, updates=updates, minutes=args.minutes,
                               resume=args.resume, metadata=metadata, checkpoint_every=args.checkpoint_every,
                               on_update=logger)
        finally:
            if logger is not None:
                logger.close()
        agent = result.agent
        if not main_rank:
            return
        print(f"saved {out} ({agent.updates} updates, {agent.episodes} episodes, {agent.seconds:.0f} s of training)")
        capped = ""
        if result.stopped_by_time:
            capped = (f"*** stopped by the time cap after {agent.updates} of {updates} updates "
                      f"(--minutes {args.minutes:g}: {agent.seconds:.0f} s of training); "
                      f"continue with --resume {out} and a larger --minutes ***")
            print(capped)
            print(f"adagen train: {capped}", file=sys.stderr)
        elif not result.finished:
            raise UsageError(
                f"only {agent.updates} of {updates} updates ran; the policy is unfinished, so no comparison "
                f"(continue with --resume {out})"
            )
    else:
        out = train_sb3(env, args.algo, out=out, timesteps=args.timesteps or DEFAULT_TIMESTEPS, metadata=metadata,
                        logdir=logdir, seed=config.seed, resume=args.resume,
                        episodes_per_update=config.episodes_per_update, checkpoint_every=args.checkpoint_every,
                        eval_samples=args.eval_samples, evaluator=evaluator)
        print(f"saved {out}")
        capped = ""
    print(f"TensorBoard logs in {logdir}; comparing on {args.final_samples} samples:")
    # a trade-off policy at both ends of its knob
    num_steps, generators = policy_comparison(target, str(out), steps, tradeoffs=(0.0, 1.0) if args.tradeoff else (None,))
    compare(target, num_steps, generators, args.final_samples, REPORT_SEEDS[:1])
    if capped:
        print(capped)


# ---------------------------------------------------------------------- your own images


def default_out(folder: str, stem: str) -> Path:
    return Path(folder) / f"{stem}.pt"


def cmd_generator(args: argparse.Namespace) -> None:
    at_least(args, 1, "train_steps")
    source = data_source(args.data, None if args.channels == "auto" else int(args.channels))
    out = Path(args.out) if args.out else default_out("generators", f"{args.paradigm}-{Path(source.path).stem}")
    check_writable_file(out, "--out")
    train = source.load("train")
    c, (h, w) = train.channels, train.image_shape
    print(f"{len(train)} training images of {c}x{h}x{w}, {train.num_classes} classes (held out: "
          f"{HELDOUT_FRACTION:.0%}); training a {args.paradigm} generator for {args.train_steps} steps")
    # it predicts the clean image: our MLP cannot pass many pixels through to a noise or velocity output
    model, taken = train_denoiser(args.paradigm, train, args.train_steps, args.seed, device=check_device(args.device),
                                  target="clean")
    out.parent.mkdir(parents=True, exist_ok=True)
    save_generator(model, out, args.paradigm, source, taken)
    if taken < args.train_steps:
        print(f"adagen generator: interrupted after {taken} of {args.train_steps} steps; wrote the generator so far to {out}",
              file=sys.stderr)
        raise SystemExit(130)
    print(f"wrote {out}; next: adagen train --generator {out}")


def cmd_features(args: argparse.Namespace) -> None:
    from adagen_env.training.train_classifier import accuracy
    from adagen_env.training.train_encoder import reconstruction_error

    at_least(args, 1, "classifier_epochs", "encoder_steps")
    source = data_source(args.data, None if args.channels == "auto" else int(args.channels))
    out = Path(args.out) if args.out else default_out("features", Path(source.path).stem)
    check_writable_file(out, "--out")
    train, heldout = source.load("train"), source.load("heldout")
    shape = (train.channels, *train.image_shape)
    what = "a classifier and an autoencoder" if train.num_classes > 1 else "an autoencoder (one class: no classifier)"
    print(f"training {what} on {len(train)} images of {'x'.join(map(str, shape))}")
    classifier, encoder = train_feature_networks(train, args.classifier_epochs, args.encoder_steps)
    info = {"data": source.path, "reconstruction_mse_heldout": reconstruction_error(encoder, heldout.to_float())}
    if classifier is not None:
        info["accuracy_heldout"] = accuracy(classifier, heldout.to_float(), heldout.label_tensor())
    out.parent.mkdir(parents=True, exist_ok=True)
    save_features(out, classifier, encoder, shape, info)
    print(", ".join(f"{key} {value:.4f}" for key, value in info.items() if key != "data"))
    print(f"wrote {out}; next: adagen eval --generator G --features {out}")


# ---------------------------------------------------------------------- bench


def cmd_bench(args: argparse.Namespace) -> None:
    from adagen_agents.bench.algorithms import ALGORITHMS
    from adagen_agents.bench.tasks import TASKS

    if args.bench_command == "list":
        print(format_table([{"task": t.name, "env": t.env_id, "steps": t.num_steps, "NFE": t.nfe,
                             "budget samples": t.budget_samples, "budget env steps": t.budget_env_steps,
                             "eval": f"{t.eval_samples} samples, seed {t.eval_seed}"} for t in TASKS.values()],
                           ("task", "env", "steps", "NFE", "budget samples", "budget env steps", "eval")))
        print()
        print(format_table([{"algorithm": name, "what": one_line((fn.__doc__ or "").strip().split("\n")[0])}
                            for name, fn in ALGORITHMS.items()], ("algorithm", "what")))
        return
    results = Path(args.results)
    if args.bench_command == "report":
        from adagen_agents.bench.report import write_report

        print(f"wrote {write_report(results)}")
        print((results / "leaderboard.md").read_text())
        return
    from adagen_agents.bench.campaign import run_campaign

    algos = list(ALGORITHMS) if args.algo == ["all"] else args.algo
    tasks = list(TASKS) if args.task == ["all"] else args.task
    at_least(args, 1, "threads")
    torch.set_num_threads(args.threads)
    check_writable_folder(results, "--results")
    failed = run_campaign(algos, tasks, args.seed, results)
    if failed:
        raise UsageError(f"{failed} run(s) failed; see {results / 'failed'} (the others are saved; rerun to retry)")


# ---------------------------------------------------------------------- parser


def smoothing_flag(value: str) -> str | float:
    """``method`` or a number; the env checks its range and says what is allowed."""
    if value == "method":
        return value
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number in [0, 1) or method, not {value!r}") from None


def refine_flag(value: str) -> Refinement:
    """``--refine STEPS[:FRACTION]``: steps >= 1, 0 < fraction <= 1 (checked here, before any work)."""
    steps, _, fraction = value.partition(":")
    try:
        return Refinement(int(steps), float(fraction) if fraction else None)
    except ValueError as error:
        message = str(error) if "refinement" in str(error) else f"must be STEPS or STEPS:FRACTION, got {value!r}"
        raise argparse.ArgumentTypeError(message) from None


def threads_flag(value: str) -> str | int:
    """``--threads``: ``auto`` or a positive integer."""
    if value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be auto or a positive integer, got {value!r}")
    return int(value)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose epilog may be computed when help is shown (``lazy_epilog``)."""

    lazy_epilog = None

    def format_help(self) -> str:
        if self.lazy_epilog is not None:
            self.epilog = self.lazy_epilog()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="adagen", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,eval,sample,actions,bench,generator,features}")

    def add(name: str, help: str) -> Parser:
        return sub.add_parser(name, help=help, description=help, formatter_class=argparse.RawDescriptionHelpFormatter)

    def common(p: argparse.ArgumentParser, training: bool) -> None:
        p.add_argument("--env", metavar="ID", help=(
            f"{ENV_HELP} (default: {DEFAULT_ENV}; with --generator: {GENERATOR_ENVS['diffusion']} or "
            f"{GENERATOR_ENVS['flow']}, by the generator's paradigm)"))
        steps_default = "the process's own: 8, VAR 4" if training else "the policy's, else the process's own: 8, VAR 4"
        p.add_argument("--steps", type=int, help=f"generation steps (default: {steps_default})")
        p.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1 (default: %(default)s)")
        p.add_argument("--autocast", choices=tuple(AUTOCAST_DTYPES), default="off", help=(
            "run the generator's model calls under bf16 autocast, meant for GPUs; policies, rewards and metrics "
            "stay float32, and a policy trained either way runs either way (default: %(default)s)"))
        p.add_argument("--generator", metavar="PATH", help=(
            "your own generator, a file of adagen generator, instead of the env's shipped one; its images "
            "come from the data it was trained on (default: the shipped generator)"))
        p.add_argument("--data", metavar="PATH", help=(
            "with --generator: its training images, if they moved (same split) (default: the path it recorded)"))

    p = add("train", "train a schedule policy, then compare it with the hand-designed and best static schedules")
    common(p, training=True)
    features_flag(p)
    p.add_argument("--algo", choices=("ppo", *SB3_ALGOS), help="our batched PPO or an SB3 algorithm (default: ppo)")
    p.add_argument("--reward", choices=sorted(SCORERS), help=f"reward of the finished samples (default: {DEFAULT_REWARD})")
    p.add_argument("--smoothing", type=smoothing_flag, metavar="S", help=(
        "the method's action smoothing: a factor in [0, 1), or method for the paradigm's own "
        f"({', '.join(f'{p.name} {p.smoothing:g}' for p in PARADIGMS.values())}); kept in the policy (default: 0, off)"))
    p.add_argument("--tradeoff", action="store_true", default=None, help=(
        "train a policy conditioned on a fidelity-diversity value l in [0, 1], drawn per sample; the reward "
        "becomes (1 - l) x the reward + l x fidelity (a class probability from the projected discriminator's "
        "network, no metric's); choose l when sampling with --tradeoff (default: off)"))
    p.add_argument("--num-envs", type=int, help=f"samples generated together (default: {DEFAULT_NUM_ENVS})")
    p.add_argument("--updates", type=int, help=f"PPO updates in all, counting a resumed checkpoint's; ppo (default: {DEFAULT_UPDATES})")
    p.add_argument("--timesteps", type=int, help=f"environment steps in all; sb3-* (default: {DEFAULT_TIMESTEPS})")
    p.add_argument("--minutes", type=float, help=(
        "stop when training has taken this many minutes, counting the training seconds of resumed runs "
        "(rollouts and updates; evaluations, checkpoints and the final comparison are not counted); "
        "checked between episode batches and minibatches; a run stopped by it says so and still compares; "
        "ppo (default: no cap)"))
    p.add_argument("--threads", default="auto", type=threads_flag, help=(
        "torch threads: a number, or auto: torch's default (one per core) while the machine is otherwise "
        "idle at start, else 1; auto also drops to 1 thread when an update suddenly takes 3x longer than "
        "the ones before it (another process competing for the CPU) (default: %(default)s)"))
    p.add_argument("--checkpoint-every", type=int, default=10, help="updates between checkpoints; 0: only at the end (default: %(default)s)")
    p.add_argument("--eval-every", type=int, default=10, help="updates between FD evaluations while training; 0: never (default: %(default)s)")
    p.add_argument("--eval-samples", type=int, default=500, help="samples per FD evaluation while training (default: %(default)s)")
    p.add_argument("--final-samples", type=int, default=DEFAULT_NUM_SAMPLES, help="samples of the final comparison (default: %(default)s)")
    p.add_argument("--logdir", help="TensorBoard folder (default: runs/NAME)")
    p.add_argument("--out", help="checkpoint path (default: policies/NAME.pt, or .zip for sb3-*)")
    p.add_argument("--resume", metavar="PATH", help=(
        "continue from this checkpoint; its env, steps, reward, algorithm and PPO settings win over the "
        "flags (those that differ are listed). A .pt is read with torch.load(weights_only=True) and cannot "
        "run code; an SB3 .zip is a pickle by SB3's design and runs code when loaded: resume only .zip "
        "files you trust (default: start afresh)"))
    group = p.add_argument_group(
        "our PPO (--algo ppo)", "every field of PPOConfig; --seed and --episodes-per-update also apply to sb3-*")
    for name, f in PPO_FIELDS.items():
        group.add_argument(flag(name), *f.metadata["flags"], dest=name, type={"int": int, "float": float}[str(f.type)],
                           metavar="N" if str(f.type) == "int" else "X", help=f"{f.metadata['help']} (default: {f.default})")
    p.set_defaults(func=cmd_train)

    p = add("eval", "FD, precision, recall, class accuracy and wall time of schedules or a policy")
    common(p, training=False)
    features_flag(p)
    p.lazy_epilog = schedules_epilog
    p.add_argument("--schedule", nargs="+", default=["hand-designed"], metavar="NAME",
                   help="named static schedules of the env (listed below), or all (default: hand-designed)")
    p.add_argument("--policy", metavar="PATH", help=(
        "compare a trained policy with the hand-designed and the best static schedule: a .pt of adagen train "
        f"or export_policy, shipped (the env's shipped policy: the one trained for --steps where one ships, else its default), or an SB3 .zip with its .json. {POLICY_SAFETY} "
        "(default: none, evaluate --schedule)"))
    p.add_argument("--samples", type=int, default=DEFAULT_NUM_SAMPLES, help="samples per evaluation (default: %(default)s)")
    p.add_argument("--seed", type=int, default=REPORT_SEEDS.start, help=(
        f"first noise seed; seeds {EVALUATION_SEEDS.start} to {EVALUATION_SEEDS.stop - 1} are evaluation seeds, "
        f"which no tuning step of this package has seen (default: %(default)s)"))
    p.add_argument("--seeds", type=int, default=1, help="number of seeds per schedule (default: %(default)s)")
    p.add_argument("--json", metavar="PATH", help="also write the results to this JSON file (default: none)")
    refine_option(p)
    tradeoff_option(p)
    p.set_defaults(func=cmd_eval)

    p = add("bench", "AdaGen-Bench: RL algorithms and black-box baselines on a fixed task suite, and a leaderboard")
    bench = p.add_subparsers(dest="bench_command", required=True, metavar="{list,run,report}",
                             help="list the tasks and algorithms, run a campaign, or report (required)")
    bench.add_parser("list", help="the tasks and the algorithms")
    b = bench.add_parser("run", help="run every (algorithm, task, seed) not done yet (resumable)")
    b.add_argument("--algo", nargs="+", required=True, metavar="NAME",
                   help="algorithms (adagen bench list), or all (required)")
    b.add_argument("--task", nargs="+", default=["all"], metavar="NAME", help="tasks, or all (default: all)")
    b.add_argument("--seed", nargs="+", type=int, default=[0, 1, 2], help="training seeds (default: 0 1 2)")
    b.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s; run two campaigns "
                   "side by side on a 2-core machine)")
    for b in (b, bench.add_parser("report", help="write leaderboard.md and the plots from the finished runs")):
        b.add_argument("--results", default="benchmarks/results/bench",
                       help="folder of the per-run JSON files and the report (default: %(default)s)")
    p.set_defaults(func=cmd_bench)

    p = add("actions", "plot the parameters a policy chooses against the step, per sample and per class")
    common(p, training=False)
    p.add_argument("--policy", required=True, metavar="PATH", help=(
        f"the policy: a .pt, shipped, or an SB3 .zip. {POLICY_SAFETY} (required)"))
    p.add_argument("--samples", type=int, default=500, help="class-balanced samples to record (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default: %(default)s)")
    p.add_argument("--out", default="actions.png", help="the PNG to write (default: %(default)s)")
    tradeoff_option(p)
    p.set_defaults(func=cmd_actions)

    p = add("sample", "write a grid of samples of one class as a PNG")
    common(p, training=False)
    p.lazy_epilog = schedules_epilog
    p.add_argument("--schedule", default="hand-designed", metavar="NAME",
                   help="a named static schedule of the env, listed below (default: %(default)s)")
    p.add_argument("--policy", metavar="PATH", help=(
        f"sample with a trained policy instead: a .pt, shipped, or an SB3 .zip. {POLICY_SAFETY} (default: none)"))
    p.add_argument("--label", type=int, required=True, help="the class to sample (required)")
    p.add_argument("--n", type=int, default=64, help="number of samples (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default: %(default)s)")
    p.add_argument("--out", default="samples.png", help="the PNG to write (default: %(default)s)")
    refine_option(p)
    tradeoff_option(p)
    p.set_defaults(func=cmd_sample)

    p = add("generator", "train a small diffusion or flow generator on your images (a folder or .npz), for --generator")
    p.add_argument("--paradigm", choices=sorted(GENERATOR_PROCESSES), required=True, help="what it learns (required)")
    data_flags(p)
    p.add_argument("--train-steps", type=int, default=TRAIN_STEPS, help="optimiser steps (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    p.add_argument("--out", help="the generator file to write (default: generators/PARADIGM-DATA.pt)")
    p.set_defaults(func=cmd_generator)

    p = add("features", "train the evaluation's feature networks on your images, for --features")
    data_flags(p)
    p.add_argument("--classifier-epochs", type=int, default=CLASSIFIER_EPOCHS, help="classifier epochs (default: %(default)s)")
    p.add_argument("--encoder-steps", type=int, default=ENCODER_STEPS, help="autoencoder steps (default: %(default)s)")
    p.add_argument("--out", help="the features file to write (default: features/DATA.pt)")
    p.set_defaults(func=cmd_features)
    return parser


def data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, metavar="PATH", help=(
        "a folder of images (class sub-folders give the labels; no sub-folders: one class) or an .npz; "
        f"one size, at least {MIN_SIZE}x{MIN_SIZE}; a fixed {100 * HELDOUT_FRACTION:.0f} %% is held out for evaluation (required)"))
    p.add_argument("--channels", default="auto", choices=("auto", "1", "3"),
                   help="1: grey, 3: RGB, auto: RGB if any image is in colour (default: %(default)s)")


def refine_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--refine", type=refine_flag, metavar="STEPS[:FRACTION]", help=(
        "refine the finished samples with STEPS more steps (a model call each, Heun two; counted in the nfe column): MaskGIT re-masks "
        "the FRACTION of tokens it was least confident of and re-predicts them; diffusion and flow re-noise to "
        "FRACTION of the time range and integrate again; VAR has none. FRACTION defaults to MaskGIT 0.125, "
        "diffusion and flow 0.1, picked on tuning seeds. Measured, it does not beat spending the same calls on more "
        "steps (README, Inference-time refinement) (default: no refinement)"))


def tradeoff_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tradeoff", type=tradeoff_flag, metavar="L", help=(
        "for a policy trained with adagen train --tradeoff: 0 favours diversity (recall), 1 fidelity "
        "(precision), no retraining (default: 0 for such a policy)"))


def tradeoff_flag(value: str) -> float:
    """``--tradeoff L``: a number in [0, 1], checked before any work."""
    try:
        tradeoff = float(value)
    except ValueError:
        tradeoff = float("nan")
    if not 0 <= tradeoff <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1] (0: diversity, 1: fidelity), got {value!r}")
    return tradeoff


def features_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--features", metavar="PATH", help=(
        "with --generator: a file of adagen features, whose networks trained on your images give the "
        "classifier (when there are classes) and encoder spaces (default: the pixel space only)"))


def main(argv: list[str] | None = None) -> None:
    """Run the command; problems end it with one line (exit 1), Ctrl-C with status 130."""
    args = build_parser().parse_args(argv)
    prefix = f"adagen {args.command}"
    try:
        at_least(args, 1, "steps")
        check_device(getattr(args, "device", "cpu"))
        args.func(args)
    except (UsageError, FileNotFoundError, ValueError, ImportError) as e:
        raise SystemExit(f"{prefix}: {one_line(str(e))}") from None
    except KeyboardInterrupt as e:
        if distributed.rank() == 0:  # under torchrun every rank stops; one says so
            print(f"\n{prefix}: {one_line(str(e)) or 'interrupted'}", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        distributed.leave()


if __name__ == "__main__":
    main()
