"""The ``adagen`` command: train schedule policies, evaluate schedules and policies, write sample grids.

This module parses and dispatches only; each command's work is in :mod:`adagen_agents.commands`.
The episode's options are generated from :class:`~adagen_env.envs.spec.EpisodeSpec` and our
PPO's from :class:`~adagen_agents.ppo.PPOConfig`, so a new knob gets its flag from its field.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from adagen_agents.bench.tasks import SUITES as BENCH_SUITES
from adagen_agents.bench.tasks import get_task as get_bench_task
from adagen_agents.bench.trial import TRACKS as BENCH_TRACKS
from adagen_agents.commands import actions, bench, evaluate, export, own_images, sample, train
from adagen_agents.commands.common import PPO_FIELDS, RESULTS_DIR, flag
from adagen_agents.sb3_algorithms import SB3_ALGORITHMS
from adagen_agents.target import DEFAULT_ENV, GENERATOR_ENVS
from adagen_env.data.user_data import GENERATOR_PROCESSES, HELDOUT_FRACTION, MIN_SIZE
from adagen_env.envs.core import MAX_SEED
from adagen_env.envs.spec import KNOBS
from adagen_env.evaluation.generators import MAX_SEED as MAX_EVAL_SEED
from adagen_env.evaluation.metrics import DEFAULT_NUM_SAMPLES
from adagen_env.evaluation.seeds import EVALUATION_SEEDS, REPORT_SEEDS, SEARCH_SEEDS
from adagen_env.paradigms import PARADIGMS
from adagen_env.runtime import distributed
from adagen_env.runtime.devices import check_device
from adagen_env.runtime.files import one_line
from adagen_env.runtime.signals import Terminated
from adagen_env.training.train_classifier import EPOCHS as CLASSIFIER_EPOCHS
from adagen_env.training.train_denoiser import STEPS as TRAIN_STEPS
from adagen_env.training.train_encoder import STEPS as ENCODER_STEPS

PATH_FLAGS = (
    "policy",
    "generator",
    "data",
    "features",
    "pipeline",
    "class_map",
    "resume",
    "out",
    "json",
    "logdir",
    "results",
)
ENV_HELP = f"environment id, one of {', '.join(p.env_id for p in PARADIGMS.values())}"
RESUMED_OUT = (
    "with --resume DIR/NAME.pt: DIR/NAME-resumed.pt (then NAME-resumed-2.pt, ...), and the resumed file stays "
    "as it is; --out naming the resumed file continues it in place"
)
POLICY_SAFETY = (
    "A .pt file is read with torch.load(weights_only=True) and cannot run code; an SB3 .zip is a "
    "pickle by SB3's design and can run code when loaded: use only .zip files you trust."
)


def argument_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """argparse's type from a parse function that raises ``ValueError``: the message becomes the error."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def add_knobs(p: argparse.ArgumentParser, sampling: bool) -> None:
    """One option per episode knob (``sampling``: only the knobs a policy may be sampled with otherwise).
    Every default is ``None``: not given, so a policy's or a checkpoint's own value stands."""
    title = "episode (overrides of the policy's own, or of the defaults)" if sampling else "episode"
    group = p.add_argument_group(title, "every knob of the episode spec (adagen_env.EpisodeSpec)")
    for name, f in KNOBS.items():
        meta = f.metadata
        if sampling and not meta["sampling"]:
            continue
        extra = {} if meta["const"] is None else {"nargs": "?", "const": meta["const"]}
        group.add_argument(
            flag(name),
            dest=name,
            metavar=meta["metavar"],
            help=meta["help"],
            type=argument_type(meta["parse"] or str),
            **extra,
        )


def yes_no(value: str) -> bool:
    """A true/false flag of PPOConfig: true, false, yes, no, 1 or 0."""
    words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    if value.lower() not in words:
        raise argparse.ArgumentTypeError(f"must be true or false, got {value!r}")
    return words[value.lower()]


def seed_flag(maximum: int) -> Callable[[str], int]:
    """``--seed``: an integer in 0..``maximum`` (what the random generators behind it take), in words otherwise."""

    def seed(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = -1
        if not 0 <= number <= maximum:
            raise argparse.ArgumentTypeError(f"must be an integer in 0..{maximum:,}, got {value!r}")
        return number

    return seed


def threads_flag(value: str) -> str | int:
    """``--threads``: ``auto`` or a positive integer."""
    if value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be auto or a positive integer, got {value!r}")
    return int(value)


def threads_option(p: argparse.ArgumentParser, when: str = "auto checks the other processes' load at start") -> None:
    """``--threads`` of a command that trains (:func:`adagen_agents.threads.choose_threads`); ``when``
    says when ``auto`` looks at the machine's load."""
    p.add_argument(
        "--threads",
        default="auto",
        type=threads_flag,
        help=(
            "torch threads: a number (fixed), or auto: torch's default (one per core) while the machine is "
            f"otherwise idle, else 1; {when} (default: %(default)s)"
        ),
    )


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that takes no abbreviations (``--episodes`` is not ``--episodes-per-update``),
    and whose epilog may be computed when help is shown (``lazy_epilog``)."""

    lazy_epilog = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def format_help(self) -> str:
        if self.lazy_epilog is not None:
            self.epilog = self.lazy_epilog()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="adagen",
        description="Train schedule policies, evaluate schedules and policies, write "
        "sample grids, run AdaGen-Bench, and bring your own images.",
    )
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        parser_class=Parser,
        metavar="{train,eval,sample,actions,export,bench,generator,features}",
    )

    def add(name: str, help: str) -> Parser:
        return sub.add_parser(name, help=help, description=help, formatter_class=argparse.RawDescriptionHelpFormatter)

    def target(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--env",
            metavar="ID",
            help=(
                f"{ENV_HELP} (default: {DEFAULT_ENV}; with --generator: {GENERATOR_ENVS['diffusion']} or "
                f"{GENERATOR_ENVS['flow']}, by the generator's paradigm)"
            ),
        )
        p.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1 (default: %(default)s)")
        p.add_argument(
            "--generator",
            metavar="PATH",
            help=(
                "your own generator, a file of adagen generator, instead of the env's shipped one; its images "
                "come from the data it was trained on (default: the shipped generator)"
            ),
        )
        p.add_argument(
            "--data",
            metavar="PATH",
            help=(
                "with --generator: its training images, if they moved (same split) (default: the path it "
                "recorded); with --pipeline (required there): your images, a folder (class sub-folders give the "
                "classes) or an .npz, of the pipeline's image size (for a text-to-image pipeline: a folder with "
                'a metadata.jsonl of {"file_name", "text"} captions); '
                f"{100 * HELDOUT_FRACTION:.0f} %% held out (of the captions, with their images) are the "
                "evaluation's reference, the rest the reward's real images"
            ),
        )
        p.add_argument(
            "--pipeline",
            metavar="DIR",
            help=(
                "a diffusers pipeline instead of a shipped generator: a save_pretrained folder, or a hub id "
                "already in the local cache (nothing is downloaded), of a DiT, UNet2DModel or Stable Diffusion "
                "(UNet2DConditionModel) pipeline; it runs at "
                "--steps, else its policy's steps, else its own default (default: none)"
            ),
        )
        p.add_argument(
            "--class-map",
            metavar="FILE",
            help=(
                "with --pipeline: a JSON file {class folder: model class id or label name} giving the model's "
                "class of each of --data's classes (default: by name: a folder named as one of the pipeline's "
                "labels, e.g. DiT's ImageNet id2label, or as a class id; a model without classes compares "
                "with all of --data as one class)"
            ),
        )
        p.add_argument(
            "--micro-batch",
            type=int,
            metavar="N",
            help=(
                "with --pipeline: run the model, the VAE and the reward's discriminator on at most N samples at a "
                "time (a guided call on 2N), to fit memory; the images are the same, the rewards up to float "
                "rounding (default: the whole batch at once)"
            ),
        )

    def policy_of(p: argparse.ArgumentParser) -> None:
        """A command about one trained policy: its target, the sampling knobs, ``--policy``."""
        target(p)
        add_knobs(p, sampling=True)
        p.add_argument(
            "--policy",
            required=True,
            metavar="PATH",
            help=(f"the policy: a .pt, shipped, or an SB3 .zip. {POLICY_SAFETY} (required)"),
        )

    def features(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--features",
            metavar="PATH",
            help=(
                "with --generator: a file of adagen features, whose networks trained on your images give the "
                "ensemble's feature spaces beside pixels (the classifiers' only when there are classes) (default: "
                "the pixel space only)"
            ),
        )

    # ------------------------------------------------------------------ train
    p = add("train", "train a schedule policy, then compare it with the hand-designed and best static schedules")
    target(p)
    features(p)
    add_knobs(p, sampling=False)
    p.add_argument(
        "--algo",
        choices=("ppo", *SB3_ALGORITHMS),
        help="our batched PPO or an SB3 / sb3-contrib algorithm (default: ppo)",
    )
    p.add_argument("--num-envs", type=int, help=f"samples generated together (default: {train.DEFAULT_NUM_ENVS})")
    p.add_argument(
        "--updates",
        type=int,
        help=f"PPO updates in all, counting a resumed checkpoint's; ppo (default: {train.DEFAULT_UPDATES})",
    )
    p.add_argument(
        "--timesteps", type=int, help=f"environment steps in all; SB3 algorithms (default: {train.DEFAULT_TIMESTEPS})"
    )
    p.add_argument(
        "--minutes",
        type=float,
        help=(
            "stop when training has taken this many minutes, counting the training seconds of resumed runs "
            "(rollouts and updates; evaluations, checkpoints and the final comparison are not counted); "
            "checked between episode batches and minibatches; a run stopped by it says so and still compares; "
            "ppo (default: no cap)"
        ),
    )
    threads_option(
        p,
        "auto checks the other processes' load at start and, with ppo, again every 10 s or more (after an "
        "update), switching when it changes, and drops to 1 thread when an update suddenly takes 3x longer "
        "than the ones before it",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=10,
        help="updates between checkpoints; 0: only at the end (default: %(default)s)",
    )
    p.add_argument(
        "--eval-every",
        type=int,
        default=10,
        help="updates between FD evaluations while training; 0: never (default: %(default)s)",
    )
    p.add_argument(
        "--eval-samples", type=int, default=500, help="samples per FD evaluation while training (default: %(default)s)"
    )
    p.add_argument(
        "--final-samples",
        type=int,
        default=DEFAULT_NUM_SAMPLES,
        help="samples of the final comparison (default: %(default)s)",
    )
    p.add_argument(
        "--logdir", help=f"TensorBoard folder, which also gets the final comparison (default: {RESULTS_DIR}/runs/NAME)"
    )
    p.add_argument(
        "--out",
        help=f"checkpoint path (default: {RESULTS_DIR}/policies/NAME.pt, or .zip for SB3; {RESUMED_OUT})",
    )
    p.add_argument(
        "--resume",
        metavar="PATH",
        help=(
            "continue from this checkpoint; its env, algorithm, episode and PPO settings win over the flags "
            "(those that differ are listed). A .pt is read with torch.load(weights_only=True) and cannot run code; "
            "an SB3 .zip is a pickle by SB3's design and runs code when loaded: resume only .zip files you trust "
            "(default: start afresh)"
        ),
    )
    group = p.add_argument_group(
        "our PPO (--algo ppo)",
        "every field of PPOConfig; --seed and --episodes-per-update also apply to SB3 algorithms",
    )
    for name, f in PPO_FIELDS.items():
        group.add_argument(
            flag(name),
            *f.metadata["flags"],
            dest=name,
            type=seed_flag(MAX_SEED) if name == "seed" else {"int": int, "float": float, "bool": yes_no}[str(f.type)],
            metavar={"int": "N", "bool": "{true,false}"}.get(str(f.type), "X"),
            help=f"{f.metadata['help']} (default: {f.default})",
        )
    overwrite(p)
    trust_pickle(p)
    p.set_defaults(func=train.run)

    # ------------------------------------------------------------------ eval
    p = add(
        "eval", "FD, KID, precision, recall, class accuracy and wall time of schedules or a policy, compared paired"
    )
    target(p)
    features(p)
    add_knobs(p, sampling=True)
    p.lazy_epilog = evaluate.schedules_epilog
    p.add_argument(
        "--schedule",
        nargs="+",
        default=["hand-designed"],
        metavar="NAME",
        help=(
            "named static schedules of the env (listed below), a schedule of adagen export (FILE.json), or all "
            "(default: hand-designed)"
        ),
    )
    p.add_argument(
        "--policy",
        metavar="PATH",
        help=(
            "compare a trained policy with the hand-designed and the best static schedule: a .pt of adagen train "
            "or export_policy, shipped (the env's shipped policy: the one trained for --steps where one ships, else "
            f"its default), or an SB3 .zip with its .json. {POLICY_SAFETY} (default: none, evaluate --schedule)"
        ),
    )
    p.add_argument("--samples", type=int, default=DEFAULT_NUM_SAMPLES, help="samples per seed (default: %(default)s)")
    p.add_argument(
        "--seed",
        type=seed_flag(MAX_EVAL_SEED),
        default=REPORT_SEEDS.start,
        help=(
            f"first noise seed; seeds {EVALUATION_SEEDS.start} to {EVALUATION_SEEDS.stop - 1} are evaluation seeds, "
            "which no tuning step of this package has seen (default: %(default)s)"
        ),
    )
    p.add_argument("--seeds", type=int, default=1, help="number of seeds per schedule (default: %(default)s)")
    p.add_argument(
        "--json",
        metavar="PATH",
        help="also write the report to this JSON file, and its Markdown page beside it (default: none)",
    )
    overwrite(p)
    trust_pickle(p)
    p.set_defaults(func=evaluate.run)

    # ------------------------------------------------------------------ bench
    p = add("bench", "AdaGen-Bench: RL algorithms and black-box baselines on a fixed task suite, and a leaderboard")
    b_sub = p.add_subparsers(
        dest="bench_command",
        required=True,
        parser_class=Parser,
        metavar="{list,run,tune,report}",
        help="list the tasks and algorithms, run a campaign, tune for the tuned track, or report (required)",
    )
    b_sub.add_parser("list", help="the suites' tasks and the algorithms")
    b = b_sub.add_parser("run", help="run every (algorithm, task, seed) not done yet (resumable)")
    b.add_argument(
        "--algo",
        nargs="+",
        required=True,
        metavar="NAME",
        help="algorithms (adagen bench list), all, or module:function for one of your own, imported from the "
        "current folder or PYTHONPATH (required)",
    )
    b.add_argument(
        "--task", nargs="+", default=["all"], metavar="NAME", help="tasks, or all: the suite's (default: all)"
    )
    seeds = b.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seed",
        nargs="+",
        type=seed_flag(MAX_EVAL_SEED - SEARCH_SEEDS.stop),
        help="training seeds (default: the suite's, "
        + ", ".join(f"{s.name} {s.seeds[0]} to {s.seeds[-1]}" for s in BENCH_SUITES.values())
        + ")",
    )
    seeds.add_argument(
        "--seeds", type=int, metavar="N", help="training seeds 0 to N-1, instead of --seed (default: --seed's)"
    )
    b.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per run (default: %(default)s)",
    )
    b.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs at a time, each in its own process with --threads threads: keep jobs x threads within the "
        "cores, e.g. --jobs 2 on a 2-core machine (default: %(default)s)",
    )
    b.add_argument(
        "--device",
        default="cpu",
        help="torch device of the generator, the agent and the evaluation: cpu, cuda, cuda:1 (default: %(default)s)",
    )
    b.add_argument(
        "--track",
        choices=list(BENCH_TRACKS),
        default="reward",
        help="reward: every method sees only the env's reward (black-box searches maximise it); selection: methods "
        "may also query FD in the selection space, a network no evaluation space uses, its samples counted; "
        "tuned: the reward track with each algorithm's hyperparameters from adagen bench tune "
        "(default: %(default)s)",
    )
    tune = b_sub.add_parser(
        "tune", help="tune algorithms for the tuned track: the same Optuna budget each, scored in the selection space"
    )
    tune.add_argument(
        "--algo", nargs="+", required=True, metavar="NAME", help="RL algorithms to tune (adagen bench list) (required)"
    )
    tune.add_argument(
        "--trials", type=int, default=20, help="Optuna trials per algorithm, each on every task (default: %(default)s)"
    )
    tune.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    tune.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="a trial's tasks at a time, each in its own process with --threads threads: keep jobs x threads "
        "within the cores; the scores are the same (default: %(default)s)",
    )
    tune.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    for command in (
        b,
        tune,
        b_sub.add_parser("report", help="write leaderboard.md and the plots from the finished runs"),
    ):
        command.add_argument(
            "--suite",
            choices=list(BENCH_SUITES),
            default="full",
            help="the task suite: "
            + "; ".join(
                f"{s.name}: {', '.join(s.tasks)}, {get_bench_task(s.tasks[0]).budget_samples:,} samples each"
                for s in BENCH_SUITES.values()
            )
            + " (default: %(default)s)",
        )
        command.add_argument(
            "--results",
            help="folder of the per-run JSON files and the report (default: "
            + ", ".join(f"{RESULTS_DIR}/{s.results} for {s.name}" for s in BENCH_SUITES.values())
            + ")",
        )
    p.set_defaults(func=bench.run)

    # ------------------------------------------------------------------ actions
    p = add("actions", "plot the parameters a policy chooses against the step, per sample and per class")
    policy_of(p)
    p.add_argument("--samples", type=int, default=500, help="class-balanced samples to record (default: %(default)s)")
    p.add_argument("--seed", type=seed_flag(MAX_SEED), default=0, help="noise seed (default: %(default)s)")
    p.add_argument("--out", default=f"{RESULTS_DIR}/actions.png", help="the PNG to write (default: %(default)s)")
    overwrite(p)
    trust_pickle(p)
    p.set_defaults(func=actions.run)

    # ------------------------------------------------------------------ export
    p = add("export", "a trained policy as a static schedule per class (a pipeline's timesteps and guidance scales)")
    policy_of(p)
    p.add_argument(
        "--samples-per-class",
        type=int,
        default=64,
        help="samples whose actions are averaged per class (default: %(default)s)",
    )
    p.add_argument("--seed", type=seed_flag(MAX_SEED), default=0, help="noise seed (default: %(default)s)")
    p.add_argument(
        "--out",
        default=f"{RESULTS_DIR}/schedule.json",
        help="the JSON to write; adagen eval|sample --schedule take it (default: %(default)s)",
    )
    overwrite(p)
    trust_pickle(p)
    p.set_defaults(func=export.run)

    # ------------------------------------------------------------------ sample
    p = add("sample", "write a grid of samples of one class as a PNG")
    target(p)
    add_knobs(p, sampling=True)
    p.lazy_epilog = evaluate.schedules_epilog
    p.add_argument(
        "--schedule",
        default="hand-designed",
        metavar="NAME",
        help="a named static schedule of the env, listed below, or a schedule of adagen export (FILE.json) "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--policy",
        metavar="PATH",
        help=(f"sample with a trained policy instead: a .pt, shipped, or an SB3 .zip. {POLICY_SAFETY} (default: none)"),
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--label",
        metavar="CLASS",
        help=(
            "the class to sample: its name (with --generator or --pipeline, a class sub-folder of your images; "
            "with --pipeline also the pipeline's label of a mapped class, e.g. 'red fox'; a name wins over a "
            "number) or its number (required, or --prompt)"
        ),
    )
    what.add_argument(
        "--prompt",
        metavar="TEXT",
        help="with a text-to-image --pipeline: the prompt to sample, any text (required there, instead of --label)",
    )
    p.add_argument("--n", type=int, default=64, help="number of samples (default: %(default)s)")
    p.add_argument("--seed", type=seed_flag(MAX_SEED), default=0, help="noise seed (default: %(default)s)")
    p.add_argument("--out", default=f"{RESULTS_DIR}/samples.png", help="the PNG to write (default: %(default)s)")
    overwrite(p)
    trust_pickle(p)
    p.set_defaults(func=sample.run)

    # ------------------------------------------------------------------ your own images
    p = add("generator", "train a small diffusion or flow generator on your images (a folder or .npz), for --generator")
    p.add_argument("--paradigm", choices=sorted(GENERATOR_PROCESSES), help="what it learns (required, unless --resume)")
    data_flags(p, required=False)
    p.add_argument("--train-steps", type=int, help=f"optimiser steps (default: {TRAIN_STEPS})")
    p.add_argument("--seed", type=seed_flag(MAX_SEED), help="training seed (default: 0)")
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    threads_option(p)
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=500,
        help=(
            "steps between checkpoints into --out, which then also holds the state to resume from; 0: only when "
            "stopped (default: %(default)s)"
        ),
    )
    p.add_argument(
        "--out",
        help=f"the generator file to write (default: {RESULTS_DIR}/generators/PARADIGM-DATA.pt; {RESUMED_OUT})",
    )
    p.add_argument(
        "--resume",
        metavar="PATH",
        help=(
            "continue the unfinished run of this generator file (written when a run is stopped or checkpoints); "
            "its paradigm, data, steps and seed win over the flags (default: start afresh)"
        ),
    )
    overwrite(p)
    p.set_defaults(func=own_images.run_generator)

    p = add("features", "train the evaluation's feature networks on your images, for --features")
    data_flags(p)
    p.add_argument(
        "--classifier-epochs",
        type=int,
        default=CLASSIFIER_EPOCHS,
        help="the CNN classifier's epochs; the MLP classifier's scale with them (default: %(default)s)",
    )
    p.add_argument(
        "--encoder-steps",
        type=int,
        default=ENCODER_STEPS,
        help="the MLP autoencoder's steps; the conv autoencoder's and the contrastive encoder's scale with "
        "them (default: %(default)s)",
    )
    threads_option(p)
    p.add_argument("--out", help=f"the features file to write (default: {RESULTS_DIR}/features/DATA.pt)")
    overwrite(p)
    p.set_defaults(func=own_images.run_features)
    return parser


def trust_pickle(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help=(
            "load an SB3 .zip given to --policy or --resume: it is a pickle, which runs any code it holds when loaded; "
            "give this only for files you trust (default: off, such a file is refused)"
        ),
    )


def overwrite(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--overwrite",
        action="store_true",
        help=("replace an existing output file; without it an existing one is refused before any work (default: off)"),
    )


def data_flags(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument(
        "--data",
        required=required,
        metavar="PATH",
        help=(
            "a folder of images (class sub-folders give the labels; no sub-folders: one class) or an .npz; "
            f"one size, at least {MIN_SIZE}x{MIN_SIZE}; a fixed {100 * HELDOUT_FRACTION:.0f} %% is held out for "
            "evaluation " + ("(required)" if required else "(required, unless --resume: then where its images are now)")
        ),
    )
    p.add_argument(
        "--channels",
        default="auto",
        choices=("auto", "1", "3"),
        help="1: grey, 3: RGB, auto: RGB if any image is in colour (default: %(default)s)",
    )


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(f"stopped by signal {signal.Signals(signum).name}")


def main(argv: list[str] | None = None) -> None:
    """Run the command; problems end it with one line (exit 1), Ctrl-C with status 130 and SIGTERM
    with 143, both after saving what the command has done so far."""
    args = build_parser().parse_args(argv)
    prefix = f"adagen {args.command}"
    code: int | str = 0
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        for name in PATH_FLAGS:
            if getattr(args, name, None) == "":
                raise ValueError(f"--{name.replace('_', '-')} needs a path, got an empty one")
        if getattr(args, "num_steps", None) is not None and args.num_steps < 1:
            raise ValueError(f"--steps must be at least 1, got {args.num_steps}")
        check_device(getattr(args, "device", "cpu"))
        args.func(args)
    except (FileNotFoundError, ValueError, ImportError) as e:
        code = f"{prefix}: {one_line(str(e))}"
    except KeyboardInterrupt as e:
        if distributed.rank() == 0:  # under torchrun every rank stops; one says so
            print(f"\n{prefix}: {one_line(str(e)) or 'interrupted'}", file=sys.stderr)
        code = 128 + signal.SIGTERM if isinstance(e, Terminated) or isinstance(e.__context__, Terminated) else 130
    except SystemExit as e:
        code = e.code if e.code is not None else 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if distributed.leave():
        # under torchrun, skip the interpreter's teardown: gloo's threads can abort the process there
        # after every file is written (torch destroys process groups only by reference counting)
        if isinstance(code, str):
            print(code, file=sys.stderr)
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
