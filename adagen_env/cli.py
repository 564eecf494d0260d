"""The ``adagen`` command: evaluate schedules and write sample grids."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from adagen_env import ENVIRONMENTS
from adagen_env.evaluation import evaluate_generator, static_generator
from adagen_env.images import save_grid
from adagen_env.metrics import DEFAULT_NUM_SAMPLES, Evaluator, noise_floor
from adagen_env.processes import make_process
from adagen_env.processes.base import Process

DEFAULT_ENV = "AdaGen/MaskGIT-Digits-v0"
METRIC_COLUMNS = ("fd", "precision", "recall", "accuracy", "seconds", "samples_per_second")


def format_table(rows: list[dict], columns: tuple[str, ...]) -> str:
    """A plain-text table; floats get 4 significant digits."""
    cells = [[f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def process_for(env_id: str, device: str) -> Process:
    if env_id not in ENVIRONMENTS:
        raise SystemExit(f"unknown environment {env_id!r}; choose one of {sorted(ENVIRONMENTS)}")
    return make_process(ENVIRONMENTS[env_id], device)


def static_schedule(process: Process, name: str, num_steps: int) -> torch.Tensor | None:
    """A named static schedule; ``None`` for the hand-designed one, which the sampler builds exactly."""
    if name not in process.named_schedules:
        raise SystemExit(f"unknown schedule {name!r}; choose from {sorted(process.named_schedules)} or 'all'")
    return None if name == "hand-designed" else process.static_schedule(num_steps, **process.named_schedules[name])


def cmd_eval(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    process = process_for(args.env, args.device)
    names = list(process.named_schedules) if args.schedule == ["all"] else args.schedule
    evaluator = Evaluator(device=args.device)
    rows = []
    for name in names:
        for seed in range(args.seed, args.seed + args.seeds):
            generate = static_generator(process, args.steps, static_schedule(process, name, args.steps))
            result = evaluate_generator(generate, evaluator, process.num_classes, args.samples, seed)
            rows.append({"schedule": name, "steps": args.steps, "seed": seed, **result})
            print(f"{name} seed {seed}: FD {result['fd']:.3f}", file=sys.stderr)
    floor = noise_floor(evaluator)
    print(format_table(rows, ("schedule", "steps", "seed", *METRIC_COLUMNS)))
    print(
        f"\nnoise floor: FD {floor['fd']:.3f}, precision {floor['precision']:.3f}, recall {floor['recall']:.3f} "
        f"between the {int(floor['n'])} real training images and the held-out reference"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "noise_floor": floor}, indent=2))
        print(f"wrote {args.json}")


def cmd_sample(args: argparse.Namespace) -> None:
    process = process_for(args.env, args.device)
    if not 0 <= args.label < process.num_classes:
        raise SystemExit(f"--label must be in 0..{process.num_classes - 1}, got {args.label}")
    if args.n < 1:
        raise SystemExit(f"--n must be at least 1, got {args.n}")
    labels = torch.full((args.n,), args.label)
    generate = static_generator(process, args.steps, static_schedule(process, args.schedule, args.steps))
    path = save_grid(generate(labels, args.seed), args.out)
    print(f"wrote {path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adagen", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--env", default=DEFAULT_ENV, help="environment id (default: %(default)s)")
        p.add_argument("--steps", type=int, default=8, help="generation steps (default: %(default)s)")
        p.add_argument("--device", default="cpu")

    p = sub.add_parser("eval", help="FD, precision, recall, class accuracy and wall time of static schedules")
    common(p)
    p.add_argument("--schedule", nargs="+", default=["hand-designed"], help="schedule names, or 'all'")
    p.add_argument("--samples", type=int, default=DEFAULT_NUM_SAMPLES, help="(default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default: %(default)s)")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds per schedule (default: %(default)s)")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("sample", help="write a grid of samples of one class as a PNG")
    common(p)
    p.add_argument("--schedule", default="hand-designed")
    p.add_argument("--label", type=int, required=True)
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="samples.png")
    p.set_defaults(func=cmd_sample)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if getattr(args, "steps", 1) < 1:
        raise SystemExit(f"--steps must be at least 1, got {args.steps}")
    args.func(args)


if __name__ == "__main__":
    main()
