"""The leaderboard: rliable aggregates with 95 % stratified-bootstrap intervals, per-task tests, and the plots.

Scores are normalised per task (0 = hand-designed schedule, 1 = best static schedule) in each
feature space; the headline is their mean over spaces. Runs are grouped by track (``reward``,
``selection``; v0's runs, written before tracks, as ``v0``), and each track has its own
leaderboard: the tracks allow different signals, so their numbers are not ranked together. An
algorithm enters a track's aggregates with the seeds it has finished on every task of it; the rest
is listed as incomplete. Per task, every RL algorithm is compared with the tuned static baselines
by a bootstrap interval, Welch's t-test and a permutation test, Holm-corrected over all the
comparisons of the track (:mod:`.stats`). Every bootstrap is seeded, each algorithm's on its own, so
the report is the same from the same runs and an algorithm joining moves no other's interval. A
normalised score whose denominator lies within ``NOISE_SIGMAS`` of FD's noise is flagged. The report
also lists identical outcomes (runs whose final FDs are equal) with the explanation the run files
give, the rank correlation of reward and score over the checkpoints (alignment), and the commits the
runs come from.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adagen_agents.bench.stats import ALPHA, EXACT_LIMIT, PERMUTATIONS, SEED, holm, permutation_p, welch_p
from adagen_agents.bench.tasks import CURVE_FRACTIONS, TASKS
from adagen_agents.bench.trial import NEAR_BOUND, TRACKS
from adagen_agents.bench.tuned import unscored_finalists
from adagen_env.evaluation.comparison import Interval
from adagen_env.evaluation.metrics import CLASSIC_SPACES, SPACES

REPS = 2000  # bootstrap resamples
BASELINE = "ppo"  # probability of improvement is over our PPO
CURVE_ALGOS = 6  # the sample-efficiency plot shows the best this many by final IQM
TRACK_ORDER = (*TRACKS, "v0")  # the tracks of adagen bench run, then v0's runs (before tracks)
TRACK_TEXT = {
    "reward": "every method sees only the env's reward; black-box searches maximise the mean episode reward",
    "selection": "every method may also query FD in the selection space (a network no evaluation space uses), "
    "its samples counted against the budget",
    "tuned": "the reward track, every RL algorithm with the hyperparameters an equal tuning budget found "
    "(adagen bench tune)",
    "v0": "runs written before tracks (v0): black-box searches optimised FD in the evaluation's classifier "
    "space, the anchor was picked by that network, one evaluation seed, three spaces",
}
TUNED_STATIC = ("cma-es", "cma-es-per-class")  # what an RL algorithm must beat at equal cost
BLACK_BOX = ("random-search", *TUNED_STATIC)
NOISE_SIGMAS = 3  # a denominator within this many standard deviations of one FD draw is flagged


def seeded() -> np.random.RandomState:
    """A fresh random state for one bootstrap: the same report from the same runs."""
    return np.random.RandomState(SEED)


def estimates(scores: dict, func: Callable[..., np.ndarray]) -> tuple[dict, dict]:
    """rliable's point estimates and 95 % bootstrap intervals, seeded per key (per algorithm), so that an
    algorithm joining or leaving the report moves no other's interval. rliable 1.2's stratified
    bootstrap draws its indices from NumPy's global RNG whatever ``random_state`` says, so each call
    runs with that RNG seeded, and restores it after."""
    rly, _ = require_rliable()
    points, intervals = {}, {}
    state = np.random.get_state()
    try:
        for key, value in scores.items():
            np.random.seed(SEED)
            point, interval = rly.get_interval_estimates({key: value}, func, reps=REPS, random_state=seeded())
            points.update(point)
            intervals.update(interval)
    finally:
        np.random.set_state(state)
    return points, intervals


def require_rliable():
    try:
        from rliable import library as rly
        from rliable import metrics
    except ImportError as error:
        raise ImportError("adagen bench report needs rliable and matplotlib: pip install -e '.[bench]'") from error
    return rly, metrics


def run_spaces(run: dict) -> tuple[str, ...]:
    """The feature spaces a run is scored in: every evaluation space (v1), or v0's three."""
    return CLASSIC_SPACES if run.get("track", "v0") == "v0" else SPACES


def views(spaces: tuple[str, ...]) -> tuple[str, ...]:
    return ("mean", *spaces)  # the headline score, then each feature space


def load_runs(results: Path) -> list[dict]:
    """Every run file under ``results/runs`` (``runs/<track>/<task>/``, and v0's ``runs/<task>/``, read as
    track ``v0``), checked: one that cannot be read, lacks a field the report needs, or holds a score
    that is not a finite number is one line naming the file."""
    runs = results / "runs"
    v0 = [read_run(p, "v0") for p in sorted(runs.glob("*/*.json"))]
    return v0 + [read_run(p) for p in sorted(runs.glob("*/*/*.json"))]


def read_run(path: Path, track: str | None = None) -> dict:
    try:
        run = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable run file ({error})") from None
    fields = {"algo": str, "task": str, "seed": int, "scores": dict, "curve": list}
    if not isinstance(run, dict) or any(not isinstance(run.get(k), t) for k, t in fields.items()):
        raise ValueError(f"{path}: not a run file of adagen bench (it needs {', '.join(fields)})")
    if track is not None:
        run["track"] = track
    elif run.get("track") not in TRACKS or path.parent.parent.name != run["track"]:
        raise ValueError(f"{path}: its track {run.get('track')!r} is not the folder's {path.parent.parent.name!r}")
    for view in views(run_spaces(run)):
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
    _, metrics = require_rliable()

    def fn(x: np.ndarray) -> np.ndarray:
        return np.array(
            [
                metrics.aggregate_iqm(x),
                metrics.aggregate_median(x),
                metrics.aggregate_mean(x),
                metrics.aggregate_optimality_gap(x, 1.0),
            ]
        )

    return estimates(matrices, fn)


def improvement_over(matrices: dict[str, np.ndarray], baseline: str) -> tuple[dict, dict]:
    """P(algorithm > baseline) per algorithm, with its interval (rliable's paired bootstrap)."""
    _, metrics = require_rliable()
    pairs = {
        f"{algo},{baseline}": (m, matrices[baseline])
        for algo, m in matrices.items()
        if algo != baseline and len(m) == len(matrices[baseline])
    }
    if not pairs:
        return {}, {}
    return estimates(pairs, lambda x, y: np.array([metrics.probability_of_improvement(x, y)]))


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


@dataclass
class TaskComparison:
    """``algo`` against ``baseline`` on one task, over training seeds: the headline score difference
    with its bootstrap interval, the verdict over the feature spaces, and both tests' p-values, raw
    and Holm-corrected over every comparison of the report."""

    algo: str
    baseline: str
    task: str
    seeds: tuple[int, int]
    difference: Interval
    verdict: str
    welch: float
    permutation: float
    exact: bool
    welch_holm: float = math.nan
    permutation_holm: float = math.nan

    @property
    def holds(self) -> bool:
        """Both tests reject "no difference" after the correction."""
        return self.welch_holm < ALPHA and self.permutation_holm < ALPHA


def compare(
    runs: list[dict], algo: str, baseline: str, task: str, spaces: tuple[str, ...] = SPACES
) -> TaskComparison | None:
    """``algo`` against ``baseline`` on one task (``None`` when either has no run there). The verdict over
    the spaces says "beats" only when every space's bootstrap interval agrees."""
    scores = {a: [r["scores"] for r in runs if r["algo"] == a and r["task"] == task] for a in (algo, baseline)}
    if not all(scores.values()):
        return None
    rng = seeded()
    spaces = {
        space: Interval(*seed_difference(*(np.array([s[space] for s in scores[a]]) for a in (algo, baseline)), rng))
        for space in spaces
    }  # score differences: positive = algo better
    mine, theirs = (np.array([s["mean"] for s in scores[a]]) for a in (algo, baseline))
    permutation, exact = permutation_p(mine, theirs)
    return TaskComparison(
        algo,
        baseline,
        task,
        (len(mine), len(theirs)),
        Interval(*seed_difference(mine, theirs, rng)),
        space_verdict(spaces, algo, baseline),
        welch_p(mine, theirs),
        permutation,
        exact,
    )


def task_comparisons(
    runs: list[dict], algos: list[str], baselines: list[str], tasks: list[str], spaces: tuple[str, ...] = SPACES
) -> list[TaskComparison]:
    """Every algorithm but the black-box ones against each baseline on each task, with each test's
    p-values Holm-corrected over all of them."""
    found = [compare(runs, a, b, t, spaces) for b in baselines for a in algos if a not in BLACK_BOX for t in tasks]
    done = [c for c in found if c is not None]
    for c, welch, permutation in zip(
        done, holm([c.welch for c in done]), holm([c.permutation for c in done]), strict=True
    ):
        c.welch_holm, c.permutation_holm = welch, permutation
    return done


def p_text(p: float, corrected: float) -> str:
    return "-" if math.isnan(p) else f"{p:.3f} ({corrected:.3f})"


def denominators(results: Path, tasks: list[str], spaces: tuple[str, ...] = SPACES) -> list[dict]:
    """Per task and space, the normalised score's denominator (FD of hand-designed - FD of best static: v1
    the mean over the evaluation seeds, v0 on the evaluation seed) against the noise of one FD draw: the
    standard deviation of the anchors' FD over the evaluation seeds, pooled over the two anchors (``None``
    for references written without it)."""
    rows = []
    for task in tasks:
        path = results / "references" / f"{task}.json"
        refs = json.loads(path.read_text()) if path.exists() else {}
        noise = refs.get("noise")
        for space in spaces:
            key, row = f"{space}_fd", {"task": task, "space": space, "denominator": None, "sigma": None}
            if refs:
                n = str(TASKS[task].eval_samples) if task in TASKS else next(iter(refs["hand"]))
                if key in refs["hand"][n]:  # references of another protocol may lack the space
                    row["denominator"] = refs["hand"][n][key] - refs["best_static"][n][key]
            if noise is not None and key in noise.get("hand", {}):
                variances = [np.var(noise[anchor][key], ddof=1) for anchor in ("hand", "best_static")]
                row["sigma"] = float(math.sqrt(sum(variances) / 2))
            rows.append(row)
    return rows


def flagged(row: dict) -> bool:
    return row["sigma"] is not None and row["denominator"] < NOISE_SIGMAS * row["sigma"]


def denominator_cells(row: dict) -> str:
    d, sd = row["denominator"], row["sigma"]
    if d is None:
        return "- | - | - | no references"
    if sd is None:
        return f"{d:.3f} | not measured | - | -"
    ratio = d / sd if sd > 0 else math.inf
    return f"{d:.3f} | {sd:.3f} | {ratio:.1f} | {f'within {NOISE_SIGMAS} SDs' if flagged(row) else ''}"


def commits(runs: list[dict]) -> str:
    """Which commit the runs come from, or that they come from several (or from before runs recorded one)."""
    seen = Counter((r.get("provenance", {}).get("commit"), bool(r.get("provenance", {}).get("dirty"))) for r in runs)
    if len(seen) == 1:
        ((commit, dirty),) = seen
        if commit is None:
            return "The runs record no commit (written before run files held their provenance)."
        return f"All runs come from commit {commit[:10]}{' with uncommitted changes' if dirty else ''}."
    parts = [
        f"{commit[:10] if commit else 'no commit recorded'}{' (dirty)' if dirty else ''}: {n} run{'s' if n > 1 else ''}"
        for (commit, dirty), n in sorted(seen.items(), key=lambda item: -item[1])
    ]
    return f"The runs come from {len(seen)} code states, which may not score alike: {'; '.join(parts)}."


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


IDENTICAL_RTOL = (
    1e-5  # final FDs this close (relative, every one) count as identical: the same images, up to float noise
)


def final_fds(run: dict) -> list[float]:
    """The run's final FDs, every space and (v1) every evaluation seed, in a fixed order: what "identical
    outcomes" compares."""
    if run.get("final_per_seed"):
        return [v for r in run["final_per_seed"] for _, v in sorted(r.items())]
    return [v for k, v in sorted(run.get("final", {}).items()) if k.endswith("_fd") and k != "fd"]


def hand_fds(results: Path, task: str) -> list[float] | None:
    """The hand-designed schedule's final FDs as ``final_fds`` lays them out (``None`` without references)."""
    path = results / "references" / f"{task}.json"
    if not path.exists():
        return None
    refs = json.loads(path.read_text())
    if "per_seed" in refs:
        return final_fds(
            {"final_per_seed": [{k: v for k, v in r.items() if k.endswith("_fd")} for r in refs["per_seed"]["hand"]]}
        )
    n = str(TASKS[task].eval_samples) if task in TASKS else next(iter(refs["hand"]))
    return final_fds({"final": refs["hand"][n]})


def same_fds(a: list[float] | None, b: list[float] | None) -> bool:
    return a is not None and b is not None and len(a) == len(b) > 0 and np.allclose(a, b, rtol=IDENTICAL_RTOL, atol=0)


def share_down(share: float) -> str:
    """A share as a whole percentage rounded down, so that "100%" means every one and "at least" holds."""
    return f"{math.floor(share * 100 + 1e-9)}%"


def explain(group: list[dict], hand: list[float] | None) -> str:
    """Why the runs of ``group`` have identical final FDs, as far as their files tell."""
    reasons = []
    if same_fds(final_fds(group[0]), hand):
        reasons.append("their FDs are the hand-designed schedule's (score 0 in every space)")
    actions = [r.get("actions") for r in group]
    if all(a is not None for a in actions):
        if all(a["max_abs"] == 0 for a in actions):
            reasons.append(
                "every final policy outputs the zero action on every evaluation sample: the hand-designed schedule "
                "bit for bit, so the run never moved its deterministic policy off its initial mean (no action "
                "noise, zero action std, or a search that found nothing better)"
            )
        elif len({a["digest"] for a in actions}) == 1:
            saturated = min(a["saturated_share"] for a in actions)
            reasons.append(
                "their final policies take the same actions on every evaluation sample"
                + (
                    f" ({share_down(saturated)} of them at the bounds +-1: a saturated policy)"
                    if saturated > 0.5
                    else ""
                )
            )
        else:
            saturated = min(a["saturated_share"] for a in actions)
            near = min(a.get("near_bound_share", 0.0) for a in actions)  # run files before it: not known
            if saturated > 0.5:
                reasons.append(
                    f"their final policies' actions differ (at least {share_down(saturated)} at the bounds +-1 in each)"
                )
            elif near > 0.5:
                share = "all of them" if near == 1 else f"at least {share_down(near)} of them in each"
                reasons.append(
                    f"their final policies' actions differ, but {share} lie within {NEAR_BOUND} of the bounds "
                    "+-1: saturated policies whose actions differ by rounding"
                )
            else:
                reasons.append("their final policies' actions differ: not explained by the run files")
    elif not reasons:
        configs = [r.get("config") for r in group]
        reasons.append(
            "written before run files summarised the final policy's actions: the report cannot tell why"
            + ("; the files record no configuration (v0 ran each library's defaults)" if not any(configs) else "")
        )
    algos = sorted({r["algo"] for r in group})
    who = "seeds of one algorithm" if len(algos) == 1 else "across algorithms"
    return f"{who}; " + "; ".join(reasons)


def identical_outcomes(runs: list[dict], results: Path) -> list[tuple[str, list[dict], str]]:
    """Per task, the groups of two or more runs whose final FDs are all equal (to ``IDENTICAL_RTOL``),
    and the explanation found."""
    found = []
    for task in [t for t in TASKS if any(r["task"] == t for r in runs)]:
        groups: list[list[dict]] = []
        for r in sorted((r for r in runs if r["task"] == task), key=lambda r: (r["algo"], r["seed"])):
            fds = final_fds(r)
            group = next((g for g in groups if same_fds(final_fds(g[0]), fds)), None)
            if group is None:
                groups.append([r])
            else:
                group.append(r)
        hand = hand_fds(results, task)
        found += [(task, g, explain(g, hand)) for g in groups if len(g) > 1]
    return found


def spearman(x: list[float], y: list[float]) -> tuple[float, float]:
    """Spearman's rank correlation and its two-sided p (NaN when either side is constant or n < 3)."""
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return math.nan, math.nan
    from scipy.stats import spearmanr

    rho, p = spearmanr(x, y)
    return float(rho), float(p)


def alignment(runs: list[dict], tasks: list[str], algos: list[str]) -> list[dict]:
    """Per task, over every checkpoint of every run that recorded the env's recent mean reward: the rank
    correlation of that reward with the checkpoint's headline score, for all algorithms together and for
    each. Near 1: a higher reward means a better score, the optimiser is the question; near 0 or below:
    the reward does not lead to the score, the reward is the problem."""
    rows = []
    for task in tasks:
        points: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for r in runs:
            if r["task"] == task:
                for p in r["curve"]:
                    if p.get("reward") is not None:
                        points[r["algo"]].append((p["reward"], p["scores"]["mean"]))
        if not points:
            continue
        everything = [pair for algo in points for pair in points[algo]]
        for who, pairs in (("all", everything), *((a, points[a]) for a in algos if a in points)):
            rho, p = spearman([x for x, _ in pairs], [y for _, y in pairs])
            rows.append({"task": task, "algo": who, "n": len(pairs), "rho": rho, "p": p})
    return rows


def ranking_views(
    per_space: dict[str, dict[str, np.ndarray]], tasks: list[str], noise: list[dict]
) -> list[tuple[str, dict[str, float]]]:
    """Each algorithm's IQM (point estimate) under views of the same runs: the headline, each task left
    out, each space left out, and the flagged cells left out (a task's headline then averages its
    unflagged spaces). A first place that changes across views is not a verdict; the audit of v0 found
    one that flipped when one space or one task was dropped."""
    _, metrics = require_rliable()
    spaces = list(per_space)
    algos = list(per_space[spaces[0]])
    cube = {a: np.stack([per_space[s][a] for s in spaces], axis=-1) for a in algos}  # (seeds, tasks, spaces)
    keep_all = np.ones((len(tasks), len(spaces)), dtype=bool)
    unflagged = keep_all.copy()
    for row in noise:
        if flagged(row) and row["task"] in tasks and row["space"] in spaces:
            unflagged[tasks.index(row["task"]), spaces.index(row["space"])] = False
    views = [("the headline: every task and space", keep_all)]
    for i, task in enumerate(tasks):
        keep = keep_all.copy()
        keep[i] = False
        views.append((f"without {task}", keep))
    for j, space in enumerate(spaces):
        keep = keep_all.copy()
        keep[:, j] = False
        views.append((f"without {space}", keep))
    if not unflagged.all():
        n = int((~unflagged).sum())
        views.append(("without the flagged cell" if n == 1 else f"without the {n} flagged cells", unflagged))
    out = []
    for name, keep in views:
        rows = keep.any(axis=1)  # the tasks with a space left
        if not rows.any():  # one task or one space: nothing is left without it
            continue
        iqm = {}
        for algo, c in cube.items():
            kept = np.where(keep, c, np.nan)[:, rows, :]  # (seeds, tasks left, spaces)
            iqm[algo] = float(metrics.aggregate_iqm(np.nanmean(kept, axis=-1)))
        out.append((name, iqm))
    return out


def ranking_lines(views: list[tuple[str, dict[str, float]]]) -> list[str]:
    """The ``ranking_views`` as a table of the top three per view, and how often the headline's first holds."""
    first = max(views[0][1], key=views[0][1].get)
    held = [name for name, iqm in views if max(iqm, key=iqm.get) == first]
    lines = [
        "",
        "### Does the ranking hold?",
        "",
        "The IQM (point estimates, no intervals) of the same runs with one task, one feature space, or the "
        "flagged cells left out. A first place that changes here rests on that task or space.",
        "",
        "| view | first | second | third |",
        "|---|---|---|---|",
    ]
    for name, iqm in views:
        top = sorted(iqm, key=lambda a: -iqm[a])[:3]
        lines.append(f"| {name} | " + " | ".join(f"{a} {iqm[a]:.2f}" for a in top) + " |" * (4 - len(top)))
    lost = [name for name, _ in views if name not in held]
    lines += [
        "",
        f"The headline's first, {first}, is first in {len(held)} of {len(views)} views"
        + (": not where " + "; ".join(lost) + "." if lost else "."),
    ]
    return lines


def track_report(runs: list[dict], track: str, results: Path, plt, rly, metrics, plot_utils) -> list[str]:
    """One track's leaderboard, tests, identical outcomes, alignment and provenance, and its plots."""
    spaces = run_spaces(runs[0])
    tasks = [t for t in TASKS if any(r["task"] == t for r in runs)]
    prefix = "" if track == "v0" else f"{track}-"  # v0's plots keep their names
    seeds = sorted({len(r.get("eval_seeds") or [r.get("eval_seed")]) for r in runs})
    lines = [
        f"## {track.capitalize()} track" if track != "v0" else "## v0 (before tracks)",
        "",
        f"{TRACK_TEXT[track]}. Tasks: {', '.join(tasks)}. Spaces: {', '.join(spaces)}. Final scores averaged over "
        f"{' or '.join(map(str, seeds))} evaluation seed(s) per run.",
        "",
    ]
    matrices, incomplete = score_matrices(runs, "mean", tasks)
    if not matrices:
        return [*lines, "No algorithm has finished a seed on every task of this track yet.", ""]
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
        "| algorithm | " + " | ".join(spaces) + " |",
        "|---|" + "---|" * len(spaces),
    ]
    space_matrices = {space: score_matrices(runs, space, tasks)[0] for space in spaces}
    per_space = {space: aggregates(m) for space, m in space_matrices.items()}
    for algo in order:
        lines.append(
            f"| {algo} | "
            + " | ".join(fmt(per_space[s][0][algo][0], per_space[s][1][algo][:, 0]) for s in spaces)
            + " |"
        )
    noise = denominators(results, tasks, spaces)
    noisy = {row["task"] for row in noise if flagged(row)}
    lines += [
        "",
        "Mean score per task (over seeds), headline view"
        + (f"; † a space's denominator is within {NOISE_SIGMAS} noise SDs (see below)" if noisy else "")
        + ":",
        "",
        "| algorithm | " + " | ".join(f"{t} †" if t in noisy else t for t in tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]
    for algo in order:
        lines.append(f"| {algo} | " + " | ".join(f"{v:.2f}" for v in matrices[algo].mean(axis=0)) + " |")
    if len(matrices) > 1:
        lines += ranking_lines(ranking_views(space_matrices, tasks, noise))
    found = task_comparisons(runs, order, [b for b in TUNED_STATIC if b in matrices], tasks, spaces)
    if found:
        exact = sum(c.exact for c in found)
        lines += [
            "",
            "### Per-task comparisons",
            "",
            f"Every RL algorithm against each tuned static baseline at equal cost, per task, on the headline score "
            f"over training seeds: {len(found)} comparisons. The difference is mean minus mean with a 95 % "
            'percentile bootstrap interval; the verdict over the feature spaces says "beats" only when every '
            "space's bootstrap interval excludes 0. Beside it, two tests of no difference: Welch's t-test and a "
            f"two-sided permutation test of the difference of means (exact over every split of the pooled seeds up "
            f"to {EXACT_LIMIT:,} splits, else {PERMUTATIONS:,} random splits drawn with seed {SEED}; {exact} of the "
            f"{len(found)} are exact). Each test's p-values are Holm-corrected over all {len(found)} comparisons "
            f"(in brackets); a comparison holds when both corrected p-values are below {ALPHA}. With n seeds a side "
            "the exact test's smallest p is 2 / C(2n, n): 0.1 at 3 seeds, so no comparison holds at 3 seeds.",
        ]
        for baseline in TUNED_STATIC:
            rows = [c for c in found if c.baseline == baseline]
            if not rows:
                continue
            lines += [
                "",
                f"Against {baseline} at equal cost:",
                "",
                "| algorithm | task | seeds | difference [95 % bootstrap] | Welch p (Holm) | permutation p (Holm) "
                "| holds | verdict over the spaces |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for c in rows:
                d = c.difference
                lines.append(
                    f"| {c.algo} | {c.task} | {c.seeds[0]} vs {c.seeds[1]} "
                    f"| {d.value:+.2f} [{d.low:+.2f}, {d.high:+.2f}] "
                    f"| {p_text(c.welch, c.welch_holm)} | {p_text(c.permutation, c.permutation_holm)} "
                    f"| {'yes' if c.holds else 'no'} | {c.verdict} |"
                )
        held = [c for c in found if c.holds]
        lines += [
            "",
            f"Comparisons that hold after the correction: {len(held)} of {len(found)}"
            + (
                ": " + "; ".join(f"{c.algo} vs {c.baseline} on {c.task} ({c.difference.value:+.2f})" for c in held)
                if held
                else ""
            )
            + ".",
        ]
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

    same = identical_outcomes(runs, results)
    lines += [
        "",
        "### Identical outcomes",
        "",
        "Runs whose final FDs are identical in every space (and, v1, on every evaluation seed; to a relative "
        f"{IDENTICAL_RTOL:g}, the float noise of the same images), across algorithms or seeds, with the "
        "explanation the run files give.",
        "",
    ]
    if same:
        lines += ["| task | runs | explanation |", "|---|---|---|"]
        for task, group, why in same:
            names = ", ".join(f"{r['algo']}/s{r['seed']}" for r in group)
            lines.append(f"| {task} | {names} | {why} |")
    else:
        lines.append("None: every run's final FDs are its own.")

    aligned = alignment(runs, tasks, order)
    lines += [
        "",
        "### Alignment of reward and score",
        "",
        "Per task, Spearman's rank correlation between the env's mean terminal reward over the latest "
        "episodes (at least 256 samples) at each checkpoint and the headline score of the policy there, "
        "over every checkpoint of every run that recorded the reward (a search on the selection track runs "
        "no episodes; v0 runs recorded none). The rewards come from each run's own online discriminator, so "
        "the pooled correlation mixes scales; each algorithm's row pools its seeds. Near 1, a higher reward "
        "means a higher score, and the optimiser is the question; near 0 or below, the reward does not lead "
        "to the score: the reward is the problem, not the optimiser. The discriminator learns as the run goes, "
        "so the same policy's reward falls over a run: a negative rho can be that drift (a harder "
        "discriminator as the score rises) as much as a reward that misleads.",
        "",
    ]
    if aligned:
        lines += ["| task | algorithm | checkpoints | Spearman rho | p |", "|---|---|---|---|---|"]
        for row in aligned:
            rho = "-" if math.isnan(row["rho"]) else f"{row['rho']:+.2f}"
            p = "-" if math.isnan(row["p"]) else f"{row['p']:.3f}"
            lines.append(f"| {row['task']} | {row['algo']} | {row['n']} | {rho} | {p} |")
    else:
        lines.append("No run of this track recorded the reward at its checkpoints.")

    # plots: aggregate intervals, performance profiles, probability of improvement, sample efficiency
    fig, _ = plot_utils.plot_interval_estimates(
        points, intervals, ["IQM", "Median", "Mean", "Optimality gap"], algorithms=order, xlabel="normalised score"
    )
    fig.savefig(results / f"{prefix}aggregates.png", bbox_inches="tight")
    plt.close(fig)
    taus = np.linspace(-1, 2, 61)
    profiles, profile_cis = estimates(
        matrices, lambda scores: rly.score_distributions(scores, taus)
    )  # rliable's create_performance_profile, with a seeded bootstrap
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plot_utils.plot_performance_profiles(
        profiles, taus, performance_profile_cis=profile_cis, ax=ax, xlabel=r"normalised score $\tau$", colors=None
    )
    ax.legend(fontsize=7, loc="lower left")  # rliable labels each line with its algorithm
    fig.savefig(results / f"{prefix}performance_profiles.png", bbox_inches="tight")
    plt.close(fig)
    curve_scores = curves(runs, order, tasks)
    if curve_scores:
        iqm = lambda x: np.array([metrics.aggregate_iqm(x[..., i]) for i in range(x.shape[-1])])  # noqa: E731
        c_points, c_intervals = estimates(curve_scores, iqm)
        budget = TASKS[tasks[0]].budget_samples
        shown = [a for a in order if a in curve_scores][:CURVE_ALGOS]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        plot_utils.plot_sample_efficiency_curve(
            np.array(CURVE_FRACTIONS) * budget,
            {a: c_points[a] for a in shown},
            {a: c_intervals[a] for a in shown},
            algorithms=shown,
            xlabel="generated samples",
            ylabel="IQM normalised score",
            ax=ax,
        )
        ax.legend(fontsize=7)
        fig.savefig(results / f"{prefix}sample_efficiency.png", bbox_inches="tight")
        plt.close(fig)
        lines += [
            "",
            "### Sample efficiency",
            "",
            f"IQM of the headline score along the budget ({TASKS[tasks[0]].curve_samples}-sample evaluations on "
            f"the first evaluation seed), with 95 % bootstrap intervals; `{prefix}sample_efficiency.png` plots the "
            f"best {CURVE_ALGOS}.",
            "",
            "| algorithm | " + " | ".join(f"{f:.0%} of the budget" for f in CURVE_FRACTIONS) + " |",
            "|---|" + "---|" * len(CURVE_FRACTIONS),
        ]
        for algo in [a for a in order if a in curve_scores]:
            lines.append(
                f"| {algo} | "
                + " | ".join(fmt(c_points[algo][i], c_intervals[algo][:, i]) for i in range(len(CURVE_FRACTIONS)))
                + " |"
            )
    lines += [
        "",
        f"Plots: `{prefix}aggregates.png` (IQM, median, mean, optimality gap), `{prefix}performance_profiles.png`. "
        f"{commits(runs)}",
        "",
    ]
    return lines


def commit_text(provenance: dict) -> str:
    """A results file's commit, short, and whether its checkout was dirty."""
    return f"{(provenance.get('commit') or 'unknown')[:7]}{' (dirty)' if provenance.get('dirty') else ''}"


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def campaign_times(results: Path) -> list[str]:
    """The campaigns' own records (``campaigns/*.json``, written by ``run_campaign``): how long each took, on
    how many processes, at what load; none before they were recorded."""
    files = sorted((results / "campaigns").glob("*.json"))
    if not files:
        return []
    lines = [
        "",
        "## Campaign times",
        "",
        "Each `adagen bench run` that ran something, as it recorded itself: the references (computed, or read "
        "where the folder had them) apart from the runs. The machine may have been shared: the load average "
        "(1, 5, 15 minutes) before and after is beside each.",
        "",
        "| started (UTC) | track | algorithms | runs | jobs x threads | references | runs | in all | load before | "
        "load after | commit |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in files:
        c = json.loads(path.read_text())
        p = c["provenance"]
        lines.append(
            f"| {path.stem} | {c['track']} | {', '.join(c['algos'])} | {c['runs']} ({c['failed']} failed) | "
            f"{c['jobs']} x {c['threads']} | {minutes(c['references_seconds'])} | {minutes(c['runs_seconds'])} | "
            f"{minutes(c['wall_seconds'])} | {p['load_average_before']} | {p['load_average_after']} | "
            f"{commit_text(p)} |"
        )
    return lines


def params_text(params: dict) -> str:
    return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in params.items()) or "reference"


def objectives_text(objectives: list[float]) -> str:
    return " / ".join(f"{o:+.3f}" for o in objectives) or "-"


def tunings(results: Path) -> list[str]:
    """What ``adagen bench tune`` wrote (``tuned/*.json``): per algorithm its trainings, its reference's and its
    pick's objectives on each tuning seed, so a reader sees how far the pick stands from the reference."""
    files = sorted((results / "tuned").glob("*.json"))
    if not files:
        return []
    lines = [
        "",
        "## Tunings (tuned track)",
        "",
        "`adagen bench tune`: the reference (no overrides) and the Optuna draws on tuning seed 1000, the best "
        "ones (finalists) again on further tuning seeds; the pick is the finalist with the lowest mean objective "
        "(mean over tasks of log(FD / FD(hand-designed)) in the selection space; lower is better). Objectives are "
        "listed per tuning seed, 1000 first.",
        "",
        "| algorithm | trainings | reference | best draw on seed 1000 | pick | pick's objectives | pick's mean "
        "| commit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path in files:
        t = json.loads(path.read_text())
        trials, rescored = t["trials"], t.get("rescored", [])
        # the reference on every seed it was scored on as a finalist, else on the tuning seed alone
        reference = next((f for f in t["finalists"] if not f["params"]), None) or next(
            ({"objectives": [r["objective"]]} for r in trials if not r["params"]), {"objectives": []}
        )
        best_draw = min((r["objective"] for r in trials if r["params"]), default=None)
        pick = t["best"]
        unfinished = " (unfinished)" if unscored_finalists(t) else ""  # the tuned track refuses it until resumed
        lines.append(
            f"| {t['algo']} | {len(trials) + len(rescored)}{unfinished} | {objectives_text(reference['objectives'])} | "
            f"{objectives_text([] if best_draw is None else [best_draw])} | {params_text(pick['params'])} | "
            f"{objectives_text(pick['objectives'])} | {pick['objective']:+.3f} | {commit_text(t['provenance'])} |"
        )
    return lines


def write_report(results: Path) -> Path:
    """Write ``leaderboard.md`` and the plots (per track) into ``results``; returns the leaderboard's path."""
    rly, metrics = require_rliable()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import plot_utils

    runs = load_runs(results)
    if not runs:
        raise FileNotFoundError(f"no finished runs under {results / 'runs'}; start with adagen bench run")
    by_track = {t: [r for r in runs if r["track"] == t] for t in TRACK_ORDER}
    by_track = {t: rs for t, rs in by_track.items() if rs}
    if not any(complete_seeds(rs, r["algo"], sorted({x["task"] for x in rs})) for rs in by_track.values() for r in rs):
        raise ValueError("no algorithm has finished a seed on every task yet; nothing to aggregate")
    lines = [
        "# AdaGen-Bench leaderboard",
        "",
        "Score per task and feature space: 0 = hand-designed schedule, 1 = best static schedule (v1: picked in the "
        "selection space on tuning seeds; both anchors averaged over the evaluation seeds); headline = mean over "
        f"the feature spaces. Aggregates over runs x tasks with 95 % stratified-bootstrap intervals ({REPS} "
        "resamples, rliable). Each track is ranked on its own: "
        + ", ".join(f"{t} ({len(rs)} runs)" for t, rs in by_track.items())
        + ".",
        "",
    ]
    for track, track_runs in by_track.items():
        lines += track_report(track_runs, track, results, plt, rly, metrics, plot_utils)
    tasks = [t for t in TASKS if any(r["task"] == t for r in runs)]
    spaces = SPACES if any(t != "v0" for t in by_track) else CLASSIC_SPACES
    noise = denominators(results, tasks, spaces)
    lines += [
        "## Denominators against FD's noise",
        "",
        "A normalised score divides by the denominator FD(hand-designed) - FD(best static) (v1: the mean over the "
        "evaluation seeds), so FD's noise moves it by noise / denominator. The noise is the standard deviation of "
        "the two anchors' FD over the evaluation seeds (one draw's), pooled over the anchors; a cell is flagged when "
        f"the denominator is below {NOISE_SIGMAS} of them (a negative one: the best static schedule is worse than "
        "the hand-designed one in that space).",
        "",
        "| task | space | denominator | noise SD | denominator / SD | flag |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {row['task']} | {row['space']} | {denominator_cells(row)} |" for row in noise]
    lines += tunings(results)
    lines += campaign_times(results)
    lines += ["", f"Bootstraps and permutations are seeded ({SEED}). Provenance over every track: {commits(runs)}"]
    path = results / "leaderboard.md"
    path.write_text("\n".join(lines) + "\n")
    return path
