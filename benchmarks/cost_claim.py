"""The method's headline for diffusion and flow: does a schedule at N model calls match the
hand-designed one at 3N?

    python -m benchmarks.cost_claim [--env ID ...] [--steps 4 6] [--samples 2000]

For each env and N: the hand-designed schedule at 3N steps (the bar), against the hand-designed
and best static schedules at N, the policy shipped for N (if one ships), and every learned run
of ``benchmarks.learned_schedules`` at N whose policy is on this machine (policies are not
committed). All are sampled with the same labels and noise seeds on the evaluation seeds
``REPORT_SEEDS`` and compared with the bar, paired, in every feature space (FD difference with a
95 % bootstrap interval, ``comparison.verdict``): "matches" the bar means level or better in
every space. Results: ``results/cost_claim.md``, ``results/cost_claim.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


from adagen_agents.loading import load_policy
from adagen_env.evaluation.comparison import paired_fd_difference, verdict
from adagen_env.evaluation.generators import evaluate_on_seeds, policy_generator, static_generator
from adagen_env.evaluation.metrics import SPACES, Evaluator
from adagen_env.paradigms import best_static_schedule, get_paradigm
from adagen_env.evaluation.seeds import REPORT_SEEDS
from adagen_env.runtime.tables import format_table
from benchmarks.learned_schedules import LEARNED, exported_policy
from benchmarks.static_grid import mean_std

RESULTS = Path(__file__).resolve().parent / "results"
ENVS = ("AdaGen/Diffusion-Digits-v0", "AdaGen/Flow-Digits-v0")


def candidates(paradigm, process, steps: int) -> dict:
    """Every schedule at ``steps`` to hold against the bar, by name."""
    found = {"hand-designed": static_generator(process, steps)}
    best = best_static_schedule(paradigm.name, process, steps)
    if best is not None:
        found["best static"] = static_generator(process, steps, best[1])
    if steps in paradigm.shipped_policies:
        act, metadata = load_policy("shipped", process, paradigm.name, steps)
        found["shipped policy"] = policy_generator(process, steps, act, metadata.get("smoothing", 0.0))
    for run_json in sorted((LEARNED / paradigm.name).glob(f"*-{steps}steps-seed*.json")):
        if exported_policy(run_json).is_file():
            act, metadata = load_policy(exported_policy(run_json), process, paradigm.name)
            found[f"learned {run_json.stem}"] = policy_generator(process, steps, act, metadata.get("smoothing", 0.0))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", nargs="+", default=list(ENVS), help="environment ids (default: %(default)s)")
    parser.add_argument("--steps", nargs="+", type=int, default=[4, 6], help="N, model calls (default: 4 6)")
    parser.add_argument("--samples", type=int, default=2000, help="samples per evaluation seed (default: %(default)s)")
    args = parser.parse_args()
    evaluator = Evaluator()
    rows, comparisons = [], []
    start = time.perf_counter()
    for env_id in args.env:
        paradigm = get_paradigm(env_id)
        process = paradigm.make_process()
        if process.nfe(1) != 1:
            raise SystemExit(f"{env_id}: one model call per step only (N steps = N calls); Heun takes two")
        for steps in args.steps:
            generators = {f"hand-designed, {3 * steps} steps": static_generator(process, 3 * steps),
                          **candidates(paradigm, process, steps)}
            images = {}
            for name, generate in generators.items():
                runs, images[name] = evaluate_on_seeds(generate, evaluator, process.num_classes, args.samples, REPORT_SEEDS)
                mean = mean_std(runs)[0]
                rows.append({"process": paradigm.name, "N": steps, "schedule": name,
                             **{f"{s}_fd": mean[f"{s}_fd"] for s in SPACES},
                             **{f"classifier_{m}": mean[f"classifier_{m}"] for m in ("precision", "recall")}})
                print(f"{paradigm.name} N={steps} {name}: FD " + " / ".join(f"{mean[f'{s}_fd']:.3f}" for s in SPACES),
                      flush=True)
            bar, *others = generators
            for name in others:
                differences = paired_fd_difference(evaluator, images[name], images[bar])
                said = verdict(differences, name, "the 3N bar")
                matches = all(d.winner != "b" for d in differences)
                comparisons.append({"process": paradigm.name, "N": steps, "schedule": name, "verdict": said,
                                    "matches_bar": matches, "fd_differences": [vars(d) for d in differences]})
                print(f"  {name} vs {bar}: {said}" + (" (matches the bar)" if matches else ""), flush=True)
    table = format_table(rows, ("process", "N", "schedule", *(f"{s}_fd" for s in SPACES),
                                "classifier_precision", "classifier_recall"))
    lines = "\n".join(f"- {c['process']}, N = {c['N']}, {c['schedule']} vs hand-designed at 3N: {c['verdict']}"
                      + (" **(matches the bar)**" if c["matches_bar"] else "") for c in comparisons)
    text = (f"# Learned at N vs hand-designed at 3N\n\n{args.samples} samples on each evaluation seed "
            f"{list(REPORT_SEEDS)}; FD means over the seeds. Load {os.getloadavg()[0]:.1f}, "
            f"{time.perf_counter() - start:.0f} s.\n\n```\n{table}\n```\n\nPaired against the hand-designed schedule "
            f"at 3N steps, every space (matches the bar: level or better in every space):\n\n{lines}\n")
    (RESULTS / "cost_claim.md").write_text(text)
    (RESULTS / "cost_claim.json").write_text(json.dumps({"seeds": list(REPORT_SEEDS), "samples": args.samples,
                                                         "rows": rows, "comparisons": comparisons}, indent=2))
    print(text)
    print(f"wrote {RESULTS / 'cost_claim.md'} and .json")


if __name__ == "__main__":
    main()
