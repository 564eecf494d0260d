"""Grid search over a process's static schedules: the bar learned schedules must clear.

Tuning and evaluation never share noise (``adagen_env/evaluation/seeds.py``), nor networks: every grid
point is screened on ``--screen-samples`` samples of the tuning seed SCREEN_SEED by FD in the
selection space (the selection network of ``adagen_env.models.selection`` against the train split,
which no evaluation space and no reward uses); the ``--top`` best and the hand-designed schedule
are scored on ``--samples`` samples of each tuning seed in PICK_SEEDS, and the best static schedule
is the one with the lowest mean FD there. Only then are all of them evaluated on the evaluation
seeds REPORT_SEEDS, in every feature space (``run_experiment``): those are the numbers reported,
with a paired comparison of the best static and the hand-designed schedule (``best_vs_hand``,
``adagen_env.evaluation.comparison``). Screening results are saved after every grid point, so an
interrupted run picks up where it stopped.

    python -m benchmarks.static_grid [--env AdaGen/MaskGIT-Digits-v0] [--steps 2 4 8] [--screen-samples 500]
                                     [--samples 2000] [--space selection|classifier]

Results go to ``results/static_grid/<process>-selection.json`` (screening cache:
``<process>-screen-selection.json``), and the picks to the registry's data file
``adagen_env/data/best_static.json`` (``picks``, written by ``write_best_static``;
``Paradigm.best_static`` reads it). ``--space classifier`` screens and picks by the evaluation's
classifier FD, as v0 did: results go to ``<process>.json`` (cache ``<process>-screen.json``) and the
picks to the data file's ``classifier_picks``, kept for comparison; nothing reads them as the best
static schedule.

With ``ADAGEN_BENCH_RESULTS`` set, the
picks go to ``best_static.json`` in that folder instead (a copy of the registry's, updated), so a
smoke run leaves the package alone.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
from pathlib import Path
from typing import Any

from tqdm import tqdm

from adagen_agents.target import DEFAULT_ENV
from adagen_env.evaluation.experiment import run_experiment
from adagen_env.evaluation.generators import evaluate_generator, static_generator
from adagen_env.evaluation.metrics import Evaluator, noise_floor
from adagen_env.evaluation.seeds import PICK_SEEDS, REPORT_SEEDS, SCREEN_SEED
from adagen_env.evaluation.selection import SelectionEvaluator
from adagen_env.paradigms import BEST_STATIC_FILE, BEST_STATIC_SPACE, get_paradigm, write_best_static
from adagen_env.runtime.provenance import Provenance
from adagen_env.runtime.results import write_results
from adagen_env.runtime.tables import format_table
from benchmarks.common import COMMITTED, RESULTS, mean_std, said, write


def static_grid_path(process_name: str, space: str = "classifier") -> Path:
    """Where this benchmark writes its results for a process (read by the learned-schedules report)."""
    return RESULTS / "static_grid" / f"{process_name}{'' if space == 'classifier' else '-' + space}.json"


def picks_file() -> Path:
    """Where the picks go: the registry's data file, or a copy of it under a results folder of one's own."""
    if RESULTS == COMMITTED:
        return BEST_STATIC_FILE
    copy = RESULTS / "best_static.json"
    if not copy.exists():
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(BEST_STATIC_FILE, copy)
    return copy


def config_key(steps: int, config: dict) -> str:
    return f"{steps}|" + "|".join(f"{k}={v}" for k, v in config.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default=DEFAULT_ENV, help="environment id (default: %(default)s)")
    parser.add_argument("--steps", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--screen-samples", type=int, default=500)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument(
        "--space",
        choices=["classifier", "selection"],
        default=BEST_STATIC_SPACE,
        help="the space the screening and the pick look at (default: %(default)s; classifier: the evaluation's, "
        "as v0 picked, recorded for comparison only)",
    )
    args = parser.parse_args()
    provenance = Provenance()

    paradigm = get_paradigm(args.env)
    process_name = paradigm.name
    out = static_grid_path(process_name, args.space)
    suffix = "" if args.space == "classifier" else f"-{args.space}"
    screen_path = out.with_name(f"{process_name}-screen{suffix}.json")
    screened = json.loads(screen_path.read_text()) if screen_path.exists() else {}
    screened.pop("provenance", None)
    process = paradigm.make_process()
    evaluator = Evaluator()
    # what the choices look at: the classifier's FD (the evaluator's "fd"), or the selection space's
    chooser, key = (evaluator, "fd") if args.space == "classifier" else (SelectionEvaluator(), "selection_fd")
    grid = paradigm.grid
    configs = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    hand_designed = process.named_schedules["hand-designed"]  # the defaults of static_schedule

    floor = noise_floor(evaluator)
    # the step counts of earlier runs are kept, as the registry's data file keeps their picks
    earlier = json.loads(out.read_text()) if out.exists() else {}
    rows = [r for r in earlier.get("rows", []) if r["steps"] not in args.steps]
    best = {int(steps): b for steps, b in earlier.get("best", {}).items() if int(steps) not in args.steps}
    for steps in args.steps:
        process.check_num_steps(steps)
        for config in tqdm(configs, desc=f"screening {steps} steps"):
            if screened.get(config_key(steps, config), {}).get("samples") != args.screen_samples:
                generate = static_generator(process, steps, process.static_schedule(steps, **config))
                result = evaluate_generator(
                    generate, chooser, process.num_classes, args.screen_samples, SCREEN_SEED, progress=False
                )
                screened[config_key(steps, config)] = {
                    "config": config,
                    "fd": result[key],
                    "samples": args.screen_samples,
                }
                write_results(screen_path, screened, provenance)  # quietly: after every grid point
        ranked = sorted((screened[config_key(steps, c)] for c in configs), key=lambda r: r["fd"])
        configs_by_name = {
            "hand-designed": hand_designed,
            **{f"grid #{i + 1}": r["config"] for i, r in enumerate(ranked[: args.top])},
        }
        generators = {
            name: static_generator(
                process, steps, None if name == "hand-designed" else process.static_schedule(steps, **config)
            )
            for name, config in configs_by_name.items()
        }
        # the pick sees the tuning seeds only; then every candidate is scored on the evaluation seeds
        if args.space == "classifier":
            tuning = run_experiment(
                generators, evaluator, process.num_classes, args.samples, PICK_SEEDS, pairs=[], floor=False
            )
            tuning_fd = {name: [run["fd"] for run in c.per_seed] for name, c in tuning.contenders.items()}
        else:
            tuning_fd = {
                name: [
                    evaluate_generator(g, chooser, process.num_classes, args.samples, seed, progress=False)[key]
                    for seed in PICK_SEEDS
                ]
                for name, g in generators.items()
            }
        picked = min(
            (name for name in generators if name != "hand-designed"), key=lambda name: statistics.mean(tuning_fd[name])
        )
        report = run_experiment(
            generators,
            evaluator,
            process.num_classes,
            args.samples,
            REPORT_SEEDS,
            title=f"{paradigm.env_id}, {steps} steps",
            nfe={n: process.nfe(steps) for n in generators},
            pairs=[(picked, "hand-designed")],
            floor=False,
        )
        step_rows = {
            name: row(name, steps, configs_by_name[name], tuning_fd[name], report.contenders[name].per_seed)
            for name in generators
        }
        rows += step_rows.values()
        hand, best_row = step_rows["hand-designed"], step_rows[picked]
        best[steps] = {
            "hand_designed": hand,
            "best_static": best_row,
            "best_vs_hand_fd_ratio": best_row["fd"] / hand["fd"],
            "nfe": process.nfe(steps),
            "best_vs_hand": report.comparison(picked, "hand-designed").to_dict(),
            "best_vs_hand_verdict": report.verdict(picked, "hand-designed").value,  # what docs/generate.py shows
        }
        section = "picks" if args.space == BEST_STATIC_SPACE else "classifier_picks"
        write_best_static(process_name, {steps: best_row["config"]}, picks_file(), section)
        print(f"{steps} steps: picked {picked} {best_row['config']}; {said(best[steps]['best_vs_hand'])}", flush=True)
        # after every step count: an interruption keeps them
        write(
            out,
            {
                "args": vars(args),
                "space": args.space,  # what tuning_fd is the FD of
                "seeds": {"screen": SCREEN_SEED, "pick": list(PICK_SEEDS), "report": list(REPORT_SEEDS)},
                "process": process_name,
                "grid": grid,
                "rows": rows,
                "best": best,
                "noise_floor": floor,
            },
            provenance,
        )

    table = [{k: v for k, v in r.items() if k != "config"} | {"config": _short(r["config"])} for r in rows]
    print(
        format_table(
            table,
            (
                "steps",
                "schedule",
                "tuning_fd",
                "fd",
                "fd_std",
                "encoder_fd",
                "pixels_fd",
                "precision",
                "recall",
                "accuracy",
                "config",
            ),
        )
    )
    for steps, b in best.items():
        ratio = b["best_vs_hand_fd_ratio"]
        print(f"{steps} steps: best static / hand-designed FD = {ratio:.3f}; {said(b['best_vs_hand'])}")
    print(
        f"noise floor (real train vs held-out): FD {floor['fd']:.3f}; {args.samples} samples per evaluation; "
        f"tuning_fd: mean over tuning seeds {list(PICK_SEEDS)}; the rest: mean (std) over evaluation seeds "
        f"{list(REPORT_SEEDS)}; picks recorded in {picks_file()}"
    )


def row(name: str, steps: int, config: dict, tuning_fd: list[float], runs: list[dict[str, float]]) -> dict[str, Any]:
    """One candidate's row: its tuning FD (PICK_SEEDS) and every metric's mean and std over REPORT_SEEDS."""
    means, stds = mean_std(runs)
    return {
        "schedule": name,
        "steps": steps,
        "config": config,
        "tuning_fd": statistics.mean(tuning_fd),
        "tuning_fd_per_seed": tuning_fd,
        **means,
        **{f"{k}_std": v for k, v in stds.items() if k.endswith(("fd", "kid", "precision", "recall"))},
    }


def _short(config: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in config.items()) or "defaults"


if __name__ == "__main__":
    main()
