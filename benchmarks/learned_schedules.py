"""Learned schedules against the hand-designed and the best static one, for every paradigm.

Two modes, so that runs can go in parallel and an interrupted campaign keeps what finished:

    python -m benchmarks.learned_schedules train [--env ID] --steps 8 --seed 0 [--minutes 15] [--reward adversarial]
    python -m benchmarks.learned_schedules evaluate
    python -m benchmarks.learned_schedules report

``train`` trains our PPO for ``--minutes`` of training time (evaluation excluded), logging FD
on ``--curve-samples`` samples every ``--eval-every`` updates (the learning curve), then
evaluates the final policy on ``--samples`` samples with the evaluation seeds of the static
grid (0, 1, 2), so learned and static rows are paired, and writes
``results/learned/<process>/<reward>-<steps>steps-seed<seed>.json`` plus the policy checkpoint
(through ``adagen_agents.train.train_ppo``, the training loop of ``adagen train``).
``evaluate`` re-runs that final evaluation for every finished run from its saved policy.
``report`` gathers those files with the static grids (``results/static_grid/<process>.json``)
into one table over all paradigms (``results/learned_schedules.md``), plots FD against
training time (``results/learning_curve.png``) and FD against model evaluations
(``results/fd_vs_nfe.png``).
"""
from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import asdict
from pathlib import Path

import torch

from adagen_agents.cli import DEFAULT_ENV, DEFAULT_NUM_ENVS, DEFAULT_REWARD
from adagen_agents.loading import load_policy
from adagen_agents.ppo import PPO, PPOConfig, export_policy
from adagen_agents.train import Interrupted, train_ppo
from adagen_env.envs import ScheduleVectorEnv
from adagen_env.evaluation import Act, evaluate_generator, policy_generator, static_generator
from adagen_env.metrics import Evaluator, noise_floor
from adagen_env.paradigms import PARADIGMS, get_paradigm
from adagen_env.processes import Process
from adagen_env.tables import format_table
from benchmarks.static_grid import static_grid_path

RESULTS = Path(__file__).resolve().parent / "results"
LEARNED = RESULTS / "learned"
CURVE_SEED = 10_000  # the learning curve's samples never share noise with the final evaluation
EVAL_SEEDS = (0, 1, 2)  # the static grid's evaluation seeds (its --seeds 3): same noise, paired rows


def run_name(reward: str, steps: int, seed: int) -> str:
    return f"{reward}-{steps}steps-seed{seed}"


def exported_policy(run_json: Path) -> Path:
    """Where ``train`` exports the policy of the run whose results are ``run_json``."""
    return run_json.with_name(run_json.stem + "-policy.pt")


def train(args: argparse.Namespace) -> None:
    paradigm = get_paradigm(args.env)
    process_name = paradigm.name
    folder = LEARNED / process_name
    folder.mkdir(parents=True, exist_ok=True)
    name = run_name(args.reward, args.steps, args.seed)
    env = ScheduleVectorEnv(process=process_name, num_envs=args.num_envs, num_steps=args.steps, reward=args.reward)
    process = env.core.process
    evaluator = Evaluator()

    def fd(generate) -> float:
        return evaluate_generator(generate, evaluator, process.num_classes, args.curve_samples, CURVE_SEED, progress=False)["fd"]

    # the untrained policy is the hand-designed schedule, bit for bit (tests/test_ppo.py)
    curve = [{"updates": 0, "train_seconds": 0.0, "fd": fd(static_generator(process, args.steps))}]

    def on_update(agent: PPO, stats: dict) -> None:
        if agent.updates % args.eval_every == 0:
            curve.append({"updates": agent.updates, "train_seconds": agent.seconds,
                          "fd": fd(policy_generator(process, args.steps, agent.predict))})
            print(f"{process_name} {name}: update {agent.updates}, {agent.seconds:.0f} s, "
                  f"reward {stats['reward_mean']:.3f}, FD({args.curve_samples}) {curve[-1]['fd']:.2f}", flush=True)

    metadata = {"env": paradigm.env_id, "process": process_name, "num_steps": args.steps, "reward": args.reward,
                "algo": "ppo", "num_envs": args.num_envs}
    try:
        result = train_ppo(env, PPOConfig(seed=args.seed), out=folder / f"{name}.pt", updates=args.updates,
                           minutes=args.minutes, metadata=metadata, on_update=on_update)
    except Interrupted as e:
        raise SystemExit(f"{name}: {e}") from None
    agent, checkpoint = result.agent, result.out
    out = folder / f"{name}.json"
    export_policy(checkpoint, exported_policy(out))
    final = final_evaluation(process, args.steps, agent.predict, evaluator, args.samples)
    out.write_text(json.dumps({
        "env": paradigm.env_id, "process": process_name, "reward": args.reward, "steps": args.steps,
        "nfe": process.nfe(args.steps), "seed": args.seed, "minutes": args.minutes, "ppo": asdict(agent.config),
        "updates": agent.updates, "episodes": agent.episodes, "train_seconds": agent.seconds,
        "threads": torch.get_num_threads(), "final": final, "curve": curve, "checkpoint": checkpoint.name,
    }, indent=2))
    print(f"{name}: final FD {final['fd']:.3f} precision {final['precision']:.3f} recall {final['recall']:.3f}; wrote {out}")


def final_evaluation(process: Process, steps: int, act: Act, evaluator: Evaluator, samples: int) -> dict:
    """Metrics averaged over ``EVAL_SEEDS``, with each seed's FD kept as ``fd_per_eval_seed``."""
    runs = [evaluate_generator(policy_generator(process, steps, act), evaluator, process.num_classes, samples,
                               seed=seed, progress=False) for seed in EVAL_SEEDS]
    final = {key: statistics.mean(r[key] for r in runs) for key in runs[0]}
    final.update(fd_per_eval_seed=[r["fd"] for r in runs], eval_seeds=list(EVAL_SEEDS))
    return final


def evaluate(args: argparse.Namespace) -> None:
    """Re-run the final evaluation of every finished run from its exported policy; rewrites the JSON."""
    evaluator = Evaluator()
    for process_name, paradigm in PARADIGMS.items():
        process = paradigm.make_process()
        for path in sorted((LEARNED / process_name).glob("*.json")):
            run = json.loads(path.read_text())
            policy = exported_policy(path)
            if not policy.is_file():  # policies are not committed: only the machine that trained has them
                print(f"{process_name} {path.stem}: skipped, no policy at {policy}")
                continue
            act, _ = load_policy(policy, process, process_name)
            run["final"] = final_evaluation(process, run["steps"], act, evaluator, args.samples)
            path.write_text(json.dumps(run, indent=2))
            print(f"{process_name} {path.stem}: FD {run['final']['fd']:.3f} "
                  f"(per evaluation seed: {', '.join(f'{f:.2f}' for f in run['final']['fd_per_eval_seed'])})")


def load_runs() -> dict[str, list[dict]]:
    """Finished runs by process, in the order of ``PARADIGMS``."""
    runs = {}
    for process_name in PARADIGMS:
        files = sorted((LEARNED / process_name).glob("*.json"))
        if files:
            runs[process_name] = [json.loads(p.read_text()) for p in files]
    return runs


def report(args: argparse.Namespace) -> None:
    runs = load_runs()
    rows, grids = [], {}
    for process_name, process_runs in runs.items():
        grids[process_name] = grid = json.loads(static_grid_path(process_name).read_text())
        for steps in sorted({r["steps"] for r in process_runs}):
            best = grid["best"][str(steps)]
            hand, static = best["hand_designed"], best["best_static"]
            common = {"process": process_name, "steps": steps, "nfe": best.get("nfe", steps)}
            for label, r in (("hand-designed", hand), ("best static", static)):
                rows.append({**common, "schedule": label, "seeds": grid["args"]["seeds"], "fd": r["fd"],
                             "fd_std": r["fd_std"], "precision": r["precision"], "recall": r["recall"],
                             "fd_vs_hand": r["fd"] / hand["fd"]})
            triple = grid["best"].get(str(3 * steps))  # the 3x-budget bar for diffusion and flow
            if triple is not None:
                r = triple["hand_designed"]
                rows.append({**common, "nfe": triple.get("nfe", 3 * steps), "schedule": f"hand-designed, {3 * steps} steps",
                             "seeds": grid["args"]["seeds"], "fd": r["fd"], "fd_std": r["fd_std"],
                             "precision": r["precision"], "recall": r["recall"], "fd_vs_hand": r["fd"] / hand["fd"]})
            for reward in sorted({r["reward"] for r in process_runs if r["steps"] == steps}):
                group = [r["final"] for r in process_runs if r["steps"] == steps and r["reward"] == reward]
                fds = [g["fd"] for g in group]
                fd = statistics.mean(fds)
                rows.append({
                    **common, "schedule": f"learned ({reward})", "seeds": len(group), "fd": fd,
                    "fd_std": statistics.stdev(fds) if len(fds) > 1 else 0.0,
                    "precision": statistics.mean(g["precision"] for g in group),
                    "recall": statistics.mean(g["recall"] for g in group), "fd_vs_hand": fd / hand["fd"],
                })
    floor = noise_floor(Evaluator())
    columns = ("process", "steps", "nfe", "schedule", "seeds", "fd", "fd_std", "precision", "recall", "fd_vs_hand")
    table = format_table(rows, columns)
    note = (f"FD on 2,000 samples vs the 500 held-out images, averaged over evaluation seeds 0, 1, 2 for every row; "
            f"fd_std over those evaluation seeds for static rows, over training seeds for learned rows. "
            f"Noise floor (1,297 real training images vs held-out): FD {floor['fd']:.2f}.")
    print(table + "\n\n" + note)
    (RESULTS / "learned_schedules.md").write_text("```\n" + table + "\n```\n\n" + note + "\n")
    (RESULTS / "learned_schedules.json").write_text(json.dumps({"rows": rows, "noise_floor": floor}, indent=2))
    plot_curves(runs)
    plot_fd_vs_nfe(runs, grids, floor["fd"])


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(runs: dict[str, list[dict]]) -> None:
    """FD against training time, one panel per process and step count (adversarial runs)."""
    plt = _pyplot()
    panels = [(p, s) for p, rs in runs.items() for s in sorted({r["steps"] for r in rs if r["reward"] == "adversarial"})]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (process_name, steps) in zip(axes[0], panels):
        group = [r for r in runs[process_name] if r["reward"] == "adversarial" and r["steps"] == steps]
        for r in group:
            ax.plot([c["train_seconds"] / 60 for c in r["curve"]], [c["fd"] for c in r["curve"]], label=f"seed {r['seed']}")
        # the untrained policy is the hand-designed schedule, so each curve starts at its FD
        hand = statistics.mean(r["curve"][0]["fd"] for r in group)
        ax.axhline(hand, color="grey", linestyle="--", label="hand-designed")
        ax.axhline(0.75 * hand, color="red", linestyle=":", label="0.75 x hand-designed")
        ax.set(title=f"{process_name}, {steps} steps", xlabel="training time (min)", ylabel="FD (curve: 500 samples)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "learning_curve.png", dpi=100)
    print(f"wrote {RESULTS / 'learning_curve.png'}")


def plot_fd_vs_nfe(runs: dict[str, list[dict]], grids: dict[str, dict], floor_fd: float) -> None:
    """FD against model evaluations per process: hand-designed and best static at every grid budget, learned."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 4), squeeze=False)
    for ax, (process_name, process_runs) in zip(axes[0], runs.items()):
        best = sorted(grids[process_name]["best"].values(), key=lambda b: b.get("nfe", b["hand_designed"]["steps"]))
        nfe = [b.get("nfe", b["hand_designed"]["steps"]) for b in best]
        for key, label, style in (("hand_designed", "hand-designed", "o--"), ("best_static", "best static", "s-")):
            ax.errorbar(nfe, [b[key]["fd"] for b in best], [b[key]["fd_std"] for b in best], fmt=style, label=label, capsize=3)
        adversarial = [r for r in process_runs if r["reward"] == "adversarial"]
        learned_nfe = sorted({r["nfe"] if "nfe" in r else r["steps"] for r in adversarial})
        fds = [[r["final"]["fd"] for r in adversarial if r.get("nfe", r["steps"]) == n] for n in learned_nfe]
        ax.errorbar(learned_nfe, [statistics.mean(f) for f in fds],
                    [statistics.stdev(f) if len(f) > 1 else 0.0 for f in fds], fmt="*", markersize=12,
                    label="learned (adversarial)", capsize=3)
        ax.axhline(floor_fd, color="grey", linestyle=":", label="noise floor")
        ax.set(title=process_name, xlabel="model evaluations (NFE)", ylabel="FD (2,000 samples)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "fd_vs_nfe.png", dpi=100)
    print(f"wrote {RESULTS / 'fd_vs_nfe.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("train")
    p.add_argument("--env", default=DEFAULT_ENV, help="environment id (default: %(default)s)")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reward", default=DEFAULT_REWARD)
    p.add_argument("--minutes", type=float, default=15.0, help="training time (default: %(default)s)")
    p.add_argument("--updates", type=int, default=1_000_000, help="at most this many updates (default: until --minutes)")
    p.add_argument("--num-envs", type=int, default=DEFAULT_NUM_ENVS)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--curve-samples", type=int, default=500)
    p.add_argument("--samples", type=int, default=2000)
    p.set_defaults(func=train)
    p = sub.add_parser("evaluate")
    p.add_argument("--samples", type=int, default=2000)
    p.set_defaults(func=evaluate)
    p = sub.add_parser("report")
    p.set_defaults(func=report)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
