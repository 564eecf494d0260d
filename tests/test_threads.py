"""Torch threads under CPU contention: the start-up choice of `adagen train`, and its watchdog that
re-measures the load while PPO trains and reacts to updates that suddenly slow down."""

import os
import subprocess
import sys
import time

import pytest
import torch

from adagen_agents import threads
from adagen_agents.threads import RECHECK_SECONDS, ThreadWatchdog, choose_threads, other_processes_cores


@pytest.fixture
def two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


class FakeMachine:
    """/proc/stat's (busy, total) jiffies, this process's CPU seconds and a clock, advanced by hand."""

    HZ = 100

    def __init__(self):
        self.cores = os.cpu_count() or 1
        self.busy = self.total = 0
        self.own = self.wall = 0.0
        self.reads = 0

    def run(self, seconds: float, others: float, own: float = 1.0) -> None:
        """``seconds`` of wall time with other processes on ``others`` cores and this one on ``own``."""
        self.wall += seconds
        self.own += own * seconds
        self.total += round(seconds * self.HZ * self.cores)
        self.busy += round(seconds * self.HZ * (others + own))

    def jiffies(self) -> tuple[int, int]:
        self.reads += 1
        return self.busy, self.total

    def watchdog(self, switch: bool, default: int = 2) -> ThreadWatchdog:
        return ThreadWatchdog(
            switch, default, read_jiffies=self.jiffies, own_seconds=lambda: self.own, clock=lambda: self.wall
        )


def test_an_explicit_thread_count_is_applied(two_threads):
    assert "3" in choose_threads("3") and torch.get_num_threads() == 3


@pytest.mark.parametrize("others", [0.0, 1.0])
def test_auto_promises_no_switching_where_no_watchdog_runs(two_threads, monkeypatch, others):
    monkeypatch.setattr(threads, "other_processes_cores", lambda: others)
    message = choose_threads("auto", watched=False)  # adagen generator and adagen features
    assert "PPO" not in message and torch.get_num_threads() == (1 if others else 2)
    assert ("--threads 2 fixes it" if others else "checked at start only") in message


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
    watchdog = FakeMachine().watchdog(switch=True)  # the clock stands still: no load measurement
    for update, seconds in enumerate([1.0, 1.1, 0.9, 1.0], start=1):
        assert watchdog(update, seconds) is None
    message = watchdog(5, 12.0)
    assert "12x" in message and torch.get_num_threads() == 1
    assert watchdog(6, 30.0) is None  # one thread: nothing more to drop


def test_the_watchdog_only_warns_when_the_user_fixed_the_threads(two_threads):
    watchdog = FakeMachine().watchdog(switch=False)
    for update, seconds in enumerate([1.0, 1.0, 1.0], start=1):
        watchdog(update, seconds)
    assert "competing" in watchdog(4, 10.0) and torch.get_num_threads() == 2


def test_auto_goes_back_to_the_default_when_a_busy_start_is_over(two_threads, monkeypatch):
    monkeypatch.setattr(threads, "other_processes_cores", lambda: 1.0)  # a short load at start
    assert "busy" in choose_threads("auto") and torch.get_num_threads() == 1
    machine = FakeMachine()
    watchdog = machine.watchdog(switch=True, default=2)
    machine.run(RECHECK_SECONDS + 2, others=0.1)
    message = watchdog(1, 1.0)
    assert "0.1 of" in message and "back to 2 torch threads" in message and torch.get_num_threads() == 2
    machine.run(RECHECK_SECONDS, others=0.0, own=2.0)
    assert watchdog(2, 0.6) is None and torch.get_num_threads() == 2  # still idle: no message


def test_auto_drops_to_one_thread_when_the_machine_becomes_busy(two_threads, monkeypatch):
    monkeypatch.setattr(threads, "other_processes_cores", lambda: 0.0)
    assert "looks idle" in choose_threads("auto") and torch.get_num_threads() == 2
    machine = FakeMachine()
    watchdog = machine.watchdog(switch=True, default=2)
    machine.run(RECHECK_SECONDS, others=0.0, own=2.0)
    assert watchdog(1, 1.0) is None and torch.get_num_threads() == 2
    machine.run(RECHECK_SECONDS, others=threads.BUSY_CORES, own=1.0)  # updates no slower, but a busy neighbour
    message = watchdog(2, 1.0)
    assert "dropping to 1 torch thread" in message and torch.get_num_threads() == 1
    machine.run(RECHECK_SECONDS, others=1.0)
    assert watchdog(3, 1.5) is None and torch.get_num_threads() == 1


def test_a_fixed_thread_count_never_switches(two_threads):
    assert "(--threads)" in choose_threads("2")
    machine = FakeMachine()
    watchdog = machine.watchdog(switch=False, default=torch.get_num_threads())
    for update, others in enumerate([1.0, 0.0, 1.0, 0.0], start=1):
        machine.run(RECHECK_SECONDS * 2, others=others)
        assert watchdog(update, 1.0) is None and torch.get_num_threads() == 2
    assert machine.reads == 0  # --threads N never measures the load


def test_auto_measures_the_load_at_most_every_ten_seconds(two_threads):
    machine = FakeMachine()
    watchdog = machine.watchdog(switch=True, default=2)
    reads = machine.reads  # the reading the first interval starts from
    for update in range(1, 9):  # 8 updates of 1.25 s beside a busy process, the last at 9.75 s: no measurement
        machine.run(1.25 if update < 8 else 1.0, others=1.0)
        assert watchdog(update, 1.25) is None and torch.get_num_threads() == 2
    assert machine.wall == 9.75 and machine.reads == reads
    machine.run(0.25, others=1.0)
    assert "over the last 10 s" in watchdog(9, 1.25) and torch.get_num_threads() == 1
    assert machine.reads == reads + 1


def test_after_a_slowdown_the_load_is_judged_from_the_drop_on(two_threads):
    machine = FakeMachine()
    watchdog = machine.watchdog(switch=True, default=2)
    for update in range(1, 10):  # 9 s idle, then a neighbour starts and the 10th update takes 4 s
        machine.run(1.0, others=0.0, own=2.0)
        assert watchdog(update, 1.0) is None
    machine.run(4.0, others=1.0)
    assert "competing" in watchdog(10, 4.0) and torch.get_num_threads() == 1
    machine.run(1.5, others=1.0)  # since the start the neighbour averaged 0.38 cores: not judged on that
    assert watchdog(11, 1.5) is None and torch.get_num_threads() == 1
    reads = machine.reads
    machine.run(RECHECK_SECONDS - 1.5, others=1.0)  # 10 s since the drop, all of them busy
    assert watchdog(12, 1.5) is None and torch.get_num_threads() == 1 and machine.reads == reads + 1


def test_auto_keeps_the_start_choice_without_proc_stat(two_threads):
    def unreadable():
        raise OSError("no /proc/stat")

    watchdog = ThreadWatchdog(True, 2, read_jiffies=unreadable, own_seconds=lambda: 0.0, clock=lambda: 100.0)
    torch.set_num_threads(1)
    assert watchdog(1, 1.0) is None and torch.get_num_threads() == 1


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
