"""Torch threads under CPU contention: the start-up choice and the slowdown watchdog of `adagen train`."""

import subprocess
import sys
import time

import pytest
import torch

from adagen_agents.threads import SlowdownWatchdog, choose_threads, other_processes_cores


@pytest.fixture
def two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def test_an_explicit_thread_count_is_applied(two_threads):
    assert "3" in choose_threads("3") and torch.get_num_threads() == 3


@pytest.mark.slow  # starts a busy process
def test_auto_takes_one_thread_beside_a_busy_process(two_threads):
    hog = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 20\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.3)
        assert other_processes_cores() >= 0.5
        message = choose_threads("auto")
    finally:
        hog.kill()
        hog.wait()
    assert torch.get_num_threads() == 1 and "busy" in message


def test_the_watchdog_drops_to_one_thread_when_an_update_slows_down(two_threads):
    watchdog = SlowdownWatchdog(switch=True)
    for update, seconds in enumerate([1.0, 1.1, 0.9, 1.0], start=1):
        assert watchdog(update, seconds) is None
    message = watchdog(5, 12.0)
    assert "12x" in message and torch.get_num_threads() == 1
    assert watchdog(6, 30.0) is None  # one thread: nothing more to drop


def test_the_watchdog_only_warns_when_the_user_fixed_the_threads(two_threads):
    watchdog = SlowdownWatchdog(switch=False)
    for update, seconds in enumerate([1.0, 1.0, 1.0], start=1):
        watchdog(update, seconds)
    assert "competing" in watchdog(4, 10.0) and torch.get_num_threads() == 2


def test_adagen_train_takes_a_thread_count_and_refuses_a_bad_one(tmp_path, capsys):
    from adagen_agents.cli import main

    small = [
        "train",
        "--steps",
        "2",
        "--num-envs",
        "16",
        "--episodes-per-update",
        "16",
        "--updates",
        "1",
        "--eval-every",
        "0",
        "--final-samples",
        "20",
        "--out",
        str(tmp_path / "p.pt"),
        "--logdir",
        str(tmp_path / "runs"),
    ]
    main([*small, "--threads", "1"])
    assert "torch threads: 1 (--threads)" in capsys.readouterr().out
    for bad in ("0", "two", "-1"):
        with pytest.raises(SystemExit):
            main([*small, "--threads", bad])
