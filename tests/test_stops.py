"""Stops from outside: SIGTERM saves as Ctrl-C does, and a save killed at any point (or cut short by a
file-size limit) leaves the old file or the new one, never a mix. These start processes: slow."""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow  # every test here starts processes

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def start(args: list[str], **kwargs) -> subprocess.Popen:
    # a shell's background jobs start with SIGINT ignored: give the child the default dispositions
    return subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **kwargs,
    )


def wait_for(path, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while not path.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert path.exists(), "nothing was written"


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_adagen_train_after_a_checkpoint_with_its_status(signum, status, tmp_path):
    out = tmp_path / "policy.pt"
    proc = start(
        [
            "-m",
            "adagen_agents.cli",
            "train",
            "--steps",
            "2",
            "--num-envs",
            "16",
            "--episodes-per-update",
            "16",
            "--reward",
            "classifier",
            "--epochs",
            "1",
            "--minibatches",
            "2",
            "--updates",
            "100000",
            "--checkpoint-every",
            "1",
            "--eval-every",
            "0",
            "--out",
            str(out),
            "--logdir",
            str(tmp_path / "r"),
        ]
    )
    wait_for(out, proc)
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == status, output
    assert "interrupted after" in output and "stopped by" not in output.split("interrupted")[0]
    assert "Traceback" not in output and torch.load(out, weights_only=True)["updates"] >= 1


def test_sigterm_stops_adagen_generator_with_a_file_that_resumes(tmp_path):
    data = tmp_path / "x.npz"
    np.savez(data, images=np.random.default_rng(0).integers(0, 17, (40, 8, 8)), labels=np.arange(40) % 2)
    out = tmp_path / "g.pt"
    proc = start(
        [
            "-m",
            "adagen_agents.cli",
            "generator",
            "--paradigm",
            "flow",
            "--data",
            str(data),
            "--train-steps",
            "400",
            "--checkpoint-every",
            "5",
            "--out",
            str(out),
        ]
    )
    wait_for(out, proc)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, output
    assert f"continue with --resume {out}" in output
    from adagen_env.data.user_data import read_generator

    stopped = read_generator(out)
    assert stopped.training is not None and stopped.training["fit"]["step"] == stopped.steps >= 5
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "adagen_agents.cli",
            "generator",
            "--resume",
            str(out),
            "--train-steps",
            "9",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert done.returncode == 0, done.stderr[-2000:]  # the run's own 400 steps win over --train-steps 9
    assert "ignoring --train-steps 9 (checkpoint: 400)" in done.stderr
    assert read_generator(out).steps == 400 and read_generator(out).training is None


WRITER = """
import sys, torch
from adagen_env.runtime.files import atomic_save
path, i = sys.argv[1], int(sys.argv[2])
while True:
    i += 1
    atomic_save({"version": i, "payload": torch.full((200_000,), float(i))}, path)
"""


def test_a_save_killed_at_any_point_leaves_a_whole_file(tmp_path):
    path = tmp_path / "state.pt"
    rng = random.Random(0)
    seen = set()
    for run in range(8):
        first = 1000 * (run + 1)
        proc = start(["-c", WRITER, str(path), str(first)])
        while not path.exists() or torch.load(path, weights_only=True)["version"] < first:  # this writer has begun
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.05))  # somewhere inside some save
        proc.kill()
        proc.wait()
        state = torch.load(path, weights_only=True)  # never partial: this always loads ...
        assert torch.equal(state["payload"], torch.full((200_000,), float(state["version"])))  # ... and is whole
        seen.add(state["version"])
    assert len(seen) > 1  # the kills landed at different points


LIMITED = """
import resource, signal, sys, torch
from adagen_env.runtime.files import atomic_save
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
try:
    atomic_save({"payload": torch.ones(1_000_000)}, sys.argv[1])
except ValueError as error:
    print(error)
"""


def test_a_save_past_a_file_size_limit_keeps_the_old_file(tmp_path):
    path = tmp_path / "state.pt"
    torch.save({"payload": torch.zeros(10)}, path)
    done = subprocess.run([sys.executable, "-c", LIMITED, str(path)], capture_output=True, text=True, env=ENV)
    assert "cannot write" in done.stdout and "File too large" in done.stdout, done.stdout + done.stderr
    assert torch.equal(torch.load(path, weights_only=True)["payload"], torch.zeros(10))
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]  # the partial temporary file is gone
