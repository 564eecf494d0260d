"""Grid search over a process's static schedules: the bar learned schedules must clear.

Every grid point is screened on ``--screen-samples`` samples; the ``--top`` best and the
hand-designed schedule are then evaluated on ``--samples`` samples with ``--seeds`` seeds.
Screening results are saved after every grid point, so an interrupted run picks up where it
stopped.

    python -m benchmarks.static_grid [--env AdaGen/MaskGIT-Digits-v0] [--steps 2 4 8] [--screen-samples 500]
                                     [--samples 2000] [--seeds 3]

Results go to ``results/static_grid/<process>.json`` (screening cache: ``<process>-screen.json``).
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

from tqdm import tqdm

from adagen_agents.cli import DEFAULT_ENV
from adagen_env.evaluation import evaluate_generator, static_generator
from adagen_env.metrics import Evaluator, noise_floor
from adagen_env.paradigms import get_paradigm
from adagen_env.tables import format_table

RESULTS = Path(__file__).resolve().parent / "results" / "static_grid"


def static_grid_path(process_name: str) -> Path:
    """Where this benchmark writes its results for a process (read by the learned-schedules report)."""
    return RESULTS / f"{process_name}.json"


def config_key(steps: int, config: dict) -> str:
    return f"{steps}|" + "|".join(f"{k}={v}" for k, v in config.items())


def summarise(name: str, steps: int, config: dict, runs: list[dict]) -> dict:
    def mean_std(key: str) -> tuple[float, float]:
        values = [r[key] for r in runs]
        return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0

    fd, fd_std = mean_std("fd")
    return {
        "schedule": name,
        "steps": steps,
        "fd": fd,
        "fd_std": fd_std,
        "precision": mean_std("precision")[0],
        "recall": mean_std("recall")[0],
        "accuracy": mean_std("accuracy")[0],
        "config": config,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default=DEFAULT_ENV, help="environment id (default: %(default)s)")
    parser.add_argument("--steps", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--screen-samples", type=int, default=500)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3)
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

    rows = []
    for steps in args.steps:
        process.check_num_steps(steps)
        for config in tqdm(configs, desc=f"screening {steps} steps"):
            key = config_key(steps, config)
            if key not in screened:
                generate = static_generator(process, steps, process.static_schedule(steps, **config))
                result = evaluate_generator(generate, evaluator, process.num_classes, args.screen_samples, 0, progress=False)
                screened[key] = {"config": config, "fd": result["fd"]}
                screen_path.write_text(json.dumps(screened, indent=1))
        ranked = sorted((screened[config_key(steps, c)] for c in configs), key=lambda r: r["fd"])
        candidates = [("hand-designed", hand_designed, None)] + [
            (f"grid #{i + 1}", r["config"], process.static_schedule(steps, **r["config"]))
            for i, r in enumerate(ranked[: args.top])
        ]
        for name, config, schedule in candidates:
            runs = [
                evaluate_generator(static_generator(process, steps, schedule), evaluator, process.num_classes,
                                   args.samples, seed, progress=False)
                for seed in range(args.seeds)
            ]
            rows.append(summarise(name, steps, config, runs))
            print(f"{steps} steps, {name}: FD {rows[-1]['fd']:.3f} ± {rows[-1]['fd_std']:.3f}  {config}")

    best = {}
    for steps in args.steps:
        grid_rows = [r for r in rows if r["steps"] == steps and r["schedule"] != "hand-designed"]
        hand = next(r for r in rows if r["steps"] == steps and r["schedule"] == "hand-designed")
        best_row = min(grid_rows, key=lambda r: r["fd"])
        best[steps] = {"hand_designed": hand, "best_static": best_row, "best_vs_hand_fd_ratio": best_row["fd"] / hand["fd"],
                       "nfe": process.nfe(steps)}
    floor = noise_floor(evaluator)

    table = [{k: v for k, v in r.items() if k != "config"} | {"config": _short(r["config"])} for r in rows]
    print(format_table(table, ("steps", "schedule", "fd", "fd_std", "precision", "recall", "accuracy", "config")))
    for steps, b in best.items():
        print(f"{steps} steps: best static / hand-designed FD = {b['best_vs_hand_fd_ratio']:.3f}")
    print(f"noise floor (real train vs held-out): FD {floor['fd']:.3f}; "
          f"{args.samples} samples per evaluation, fd_std over {args.seeds} seeds")
    out.write_text(json.dumps({"args": vars(args), "process": process_name, "grid": grid, "rows": rows, "best": best, "noise_floor": floor}, indent=2))
    print(f"wrote {out}")


def _short(config: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in config.items()) or "defaults"


if __name__ == "__main__":
    main()
