"""Running the benchmark: one (algorithm, task, seed) run to one JSON file, and resumable campaigns.

A campaign skips every run whose JSON exists, writes each result atomically as soon as it is
done, and records a crashed run in ``failed/`` without stopping the others. The normalised
score's references (the hand-designed and the best static schedule) are computed once per task
and kept in ``references/``. Every file is written by ``write_results``, so it carries its
provenance: the commit and whether the checkout was dirty, the package versions, the platform
and CPU count, torch's threads, the device, and the load before and after.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

import torch

from adagen_agents.bench.algorithms import get_algorithm, missing_packages
from adagen_agents.bench.tasks import Task, get_task
from adagen_agents.bench.trial import (
    SetupError,
    Trial,
    evaluate_act,
    normalised_scores,
    reference_noise,
    reference_results,
)
from adagen_env.evaluation.metrics import CLASSIC_SPACES, Evaluator
from adagen_env.runtime.devices import check_device
from adagen_env.runtime.files import atomic_write_json
from adagen_env.runtime.provenance import Provenance
from adagen_env.runtime.results import write_results

DEFAULT_RESULTS = Path("adagen-results/bench")


def run_label(algo: str) -> str:
    """``algo`` as it appears in file names: a plug-in's ``module:function`` as ``module.function``."""
    return algo.replace(":", ".")


def run_path(results: Path, algo: str, task: str, seed: int) -> Path:
    return results / "runs" / task / f"{run_label(algo)}-seed{seed}.json"


def references(task: Task, results: Path, evaluator: Evaluator, device: str = "cpu") -> dict:
    """The task's references, computed once and kept in ``references/<task>.json``: the anchors on the
    evaluation seed, and their FD on the task's noise seeds (``noise``), from which the report judges
    each denominator against FD's noise."""
    path = results / "references" / f"{task.name}.json"
    if path.exists():
        return json.loads(path.read_text())
    print(f"references for {task.name}: the hand-designed and the best static schedule ...", flush=True)
    provenance = Provenance(device=device)
    anchors = reference_results(task, evaluator, device)
    noise = reference_noise(task, evaluator, anchors, device)
    data = {"task": task.name, "eval_seed": task.eval_seed, **anchors, "noise": noise}
    write_results(path, data, provenance)
    return data


def run_one(algo: str, task: Task, seed: int, results: Path, evaluator: Evaluator, device: str = "cpu") -> dict:
    """Train or search with ``algo`` on ``task`` with ``seed``, score it, write its JSON; returns it."""
    algorithm = get_algorithm(algo)
    refs = references(task, results, evaluator, device)

    def curve(act) -> dict:
        result = evaluate_act(task, act, task.curve_samples, evaluator, device)
        return {
            "scores": normalised_scores(result, refs, task.curve_samples),
            **{k: v for k, v in result.items() if k.endswith("_fd")},
        }

    points: list[dict] = []  # the curve, kept here: the trial hands the algorithm none of it

    def score_point(point: int, samples_used: int, act) -> None:
        points.append({"samples": point, "samples_used": samples_used, **curve(act)})

    torch.manual_seed(seed)  # for libraries that draw from torch's global RNG
    trial = Trial(task, seed, score_point, device)
    provenance = Provenance(device=device)  # the machine is shared: every timing notes the load beside it
    start = time.perf_counter()
    act = algorithm(trial)
    seconds = time.perf_counter() - start - trial.evaluation_seconds
    final = evaluate_act(task, act, task.eval_samples, evaluator, device)
    last = {"samples": task.budget_samples, "samples_used": trial.samples_used, **curve(act)}
    data = {
        "algo": algo,
        "task": task.name,
        "seed": seed,
        "env_id": task.env_id,
        "num_steps": task.num_steps,
        "budget_samples": task.budget_samples,
        "samples_used": trial.samples_used,
        "config": trial.config,
        "train_seconds": seconds,
        "samples_per_second": trial.samples_used / seconds,
        "eval_samples": task.eval_samples,
        "eval_seed": task.eval_seed,
        "device": device,
        "scores": normalised_scores(final, refs, task.eval_samples),
        "final": final,
        "curve": [*points, last],
    }
    write_results(run_path(results, algo, task.name, seed), data, provenance)
    return data


def run_campaign(
    algos: Sequence[str],
    tasks: Sequence[str],
    seeds: Sequence[int],
    results: Path = DEFAULT_RESULTS,
    device: str = "cpu",
) -> int:
    """Every (algo, task, seed) not yet done; returns how many failed."""
    chosen = [get_task(t) for t in tasks]
    device = str(check_device(device))
    missing = missing_packages(list(algos))  # every name, plug-in and package is checked before the first run
    if missing:
        raise ImportError(f"these algorithms need {', '.join(missing)}, not installed: pip install -e '.[bench]'")
    # the leaderboard (v0) scores in the three spaces it was built on
    evaluator = Evaluator(spaces=CLASSIC_SPACES, device=device)
    failed = 0
    # seed by seed: a campaign stopped half way has every algorithm on every task for the first seeds
    todo = [(a, t, s) for s in seeds for t in chosen for a in algos]
    for i, (algo, task, seed) in enumerate(todo, 1):
        path = run_path(results, algo, task.name, seed)
        label = f"[{i}/{len(todo)}] {algo} on {task.name}, seed {seed}"
        if path.exists():
            print(f"{label}: done before, skipped", flush=True)
            continue
        print(f"{label} ...", flush=True)
        try:
            data = run_one(algo, task, seed, results, evaluator, device)
        except (ImportError, SetupError) as error:  # a missing package, a too small budget: the same for every seed
            raise type(error)(f"{algo} on {task.name}: {error}") from error
        except Exception as error:  # noqa: BLE001  (a crashed run must not lose the campaign)
            failed += 1
            atomic_write_json(
                results / "failed" / f"{task.name}-{run_label(algo)}-seed{seed}.json",
                {
                    "algo": algo,
                    "task": task.name,
                    "seed": seed,
                    "error": repr(error),
                    "traceback": traceback.format_exc(),
                },
            )
            print(f"{label}: FAILED ({error!r}); recorded in {results / 'failed'}", flush=True)
            continue
        failed_record = results / "failed" / f"{task.name}-{run_label(algo)}-seed{seed}.json"
        failed_record.unlink(missing_ok=True)
        s = data["scores"]
        print(
            f"{label}: score {s['mean']:.3f} (classifier {s['classifier']:.3f}, encoder {s['encoder']:.3f}, "
            f"pixels {s['pixels']:.3f}) in {data['train_seconds']:.0f} s",
            flush=True,
        )
    return failed
