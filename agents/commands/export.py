"""``adagen export``: a trained policy as a static schedule per class (and one for all classes), with a
diffusers pipeline's explicit timesteps and guidance scales; ``--schedule FILE.json`` samples with it."""

from __future__ import annotations

import argparse

from adagen_agents.commands.common import at_least, check_out, class_names, command_target, sampling_overrides
from adagen_agents.schedule_export import export_schedule


def run(args: argparse.Namespace) -> None:
    at_least(args, 1, "samples_per_class")
    check_out(args, suffixes=(".json",))
    target = command_target(args)
    act, card = target.policy(args.policy, args.num_steps, args.trust_pickle)
    names = class_names(target)
    print(f"averaging the policy's actions over {args.samples_per_class} samples of each of {len(names)} classes ...")
    overrides = sampling_overrides(args)
    exported = export_schedule(target.process, act, card, names, args.samples_per_class, args.seed, overrides)
    for row in exported.rows:
        shown = [f"{name} {', '.join(f'{v:.3g}' for v in values)}" for name, values in row["values"].items()]
        if "timesteps" in row:
            shown.insert(0, f"timesteps {', '.join(f'{t:g}' for t in row['timesteps'])}")
        if "guidance_scale" in row:
            shown.append(f"guidance_scale {', '.join(f'{g:.3g}' for g in row['guidance_scale'])}")
        print(f"{row['name']}: " + "; ".join(shown))
    print(f"wrote {exported.save(args.out)}; sample with it: adagen eval|sample ... --schedule {args.out}")
