"""The leaderboard: rliable aggregates with 95 % stratified-bootstrap intervals, and the plots.

Scores are normalised per task (0 = hand-designed schedule, 1 = best static schedule) in each
feature space; the headline is their mean over spaces. An algorithm enters the aggregates with
the seeds it has finished on every task of the suite; the rest is listed as incomplete.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from adagen_agents.bench.tasks import CURVE_FRACTIONS, TASKS
from adagen_env.evaluation.comparison import Interval
from adagen_env.evaluation.metrics import CLASSIC_SPACES as SPACES  # the leaderboard's spaces (v0)

REPS = 2000  # bootstrap resamples
BASELINE = "ppo"  # probability of improvement is over our PPO
CURVE_ALGOS = 6  # the sample-efficiency plot shows the best this many by final IQM
VIEWS = ("mean", *SPACES)  # the headline score, then each feature space
TUNED_STATIC = ("cma-es", "cma-es-per-class")  # what an RL algorithm must beat at equal cost
BLACK_BOX = ("random-search", *TUNED_STATIC)


def require_rliable():
    try:
        from rliable import library as rly
        from rliable import metrics
    except ImportError as error:
        raise ImportError("adagen bench report needs rliable and matplotlib: pip install -e '.[bench]'") from error
    return rly, metrics


def load_runs(results: Path) -> list[dict]:
    """Every run file under ``results/runs``, checked: one that cannot be read, lacks a field the report
    needs, or holds a score that is not a finite number is one line naming the file."""
    return [read_run(p) for p in sorted((results / "runs").glob("*/*.json"))]


def read_run(path: Path) -> dict:
    try:
        run = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable run file ({error})") from None
    fields = {"algo": str, "task": str, "seed": int, "scores": dict, "curve": list}
    if not isinstance(run, dict) or any(not isinstance(run.get(k), t) for k, t in fields.items()):
        raise ValueError(f"{path}: not a run file of adagen bench (it needs {', '.join(fields)})")
    for view in VIEWS:
        score = run["scores"].get(view)
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
            raise ValueError(
                f"{path}: its {view} score is {score!r}, not a finite number; delete the file to run it again"
            )
    return run


def complete_seeds(runs: list[dict], algo: str, tasks: list[str]) -> list[int]:
    """The seeds ``algo`` has finished on every task."""
    done = [{r["seed"] for r in runs if r["algo"] == algo and r["task"] == t} for t in tasks]
    return sorted(set.intersection(*done))


def score_matrices(runs: list[dict], view: str, tasks: list[str]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Per algorithm, a (seeds, tasks) matrix of one view's final scores over the seeds done on
    every task; and, for the algorithms left out, why."""
    by_algo: dict[str, dict[str, dict[int, dict]]] = defaultdict(lambda: defaultdict(dict))
    for r in runs:
        by_algo[r["algo"]][r["task"]][r["seed"]] = r
    matrices, incomplete = {}, {}
    for algo, per_task in by_algo.items():
        seeds = complete_seeds(runs, algo, tasks)
        if not seeds:
            done = {t: len(per_task.get(t, {})) for t in tasks}
            incomplete[algo] = ", ".join(f"{t}: {n} seed{'' if n == 1 else 's'}" for t, n in done.items())
            continue
        matrices[algo] = np.array([[per_task[t][s]["scores"][view] for t in tasks] for s in seeds])
    return matrices, incomplete


def aggregates(matrices: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """IQM, median, mean and optimality gap with their 95 % stratified-bootstrap intervals."""
    rly, metrics = require_rliable()

    def fn(x: np.ndarray) -> np.ndarray:
        return np.array(
            [
                metrics.aggregate_iqm(x),
                metrics.aggregate_median(x),
                metrics.aggregate_mean(x),
                metrics.aggregate_optimality_gap(x, 1.0),
            ]
        )

    return rly.get_interval_estimates(matrices, fn, reps=REPS, random_state=np.random.RandomState(0))


def improvement_over(matrices: dict[str, np.ndarray], baseline: str) -> tuple[dict, dict]:
    """P(algorithm > baseline) per algorithm, with its interval (rliable's paired bootstrap)."""
    rly, metrics = require_rliable()
    pairs = {
        f"{algo},{baseline}": (m, matrices[baseline])
        for algo, m in matrices.items()
        if algo != baseline and len(m) == len(matrices[baseline])
    }
    if not pairs:
        return {}, {}
    return rly.get_interval_estimates(
        pairs,
        lambda x, y: np.array([metrics.probability_of_improvement(x, y)]),
        reps=REPS,
        random_state=np.random.RandomState(0),
    )


def curves(runs: list[dict], algos: list[str], tasks: list[str]) -> dict[str, np.ndarray]:
    """Per algorithm, (seeds, tasks, points) of the mean-over-spaces score along the budget."""
    out = {}
    for algo in algos:
        per_task = {t: {r["seed"]: r for r in runs if r["algo"] == algo and r["task"] == t} for t in tasks}
        seeds = complete_seeds(runs, algo, tasks)
        if seeds and all(len(per_task[t][s]["curve"]) == len(CURVE_FRACTIONS) for t in tasks for s in seeds):
            out[algo] = np.array(
                [[[p["scores"]["mean"] for p in per_task[t][s]["curve"]] for t in tasks] for s in seeds]
            )
    return out


def seed_difference(a: np.ndarray, b: np.ndarray, rng: np.random.RandomState) -> tuple[float, float, float]:
    """mean(a) - mean(b) over training seeds, with a 95 % percentile bootstrap interval that
    resamples each side's seeds."""
    boot = [rng.choice(a, len(a)).mean() - rng.choice(b, len(b)).mean() for _ in range(REPS)]
    low, high = np.quantile(boot, [0.025, 0.975])
    return float(a.mean() - b.mean()), float(low), float(high)


def versus(runs: list[dict], algo: str, baseline: str, task: str) -> str:
    """``algo`` against ``baseline`` on one task: the headline score difference with its interval,
    and the verdict over the feature spaces ("beats" only when every space's interval agrees)."""
    scores = {a: [r["scores"] for r in runs if r["algo"] == a and r["task"] == task] for a in (algo, baseline)}
    if not all(scores.values()):
        return "-"
    rng = np.random.RandomState(0)
    spaces = {
        space: Interval(*seed_difference(*(np.array([s[space] for s in scores[a]]) for a in (algo, baseline)), rng))
        for space in SPACES
    }  # score differences: positive = algo better
    d, low, high = seed_difference(*(np.array([s["mean"] for s in scores[a]]) for a in (algo, baseline)), rng)
    return f"{d:+.2f} [{low:+.2f}, {high:+.2f}]: {space_verdict(spaces, algo, baseline)}"


def space_verdict(spaces: dict[str, Interval], a: str, b: str) -> str:
    """ "a beats b" only when every space's interval lies above 0; "level" when none excludes 0; else "mixed"."""
    signs = {space: interval.sign for space, interval in spaces.items()}
    if all(v > 0 for v in signs.values()):
        return f"{a} beats {b} in every space"
    if all(v < 0 for v in signs.values()):
        return f"{b} beats {a} in every space"
    if not any(signs.values()):
        return "level in every space"
    parts = [
        f"{name} better in {', '.join(s for s, v in signs.items() if v == side)}"
        for side, name in ((1, a), (-1, b))
        if side in signs.values()
    ]
    level = [s for s, v in signs.items() if v == 0]
    return "mixed: " + "; ".join(parts + ([f"level in {', '.join(level)}"] if level else []))


def fmt(point: float, interval: np.ndarray) -> str:
    return f"{point:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def write_report(results: Path) -> Path:
    """Write ``leaderboard.md`` and the plots into ``results``; returns the leaderboard's path."""
    rly, metrics = require_rliable()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import plot_utils

    runs = load_runs(results)
    if not runs:
        raise FileNotFoundError(f"no finished runs under {results / 'runs'}; start with adagen bench run")
    tasks = [t for t in TASKS if any(r["task"] == t for r in runs)]
    lines = [
        "# AdaGen-Bench leaderboard",
        "",
        f"Tasks: {', '.join(tasks)}. Score per task: 0 = hand-designed schedule, 1 = best static schedule, "
        "from FD on the task's evaluation seed; headline = mean over the feature spaces. "
        f"Aggregates over runs x tasks with 95 % stratified-bootstrap intervals ({REPS} resamples, rliable).",
        "",
    ]
    matrices, incomplete = score_matrices(runs, "mean", tasks)
    if not matrices:
        raise ValueError("no algorithm has finished a seed on every task yet; nothing to aggregate")
    points, intervals = aggregates(matrices)
    order = sorted(matrices, key=lambda a: -points[a][0])
    aggregated = {algo: complete_seeds(runs, algo, tasks) for algo in matrices}
    cost = defaultdict(list)  # over the runs that are aggregated, so that every algorithm's cost covers the same tasks
    for r in runs:
        if r["algo"] in aggregated and r["task"] in tasks and r["seed"] in aggregated[r["algo"]]:
            cost[r["algo"]].append((r["train_seconds"], r["samples_per_second"]))
    lines += [
        "| algorithm | runs | IQM | median | mean | optimality gap | P(> our PPO) | train s (median) | samples/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    p_points, p_intervals = improvement_over(matrices, BASELINE) if BASELINE in matrices else ({}, {})
    for algo in order:
        p, ci = points[algo], intervals[algo]
        key = f"{algo},{BASELINE}"
        prob = fmt(p_points[key][0], p_intervals[key][:, 0]) if key in p_points else "-"
        seconds = np.median([c[0] for c in cost[algo]])
        rate = np.median([c[1] for c in cost[algo]])
        lines.append(
            f"| {algo} | {len(matrices[algo])} x {len(tasks)} | "
            + " | ".join(fmt(p[i], ci[:, i]) for i in range(4))
            + f" | {prob} | {seconds:.0f} | {rate:.0f} |"
        )
    lines += [
        "",
        "IQM per feature space:",
        "",
        "| algorithm | " + " | ".join(SPACES) + " |",
        "|---|" + "---|" * len(SPACES),
    ]
    per_space = {}
    for space in SPACES:
        m, _ = score_matrices(runs, space, tasks)
        per_space[space] = aggregates(m)
    for algo in order:
        lines.append(
            f"| {algo} | "
            + " | ".join(fmt(per_space[s][0][algo][0], per_space[s][1][algo][:, 0]) for s in SPACES)
            + " |"
        )
    lines += [
        "",
        "Mean score per task (over seeds), headline view:",
        "",
        "| algorithm | " + " | ".join(tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]
    for algo in order:
        lines.append(f"| {algo} | " + " | ".join(f"{v:.2f}" for v in matrices[algo].mean(axis=0)) + " |")
    for baseline in TUNED_STATIC:
        if baseline not in matrices:
            continue
        lines += [
            "",
            f"Against {baseline} at equal cost, per task: the headline score difference (mean over training "
            "seeds) with a 95 % bootstrap interval over seeds, and the verdict over the feature spaces "
            '("beats" only when the interval excludes 0 in every space). With 3 seeds a side only large '
            "gaps show.",
            "",
            "| algorithm | " + " | ".join(tasks) + " |",
            "|---|" + "---|" * len(tasks),
        ]
        for algo in order:
            if algo not in BLACK_BOX:
                lines.append(f"| {algo} | " + " | ".join(versus(runs, algo, baseline, t) for t in tasks) + " |")
    if min(len(m) for m in matrices.values()) < 2:
        lines += [
            "",
            "With one finished seed per task an interval collapses to its point estimate (the bootstrap "
            "resamples runs within each task): these rows are not yet a ranking with confidence.",
        ]
    if incomplete:
        lines += [
            "",
            "Not aggregated yet (no seed finished on every task): "
            + "; ".join(f"{a} ({why})" for a, why in sorted(incomplete.items())),
        ]

    # plots: aggregate intervals, performance profiles, probability of improvement, sample efficiency
    fig, _ = plot_utils.plot_interval_estimates(
        points, intervals, ["IQM", "Median", "Mean", "Optimality gap"], algorithms=order, xlabel="normalised score"
    )
    fig.savefig(results / "aggregates.png", bbox_inches="tight")
    plt.close(fig)
    taus = np.linspace(-1, 2, 61)
    profiles, profile_cis = rly.create_performance_profile(matrices, taus, reps=REPS)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plot_utils.plot_performance_profiles(
        profiles, taus, performance_profile_cis=profile_cis, ax=ax, xlabel=r"normalised score $\tau$", colors=None
    )
    ax.legend(fontsize=7, loc="lower left")  # rliable labels each line with its algorithm
    fig.savefig(results / "performance_profiles.png", bbox_inches="tight")
    plt.close(fig)
    curve_scores = curves(runs, order[:CURVE_ALGOS], tasks)
    if curve_scores:
        iqm = lambda x: np.array([metrics.aggregate_iqm(x[..., i]) for i in range(x.shape[-1])])  # noqa: E731
        c_points, c_intervals = rly.get_interval_estimates(curve_scores, iqm, reps=REPS)
        budget = TASKS[tasks[0]].budget_samples
        fig, ax = plt.subplots(figsize=(7, 4.5))
        plot_utils.plot_sample_efficiency_curve(
            np.array(CURVE_FRACTIONS) * budget,
            c_points,
            c_intervals,
            algorithms=list(curve_scores),
            xlabel="generated samples",
            ylabel="IQM normalised score",
            ax=ax,
        )
        ax.legend(fontsize=7)
        fig.savefig(results / "sample_efficiency.png", bbox_inches="tight")
        plt.close(fig)
        lines += [
            "",
            f"Sample efficiency (IQM, {TASKS[tasks[0]].curve_samples}-sample evaluations): `sample_efficiency.png`.",
        ]
    lines += ["", "Plots: `aggregates.png` (IQM, median, mean, optimality gap), `performance_profiles.png`."]
    path = results / "leaderboard.md"
    path.write_text("\n".join(lines) + "\n")
    return path
