"""Learned schedules against the hand-designed and the best static one (issue: learning schedules).

Two modes, so that runs can go in parallel and an interrupted campaign keeps what finished:

    python -m benchmarks.learned_schedules train --steps 8 --seed 0 [--minutes 15] [--reward adversarial]
    python -m benchmarks.learned_schedules report

``train`` trains our PPO for ``--minutes`` of training time (evaluation excluded), logging FD
on ``--curve-samples`` samples every ``--eval-every`` updates (the learning curve), then
evaluates the final policy on ``--samples`` samples, and writes
``results/learned/<reward>-<steps>steps-seed<seed>.json`` plus the policy checkpoint.
``report`` gathers those files with ``results/static_grid.json`` into a table
(``results/learned_schedules.md``), and plots FD against training time
(``results/learning_curve.png``).
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from adagen_env.cli import format_table
from adagen_env.envs import ScheduleVectorEnv
from adagen_env.evaluation import evaluate_generator, policy_generator
from adagen_env.metrics import Evaluator, noise_floor
from agents.ppo import PPO, PPOConfig, export_policy

RESULTS = Path(__file__).resolve().parent / "results"
LEARNED = RESULTS / "learned"
CURVE_SEED = 10_000  # the learning curve's samples never share noise with the final evaluation


def run_name(reward: str, steps: int, seed: int) -> str:
    return f"{reward}-{steps}steps-seed{seed}"


def train(args: argparse.Namespace) -> None:
    LEARNED.mkdir(parents=True, exist_ok=True)
    name = run_name(args.reward, args.steps, args.seed)
    env = ScheduleVectorEnv(num_envs=args.num_envs, num_steps=args.steps, reward=args.reward)
    process = env.core.process
    agent = PPO(env, PPOConfig(seed=args.seed))
    evaluator = Evaluator()
    curve = []

    def fd_now() -> dict:
        generate = policy_generator(process, args.steps, agent.predict)
        return evaluate_generator(generate, evaluator, process.num_classes, args.curve_samples, CURVE_SEED, progress=False)

    def callback(agent: PPO, stats: dict) -> bool:
        if agent.updates % args.eval_every == 0:
            result = fd_now()
            curve.append({"updates": agent.updates, "train_seconds": agent.seconds, "fd": result["fd"]})
            print(f"{name}: update {agent.updates}, {agent.seconds:.0f} s, reward {stats['reward_mean']:.3f}, "
                  f"FD({args.curve_samples}) {result['fd']:.2f}", flush=True)
        return agent.seconds < 60 * args.minutes

    curve.append({"updates": 0, "train_seconds": 0.0, "fd": fd_now()["fd"]})
    agent.learn(1_000_000, callback)
    checkpoint = agent.save(LEARNED / f"{name}.pt", env="AdaGen/MaskGIT-Digits-v0", process="maskgit-digits",
                            num_steps=args.steps, reward=args.reward, algo="ppo")
    export_policy(checkpoint, LEARNED / f"{name}-policy.pt")
    final = evaluate_generator(policy_generator(process, args.steps, agent.predict), evaluator,
                               process.num_classes, args.samples, seed=0, progress=False)
    out = LEARNED / f"{name}.json"
    out.write_text(json.dumps({
        "reward": args.reward, "steps": args.steps, "seed": args.seed, "minutes": args.minutes,
        "updates": agent.updates, "episodes": agent.episodes, "train_seconds": agent.seconds,
        "threads": torch.get_num_threads(), "final": final, "curve": curve, "checkpoint": checkpoint.name,
    }, indent=2))
    print(f"{name}: final FD {final['fd']:.3f} precision {final['precision']:.3f} recall {final['recall']:.3f}; wrote {out}")


def report(args: argparse.Namespace) -> None:
    grid = json.loads((RESULTS / "static_grid.json").read_text())
    runs = [json.loads(p.read_text()) for p in sorted(LEARNED.glob("*.json"))]
    rows = []
    for steps in sorted({r["steps"] for r in runs}):
        best = grid["best"][str(steps)]
        hand, static = best["hand_designed"], best["best_static"]
        for label, r in (("hand-designed", hand), ("best static", static)):
            rows.append({"steps": steps, "schedule": label, "seeds": 3, "fd": r["fd"], "fd_std": r["fd_std"],
                         "precision": r["precision"], "recall": r["recall"], "fd_vs_hand": r["fd"] / hand["fd"]})
        for reward in sorted({r["reward"] for r in runs if r["steps"] == steps}):
            group = [r["final"] for r in runs if r["steps"] == steps and r["reward"] == reward]
            fds = [g["fd"] for g in group]
            fd = statistics.mean(fds)
            rows.append({
                "steps": steps, "schedule": f"learned ({reward})", "seeds": len(group), "fd": fd,
                "fd_std": statistics.stdev(fds) if len(fds) > 1 else 0.0,
                "precision": statistics.mean(g["precision"] for g in group),
                "recall": statistics.mean(g["recall"] for g in group), "fd_vs_hand": fd / hand["fd"],
            })
    floor = noise_floor(Evaluator())
    columns = ("steps", "schedule", "seeds", "fd", "fd_std", "precision", "recall", "fd_vs_hand")
    table = format_table(rows, columns)
    note = (f"FD on 2,000 samples vs the 500 held-out images; fd_std over seeds (training seeds for learned rows). "
            f"Noise floor (1,297 real training images vs held-out): FD {floor['fd']:.2f}.")
    print(table + "\n\n" + note)
    (RESULTS / "learned_schedules.md").write_text("```\n" + table + "\n```\n\n" + note + "\n")
    (RESULTS / "learned_schedules.json").write_text(json.dumps({"rows": rows, "noise_floor": floor}, indent=2))
    plot_curves(runs)


def plot_curves(runs: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    adversarial = [r for r in runs if r["reward"] == "adversarial"]
    steps_list = sorted({r["steps"] for r in adversarial})
    fig, axes = plt.subplots(1, len(steps_list), figsize=(5 * len(steps_list), 4), squeeze=False)
    for ax, steps in zip(axes[0], steps_list):
        for r in (r for r in adversarial if r["steps"] == steps):
            ax.plot([c["train_seconds"] / 60 for c in r["curve"]], [c["fd"] for c in r["curve"]], label=f"seed {r['seed']}")
        # the untrained policy is the hand-designed schedule, so each curve starts at its FD
        hand = statistics.mean(r["curve"][0]["fd"] for r in adversarial if r["steps"] == steps)
        ax.axhline(hand, color="grey", linestyle="--", label="hand-designed")
        ax.axhline(0.75 * hand, color="red", linestyle=":", label="0.75 x hand-designed")
        ax.set(title=f"{steps} steps", xlabel="training time (min)", ylabel="FD (curve: 500 samples)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "learning_curve.png", dpi=100)
    print(f"wrote {RESULTS / 'learning_curve.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("train")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reward", default="adversarial")
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--num-envs", type=int, default=256)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--curve-samples", type=int, default=500)
    p.add_argument("--samples", type=int, default=2000)
    p.set_defaults(func=train)
    p = sub.add_parser("report")
    p.set_defaults(func=report)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
