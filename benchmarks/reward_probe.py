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

from adagen_agents.target import DEFAULT_ENV, make_target
from adagen_env.envs.spec import EpisodeSpec
from adagen_env.evaluation.generators import generate_balanced, policy_generator
from adagen_env.evaluation.seeds import PROBE_TRAIN_SEED, REPORT_SEEDS
from adagen_env.rewards.adversarial import UPDATE_EVERY, AdversarialScorer
from adagen_env.runtime.provenance import Provenance
from adagen_env.runtime.tables import format_table
from benchmarks.common import RESULTS, exported, load_policies, write
from benchmarks.learned_schedules import LEARNED, SPACE_FDS

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
    provenance = Provenance()

    target = make_target(args.env)
    process, process_name = target.process, target.paradigm.name
    paths = {}
    for path in sorted((LEARNED / process_name).glob(f"adversarial-{args.steps}steps-seed*.json")):
        if not exported(path).is_file():  # policies are not committed: only the machine that trained has them
            raise SystemExit(f"no policy at {exported(path)}; run this where {path.stem} was trained")
        paths[f"learned, run {json.loads(path.read_text())['seed']}"] = exported(path)
    spec = EpisodeSpec(num_steps=args.steps, reward=None)
    generators = {"hand-designed": target.static(None, spec)}
    best = target.best_static(args.steps)
    if best is not None:
        generators[f"best static ({', '.join(f'{k} {v}' for k, v in best[0].items())})"] = target.static(best[1], spec)
    for name, (act, policy_spec) in load_policies(target, paths).items():
        generators[name] = policy_generator(process, act, policy_spec)

    evaluator = target.evaluator
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

    print(
        format_table(
            rows,
            ("schedule", *SPACE_FDS, *(f"reward_d{seed}" for seed in range(args.seeds)), "reward_mean", "reward_std"),
        )
    )
    print(
        f"\n*_fd: {args.samples} test samples (evaluation seed {TEST_SEED}) vs the held-out images, in every feature "
        f"space; reward_dK: mean reward of the same test "
        f"samples under discriminator K, trained {args.updates} updates on an equal mix of all rows"
    )
    write(
        RESULTS / "reward_probe" / f"{process_name}-{args.steps}steps.json",
        {"args": vars(args), "process": process_name, "train_seed": TRAIN_SEED, "test_seed": TEST_SEED, "rows": rows},
        provenance,
    )


if __name__ == "__main__":
    main()
