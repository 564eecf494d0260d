"""Reward and smoothing ablations at one PPO budget: pixel vs projected discriminator, smoothing off vs on.

    python -m benchmarks.ablations run [--env ID ...] [--variant NAME ...] [--updates 40] [--seed 0 1 2]
    python -m benchmarks.ablations report

``run`` trains our PPO (``train_ppo``, its defaults: 256 episodes per update) for ``--updates``
updates of every (paradigm, variant, training seed) not done yet, and evaluates the policy on
2,000 class-balanced samples of the evaluation seed REPORT_SEEDS[0] in every feature space;
one JSON per run and the exported policy under ``results/ablations/``, so an interrupted
campaign keeps what finished and two processes can split the paradigms or seeds. ``report``
gives each variant's FD as the mean over its training seeds, and compares, per paradigm, each
variant with the ``pixel`` one and with the hand-designed schedule, paired: sample i of every
policy shares its label and noise, and the policies of one training seed are paired with each
other, so the 95 % bootstrap interval of the FD difference (per space) resamples samples over
all seeds; it does not resample training seeds, whose spread the per-seed FDs show.
Writes ``results/ablations.md`` and ``results/ablations.json``.

Variants: ``pixel`` (the adversarial reward as shipped), ``projected`` (its discriminator on
the frozen projection features, :mod:`adagen_env.models.projection_features`), ``smoothing``
(the pixel reward with the method's action smoothing of the paradigm).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from adagen_agents.loading import load_policy
from adagen_agents.ppo import PPOConfig, export_policy
from adagen_agents.train import train_ppo
from adagen_env.evaluation.comparison import paired_fd_difference, verdict
from adagen_env.envs import ScheduleVectorEnv
from adagen_env.evaluation.generators import generate_and_evaluate, generate_balanced, policy_generator, static_generator
from adagen_env.evaluation.metrics import DEFAULT_NUM_SAMPLES, SPACES, Evaluator
from adagen_env.paradigms import get_paradigm
from adagen_env.evaluation.seeds import REPORT_SEEDS
from adagen_env.runtime.tables import format_table

RESULTS = Path(__file__).resolve().parent / "results"
FOLDER = RESULTS / "ablations"
STEPS = {"maskgit-digits": 8, "diffusion-digits": 6, "flow-digits": 6, "var-digits": 4}  # as the shipped policies
VARIANTS = {
    "pixel": {"reward": "adversarial", "smoothing": 0.0},
    "projected": {"reward": "adversarial-projected", "smoothing": 0.0},
    "smoothing": {"reward": "adversarial", "smoothing": "method"},
}
NUM_ENVS = 256
SEED = REPORT_SEEDS[0]


def run_path(process_name: str, variant: str, seed: int) -> Path:
    return FOLDER / f"{process_name}-{variant}-seed{seed}.json"


def run(args: argparse.Namespace) -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    evaluator = Evaluator()
    for seed, env_id, variant in ((s, e, v) for s in args.seed for e in args.env for v in args.variant):
        paradigm = get_paradigm(env_id)
        steps = STEPS[paradigm.name]
        out = run_path(paradigm.name, variant, seed)
        if out.exists():
            print(f"{out.name}: done already")
            continue
        settings = VARIANTS[variant]
        env = ScheduleVectorEnv(NUM_ENVS, process=paradigm.name, num_steps=steps, **settings)
        load_before = os.getloadavg()
        result = train_ppo(env, PPOConfig(seed=seed), out=FOLDER / f"{out.stem}.pt", updates=args.updates,
                           metadata={"env": paradigm.env_id, "process": paradigm.name, "num_steps": steps,
                                     "reward": settings["reward"], "algo": "ppo", "smoothing": env.core.smoothing})
        policy = export_policy(result.out, FOLDER / f"{out.stem}-policy.pt")
        act, metadata = load_policy(policy, env.core.process, paradigm.name)
        generate = policy_generator(env.core.process, steps, act, metadata["smoothing"])
        metrics, _ = generate_and_evaluate(generate, evaluator, env.core.process.num_classes,
                                           DEFAULT_NUM_SAMPLES, SEED, progress=False)
        out.write_text(json.dumps({
            "process": paradigm.name, "variant": variant, **settings, "smoothing": env.core.smoothing,
            "steps": steps, "updates": result.agent.updates, "episodes": result.agent.episodes,
            "train_seconds": result.agent.seconds, "threads": torch.get_num_threads(),
            "load_before": load_before, "load_after": os.getloadavg(), "seed": seed,
            "eval_seed": SEED, "samples": DEFAULT_NUM_SAMPLES, "metrics": metrics,
            "finished": time.strftime("%Y-%m-%d %H:%M"),
        }, indent=2))
        print(f"{out.name}: FD " + ", ".join(f"{s} {metrics[f'{s}_fd']:.3f}" for s in SPACES), flush=True)


def report(args: argparse.Namespace) -> None:
    evaluator = Evaluator()
    rows, comparisons = [], []
    for process_name, steps in STEPS.items():
        runs = {v: sorted(FOLDER.glob(f"{process_name}-{v}-seed*.json")) for v in VARIANTS}
        runs = {v: [json.loads(p.read_text()) for p in paths] for v, paths in runs.items() if paths}
        if not runs:
            continue
        seeds = sorted(set.intersection(*({r["seed"] for r in group} for group in runs.values())))
        process = get_paradigm(process_name).make_process()
        hand, hand_images = generate_and_evaluate(static_generator(process, steps), evaluator, process.num_classes,
                                                  DEFAULT_NUM_SAMPLES, SEED, progress=False)
        rows.append({"process": process_name, "variant": "hand-designed", "seeds": "-", "per_seed_classifier_fd": "-",
                     **{f"{s}_fd": hand[f"{s}_fd"] for s in SPACES}})
        images = {}
        for variant, group in runs.items():
            group = [r for r in group if r["seed"] in seeds]  # paired comparisons need the same seeds everywhere
            rows.append({"process": process_name, "variant": variant, "seeds": len(group),
                         **{f"{s}_fd": statistics.mean(r["metrics"][f"{s}_fd"] for r in group) for s in SPACES},
                         "per_seed_classifier_fd": " ".join(f"{r['metrics']['classifier_fd']:.2f}" for r in group)})
            images[variant] = torch.cat([run_images(process, process_name, steps, variant, seed) for seed in seeds])
        hand_images = hand_images.repeat(len(seeds), 1, 1, 1)
        pairs = [(v, "pixel") for v in images if v != "pixel" and "pixel" in images] + [(v, "hand-designed") for v in images]
        for a, b in pairs:
            differences = paired_fd_difference(evaluator, images[a], hand_images if b == "hand-designed" else images[b])
            comparisons.append({"process": process_name, "a": a, "b": b, "seeds": seeds, "verdict": verdict(differences, a, b),
                                "fd_differences": [vars(d) for d in differences]})
    columns = ("process", "variant", "seeds", *(f"{s}_fd" for s in SPACES), "per_seed_classifier_fd")
    table = format_table(rows, columns)
    lines = [f"- {c['process']}, {c['a']} vs {c['b']}: {c['verdict']} (" + ", ".join(
        f"{d['space']} {d['difference']:+.3g} [{d['low']:+.3g}, {d['high']:+.3g}]" for d in c["fd_differences"]) + ")"
        for c in comparisons]
    text = ("```\n" + table + "\n```\n\nFD on 2,000 class-balanced samples of evaluation seed "
            f"{SEED}, mean over training seeds; every variant trained with our PPO's defaults for the same updates. "
            "Paired FD differences (A - B, 95 % bootstrap interval over samples, all seeds pooled):\n\n"
            + "\n".join(lines) + "\n")
    (RESULTS / "ablations.md").write_text(text)
    (RESULTS / "ablations.json").write_text(json.dumps({"rows": rows, "comparisons": comparisons}, indent=2))
    print(text)


def run_images(process, process_name: str, steps: int, variant: str, seed: int) -> torch.Tensor:
    """The samples a run was scored on, made again from its exported policy."""
    policy = FOLDER / f"{run_path(process_name, variant, seed).stem}-policy.pt"
    act, metadata = load_policy(policy, process, process_name)
    generate = policy_generator(process, steps, act, metadata["smoothing"])
    return generate_balanced(generate, process.num_classes, DEFAULT_NUM_SAMPLES, SEED)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run")
    p.add_argument("--env", nargs="+", default=[get_paradigm(name).env_id for name in STEPS])
    p.add_argument("--variant", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--updates", type=int, default=40)
    p.add_argument("--seed", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=1)
    sub.add_parser("report")
    args = parser.parse_args()
    if args.command == "run":
        for env_id in args.env:  # unknown or unsupported ids fail here, before any training
            if get_paradigm(env_id).name not in STEPS:
                raise SystemExit(f"ablations: no step count for {env_id}; choose from {sorted(STEPS)}")
        run(args)
    else:
        report(args)


if __name__ == "__main__":
    main()
