"""AdaGen-Bench's tuned track: the same Optuna budget per algorithm, scored in the selection space."""

import dataclasses
import json

import optuna
import pytest
from test_bench import TINY

from adagen_agents.bench import campaign, report, tasks, tuned
from adagen_agents.bench.algorithms import sb3_model
from adagen_agents.bench.trial import Trial
from adagen_agents.bench.workers import worker_pool
from adagen_agents.cli import main
from adagen_agents.ppo import PPOConfig
from adagen_agents.sb3_algorithms import SB3_ALGORITHMS

SUITE = tasks.Suite("tiny", (TINY.name,), (0,), "bench-tiny")


@pytest.fixture
def tiny_suite(monkeypatch):
    monkeypatch.setitem(tasks.TASKS, TINY.name, TINY)
    monkeypatch.setitem(tasks.SUITES, "tiny", SUITE)
    monkeypatch.setattr(tuned, "SCORE_SAMPLES", 100)


def test_search_spaces_draw_each_algorithms_own_hyperparameters():
    first = {"learning_rate": 1e-3, "episodes_per_update": 256, "epochs": 4, "clip": 0.2}
    ported = {"learned_std": True, "normalize_advantage": True, "orthogonal_init": False, "target_kl": 0.01}
    ours = tuned.search_space("ppo")(optuna.trial.FixedTrial({**first, **ported, "rollout_values": False}))
    assert ours == {**first, **ported, "rollout_values": False}  # GAE lambda only over rollout-time values
    ours = tuned.search_space("ppo")(
        optuna.trial.FixedTrial({**first, **ported, "rollout_values": True, "gae_lambda": 0.9})
    )
    assert ours["gae_lambda"] == 0.9
    PPOConfig(**ours)  # a configuration our PPO takes
    names = []
    space = tuned.search_space("sb3-td3")

    class Recording:  # an Optuna trial that answers the low end and notes what was asked
        def suggest_float(self, name, low, high, log=False):
            names.append(name)
            return low

        def suggest_int(self, name, low, high):
            names.append(name)
            return low

    assert space(Recording())["noise_std"] == 0.05
    assert {"learning_rate", "gamma", "tau", "noise_std"} <= set(names) and "n_epochs" not in names
    names.clear()
    tuned.search_space("sb3-ppo")(Recording())
    assert {"learning_rate", "gamma", "ent_coef", "clip_range", "gae_lambda", "n_epochs"} <= set(names)
    with pytest.raises(ValueError, match="not tuned on the tuned track"):
        tuned.search_space("cma-es")
    with pytest.raises(ValueError, match="unknown algorithm"):
        tuned.search_space("nope")


def test_tuned_hyperparameters_reach_the_sb3_model():
    trial = Trial(TINY, 0)
    model, _ = sb3_model(SB3_ALGORITHMS["sb3-td3"], trial, {"learning_rate": 1e-5, "noise_std": 0.3})
    assert model.learning_rate == 1e-5
    assert float(model.action_noise._sigma[0]) == pytest.approx(0.3)
    assert trial.config["hyperparameters"]["noise_std"] == 0.3


def test_tuning_scores_in_the_selection_space_writes_every_trial_and_resumes(tiny_suite, tmp_path, monkeypatch):
    calls = []
    score = tuned.trial_score

    def counted(name, params, task_list, seed, device="cpu", pool=None):
        calls.append(seed)
        return score(name, params, task_list, seed, device, pool)

    monkeypatch.setattr(tuned, "trial_score", counted)
    monkeypatch.setattr(tuned, "FINALISTS", 1)
    monkeypatch.setattr(tuned, "FINALIST_SEEDS", (1001,))
    data = tuned.tune("ppo", 1, tmp_path / "resumed", "tiny")
    assert calls == [tuned.TUNING_SEED] * 2 + [1001]  # tuning seeds: none of the reported ones
    reference, trial = data["trials"]
    assert reference["params"] == {}  # first, no overrides (the reference), then one Optuna draw
    assert {"learning_rate", "episodes_per_update", "epochs", "clip", "learned_std"} <= set(trial["params"])
    assert trial["objective"] == pytest.approx(trial[TINY.name]) and abs(trial["objective"]) < 5
    assert "selection space" in data["objective"] and "provenance" in data
    scored_again = data["best"]["params"]
    # resumed: the finished trials count, one more is drawn, the one an uninterrupted tuning draws
    data = tuned.tune("ppo", 2, tmp_path / "resumed", "tiny")
    assert len(data["trials"]) == 3 and calls[3] == tuned.TUNING_SEED
    finalist = min(data["trials"], key=lambda t: t["objective"])
    assert data["best"]["params"] == finalist["params"] and data["best"]["seeds"] == [tuned.TUNING_SEED, 1001]
    assert len(calls) == 4 + (finalist["params"] != scored_again)  # a finalist is scored once per seed
    assert tuned.read_tuned(tmp_path / "resumed", "ppo", [TINY.name]) == data["best"]["params"]
    monkeypatch.setattr(
        tuned,
        "trial_score",
        lambda name, params, task_list, seed, device="cpu", pool=None: {
            TINY.name: 0.0,
            "objective": 0.0,
        },
    )
    uninterrupted = tuned.tune("ppo", 2, tmp_path / "at-once", "tiny")
    assert [t["params"] for t in uninterrupted["trials"]] == [t["params"] for t in data["trials"]]


def test_a_trials_tasks_on_two_worker_processes_score_as_in_one(tiny_suite):
    """--jobs 2: each task trains in its own fresh process, to the scores one process gives."""
    task_list = [TINY, dataclasses.replace(TINY, name="tiny-b", num_steps=2, nfe=4)]
    params = {"learning_rate": 1e-3, "episodes_per_update": 64, "epochs": 2, "clip": 0.2}
    alone = tuned.trial_score("ppo", params, task_list, tuned.TUNING_SEED)
    with worker_pool(2) as pool:
        parallel = tuned.trial_score("ppo", params, task_list, tuned.TUNING_SEED, pool=pool)
    assert parallel == alone and set(alone) == {"tiny", "tiny-b", "objective"}
    assert alone["tiny"] != alone["tiny-b"]  # each task its own training and score
    with pytest.raises(SystemExit, match="--jobs must be at least 1"):
        main(["bench", "tune", "--algo", "ppo", "--suite", "tiny", "--jobs", "0"])


def test_the_pick_is_the_finalist_best_on_average_over_more_tuning_seeds(tiny_suite, tmp_path, monkeypatch):
    """Scored with a made-up objective under which the draws best on the tuning seed are the worst on
    the others: a large clip range scores -clip on the tuning seed and +clip on the others."""
    calls = []

    def objective(name, params, task_list, seed, device="cpu", pool=None):
        calls.append(seed)
        clip = params.get("clip", 0.0)  # the reference: 0 on every seed, last on the tuning seed
        value = -clip if seed == tuned.TUNING_SEED else clip
        return {TINY.name: value, "objective": value}

    monkeypatch.setattr(tuned, "trial_score", objective)
    data = tuned.tune("ppo", 4, tmp_path, "tiny")
    trials = data["trials"]
    assert len(calls) == 5 + tuned.FINALISTS * len(tuned.FINALIST_SEEDS)  # the same budget for every algorithm
    top = sorted(trials, key=lambda t: t["objective"])[: tuned.FINALISTS]
    assert [f["params"] for f in data["finalists"]] == [t["params"] for t in top]
    for finalist in data["finalists"]:
        assert finalist["seeds"] == [tuned.TUNING_SEED, *tuned.FINALIST_SEEDS]
        assert finalist["objective"] == pytest.approx(sum(finalist["objectives"]) / len(finalist["objectives"]))
    assert data["best"] == min(data["finalists"], key=lambda f: f["objective"])
    assert data["best"]["params"] == top[-1]["params"] != top[0]["params"]  # not the tuning seed's best
    assert len(data["rescored"]) == tuned.FINALISTS * len(tuned.FINALIST_SEEDS)
    assert {r["seed"] for r in data["rescored"]} == set(tuned.FINALIST_SEEDS)
    row = next(line for line in report.tunings(tmp_path) if line.startswith("| ppo |"))
    pick = data["best"]
    assert row.startswith(f"| ppo | {5 + len(data['rescored'])} | -0.000 |")  # the reference: not a finalist
    assert f"| {report.params_text(pick['params'])} | " in row and f"| {pick['objective']:+.3f} |" in row
    # done: a second call scores nothing again
    assert tuned.tune("ppo", 4, tmp_path, "tiny") == data and len(calls) == 5 + len(data["rescored"])


def test_the_tuned_track_runs_the_tuned_hyperparameters(tiny_suite, tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "run", "--algo", "ppo", "--suite", "tiny", "--track", "tuned", "--results", str(tmp_path)])
    assert "has not been tuned: run adagen bench tune --algo ppo" in str(exit_info.value.code)
    params = {"learning_rate": 1e-3, "episodes_per_update": 128, "epochs": 2, "clip": 0.2}
    path = tuned.tuned_path(tmp_path, "ppo")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"suite": "tiny", "trials": [], "best": {"params": params}}))
    seen = []
    original = tuned.tuned_algorithm

    def noting(name, given):
        seen.append(given)
        return original(name, given)

    monkeypatch.setattr(campaign, "tuned_algorithm", noting)
    main(["bench", "run", "--algo", "ppo", "--suite", "tiny", "--track", "tuned", "--results", str(tmp_path)])
    assert seen == [params]
    run = json.loads(campaign.run_path(tmp_path, "ppo", TINY.name, 0, "tuned").read_text())
    assert run["track"] == "tuned"
    assert run["tuned"] == params
    # the same tuning again: done; tuned again since: the run is stale and runs again with the new pick
    main(["bench", "run", "--algo", "ppo", "--suite", "tiny", "--track", "tuned", "--results", str(tmp_path)])
    assert seen == [params] and "done before, skipped" in capsys.readouterr().out
    path.write_text(json.dumps({"suite": "tiny", "trials": [], "best": {"params": {}}}))
    main(["bench", "run", "--algo", "ppo", "--suite", "tiny", "--track", "tuned", "--results", str(tmp_path)])
    assert seen == [params, {}] and "ran with other hyperparameters than tuned/ has now" in capsys.readouterr().out
    assert json.loads(campaign.run_path(tmp_path, "ppo", TINY.name, 0, "tuned").read_text())["tuned"] == {}


def test_an_interrupted_tuning_is_not_run_on_the_tuned_track_until_resumed(tiny_suite, tmp_path, monkeypatch):
    """Its pick so far would rest on fewer trainings than every finished algorithm's: one line instead."""

    def objective(name, params, task_list, seed, device="cpu", pool=None):
        if seed != tuned.TUNING_SEED and interrupted:
            raise KeyboardInterrupt  # stopped while the finalists are scored again
        return {TINY.name: 0.1, "objective": 0.1}

    interrupted = True
    monkeypatch.setattr(tuned, "trial_score", objective)
    with pytest.raises(KeyboardInterrupt):
        tuned.tune("ppo", 1, tmp_path, "tiny")
    assert len(json.loads(tuned.tuned_path(tmp_path, "ppo").read_text())["trials"]) == 2
    with pytest.raises(SystemExit, match="unfinished tuning of ppo .1 draws so far.*resume it with adagen bench tune"):
        main(["bench", "run", "--algo", "ppo", "--suite", "tiny", "--track", "tuned", "--results", str(tmp_path)])
    assert not campaign.run_path(tmp_path, "ppo", TINY.name, 0, "tuned").exists()
    assert any(line.startswith("| ppo | 2 (unfinished) |") for line in report.tunings(tmp_path))
    interrupted = False
    data = tuned.tune("ppo", 1, tmp_path, "tiny")
    assert tuned.read_tuned(tmp_path, "ppo", [TINY.name]) == data["best"]["params"]
    assert not any("unfinished" in line for line in report.tunings(tmp_path))


def test_tune_checks_every_algorithm_before_the_first_tuning(tiny_suite, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "tune", "--algo", "ppo", "cma-es", "--suite", "tiny", "--results", str(tmp_path)])
    assert "cma-es is not tuned on the tuned track" in str(exit_info.value.code)
    assert not tuned.tuned_path(tmp_path, "ppo").exists()  # ppo's tuning never started


def test_a_tuning_on_another_suite_is_neither_resumed_nor_run(tiny_suite, tmp_path, monkeypatch):
    """A tuning file written for the full suite, in the lite suite's folder, once ranked full-suite scores
    against lite ones: now one line each, before any training."""
    monkeypatch.setattr(
        tuned,
        "trial_score",
        lambda name, params, task_list, seed, device="cpu", pool=None: {TINY.name: 0.0, "objective": 0.0},
    )
    tuned.tune("ppo", 1, tmp_path, "tiny")
    with pytest.raises(ValueError, match="holds a tuning on suite tiny at seed 1000, not suite lite"):
        tuned.tune("ppo", 1, tmp_path, "lite")
    with pytest.raises(ValueError, match="tuned ppo on suite tiny, whose tasks are not maskgit-4-lite"):
        tuned.read_tuned(tmp_path, "ppo", ["maskgit-4-lite"])
    with pytest.raises(SystemExit, match="tuned ppo on suite tiny"):
        main(["bench", "run", "--algo", "ppo", "--suite", "lite", "--track", "tuned", "--results", str(tmp_path)])
    path = tuned.tuned_path(tmp_path, "ppo")
    data = json.loads(path.read_text())
    data["trials"][0] = {"params": {}, "maskgit-8": -0.5, "objective": -0.5, "seconds": 1.0}  # another suite's task
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="the trial with no overrides was scored on maskgit-8, not on suite tiny"):
        tuned.tune("ppo", 1, tmp_path, "tiny")


def test_a_tuning_over_another_search_space_is_one_line(tiny_suite, tmp_path, monkeypatch):
    monkeypatch.setattr(
        tuned,
        "trial_score",
        lambda name, params, task_list, seed, device="cpu", pool=None: {TINY.name: 0.0, "objective": 0.0},
    )
    tuned.tune("ppo", 1, tmp_path, "tiny")
    path = tuned.tuned_path(tmp_path, "ppo")
    data = json.loads(path.read_text())
    data["trials"][1]["params"] = {"learning_rate": 1e-3, "episodes_per_update": 256, "epochs": 4, "clip": 0.2}
    path.write_text(json.dumps(data))  # a draw of v1's search space, without the ported fields
    with pytest.raises(ValueError, match="was tuned over another search space than ppo's today"):
        tuned.tune("ppo", 2, tmp_path, "tiny")
