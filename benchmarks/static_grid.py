"""Grid search over a process's static schedules: the bar learned schedules must clear.

Tuning and evaluation never share noise (``adagen_env/evaluation/seeds.py``). Every grid point is screened
on ``--screen-samples`` samples of the tuning seed SCREEN_SEED; the ``--top`` best and the
hand-designed schedule are evaluated on ``--samples`` samples of each tuning seed in PICK_SEEDS,
and the best static schedule is the one with the lowest mean classifier FD there. Only then are
all of them evaluated on the evaluation seeds REPORT_SEEDS, in every feature space: those are
the numbers reported, with a paired comparison of the best static and the hand-designed
schedule (FD difference with a 95 % bootstrap interval per space, ``adagen_env.evaluation.comparison``).
Screening results are saved after every grid point, so an interrupted run picks up where it
stopped.

    python -m benchmarks.static_grid [--env AdaGen/MaskGIT-Digits-v0] [--steps 2 4 8] [--screen-samples 500]
                                     [--samples 2000]

Results go to ``results/static_grid/<process>.json`` (screening cache: ``<process>-screen.json``).
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

import torch
from tqdm import tqdm

from adagen_agents.cli import DEFAULT_ENV
from adagen_env.evaluation.comparison import paired_fd_difference, verdict
from adagen_env.evaluation.generators import evaluate_generator, evaluate_on_seeds, static_generator
from adagen_env.evaluation.metrics import Evaluator, noise_floor
from adagen_env.paradigms import get_paradigm
from adagen_env.processes import Process
from adagen_env.evaluation.seeds import PICK_SEEDS, REPORT_SEEDS, SCREEN_SEED
from adagen_env.runtime.tables import format_table

RESULTS = Path(__file__).resolve().parent / "results" / "static_grid"


def static_grid_path(process_name: str) -> Path:
    """Where this benchmark writes its results for a process (read by the learned-schedules report)."""
    return RESULTS / f"{process_name}.json"


def config_key(steps: int, config: dict) -> str:
    return f"{steps}|" + "|".join(f"{k}={v}" for k, v in config.items())


def mean_std(runs: list[dict]) -> tuple[dict[str, float], dict[str, float]]:
    """Every metric's mean and standard deviation over the runs of one schedule (one per seed)."""
    keys = [k for k in runs[0] if k not in ("seconds", "samples_per_second", "n")]
    means = {k: statistics.mean(r[k] for r in runs) for k in keys}
    stds = {k: statistics.stdev(r[k] for r in runs) if len(runs) > 1 else 0.0 for k in keys}
    return means, stds


def evaluate_candidate(
    process: Process, evaluator: Evaluator, steps: int, name: str, config: dict, schedule: torch.Tensor | None, samples: int
) -> tuple[dict, torch.Tensor]:
    """One candidate's row (tuning FD on PICK_SEEDS; every metric on REPORT_SEEDS) and its report-seed images."""
    generate = static_generator(process, steps, schedule)
    tuning = [evaluate_generator(generate, evaluator, process.num_classes, samples, seed, progress=False)["fd"]
              for seed in PICK_SEEDS]
    runs, images = evaluate_on_seeds(generate, evaluator, process.num_classes, samples, REPORT_SEEDS)
    means, stds = mean_std(runs)
    row = {"schedule": name, "steps": steps, "config": config,
           "tuning_fd": statistics.mean(tuning), "tuning_fd_per_seed": tuning,
           **means, **{f"{k}_std": v for k, v in stds.items() if k.endswith(("fd", "kid", "precision", "recall"))}}
    return row, images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default=DEFAULT_ENV, help="environment id (default: %(default)s)")
    parser.add_argument("--steps", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--screen-samples", type=int, default=500)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--top", type=int, default=3)
    args = parser.parse_args()

    paradigm = get_paradigm(args.env)
    process_name = paradigm.name
    out = static_grid_path(process_name)
    out.parent.mkdir(parents=True, exist_ok=True)
    screen_path = out.with_name(f"{process_name}-screen.json")
    screened = json.loads(screen_path.read_text()) if screen_path.exists() else {}
    process = paradigm.make_process()
    evaluator = Evaluator()
    grid = paradigm.grid
    configs = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    hand_designed = process.named_schedules["hand-designed"]  # the defaults of static_schedule

    floor = noise_floor(evaluator)
    rows, best = [], {}
    for steps in args.steps:
        process.check_num_steps(steps)
        for config in tqdm(configs, desc=f"screening {steps} steps"):
            key = config_key(steps, config)
            if screened.get(key, {}).get("samples") != args.screen_samples:
                generate = static_generator(process, steps, process.static_schedule(steps, **config))
                result = evaluate_generator(generate, evaluator, process.num_classes, args.screen_samples, SCREEN_SEED,
                                            progress=False)
                screened[key] = {"config": config, "fd": result["fd"], "samples": args.screen_samples}
                screen_path.write_text(json.dumps(screened, indent=1))
        ranked = sorted((screened[config_key(steps, c)] for c in configs), key=lambda r: r["fd"])
        candidates = [("hand-designed", hand_designed, None)] + [
            (f"grid #{i + 1}", r["config"], process.static_schedule(steps, **r["config"]))
            for i, r in enumerate(ranked[: args.top])
        ]
        images = {}
        for name, config, schedule in candidates:
            row, images[name] = evaluate_candidate(process, evaluator, steps, name, config, schedule, args.samples)
            rows.append(row)
            print(f"{steps} steps, {name}: tuning FD {row['tuning_fd']:.3f}; "
                  f"evaluation FD {row['fd']:.3f} ± {row['fd_std']:.3f}  {config}", flush=True)
        grid_rows = [r for r in rows if r["steps"] == steps and r["schedule"] != "hand-designed"]
        hand = next(r for r in rows if r["steps"] == steps and r["schedule"] == "hand-designed")
        best_row = min(grid_rows, key=lambda r: r["tuning_fd"])  # chosen on tuning seeds only
        differences = paired_fd_difference(evaluator, images[best_row["schedule"]], images["hand-designed"])
        best[steps] = {"hand_designed": hand, "best_static": best_row, "best_vs_hand_fd_ratio": best_row["fd"] / hand["fd"],
                       "nfe": process.nfe(steps), "best_vs_hand_fd_differences": [vars(d) for d in differences],
                       "best_vs_hand": verdict(differences, "best static", "hand-designed")}
        print(f"{steps} steps: {best[steps]['best_vs_hand']}", flush=True)

        write(out, args, process_name, grid, rows, best, floor)  # after every step count: an interruption keeps them

    table = [{k: v for k, v in r.items() if k != "config"} | {"config": _short(r["config"])} for r in rows]
    print(format_table(table, ("steps", "schedule", "tuning_fd", "fd", "fd_std", "encoder_fd", "pixels_fd",
                               "precision", "recall", "accuracy", "config")))
    for steps, b in best.items():
        print(f"{steps} steps: best static / hand-designed FD = {b['best_vs_hand_fd_ratio']:.3f}; {b['best_vs_hand']}")
    print(f"noise floor (real train vs held-out): FD {floor['fd']:.3f}; {args.samples} samples per evaluation; "
          f"tuning_fd: mean over tuning seeds {list(PICK_SEEDS)}; the rest: mean (std) over evaluation seeds "
          f"{list(REPORT_SEEDS)}")
    print(f"wrote {out}")


def write(out: Path, args: argparse.Namespace, process_name: str, grid: dict, rows: list, best: dict, floor: dict) -> None:
    seeds = {"screen": SCREEN_SEED, "pick": list(PICK_SEEDS), "report": list(REPORT_SEEDS)}
    out.write_text(json.dumps({"args": vars(args), "seeds": seeds, "process": process_name, "grid": grid, "rows": rows,
                               "best": best, "noise_floor": floor}, indent=2))


def _short(config: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in config.items()) or "defaults"


if __name__ == "__main__":
    main()
