"""The tuned track: every algorithm gets the same tuning budget before its reported runs.

``adagen bench tune --algo NAME ... --trials N`` runs Optuna's TPE sampler (seeded) over each
algorithm's search space, N trials each. A trial trains the algorithm with its hyperparameters on
every task of the lite suite at the tuning seed (``TUNING_SEED``; the reported seeds are 0..9), on
the reward track (the env's reward only), then scores each final policy by FD in the **selection
space** (never an evaluation space) on a search seed, against the hand-designed schedule's on the
same seed and samples. The objective, lower is better, is the mean over tasks of ``log(FD(policy) /
FD(hand-designed))``; the evaluation's networks and seeds take no part in it. Before the N trials,
the algorithm's configuration with no overrides (``params`` ``{}``: an SB3 algorithm as the reward
track runs it; our PPO with ``PPOConfig``'s defaults, which are ``ppo-tuned``'s) is scored the same
way, so a tuning that finds nothing better on its objective keeps that configuration rather than the
least bad draw. An interrupted tuning resumes from the file, replaying its draws through the seeded
sampler, so it draws next what it would have drawn.

One training seed is a noisy objective: it moves a configuration's score by up to 0.3 (sb3-a2c's
reference: -0.202, +0.101 and -0.102 on seeds 1000 to 1002, lite suite). So the ``FINALISTS`` best
configurations on the tuning seed (the reference among the candidates) are trained and scored again
on each of ``FINALIST_SEEDS``, and the pick is the finalist with the lowest mean objective over its
``1 + len(FINALIST_SEEDS)`` seeds: ``N + 1 + FINALISTS x len(FINALIST_SEEDS)`` trainings per algorithm,
the same for every algorithm.

The trials are written to ``<results>/tuned/<algo>.json`` as they finish (an interrupted tuning
resumes from them), with the pick's hyperparameters (``best``); ``adagen bench run --track tuned`` runs
each algorithm with those on the reported seeds. Search spaces: our PPO over its learning rate,
episodes per update, epochs and clip range, and the fields ported from SB3 (learned std, advantage
normalisation, orthogonal initialisation, target KL, rollout-time values and GAE lambda); an SB3
algorithm over its learning rate and discount and, where its constructor takes them, entropy
coefficient, epochs, clip range, GAE lambda, target KL, soft-update rate and (where its sanctioned
configuration adds action noise) the noise's standard deviation. The black-box searches expose no
hyperparameters and are not tuned.
"""

from __future__ import annotations

import inspect
import json
import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

import torch

from adagen_agents.bench.algorithms import Algorithm, get_algorithm, our_ppo, sb3
from adagen_agents.bench.tasks import SUITES, Task, get_task
from adagen_agents.bench.trial import Trial, get_process, selection_evaluator
from adagen_agents.bench.workers import worker_pool
from adagen_agents.sb3_algorithms import SB3_ALGORITHMS
from adagen_env.evaluation.generators import evaluate_generator, policy_generator, static_generator
from adagen_env.evaluation.seeds import SEARCH_SEEDS
from adagen_env.models.selection import SELECTION_SPACE
from adagen_env.runtime.provenance import Provenance, git_state
from adagen_env.runtime.results import write_results

TUNING_SEED = 1000  # the training seed of every tuning trial: none of the reported seeds
FINALISTS = 3  # configurations scored again on more tuning seeds before the pick
FINALIST_SEEDS = (1001, 1002)  # the finalists' further training seeds: none of the reported seeds either
SCORE_SAMPLES = 500  # samples per task whose selection-space FD scores a trial
OURS = ("ppo", "ppo-tuned")


def search_space(name: str) -> Callable[[Any], dict[str, Any]]:
    """The hyperparameters Optuna draws for algorithm ``name`` (from an ``optuna.Trial``); one line for
    an algorithm the tuned track does not tune."""
    if name in OURS:
        return _our_space
    if name in SB3_ALGORITHMS:
        return _sb3_space(name)
    get_algorithm(name)  # an unknown name: the registry's own line
    raise ValueError(
        f"{name} is not tuned on the tuned track: only RL algorithms with hyperparameters are "
        f"({', '.join([*OURS, *SB3_ALGORITHMS])})"
    )


def _our_space(t: Any) -> dict[str, Any]:
    """Our PPO's hyperparameters, with the fields ported from SB3's PPO and TRPO, in the ranges SB3's search
    space gives them, so that our PPO may tune what SB3's does (v1 searched the first four alone)."""
    params = {
        "learning_rate": t.suggest_float("learning_rate", 1e-4, 3e-3, log=True),
        "episodes_per_update": t.suggest_categorical("episodes_per_update", [128, 256, 512]),
        "epochs": t.suggest_int("epochs", 2, 10),
        "clip": t.suggest_float("clip", 0.1, 0.3),
        "learned_std": t.suggest_categorical("learned_std", [False, True]),
        "normalize_advantage": t.suggest_categorical("normalize_advantage", [False, True]),
        "orthogonal_init": t.suggest_categorical("orthogonal_init", [False, True]),
        "target_kl": t.suggest_float("target_kl", 0.005, 0.05, log=True),
        "rollout_values": t.suggest_categorical("rollout_values", [False, True]),
    }
    if params["rollout_values"]:  # GAE over the rollout-time values; from the current critic it is Monte-Carlo
        params["gae_lambda"] = t.suggest_float("gae_lambda", 0.8, 1.0)
    return params


def _sb3_space(name: str) -> Callable[[Any], dict[str, Any]]:
    algorithm = SB3_ALGORITHMS[name]
    accepted = inspect.signature(algorithm.load_class().__init__).parameters
    ranges: dict[str, tuple[float, float, bool]] = {  # low, high, log scale
        "learning_rate": (1e-5, 3e-3, True),
        "gamma": (0.8, 1.0, False),
        "ent_coef": (1e-6, 1e-2, True),
        "clip_range": (0.1, 0.3, False),
        "gae_lambda": (0.8, 1.0, False),
        "target_kl": (0.005, 0.05, True),
        "tau": (0.001, 0.05, True),
    }

    def draw(t: Any) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for key, (low, high, log) in ranges.items():
            if key in accepted and not (key == "ent_coef" and not algorithm.on_policy):  # SAC's is learned
                params[key] = t.suggest_float(key, low, high, log=log)
        if "n_epochs" in accepted:
            params["n_epochs"] = t.suggest_int("n_epochs", 2, 20)
        if "action_noise" in accepted and algorithm.class_name in ("TD3", "DDPG"):
            params["noise_std"] = t.suggest_float("noise_std", 0.05, 0.5, log=True)
        return params

    return draw


def tuned_algorithm(name: str, params: dict[str, Any]) -> Algorithm:
    """Algorithm ``name`` run with the hyperparameters ``params`` (over its sanctioned configuration)."""
    if name in OURS:
        return our_ppo(f"our PPO with tuned hyperparameters {params}", **params)
    if name in SB3_ALGORITHMS:
        return sb3(SB3_ALGORITHMS[name], overrides=params)
    raise ValueError(f"{name} has no tuned configuration: the tuned track tunes RL algorithms only")


def trial_score(
    name: str, params: dict[str, Any], tasks: Sequence[Task], seed: int, device: str = "cpu", pool: Pool | None = None
) -> dict[str, float]:
    """Each task's ``log(FD / FD(hand-designed))`` in the selection space of algorithm ``name`` with
    ``params`` trained on the reward track with ``seed``, and their mean (``objective``). With a
    ``pool`` (:func:`.workers.worker_pool`) the tasks train side by side, to the same scores."""
    units = [(name, params, task, seed, device, SCORE_SAMPLES) for task in tasks]
    logs = pool.starmap(_task_score, units, chunksize=1) if pool else [_task_score(*unit) for unit in units]
    scores = {task.name: log for task, log in zip(tasks, logs, strict=True)}
    scores["objective"] = sum(logs) / len(logs)
    return scores


def _task_score(name: str, params: dict[str, Any], task: Task, seed: int, device: str, samples: int) -> float:
    """One task of :func:`trial_score`: train, then ``log(FD(policy) / FD(hand-designed))``."""
    algorithm = tuned_algorithm(name, params)
    torch.manual_seed(seed)
    act = algorithm(Trial(task, seed, None, device, "reward"))
    process = get_process(task, device)
    evaluator = selection_evaluator(device)
    fd = {}
    for key, generate in (
        ("policy", policy_generator(process, act, task.spec)),
        ("hand", static_generator(process, task.num_steps)),
    ):
        result = evaluate_generator(
            generate, evaluator, process.num_classes, samples, seed=SEARCH_SEEDS.start + seed, progress=False
        )
        fd[key] = result[f"{SELECTION_SPACE}_fd"]
    return math.log(fd["policy"] / fd["hand"])


def tuned_path(results: Path, name: str) -> Path:
    return results / "tuned" / f"{name.replace(':', '.')}.json"


def tune(
    name: str,
    trials: int,
    results: Path,
    suite: str = "lite",
    seed: int = TUNING_SEED,
    device: str = "cpu",
    sampler_seed: int = 0,
    jobs: int = 1,
) -> dict[str, Any]:
    """``trials`` Optuna trials for algorithm ``name`` on ``suite``'s tasks, after its reference
    configuration (see the module doc); the trials already in its file count, so an interrupted tuning
    resumes, drawing what it would have drawn. With ``jobs`` > 1 each trial's tasks train on that many
    worker processes (pin torch threads: ``jobs`` x threads <= cores), to the same scores. Returns what
    it wrote."""
    try:
        import optuna
    except ImportError as error:
        raise ImportError("the tuned track needs Optuna: pip install -e '.[bench]'") from error
    draw = search_space(name)  # an algorithm the track does not tune: one line, before any work
    tasks = [get_task(t) for t in SUITES[suite].tasks] if suite in SUITES else None
    if tasks is None:
        raise ValueError(f"unknown suite {suite!r}; the suites: {', '.join(SUITES)}")
    if trials < 1:
        raise ValueError(f"--trials must be at least 1, got {trials}")
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    if seed in FINALIST_SEEDS:
        raise ValueError(f"the tuning seed {seed} is one of the finalists' seeds {FINALIST_SEEDS}")
    path = tuned_path(results, name)
    earlier = json.loads(path.read_text()) if path.exists() else {}
    if earlier and (earlier.get("suite"), earlier.get("seed")) != (suite, seed):
        raise ValueError(
            f"{path} holds a tuning on suite {earlier.get('suite')} at seed {earlier.get('seed')}, not suite "
            f"{suite} at seed {seed}: give its --suite, or another --results folder"
        )
    names = {t.name for t in tasks}
    for record in [*earlier.get("trials", []), *earlier.get("rescored", [])]:
        scored = set(record) - {"params", "objective", "seconds", "seed"}
        if scored != names:  # a record scored on another suite's tasks would rank configurations unfairly
            raise ValueError(
                f"{path}: the trial with {record['params'] or 'no overrides'} was scored on "
                f"{', '.join(sorted(scored))}, not on suite {suite}'s tasks ({', '.join(sorted(names))})"
            )
    done = earlier.get("trials", [])
    # where the file's trials so far ran: kept when this run's code differs (the provenance is this run's)
    before = [*earlier.get("earlier_provenance", []), *([earlier["provenance"]] if "provenance" in earlier else [])]
    reference = [r for r in done if not r["params"]]  # no overrides: the reference
    draws = [r for r in done if r["params"]]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=sampler_seed))
    for record in draws:  # replayed in order, so that the sampler goes on as if never interrupted
        replay = study.ask()
        if draw(replay) == record["params"]:
            study.tell(replay, record["objective"])
        else:  # drawn by another sampler (another Optuna): told as it was, the sequence goes on from there
            study.tell(replay, state=optuna.trial.TrialState.FAIL)
            try:
                distributions = _distributions(draw, record["params"])
            except ValueError as error:  # optuna: a parameter the space asks for is not in the record
                raise ValueError(
                    f"{path} was tuned over another search space than {name}'s today ({error}): "
                    "move it aside to tune again"
                ) from None
            study.add_trial(
                optuna.trial.create_trial(
                    params=record["params"], distributions=distributions, value=record["objective"]
                )
            )
    rescored = earlier.get("rescored", [])  # the finalists' scores on FINALIST_SEEDS
    provenance, commit = Provenance(device=device), git_state().get("commit")

    def run(params: dict[str, Any], what: str, at: int) -> dict[str, Any]:
        start = time.perf_counter()
        scores = trial_score(name, params, tasks, at, device, pool)
        record = {"params": params, **scores, "seconds": time.perf_counter() - start}
        if at == seed:
            (reference if not params else draws).append(record)
        else:
            rescored.append({"seed": at, **record})
        finalists = _finalists([*reference, *draws], rescored, seed)
        best = min(finalists, key=lambda f: f["objective"])
        data = {
            "algo": name,
            "suite": suite,
            "seed": seed,
            "finalist_seeds": list(FINALIST_SEEDS),
            "score_samples": SCORE_SAMPLES,
            "objective": "mean over tasks of log(FD / FD(hand-designed)) in the selection space; lower is better",
            "trials": [*reference, *draws],
            "rescored": rescored,
            "finalists": finalists,
            "best": best,
        }
        if any(p.get("commit") != commit for p in before):
            data["earlier_provenance"] = before
        write_results(path, data, provenance)
        print(
            f"{name} {what}: objective {scores['objective']:+.3f} (best {best['objective']:+.3f} "
            f"over {len(best['seeds'])} seed(s)) in {record['seconds']:.0f} s",
            flush=True,
        )
        return record

    with worker_pool(jobs) if jobs > 1 else nullcontext() as pool:  # exit: the workers end
        if not reference:
            run({}, "reference (no overrides)", seed)
        while len(draws) < trials:
            optuna_trial = study.ask()
            record = run(draw(optuna_trial), f"trial {len(draws) + 1}/{trials}", seed)
            study.tell(optuna_trial, record["objective"])
        for finalist in _finalists([*reference, *draws], rescored, seed):
            for at in FINALIST_SEEDS:
                if at not in finalist["seeds"]:
                    run(finalist["params"], f"finalist {finalist['params'] or 'reference'} at seed {at}", at)
    return json.loads(path.read_text())


def _finalists(trials: list[dict[str, Any]], rescored: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The ``FINALISTS`` best configurations on the tuning seed, each with its objectives on every seed
    it has been scored on so far and their mean (``objective``), the pick's criterion."""
    finalists = []
    for trial in sorted(trials, key=lambda t: t["objective"]):
        if len(finalists) == FINALISTS:
            break
        if any(f["params"] == trial["params"] for f in finalists):
            continue
        again = [r for r in rescored if r["params"] == trial["params"] and r["seed"] in FINALIST_SEEDS]
        seeds = [seed, *(r["seed"] for r in again)]
        objectives = [trial["objective"], *(r["objective"] for r in again)]
        finalists.append(
            {
                "params": trial["params"],
                "objective": sum(objectives) / len(objectives),
                "objectives": objectives,
                "seeds": seeds,
            }
        )
    return finalists


def _distributions(draw: Callable[[Any], dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """The distributions ``draw`` asks for, found by replaying it on a fixed trial that returns ``params``."""
    import optuna

    fixed = optuna.trial.FixedTrial(params)
    draw(fixed)
    return fixed.distributions


def unscored_finalists(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The finalists of a tuning file not yet scored on every one of ``FINALIST_SEEDS``: none once the
    tuning has finished, some while it is interrupted (after the reference, every configuration so far
    is a finalist)."""
    return [f for f in data.get("finalists", []) if set(FINALIST_SEEDS) - set(f["seeds"])]


def read_tuned(results: Path, name: str, tasks: Sequence[str]) -> dict[str, Any]:
    """The hyperparameters ``adagen bench tune`` picked for ``name``, to run on ``tasks``; one line if it has
    not run, has not finished (its finalists not scored on every seed), or tuned on a suite that does not
    hold these tasks."""
    path = tuned_path(results, name)
    if not path.exists():
        raise ValueError(f"{name} has not been tuned: run adagen bench tune --algo {name} first (no {path})")
    data = json.loads(path.read_text())
    suite = SUITES.get(data.get("suite", ""))
    if suite is None or not set(tasks) <= set(suite.tasks):
        raise ValueError(
            f"{path} tuned {name} on suite {data.get('suite')}, whose tasks are not {', '.join(tasks)}: "
            f"tune it with --suite of these tasks first"
        )
    unscored = unscored_finalists(data)
    if unscored:  # interrupted: the pick so far rests on fewer trials or seeds than every other algorithm's
        draws = sum(1 for r in data["trials"] if r["params"])  # the reference has no overrides
        raise ValueError(
            f"{path} holds an unfinished tuning of {name} ({draws} draws so far, "
            f"{len(unscored)} finalist(s) not yet scored on seeds {', '.join(map(str, FINALIST_SEEDS))}): "
            f"resume it with adagen bench tune --algo {name} --suite {data['suite']} first"
        )
    return data["best"]["params"]
