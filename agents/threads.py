"""Torch threads for training on a shared CPU.

Measured on a 2-core machine (``python -m benchmarks.contention``): with torch's default of one
thread per core, a PPO update ran 10 to 33 times slower while one other CPU-bound process ran,
because OpenMP threads wait for a core the other process holds; with one thread it ran 1.9 to
3.3 times slower than alone, and on an idle machine 1.5 to 1.6 times slower than two threads.
So ``auto`` keeps torch's default only while the machine is otherwise idle, and a watchdog
drops to one thread when an update suddenly takes far longer than the ones before it.
"""

from __future__ import annotations

import os
import statistics
import time

import torch

BUSY_CORES = 0.5  # other processes using this much CPU (in cores) make the machine "busy"
SLOW_FACTOR = 3.0  # an update this many times slower than the recent median trips the watchdog
HISTORY = 5  # recent updates the median is taken over


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine from /proc/stat, in clock ticks."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def other_processes_cores(seconds: float = 0.5) -> float | None:
    """How many cores other processes keep busy, sampled over ``seconds`` (while this one sleeps);
    ``None`` where /proc/stat cannot be read (not Linux)."""
    try:
        busy0, total0 = _cpu_jiffies()
        own0 = sum(os.times()[:2])
        time.sleep(seconds)
        busy1, total1 = _cpu_jiffies()
        own1 = sum(os.times()[:2])
    except (OSError, ValueError, IndexError):
        return None
    cores = os.cpu_count() or 1
    if total1 == total0:
        return 0.0
    busy = (busy1 - busy0) / (total1 - total0) * cores
    own = (own1 - own0) / seconds
    return max(busy - own, 0.0)


def choose_threads(threads: str | int) -> str:
    """Set torch's intra-op threads from ``--threads`` (``auto`` or a positive integer); returns a
    one-line description of the choice for the user."""
    if threads != "auto":
        torch.set_num_threads(int(threads))
        return f"torch threads: {int(threads)} (--threads)"
    default = torch.get_num_threads()
    if default <= 1:
        return "torch threads: 1"
    other = other_processes_cores()
    if other is not None and other >= BUSY_CORES:
        torch.set_num_threads(1)
        return (
            f"torch threads: 1 (other processes keep {other:.1f} of {os.cpu_count()} cores busy, and "
            f"{default} threads would wait on each other; --threads {default} overrides)"
        )
    return f"torch threads: {default} (the machine looks idle; training drops to 1 if it slows down)"


class SlowdownWatchdog:
    """Watches seconds per update; when one takes ``SLOW_FACTOR`` x the recent median while torch
    uses several threads, says so and (if ``switch``) drops to one thread."""

    def __init__(self, switch: bool):
        self.switch = switch
        self.seconds: list[float] = []

    def __call__(self, update: int, seconds: float) -> str | None:
        """Record one update's duration; returns a warning for the user when it trips."""
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
        self.seconds = []  # judge later updates against the new setting
        return message
