"""Is the learned schedule sample-adaptive? Each shipped policy against static schedules distilled from it.

    python -m benchmarks.adaptivity [--env ID ...] [--samples 2000]

For every shipped policy: its actions are recorded on ``--samples`` class-balanced samples of
the tuning seed PICK_SEEDS[0], and two schedules are distilled from them, both blind to the
sample: the mean action at each step, and the mean action at each step per class. The policy,
both distilled schedules and the hand-designed schedule are then evaluated on the evaluation
seeds REPORT_SEEDS in every feature space, through the same env core with the same noise, and
each distilled schedule is compared with the policy, paired (FD difference with a 95 %
bootstrap interval per space). ``kept`` is the share of the policy's gain over the
hand-designed schedule that a distilled schedule keeps, per space. The plot shows the
parameters the policy chose against the step: 200 samples, the per-class means, the
hand-designed and the best static schedule. Results: ``results/adaptivity.json``,
``results/adaptivity.md``, ``results/adaptivity_<process>.png``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


from adagen_agents.action_plots import action_spread, plot_actions, require_matplotlib
from adagen_agents.loading import load_policy
from adagen_env.evaluation.adaptivity import mean_action_policy, record_actions
from adagen_env.evaluation.comparison import paired_fd_difference, verdict
from adagen_env.evaluation.generators import balanced_labels, evaluate_on_seeds, policy_generator, static_generator
from adagen_env.evaluation.metrics import DEFAULT_NUM_SAMPLES, SPACES, Evaluator
from adagen_env.paradigms import PARADIGMS, best_static_schedule, get_paradigm
from adagen_env.evaluation.seeds import PICK_SEEDS, REPORT_SEEDS
from adagen_env.runtime.tables import format_table
from benchmarks.static_grid import mean_std

RESULTS = Path(__file__).resolve().parent / "results"


def evaluate_all(generators: dict, process, evaluator: Evaluator, samples: int) -> tuple[dict, dict]:
    """Every metric (mean over REPORT_SEEDS) and the images of every seed, by generator name."""
    metrics, images = {}, {}
    for name, generate in generators.items():
        runs, images[name] = evaluate_on_seeds(generate, evaluator, process.num_classes, samples, REPORT_SEEDS)
        metrics[name] = mean_std(runs)[0]
        print(f"  {name}: FD " + ", ".join(f"{s} {metrics[name][f'{s}_fd']:.3f}" for s in SPACES), flush=True)
    return metrics, images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shipped = [p.env_id for p in PARADIGMS.values() if p.shipped_policies]
    parser.add_argument("--env", nargs="+", default=shipped, help="environment ids (default: every one with a shipped policy)")
    parser.add_argument("--samples", type=int, default=DEFAULT_NUM_SAMPLES)
    args = parser.parse_args()
    paradigms = [get_paradigm(env) for env in args.env]  # unknown ids fail here, before any work
    require_matplotlib()
    evaluator = Evaluator()
    rows, results = [], {}
    for paradigm in paradigms:
        process = paradigm.make_process()
        act, metadata = load_policy("shipped", process, paradigm.name)
        if metadata.get("smoothing", 0.0):  # the step means would have to be of the smoothed actions
            raise SystemExit(f"{paradigm.name}: its shipped policy smooths its actions; this benchmark does not handle that yet")
        steps = metadata["num_steps"]
        labels = balanced_labels(args.samples, process.num_classes)
        actions, values = record_actions(process, steps, act, labels, PICK_SEEDS[0])  # fitted on a tuning seed
        generators = {
            "learned": policy_generator(process, steps, act),
            "step mean": policy_generator(process, steps, mean_action_policy(actions)),
            "step mean per class": policy_generator(process, steps, mean_action_policy(actions, labels, process.num_classes)),
            "hand-designed": static_generator(process, steps),
        }
        print(f"{paradigm.name}, {steps} steps:", flush=True)
        metrics, images = evaluate_all(generators, process, evaluator, args.samples)
        hand, learned = metrics["hand-designed"], metrics["learned"]
        comparisons = {}
        for name in ("step mean", "step mean per class", "hand-designed"):
            differences = paired_fd_difference(evaluator, images[name], images["learned"])
            comparisons[name] = {"verdict": verdict(differences, name, "learned"), "fd_differences": [vars(d) for d in differences]}
            row = {"process": paradigm.name, "steps": steps, "schedule": name,
                   **{f"{s}_fd": metrics[name][f"{s}_fd"] for s in SPACES}}
            if name != "hand-designed":
                row.update({f"{s}_kept": (hand[f"{s}_fd"] - metrics[name][f"{s}_fd"]) / (hand[f"{s}_fd"] - learned[f"{s}_fd"])
                            for s in SPACES})
            rows.append(row)
            print(f"  {name} vs learned: {comparisons[name]['verdict']}", flush=True)
        rows.append({"process": paradigm.name, "steps": steps, "schedule": "learned",
                     **{f"{s}_fd": learned[f"{s}_fd"] for s in SPACES}})
        best = best_static_schedule(paradigm.name, process, steps)
        results[paradigm.name] = {"steps": steps, "metrics": metrics, "comparisons": comparisons,
                                  "action_spread": action_spread(values, labels, process),
                                  "plot": plot_actions(values, labels, process, paradigm.name,
                                                       RESULTS / f"adaptivity_{paradigm.name}.png",
                                                       None if best is None else best[1]).name}
    columns = ("process", "steps", "schedule", *(f"{s}_fd" for s in SPACES), *(f"{s}_kept" for s in SPACES))
    table = format_table([{c: r.get(c, "-") for c in columns} for r in rows], columns)
    lines = [f"- {name}, {c}: {v['verdict']}" for name, r in results.items() for c, v in r["comparisons"].items()]
    lines += [f"- {name}: parameter spread over samples (std at a step, mean over steps), within a class: " +
              ", ".join(f"{p} {s['over_samples']:.3g} / {s['within_class']:.3g}" for p, s in r["action_spread"].items())
              for name, r in results.items()]
    note = (f"FD on {args.samples:,} samples of each evaluation seed ({', '.join(map(str, REPORT_SEEDS))}), mean over "
            f"seeds; distilled schedules fitted on tuning seed {PICK_SEEDS[0]}; *_kept: share of the learned policy's "
            f"FD gain over the hand-designed schedule that the distilled schedule keeps. Paired verdicts (95 % bootstrap, "
            f"every space):\n\n" + "\n".join(lines))
    print(table + "\n\n" + note)
    (RESULTS / "adaptivity.md").write_text("```\n" + table + "\n```\n\n" + note + "\n")
    (RESULTS / "adaptivity.json").write_text(json.dumps({"args": vars(args), "results": results, "rows": rows}, indent=2))
    print(f"wrote {RESULTS / 'adaptivity.md'}")


if __name__ == "__main__":
    main()
