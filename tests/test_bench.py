"""AdaGen-Bench: tasks, algorithms, budgets, resumable campaigns and the report, on a tiny task."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from adagen_agents import cli
from adagen_agents.bench import algorithms, anchors, hyperparams, report, tasks
from adagen_agents.bench.algorithms import ALGORITHMS, register, sb3, sb3_model
from adagen_agents.bench.campaign import run_campaign, run_one
from adagen_agents.bench.hyperparams import sanctioned_config
from adagen_agents.bench.tasks import Task
from adagen_agents.bench.trial import (
    ActionLog,
    BudgetExceeded,
    BudgetTooSmall,
    SealedError,
    SetupError,
    Trial,
    normalised_scores,
)
from adagen_agents.sb3_algorithms import SB3_ALGORITHMS, SB3Algorithm
from adagen_env.evaluation.metrics import CLASSIC_SPACES, SPACES, Evaluator
from adagen_env.paradigms import best_static_schedule, make_process
from adagen_env.processes.sampling import sample
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
    return Evaluator(spaces=SPACES)  # v1: every evaluation space


@pytest.fixture(autouse=True)
def small_anchor_search(monkeypatch):
    """The selection-space pick of the best static schedule on fewer samples, for speed."""
    monkeypatch.setattr(anchors, "SCREEN_SAMPLES", 64)
    monkeypatch.setattr(anchors, "PICK_SAMPLES", 100)


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
    # the zero action is the hand-designed schedule bit for bit: score 0 in every space, exactly, on every seed
    assert data["scores"] == {**{space: 0.0 for space in SPACES}, "mean": 0.0}
    assert data["scores_per_seed"] == [data["scores"]] * 3 and data["eval_seeds"] == [100_000, 100_001, 100_002]
    assert data["track"] == "reward" and data["protocol"] == "v1"
    assert data["actions"]["max_abs"] == 0.0 and data["actions"]["saturated_share"] == 0.0
    assert data["samples_used"] == 1024 and data["budget_samples"] == 1024
    assert [p["samples"] for p in data["curve"]] == [256, 512, 768, 1024]
    assert all(p["scores"]["mean"] == 0.0 for p in data["curve"])
    assert all(isinstance(p["reward"], float) for p in data["curve"])  # the env's recent mean reward, beside
    assert data["train_seconds"] > 0 and data["samples_per_second"] > 0
    saved = json.loads((tmp_path / "runs" / "reward" / "tiny" / "toy-zero-seed0.json").read_text())
    assert saved["scores"] == data["scores"]
    references = json.loads((tmp_path / "references" / "tiny.json").read_text())
    assert set(references) >= {"hand", "best_static", "noise", "per_seed", "selection_pick"}
    # both anchors are averaged over the 3 evaluation seeds, whose draws are kept
    noise = references["noise"]
    assert noise["seeds"] == [100_000, 100_001, 100_002] == references["eval_seeds"]
    for anchor in ("hand", "best_static"):
        for space in SPACES:
            draws = noise[anchor][f"{space}_fd"]
            assert len(set(draws)) == 3
            assert references[anchor]["200"][f"{space}_fd"] == pytest.approx(sum(draws) / 3)
    # the "1" anchor is the selection space's pick on tuning seeds, among the paradigm's grid
    pick = references["selection_pick"]
    assert pick["space"] == "selection" and pick["seeds"]["pick"] == [0, 1, 2]
    assert pick["config"] in [row["config"] for row in pick["screen"]] and len(pick["screen"]) == 20
    assert min(pick["finalists"], key=lambda f: sum(f["fd_per_seed"]))["config"] == pick["config"]
    assert saved["provenance"]["device"] == "cpu" and "commit" in saved["provenance"]


def test_normalised_score_is_0_at_hand_designed_and_1_at_best_static():
    references = {
        "hand": {"100": {f"{s}_fd": 10.0 for s in SPACES}},
        "best_static": {"100": {f"{s}_fd": 6.0 for s in SPACES}},
    }
    result = {"classifier_fd": 6.0, "encoder_fd": 10.0, "pixels_fd": 2.0}
    assert normalised_scores(result, references, 100, CLASSIC_SPACES) == {
        "classifier": 1.0,
        "encoder": 0.0,
        "pixels": 2.0,
        "mean": 1.0,
    }


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
    assert sorted(p.name for p in (tmp_path / "runs" / "reward" / "tiny").iterdir()) == [
        "toy-zero-seed0.json",
        "toy-zero-seed1.json",
    ]
    record = json.loads((tmp_path / "failed" / "reward-tiny-toy-crash-seed0.json").read_text())
    assert "boom" in record["error"]
    before = (tmp_path / "runs" / "reward" / "tiny" / "toy-zero-seed0.json").stat().st_mtime_ns
    capsys.readouterr()
    run_campaign([toy], ["tiny"], [0, 1], tmp_path)
    assert capsys.readouterr().out.count("done before, skipped") == 2
    assert (tmp_path / "runs" / "reward" / "tiny" / "toy-zero-seed0.json").stat().st_mtime_ns == before


TOYS = """
import numpy as np
import torch

from adagen_agents.bench.trial import BudgetTooSmall


def zero(trial):
    env = trial.env
    env.reset(seed=trial.seed)
    zeros = np.zeros(env.action_space.shape, np.float32)
    act = lambda obs: torch.zeros(len(obs["label"]), env.core.num_parameters)  # noqa: E731
    while trial.samples_used + env.num_envs <= trial.budget_samples:
        for _ in range(env.core.num_steps + 1):
            env.step(zeros)
        trial.checkpoint(lambda: act)
    return act


def too_big(trial):
    raise BudgetTooSmall("needs more")
"""


def test_a_campaign_on_two_worker_processes_writes_the_same_runs(tiny_suite, toy, tmp_path, monkeypatch, capsys):
    """--jobs 2: the runs in fresh worker processes, each run's file as one process writes it."""
    (tmp_path / "bench_toys.py").write_text(TOYS)
    monkeypatch.syspath_prepend(str(tmp_path))  # the workers import plug-ins from the parent's path
    algos = ["bench_toys:zero", "random-search"]
    alone, parallel = tmp_path / "alone", tmp_path / "parallel"
    assert run_campaign(algos, ["tiny"], [0, 1], alone) == 0
    shutil.copytree(alone / "references", parallel / "references")  # computed with this test's smaller pick
    assert run_campaign(algos, ["tiny"], [0, 1], parallel, jobs=2) == 0
    assert "4 runs on 2 worker processes" in capsys.readouterr().out
    (record,) = [json.loads(p.read_text()) for p in (parallel / "campaigns").glob("*.json")]  # its own timing
    assert (record["runs"], record["failed"], record["jobs"], record["track"]) == (4, 0, 2, "reward")
    assert record["references_seconds"] < record["wall_seconds"] and "load_average_after" in record["provenance"]
    files = sorted(p.relative_to(alone / "runs") for p in (alone / "runs").rglob("*.json"))
    assert files == sorted(p.relative_to(parallel / "runs") for p in (parallel / "runs").rglob("*.json"))
    assert len(files) == 4
    for name in files:  # everything but the timings
        a, b = (json.loads((folder / "runs" / name).read_text()) for folder in (alone, parallel))
        for key in ("final", "scores_per_seed", "final_per_seed", "curve", "samples_used", "actions"):
            assert a[key] == b[key], (name, key)
    assert run_campaign(algos, ["tiny"], [0, 1], parallel, jobs=2) == 0  # resumable: nothing left to run
    assert capsys.readouterr().out.count("done before, skipped") == 4
    with pytest.raises(BudgetTooSmall, match="bench_toys:too_big on tiny: needs more"):  # a setup error stops it
        run_campaign(["bench_toys:too_big"], ["tiny"], [0, 1, 2], parallel, jobs=2)
    with pytest.raises(ValueError, match="toy-zero: registered in this process only"):  # refused before any run
        run_campaign([toy], ["tiny"], [5, 6], parallel, jobs=2)


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


def write_run(results, algo, task, seed, scores, commit="abc"):
    curve = [
        {"samples": n, "scores": {"mean": scores["mean"] * f}} for n, f in ((1, 0.25), (2, 0.5), (3, 0.75), (4, 1))
    ]
    atomic_write_json(
        results / "runs" / task / f"{algo}-seed{seed}.json",
        {
            "algo": algo,
            "task": task,
            "seed": seed,
            "scores": scores,
            "curve": curve,
            "train_seconds": 100.0,
            "samples_per_second": 50.0,
            "provenance": {"commit": commit, "dirty": False},
        },
    )


def test_report_writes_the_v0_leaderboard_tests_and_plots(tmp_path, monkeypatch):
    # v0 run files (runs/<task>/, no track, three spaces, one evaluation seed) are still read, as track v0
    pytest.importorskip("rliable")
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(report, "REPS", 200)  # the bootstraps' resamples: fewer, for speed
    rng = np.random.default_rng(0)
    for algo, level in (("ppo", 0.5), ("cma-es", 1.0), ("half-done", 0.0)):
        for task in ("maskgit-8", "var-4"):
            for seed in range(3):
                if algo == "half-done" and task == "var-4":
                    continue
                scores = {s: level + 0.1 * rng.standard_normal() for s in CLASSIC_SPACES}  # v0's spaces
                scores["mean"] = sum(scores.values()) / 3
                write_run(tmp_path, algo, task, seed, scores, commit="abc" if seed < 2 else "def")
    # maskgit-8's classifier denominator (0.5) is within 3 noise SDs (0.2); the other spaces' (4) are not
    hand = {"classifier_fd": 10.5, "encoder_fd": 14.0, "pixels_fd": 14.0}
    best = {"classifier_fd": 10.0, "encoder_fd": 10.0, "pixels_fd": 10.0}
    draws = [-0.2, 0.0, 0.2]  # standard deviation 0.2
    atomic_write_json(
        tmp_path / "references" / "maskgit-8.json",
        {
            "hand": {"2000": hand},
            "best_static": {"2000": best},
            "noise": {
                a: {k: [v + d for d in draws] for k, v in fd.items()}
                for a, fd in (("hand", hand), ("best_static", best))
            },
        },
    )
    cli.main(["bench", "report", "--results", str(tmp_path)])
    board = (tmp_path / "leaderboard.md").read_text()
    rows = [line for line in board.splitlines() if line.startswith("| cma-es") or line.startswith("| ppo")]
    assert rows[0].startswith("| cma-es |") and "3 x 2" in rows[0]  # sorted by IQM, best first
    assert "half-done (maskgit-8: 3 seeds, var-4: 0 seeds)" in board
    # ppo (0.5 +- 0.1) against cma-es (1.0 +- 0.1): worse beyond the bootstrap interval in every space, but
    # with 3 seeds a side the exact permutation p is 2/20 = 0.1, Holm-corrected over the 2 comparisons to 0.2
    against = board[board.index("Against cma-es at equal cost") :]
    for task in ("maskgit-8", "var-4"):
        row = next(line for line in against.splitlines() if line.startswith(f"| ppo | {task} | 3 vs 3 |"))
        assert "cma-es beats ppo in every space" in row and "| 0.100 (0.200) | no |" in row
    assert "2 comparisons" in board and "Comparisons that hold after the correction: 0 of 2." in board
    assert "| maskgit-8 | classifier | 0.500 | 0.200 | 2.5 | within 3 SDs |" in board
    assert "| maskgit-8 | encoder | 4.000 | 0.200 | 20.0 |  |" in board
    assert "| var-4 | pixels | - | - | - | no references |" in board and "maskgit-8 † |" in board
    assert "The runs come from 2 code states" in board and "abc: 10 runs; def: 5 runs" in board
    curve_row = next(line for line in board.splitlines() if line.startswith("| ppo | 0.1"))  # 25 %: 0.5 x 0.25
    assert curve_row.count("[") == 4  # the learning curve: the IQM at each quarter of the budget
    for plot in ("aggregates.png", "performance_profiles.png", "sample_efficiency.png"):
        assert (tmp_path / plot).stat().st_size > 0
    first = board
    cli.main(["bench", "report", "--results", str(tmp_path)])
    assert (tmp_path / "leaderboard.md").read_text() == first  # every bootstrap and permutation is seeded
    # each algorithm's bootstrap is its own: cma-es leaving the report moves none of ppo's intervals
    for path in (tmp_path / "runs").glob("*/cma-es-seed*.json"):
        path.unlink()
    cli.main(["bench", "report", "--results", str(tmp_path)])
    board = (tmp_path / "leaderboard.md").read_text()
    rows = [[line for line in b.splitlines() if line.startswith("| ppo |")] for b in (first, board)]
    assert "| cma-es |" not in board and len(rows[1]) == 4 and set(rows[1]) <= set(rows[0])  # aggregates, curve...


def test_the_report_shows_a_first_place_that_rests_on_one_space_or_a_flagged_cell(tmp_path, monkeypatch):
    # "lopsided" is far ahead in the classifier space only, "even" is at 0.8 everywhere: lopsided leads the
    # headline (1.0 against 0.8), but not without the classifier space or without maskgit-8's flagged classifier
    pytest.importorskip("rliable")
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(report, "REPS", 50)
    for algo, per_space in (("lopsided", {"classifier": 3.0, "encoder": 0.0, "pixels": 0.0}), ("even", None)):
        for task in ("maskgit-8", "var-4"):
            for seed in range(3):
                scores = dict(per_space or {s: 0.8 for s in CLASSIC_SPACES})
                scores["mean"] = sum(scores.values()) / 3
                write_run(tmp_path, algo, task, seed, scores)
    hand = {"classifier_fd": 10.5, "encoder_fd": 14.0, "pixels_fd": 14.0}  # the classifier: 0.5 against SD 0.2
    best = {"classifier_fd": 10.0, "encoder_fd": 10.0, "pixels_fd": 10.0}
    noise = {a: {k: [v - 0.2, v, v + 0.2] for k, v in fd.items()} for a, fd in (("hand", hand), ("best_static", best))}
    atomic_write_json(
        tmp_path / "references" / "maskgit-8.json",
        {"hand": {"2000": hand}, "best_static": {"2000": best}, "noise": noise},
    )
    cli.main(["bench", "report", "--results", str(tmp_path)])
    board = (tmp_path / "leaderboard.md").read_text()
    section = board[board.index("### Does the ranking hold?") :]
    assert "| the headline: every task and space | lopsided 1.00 | even 0.80 |" in section
    assert "| without maskgit-8 | lopsided 1.00 | even 0.80 |" in section
    assert "| without classifier | even 0.80 | lopsided 0.00 |" in section
    assert "| without encoder | lopsided 1.50 | even 0.80 |" in section
    # maskgit-8 without its classifier: lopsided 0 there and 1 on var-4, an IQM of 0.5 over the 6 runs
    assert "| without the flagged cell | even 0.80 | lopsided 0.50 |" in section
    assert (
        "The headline's first, lopsided, is first in 5 of 7 views: not where without classifier; "
        "without the flagged cell." in section
    )


# ------------------------------------------------------------------ v1: the seal, plug-ins, configurations, suites


def test_the_trial_hands_out_neither_an_uncounted_generator_nor_the_evaluation():
    scored = []
    trial = Trial(TINY, 0, lambda point, used, act, reward: scored.append(point))
    for name, why in (("process", "generate through trial.env"), ("curve", "kept from the algorithm")):
        with pytest.raises(SealedError, match=f"trial.{name} is sealed: .*{why}"):
            getattr(trial, name)
    # generating straight on the env's process, past the env's reward, is counted all the same
    process = trial.env.core.process
    sample(process, torch.arange(100) % 10, num_steps=TINY.num_steps, seed=0)
    assert trial.samples_used == 100
    env = trial.env
    env.reset(seed=0)
    for _ in range(TINY.num_steps):
        env.step(np.zeros(env.action_space.shape, np.float32))
    assert trial.samples_used == 100 + TINY.num_envs
    assert trial.checkpoint(lambda: None) is None and scored == []  # 132 samples: before the first curve point
    with pytest.raises(BudgetExceeded, match="the budget of 3072 generation steps is spent"):
        sample(process, torch.arange(1000) % 10, num_steps=TINY.num_steps, seed=0)
    assert trial.samples_used <= TINY.budget_samples


def test_a_run_that_reaches_for_uncounted_samples_or_the_evaluation_fails_clearly(
    tiny_suite, monkeypatch, tmp_path, capsys
):
    monkeypatch.setattr(algorithms, "ALGORITHMS", dict(ALGORITHMS))

    @register("peek")
    def peek(trial):
        return trial.curve  # the evaluation seed's scores, mid-run

    @register("overspend")
    def overspend(trial):  # the budget in samples straight from the generator, then more
        sample(trial.env.core.process, torch.arange(2 * trial.budget_samples) % 10, num_steps=3, seed=0)

    assert run_campaign(["peek", "overspend"], ["tiny"], [0], tmp_path) == 2
    out = capsys.readouterr().out
    assert "peek on tiny, seed 0, reward track: FAILED (SealedError('trial.curve is sealed" in out
    assert "overspend on tiny, seed 0, reward track: FAILED (BudgetExceeded('the budget of 3072 generation steps" in out
    assert not (tmp_path / "runs").exists()


PLUGIN_ERRORS = {
    "nope": "unknown algorithm 'nope'; the algorithms: ppo, .*; or module:function for one of your own",
    "my_search:": "a plug-in is module:function",
    "no_such_module_here:f": "no module 'no_such_module_here' in the current folder or on PYTHONPATH",
    "bad_plugin:missing": r"bad_plugin \(.*bad_plugin.py\) has no 'missing'",
    "bad_plugin:VALUE": "VALUE is a int, not a function of the trial",
    "bad_plugin:two": "two must take one argument, the trial",
    "broken_plugin:f": "importing broken_plugin raised ZeroDivisionError",
}


def docs_plugin() -> str:
    """The plug-in of docs/bench.md as the reader copies it: the first Python block of its section."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "bench.md").read_text()
    section = page[page.index("## Plug in your own algorithm") :]
    return section[section.index("```python\n") + len("```python\n") :].split("```", 1)[0]


@pytest.fixture
def plugin_folder(tmp_path, monkeypatch):
    """The current folder holds the docs' my_search.py and two broken plug-ins; imports are undone after."""
    (tmp_path / "my_search.py").write_text(docs_plugin())
    (tmp_path / "bad_plugin.py").write_text("VALUE = 3\n\n\ndef two(a, b):\n    pass\n")
    (tmp_path / "broken_plugin.py").write_text("1 / 0\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("my_search", "bad_plugin", "broken_plugin"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return tmp_path


@pytest.mark.parametrize("spec", list(PLUGIN_ERRORS))
def test_a_bad_plugin_is_one_line_before_any_work(tiny_suite, plugin_folder, spec):
    results = plugin_folder / "results"
    with pytest.raises(SystemExit, match=PLUGIN_ERRORS[spec]):
        cli.main(["bench", "run", "--algo", spec, "--task", "tiny", "--results", str(results)])
    assert not (results / "runs").exists() and not (results / "references").exists()


def test_the_docs_plugin_runs_as_written_and_is_in_the_report_with_its_curve(tiny_suite, plugin_folder, monkeypatch):
    pytest.importorskip("rliable")
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(report, "REPS", 200)
    results = plugin_folder / "results"
    cli.main(
        [
            "bench",
            "run",
            "--algo",
            "my_search:best_constant",
            "--task",
            "tiny",
            "--seed",
            "0",
            "--results",
            str(results),
        ]
    )
    run = json.loads((results / "runs" / "reward" / "tiny" / "my_search.best_constant-seed0.json").read_text())
    assert run["algo"] == "my_search:best_constant" and run["samples_used"] == TINY.budget_samples
    assert [p["samples"] for p in run["curve"]] == [256, 512, 768, 1024]
    cli.main(["bench", "report", "--results", str(results)])
    board = (results / "leaderboard.md").read_text()
    assert "| my_search:best_constant | 1 x 1 |" in board
    curve = board[board.index("## Sample efficiency") :]
    assert next(line for line in curve.splitlines() if line.startswith("| my_search:best_constant |")).count("[") == 4


OFF_POLICY = ["sb3-sac", "sb3-td3", "sb3-ddpg", "tqc", "crossq"]


def test_every_off_policy_algorithm_has_a_sanctioned_configuration_for_every_task():
    pytest.importorskip("sb3_contrib")
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

    off_policy = [a.name for a in SB3_ALGORITHMS.values() if issubclass(a.load_class(), OffPolicyAlgorithm)]
    assert off_policy == OFF_POLICY
    for name in off_policy:
        algorithm = SB3_ALGORITHMS[name]
        for task in tasks.TASKS.values():
            config = sanctioned_config(algorithm, task.env_id, 2)
            assert config.file == f"{algorithm.class_name.lower()}.yml"
            assert config.kwargs["gradient_steps"] == 8 and config.kwargs["learning_starts"] == 1024
            assert config.kwargs["learning_starts"] < task.budget_env_steps


@pytest.mark.parametrize("algo", OFF_POLICY)
def test_the_bench_builds_each_off_policy_model_with_its_configuration(algo):
    pytest.importorskip("sb3_contrib")
    from stable_baselines3.common.noise import NormalActionNoise, VectorizedActionNoise

    trial = Trial(TINY, 0)
    model, budget = sb3_model(SB3_ALGORITHMS[algo], trial)
    assert budget == TINY.budget_env_steps
    assert (model.gradient_steps, model.learning_starts, model.batch_size) == (8, 1024, 256)
    assert model.train_freq.frequency == 1
    noise = model.action_noise
    if algo in ("sb3-td3", "sb3-ddpg"):
        noise = noise.base_noise if isinstance(noise, VectorizedActionNoise) else noise
        assert isinstance(noise, NormalActionNoise) and np.allclose(noise._sigma, 0.1)
    else:
        assert noise is None
    assert trial.config["file"] == f"{SB3_ALGORITHMS[algo].class_name.lower()}.yml"
    assert trial.config["hyperparameters"]["gradient_steps"] == 8


ON_POLICY = [name for name, algorithm in SB3_ALGORITHMS.items() if algorithm.on_policy]


@pytest.mark.parametrize("algo", ON_POLICY)
def test_on_policy_rollouts_are_whole_episodes_and_use_most_of_every_budget(algo):
    pytest.importorskip("sb3_contrib")
    for task in tasks.TASKS.values():
        trial = Trial(task, 0)
        model, budget = sb3_model(SB3_ALGORITHMS[algo], trial)
        assert model.n_steps % task.num_steps == 0 and model.n_steps <= max(2048 // task.num_envs, task.num_steps)
        assert trial.config["hyperparameters"]["n_steps"] == model.n_steps
        assert budget % (model.n_steps * task.num_envs) == 0
        assert 0.9 * task.budget_env_steps <= budget <= task.budget_env_steps, (task.name, model.n_steps)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("n_timesteps: 1000", "n_timesteps is the bench's to set"),
        ("gradient_steps: [1, 2]", "gradient_steps is \\[1, 2\\]; the files hold plain"),
        ("warp_drive: 1", "'warp_drive' is not a hyperparameter of TD3"),
        ("noise_type: pink", "noise_type 'pink'; the bench knows normal"),
        ("noise_type: normal", "noise_std None; normal noise needs a standard deviation above 0"),
        ("policy: CnnPolicy", "policy 'CnnPolicy'; the bench trains MlpPolicy"),
    ],
)
def test_a_configuration_file_that_is_not_right_is_one_line(monkeypatch, tmp_path, entry, message):
    (tmp_path / "td3.yml").write_text(f"AdaGen/Flow-Heun-Digits-v0:\n  {entry}\n")
    monkeypatch.setattr(hyperparams, "ZOO", tmp_path)
    with pytest.raises(SetupError, match=f"td3.yml: AdaGen/Flow-Heun-Digits-v0: {message}"):
        sanctioned_config(SB3_ALGORITHMS["sb3-td3"], "AdaGen/Flow-Heun-Digits-v0", 2)
    with pytest.raises(SetupError, match="has no entry for AdaGen/VAR-Digits-v0"):
        sanctioned_config(SB3_ALGORITHMS["sb3-td3"], "AdaGen/VAR-Digits-v0", 2)


def test_two_seeds_of_td3_on_a_toy_budget_differ(tiny_suite, tmp_path, evaluator):
    toy = Task(
        "toy", TINY.env_id, num_steps=3, nfe=6, budget_samples=512, num_envs=32, eval_samples=200, curve_samples=100
    )
    outcomes = [run_one("sb3-td3", toy, seed, tmp_path, evaluator) for seed in (0, 1)]
    assert outcomes[0]["config"]["hyperparameters"]["noise_std"] == 0.1
    finals = [tuple(o["final"][f"{s}_fd"] for s in SPACES) for o in outcomes]
    assert finals[0] != finals[1]


def test_the_lite_suite_covers_every_paradigm_with_10_seeds_and_fits_the_algorithms():
    lite, full = tasks.SUITES["lite"], tasks.SUITES["full"]
    assert full.tasks == ("maskgit-8", "var-4", "diffusion-6", "flow-heun-6") and full.seeds == (0, 1, 2)
    assert len(lite.tasks) >= 4 and lite.seeds == tuple(range(10))
    chosen = [tasks.TASKS[t] for t in lite.tasks]
    assert len({t.process_name for t in chosen} - {"flow-heun-digits"}) >= 3  # MaskGIT, VAR, diffusion, flow
    for task in chosen:
        assert task.budget_samples < tasks.TASKS["maskgit-8"].budget_samples
        assert task.budget_samples % 512 == 0  # whole updates of our PPO (512 and 256 episodes)
        assert best_static_schedule(task.env_id, make_process(task.env_id), task.num_steps) is not None


def test_cli_takes_the_suite_seeds_and_device_and_refuses_bad_ones(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr("adagen_agents.bench.campaign.run_campaign", lambda *args: calls.append(args) or 0)
    monkeypatch.chdir(tmp_path)
    cli.main(["bench", "run", "--algo", "ppo-tuned", "--suite", "lite"])
    algos, chosen, seeds, results, device, track, jobs = calls[-1]
    assert (algos, chosen, seeds) == (["ppo-tuned"], list(tasks.SUITES["lite"].tasks), list(range(10)))
    assert (results, device, track, jobs) == (Path("adagen-results/bench-lite"), "cpu", "reward", 1)
    cli.main(["bench", "run", "--algo", "cma-es", "--suite", "lite", "--track", "selection", "--jobs", "2"])
    assert calls.pop()[-2:] == ("selection", 2)
    cli.main(["bench", "run", "--algo", "ppo", "--seeds", "12", "--task", "var-4"])
    assert calls[-1][1:4] == (["var-4"], list(range(12)), Path("adagen-results/bench"))
    for argv, message in (
        (["--seeds", "0"], "--seeds must be at least 1, got 0"),
        (["--jobs", "0"], "--jobs must be at least 1, got 0"),
        (["--device", "nope"], "device 'nope' is not a torch device"),
        (["--device", "cuda:7"] if torch.cuda.is_available() else ["--device", "cuda"], "cuda"),
    ):
        with pytest.raises(SystemExit, match=message):
            cli.main(["bench", "run", "--algo", "ppo", *argv])
    with pytest.raises(SystemExit):
        cli.main(["bench", "run", "--algo", "ppo", "--seed", "0", "--seeds", "3"])  # one or the other
    with pytest.raises(SystemExit):
        cli.main(["bench", "run", "--algo", "ppo", "--track", "nope"])  # reward, selection or tuned
    assert len(calls) == 2


# ------------------------------------------------------------------ v1 protocol: tracks, selection space, report


def test_the_reward_track_seals_fd_queries_and_its_searches_maximise_the_reward(tiny_suite, tmp_path, evaluator):
    trial = Trial(TINY, 0)  # the reward track, by default
    assert trial.track == "reward"
    with pytest.raises(SealedError, match="search_fd is sealed on the reward track"):
        trial.search_fd(lambda obs: torch.zeros(len(obs["label"]), 2), 64)
    assert trial.samples_used == 0  # refused before any sample
    with pytest.raises(ValueError, match="unknown track 'nope'"):
        Trial(TINY, 0, track="nope")
    data = run_one("random-search", TINY, 0, tmp_path, evaluator)  # 4 candidates of 256 samples, by reward
    assert data["track"] == "reward" and data["samples_used"] == TINY.budget_samples
    rewards = [p["reward"] for p in data["curve"]]
    assert all(isinstance(r, float) and np.isfinite(r) for r in rewards)


def test_the_selection_track_queries_fd_in_the_selection_space_against_the_budget(tiny_suite):
    from adagen_env.data.datasets import load_digits
    from adagen_env.evaluation.generators import evaluate_generator, policy_generator
    from adagen_env.evaluation.seeds import SEARCH_SEEDS
    from adagen_env.evaluation.selection import SelectionEvaluator

    trial = Trial(TINY, 3, track="selection")
    act = lambda obs: torch.full((len(obs["label"]), trial.env.core.num_parameters), 0.2)  # noqa: E731
    fd = trial.search_fd(act, 200)
    assert trial.samples_used == 200  # counted against the budget
    # the same samples (its process, its search seed) scored by the shipped selection network on the train split
    process = make_process(TINY.env_id)
    generate = policy_generator(process, act, TINY.spec)
    expected = evaluate_generator(
        generate, SelectionEvaluator(load_digits("train")), 10, 200, seed=SEARCH_SEEDS.start + 3, progress=False
    )
    assert fd == pytest.approx(expected["selection_fd"], rel=1e-6)
    classifier = evaluate_generator(
        generate,
        Evaluator(reference=load_digits("train"), spaces=("classifier",)),
        10,
        200,
        seed=SEARCH_SEEDS.start + 3,
        progress=False,
    )
    assert fd != pytest.approx(classifier["classifier_fd"], rel=1e-3)  # not the evaluation's classifier
    with pytest.raises(BudgetTooSmall, match="would exceed the budget"):
        trial.search_fd(act, TINY.budget_samples)


def test_the_report_groups_tracks_and_explains_identical_outcomes(tiny_suite, toy, tmp_path, monkeypatch):
    pytest.importorskip("rliable")
    monkeypatch.setattr(report, "REPS", 200)
    assert run_campaign([toy], ["tiny"], [0, 1], tmp_path) == 0
    assert run_campaign([toy], ["tiny"], [0], tmp_path, track="selection") == 0
    cli.main(["bench", "report", "--results", str(tmp_path)])
    board = (tmp_path / "leaderboard.md").read_text()
    reward, selection = board.index("## Reward track"), board.index("## Selection track")
    assert reward < selection < board.index("## Denominators against FD's noise")
    assert "reward (2 runs), selection (1 runs)" in board
    assert "| toy-zero | 2 x 1 |" in board[reward:selection] and "| toy-zero | 1 x 1 |" in board[selection:]
    # the two seeds of the zero policy: identical FDs, explained from the run files
    row = next(line for line in board[reward:selection].splitlines() if line.startswith("| tiny | toy-zero/s0"))
    assert "toy-zero/s0, toy-zero/s1" in row and "seeds of one algorithm" in row
    assert "the hand-designed schedule's" in row and "outputs the zero action" in row
    assert "None: every run's final FDs are its own." in board[selection:]
    assert "## Campaign times" in board and "| reward | toy-zero | 2 (0 failed) | 1 x " in board
    for track in ("reward", "selection"):
        assert (tmp_path / f"{track}-aggregates.png").stat().st_size > 0
    for space in SPACES:  # every evaluation space's denominator, and not the selection space's
        assert f"| tiny | {space} |" in board
    assert "| tiny | selection |" not in board
    assert "All runs come from commit" in board


def test_alignment_is_the_rank_correlation_of_reward_and_score_over_checkpoints():
    def run(algo, seed, pairs):
        curve = [{"samples": i, "reward": r, "scores": {"mean": s}} for i, (r, s) in enumerate(pairs)]
        return {"algo": algo, "task": "t", "seed": seed, "curve": curve}

    runs = [
        run("aligned", 0, [(0.1, 0.0), (0.2, 0.1), (0.3, 0.5), (0.4, 0.9)]),
        run("misled", 0, [(0.1, 0.9), (0.2, 0.5), (0.3, 0.1), (0.4, 0.0)]),
        run("silent", 0, [(None, 0.0)] * 4),  # recorded no reward (a selection-track search)
    ]
    rows = {r["algo"]: r for r in report.alignment(runs, ["t"], ["aligned", "misled", "silent"])}
    assert rows["aligned"]["rho"] == pytest.approx(1.0) and rows["aligned"]["n"] == 4
    assert rows["misled"]["rho"] == pytest.approx(-1.0)
    assert "silent" not in rows and rows["all"]["n"] == 8


def test_the_commits_note_says_when_runs_differ():
    runs = [{"provenance": {"commit": "a" * 40, "dirty": False}}, {"provenance": {"commit": "b" * 40, "dirty": True}}]
    assert "come from 2 code states" in report.commits(runs) and "(dirty)" in report.commits(runs)
    assert report.commits(runs[:1]) == f"All runs come from commit {'a' * 10}."


def test_identical_outcomes_of_policies_saturated_up_to_rounding_are_explained():
    """Two squashed policies at 0.9999 and 0.99999 differ in their action digests, yet both sit at the
    bounds; the run files say so, and the report explains their equal FDs by it."""
    summaries = []
    for edge in (0.9999, 0.99999):
        log = ActionLog(lambda obs, edge=edge: torch.tensor([[edge, -edge], [edge, -edge]]))
        log({"label": torch.arange(2)})
        summaries.append(log.summary())
    assert summaries[0]["digest"] != summaries[1]["digest"]
    assert all(s["saturated_share"] == 0.0 and s["near_bound_share"] == 1.0 for s in summaries)
    group = [{"algo": "td3", "actions": a} for a in summaries]
    assert "within 0.001 of the bounds +-1: saturated policies" in report.explain(group, None)
    for a in summaries:  # run files written before the near-bound share: not explained
        del a["near_bound_share"]
    assert "not explained by the run files" in report.explain(group, None)


def test_identical_outcomes_never_round_a_share_of_saturated_actions_up_to_all_of_them():
    """99.96 % of actions at the bounds reads "at least 99%", not "at least 100%": a reader takes 100% as all."""
    actions = [
        {"max_abs": 1.0, "saturated_share": share, "near_bound_share": share, "digest": digest}
        for share, digest in ((0.9996, "a"), (1.0, "b"))
    ]
    group = [{"algo": "td3", "actions": a} for a in actions]
    assert "(at least 99% at the bounds +-1 in each)" in report.explain(group, None)
    same = [{"algo": "td3", "actions": {**a, "digest": "a"}} for a in actions]
    assert "(99% of them at the bounds +-1: a saturated policy)" in report.explain(same, None)
