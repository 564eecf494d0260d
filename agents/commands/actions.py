"""``adagen actions``: the parameters a policy chooses against the step, per sample and per class."""

from __future__ import annotations

import argparse
from pathlib import Path

from adagen_agents.action_plots import action_spread, plot_actions, require_matplotlib
from adagen_agents.commands.common import at_least, check_out, class_names, command_target, sampling_overrides
from adagen_env.evaluation.adaptivity import record_actions
from adagen_env.evaluation.generators import balanced_labels


def run(args: argparse.Namespace) -> None:
    at_least(args, 2, "samples")
    require_matplotlib()
    check_out(args, suffixes=(".png",))
    target = command_target(args).evaluation()  # a text-to-image pipeline: on its held-out captions
    process = target.process
    if args.samples < 2 * process.num_classes:
        raise ValueError(
            f"--samples must be at least {2 * process.num_classes} (two per class, for the spread "
            f"within a class), got {args.samples}"
        )
    act, card = target.policy(args.policy, args.num_steps, args.trust_pickle)
    spec = card.sampling_spec(**sampling_overrides(args))
    labels = balanced_labels(args.samples, process.num_classes)
    _, values = record_actions(process, act, labels, args.seed, spec)
    best = target.best_static(spec.num_steps)
    if target.pipeline is not None:
        generator = f"pipeline {target.name}"
    else:
        generator = "shipped generator" if target.generator is None else Path(target.generator.path).name
    title = f"{Path(args.policy).name} on {generator} ({target.env_id}), {spec.num_steps} steps"
    names = class_names(target)
    path = plot_actions(values, labels, process, title, args.out, None if best is None else best[1], names)
    for name, spread in action_spread(values, labels, process).items():
        print(
            f"{name}: spread over samples {spread['over_samples']:.3g}, within a class {spread['within_class']:.3g} "
            f"(std at a step, mean over steps)"
        )
    print(f"wrote {path}")
