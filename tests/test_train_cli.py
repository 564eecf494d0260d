"""`adagen train`, `adagen eval --policy` and `adagen sample --policy` as a user runs them."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from adagen_env.cli import main
from adagen_env.evaluation import policy_generator
from adagen_env.processes import make_process
from agents.loading import SHIPPED_POLICIES, load_policy

SMALL = ["--steps", "2", "--num-envs", "16", "--eval-samples", "20", "--final-samples", "20"]


def test_train_logs_checkpoints_resumes_and_evaluates(tmp_path, capsys):
    out, logdir = tmp_path / "policy.pt", tmp_path / "runs"
    main(["train", *SMALL, "--updates", "2", "--episodes-per-update", "16", "--eval-every", "1",
          "--out", str(out), "--logdir", str(logdir)])
    printed = capsys.readouterr().out
    assert "learned (ppo)" in printed and "hand-designed" in printed
    assert torch.load(out, weights_only=False)["updates"] == 2
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(logdir))

    main(["train", *SMALL, "--updates", "3", "--episodes-per-update", "16", "--resume", str(out),
          "--out", str(out), "--logdir", str(logdir)])
    assert torch.load(out, weights_only=False)["updates"] == 3

    main(["eval", "--policy", str(out), "--samples", "20"])
    assert "learned (ppo)" in capsys.readouterr().out
    main(["sample", "--policy", str(out), "--label", "4", "--n", "4", "--out", str(tmp_path / "grid.png")])
    assert (tmp_path / "grid.png").is_file()


def test_train_with_an_sb3_algorithm(tmp_path, capsys):
    out = tmp_path / "sb3"
    main(["train", *SMALL, "--algo", "sb3-ppo", "--timesteps", "64", "--episodes-per-update", "16", "--reward", "classifier",
          "--out", str(out), "--logdir", str(tmp_path / "runs")])
    assert (tmp_path / "sb3.zip").is_file() and (tmp_path / "sb3.json").is_file()
    main(["eval", "--policy", str(tmp_path / "sb3.zip"), "--samples", "20"])
    assert "learned (sb3-ppo)" in capsys.readouterr().out


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    out = tmp_path / "policy.pt"
    command = [sys.executable, "-m", "adagen_env.cli", "train", *SMALL, "--updates", "100000",
               "--episodes-per-update", "16", "--checkpoint-every", "1", "--eval-every", "0",
               "--out", str(out), "--logdir", str(tmp_path / "runs")]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not out.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert out.exists(), "no checkpoint appeared"
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output
    assert "interrupted" in output
    assert torch.load(out, weights_only=False)["updates"] >= 1


def test_resume_from_a_missing_checkpoint_says_so(tmp_path):
    try:
        main(["train", *SMALL, "--resume", str(tmp_path / "nope.pt")])
    except SystemExit as e:
        assert "nope.pt" in str(e.code)
    else:
        raise AssertionError("expected SystemExit")


@pytest.mark.parametrize(
    "env_id,steps",
    [("AdaGen/Diffusion-Digits-v0", "3"), ("AdaGen/Flow-Digits-v0", "3"), ("AdaGen/Flow-Heun-Digits-v0", "2"),
     ("AdaGen/VAR-Digits-v0", "4")],
)
def test_every_paradigm_trains_through_the_same_command(env_id, steps, tmp_path, capsys):
    out = tmp_path / "policy.pt"
    small = ["--steps", steps, "--num-envs", "16", "--eval-samples", "20", "--final-samples", "20"]
    main(["train", "--env", env_id, *small, "--updates", "2", "--episodes-per-update", "16", "--out", str(out),
          "--logdir", str(tmp_path / "runs")])
    assert "learned (ppo)" in capsys.readouterr().out
    assert torch.load(out, weights_only=False)["metadata"]["env"] == env_id
    main(["eval", "--env", env_id, "--policy", str(out), "--samples", "20"])
    assert "hand-designed" in capsys.readouterr().out
    main(["sample", "--env", env_id, "--policy", str(out), "--label", "2", "--n", "4", "--out", str(tmp_path / "g.png")])
    assert (tmp_path / "g.png").is_file()
    # a policy evaluated on another paradigm's env is refused with a message, not a shape error
    with pytest.raises(SystemExit, match="trained on"):
        main(["eval", "--policy", str(out), "--samples", "20"])


@pytest.mark.parametrize("process_name", sorted(SHIPPED_POLICIES))
def test_every_shipped_policy_loads_and_generates(process_name):
    process = make_process(process_name)
    act, metadata = load_policy("shipped", process, process_name)
    assert metadata["process"] == process_name and metadata["reward"] == "adversarial"
    images = policy_generator(process, metadata["num_steps"], act)(torch.arange(10), 0)
    assert images.shape == (10, 1, 8, 8) and torch.isfinite(images).all()
