"""Where a result came from: the code, the packages, the machine and its load, the command.

Every results file (``adagen eval --json``, the benchmarks, AdaGen-Bench runs) carries one such
record, so that a number can be traced to the commit and the conditions that produced it.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

PACKAGES = ("adagen", "torch", "numpy", "gymnasium", "stable-baselines3", "sb3-contrib", "diffusers", "ray")
SOURCE = Path(__file__).resolve().parents[2]  # the checkout, when adagen runs from one (pip install -e .)


def git_state(folder: Path = SOURCE) -> dict[str, Any]:
    """The commit of ``folder``'s git checkout and whether it has uncommitted changes (``None``s outside one)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``packages`` (``None`` for one not installed) and Python's."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # not on every platform
        return None


def command_line() -> str | None:
    """The command as it was typed, as far as Python knows it (``python -m benchmarks.x --flag``), with the
    interpreter by its name only; the script's name for an installed command (``adagen eval ...``)."""
    argv = list(getattr(sys, "orig_argv", []) or sys.argv)
    if not argv:
        return None
    if Path(argv[0]).name.startswith("python") and len(argv) > 1 and argv[1] == "-m":
        return " ".join(["python", *argv[1:]])
    if Path(argv[0]).name.startswith("python") and len(argv) > 1:
        argv = argv[1:]
    return " ".join([Path(argv[0]).name, *argv[1:]])


@dataclass
class Provenance:
    """Started when the work starts, finished when it is written: the load on both sides and the wall time."""

    device: str = "cpu"
    started: float = field(default_factory=time.perf_counter)
    load_before: list[float] | None = field(default_factory=load_average)

    def record(self) -> dict[str, Any]:
        """The record to write beside the results."""
        return {
            **git_state(),
            "versions": versions(),
            "torch_threads": torch.get_num_threads(),
            "device": str(self.device),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_before": self.load_before,
            "load_average_after": load_average(),
            "wall_seconds": round(time.perf_counter() - self.started, 2),
            "command": command_line(),
            "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
