"""Does the adversarial reward agree with FD? Ask a discriminator that no schedule trained.

    python -m benchmarks.reward_probe [--env ID] [--steps S] [--samples 2000] [--seeds 3]

The candidates are the hand-designed schedule, the grid's best static schedule and the learned
policy of every finished adversarial run of ``benchmarks.learned_schedules`` at ``--steps``.
A fresh discriminator of the adversarial reward (same model and optimiser) is trained against
real training images on an equal mix of all candidates' samples, ``--updates`` updates of 5
steps, so that it favours none of them; each candidate's mean reward (sigmoid of the logit) on
new samples then says which one the reward prefers. Repeated for ``--seeds`` discriminator
seeds. (The discriminators that training ended with are no judges: each was trained against
its own policy's samples, so it scores anything else higher.)

How to read it: a learned policy with a worse FD than the best static schedule and a *lower*
reward has not reached the reward's optimum (an optimisation gap); one with a worse FD and a
*higher* reward shows that the reward prefers what FD does not (a reward gap).
Results: ``results/reward_probe/<process>-<steps>steps.json``.
"""
from __future__ import annotations

import argparse
import json
import statistics

import torch
from tqdm import tqdm

from adagen_agents.cli import DEFAULT_ENV
from adagen_agents.loading import load_policy
from adagen_env.evaluation.generators import generate_balanced, policy_generator, static_generator
from adagen_env.evaluation.metrics import Evaluator
from adagen_env.paradigms import best_static_schedule, get_paradigm
from adagen_env.rewards.adversarial import UPDATE_EVERY, AdversarialScorer
from adagen_env.evaluation.seeds import PROBE_TRAIN_SEED, REPORT_SEEDS
from adagen_env.runtime.tables import format_table
from benchmarks.learned_schedules import LEARNED, RESULTS, SPACE_FDS, exported_policy

# the discriminators train on tuning noise and are tested on evaluation noise, new to them
TRAIN_SEED, TEST_SEED = PROBE_TRAIN_SEED, REPORT_SEEDS[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default=DEFAULT_ENV, help="environment id (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--samples", type=int, default=2000, help="samples per candidate, for training and for testing")
    parser.add_argument("--updates", type=int, default=400, help="discriminator updates (5 steps each)")
    parser.add_argument("--seeds", type=int, default=3, help="discriminators trained, each from its own seed")
    args = parser.parse_args()

    paradigm = get_paradigm(args.env)
    process_name = paradigm.name
    process = paradigm.make_process()
    folder = LEARNED / process_name
    generators = {"hand-designed": static_generator(process, args.steps)}
    best = best_static_schedule(process_name, process, args.steps)
    if best is not None:
        config = ", ".join(f"{k} {v}" for k, v in best[0].items())
        generators[f"best static ({config})"] = static_generator(process, args.steps, best[1])
    for path in sorted(folder.glob(f"adversarial-{args.steps}steps-seed*.json")):
        policy = exported_policy(path)
        if not policy.is_file():  # policies are not committed: only the machine that trained has them
            raise SystemExit(f"no policy at {policy}; run this where {path.stem} was trained")
        act, metadata = load_policy(policy, process, process_name)
        generators[f"learned, run {json.loads(path.read_text())['seed']}"] = policy_generator(
            process, args.steps, act, metadata.get("smoothing", 0.0))

    evaluator = Evaluator()
    train, test, rows = {}, {}, []
    for name, generate in tqdm(generators.items(), desc="sampling"):
        train[name], labels = generate_balanced(generate, process.num_classes, args.samples, TRAIN_SEED)
        test[name], _ = generate_balanced(generate, process.num_classes, args.samples, TEST_SEED)
        scores = evaluator.evaluate(test[name], labels)
        rows.append({"schedule": name, **{key: scores[key] for key in SPACE_FDS}})
    names = list(generators)
    per_candidate = UPDATE_EVERY // len(names) + 1  # one discriminator update per round of the mix
    for seed in range(args.seeds):
        scorer = AdversarialScorer(seed=seed)
        pick = torch.Generator().manual_seed(seed)
        for _ in tqdm(range(args.updates), desc=f"discriminator {seed}", leave=False):
            for name in names:
                index = torch.randint(args.samples, (per_candidate,), generator=pick)
                scorer(train[name][index], labels[index])
        for row in rows:
            row[f"reward_d{seed}"] = scorer.score(test[row["schedule"]], labels).mean().item()
    for row in rows:
        rewards = [row[f"reward_d{seed}"] for seed in range(args.seeds)]
        row["reward_mean"] = statistics.mean(rewards)
        row["reward_std"] = statistics.stdev(rewards) if len(rewards) > 1 else 0.0

    print(format_table(rows, ("schedule", *SPACE_FDS, *(f"reward_d{seed}" for seed in range(args.seeds)), "reward_mean", "reward_std")))
    print(f"\n*_fd: {args.samples} test samples (evaluation seed {TEST_SEED}) vs the held-out images, in every feature "
          f"space; reward_dK: mean reward of the same test "
          f"samples under discriminator K, trained {args.updates} updates on an equal mix of all rows")
    out = RESULTS / "reward_probe" / f"{process_name}-{args.steps}steps.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "process": process_name, "train_seed": TRAIN_SEED, "test_seed": TEST_SEED,
                               "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
