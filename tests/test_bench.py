"""AdaGen-Bench: tasks, algorithms, budgets, resumable campaigns and the report, on a tiny task."""

import json

import numpy as np
import pytest
import torch

from adagen_agents import cli
from adagen_agents.bench import algorithms, tasks
from adagen_agents.bench.algorithms import ALGORITHMS, register, sb3
from adagen_agents.bench.campaign import run_campaign, run_one
from adagen_agents.bench.tasks import Task
from adagen_agents.bench.trial import BudgetTooSmall, Trial, normalised_scores
from adagen_agents.sb3_algorithms import SB3Algorithm
from adagen_env.evaluation.metrics import CLASSIC_SPACES as SPACES  # the leaderboard (v0) spaces
from adagen_env.evaluation.metrics import Evaluator
from adagen_env.runtime.files import atomic_write_json

# the cheapest generator (flow, Heun, 3 steps = 6 NFE), a budget of 1,024 samples
TINY = Task(
    "tiny",
    "AdaGen/Flow-Heun-Digits-v0",
    num_steps=3,
    nfe=6,
    budget_samples=1024,
    num_envs=32,
    eval_samples=200,
    curve_samples=100,
)


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return Evaluator(spaces=SPACES)


@pytest.fixture
def tiny_suite(monkeypatch):
    monkeypatch.setitem(tasks.TASKS, TINY.name, TINY)
    return TINY


@pytest.fixture
def toy(monkeypatch):
    """A plug-in algorithm: the zero action (the hand-designed schedule), checkpointing as it goes."""
    monkeypatch.setattr(algorithms, "ALGORITHMS", dict(ALGORITHMS))

    @register("toy-zero")
    def zero(trial: Trial):
        env = trial.env
        env.reset(seed=trial.seed)
        zeros = np.zeros(env.action_space.shape, np.float32)
        act = lambda obs: torch.zeros(len(obs["label"]), env.core.num_parameters)  # noqa: E731
        while trial.samples_used + env.num_envs <= trial.budget_samples:
            for _ in range(env.core.num_steps + 1):  # + 1: the autoreset step
                env.step(zeros)
            trial.checkpoint(lambda: act)
        return act

    return "toy-zero"


def test_a_plugged_in_algorithm_is_scored_in_every_space_with_its_curve(tiny_suite, toy, tmp_path, evaluator):
    data = run_one(toy, TINY, 0, tmp_path, evaluator)
    # the zero action is the hand-designed schedule bit for bit: score 0 in every space, exactly
    assert data["scores"] == {**{space: 0.0 for space in SPACES}, "mean": 0.0}
    assert data["samples_used"] == 1024 and data["budget_samples"] == 1024
    assert [p["samples"] for p in data["curve"]] == [256, 512, 768, 1024]
    assert all(p["scores"]["mean"] == 0.0 for p in data["curve"])
    assert data["train_seconds"] > 0 and data["samples_per_second"] > 0
    saved = json.loads((tmp_path / "runs" / "tiny" / "toy-zero-seed0.json").read_text())
    assert saved["scores"] == data["scores"]
    references = json.loads((tmp_path / "references" / "tiny.json").read_text())
    assert set(references) >= {"hand", "best_static"}


def test_normalised_score_is_0_at_hand_designed_and_1_at_best_static():
    references = {
        "hand": {"100": {f"{s}_fd": 10.0 for s in SPACES}},
        "best_static": {"100": {f"{s}_fd": 6.0 for s in SPACES}},
    }
    result = {"classifier_fd": 6.0, "encoder_fd": 10.0, "pixels_fd": 2.0}
    assert normalised_scores(result, references, 100) == {"classifier": 1.0, "encoder": 0.0, "pixels": 2.0, "mean": 1.0}


@pytest.mark.slow  # trains every algorithm of the bench
@pytest.mark.parametrize(
    "algo",
    [
        "ppo",
        "sb3-ppo",
        "sb3-a2c",
        "sb3-sac",
        "trpo",
        "ars",
        "recurrent-ppo",
        "random-search",
        "cma-es",
        "cma-es-per-class",
    ],
)
def test_every_kind_of_algorithm_runs_within_the_budget(tiny_suite, algo, tmp_path, evaluator):
    pytest.importorskip("sb3_contrib")
    pytest.importorskip("cma")
    data = run_one(algo, TINY, 0, tmp_path, evaluator)
    assert 0 < data["samples_used"] <= TINY.budget_samples
    assert all(np.isfinite(v) for v in data["scores"].values())
    assert data["curve"][-1]["samples"] == TINY.budget_samples


def test_campaign_skips_finished_runs_and_keeps_going_after_a_crash(tiny_suite, toy, tmp_path, monkeypatch, capsys):
    @register("toy-crash")
    def crash(trial):
        raise ValueError("boom")  # any error in a run, even a ValueError, is that run's alone

    failed = run_campaign([toy, "toy-crash"], ["tiny"], [0, 1], tmp_path)
    assert failed == 2
    assert sorted(p.name for p in (tmp_path / "runs" / "tiny").iterdir()) == [
        "toy-zero-seed0.json",
        "toy-zero-seed1.json",
    ]
    record = json.loads((tmp_path / "failed" / "tiny-toy-crash-seed0.json").read_text())
    assert "boom" in record["error"]
    before = (tmp_path / "runs" / "tiny" / "toy-zero-seed0.json").stat().st_mtime_ns
    capsys.readouterr()
    run_campaign([toy], ["tiny"], [0, 1], tmp_path)
    assert capsys.readouterr().out.count("done before, skipped") == 2
    assert (tmp_path / "runs" / "tiny" / "toy-zero-seed0.json").stat().st_mtime_ns == before


def test_budget_too_small_is_refused_before_training(tiny_suite, evaluator, tmp_path):
    small = Task(
        "small", TINY.env_id, num_steps=3, nfe=6, budget_samples=256, num_envs=32, eval_samples=200, curve_samples=100
    )
    with pytest.raises(BudgetTooSmall, match="ppo needs 512 samples for one update; the budget is 256"):
        run_one("ppo", small, 0, tmp_path, evaluator)
    with pytest.raises(BudgetTooSmall, match="PPO collects .* env steps per update; the budget is 768"):
        run_one("sb3-ppo", small, 0, tmp_path, evaluator)
    with pytest.raises(BudgetTooSmall, match="at least 2 candidates"):
        run_one("random-search", Task("one", TINY.env_id, 3, 128, 6, 32, 200, 100), 0, tmp_path, evaluator)


def test_a_budget_too_small_stops_the_campaign_with_one_line(tiny_suite, monkeypatch, tmp_path):
    monkeypatch.setitem(tasks.TASKS, "small", Task("small", TINY.env_id, 3, 256, 6, 32, 200, 100))
    with pytest.raises(SystemExit, match="ppo on small: ppo needs 512 samples for one update; the budget is 256"):
        cli.main(["bench", "run", "--algo", "ppo", "--task", "small", "--seed", "0", "--results", str(tmp_path)])
    assert not (tmp_path / "failed").exists()


def test_missing_packages_are_named_before_any_run(tiny_suite, toy, monkeypatch, tmp_path):
    monkeypatch.setattr(algorithms.ALGORITHMS[toy], "requires", ("surely_not_installed_pkg",), raising=False)
    with pytest.raises(SystemExit, match="need surely_not_installed_pkg, not installed: pip install"):
        cli.main(["bench", "run", "--algo", toy, "--task", "tiny", "--results", str(tmp_path)])
    assert not (tmp_path / "runs").exists() and not (tmp_path / "references").exists()


def test_an_algorithm_without_box_actions_is_refused(tiny_suite, monkeypatch, tmp_path, evaluator):
    monkeypatch.setattr(algorithms, "ALGORITHMS", dict(ALGORITHMS))
    register("dqn")(sb3(SB3Algorithm("dqn", "stable_baselines3", "DQN")))
    with pytest.raises(ValueError, match="DQN does not support Box actions"):
        run_one("dqn", TINY, 0, tmp_path, evaluator)


def test_cli_names_the_choices_for_unknown_tasks_and_algorithms(tiny_suite, tmp_path, capsys):
    with pytest.raises(SystemExit, match="unknown task 'nope'; the tasks: .*maskgit-8"):
        cli.main(["bench", "run", "--algo", "ppo", "--task", "nope", "--results", str(tmp_path)])
    with pytest.raises(SystemExit, match="unknown algorithm 'nope'; the algorithms: ppo, ppo-tuned, sb3-ppo"):
        cli.main(["bench", "run", "--algo", "nope", "--task", "tiny", "--results", str(tmp_path)])
    cli.main(["bench", "list"])
    out = capsys.readouterr().out
    assert "maskgit-8" in out and "cma-es-per-class" in out and "98304" in out


def test_report_writes_the_leaderboard_and_plots(tmp_path):
    pytest.importorskip("rliable")
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    for algo, level in (("ppo", 0.5), ("cma-es", 1.0), ("half-done", 0.0)):
        for task in ("maskgit-8", "var-4"):
            for seed in range(3):
                if algo == "half-done" and task == "var-4":
                    continue
                scores = {s: level + 0.1 * rng.standard_normal() for s in SPACES}
                scores["mean"] = sum(scores.values()) / 3
                curve = [
                    {"samples": n, "scores": {"mean": level * f}} for n, f in ((1, 0.25), (2, 0.5), (3, 0.75), (4, 1))
                ]
                atomic_write_json(
                    tmp_path / "runs" / task / f"{algo}-seed{seed}.json",
                    {
                        "algo": algo,
                        "task": task,
                        "seed": seed,
                        "scores": scores,
                        "curve": curve,
                        "train_seconds": 100.0,
                        "samples_per_second": 50.0,
                    },
                )
    cli.main(["bench", "report", "--results", str(tmp_path)])
    board = (tmp_path / "leaderboard.md").read_text()
    rows = [line for line in board.splitlines() if line.startswith("| cma-es") or line.startswith("| ppo")]
    assert rows[0].startswith("| cma-es |") and "3 x 2" in rows[0]  # sorted by IQM, best first
    assert "half-done (maskgit-8: 3 seeds, var-4: 0 seeds)" in board
    # ppo (0.5 +- 0.1) against cma-es (1.0 +- 0.1) at equal cost: worse beyond the interval in every space
    against = board[board.index("Against cma-es at equal cost") :]
    row = next(line for line in against.splitlines() if line.startswith("| ppo |"))
    assert row.count("cma-es beats ppo in every space") == 2
    for plot in ("aggregates.png", "performance_profiles.png", "sample_efficiency.png"):
        assert (tmp_path / plot).stat().st_size > 0
