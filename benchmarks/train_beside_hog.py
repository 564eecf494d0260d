"""`adagen train` beside a CPU hog: does `--threads auto` avoid the contention slowdown?

Runs the real command (MaskGIT, 8 steps, 64 envs, 128 episodes per update, adversarial reward,
no evaluation while training) in a subprocess and reads the training seconds it reports
("saved ... (N updates, ..., S s of training)"). Scenarios, each with ``--threads 2`` (torch's
default here) and ``--threads auto``:

- ``idle``: nothing else running (of ours);
- ``hog``: one pure-Python busy process from the start;
- ``hog-midrun``: the busy process starts ``--hog-after`` seconds into the run, so ``auto``
  starts with 2 threads and only its watchdog can react.

    python -m benchmarks.train_beside_hog [--updates 4] [--midrun-updates 10] [--repeats 2]

Results: ``results/train_beside_hog.json``; ratios are to ``--threads 2`` idle in the same repeat.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

from adagen_env.runtime.provenance import Provenance
from benchmarks.common import RESULTS, write
from benchmarks.contention import Hog

COMMON = [
    "--steps",
    "8",
    "--num-envs",
    "64",
    "--episodes-per-update",
    "128",
    "--eval-every",
    "0",
    "--final-samples",
    "100",
    "--checkpoint-every",
    "0",
]
SAVED = re.compile(r"saved \S+ \((\d+) updates, \d+ episodes, (\d+) s of training\)")


def train(threads: str, updates: int, hog_after: float | None, hog_max_s: float) -> dict:
    """One `adagen train` run; a hog starts ``hog_after`` seconds in (0: before it; None: never)."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            "-m",
            "adagen_agents.cli",
            "train",
            "--threads",
            threads,
            "--updates",
            str(updates),
            *COMMON,
            "--out",
            f"{tmp}/p.pt",
            "--logdir",
            f"{tmp}/runs",
        ]
        hog = Hog(1 if hog_after is not None else 0, hog_max_s)
        load = os.getloadavg()[0]
        start = time.monotonic()
        timer = threading.Timer(hog_after or 0.0, hog.__enter__)
        if hog_after == 0:
            hog.__enter__()
        elif hog_after is not None:
            timer.start()
        try:
            output = subprocess.run(command, capture_output=True, text=True, timeout=900).stdout
        finally:
            timer.cancel()
            if timer.is_alive():
                timer.join()  # it fired: let the hog start, then stop it
            hog.stop()
        wall = time.monotonic() - start
    found = SAVED.search(output)
    if found is None:
        raise RuntimeError(f"adagen train printed no 'saved' line:\n{output[-2000:]}")
    notes = [line for line in output.splitlines() if line.startswith(("torch threads", "adagen train:"))]
    return {
        "threads": threads,
        "updates": int(found.group(1)),
        "train_seconds": int(found.group(2)),
        "wall_seconds": round(wall, 1),
        "load_before": load,
        "notes": notes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--updates", type=int, default=4, help="updates of the idle and hog runs (default: %(default)s)"
    )
    parser.add_argument(
        "--midrun-updates", type=int, default=10, help="updates of the hog-midrun runs (default: %(default)s)"
    )
    parser.add_argument(
        "--hog-after", type=float, default=9.0, help="seconds before the midrun hog starts (default: %(default)s)"
    )
    parser.add_argument("--repeats", type=int, default=2, help="repeats of the whole table (default: %(default)s)")
    args = parser.parse_args()
    provenance = Provenance()

    scenarios = {
        "idle": (None, args.updates),
        "hog": (0.0, args.updates),
        "hog-midrun": (args.hog_after, args.midrun_updates),
    }
    rows = []
    for repeat in range(args.repeats):
        baseline = None
        for scenario, (hog_after, updates) in scenarios.items():
            for threads in ("2", "auto"):
                row = {"repeat": repeat, "scenario": scenario, **train(threads, updates, hog_after, hog_max_s=600)}
                if scenario == "idle" and threads == "2":
                    baseline = row["train_seconds"] / row["updates"]
                row["seconds_per_update"] = row["train_seconds"] / row["updates"]
                row["vs_idle_2_threads"] = row["seconds_per_update"] / baseline
                rows.append(row)
                print(
                    f"repeat {repeat} {scenario:10s} --threads {threads:4s}: {row['train_seconds']:4d} s for "
                    f"{row['updates']} updates ({row['vs_idle_2_threads']:.1f}x idle), load {row['load_before']:.2f}; "
                    + " | ".join(row["notes"]),
                    flush=True,
                )
    write(
        RESULTS / "train_beside_hog.json", {"args": vars(args), "cpu_count": os.cpu_count(), "rows": rows}, provenance
    )


if __name__ == "__main__":
    main()
