"""Does the learned fidelity-diversity knob reach further than the guidance scale?

    python -m benchmarks.tradeoff --policy PATH [--values 0 0.25 0.5 0.75 1] [--guidance 0 0.5 ...]

``PATH`` is a policy trained with ``adagen train --tradeoff`` (the command in
benchmarks/README.md). Two families of schedules at the policy's step count, sampled with the
same labels and noise seeds:

- the learned knob: the policy at each trade-off value of ``--values``;
- the knob users reach for today: the best static schedule with its guidance scale swept over
  ``--guidance`` (its other parameters as the grid search chose them).

Each is sampled on the evaluation seeds ``REPORT_SEEDS`` (``--samples`` each) and scored as sets
of 500 against the 500 held-out images, precision and recall in every feature space of the
``Evaluator`` (the equal-size sets of ``equal_size_precision_recall``). A family's reach in a
space is the area its precision-recall points dominate (the union of the rectangles from the
origin to each point): a frontier beyond another's dominates more. Per set (a set of every
schedule shares its samples' labels and noise) the areas give a paired difference; its 95 %
percentile bootstrap interval over sets (an ``Interval``) decides, space by space, as a paired
comparison's FD does (the loss here is the area *not* dominated, so lower is better, like FD),
and the verdict over the spaces is a ``Verdict``: better or worse when every space says so.
These are comparisons of families, not of two generators, so they are not ``run_experiment``'s.

Results: ``results/tradeoff.md``, ``results/tradeoff.json``, ``results/tradeoff.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from adagen_agents.action_plots import require_matplotlib
from adagen_agents.loading import load_policy, read_card
from adagen_env.evaluation.comparison import CONFIDENCE, Interval, Verdict
from adagen_env.evaluation.generators import generate_balanced, policy_generator, static_generator
from adagen_env.evaluation.metrics import Evaluator, equal_size_precision_recall
from adagen_env.evaluation.seeds import REPORT_SEEDS
from adagen_env.paradigms import best_static_schedule, get_paradigm
from adagen_env.runtime.provenance import Provenance
from adagen_env.runtime.tables import format_table
from benchmarks.common import RESULTS, write

SET_SIZE = 500  # the held-out reference's size: precision and recall on sets of equal size
RESAMPLES = 2000


def dominated_area(points: list[tuple[float, float]]) -> float:
    """The area of the union of the rectangles [0, recall] x [0, precision] of (recall, precision) points."""
    area, best = 0.0, 0.0
    ordered = sorted(points, reverse=True)
    for (recall, precision), lower in zip(ordered, [r for r, _ in ordered[1:]] + [0.0]):
        best = max(best, precision)
        area += best * (recall - lower)
    return area


def set_scores(images: torch.Tensor, evaluator: Evaluator) -> dict[str, list[tuple[float, float]]]:
    """(recall, precision) of every consecutive set of SET_SIZE images, by space."""
    scores = {}
    for space in evaluator.spaces:
        reference = evaluator.reference_features_in(space)
        features = evaluator.space_features(images, space).double()
        scores[space] = [
            tuple(reversed(equal_size_precision_recall(reference, chunk))) for chunk in features.split(SET_SIZE)
        ]
    return scores


def paired_area_difference(learned: list[list[tuple]], swept: list[list[tuple]], seed: int = 0) -> Interval:
    """Undominated area (1 - dominated) of the learned family minus the swept one's, over sets, with
    a percentile bootstrap interval over resampled sets; ``learned[i][s]``: point i's (recall, precision) on set s."""
    losses = torch.tensor(
        [
            [1 - dominated_area([point[s] for point in family]) for s in range(len(family[0]))]
            for family in (learned, swept)
        ],
        dtype=torch.float64,
    )
    difference = losses[0] - losses[1]
    draws = torch.randint(len(difference), (RESAMPLES, len(difference)), generator=torch.Generator().manual_seed(seed))
    tail = (1 - CONFIDENCE) / 2
    low, high = torch.quantile(
        difference[draws].mean(dim=1), torch.tensor([tail, 1 - tail], dtype=torch.float64)
    ).tolist()
    return Interval(difference.mean().item(), low, high)


def area_verdict(differences: dict[str, Interval]) -> Verdict:
    """The learned knob's verdict from its undominated-area differences, space by space (lower is better)."""
    signs = [d.sign for d in differences.values()]
    if all(s < 0 for s in signs):
        return Verdict.BETTER
    if all(s > 0 for s in signs):
        return Verdict.WORSE
    return Verdict.LEVEL if not any(signs) else Verdict.MIXED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True, help="a policy of adagen train --tradeoff (required)")
    parser.add_argument(
        "--values",
        nargs="+",
        type=float,
        default=[0.0, 0.25, 0.5, 0.75, 1.0],
        help="trade-off values of the learned knob (default: %(default)s)",
    )
    parser.add_argument(
        "--guidance",
        nargs="+",
        type=float,
        default=None,
        help="guidance scales of the sweep (default: 0 to 4 for MaskGIT and VAR, 0 to 2 otherwise)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=2000,
        help="samples per evaluation seed, a multiple of 500 (default: %(default)s)",
    )
    parser.add_argument("--seeds", type=int, default=len(REPORT_SEEDS), help="evaluation seeds (default: %(default)s)")
    parser.add_argument("--out", default=str(RESULTS / "tradeoff"), help="results stem (default: %(default)s)")
    args = parser.parse_args()
    require_matplotlib()
    if args.samples % SET_SIZE or not 0 < args.seeds <= len(REPORT_SEEDS):
        raise SystemExit(f"--samples must be a multiple of {SET_SIZE} and --seeds in 1..{len(REPORT_SEEDS)}")
    if any(not 0 <= v <= 1 for v in args.values):
        raise SystemExit(f"--values must lie in [0, 1], got {args.values}")
    provenance = Provenance()
    card = read_card(args.policy)
    if card.spec.tradeoff is None:
        raise SystemExit(f"{args.policy} was not trained with adagen train --tradeoff")
    paradigm = get_paradigm(card.env)
    process, steps = paradigm.make_process(), card.num_steps
    best = best_static_schedule(paradigm.name, process, steps)
    if best is None:
        raise SystemExit(f"no best static schedule of {paradigm.name} at {steps} steps to sweep the guidance of")
    guidance = args.guidance or (
        [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0]
        if paradigm.name in ("maskgit-digits", "var-digits")
        else [0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0]
    )
    act, _ = load_policy(args.policy, process, paradigm.name)
    families = {
        "learned knob": {
            f"tradeoff {v:g}": policy_generator(process, act, card.sampling_spec(tradeoff=v)) for v in args.values
        },
        "guidance sweep": {
            f"guidance {g:g}": static_generator(
                process, steps, process.static_schedule(steps, **{**best[0], "guidance": g})
            )
            for g in guidance
        },
    }
    evaluator = Evaluator()
    seeds = REPORT_SEEDS[: args.seeds]
    scores: dict[str, dict[str, dict[str, list]]] = {}  # family -> point -> space -> per-set (recall, precision)
    rows = []
    for family, generators in families.items():
        scores[family] = {}
        for name, generate in generators.items():
            images = torch.cat(
                [generate_balanced(generate, process.num_classes, args.samples, seed)[0] for seed in seeds]
            )
            scores[family][name] = per_set = set_scores(images, evaluator)
            row = {"family": family, "point": name}
            for space, points in per_set.items():
                row[f"{space}_precision"] = sum(p for _, p in points) / len(points)
                row[f"{space}_recall"] = sum(r for r, _ in points) / len(points)
            rows.append(row)
            print(
                f"{family}, {name}: "
                + ", ".join(f"{s} P {row[f'{s}_precision']:.3f} R {row[f'{s}_recall']:.3f}" for s in evaluator.spaces),
                flush=True,
            )
    differences = {
        space: paired_area_difference(
            [points[space] for points in scores["learned knob"].values()],
            [points[space] for points in scores["guidance sweep"].values()],
        )
        for space in evaluator.spaces
    }
    verdict = area_verdict(differences)
    columns = ("family", "point", *(f"{s}_{m}" for s in evaluator.spaces for m in ("precision", "recall")))
    table = format_table(rows, columns)
    spans = "\n".join(f"- {space}: {d.value:+.4f} [{d.low:+.4f}, {d.high:+.4f}]" for space, d in differences.items())
    sets = len(seeds) * args.samples // SET_SIZE
    text = (
        f"# Fidelity-diversity control: {paradigm.name}, {steps} steps\n\n"
        f"Policy {Path(args.policy).name}; best static schedule {best[0]} with its guidance swept. "
        f"{args.samples} samples on each of the evaluation seeds {list(seeds)}, scored as {sets} sets of {SET_SIZE} "
        f"against the {SET_SIZE} held-out images; precision and recall are the means over sets.\n\n"
        f"```\n{table}\n```\n\n"
        f"Undominated precision-recall area, learned knob minus guidance sweep (negative: the learned frontier "
        f"reaches further), mean over sets and 95 % bootstrap interval over sets:\n\n{spans}\n\n"
        f"Verdict: the learned knob is {verdict.value} against the guidance sweep (better or worse only when "
        f"every space agrees)\n"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    print(text)
    plot(rows, evaluator.spaces, f"{paradigm.name}, {steps} steps", out.with_suffix(".png"))
    write(
        out.with_suffix(".json"),
        {
            "policy": Path(args.policy).name,
            "process": paradigm.name,
            "steps": steps,
            "best_static": best[0],
            "seeds": list(seeds),
            "samples": args.samples,
            "rows": rows,
            "per_set": scores,
            "area_differences": {space: vars(d) for space, d in differences.items()},
            "verdict": verdict.value,
        },
        provenance,
        text,
    )


def plot(rows: list[dict], spaces: tuple[str, ...], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(spaces), figsize=(4.2 * len(spaces), 3.8))
    for ax, space in zip(axes, spaces):
        for family, style in (("learned knob", "o-"), ("guidance sweep", "s--")):
            points = [r for r in rows if r["family"] == family]
            ax.plot(
                [r[f"{space}_recall"] for r in points], [r[f"{space}_precision"] for r in points], style, label=family
            )
            for r in points:
                ax.annotate(
                    r["point"].split()[-1],
                    (r[f"{space}_recall"], r[f"{space}_precision"]),
                    fontsize=7,
                    textcoords="offset points",
                    xytext=(3, 3),
                )
        ax.set(title=f"{space} space", xlabel="recall (diversity)", ylabel="precision (fidelity)")
        ax.legend(fontsize=8)
    fig.suptitle(f"Fidelity-diversity: learned trade-off vs guidance sweep ({title})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
