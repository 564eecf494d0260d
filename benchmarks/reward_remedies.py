"""Remedies for the adversarial reward's overfitting discriminator, and the trajectory reward, at one PPO budget.

    python -m benchmarks.reward_remedies [--tasks diffusion-6 flow-6 maskgit-8] [--rewards NAME ...]
                                         [--updates 20] [--samples 2000] [--curve-samples 500] [--seed 0]

For every task and reward preset (``rewards.SCORERS``: the plain adversarial reward, each remedy
alone, the combined one, and for diffusion and flow the trajectory reward alone and mixed), our
PPO (``train_ppo`` through ``train_policy``, ``PPOConfig``'s defaults, seed ``--seed``) trains for
``--updates`` updates on one thread (``--threads``). Every ``--updates / --checkpoints`` updates
the current policy is scored on ``--curve-samples`` samples of the tuning seed CURVE_SEED; the
Spearman correlation between the mean training reward since the previous checkpoint and each
space's metrics over those checkpoints (``reward_agreement``: signed, +1 = more reward, better
images) says whether the reward tracks quality. The learned schedule then meets the hand-designed
and the best static schedule in ``run_experiment`` on ``--samples`` samples of each of the tuning
seeds SEEDS (never the evaluation seeds: this benchmark steers which remedy to use).

The same question over the static grid: the run's final discriminator (frozen) scores every
static schedule of the paradigm's grid, each sampled on ``--grid-samples`` samples of the tuning
seed GRID_SEED, and the signed Spearman correlation of that mean reward with each space's metrics
over the grid is stored as ``grid_agreement`` (adversarial rewards only: the trajectory reward
scores starts from its own pool, not arbitrary samples). The grid's scores are computed once per
task and cached in ``results/reward_remedies/<task>-grid.json``.

Each run writes ``results/reward_remedies/<task>-<reward>-seed<S>.json`` (training time, the
discriminator's final diagnostics, the checkpoints, the agreement, the report with its verdicts);
a run whose file exists is skipped, so an interrupted campaign resumes. The summary of every run
on file is printed and written to ``results/reward_remedies.json`` and ``.md``. Policies are
written beside the runs, not committed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics

import torch

from adagen_agents.ppo import PPO, PPOConfig
from adagen_env.envs import ScheduleVectorEnv
from adagen_env.evaluation.agreement import reward_agreement
from adagen_env.evaluation.experiment import run_experiment
from adagen_env.evaluation.generators import balanced_labels, evaluate_generator, policy_generator, static_generator
from adagen_env.evaluation.metrics import SPACE_METRICS, Evaluator
from adagen_env.evaluation.seeds import CURVE_SEED, EVALUATION_SEEDS, TUNING_SEEDS
from adagen_env.paradigms import best_static_schedule, get_paradigm
from adagen_env.rewards import SCORERS
from adagen_env.runtime.provenance import Provenance
from adagen_env.runtime.tables import format_table
from benchmarks.common import RESULTS, train_policy, write

FOLDER = RESULTS / "reward_remedies"
TASKS = {"diffusion-6": ("diffusion-digits", 6), "flow-6": ("flow-digits", 6), "maskgit-8": ("maskgit-digits", 8)}
ODE_REWARDS = ("trajectory", "trajectory-adversarial")  # diffusion and flow only
REWARDS = (
    tuple(
        n for n in SCORERS if n.startswith("adversarial") and n not in ("adversarial-projected", "adversarial-latent")
    )
    + ODE_REWARDS
)
SEEDS = range(50_000, 50_003)  # tuning seeds no other choice uses (adagen_env/evaluation/seeds.py)
assert all(s in TUNING_SEEDS and s not in EVALUATION_SEEDS for s in SEEDS)
GRID_SEED = 50_100  # the static grid's samples for the grid agreement (a tuning seed)
assert GRID_SEED in TUNING_SEEDS and GRID_SEED not in EVALUATION_SEEDS
NUM_ENVS = 256
DEFAULT_UPDATES = 20  # about 1 minute of training for diffusion and flow on one core, 2 for MaskGIT
DIAGNOSTICS = ("real_logit", "heldout_logit", "overfit_gap", "ada_rt", "ada_p")


def run_path(task: str, reward: str, seed: int):
    return FOLDER / f"{task}-{reward}-seed{seed}.json"


def grid_scores(task: str, args: argparse.Namespace, evaluator: Evaluator) -> list[dict]:
    """Every static schedule of the task's grid: its config and its scores on GRID_SEED (cached per task)."""
    path = FOLDER / f"{task}-grid.json"
    if path.exists():
        return json.loads(path.read_text())["schedules"]
    process_name, steps = TASKS[task]
    paradigm = get_paradigm(process_name)
    process = paradigm.make_process()
    schedules = []
    for values in itertools.product(*paradigm.grid.values()):
        config = dict(zip(paradigm.grid, values))
        generate = static_generator(process, steps, process.static_schedule(steps, **config))
        scores = evaluate_generator(
            generate, evaluator, process.num_classes, args.grid_samples, GRID_SEED, progress=False
        )
        schedules.append({"config": config, "scores": scores})
    write(path, {"task": task, "seed": GRID_SEED, "samples": args.grid_samples, "schedules": schedules}, Provenance())
    return schedules


_GRID_IMAGES: dict[str, list[torch.Tensor]] = {}  # task: each grid schedule's samples, made once per process


@torch.no_grad()
def grid_agreement(task: str, scorer, args: argparse.Namespace, evaluator: Evaluator) -> dict[str, float]:
    """Signed Spearman correlation over the static grid between the frozen final discriminator's mean
    reward and each space's metrics."""
    process_name, steps = TASKS[task]
    schedules = grid_scores(task, args, evaluator)
    process = get_paradigm(process_name).make_process()
    labels = balanced_labels(args.grid_samples, process.num_classes)
    if task not in _GRID_IMAGES:
        _GRID_IMAGES[task] = [
            static_generator(process, steps, process.static_schedule(steps, **s["config"]))(labels, GRID_SEED)
            for s in schedules
        ]
    rewards = [scorer.score(images, labels).double().mean().item() for images in _GRID_IMAGES[task]]
    return reward_agreement(rewards, [s["scores"] for s in schedules], evaluator.spaces)


def train_and_compare(task: str, reward: str, args: argparse.Namespace, evaluator: Evaluator) -> dict:
    """One run: train, score the checkpoints on the curve seed, compare with the static schedules."""
    process_name, steps = TASKS[task]
    paradigm = get_paradigm(process_name)
    env = ScheduleVectorEnv(NUM_ENVS, process=process_name, num_steps=steps, reward=reward)
    process, spec = env.core.process, env.core.spec.for_sampling()
    every = max(1, args.updates // args.checkpoints)
    checkpoints, window = [], []

    def on_update(agent: PPO, stats: dict) -> None:
        window.append(stats["reward_mean"])
        if agent.updates % every == 0 or agent.updates == args.updates:
            generate = policy_generator(process, agent.predict, spec)
            scores = evaluate_generator(
                generate, evaluator, process.num_classes, args.curve_samples, CURVE_SEED, progress=False
            )
            checkpoints.append({"updates": agent.updates, "reward": statistics.mean(window), "scores": scores})
            window.clear()
            print(
                f"{task} {reward}: update {agent.updates}, reward {checkpoints[-1]['reward']:.3f}, "
                f"FD({args.curve_samples}) {scores[f'{evaluator.spaces[0]}_fd']:.3f}",
                flush=True,
            )

    name = run_path(task, reward, args.seed).stem
    result, _ = train_policy(
        env, paradigm.env_id, PPOConfig(seed=args.seed), FOLDER / f"{name}.pt", args.updates, on_update=on_update
    )
    generators = {
        "learned": policy_generator(process, result.agent.predict, spec),
        "hand-designed": static_generator(process, steps),
    }
    best = best_static_schedule(process_name, process, steps)
    if best is not None:
        generators["best static"] = static_generator(process, steps, best[1])
    report = run_experiment(
        generators,
        evaluator,
        process.num_classes,
        args.samples,
        SEEDS,
        title=f"{task}, reward {reward}: the learned schedule on tuning seeds",
        nfe={n: process.nfe(steps) for n in generators},
        floor=False,
    )
    print(report.table(), flush=True)
    stats = getattr(env.core.scorer, "stats", {})
    agreement = reward_agreement(
        [c["reward"] for c in checkpoints], [c["scores"] for c in checkpoints], evaluator.spaces
    )
    scorer = env.core.scorer
    on_grid = grid_agreement(task, scorer, args, evaluator) if reward not in ODE_REWARDS else None
    return {
        "task": task,
        "process": process_name,
        "steps": steps,
        "reward": reward,
        "seed": args.seed,
        "updates": result.agent.updates,
        "episodes": result.agent.episodes,
        "train_seconds": result.agent.seconds,
        "threads": torch.get_num_threads(),
        "best_static": None if best is None else best[0],
        "discriminator": {k: stats[k] for k in DIAGNOSTICS if k in stats},
        "checkpoints": checkpoints,
        "curve_seed": CURVE_SEED,
        "curve_samples": args.curve_samples,
        "agreement": agreement,
        "grid_agreement": on_grid,
        "grid_seed": GRID_SEED,
        "learned": {
            k: v
            for k, v in report.contenders["learned"].mean.items()
            if any(k == f"{s}_{m}" for s in evaluator.spaces for m in SPACE_METRICS)
        },
        "verdicts": {c.b: c.verdict.value for c in report.comparisons},
        "report": report.to_dict(),
    }


def versus(run: dict, b: str) -> str:
    """The verdict against ``b`` with its agreement: spaces with lower FD and KID, mean precision and recall change."""
    comparisons = [c for c in run["report"]["comparisons"] if c["b"] == b]
    if not comparisons:
        return "-"
    c = comparisons[0]
    n = len(c["spaces"])
    share = {m: round(c["agreement"][m]["better"] * n) for m in ("fd", "kid")}
    dp = statistics.mean(s["precision"]["value"] for s in c["spaces"])
    dr = statistics.mean(s["recall"]["value"] for s in c["spaces"])
    return f"{c['verdict']} (FD {share['fd']}/{n}, KID {share['kid']}/{n}, dP {dp:+.3f}, dR {dr:+.3f})"


def summary_rows(spaces: tuple[str, ...]) -> list[dict]:
    """One row per run on file, in task and reward order."""
    rows = []
    for task in TASKS:
        for reward in REWARDS:
            for path in sorted(FOLDER.glob(f"{task}-{reward}-seed*.json")):
                run = json.loads(path.read_text())
                d = run["discriminator"]
                grid = run.get("grid_agreement")
                rows.append(
                    {
                        "task": task,
                        "reward": reward,
                        "seed": run["seed"],
                        "train_s": f"{run['train_seconds']:.0f}",
                        "gap": f"{d['overfit_gap']:.2f}" if "overfit_gap" in d else "-",
                        "r_t": f"{d['ada_rt']:.2f}" if "ada_rt" in d else "-",
                        "vs hand": versus(run, "hand-designed"),
                        "vs best static": versus(run, "best static"),
                        "rho ckpt (FD)": " ".join(f"{run['agreement'][f'{s}_fd']:+.1f}" for s in spaces),
                        "rho grid (FD)": " ".join(f"{grid[f'{s}_fd']:+.1f}" for s in spaces) if grid else "-",
                    }
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS), help="(default: all)")
    parser.add_argument(
        "--rewards", nargs="+", choices=REWARDS, default=list(REWARDS), help="reward presets (default: all)"
    )
    parser.add_argument("--updates", type=int, default=DEFAULT_UPDATES, help="PPO updates (default: %(default)s)")
    parser.add_argument("--checkpoints", type=int, default=4, help="scored checkpoints (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=2000, help="samples per tuning seed (default: %(default)s)")
    parser.add_argument("--curve-samples", type=int, default=500, help="per checkpoint (default: %(default)s)")
    parser.add_argument("--grid-samples", type=int, default=500, help="per static schedule (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="PPO and discriminator seed (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    args = parser.parse_args()
    if args.updates < 1 or args.checkpoints < 1:
        raise SystemExit("--updates and --checkpoints must be at least 1")
    torch.set_num_threads(args.threads)
    evaluator = Evaluator()
    for task in args.tasks:
        for reward in args.rewards:
            if reward in ODE_REWARDS and TASKS[task][0] == "maskgit-digits":
                continue  # the trajectory reward needs an ODE sampler
            out = run_path(task, reward, args.seed)
            if out.exists():
                print(f"{out.name}: done already")
                continue
            provenance = Provenance()
            write(out, train_and_compare(task, reward, args, evaluator), provenance)
    rows = summary_rows(tuple(evaluator.spaces))
    if not rows:
        return
    table = format_table(rows, list(rows[0]))
    note = (
        f"Each run: our PPO for {args.updates} updates on one thread. Verdicts of the learned schedule, paired "
        f"against the hand-designed and best static schedules on tuning seeds {SEEDS.start}-{SEEDS.stop - 1} "
        "in every space, with the number of spaces where its FD and KID are lower beyond their intervals and "
        "its mean precision and recall change over the spaces (dP, dR). gap and r_t: the discriminator's last "
        "overfitting gap (train minus held-out logit) and E[sign(D(real))]. rho ckpt: Spearman correlation over "
        "the checkpoints between the training reward and minus FD, per space "
        f"({', '.join(evaluator.spaces)}), +1 when the reward ranks them as FD does; rho grid: the same over "
        f"the static grid, scored by the final discriminator on {args.grid_samples} samples of seed {GRID_SEED}."
    )
    print(table + "\n\n" + note)
    columns = list(rows[0])
    markdown = "\n".join(
        ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        + ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    )
    write(RESULTS / "reward_remedies.json", {"rows": rows, "note": note}, Provenance(), markdown + "\n\n" + note)


if __name__ == "__main__":
    main()
