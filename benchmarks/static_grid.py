"""Grid search over static MaskGIT schedules at 2, 4 and 8 steps: the bar learned schedules must clear.

Every grid point is screened on ``--screen-samples`` samples; the ``--top`` best and the
hand-designed schedule are then evaluated on ``--samples`` samples with ``--seeds`` seeds.
Screening results are saved after every grid point, so an interrupted run picks up where it
stopped.

    python -m benchmarks.static_grid [--steps 2 4 8] [--screen-samples 500] [--samples 2000] [--seeds 3]
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

from tqdm import tqdm

from adagen_env.cli import format_table
from adagen_env.evaluation import evaluate_generator, static_generator
from adagen_env.metrics import Evaluator, noise_floor
from adagen_env.processes import MaskGITProcess

RESULTS = Path(__file__).resolve().parent / "results"
GRID = {
    "mask_curve": ["cosine", "linear", "square"],
    "remask_temperature": [0.0, 1.0, 3.0],
    "sampling_temperature": [0.7, 0.85, 1.0],
    "guidance": [0.0, 1.0, 2.0, 4.0],
}


def config_key(steps: int, config: dict) -> str:
    return f"{steps}|" + "|".join(f"{k}={config[k]}" for k in GRID)


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
    parser.add_argument("--steps", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--screen-samples", type=int, default=500)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--top", type=int, default=3)
    args = parser.parse_args()

    RESULTS.mkdir(exist_ok=True)
    screen_path = RESULTS / "static_grid_screen.json"
    screened = json.loads(screen_path.read_text()) if screen_path.exists() else {}
    process = MaskGITProcess()
    evaluator = Evaluator()
    configs = [dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]
    hand_designed = {"mask_curve": "cosine", "remask_temperature": 1.0, "sampling_temperature": 1.0,
                     "guidance": process.guidance_scale}

    rows = []
    for steps in args.steps:
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
        best[steps] = {"hand_designed": hand, "best_static": best_row, "best_vs_hand_fd_ratio": best_row["fd"] / hand["fd"]}
    floor = noise_floor(evaluator)

    table = [{k: v for k, v in r.items() if k != "config"} | {"config": _short(r["config"])} for r in rows]
    print(format_table(table, ("steps", "schedule", "fd", "fd_std", "precision", "recall", "accuracy", "config")))
    for steps, b in best.items():
        print(f"{steps} steps: best static / hand-designed FD = {b['best_vs_hand_fd_ratio']:.3f}")
    print(f"noise floor (real train vs held-out): FD {floor['fd']:.3f}; "
          f"{args.samples} samples per evaluation, fd_std over {args.seeds} seeds")
    out = RESULTS / "static_grid.json"
    out.write_text(json.dumps({"args": vars(args), "grid": GRID, "rows": rows, "best": best, "noise_floor": floor}, indent=2))
    print(f"wrote {out}")


def _short(config: dict) -> str:
    return f"{config['mask_curve']},remask={config['remask_temperature']},temp={config['sampling_temperature']},w={config['guidance']}"


if __name__ == "__main__":
    main()
