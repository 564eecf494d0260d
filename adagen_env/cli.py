"""The ``adagen`` command: train schedule policies, evaluate schedules and policies, write sample grids."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from adagen_env import ENVIRONMENTS
from adagen_env.envs import ScheduleVectorEnv
from adagen_env.evaluation import evaluate_generator, policy_generator, static_generator
from adagen_env.images import save_grid
from adagen_env.metrics import DEFAULT_NUM_SAMPLES, Evaluator, noise_floor
from adagen_env.processes import make_process
from adagen_env.processes.base import Process
from adagen_env.rewards import SCORERS

DEFAULT_ENV = "AdaGen/MaskGIT-Digits-v0"
PPO_UPDATES = 150
SB3_ALGOS = ("sb3-ppo", "sb3-sac", "sb3-td3", "sb3-a2c")
METRIC_COLUMNS = ("fd", "precision", "recall", "accuracy", "seconds", "samples_per_second")


def format_table(rows: list[dict], columns: tuple[str, ...]) -> str:
    """A plain-text table; floats get 4 significant digits."""
    cells = [[f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def process_name_for(env_id: str) -> str:
    if env_id not in ENVIRONMENTS:
        raise SystemExit(f"unknown environment {env_id!r}; choose one of {sorted(ENVIRONMENTS)}")
    return ENVIRONMENTS[env_id]


def process_for(env_id: str, device: str) -> Process:
    return make_process(process_name_for(env_id), device)


def static_schedule(process: Process, name: str, num_steps: int) -> torch.Tensor | None:
    """A named static schedule; ``None`` for the hand-designed one, which the sampler builds exactly."""
    if name not in process.named_schedules:
        raise SystemExit(f"unknown schedule {name!r}; choose from {sorted(process.named_schedules)} or 'all'")
    return None if name == "hand-designed" else process.static_schedule(num_steps, **process.named_schedules[name])


def static_grid_path(process_name: str) -> Path:
    """Where ``python -m benchmarks.static_grid`` writes its results for a process."""
    return Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "static_grid" / f"{process_name}.json"


def best_static_schedule(process_name: str, process: Process, num_steps: int) -> tuple[dict, torch.Tensor] | None:
    """The grid search's best static schedule at ``num_steps`` (benchmarks/results), if it was run."""
    path = static_grid_path(process_name)
    if not path.is_file():
        return None
    best = json.loads(path.read_text())["best"].get(str(num_steps))
    if best is None:
        return None
    config = best["best_static"]["config"]
    return config, process.static_schedule(num_steps, **config)


def compare(
    process: Process, num_steps: int, generators: dict, samples: int, seeds: range
) -> tuple[list[dict], dict[str, float]]:
    """Evaluate named generators side by side, each on the same seeds and sample count."""
    evaluator = Evaluator(device=process.device)
    rows = []
    for name, generate in generators.items():
        for seed in seeds:
            result = evaluate_generator(generate, evaluator, process.num_classes, samples, seed)
            rows.append({"schedule": name, "steps": num_steps, "seed": seed, **result})
            print(f"{name} seed {seed}: FD {result['fd']:.3f}", file=sys.stderr)
    floor = noise_floor(evaluator)
    print(format_table(rows, ("schedule", "steps", "seed", *METRIC_COLUMNS)))
    print(
        f"\nnoise floor: FD {floor['fd']:.3f}, precision {floor['precision']:.3f}, recall {floor['recall']:.3f} "
        f"between the {int(floor['n'])} real training images and the held-out reference"
    )
    return rows, floor


def policy_comparison(process_name: str, process: Process, policy_path: str, num_steps: int | None) -> tuple[int, dict]:
    """Generators for a trained policy, the hand-designed schedule and (if known) the best static one."""
    from agents.loading import load_policy

    act, metadata = load_policy(policy_path, process, process_name)
    num_steps = num_steps or metadata["num_steps"]
    generators = {f"learned ({metadata['algo']})": policy_generator(process, num_steps, act)}
    generators["hand-designed"] = static_generator(process, num_steps)
    best = best_static_schedule(process_name, process, num_steps)
    if best is not None:
        generators["best static"] = static_generator(process, num_steps, best[1])
    return num_steps, generators


def cmd_eval(args: argparse.Namespace) -> None:
    process = process_for(args.env, args.device)
    seeds = range(args.seed, args.seed + args.seeds)
    if args.policy:
        num_steps, generators = policy_comparison(process_name_for(args.env), process, args.policy, args.steps)
    else:
        num_steps = args.steps or process.default_num_steps
        names = list(process.named_schedules) if args.schedule == ["all"] else args.schedule
        generators = {
            name: static_generator(process, num_steps, static_schedule(process, name, num_steps)) for name in names
        }
    rows, floor = compare(process, num_steps, generators, args.samples, seeds)
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
    if args.policy:
        from agents.loading import load_policy

        act, metadata = load_policy(args.policy, process, process_name_for(args.env))
        generate = policy_generator(process, args.steps or metadata["num_steps"], act)
    else:
        num_steps = args.steps or process.default_num_steps
        generate = static_generator(process, num_steps, static_schedule(process, args.schedule, num_steps))
    path = save_grid(generate(labels, args.seed), args.out)
    print(f"wrote {path}")


def cmd_train(args: argparse.Namespace) -> None:
    from agents.train import train_ppo, train_sb3

    process_name = process_name_for(args.env)
    if args.resume and not Path(args.resume).is_file():
        raise SystemExit(f"--resume: no checkpoint at {args.resume}")
    env = ScheduleVectorEnv(
        num_envs=args.num_envs, process=process_name, num_steps=args.steps, reward=args.reward, device=args.device
    )
    args.steps = env.core.num_steps
    name = f"{process_name}-{args.algo}-{args.reward}-{args.steps}steps-seed{args.seed}"
    args.logdir = args.logdir or str(Path("runs") / name)
    args.out = args.out or str(Path("policies") / (name + (".pt" if args.algo == "ppo" else ".zip")))
    out, interrupted = (train_ppo if args.algo == "ppo" else train_sb3)(args, env, process_name)
    if interrupted:
        return
    print(f"TensorBoard logs in {args.logdir}; comparing on {args.final_samples} samples:")
    num_steps, generators = policy_comparison(process_name, env.core.process, str(out), args.steps)
    compare(env.core.process, num_steps, generators, args.final_samples, range(1))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adagen", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--env", default=DEFAULT_ENV, help="environment id (default: %(default)s)")
        p.add_argument("--steps", type=int, help="generation steps (default: the process's own, 8 except VAR, or the policy's)")
        p.add_argument("--device", default="cpu")

    p = sub.add_parser("train", help="train a schedule policy, then compare it with static schedules")
    common(p)
    p.add_argument("--algo", default="ppo", choices=("ppo", *SB3_ALGOS), help="(default: %(default)s)")
    p.add_argument("--reward", default="adversarial", choices=sorted(SCORERS), help="(default: %(default)s)")
    p.add_argument("--num-envs", type=int, default=256, help="samples generated together (default: %(default)s)")
    p.add_argument("--updates", type=int, default=PPO_UPDATES, help="PPO updates (ppo; default: %(default)s)")
    p.add_argument("--episodes-per-update", type=int, default=512, help="(ppo; default: %(default)s)")
    p.add_argument("--lr", type=float, default=3e-4, help="(ppo; default: %(default)s)")
    p.add_argument("--std-switch-update", type=int, default=30, help="exploration std halves here (ppo; default: %(default)s)")
    p.add_argument("--timesteps", type=int, default=200_000, help="environment steps (sb3-*; default: %(default)s)")
    p.add_argument("--minutes", type=float, default=15.0, help="stop after this much training time (ppo; default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=10, help="updates between checkpoints (default: %(default)s)")
    p.add_argument("--eval-every", type=int, default=10, help="updates between FD evaluations; 0: never")
    p.add_argument("--eval-samples", type=int, default=500, help="samples per FD evaluation while training")
    p.add_argument("--final-samples", type=int, default=DEFAULT_NUM_SAMPLES, help="samples of the final comparison")
    p.add_argument("--logdir", help="TensorBoard folder (default: runs/NAME)")
    p.add_argument("--out", help="checkpoint path (default: policies/NAME.pt or .zip)")
    p.add_argument("--resume", help="continue from this checkpoint")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="FD, precision, recall, class accuracy and wall time of schedules or a policy")
    common(p)
    p.add_argument("--schedule", nargs="+", default=["hand-designed"], help="schedule names, or 'all'")
    p.add_argument("--policy", help="a trained policy: compared with the hand-designed and best static schedule")
    p.add_argument("--samples", type=int, default=DEFAULT_NUM_SAMPLES, help="(default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default: %(default)s)")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds per schedule (default: %(default)s)")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("sample", help="write a grid of samples of one class as a PNG")
    common(p)
    p.add_argument("--schedule", default="hand-designed")
    p.add_argument("--policy", help="sample with a trained policy instead of a static schedule")
    p.add_argument("--label", type=int, required=True)
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="samples.png")
    p.set_defaults(func=cmd_sample)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.steps is not None and args.steps < 1:
        raise SystemExit(f"--steps must be at least 1, got {args.steps}")
    try:
        args.func(args)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"adagen {args.command}: {e}") from e


if __name__ == "__main__":
    main()
