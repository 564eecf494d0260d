"""Does learning that starts from the best static schedule reach the method's 3x bar?

    python -m benchmarks.from_best_static [--env ID] [--steps 6] [--updates 280] [--seed 0]

The best static diffusion schedule at 6 calls is the schedule closest to the hand-designed one
at 18 (README, "The method's cost claim, retried"), and every learned policy so far started
from the hand-designed schedule. Here the policy's actions are residuals around the best static
schedule instead (``baseline=``), trained as the learned-schedule runs are (``RESULTS_CONFIG``,
the method's action smoothing, the adversarial reward, ``--updates`` updates), then scored on
the evaluation seeds beside its starting point and the hand-designed schedule at 3x the steps,
paired, in every feature space (``run_experiment``). Results: ``results/from_best_static.md`` and
``.json``; the policy is written under ``results/from_best_static/`` (not committed).
"""

from __future__ import annotations

import argparse

from adagen_agents.ppo import PPOConfig
from adagen_env.envs import ScheduleVectorEnv
from adagen_env.evaluation.experiment import run_experiment
from adagen_env.evaluation.generators import policy_generator, static_generator
from adagen_env.evaluation.metrics import Evaluator
from adagen_env.evaluation.seeds import REPORT_SEEDS
from adagen_env.paradigms import best_static_schedule, get_paradigm
from adagen_env.runtime.provenance import Provenance
from benchmarks.common import RESULTS, train_policy, write_reports
from benchmarks.learned_schedules import RESULTS_CONFIG


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="AdaGen/Diffusion-Digits-v0", help="environment id (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=6, help="steps of the policy (default: %(default)s)")
    parser.add_argument("--updates", type=int, default=280, help="PPO updates (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="PPO seed (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=2000, help="samples per evaluation seed (default: %(default)s)")
    args = parser.parse_args()
    provenance = Provenance()
    paradigm = get_paradigm(args.env)
    process = paradigm.make_process()
    best = best_static_schedule(paradigm.name, process, args.steps)
    if best is None:
        raise SystemExit(f"no best static schedule of {paradigm.name} at {args.steps} steps")
    env = ScheduleVectorEnv(
        num_envs=256,
        process=process,
        num_steps=args.steps,
        reward="adversarial",
        smoothing=paradigm.smoothing,
        baseline=best[1],
    )
    name = f"{paradigm.name}-{args.steps}steps-seed{args.seed}"
    result, _ = train_policy(
        env,
        paradigm.env_id,
        PPOConfig(seed=args.seed, **RESULTS_CONFIG),
        RESULTS / "from_best_static" / f"{name}.pt",
        args.updates,
    )
    bar = f"hand-designed, {3 * args.steps} steps"
    generators = {
        "learned from best static": policy_generator(process, result.agent.predict, env.core.spec.for_sampling()),
        "best static": static_generator(process, args.steps, best[1]),
        bar: static_generator(process, 3 * args.steps),
    }
    report = run_experiment(
        generators,
        Evaluator(),
        process.num_classes,
        args.samples,
        REPORT_SEEDS,
        title="On the evaluation seeds",
        nfe={name: process.nfe(3 * args.steps if name == bar else args.steps) for name in generators},
    )
    print(report.table())
    trained = result.agent.seconds
    preface = (
        f"# Learning from the best static schedule: {paradigm.name}, {args.steps} steps\n\n"
        f"PPO seed {args.seed}, {args.updates} updates of {RESULTS_CONFIG['episodes_per_update']} samples, "
        f"smoothing {paradigm.smoothing:g}, {trained:.0f} s of training, around the best static schedule "
        f"{best[0]}."
    )
    write_reports(
        RESULTS / "from_best_static.json",
        [report],
        provenance,
        preface,
        {
            "env": args.env,
            "steps": args.steps,
            "updates": args.updates,
            "seed": args.seed,
            "train_seconds": trained,
            "best_static": best[0],
        },
    )


if __name__ == "__main__":
    main()
