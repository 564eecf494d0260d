"""``adagen eval``: score static schedules or a policy on seeds in every feature space, compared paired.

A policy is sampled with the episode spec it was trained in (its card), changed only by the
sampling flags given (``--steps``, ``--tradeoff``, ``--refine``, ``--autocast``), and compared
with the hand-designed and best static schedules at the same steps and refinement.
"""

from __future__ import annotations

import argparse
from functools import cache

from adagen_agents.commands.common import (
    MIN_SCORED,
    at_least,
    check_out,
    command_target,
    learned_name,
    sampling_overrides,
    say_refinement,
    show,
    static_spec,
)
from adagen_env.evaluation.experiment import run_experiment
from adagen_env.evaluation.generators import MAX_SEED
from adagen_env.paradigms import BEST_STATIC_SPACE, PARADIGMS, get_paradigm


def run(args: argparse.Namespace) -> None:
    at_least(args, MIN_SCORED, "samples")
    at_least(args, 1, "seeds")
    if args.seed + args.seeds - 1 > MAX_SEED:
        raise ValueError(f"--seed {args.seed} with --seeds {args.seeds} goes past the last seed, {MAX_SEED:,}")
    if args.json:
        check_out(args, "json", suffixes=(".json",), beside=(".md",))
    if args.policy is None:
        spec = static_spec(args)  # a --tradeoff without --policy is refused here, before any work
    target = command_target(args).evaluation()  # a text-to-image pipeline: on its held-out captions
    process = target.process
    if args.policy:
        act, card = target.policy(args.policy, args.num_steps, args.trust_pickle)
        spec = card.sampling_spec(**sampling_overrides(args))
        generators = target.comparison({learned_name(card, spec): (act, spec)}, spec)
        title = f"{args.policy} ({card.env or target.name}, {spec.num_steps} steps)"
    else:
        spec = target.resolve(spec)
        names = list(process.named_schedules) if args.schedule == ["all"] else args.schedule
        generators = {name: target.static(name, spec) for name in names}
        title = f"{target.env_id if target.shipped else target.name}, {spec.num_steps} steps"
    say_refinement(process, spec)
    if not target.shipped:
        print(
            f"feature spaces: {', '.join(target.evaluator.spaces)}"
            + ("" if target.features else " (no --features: train networks on your images with adagen features)")
        )
    seeds = range(args.seed, args.seed + args.seeds)
    report = run_experiment(
        generators,
        target.evaluator,
        process.num_classes,
        args.samples,
        seeds,
        title=title,
        nfe={name: spec.nfe(process) for name in generators},
        real=target.real_train_images,
    )
    report.notes["spec"] = spec.to_dict()  # the episode the policy (or the static schedules) ran in
    best = target.best_static(spec.num_steps) if "best static" in generators else None
    if best is not None:  # which pick "best static" was: the registry's changes when the grid is searched again
        report.notes["best_static"] = {"config": best[0], "space": BEST_STATIC_SPACE}
    show(report, args.json)


@cache
def schedule_names(paradigm_name: str) -> tuple[str, ...]:
    """The named static schedules of a paradigm (its process's ``named_schedules``)."""
    return tuple(get_paradigm(paradigm_name).make_process("cpu").named_schedules)


def schedules_epilog() -> str:
    lines = ["named schedules, by environment (--schedule):"]
    lines += [f"  {p.env_id}: {', '.join(schedule_names(p.name))}" for p in PARADIGMS.values()]
    return "\n".join(lines)
