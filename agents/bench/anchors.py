"""The best static schedule the bench normalises by (its "1" anchor), picked in the selection space.

v0 took the registry's pick (``adagen_env/data/best_static.json``, written by ``benchmarks.static_grid``),
which the evaluation's classifier chose: the anchor was picked by a network that then scored against
it. v1 picks it per task with the selection network (:mod:`adagen_env.models.selection`), on tuning
seeds only, as the grid search does: every grid point of the paradigm (``Paradigm.grid``) is screened
on ``SCREEN_SAMPLES`` samples of the tuning seed ``SCREEN_SEED``; the ``TOP`` best are scored on
``PICK_SAMPLES`` samples of each tuning seed in ``PICK_SEEDS``, and the lowest mean FD is the pick.
The campaign keeps it in ``references/<task>.json`` (``selection_pick``), so it is computed once per
results folder. What ``adagen``'s other commands call the best static schedule does not change.
"""

from __future__ import annotations

import itertools
import statistics
from typing import Any

from adagen_agents.bench.tasks import Task
from adagen_agents.bench.trial import get_process, selection_evaluator
from adagen_env.evaluation.generators import evaluate_generator, static_generator
from adagen_env.evaluation.seeds import PICK_SEEDS, SCREEN_SEED
from adagen_env.models.selection import SELECTION_SPACE
from adagen_env.paradigms import get_paradigm

SCREEN_SAMPLES = 256
PICK_SAMPLES = 500
TOP = 3


def selection_pick(task: Task, device: str = "cpu") -> dict[str, Any]:
    """The task's best static schedule by FD in the selection space on tuning seeds: its keyword
    arguments (``config``) and what the choice saw (every grid point's screening FD, the finalists'
    FD per pick seed)."""
    process = get_process(task, device)
    grid = get_paradigm(task.env_id).grid
    configs = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    evaluator = selection_evaluator(device)
    key = f"{SELECTION_SPACE}_fd"

    def fd(config: dict, samples: int, seed: int) -> float:
        generate = static_generator(process, task.num_steps, process.static_schedule(task.num_steps, **config))
        return evaluate_generator(generate, evaluator, process.num_classes, samples, seed=seed, progress=False)[key]

    screened = sorted(((fd(c, SCREEN_SAMPLES, SCREEN_SEED), i) for i, c in enumerate(configs)))
    finalists = [configs[i] for _, i in screened[:TOP]]
    tuning = [[fd(c, PICK_SAMPLES, seed) for seed in PICK_SEEDS] for c in finalists]
    best = min(range(len(finalists)), key=lambda i: statistics.mean(tuning[i]))
    return {
        "config": finalists[best],
        "space": SELECTION_SPACE,
        "seeds": {"screen": SCREEN_SEED, "pick": list(PICK_SEEDS)},
        "samples": {"screen": SCREEN_SAMPLES, "pick": PICK_SAMPLES},
        "screen": [{"config": configs[i], "fd": f} for f, i in screened],
        "finalists": [{"config": c, "fd_per_seed": t} for c, t in zip(finalists, tuning, strict=True)],
    }
