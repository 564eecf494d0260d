"""Torch threads for training on a shared CPU.

Measured on a 2-core machine (``python -m benchmarks.contention``): with torch's default of one
thread per core, a PPO update ran 10 to 33 times slower while one other CPU-bound process ran,
because OpenMP threads wait for a core the other process holds; with one thread it ran 1.9 to
3.3 times slower than alone, and on an idle machine 1.5 to 1.6 times slower than two threads.
So ``auto`` keeps torch's default only while the machine is otherwise idle: it measures the
other processes' load at start, again at most every ``RECHECK_SECONDS`` while PPO trains (and
switches between torch's default and one thread as that load comes and goes), and a watchdog
drops to one thread when an update suddenly takes far longer than the ones before it.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import NamedTuple

import torch

BUSY_CORES = 0.5  # other processes using this much CPU (in cores) make the machine "busy"
SLOW_FACTOR = 3.0  # an update this many times slower than the recent median trips the watchdog
HISTORY = 5  # recent updates the median is taken over
RECHECK_SECONDS = 10.0  # auto measures the other processes' load again at most this often while training


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine from /proc/stat, in clock ticks."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def _own_cpu_seconds() -> float:
    """CPU time of this process (all its threads, user plus system), in seconds."""
    times = os.times()
    return times.user + times.system


class CpuReading(NamedTuple):
    """One reading of the machine's CPU time (/proc/stat jiffies), this process's and the clock."""

    busy: int
    total: int
    own: float
    wall: float


def read_cpu(
    read_jiffies: Callable[[], tuple[int, int]] = _cpu_jiffies,
    own_seconds: Callable[[], float] = _own_cpu_seconds,
    clock: Callable[[], float] = time.monotonic,
) -> CpuReading | None:
    """A ``CpuReading`` now; ``None`` where /proc/stat cannot be read (not Linux)."""
    try:
        busy, total = read_jiffies()
        return CpuReading(busy, total, own_seconds(), clock())
    except (OSError, ValueError, IndexError):
        return None


def other_cores_between(before: CpuReading, after: CpuReading) -> float:
    """How many cores other processes kept busy between two readings: the machine's busy share
    times its cores, less this process's CPU seconds per wall second."""
    seconds = after.wall - before.wall
    if after.total <= before.total or seconds <= 0:
        return 0.0
    busy = (after.busy - before.busy) / (after.total - before.total) * (os.cpu_count() or 1)
    return max(busy - (after.own - before.own) / seconds, 0.0)


def other_processes_cores(seconds: float = 0.5) -> float | None:
    """How many cores other processes keep busy, sampled over ``seconds`` (while this one sleeps);
    ``None`` where /proc/stat cannot be read (not Linux)."""
    before = read_cpu()
    if before is None:
        return None
    time.sleep(seconds)
    after = read_cpu()
    return None if after is None else other_cores_between(before, after)


def choose_threads(threads: str | int, watched: bool = True) -> str:
    """Set torch's intra-op threads from ``--threads`` (``auto`` or a positive integer); returns a
    one-line description of the choice for the user. ``watched``: a :class:`ThreadWatchdog` keeps
    switching while PPO trains; otherwise (``adagen generator``, ``adagen features``) the choice stands."""
    if threads != "auto":
        torch.set_num_threads(int(threads))
        return f"torch threads: {int(threads)} (--threads)"
    default = torch.get_num_threads()
    if default <= 1:
        return "torch threads: 1"
    other = other_processes_cores()
    if other is not None and other >= BUSY_CORES:
        torch.set_num_threads(1)
        back = f"PPO goes back to {default} once they stop, " if watched else ""
        return (
            f"torch threads: 1 (other processes keep {other:.1f} of {os.cpu_count()} cores busy, and "
            f"{default} threads would wait on each other; {back}--threads {default} fixes it)"
        )
    later = (
        "PPO drops to 1 while other processes keep it busy or an update slows down"
        if watched
        else "checked at start only, --threads 1 fixes it"
    )
    return f"torch threads: {default} (the machine looks idle; {later})"


class ThreadWatchdog:
    """Torch threads while PPO trains; called after each update with its seconds, it returns a
    one-line message for the user when it changes the thread count (or warns).

    With ``switch`` (``--threads auto``), at most every ``every`` seconds of wall time it measures
    the cores other processes used since its previous measurement, without sleeping (readings of
    /proc/stat and of this process's CPU time at both ends), and sets ``default`` threads (torch's
    own count, read before ``choose_threads`` changed it) while they used under ``BUSY_CORES``, else
    1. Where /proc/stat cannot be read, the count stays as ``choose_threads`` set it.

    Between measurements, an update that takes ``SLOW_FACTOR`` x the recent median while torch uses
    several threads trips it: it says so and (with ``switch``) drops to one thread, and the next
    measurement starts then. Without ``switch`` (``--threads N``) it only warns and never switches.
    The readers and the clock are arguments for the tests."""

    def __init__(
        self,
        switch: bool,
        default: int | None = None,
        *,
        every: float = RECHECK_SECONDS,
        read_jiffies: Callable[[], tuple[int, int]] = _cpu_jiffies,
        own_seconds: Callable[[], float] = _own_cpu_seconds,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.switch, self.every, self.clock = switch, every, clock
        self.default = torch.get_num_threads() if default is None else default
        self.read = lambda: read_cpu(read_jiffies, own_seconds, clock)
        self.seconds: list[float] = []
        self.last = self.read() if switch and self.default > 1 else None  # None: never re-measure

    def __call__(self, update: int, seconds: float) -> str | None:
        """Record one update's duration; returns a message for the user when it switches or warns."""
        return self._slowdown(update, seconds) or self._recheck()

    def _slowdown(self, update: int, seconds: float) -> str | None:
        recent = self.seconds[-HISTORY:]
        self.seconds.append(seconds)
        if len(recent) < 2 or torch.get_num_threads() <= 1:
            return None
        usual = statistics.median(recent)
        if seconds <= SLOW_FACTOR * usual:
            return None
        message = (
            f"update {update} took {seconds:.1f} s, {seconds / usual:.0f}x the usual {usual:.1f} s: "
            "another process is competing for the CPU"
        )
        if self.switch:
            torch.set_num_threads(1)
            message += "; dropping to 1 torch thread (--threads N to fix the count)"
            if self.last is not None:
                self.last = self.read()  # judge the load from now on, at one thread
        self.seconds = []  # judge later updates against the new setting
        return message

    def _recheck(self) -> str | None:
        if self.last is None or self.clock() - self.last.wall < self.every:
            return None
        now = self.read()
        if now is None:
            self.last = None
            return None
        other, seconds = other_cores_between(self.last, now), now.wall - self.last.wall
        self.last = now
        threads = 1 if other >= BUSY_CORES else self.default
        if threads == torch.get_num_threads():
            return None
        torch.set_num_threads(threads)
        self.seconds = []
        load = f"other processes used {other:.1f} of {os.cpu_count()} cores over the last {seconds:.0f} s"
        if threads == 1:
            return f"{load}: dropping to 1 torch thread (--threads N to fix the count)"
        return f"{load}: back to {threads} torch threads"
