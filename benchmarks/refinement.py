"""Does inference-time refinement beat spending the same model calls on more steps?

    python -m benchmarks.refinement [--env ID ...] [--extra 2 4] [--samples 2000] [--seeds 3]

For each paradigm (MaskGIT at 8 steps, diffusion and flow at 6) and each schedule family (the
shipped learned policy, the hand-designed schedule), at every extra budget N of ``--extra``:
(a) the base schedule at T steps plus a refinement of N model calls (``Refinement(steps=N,
fraction=r)``, NFE T + N) against (b) the same family at T + N steps (the hand-designed schedule
at T + N steps; the learned policy run for T + N decisions: it reads its progress t / steps, so
it accepts any step count, though it was trained at T). Both are sampled with the same labels and
noise seeds, so each pair is compared paired in every feature space (``run_experiment``).

The refinement fraction r is chosen per paradigm and budget on the tuning seeds ``PICK_SEEDS``
(``--tune-samples`` each, hand-designed schedule, lowest mean classifier FD); every reported
number is on the evaluation seeds ``REPORT_SEEDS[:--seeds]``. Results: ``results/refinement.md``,
``results/refinement.json``, ``results/refinement.png`` (FD against NFE, a row of panels per paradigm).
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import torch

from adagen_agents.action_plots import require_matplotlib
from adagen_agents.card import PolicyCard
from adagen_agents.loading import load_policy
from adagen_env.evaluation.experiment import run_experiment
from adagen_env.evaluation.generators import Act, Generate, policy_generator, static_generator
from adagen_env.evaluation.metrics import DEFAULT_NUM_SAMPLES, SPACES, Evaluator
from adagen_env.evaluation.seeds import PICK_SEEDS, REPORT_SEEDS
from adagen_env.paradigms import get_paradigm
from adagen_env.processes.base import Process
from adagen_env.processes.refinement import Refinement, refinement_nfe
from adagen_env.runtime.provenance import Provenance
from adagen_env.runtime.tables import format_table
from benchmarks.common import RESULTS, mean_std, write_reports

ENVS = ("AdaGen/MaskGIT-Digits-v0", "AdaGen/Diffusion-Digits-v0", "AdaGen/Flow-Digits-v0")
FRACTIONS = {"maskgit-digits": (0.125, 0.25, 0.5), "diffusion-digits": (0.1, 0.2, 0.4), "flow-digits": (0.1, 0.2, 0.4)}


def tune_fraction(
    process: Process, name: str, steps: int, extra: int, evaluator: Evaluator, samples: int
) -> tuple[float, dict[float, float]]:
    """The fraction whose refinement of the hand-designed schedule has the lowest classifier FD on PICK_SEEDS."""
    generators = {str(f): static_generator(process, steps, refine=Refinement(extra, f)) for f in FRACTIONS[name]}
    tuning = run_experiment(generators, evaluator, process.num_classes, samples, PICK_SEEDS, pairs=[], floor=False)
    scores = {float(f): c.mean["fd"] for f, c in tuning.contenders.items()}
    print(f"  tuning, +{extra}: classifier FD by fraction {scores}", flush=True)
    return min(scores, key=scores.get), scores


def learned_generator(
    process: Process, act: Act, card: PolicyCard, num_steps: int, refine: Refinement | None = None
) -> Generate:
    """The policy at ``num_steps`` decisions, trained at its card's: it reads its progress t / steps."""
    return policy_generator(process, act, card.sampling_spec(num_steps=num_steps, refine=refine))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", nargs="+", default=list(ENVS), help="environment ids (default: %(default)s)")
    parser.add_argument("--extra", nargs="+", type=int, default=[2, 4], help="extra model calls (default: 2 4)")
    parser.add_argument("--samples", type=int, default=DEFAULT_NUM_SAMPLES, help="samples per evaluation seed")
    parser.add_argument("--seeds", type=int, default=len(REPORT_SEEDS), help="how many of REPORT_SEEDS to report on")
    parser.add_argument("--tune-samples", type=int, default=500, help="samples per tuning seed")
    args = parser.parse_args()
    paradigms = [get_paradigm(env) for env in args.env]  # unknown ids fail here, before any work
    if any(n < 1 for n in args.extra) or not 1 <= args.seeds <= len(REPORT_SEEDS):
        raise SystemExit(f"--extra must be positive and --seeds in 1..{len(REPORT_SEEDS)}")
    require_matplotlib()
    torch.set_num_threads(1)
    provenance = Provenance()
    seeds = REPORT_SEEDS[: args.seeds]
    evaluator = Evaluator()
    rows, reports, lines, tuning = [], [], [], {}
    for paradigm in paradigms:
        process = paradigm.make_process()
        act, card = load_policy("shipped", process, paradigm.name)
        steps = card.num_steps
        print(f"{paradigm.name}, {steps} steps:", flush=True)
        fractions = {}
        for extra in args.extra:
            fractions[extra], scores = tune_fraction(process, paradigm.name, steps, extra, evaluator, args.tune_samples)
            tuning[f"{paradigm.name} +{extra}"] = {"scores": scores, "picked": fractions[extra]}
        families = {  # generate(steps, refine=None) of each family
            "learned": partial(learned_generator, process, act, card),
            "hand-designed": partial(static_generator, process),
        }
        for family, make in families.items():
            methods = {("base", 0): make(steps)}  # (method, extra model calls) -> generator
            for extra in args.extra:
                refine = Refinement(extra, fractions[extra])
                assert refinement_nfe(process, refine) == extra  # one call per refinement step in these paradigms
                methods[("more steps", extra)] = make(steps + extra)
                methods[(f"refine r={fractions[extra]:g}", extra)] = make(steps, refine=refine)
            generators = {
                f"{family}, {method}, NFE {process.nfe(steps) + extra}": generate
                for (method, extra), generate in methods.items()
            }
            names = dict(zip(methods, generators))
            report = run_experiment(
                generators,
                evaluator,
                process.num_classes,
                args.samples,
                seeds,
                title=f"{paradigm.name}, {family}: refinement vs more steps at equal NFE",
                nfe={names[m]: process.nfe(steps) + m[1] for m in methods},
                pairs=[(names[f"refine r={fractions[n]:g}", n], names["more steps", n]) for n in args.extra],
                floor=False,
            )
            reports.append(report)
            lines += [f"- {paradigm.name}, {c.a} vs {c.b}: {c.sentence()}" for c in report.comparisons]
            for (method, extra), name in names.items():
                means, stds = mean_std(report.contenders[name].per_seed)
                rows.append(
                    {
                        "process": paradigm.name,
                        "schedule": family,
                        "method": method,
                        "steps": steps + extra if method == "more steps" else steps,
                        "nfe": process.nfe(steps) + extra,
                        **{f"{s}_fd": means[f"{s}_fd"] for s in SPACES},
                        "fd_std": stds["fd"],
                        "precision": means["precision"],
                        "recall": means["recall"],
                        "metrics": means,
                    }
                )
    columns = (
        "process",
        "schedule",
        "method",
        "steps",
        "nfe",
        *(f"{s}_fd" for s in SPACES),
        "fd_std",
        "precision",
        "recall",
    )
    table = format_table(rows, columns)
    picked = ", ".join(f"{key} r={value['picked']:g}" for key, value in tuning.items())
    note = (
        f"FD on {args.samples:,} samples of each evaluation seed ({', '.join(map(str, seeds))}), mean over seeds "
        f"(fd_std: classifier FD over seeds); refinement fractions r chosen on tuning seeds "
        f"{', '.join(map(str, PICK_SEEDS))} ({args.tune_samples} samples each, hand-designed schedule, lowest "
        f"classifier FD): {picked}. One torch thread. Paired verdicts, refinement (T steps + N calls) vs more steps "
        f"(T + N steps), equal NFE, every space:\n\n" + "\n".join(lines)
    )
    print(table + "\n\n" + note)
    plot = plot_fd_vs_nfe(rows, RESULTS / "refinement.png")
    write_reports(
        RESULTS / "refinement.json",
        reports,
        provenance,
        "# Refinement vs more steps at equal NFE\n\n```\n" + table + "\n```\n\n" + note,
        {"args": vars(args), "tuning": tuning, "rows": rows, "plot": plot.name},
    )


def plot_fd_vs_nfe(rows: list[dict], out: Path) -> Path:
    """FD against NFE, a row of panels (one per feature space) per paradigm; refinement dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    processes = list(dict.fromkeys(r["process"] for r in rows))
    fig, axes = plt.subplots(
        len(processes), len(SPACES), figsize=(4.2 * len(SPACES), 3.2 * len(processes)), squeeze=False
    )
    for i, name in enumerate(processes):
        for j, space in enumerate(SPACES):
            ax = axes[i, j]
            for family, colour in (("learned", "tab:red"), ("hand-designed", "tab:blue")):
                mine = [r for r in rows if r["process"] == name and r["schedule"] == family]
                base = [r for r in mine if r["method"] == "base"]
                for refined, style in ((False, "-o"), (True, "--s")):
                    line = base + [
                        r for r in mine if r["method"].startswith("refine") == refined and r["method"] != "base"
                    ]
                    ax.plot(
                        [r["nfe"] for r in line],
                        [r[f"{space}_fd"] for r in line],
                        style,
                        color=colour,
                        label=f"{family}, {'refinement' if refined else 'more steps'}",
                    )
            ax.set_title(f"{name}: {space}", fontsize=9)
            ax.set_xlabel("NFE")
            ax.set_ylabel("FD")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


if __name__ == "__main__":
    main()
