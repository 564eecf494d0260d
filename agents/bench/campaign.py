"""Running the benchmark: one (algorithm, task, seed) run to one JSON file, and resumable campaigns.

A campaign skips every run whose JSON exists, writes each result atomically as soon as it is
done, and records a crashed run in ``failed/`` without stopping the others. Runs go to
``runs/<track>/<task>/<algo>-seed<s>.json`` (v0's, before tracks, lie in ``runs/<task>/``). The
normalised score's references (the hand-designed schedule and the best static one, picked in the
selection space on tuning seeds, :mod:`.anchors`) are computed once per task, scored on every
evaluation seed, and kept in ``references/``: both tracks share them. Every file is written by
``write_results``, so it carries its provenance: the commit and whether the checkout was dirty, the
package versions, the platform and CPU count, torch's threads, the device, and the load before and after.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from adagen_agents.bench.algorithms import BUILT_IN, get_algorithm, missing_packages
from adagen_agents.bench.anchors import selection_pick
from adagen_agents.bench.tasks import Task, get_task
from adagen_agents.bench.trial import (
    TRACKS,
    SetupError,
    Trial,
    anchor_references,
    evaluate_act,
    evaluate_final,
    mean_result,
    normalised_scores,
)
from adagen_agents.bench.tuned import read_tuned, tuned_algorithm
from adagen_agents.bench.workers import worker_pool
from adagen_env.evaluation.metrics import SPACES, Evaluator
from adagen_env.runtime.devices import check_device
from adagen_env.runtime.files import atomic_write_json
from adagen_env.runtime.provenance import Provenance
from adagen_env.runtime.results import write_results

DEFAULT_RESULTS = Path("adagen-results/bench")
PROTOCOL = "v1"  # two tracks, the selection-space anchor, every score averaged over the evaluation seeds


def run_label(algo: str) -> str:
    """``algo`` as it appears in file names: a plug-in's ``module:function`` as ``module.function``."""
    return algo.replace(":", ".")


def run_path(results: Path, algo: str, task: str, seed: int, track: str = "reward") -> Path:
    return results / "runs" / track / task / f"{run_label(algo)}-seed{seed}.json"


def references(task: Task, results: Path, evaluator: Evaluator, device: str = "cpu") -> dict:
    """The task's references, computed once and kept in ``references/<task>.json``: the best static
    schedule picked in the selection space on tuning seeds (``selection_pick``), then both anchors on
    every evaluation seed, averaged, with their draws per seed (``per_seed``, ``noise``), from which
    the report judges each denominator against FD's noise. A v0 file (no ``protocol``) is refused."""
    path = results / "references" / f"{task.name}.json"
    if path.exists():
        data = json.loads(path.read_text())
        if data.get("protocol") != PROTOCOL:
            raise ValueError(
                f"{path} holds v0 references (the anchor picked by the evaluation's classifier, one seed); "
                "v1 runs need their own: use another --results folder"
            )
        return data
    print(f"references for {task.name}: picking the best static schedule in the selection space ...", flush=True)
    provenance = Provenance(device=device)
    pick = selection_pick(task, device)
    print(f"references for {task.name}: {pick['config']}; scoring both anchors on seeds {list(task.eval_seeds)} ...")
    anchors = anchor_references(task, evaluator, pick["config"], device)
    data = {
        "protocol": PROTOCOL,
        "task": task.name,
        "eval_seed": task.eval_seed,
        "eval_seeds": list(task.eval_seeds),
        "selection_pick": pick,
        **anchors,
    }
    write_results(path, data, provenance)
    return data


def seed_references(refs: dict, i: int, num_samples: int) -> dict:
    """The references of evaluation seed number ``i`` alone, as ``normalised_scores`` reads them."""
    return {name: {str(num_samples): refs["per_seed"][name][i]} for name in ("hand", "best_static")}


def run_one(
    algo: str, task: Task, seed: int, results: Path, evaluator: Evaluator, device: str = "cpu", track: str = "reward"
) -> dict:
    """Train or search with ``algo`` on ``task`` with ``seed`` on ``track``, score it on every evaluation
    seed (the mean, and each seed's), write its JSON; returns it."""
    # the tuned track: the algorithm with the hyperparameters adagen bench tune found (agents/bench/tuned.py)
    tuned = read_tuned(results, algo, [task.name]) if track == "tuned" else {}
    algorithm = tuned_algorithm(algo, tuned) if track == "tuned" else get_algorithm(algo)
    refs = references(task, results, evaluator, device)

    def curve(act) -> dict:
        result = evaluate_act(task, act, task.curve_samples, evaluator, device)
        return {
            "scores": normalised_scores(result, refs, task.curve_samples),
            **{k: v for k, v in result.items() if k.endswith("_fd")},
        }

    points: list[dict] = []  # the curve, kept here: the trial hands the algorithm none of it

    def score_point(point: int, samples_used: int, act, reward: float | None) -> None:
        points.append({"samples": point, "samples_used": samples_used, "reward": reward, **curve(act)})

    torch.manual_seed(seed)  # for libraries that draw from torch's global RNG
    trial = Trial(task, seed, score_point, device, track)
    provenance = Provenance(device=device)  # the machine is shared: every timing notes the load beside it
    start = time.perf_counter()
    act = algorithm(trial)
    seconds = time.perf_counter() - start - trial.evaluation_seconds
    per_seed, actions = evaluate_final(task, act, evaluator, device)
    final = mean_result(per_seed)
    last = {
        "samples": task.budget_samples,
        "samples_used": trial.samples_used,
        "reward": trial.recent_reward(),
        **curve(act),
    }
    data = {
        "protocol": PROTOCOL,
        "track": track,
        "algo": algo,
        "task": task.name,
        "seed": seed,
        "env_id": task.env_id,
        "num_steps": task.num_steps,
        "budget_samples": task.budget_samples,
        "samples_used": trial.samples_used,
        "config": trial.config,
        **({"tuned": tuned} if track == "tuned" else {}),  # the hyperparameters adagen bench tune picked
        "train_seconds": seconds,
        "samples_per_second": trial.samples_used / seconds,
        "eval_samples": task.eval_samples,
        "eval_seed": task.eval_seed,
        "eval_seeds": list(task.eval_seeds),
        "device": device,
        "scores": normalised_scores(final, refs, task.eval_samples),
        # each seed's score against the anchors on that seed (paired: the same noise and labels)
        "scores_per_seed": [
            normalised_scores(r, seed_references(refs, i, task.eval_samples), task.eval_samples)
            for i, r in enumerate(per_seed)
        ],
        "final": final,
        "final_per_seed": [{k: v for k, v in r.items() if k.endswith("_fd")} for r in per_seed],
        "actions": actions,  # what the final policy did on the first evaluation seed (identical outcomes)
        "curve": [*points, last],
    }
    write_results(run_path(results, algo, task.name, seed, track), data, provenance)
    return data


def run_campaign(
    algos: Sequence[str],
    tasks: Sequence[str],
    seeds: Sequence[int],
    results: Path = DEFAULT_RESULTS,
    device: str = "cpu",
    track: str = "reward",
    jobs: int = 1,
) -> int:
    """Every (algo, task, seed) not yet done on ``track``, ``jobs`` at a time; returns how many failed.

    With ``jobs`` > 1 the runs go to that many worker processes, each with the parent's torch threads
    (pin them: ``jobs`` x threads <= cores). Every run is seeded alone, so its file is the same
    whichever worker runs it and whenever. Workers are fresh processes (spawned: forking a process
    whose OpenMP threads have run can hang), so they know the built-in algorithms and plug-ins
    (``module:function``), not one registered in this process alone: that is refused before any run.
    """
    if track not in TRACKS:
        raise ValueError(f"unknown track {track!r}; the tracks: {', '.join(TRACKS)}")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    chosen = [get_task(t) for t in tasks]
    device = str(check_device(device))
    missing = missing_packages(list(algos))  # every name, plug-in and package is checked before the first run
    if missing:
        raise ImportError(f"these algorithms need {', '.join(missing)}, not installed: pip install -e '.[bench]'")
    tuned = {algo: read_tuned(results, algo, tasks) for algo in algos} if track == "tuned" else {}  # before any run
    unknown = [a for a in algos if ":" not in a and a not in BUILT_IN]
    if jobs > 1 and unknown:
        raise ValueError(
            f"{', '.join(unknown)}: registered in this process only, which worker processes cannot see; "
            "give it as module:function, or run with jobs=1"
        )
    # seed by seed: a campaign stopped half way has every algorithm on every task for the first seeds
    todo = [(a, t, s) for s in seeds for t in chosen for a in algos]
    runs: list[PendingRun] = []
    for i, (algo, task, seed) in enumerate(todo, 1):
        label = f"[{i}/{len(todo)}] {algo} on {task.name}, seed {seed}, {track} track"
        path = run_path(results, algo, task.name, seed, track)
        # a tuned run is stale when tuned again since, or written before run files recorded it
        stale = path.exists() and track == "tuned" and json.loads(path.read_text()).get("tuned") != tuned[algo]
        if stale:
            print(f"{label}: ran with other hyperparameters than tuned/ has now, run again", flush=True)
        elif path.exists():
            print(f"{label}: done before, skipped", flush=True)
            continue
        runs.append(PendingRun(label, algo, task, seed, results, device, track))
    if not runs:
        return 0
    provenance = Provenance(device=device)  # the load before the campaign, with everything else
    start = time.perf_counter()
    if jobs == 1 or len(runs) == 1:
        for task in {run.task.name: run.task for run in runs}.values():
            references(task, results, _evaluator(device), device)
        references_seconds = time.perf_counter() - start
        failed = sum(not _attempt(run) for run in runs)
    else:
        failed, references_seconds = _run_parallel(runs, jobs, device)
    record_campaign(results, runs, jobs, failed, references_seconds, time.perf_counter() - start, provenance)
    return failed


@dataclass(frozen=True)
class PendingRun:
    """One run a campaign has still to do (what a worker process gets)."""

    label: str  # how the progress lines name it: "[i/n] algo on task, seed s, track"
    algo: str
    task: Task
    seed: int
    results: Path
    device: str
    track: str


def record_campaign(
    results: Path,
    runs: list[PendingRun],
    jobs: int,
    failed: int,
    references_seconds: float,
    seconds: float,
    provenance: Provenance,
) -> Path:
    """``campaigns/<start>.json``: what a finished campaign ran and how long it took, the references
    (computed or read) apart from the runs, with the load before and after (``adagen bench report``
    lists them)."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(time.time() - seconds))
    data = {
        "algos": sorted({run.algo for run in runs}),
        "tasks": sorted({run.task.name for run in runs}),
        "seeds": sorted({run.seed for run in runs}),
        "track": runs[0].track,
        "runs": len(runs),
        "failed": failed,
        "jobs": jobs if len(runs) > 1 else 1,
        "threads": torch.get_num_threads(),
        "references_seconds": references_seconds,
        "runs_seconds": seconds - references_seconds,
        "wall_seconds": seconds,
    }
    path = results / "campaigns" / f"{stamp}.json"
    write_results(path, data, provenance)
    return path


_EVALUATOR: dict[str, Evaluator] = {}  # one per process and device: every evaluation space's networks, loaded once


def _evaluator(device: str) -> Evaluator:
    if device not in _EVALUATOR:
        _EVALUATOR[device] = Evaluator(spaces=SPACES, device=device)  # five networks and the pixels
    return _EVALUATOR[device]


def _references_job(task: Task, results: Path, device: str) -> None:
    references(task, results, _evaluator(device), device)


def _run_parallel(runs: list[PendingRun], jobs: int, device: str) -> tuple[int, float]:
    """``runs`` on ``jobs`` worker processes: each task's references first (once, one task per
    worker), then the runs as workers free up; returns how many failed, and the references' seconds.
    A setup error (the same for every seed) or Ctrl-C stops the campaign at once: the workers are
    ended, the runs finished are kept (each file is written whole), the runs cut short are redone
    by the next ``adagen bench run``."""
    tasks = {run.task.name: run.task for run in runs}
    results = runs[0].results
    print(f"{len(runs)} runs on {jobs} worker processes, {torch.get_num_threads()} torch thread(s) each", flush=True)
    with worker_pool(jobs) as pool:  # exit: terminate
        start = time.perf_counter()
        pool.starmap(_references_job, [(task, results, device) for task in tasks.values()], chunksize=1)
        seconds = time.perf_counter() - start
        print(f"references of {len(tasks)} task(s) ready after {seconds:.0f} s", flush=True)
        failed = sum(not ok for ok in pool.imap_unordered(_attempt, runs))
        pool.close()  # done: the workers end on their own (the with's terminate is for errors and Ctrl-C)
        pool.join()
        return failed, seconds


def _attempt(run: PendingRun) -> bool:
    """One run, its result line printed and its file written, or its crash recorded in ``failed/``
    (``False``); a missing package or a setup error is raised: it is the same for every seed."""
    label, algo, task, seed, results, device, track = (
        run.label,
        run.algo,
        run.task,
        run.seed,
        run.results,
        run.device,
        run.track,
    )
    print(f"{label} ...", flush=True)
    failed_record = results / "failed" / f"{track}-{task.name}-{run_label(algo)}-seed{seed}.json"
    try:
        data = run_one(algo, task, seed, results, _evaluator(device), device, track)
    except (ImportError, SetupError) as error:  # a missing package, a too small budget: the same for every seed
        raise type(error)(f"{algo} on {task.name}: {error}") from error
    except Exception as error:  # noqa: BLE001  (a crashed run must not lose the campaign)
        atomic_write_json(
            failed_record,
            {
                "track": track,
                "algo": algo,
                "task": task.name,
                "seed": seed,
                "error": repr(error),
                "traceback": traceback.format_exc(),
            },
        )
        print(f"{label}: FAILED ({error!r}); recorded in {results / 'failed'}", flush=True)
        return False
    failed_record.unlink(missing_ok=True)
    s = data["scores"]
    spaces = ", ".join(f"{space} {s[space]:.2f}" for space in SPACES)
    print(f"{label}: score {s['mean']:.3f} ({spaces}) in {data['train_seconds']:.0f} s", flush=True)
    return True
