"""`adagen train`, `adagen eval --policy` and `adagen sample --policy` as a user runs them."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

import adagen_agents.train
from adagen_agents.cli import build_parser, main
from adagen_agents.loading import load_policy
from adagen_agents.ppo import PPO, PPOConfig
from adagen_env import EpisodeSpec, policy_generator, save_grid
from adagen_env.paradigms import PARADIGMS, make_process

SMALL = [
    "--steps",
    "2",
    "--num-envs",
    "16",
    "--episodes-per-update",
    "16",
    "--eval-samples",
    "20",
    "--final-samples",
    "20",
]


def checkpoint(path) -> dict:
    return torch.load(path, weights_only=True)


def run(argv: list[str]) -> int | str | None:
    """``main(argv)``'s exit code (None: it returned)."""
    try:
        main(argv)
    except SystemExit as e:
        return e.code
    return None


def test_train_logs_checkpoints_resumes_and_evaluates(tmp_path, capsys):
    out, logdir = tmp_path / "policy.pt", tmp_path / "runs"
    main(
        [
            "train",
            *SMALL,
            "--updates",
            "3",
            "--eval-every",
            "1",
            "--lr",
            "1e-3",
            "--out",
            str(out),
            "--logdir",
            str(logdir),
        ]
    )
    captured = capsys.readouterr()
    printed = captured.out
    assert "learned (ppo)" in printed and "hand-designed" in printed and "time cap" not in printed
    # from the third eval on, the reward's rank agreement with each space's FD is in the log
    assert "update 3: reward vs -FD rank correlation over 3 evals: classifier " in captured.out
    state = checkpoint(out)
    assert state["updates"] == 3 and state["config"]["learning_rate"] == 1e-3  # --lr: alias of --learning-rate
    assert state["card"]["num_envs"] == 16
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(logdir))

    # the checkpoint's settings win; the flags that differ are listed, in one line, before training
    main(
        [
            "train",
            *SMALL,
            "--updates",
            "4",
            "--resume",
            str(out),
            "--out",
            str(out),
            "--logdir",
            str(logdir),
            "--lr",
            "0.5",
            "--reward",
            "classifier",
            "--eval-every",
            "0",
        ]
    )
    err = capsys.readouterr().err
    ignored = next(line for line in err.splitlines() if "ignoring" in line)
    assert (
        "--learning-rate 0.5 (checkpoint: 0.001)" in ignored
        and "--reward classifier (checkpoint: adversarial)" in ignored
    )
    state = checkpoint(out)
    assert state["updates"] == 4 and state["config"]["learning_rate"] == 1e-3
    assert state["card"]["spec"]["reward"] == "adversarial"

    main(["eval", "--policy", str(out), "--samples", "20"])
    assert "learned (ppo)" in capsys.readouterr().out
    main(["sample", "--policy", str(out), "--label", "4", "--n", "4", "--out", str(tmp_path / "grid.png")])
    assert (tmp_path / "grid.png").is_file()


def test_train_with_an_sb3_algorithm(tmp_path, capsys):
    out = tmp_path / "sb3"
    main(
        [
            "train",
            *SMALL,
            "--algo",
            "sb3-ppo",
            "--timesteps",
            "64",
            "--episodes-per-update",
            "32",
            "--reward",
            "classifier",
            "--out",
            str(out),
            "--logdir",
            str(tmp_path / "runs"),
        ]
    )
    assert (tmp_path / "sb3.zip").is_file() and (tmp_path / "sb3.json").is_file()
    main(["eval", "--policy", str(tmp_path / "sb3.zip"), "--samples", "20", "--trust-pickle"])
    assert "learned (sb3-ppo)" in capsys.readouterr().out


def test_ctrl_c_in_an_sb3_run_saves_the_model_and_exits_130(tmp_path, monkeypatch, capsys):
    from adagen_agents.sb3_vec_env import SB3VecEnv

    step_wait, calls = SB3VecEnv.step_wait, []

    def interrupted_step_wait(self):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return step_wait(self)

    monkeypatch.setattr(SB3VecEnv, "step_wait", interrupted_step_wait)
    out = tmp_path / "sb3.zip"
    code = run(
        [
            "train",
            *SMALL,
            "--algo",
            "sb3-a2c",
            "--timesteps",
            "100000",
            "--reward",
            "classifier",
            "--out",
            str(out),
            "--logdir",
            str(tmp_path / "runs"),
        ]
    )
    assert code == 130
    assert out.is_file() and "interrupted after" in capsys.readouterr().err


def test_an_unwritable_out_or_logdir_is_found_before_training(tmp_path, monkeypatch):
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(PPO, "learn", no_training)
    for flags in (["--out", str(a_file / "policy.pt")], ["--logdir", str(a_file / "runs")], ["--out", str(tmp_path)]):
        code = run(["train", *SMALL, "--out", str(tmp_path / "p.pt"), "--logdir", str(tmp_path / "runs"), *flags])
        assert isinstance(code, str) and "\n" not in code and ("file.txt" in code or "directory" in code), code


@pytest.mark.parametrize("minutes", ["0", "-1"])
def test_minutes_must_be_positive(minutes):
    code = run(["train", *SMALL, "--minutes", minutes])
    assert isinstance(code, str) and "--minutes must be positive" in code


def test_the_time_cap_says_so_and_still_compares(tmp_path, capsys):
    code = run(
        [
            "train",
            *SMALL,
            "--updates",
            "50",
            "--minutes",
            "0.0001",
            "--eval-every",
            "0",
            "--out",
            str(tmp_path / "p.pt"),
            "--logdir",
            str(tmp_path / "runs"),
        ]
    )
    printed = capsys.readouterr().out
    assert code is None
    assert "stopped by the time cap after 0 of 50 updates" in printed
    assert "learned (ppo)" in printed and "hand-designed" in printed  # the comparison still ran
    assert checkpoint(tmp_path / "p.pt")["updates"] == 0


def test_fewer_updates_than_planned_without_a_cap_is_an_error(tmp_path, monkeypatch, capsys):
    learn = PPO.learn
    monkeypatch.setattr(
        PPO, "learn", lambda self, n, callback=None, max_seconds=None: learn(self, 1, callback, max_seconds)
    )
    code = run(
        [
            "train",
            *SMALL,
            "--updates",
            "3",
            "--eval-every",
            "0",
            "--out",
            str(tmp_path / "p.pt"),
            "--logdir",
            str(tmp_path / "runs"),
        ]
    )
    assert isinstance(code, str) and "only 1 of 3 updates ran" in code
    assert "learned (ppo)" not in capsys.readouterr().out  # no comparison of an unfinished policy


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--resume", "nope.pt"], "nope.pt"),
        (["--device", "cuda:99"], "cuda:99"),
        (["--device", "not-a-device"], "not-a-device"),
        (["--algo", "sb3-ppo", "--lr", "0.1"], "--learning-rate"),
        (["--timesteps", "10"], "--timesteps"),
        (["--num-envs", "0"], "--num-envs"),
        (["--epochs", "0"], "--epochs must be positive"),
    ],
)
def test_bad_train_flags_exit_with_one_line(argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = run(["train", *SMALL, *argv])
    assert isinstance(code, str) and message in code and "\n" not in code


def test_every_ppo_config_field_is_a_train_flag():
    train = next(a for a in build_parser()._actions if a.dest == "command").choices["train"]
    actions = {a.dest: a for a in train._actions}
    for name, default in vars(PPOConfig()).items():
        action = actions[name]
        assert action.default is None  # so that explicitly given flags are known
        assert f"(default: {default})" in action.help


@pytest.mark.parametrize(
    "env_id,steps",
    [("AdaGen/Diffusion-Digits-v0", "3"), ("AdaGen/Flow-Heun-Digits-v0", "2"), ("AdaGen/VAR-Digits-v0", "4")],
)
def test_other_paradigms_train_through_the_same_command(env_id, steps, tmp_path, capsys):
    out = tmp_path / "policy.pt"
    small = [
        "--steps",
        steps,
        "--num-envs",
        "16",
        "--episodes-per-update",
        "16",
        "--eval-samples",
        "20",
        "--final-samples",
        "20",
    ]
    main(
        [
            "train",
            "--env",
            env_id,
            *small,
            "--updates",
            "1",
            "--eval-every",
            "0",
            "--out",
            str(out),
            "--logdir",
            str(tmp_path / "runs"),
        ]
    )
    assert "learned (ppo)" in capsys.readouterr().out
    assert checkpoint(out)["card"]["env"] == env_id
    main(
        ["sample", "--env", env_id, "--policy", str(out), "--label", "2", "--n", "4", "--out", str(tmp_path / "g.png")]
    )
    assert (tmp_path / "g.png").is_file()
    # a policy evaluated on another paradigm's env is refused with a message, not a shape error
    with pytest.raises(SystemExit, match="trained on"):
        main(["eval", "--policy", str(out), "--samples", "20"])


@pytest.mark.parametrize(
    "name, steps", [(name, steps) for name, p in PARADIGMS.items() for steps in p.shipped_policies]
)
def test_every_shipped_policy_loads_and_generates(name, steps):
    process = make_process(name)
    act, card = load_policy("shipped", process, name, steps)
    assert card.process_name == name and card.spec.reward == "adversarial" and card.num_steps == steps
    images = policy_generator(process, act, card.sampling_spec())(torch.arange(10), 0)
    assert images.shape == (10, 1, 8, 8) and torch.isfinite(images).all()


def test_shipped_picks_the_policy_of_the_step_count_else_the_default():
    for p in PARADIGMS.values():
        default = next(iter(p.shipped_policies.values()), None)
        assert p.shipped_policy_path(None) == (
            None if default is None else p.shipped_policy_path(next(iter(p.shipped_policies)))
        )
        assert p.shipped_policy_path(99) == p.shipped_policy_path(None)
        for steps, file in p.shipped_policies.items():
            assert p.shipped_policy_path(steps).name == file


def test_no_policy_ships_for_flow_heun():
    code = run(["eval", "--env", "AdaGen/Flow-Heun-Digits-v0", "--policy", "shipped", "--samples", "20"])
    assert isinstance(code, str) and "no policy ships for flow-heun-digits" in code


def test_train_ppo_is_the_library_loop(tmp_path, process):
    """What the CLI and benchmarks.learned_schedules share: checkpoints, the cap, on_update's stop."""
    from adagen_env.envs import ScheduleVectorEnv

    env = ScheduleVectorEnv(num_envs=16, process=process, num_steps=2, reward="classifier")
    seen = []
    result = adagen_agents.train.train_ppo(
        env,
        PPOConfig(episodes_per_update=16, epochs=1, minibatches=2),
        out=tmp_path / "p.pt",
        updates=5,
        checkpoint_every=1,
        on_update=lambda agent, stats: seen.append(agent.updates) or agent.updates < 2,
    )
    assert seen == [1, 2] and not result.finished and not result.stopped_by_time
    assert checkpoint(tmp_path / "p.pt")["updates"] == 2


def test_a_policy_trained_with_smoothing_samples_with_it(tmp_path):
    out = tmp_path / "smooth.pt"
    main(
        [
            "train",
            *SMALL,
            "--steps",
            "4",
            "--updates",
            "1",
            "--eval-every",
            "0",
            "--smoothing",
            "0.5",
            "--lr",
            "1e-2",
            "--out",
            str(out),
            "--logdir",
            str(tmp_path / "logs"),
            "--final-samples",
            "20",
        ]
    )
    process = make_process("maskgit-digits")
    act, card = load_policy(out, process, "maskgit-digits")
    assert card.spec.smoothing == 0.5
    grid = tmp_path / "grid.png"
    main(["sample", "--policy", str(out), "--label", "4", "--n", "4", "--seed", "3", "--out", str(grid)])
    labels = torch.full((4,), 4)
    smoothed = policy_generator(process, act, EpisodeSpec(num_steps=4, smoothing=0.5))(labels, 3)
    assert not torch.equal(smoothed, policy_generator(process, act, EpisodeSpec(num_steps=4))(labels, 3))  # can fail
    expected = np.asarray(Image.open(save_grid(smoothed, tmp_path / "expected.png")))
    assert np.array_equal(np.asarray(Image.open(grid)), expected)


def test_smoothing_flag_is_checked_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(
            [
                "train",
                *SMALL,
                "--updates",
                "1",
                "--smoothing",
                "1",
                "--out",
                str(tmp_path / "x.pt"),
                "--logdir",
                str(tmp_path / "logs"),
            ]
        )
    assert "smoothing must be a number in [0, 1) or 'method', got 1.0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--smoothing", "lots"])
    assert "expected a number or method, got 'lots'" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
