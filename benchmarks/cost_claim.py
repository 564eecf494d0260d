"""The method's headline for diffusion and flow: does a schedule at N model calls match the
hand-designed one at 3N?

    python -m benchmarks.cost_claim [--env ID ...] [--steps 4 6] [--samples 2000]

For each env and N: the hand-designed schedule at 3N steps (the bar), against the hand-designed
and best static schedules at N, the policy shipped for N (if one ships), and every learned run
of ``benchmarks.learned_schedules`` at N whose policy is on this machine (policies are not
committed). All are sampled with the same labels and noise seeds on the evaluation seeds
``REPORT_SEEDS`` and compared with the bar, paired, in every feature space (``run_experiment``:
FD, KID, precision and recall with 95 % intervals, a ``Verdict``); "matches" the bar means the
verdict rule calls it level with the bar or better (``Verdict.LEVEL`` or ``Verdict.BETTER``).
Results: ``results/cost_claim.md``, ``results/cost_claim.json``.
"""

from __future__ import annotations

import argparse

from adagen_agents.target import Target, make_target
from adagen_env.envs.spec import EpisodeSpec
from adagen_env.evaluation.comparison import Verdict
from adagen_env.evaluation.experiment import run_experiment
from adagen_env.evaluation.generators import Generate
from adagen_env.evaluation.seeds import REPORT_SEEDS
from adagen_env.runtime.provenance import Provenance
from adagen_env.runtime.tables import format_table
from benchmarks.common import RESULTS, exported, load_policies, write_reports
from benchmarks.learned_schedules import LEARNED

ENVS = ("AdaGen/Diffusion-Digits-v0", "AdaGen/Flow-Digits-v0")


def candidates(target: Target, steps: int) -> dict[str, Generate]:
    """Every schedule at ``steps`` to hold against the bar, by name: the policies first, then the static ones."""
    paradigm = target.paradigm
    paths = {}
    if steps in paradigm.shipped_policies:
        paths["shipped policy"] = paradigm.shipped_policy_path(steps)
    for run_json in sorted((LEARNED / paradigm.name).glob(f"*-{steps}steps-seed*.json")):
        if exported(run_json).is_file():
            paths[f"learned {run_json.stem}"] = exported(run_json)
    return target.comparison(load_policies(target, paths), EpisodeSpec(num_steps=steps, reward=None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", nargs="+", default=list(ENVS), help="environment ids (default: %(default)s)")
    parser.add_argument("--steps", nargs="+", type=int, default=[4, 6], help="N, model calls (default: 4 6)")
    parser.add_argument("--samples", type=int, default=2000, help="samples per evaluation seed (default: %(default)s)")
    args = parser.parse_args()
    provenance = Provenance()
    rows, matches, reports = [], [], []
    for env_id in args.env:
        target = make_target(env_id)
        process = target.process
        if process.nfe(1) != 1:
            raise SystemExit(f"{env_id}: one model call per step only (N steps = N calls); Heun takes two")
        for steps in args.steps:
            bar = f"hand-designed, {3 * steps} steps"
            generators = {
                bar: target.static(None, EpisodeSpec(num_steps=3 * steps, reward=None)),
                **candidates(target, steps),
            }
            others = [name for name in generators if name != bar]
            report = run_experiment(
                generators,
                target.evaluator,
                process.num_classes,
                args.samples,
                REPORT_SEEDS,
                title=f"{target.paradigm.name}, N = {steps}: every schedule at N against the hand-designed one at 3N",
                nfe={name: 3 * steps if name == bar else steps for name in generators},
                pairs=[(name, bar) for name in others],
                floor=False,
            )
            reports.append(report)
            for name, c in report.contenders.items():
                rows.append(
                    {
                        "process": target.paradigm.name,
                        "N": steps,
                        "schedule": name,
                        **{f"{s}_fd": c.mean[f"{s}_fd"] for s in report.spaces},
                        **{f"classifier_{m}": c.mean[f"classifier_{m}"] for m in ("precision", "recall")},
                    }
                )
            for name in others:  # matches the bar: level with it or better, by the verdict rule
                if report.verdict(name, bar) in (Verdict.LEVEL, Verdict.BETTER):
                    matches.append(f"{target.paradigm.name}, N = {steps}, {name}")
    table = format_table(
        rows,
        (
            "process",
            "N",
            "schedule",
            *(f"{s}_fd" for s in reports[0].spaces),
            "classifier_precision",
            "classifier_recall",
        ),
    )
    summary = (
        f"# Learned at N vs hand-designed at 3N\n\n{args.samples} samples on each evaluation seed "
        f"{list(REPORT_SEEDS)}; FD means over the seeds.\n\n```\n{table}\n```\n\nMatch the bar (FD level or "
        f"better than the hand-designed schedule at 3N in every space): "
        + ("; ".join(matches) if matches else "none")
        + "."
    )
    print(summary)
    for report in reports:
        print("\n".join(f"{c.a} vs {c.b}: {c.sentence()}" for c in report.comparisons))
    write_reports(
        RESULTS / "cost_claim.json",
        reports,
        provenance,
        summary,
        {"seeds": list(REPORT_SEEDS), "samples": args.samples, "rows": rows, "matches_bar": matches},
    )


if __name__ == "__main__":
    main()
