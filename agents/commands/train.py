"""``adagen train``: train a schedule policy (our PPO or an SB3 algorithm), then compare it.

Everything the run is checked before it starts: flags, files, the episode spec against the
generator. A resumed checkpoint's card (env, algorithm, episode spec) and PPO settings win over
the flags, and the flags they override are listed. The final comparison (the policy against the
hand-designed and best static schedules on an evaluation seed) is printed and written beside
the TensorBoard logs.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import torch

from adagen_agents.commands.common import (
    MIN_SCORED,
    PPO_FIELDS,
    RESULTS_DIR,
    at_least,
    check_out,
    command_target,
    flag,
    learned_name,
    resumable_out,
    say_resume,
    show,
)
from adagen_agents.files import check_writable_folder
from adagen_agents.loading import read_checkpoint, read_sb3_card
from adagen_agents.ppo import PPOConfig, check_world_size
from adagen_agents.threads import ThreadWatchdog, choose_threads
from adagen_agents.train import DEFAULT_UPDATES
from adagen_env.envs.spec import KNOBS, EpisodeSpec
from adagen_env.evaluation.experiment import run_experiment
from adagen_env.evaluation.seeds import REPORT_SEEDS
from adagen_env.runtime import distributed

DEFAULT_NUM_ENVS = 256
DEFAULT_TIMESTEPS = 200_000
SHARED_WITH_SB3 = ("seed", "episodes_per_update")  # PPOConfig fields that the SB3 path uses too


def run(args: argparse.Namespace) -> None:
    from adagen_agents.train import PPOLogger, train_ppo, train_sb3
    from adagen_env.envs import ScheduleVectorEnv

    done = apply_resume(args) if args.resume else 0
    args.algo = args.algo or "ppo"
    check_flags(args)
    num_envs = args.num_envs or DEFAULT_NUM_ENVS
    try:
        config = PPOConfig(**{name: getattr(args, name) for name in PPO_FIELDS if getattr(args, name) is not None})
    except ValueError as e:  # "PPOConfig.epochs must be positive" -> "--epochs must be positive"
        raise ValueError(re.sub(r"PPOConfig\.(\w+)", lambda m: flag(m.group(1)), str(e))) from e
    spec = EpisodeSpec(**{name: getattr(args, name) for name in KNOBS if getattr(args, name, None) is not None})
    ranks = distributed.launched_world_size()  # torchrun's processes, before joining their group
    if ranks > 1 and args.algo != "ppo":
        raise ValueError(f"torchrun runs our PPO (--algo ppo) only, not {args.algo}")
    if args.algo == "ppo" and not args.resume and config.episodes_per_update % (num_envs * ranks):
        per_rank = f" x {ranks} torchrun processes" if ranks > 1 else ""
        raise ValueError(
            f"--episodes-per-update {config.episodes_per_update} must be a multiple of --num-envs {num_envs}{per_rank}"
        )
    distributed.init_from_launcher(args.device)
    target = command_target(args)
    spec = target.resolve(spec.replace(reward=target.reward(spec.reward)))
    main_rank = distributed.rank() == 0  # under torchrun only rank 0 logs, writes and compares
    default_threads = torch.get_num_threads()  # torch's own count, which --threads auto may come back to
    threads = choose_threads(args.threads)  # every rank sets its threads
    if main_rank:
        print(threads)
    env = ScheduleVectorEnv(num_envs, target.process, spec=spec)
    card = target.card(env.core, args.algo)
    reward = card.spec.to_dict()["reward"]
    name = (
        f"{target.name}-{args.algo}-{reward}{'-tradeoff' if spec.tradeoff is not None else ''}-"
        f"{spec.num_steps}steps-seed{config.seed}"
    )
    suffix = ".pt" if args.algo == "ppo" else ".zip"
    out = resumable_out(args, Path(RESULTS_DIR) / "policies" / (name + suffix))
    out = args.out = out.with_suffix(".zip") if args.algo != "ppo" else out  # SB3 saves a .zip whatever it is told
    logdir = Path(args.logdir or Path(RESULTS_DIR) / "runs" / name)
    if main_rank:
        check_out(args, suffixes=(suffix,), beside=(".json",) if suffix == ".zip" else (), resumable=True)
        check_writable_folder(logdir, "--logdir")
        if args.resume:
            say_resume(args.resume, out)
    evaluator = target.evaluator if main_rank and (args.eval_every or args.algo != "ppo") else None

    capped = ""
    if args.algo == "ppo":
        updates = DEFAULT_UPDATES if args.updates is None else args.updates
        logger = (
            PPOLogger(
                env,
                logdir,
                updates,
                done,
                args.eval_every,
                args.eval_samples,
                watchdog=ThreadWatchdog(args.threads == "auto", default_threads),
                evaluator=evaluator,
            )
            if main_rank
            else None
        )
        try:
            result = train_ppo(
                env,
                config,
                out=out,
                updates=updates,
                minutes=args.minutes,
                resume=args.resume,
                card=card,
                checkpoint_every=args.checkpoint_every,
                on_update=logger,
            )
        finally:
            if logger is not None:
                logger.close()
        agent = result.agent
        if not main_rank:
            return
        print(f"saved {out} ({agent.updates} updates, {agent.episodes} episodes, {agent.seconds:.0f} s of training)")
        if result.stopped_by_time:
            capped = (
                f"*** stopped by the time cap after {agent.updates} of {updates} updates "
                f"(--minutes {args.minutes:g}: {agent.seconds:.0f} s of training); "
                f"continue with --resume {out} and a larger --minutes ***"
            )
            print(capped)
            print(f"adagen train: {capped}", file=sys.stderr)
        elif not result.finished:
            raise ValueError(
                f"only {agent.updates} of {updates} updates ran; the policy is unfinished, so no "
                f"comparison (continue with --resume {out})"
            )
    else:
        out = train_sb3(
            env,
            card,
            out=out,
            timesteps=args.timesteps or DEFAULT_TIMESTEPS,
            logdir=logdir,
            seed=config.seed,
            resume=args.resume,
            episodes_per_update=config.episodes_per_update,
            checkpoint_every=args.checkpoint_every,
            eval_samples=args.eval_samples,
            evaluator=evaluator,
            trust_pickle=args.trust_pickle,
        )
        print(f"saved {out}")
    print(f"TensorBoard logs in {logdir}; comparing on {args.final_samples} samples:")
    evaluated = target.evaluation()  # a text-to-image pipeline: on its held-out captions
    act, card = evaluated.policy(str(out), trust_pickle=True)  # the file this run has just written
    values = (0.0, 1.0) if card.spec.tradeoff is not None else (None,)  # a trade-off policy at both ends of its knob
    policies = {}
    for value in values:
        policy_spec = card.sampling_spec(tradeoff=value)
        policies[learned_name(card, policy_spec)] = (act, policy_spec)
    generators = evaluated.comparison(policies, card.sampling_spec())
    report = run_experiment(
        generators,
        evaluated.evaluator,
        evaluated.process.num_classes,
        args.final_samples,
        REPORT_SEEDS[:1],
        title=f"{name}: final comparison",
        real=target.real_train_images,
        nfe={key: card.spec.nfe(evaluated.process) for key in generators},
    )
    report.notes["card"] = card.to_dict()
    show(report, logdir / "comparison.json")
    if capped:
        print(capped)


def resume_values(path: Path) -> tuple[dict[str, Any], dict[str, Any], int]:
    """What a checkpoint fixes: (run values by flag name, its PPO config, updates done)."""
    if path.suffix == ".zip":
        card, config, updates = read_sb3_card(path), {}, 0
    else:
        state = read_checkpoint(path)
        check_world_size(path, state, distributed.launched_world_size())  # before any work, not at PPO.load
        card, config, updates = state["card"], state["config"], state["updates"]
    pipeline = card.pipeline
    if card.env is None and (pipeline is None or pipeline.path is None or pipeline.data is None):
        raise ValueError(f"{path}: its card names no env nor pipeline folder; it was not written by adagen train")
    run = {"algo": card.algo, **card.spec.to_dict()}
    if card.env is not None:
        run["env"] = card.env
    if card.num_envs is not None:
        run["num_envs"] = card.num_envs
    if card.generator is not None:
        run.update(generator=card.generator.path, data=card.generator.data)
    if pipeline is not None:
        run.update(pipeline=pipeline.path, data=pipeline.data)
        if pipeline.class_ids is not None:
            run["class_map"] = dict(zip(pipeline.class_names, pipeline.class_ids))
    return run, config, updates


def apply_resume(args: argparse.Namespace) -> int:
    """Take the run's settings from ``--resume``'s checkpoint; say which explicitly given flags it overrides.

    Returns the number of updates the checkpoint has done (0 for SB3).
    """
    from adagen_env.paradigms import get_paradigm

    path = Path(args.resume)
    if not path.exists():
        raise ValueError(f"--resume: no checkpoint at {path}")
    run, config, updates = resume_values(path)
    ignored = []
    for name, theirs in run.items():
        given = getattr(args, name, None)
        if name == "env" and given is not None:
            same = get_paradigm(given).env_id == theirs
        elif name in KNOBS and given is not None:
            same = EpisodeSpec.build(**{name: given}).to_dict()[name] == theirs
        else:
            same = given is None or given == theirs
        if not same:
            ignored.append(f"{flag(name)} {given} (checkpoint: {_short(theirs)})")
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


def _short(value: Any) -> str:
    if isinstance(value, list):
        return f"values of {len(value)} steps"
    return str(value)


def check_flags(args: argparse.Namespace) -> None:
    at_least(args, 1, "num_envs", "timesteps")
    at_least(args, MIN_SCORED, "eval_samples", "final_samples")  # refused now, not at the first evaluation
    at_least(args, 0, "updates", "checkpoint_every", "eval_every")
    if args.minutes is not None and not args.minutes > 0:
        raise ValueError(f"--minutes must be positive (leave it out for no cap), got {args.minutes}")
    if args.algo == "ppo":
        if args.timesteps is not None:
            raise ValueError("--timesteps is for SB3 algorithms (--algo sb3-ppo, ...); our PPO trains for --updates")
    else:
        ppo_only = [
            flag(n)
            for n in (*PPO_FIELDS, "updates", "minutes")
            if n not in SHARED_WITH_SB3 and getattr(args, n) is not None
        ]
        if ppo_only:
            raise ValueError(f"{', '.join(ppo_only)}: options of our PPO (--algo ppo), not of {args.algo}")
