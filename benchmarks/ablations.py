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
other (``compare_images`` on the pooled samples), so the 95 % bootstrap interval of the FD
difference (per space) resamples samples over all seeds, and precision and recall are paired set
by set within each seed; it does not resample training seeds, whose spread the per-seed FDs show.
Writes ``results/ablations.md`` and ``results/ablations.json``.

Variants: ``pixel`` (the adversarial reward as shipped), ``projected`` (its discriminator on
the frozen projection features, :mod:`adagen_env.models.projection_features`), ``smoothing``
(the pixel reward with the method's action smoothing of the paradigm).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from adagen_agents.loading import load_policy
from adagen_agents.ppo import PPOConfig
from adagen_env.envs import ScheduleVectorEnv
from adagen_env.evaluation.comparison import compare_images
from adagen_env.evaluation.generators import (
    Generate,
    evaluate_generator,
    generate_balanced,
    policy_generator,
    static_generator,
)
from adagen_env.evaluation.metrics import DEFAULT_NUM_SAMPLES, SPACES, Evaluator
from adagen_env.evaluation.seeds import REPORT_SEEDS
from adagen_env.paradigms import get_paradigm
from adagen_env.processes.base import Process
from adagen_env.runtime.provenance import Provenance
from adagen_env.runtime.tables import format_table
from benchmarks.common import RESULTS, exported, train_policy, write

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


def policy_generate(path: Path, process: Process, process_name: str) -> Generate:
    """Sampling with a run's exported policy, in the episode it was trained in (its card's)."""
    act, card = load_policy(path, process, process_name)
    return policy_generator(process, act, card.sampling_spec())


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    evaluator = Evaluator()
    for seed, env_id, variant in ((s, e, v) for s in args.seed for e in args.env for v in args.variant):
        paradigm = get_paradigm(env_id)
        steps = STEPS[paradigm.name]
        out = run_path(paradigm.name, variant, seed)
        if out.exists():
            print(f"{out.name}: done already")
            continue
        provenance = Provenance()
        settings = VARIANTS[variant]
        env = ScheduleVectorEnv(NUM_ENVS, process=paradigm.name, num_steps=steps, **settings)
        result, policy = train_policy(
            env, paradigm.env_id, PPOConfig(seed=seed), FOLDER / f"{out.stem}.pt", args.updates
        )
        process = env.core.process
        metrics = evaluate_generator(
            policy_generate(policy, process, paradigm.name),
            evaluator,
            process.num_classes,
            DEFAULT_NUM_SAMPLES,
            SEED,
            progress=False,
        )
        write(
            out,
            {
                "process": paradigm.name,
                "variant": variant,
                **settings,
                "smoothing": env.core.spec.smoothing,
                "steps": steps,
                "updates": result.agent.updates,
                "episodes": result.agent.episodes,
                "train_seconds": result.agent.seconds,
                "seed": seed,
                "eval_seed": SEED,
                "samples": DEFAULT_NUM_SAMPLES,
                "metrics": metrics,
            },
            provenance,
        )
        print(f"{out.name}: FD " + ", ".join(f"{s} {metrics[f'{s}_fd']:.3f}" for s in SPACES), flush=True)


def report(args: argparse.Namespace) -> None:
    provenance = Provenance()
    evaluator = Evaluator()
    rows, comparisons = [], []
    for process_name, steps in STEPS.items():
        runs = {v: sorted(FOLDER.glob(f"{process_name}-{v}-seed*.json")) for v in VARIANTS}
        runs = {v: [json.loads(p.read_text()) for p in paths] for v, paths in runs.items() if paths}
        if not runs:
            continue
        seeds = sorted(set.intersection(*({r["seed"] for r in group} for group in runs.values())))
        process = get_paradigm(process_name).make_process()
        hand_images, labels = generate_balanced(
            static_generator(process, steps), process.num_classes, DEFAULT_NUM_SAMPLES, SEED
        )
        hand = evaluator.evaluate(hand_images, labels)
        rows.append(
            {
                "process": process_name,
                "variant": "hand-designed",
                "seeds": "-",
                "per_seed_classifier_fd": "-",
                **{f"{s}_fd": hand[f"{s}_fd"] for s in SPACES},
            }
        )
        # sample i of every policy shares its label and noise; the policies of one training seed pair up
        images = {"hand-designed": hand_images.repeat(len(seeds), 1, 1, 1)}
        for variant, group in runs.items():
            group = [r for r in group if r["seed"] in seeds]  # paired comparisons need the same seeds everywhere
            rows.append(
                {
                    "process": process_name,
                    "variant": variant,
                    "seeds": len(group),
                    **{f"{s}_fd": statistics.mean(r["metrics"][f"{s}_fd"] for r in group) for s in SPACES},
                    "per_seed_classifier_fd": " ".join(f"{r['metrics']['classifier_fd']:.2f}" for r in group),
                }
            )
            images[variant] = torch.cat([run_images(process, process_name, variant, seed) for seed in seeds])
        variants = [v for v in images if v != "hand-designed"]
        pairs = [(v, "pixel") for v in variants if v != "pixel" and "pixel" in images] + [
            (v, "hand-designed") for v in variants
        ]
        for a, b in pairs:  # images in hand, one set per training seed: compared as they are
            comparisons.append(
                (process_name, seeds, compare_images(evaluator, images[a], images[b], a, b, sets=len(seeds)))
            )
    columns = ("process", "variant", "seeds", *(f"{s}_fd" for s in SPACES), "per_seed_classifier_fd")
    table = format_table(rows, columns)
    lines = [
        f"- {process}, {c.a} vs {c.b}: {c.sentence()} (FD: " + ", ".join(f"{s.space} {s.fd}" for s in c.spaces) + ")"
        for process, _, c in comparisons
    ]
    text = (
        "```\n" + table + "\n```\n\nFD on 2,000 class-balanced samples of evaluation seed "
        f"{SEED}, mean over training seeds; every variant trained with our PPO's defaults for the same updates. "
        "Paired comparisons (A - B, every space, all training seeds pooled: FD by a bootstrap over samples, "
        "precision and recall by a t interval over the sets of each seed):\n\n" + "\n".join(lines) + "\n"
    )
    print(text)
    write(
        RESULTS / "ablations.json",
        {
            "rows": rows,
            "comparisons": [{"process": process, "seeds": seeds, **c.to_dict()} for process, seeds, c in comparisons],
        },
        provenance,
        text,
    )


def run_images(process: Process, process_name: str, variant: str, seed: int) -> torch.Tensor:
    """The samples a run was scored on, made again from its exported policy."""
    policy = exported(FOLDER / f"{run_path(process_name, variant, seed).stem}.pt")
    return generate_balanced(
        policy_generate(policy, process, process_name), process.num_classes, DEFAULT_NUM_SAMPLES, SEED
    )[0]


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
