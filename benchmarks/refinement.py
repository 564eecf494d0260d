"""Does inference-time refinement beat spending the same model calls on more steps?

    python -m benchmarks.refinement [--env ID ...] [--extra 2 4] [--samples 2000] [--seeds 3]

For each paradigm (MaskGIT at 8 steps, diffusion and flow at 6) and each schedule family (the
shipped learned policy, the hand-designed schedule), at every extra budget N of ``--extra``:
(a) the base schedule at T steps plus a refinement of N model calls (``Refinement(steps=N,
fraction=r)``, NFE T + N) against (b) the same family at T + N steps (the hand-designed schedule
at T + N steps; the learned policy run for T + N decisions: it reads its progress t / steps, so
it accepts any step count, though it was trained at T). Both are sampled with the same labels and
noise seeds, so each pair is compared paired (FD difference with a 95 % bootstrap interval in
every feature space, ``comparison.verdict``).

The refinement fraction r is chosen per paradigm and budget on the tuning seeds ``PICK_SEEDS``
(``--tune-samples`` each, hand-designed schedule, lowest classifier FD); every reported number is
on the evaluation seeds ``REPORT_SEEDS[:--seeds]``. Results: ``results/refinement.md``,
``results/refinement.json``, ``results/refinement.png`` (FD against NFE, a row of panels per paradigm).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from adagen_agents.action_plots import require_matplotlib
from adagen_agents.loading import load_policy
from adagen_env.evaluation.comparison import paired_fd_difference, verdict
from adagen_env.evaluation.generators import evaluate_on_seeds, policy_generator, static_generator
from adagen_env.evaluation.metrics import DEFAULT_NUM_SAMPLES, SPACES, Evaluator
from adagen_env.paradigms import get_paradigm
from adagen_env.processes.refinement import Refinement, refinement_nfe
from adagen_env.evaluation.seeds import PICK_SEEDS, REPORT_SEEDS
from adagen_env.runtime.tables import format_table
from benchmarks.static_grid import mean_std

RESULTS = Path(__file__).resolve().parent / "results"
ENVS = ("AdaGen/MaskGIT-Digits-v0", "AdaGen/Diffusion-Digits-v0", "AdaGen/Flow-Digits-v0")
FRACTIONS = {"maskgit-digits": (0.125, 0.25, 0.5), "diffusion-digits": (0.1, 0.2, 0.4), "flow-digits": (0.1, 0.2, 0.4)}


def tune_fraction(process, name: str, steps: int, extra: int, evaluator: Evaluator, samples: int) -> tuple[float, dict]:
    """The fraction whose refinement of the hand-designed schedule has the lowest classifier FD on PICK_SEEDS."""
    scores = {}
    for fraction in FRACTIONS[name]:
        refine = Refinement(extra, fraction)
        runs, _ = evaluate_on_seeds(static_generator(process, steps, refine=refine), evaluator,
                                    process.num_classes, samples, PICK_SEEDS)
        scores[fraction] = mean_std(runs)[0]["fd"]
    print(f"  tuning, +{extra}: classifier FD by fraction {scores}", flush=True)
    return min(scores, key=scores.get), scores


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
    seeds = REPORT_SEEDS[:args.seeds]
    evaluator = Evaluator()
    start, load = time.perf_counter(), [os.getloadavg()]
    rows, comparisons, tuning = [], [], {}
    for paradigm in paradigms:
        process = paradigm.make_process()
        act, metadata = load_policy("shipped", process, paradigm.name)
        steps = metadata["num_steps"]
        print(f"{paradigm.name}, {steps} steps:", flush=True)
        fractions = {}
        for extra in args.extra:
            fractions[extra], scores = tune_fraction(process, paradigm.name, steps, extra, evaluator, args.tune_samples)
            tuning[f"{paradigm.name} +{extra}"] = {"scores": scores, "picked": fractions[extra]}
        families = {
            "learned": lambda n, refine=None: policy_generator(process, n, act, metadata.get("smoothing", 0.0), refine),
            "hand-designed": lambda n, refine=None: static_generator(process, n, refine=refine),
        }
        for family, make in families.items():
            runs = {("more steps", 0): make(steps)}
            for extra in args.extra:
                refine = Refinement(extra, fractions[extra])
                assert refinement_nfe(process, refine) == extra  # one call per refinement step in these paradigms
                runs[("more steps", extra)] = make(steps + extra)
                runs[(f"refine r={fractions[extra]:g}", extra)] = make(steps, refine)
            images = {}
            for (method, extra), generate in runs.items():
                results, images[method, extra] = evaluate_on_seeds(generate, evaluator, process.num_classes,
                                                                   args.samples, seeds)
                means, stds = mean_std(results)
                nfe = process.nfe(steps) + extra
                rows.append({"process": paradigm.name, "schedule": family, "method": "base" if extra == 0 else method,
                             "steps": steps if method != "more steps" else steps + extra, "nfe": nfe,
                             **{f"{s}_fd": means[f"{s}_fd"] for s in SPACES}, "fd_std": stds["fd"],
                             "precision": means["precision"], "recall": means["recall"], "metrics": means})
                print(f"  {family} {method} NFE {nfe}: FD " + ", ".join(f"{s} {means[f'{s}_fd']:.3f}" for s in SPACES),
                      flush=True)
            for extra in args.extra:
                refined = f"refine r={fractions[extra]:g}"
                differences = paired_fd_difference(evaluator, images[refined, extra], images["more steps", extra])
                said = verdict(differences, "refinement", "more steps")
                comparisons.append({"process": paradigm.name, "schedule": family, "nfe": process.nfe(steps) + extra,
                                    "verdict": said, "fd_differences": [vars(d) for d in differences]})
                print(f"  {family}, NFE {process.nfe(steps) + extra}: {said}", flush=True)
        load.append(os.getloadavg())
    minutes = (time.perf_counter() - start) / 60
    columns = ("process", "schedule", "method", "steps", "nfe", *(f"{s}_fd" for s in SPACES), "fd_std", "precision", "recall")
    table = format_table(rows, columns)
    lines = [f"- {c['process']}, {c['schedule']}, NFE {c['nfe']}: refinement vs more steps: {c['verdict']} ("
             + "; ".join(f"{d['space']} {d['difference']:+.3g} [{d['low']:+.3g}, {d['high']:+.3g}]" for d in c["fd_differences"])
             + ")" for c in comparisons]
    picked = ", ".join(f"{key} r={value['picked']:g}" for key, value in tuning.items())
    note = (f"FD on {args.samples:,} samples of each evaluation seed ({', '.join(map(str, seeds))}), mean over seeds "
            f"(fd_std: classifier FD over seeds); refinement fractions r chosen on tuning seeds "
            f"{', '.join(map(str, PICK_SEEDS))} ({args.tune_samples} samples each, hand-designed schedule, lowest "
            f"classifier FD): {picked}. One torch thread, "
            f"{minutes:.0f} minutes; load average (1 min) {', '.join(f'{a[0]:.2f}' for a in load)} (start, after each "
            f"paradigm). Paired verdicts, refinement (T steps + N calls) vs more steps (T + N steps), equal NFE, 95 % "
            f"bootstrap, FD difference refinement minus more steps:\n\n" + "\n".join(lines))
    print(table + "\n\n" + note)
    plot = plot_fd_vs_nfe(rows, RESULTS / "refinement.png")
    (RESULTS / "refinement.md").write_text("```\n" + table + "\n```\n\n" + note + "\n")
    (RESULTS / "refinement.json").write_text(json.dumps(
        {"args": vars(args), "tuning": tuning, "rows": rows, "comparisons": comparisons, "minutes": minutes,
         "load_average": load, "plot": plot.name}, indent=2))
    print(f"wrote {RESULTS / 'refinement.md'}")


def plot_fd_vs_nfe(rows: list[dict], out: Path) -> Path:
    """FD against NFE, a row of panels (one per feature space) per paradigm; refinement dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    processes = list(dict.fromkeys(r["process"] for r in rows))
    fig, axes = plt.subplots(len(processes), len(SPACES), figsize=(4.2 * len(SPACES), 3.2 * len(processes)), squeeze=False)
    for i, name in enumerate(processes):
        for j, space in enumerate(SPACES):
            ax = axes[i, j]
            for (family, colour) in (("learned", "tab:red"), ("hand-designed", "tab:blue")):
                mine = [r for r in rows if r["process"] == name and r["schedule"] == family]
                base = [r for r in mine if r["method"] == "base"]
                for refined, style in ((False, "-o"), (True, "--s")):
                    line = base + [r for r in mine if r["method"].startswith("refine") == refined and r["method"] != "base"]
                    ax.plot([r["nfe"] for r in line], [r[f"{space}_fd"] for r in line], style, color=colour,
                            label=f"{family}, {'refinement' if refined else 'more steps'}")
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
