"""Throughput: samples per second of the native vector env against the plain sampler and SyncVectorEnv.

All three run the hand-designed schedule (zero actions) on the same batch in the same process,
interleaved over repeats, and the table reports ratios to the plain sampler measured alongside.
The envs score with the classifier reward (one small forward pass per finished batch); the
adversarial reward adds a discriminator update every 256 finished samples on top.

    python -m benchmarks.throughput [--batch-sizes 64 256] [--steps 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import torch

from adagen_env.envs import ScheduleEnv, ScheduleVectorEnv
from adagen_env.processes import MaskGITProcess
from adagen_env.processes.sampling import sample
from adagen_env.runtime.provenance import Provenance
from adagen_env.runtime.tables import format_table
from benchmarks.common import RESULTS, write

REWARD = "classifier"


def time_sampler(process: MaskGITProcess, batch: int, steps: int, seed: int) -> float:
    labels = torch.arange(batch) % process.num_classes
    start = time.perf_counter()
    sample(process, labels, num_steps=steps, seed=seed)
    return time.perf_counter() - start


def time_env(env: gym.vector.VectorEnv, steps: int, seed: int) -> float:
    """One full episode of every sub-env: reset plus ``steps`` zero-action steps."""
    zeros = np.zeros(env.action_space.shape, dtype=np.float32)
    start = time.perf_counter()
    env.reset(seed=seed)
    for _ in range(steps):
        env.step(zeros)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sync-repeats", type=int, default=1, help="SyncVectorEnv is slow; fewer repeats")
    args = parser.parse_args()
    provenance = Provenance()

    process = MaskGITProcess()
    rows = []
    for batch in args.batch_sizes:
        native = ScheduleVectorEnv(num_envs=batch, process=process, num_steps=args.steps, reward=REWARD)
        sync = gym.vector.SyncVectorEnv(
            [lambda: ScheduleEnv(process=process, num_steps=args.steps, reward=REWARD) for _ in range(batch)],
            autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
        )
        time_sampler(process, batch, args.steps, 0), time_env(native, args.steps, 0)  # warm-up
        sampler_s, native_s, sync_s = [], [], []
        for r in range(args.repeats):
            sampler_s.append(time_sampler(process, batch, args.steps, r))
            native_s.append(time_env(native, args.steps, r))
            if r < args.sync_repeats:
                sync_s.append(time_env(sync, args.steps, r))
        sampler_t, native_t, sync_t = (statistics.median(s) for s in (sampler_s, native_s, sync_s))
        rows.append(
            {
                "batch": batch,
                "steps": args.steps,
                "sampler_samples_per_s": batch / sampler_t,
                "native_env_samples_per_s": batch / native_t,
                "sync_env_samples_per_s": batch / sync_t,
                "native_vs_sampler": sampler_t / native_t,
                "native_vs_sync": sync_t / native_t,
            }
        )
    print(format_table(rows, tuple(rows[0])))
    repeats = f"{args.repeats} repeats ({args.sync_repeats} for sync)"
    print(f"\ntorch threads: {torch.get_num_threads()}; medians over {repeats}")
    write(
        RESULTS / "throughput.json", {"args": vars(args), "threads": torch.get_num_threads(), "rows": rows}, provenance
    )


if __name__ == "__main__":
    main()
