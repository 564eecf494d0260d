"""``adagen sample``: a grid of samples of one class, with a static schedule or a policy, as a PNG."""

from __future__ import annotations

import argparse

import torch

from adagen_agents.commands.common import (
    at_least,
    check_out,
    class_aliases,
    class_label,
    class_names,
    classes_line,
    command_target,
    sampling_overrides,
    say_refinement,
    static_spec,
)
from adagen_env.data.images import save_grid
from adagen_env.evaluation.generators import policy_generator


def run(args: argparse.Namespace) -> None:
    at_least(args, 1, "n")
    check_out(args, suffixes=(".png",))
    if args.policy is None:
        spec = static_spec(args)
        if args.schedule == "all":
            raise ValueError("--schedule all is for adagen eval; adagen sample takes one schedule")
    target = command_target(args)
    prompted = target.pipeline is not None and target.pipeline.prompted
    if prompted and args.prompt is None:
        raise ValueError("a text-to-image pipeline samples a prompt: give --prompt TEXT, not --label")
    if args.prompt is not None:
        target, label = target.on_prompts([args.prompt]), 0  # one prompt: label 0
    else:
        names = class_names(target)
        label = class_label(args.label, names, aliases=class_aliases(target))
        if args.label != str(label):  # a name: say which class it is
            print(f"--label {args.label} is class {label}; {classes_line(names)}")
    process = target.process
    if args.policy:
        act, card = target.policy(args.policy, args.num_steps, args.trust_pickle)
        spec = card.sampling_spec(**sampling_overrides(args))
        generate = policy_generator(process, act, spec)
    else:
        spec = target.resolve(spec)
        generate = target.static(args.schedule, spec)
    say_refinement(process, spec)
    path = save_grid(generate(torch.full((args.n,), label), args.seed), args.out)
    print(f"wrote {path}")
