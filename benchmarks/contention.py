"""CPU contention: PPO update time with and without a CPU hog, for three torch thread settings.

A hog of K pure-Python busy-loop processes (K = 0, 1, 2) runs beside a fixed short PPO workload
(MaskGIT vector env, 64 envs, 8 steps, adversarial reward; 128 episodes, 16 minibatches, 4 epochs
per update). Each configuration runs in a fresh subprocess (OMP_WAIT_POLICY only takes effect if
it is set before torch is imported), which times one warm-up update and then up to ``--updates``
timed ones (fewer if ``--budget-s`` runs out; each row says how many). Thread settings:

- ``default``: torch's own choice (``torch.get_num_threads()``, one per core),
- ``1-thread``: ``torch.set_num_threads(1)``,
- ``passive``: default threads with ``OMP_WAIT_POLICY=PASSIVE`` (idle OpenMP threads sleep
  instead of spin-waiting).

Ratios are to ``default`` without a hog, measured in the same run (first and, as a drift check,
again last). ``load_before`` is ``os.getloadavg()`` just before the configuration starts (before
its hog), ``load_at_start`` just before the workload starts (hog already running; the 1-minute
average lags, so it mostly still shows the machine before the hog, and it still counts the
previous configuration's own hog and threads). ``other_cores`` is the CPU time of processes
outside this benchmark (machine-wide busy time from /proc/stat minus the benchmark's own processes)
over the configuration's wall time, i.e. other people's jobs; ``steal_cores`` the same for
hypervisor steal. ``cpu_per_wall`` is the
workload process's CPU time (user + system, all threads) over its wall time for the timed updates:
above 1 means threads burn CPU at the same time, e.g. spin-waiting.

    python -m benchmarks.contention [--hogs 0 1 2] [--updates 3] [--budget-s 45] [--append]

The file's ``provenance`` is the latest run's; with ``--append``, the one it replaces moves into
the run it belonged to.

The hog processes stop by themselves at a deadline and are terminated (then killed) when each
configuration ends, on errors and on Ctrl-C or SIGTERM too.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import RESULTS, write

# No torch (or adagen) import at module level: the parent process and the hog processes stay light,
# and the worker subprocess imports torch only after its environment is set.

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {
    "default": {"threads": None, "env": {}},
    "1-thread": {"threads": 1, "env": {}},
    "passive": {"threads": None, "env": {"OMP_WAIT_POLICY": "PASSIVE"}},
}
HOG_WARMUP_S = 1.0  # let the hog processes get going before the workload starts


# ---------------------------------------------------------------- the hog
def _busy(deadline: float) -> None:
    """A pure-Python busy loop until ``deadline`` (time.monotonic), so a stray hog ends on its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when hogs stop
    x = 0
    while time.monotonic() < deadline:
        for _ in range(10_000):
            x += 1


class Hog:
    """``with Hog(k, max_s):`` runs ``k`` busy processes, at most ``max_s`` seconds, stopped on exit."""

    def __init__(self, k: int, max_s: float):
        self.k, self.max_s = k, max_s
        self.procs: list = []

    def __enter__(self) -> Hog:
        ctx = mp.get_context("fork")
        deadline = time.monotonic() + self.max_s
        try:
            for _ in range(self.k):
                p = ctx.Process(target=_busy, args=(deadline,), daemon=True)
                p.start()
                self.procs.append(p)
        except BaseException:
            self.stop()
            raise
        if self.k:
            time.sleep(HOG_WARMUP_S)
        return self

    def stop(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.terminate()
        for p in self.procs:
            p.join(2)
            if p.is_alive():
                p.kill()
                p.join(2)
        self.procs = []

    def __exit__(self, *exc) -> None:
        self.stop()


# ---------------------------------------------------------------- the workload (in a fresh subprocess)
def worker(threads: int | None, updates: int, budget_s: float) -> dict:
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    from adagen_agents.ppo import PPO, PPOConfig
    from adagen_env.envs import ScheduleVectorEnv

    def cpu() -> float:
        t = os.times()
        return t.user + t.system

    start = time.perf_counter()
    env = ScheduleVectorEnv(num_envs=64, num_steps=8, reward="adversarial")
    agent = PPO(env, PPOConfig(episodes_per_update=128, minibatches=16, epochs=4))
    setup_s = time.perf_counter() - start
    t = time.perf_counter()
    agent.learn(1)  # warm-up
    warmup_s = time.perf_counter() - t
    seconds, cpu_s = [], []
    while len(seconds) < updates and (not seconds or time.perf_counter() - start < budget_s):
        t, c = time.perf_counter(), cpu()
        agent.learn(1)
        seconds.append(time.perf_counter() - t)
        cpu_s.append(cpu() - c)
    return {
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "setup_s": setup_s,
        "warmup_s": warmup_s,
        "update_s": seconds,
        "update_cpu_s": cpu_s,
    }


# ---------------------------------------------------------------- the driver
def run_config(setting: str, hogs: int, args: argparse.Namespace) -> dict:
    spec = SETTINGS[setting]
    env = {**os.environ, **spec["env"]}
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # torch's default must be its own choice
        env.pop(var, None)
    if "OMP_WAIT_POLICY" not in spec["env"]:
        env.pop("OMP_WAIT_POLICY", None)
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.contention",
        "--worker",
        "--updates",
        str(args.updates),
        "--budget-s",
        str(args.budget_s),
    ]
    if spec["threads"] is not None:
        cmd += ["--threads", str(spec["threads"])]
    load_before = os.getloadavg()
    stat0, times0, wall0 = cpu_stat(), os.times(), time.perf_counter()
    with Hog(hogs, args.timeout_s + 5 * HOG_WARMUP_S):
        load_at_start = os.getloadavg()
        t = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.timeout_s)
        except subprocess.TimeoutExpired:  # subprocess.run has killed the worker
            result = {"error": f"timed out after {args.timeout_s} s"}
        else:
            if proc.returncode:
                raise RuntimeError(f"worker failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")
            result = json.loads(proc.stdout.strip().splitlines()[-1])
        wall_s = time.perf_counter() - t
    # after the hogs are joined and the worker waited for, os.times() counts their CPU time as children's
    stat1, times1, window = cpu_stat(), os.times(), time.perf_counter() - wall0
    ours = sum(times1[i] - times0[i] for i in range(4))  # user, system, children's user, children's system
    busy = stat1["busy"] - stat0["busy"]
    return {
        "setting": setting,
        "hogs": hogs,
        "load_before": load_before,
        "load_at_start": load_at_start,
        "wall_s": wall_s,
        "busy_cores": busy / window,
        "ours_cores": ours / window,
        "other_cores": max(0.0, busy - ours) / window,
        "steal_cores": (stat1["steal"] - stat0["steal"]) / window,
        **result,
    }


def cpu_stat() -> dict:
    """Machine-wide CPU seconds from /proc/stat: busy (user, nice, system, irq, softirq) and steal."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return {"busy": float("nan"), "steal": float("nan")}
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return {"busy": (user + nice + system + irq + softirq) / tick, "steal": steal / tick}


def fmt_row(r: dict, base: float) -> dict:
    load = lambda v: "/".join(f"{x:.2f}" for x in v)  # noqa: E731
    if "update_s" not in r:
        return {
            "setting": r["setting"],
            "hogs": r["hogs"],
            "threads": "-",
            "s_per_update": r["error"],
            "n": 0,
            "vs_base": "-",
            "min_s": "-",
            "max_s": "-",
            "cpu_per_wall": "-",
            "load_before": load(r["load_before"]),
            "load_at_start": load(r["load_at_start"]),
            **extra(r),
        }
    med = statistics.median(r["update_s"])
    return {
        "setting": r["setting"],
        "hogs": r["hogs"],
        "threads": r["torch_threads"],
        "s_per_update": f"{med:.3f}",
        "n": len(r["update_s"]),
        "vs_base": f"{med / base:.2f}",
        "min_s": f"{min(r['update_s']):.3f}",
        "max_s": f"{max(r['update_s']):.3f}",
        "cpu_per_wall": f"{sum(r['update_cpu_s']) / sum(r['update_s']):.2f}",
        "load_before": load(r["load_before"]),
        "load_at_start": load(r["load_at_start"]),
        **extra(r),
    }


def extra(r: dict) -> dict:
    """Other processes' CPU use (cores) while the configuration ran, and hypervisor steal (older runs lack them)."""
    if "other_cores" not in r:
        return {}
    return {"other_cores": f"{r['other_cores']:.2f}", "steal_cores": f"{r['steal_cores']:.2f}"}


def format_table(rows: list[dict]) -> str:
    columns = tuple(rows[0])
    cells = [[str(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def machine() -> dict:
    info = {
        "cpu_count": os.cpu_count(),
        "sched_getaffinity": len(os.sched_getaffinity(0)),
        "python": sys.version.split()[0],
    }
    probe = (
        "import torch, json; print(json.dumps({'torch': torch.__version__, 'get_num_threads': torch.get_num_threads(),"
        " 'get_num_interop_threads': torch.get_num_interop_threads(),"
        " 'backend': [l.strip() for l in torch.__config__.parallel_info().splitlines() if 'backend' in l]}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    info.update(json.loads(out.stdout))
    return info


def _sigterm(signum, frame):  # turn SIGTERM into an exception so the hogs' cleanup runs
    raise SystemExit(128 + signum)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hogs", type=int, nargs="+", default=[0, 1, 2], help="busy processes beside the workload")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--updates", type=int, default=3, help="timed updates per configuration (median reported)")
    parser.add_argument(
        "--budget-s",
        type=float,
        default=45.0,
        help="no further timed update starts after this many seconds in a configuration (at least one runs)",
    )
    parser.add_argument("--timeout-s", type=float, default=150.0, help="a configuration's worker is killed after this")
    parser.add_argument("--output", type=Path, default=RESULTS / "contention.json")
    parser.add_argument("--append", action="store_true", help="add this run to the runs already in --output")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(worker(args.threads, args.updates, args.budget_s)))
        return

    signal.signal(signal.SIGTERM, _sigterm)
    load_before, wall_start = os.getloadavg(), time.perf_counter()  # the provenance's, without importing torch here
    info = machine()
    print(f"machine: {json.dumps(info)}", flush=True)
    configs = [("default", 0)] + [(s, h) for h in args.hogs for s in args.settings if (s, h) != ("default", 0)]
    configs.append(("default", 0))  # the baseline again, last: drift over the run
    started = time.time()
    records = []
    for setting, hogs in configs:
        r = run_config(setting, hogs, args)
        records.append(r)
        med = statistics.median(r["update_s"]) if "update_s" in r else float("nan")
        print(
            f"  {setting:9s} hogs={hogs}: {med:.3f} s/update (n={len(r.get('update_s', []))}, "
            f"load before {r['load_before'][0]:.2f}, wall {r['wall_s']:.0f} s)",
            flush=True,
        )
    base = statistics.median(records[0]["update_s"]) if "update_s" in records[0] else float("nan")
    rows = [fmt_row(r, base) for r in records]
    print()
    print(format_table(rows))
    print(
        f"\nvs_base: median s/update over default threads without a hog, first row ({base:.3f} s); "
        f"the last row repeats it. total {time.time() - started:.0f} s"
    )

    run = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "total_s": time.time() - started,
        "args": {k: v for k, v in vars(args).items() if k not in ("worker", "threads", "output", "append")},
        "machine": info,
        "baseline_s": base,
        "rows": rows,
        "records": records,
    }
    runs = []
    if args.append and args.output.exists():
        before = json.loads(args.output.read_text())
        runs = before.get("runs", [])
        if runs and "provenance" in before:  # the file's provenance was its latest run's
            runs[-1].setdefault("provenance", before["provenance"])
    from adagen_env.runtime.provenance import Provenance  # torch, now that the hogs are done

    provenance = Provenance(started=wall_start, load_before=[round(v, 2) for v in load_before])
    write(args.output, {"benchmark": "contention", "runs": runs + [run]}, provenance)


if __name__ == "__main__":
    main()
