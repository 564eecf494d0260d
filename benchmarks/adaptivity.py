"""Is the learned schedule sample-adaptive? Each shipped policy against static schedules distilled from it.

    python -m benchmarks.adaptivity [--env ID ...] [--samples 2000]

For every shipped policy: its actions are recorded on ``--samples`` class-balanced samples of
the tuning seed PICK_SEEDS[0], and two schedules are distilled from them, both blind to the
sample: the mean action at each step, and the mean action at each step per class. The policy,
both distilled schedules and the hand-designed schedule are then evaluated on the evaluation
seeds REPORT_SEEDS in every feature space, through the same env core with the same noise, and
each distilled schedule is compared with the policy, paired, in every space (``run_experiment``).
``kept`` is the share of the policy's gain over the hand-designed schedule that a distilled
schedule keeps, per space. A policy trained with action smoothing is handled as it samples: the
distilled policies play their mean actions through the same smoothing, which is linear, so they
give the step means of its smoothed actions. The plot shows the parameters the policy chose
against the step: 200 samples, the per-class means, the hand-designed and the best static schedule.
Results: ``results/adaptivity.json``, ``results/adaptivity.md``, ``results/adaptivity_<process>.png``.
"""

from __future__ import annotations

import argparse

from adagen_agents.action_plots import action_spread, plot_actions, require_matplotlib
from adagen_agents.loading import load_policy
from adagen_env.evaluation.adaptivity import mean_action_policy, record_actions
from adagen_env.evaluation.experiment import run_experiment
from adagen_env.evaluation.generators import balanced_labels, policy_generator, static_generator
from adagen_env.evaluation.metrics import DEFAULT_NUM_SAMPLES, SPACES, Evaluator
from adagen_env.evaluation.seeds import PICK_SEEDS, REPORT_SEEDS
from adagen_env.paradigms import PARADIGMS, best_static_schedule, get_paradigm
from adagen_env.runtime.provenance import Provenance
from adagen_env.runtime.tables import format_table
from benchmarks.common import RESULTS, write_reports

DISTILLED = ("step mean", "step mean per class")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shipped = [p.env_id for p in PARADIGMS.values() if p.shipped_policies]
    parser.add_argument(
        "--env", nargs="+", default=shipped, help="environment ids (default: every one with a shipped policy)"
    )
    parser.add_argument("--samples", type=int, default=DEFAULT_NUM_SAMPLES)
    args = parser.parse_args()
    paradigms = [get_paradigm(env) for env in args.env]  # unknown ids fail here, before any work
    require_matplotlib()
    provenance = Provenance()
    evaluator = Evaluator()
    rows, results, reports = [], {}, []
    for paradigm in paradigms:
        process = paradigm.make_process()
        act, card = load_policy("shipped", process, paradigm.name)
        spec, steps = card.sampling_spec(), card.num_steps
        labels = balanced_labels(args.samples, process.num_classes)
        actions, values = record_actions(process, act, labels, PICK_SEEDS[0], spec)  # fitted on a tuning seed
        generators = {  # the distilled policies play through the policy's own episode (smoothing included)
            "learned": policy_generator(process, act, spec),
            "step mean": policy_generator(process, mean_action_policy(actions), spec),
            "step mean per class": policy_generator(
                process, mean_action_policy(actions, labels, process.num_classes), spec
            ),
            "hand-designed": static_generator(process, steps),
        }
        print(f"{paradigm.name}, {steps} steps:", flush=True)
        report = run_experiment(
            generators,
            evaluator,
            process.num_classes,
            args.samples,
            REPORT_SEEDS,
            title=f"{paradigm.name}, {steps} steps: the shipped policy and its distilled schedules",
            nfe={name: spec.nfe(process) for name in generators},
            pairs=[(name, "learned") for name in (*DISTILLED, "hand-designed")],
            floor=False,
        )
        reports.append(report)
        fd = {name: {s: c.mean[f"{s}_fd"] for s in SPACES} for name, c in report.contenders.items()}
        for name in (*DISTILLED, "hand-designed", "learned"):
            row = {
                "process": paradigm.name,
                "steps": steps,
                "schedule": name,
                **{f"{s}_fd": fd[name][s] for s in SPACES},
            }
            if name in DISTILLED:  # the share of the learned policy's gain over the hand-designed schedule kept
                row.update(
                    {
                        f"{s}_kept": (fd["hand-designed"][s] - fd[name][s])
                        / (fd["hand-designed"][s] - fd["learned"][s])
                        for s in SPACES
                    }
                )
            rows.append(row)
        best = best_static_schedule(paradigm.name, process, steps)
        results[paradigm.name] = {
            "steps": steps,
            "smoothing": spec.smoothing,
            "verdicts": {c.a: c.verdict.value for c in report.comparisons},
            "action_spread": action_spread(values, labels, process),
            "plot": plot_actions(
                values,
                labels,
                process,
                paradigm.name,
                RESULTS / f"adaptivity_{paradigm.name}.png",
                None if best is None else best[1],
            ).name,
        }
    columns = ("process", "steps", "schedule", *(f"{s}_fd" for s in SPACES), *(f"{s}_kept" for s in SPACES))
    table = format_table([{c: r.get(c, "-") for c in columns} for r in rows], columns)
    lines = [
        f"- {paradigm.name}, {c.a} vs {c.b}: {c.sentence()}"
        for paradigm, report in zip(paradigms, reports)
        for c in report.comparisons
    ]
    lines += [
        f"- {name}: parameter spread over samples (std at a step, mean over steps), within a class: "
        + ", ".join(f"{p} {s['over_samples']:.3g} / {s['within_class']:.3g}" for p, s in r["action_spread"].items())
        for name, r in results.items()
    ]
    note = (
        f"FD on {args.samples:,} samples of each evaluation seed ({', '.join(map(str, REPORT_SEEDS))}), mean over "
        f"seeds; distilled schedules fitted on tuning seed {PICK_SEEDS[0]}; *_kept: share of the learned policy's "
        f"FD gain over the hand-designed schedule that the distilled schedule keeps. Paired verdicts (every space):"
        f"\n\n" + "\n".join(lines)
    )
    print(table + "\n\n" + note)
    write_reports(
        RESULTS / "adaptivity.json",
        reports,
        provenance,
        "# Is the learned schedule sample-adaptive?\n\n```\n" + table + "\n```\n\n" + note,
        {"args": vars(args), "results": results, "rows": rows},
    )


if __name__ == "__main__":
    main()
