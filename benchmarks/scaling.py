"""Scale-out: samples per second and time per update with 1 and 2 workers, for torchrun and RLlib.

Each engine is measured against its own 1-worker baseline in the same run, with the same global
batch per update (strong scaling), one torch thread per process, on the MaskGIT env with the
adversarial reward:

- torchrun: our PPO under ``torchrun --nproc_per_node 1`` and ``2`` (gloo), with 10 epochs x 64
  minibatches (640 gradient all-reduces per update; our default before AdaGen-Bench's tuning
  halved the minibatches) and with the method's 5
  full-batch epochs (5). Each rank times its rollouts and its updates; rank 0 also times an
  all-reduce of the gradient vector (actor and critic) on its own: what one exchange costs.
- RLlib: PPO from ``adagen_agents.rllib`` with 1 and 2 env runners sharing one discriminator
  actor; ``algo.train()`` iterations are timed.

Then a model of the update time at 8, 64 and 512 GPUs for a generator of the reference method's
size, from stated assumptions (``MODEL`` below; no GPU was measured).

    python -m benchmarks.scaling [--updates 5] [--episodes 256] [--skip-rllib]
    python -m benchmarks.scaling model      # only the model, from the assumptions
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from adagen_env.runtime.provenance import Provenance
from adagen_env.runtime.tables import format_table
from benchmarks.common import RESULTS, write

PROCESS, ENV_ID, NUM_STEPS = "maskgit-digits", "AdaGen/MaskGIT-Digits-v0", 8
WARMUP = 1  # updates / iterations not timed (first-call costs)

# The reference method at ImageNet scale (docs/method.md) and the hardware assumed; none of it measured here.
MODEL = {
    "trajectories_per_update": 4096,
    "generator": "DiT-XL/2 at 256x256, 16 NFE with classifier-free guidance (2 forwards per NFE)",
    "generator_gflops_per_forward": 118.6,  # DiT paper, Table 4
    "forwards_per_sample": 32,
    "gpu_tflops_sustained": 400.0,  # bf16, about 40 % of an H100/H200's dense peak
    "policy_and_value_params": 24e6,  # about 12M each (docs/method.md), fp32 gradients
    "discriminator_trainable_params": 4e6,  # small heads on a frozen feature network (assumed)
    "decisions_per_sample": 16,  # one policy decision per model call
    "ppo_gradient_steps_per_update": 5,  # the method's 5 full-batch epochs: one gradient all-reduce each
    "discriminator_steps_per_update": 5,  # one all-reduce of the heads' gradients each
    "bus_bandwidth_gb_s": {"8": 360.0, "64": 40.0, "512": 40.0},  # NVLink in one node; 400 Gb/s IB per GPU across nodes
    "allreduce_step_latency_us": {"8": 2.0, "64": 10.0, "512": 10.0},
    "ppo_learn_flops_per_step_sample": 6 * 24e6,  # forward + backward of policy and value
}


def ring_allreduce_seconds(nbytes: float, gpus: int, bandwidth_gb_s: float, latency_us: float) -> float:
    """Ring all-reduce: 2 (N - 1) / N of the data over the bus bandwidth, plus 2 (N - 1) latency hops."""
    return 2 * (gpus - 1) / gpus * nbytes / (bandwidth_gb_s * 1e9) + 2 * (gpus - 1) * latency_us * 1e-6


def model_update_time(gpus: int, m: dict = MODEL) -> dict:
    """Seconds per PPO update at ``gpus`` GPUs: rollout and learning shrink as 1/N, the all-reduces do not."""
    per_gpu = m["trajectories_per_update"] / gpus
    flops_per_sample = m["generator_gflops_per_forward"] * 1e9 * m["forwards_per_sample"]
    rollout = per_gpu * flops_per_sample / (m["gpu_tflops_sustained"] * 1e12)
    epochs = 5  # full-batch passes, however many gradient steps they are cut into
    learn = (
        epochs
        * per_gpu
        * m["decisions_per_sample"]
        * m["ppo_learn_flops_per_step_sample"]
        / (m["gpu_tflops_sustained"] * 1e12)
    )
    key = str(gpus)
    bandwidth, latency = m["bus_bandwidth_gb_s"][key], m["allreduce_step_latency_us"][key]
    comm = m["ppo_gradient_steps_per_update"] * ring_allreduce_seconds(
        4 * m["policy_and_value_params"], gpus, bandwidth, latency
    )
    comm += m["discriminator_steps_per_update"] * ring_allreduce_seconds(
        4 * m["discriminator_trainable_params"], gpus, bandwidth, latency
    )
    total = rollout + learn + comm
    return {
        "gpus": gpus,
        "gradient_steps": m["ppo_gradient_steps_per_update"],
        "samples_per_gpu": per_gpu,
        "rollout_s": rollout,
        "learn_s": learn,
        "allreduce_s": comm,
        "update_s": total,
        "efficiency": (rollout + learn) / total,
    }


def model_table() -> list[dict]:
    one = model_update_time(1, {**MODEL, "bus_bandwidth_gb_s": {"1": 1.0}, "allreduce_step_latency_us": {"1": 0.0}})
    # and with 10 epochs x 64 minibatches (the committed runs' setting): 640 gradient all-reduces per update
    minibatched = {**MODEL, "ppo_gradient_steps_per_update": 640}
    rows = [one, *(model_update_time(n) for n in (8, 64, 512)), *(model_update_time(n, minibatched) for n in (64, 512))]
    for r in rows:
        r["speedup_vs_1_gpu"] = one["update_s"] / r["update_s"]
    return rows


# --- torchrun ------------------------------------------------------------------------------------


def torchrun_worker(args: argparse.Namespace) -> None:
    """One rank: time rollouts and updates of our PPO, then the gradient all-reduce alone."""
    from adagen_agents.ppo import PPO, PPOConfig
    from adagen_env.envs import ScheduleVectorEnv
    from adagen_env.runtime import distributed

    torch.set_num_threads(1)
    distributed.init_from_launcher()
    try:
        world = distributed.world_size()
        env = ScheduleVectorEnv(num_envs=args.num_envs, process=PROCESS, num_steps=NUM_STEPS, reward="adversarial")
        agent = PPO(env, PPOConfig(episodes_per_update=args.episodes, epochs=args.epochs, minibatches=args.minibatches))
        rollout, learn = [], []
        for i in range(WARMUP + args.updates):
            distributed.barrier()
            start = time.perf_counter()
            batch = agent.collect()
            middle = time.perf_counter()
            agent.update(batch)
            distributed.barrier()
            end = time.perf_counter()
            if i >= WARMUP:
                rollout.append(middle - start)
                learn.append(end - middle)
        grads = torch.zeros(sum(p.numel() for p in [*agent.actor.parameters(), *agent.critic.parameters()]))
        allreduce = []
        for _ in range(50):
            distributed.barrier()
            start = time.perf_counter()
            distributed.all_sum(grads)  # one all-reduce of a vector as long as the gradients
            allreduce.append(time.perf_counter() - start)
        steps = agent.config.epochs * agent.config.minibatches
        if distributed.rank() == 0:
            Path(args.out).write_text(
                json.dumps(
                    {
                        "world_size": world,
                        "num_envs_per_rank": args.num_envs,
                        "episodes_per_update": args.episodes,
                        "rollout_s": rollout,
                        "learn_s": learn,
                        "gradient_numel": grads.numel(),
                        "allreduce_s": statistics.median(allreduce),
                        "gradient_steps_per_update": steps,
                    }
                )
            )
    finally:
        distributed.leave()


# (epochs, minibatches) of our PPO: many small steps (our default before tuning), and the method's full-batch epochs
PPO_SETTINGS = {"torchrun 10x64": (10, 64), "torchrun 5x1": (5, 1)}


def run_torchrun(ranks: int, setting: str, args: argparse.Namespace) -> dict:
    """Launch the worker under torchrun with ``ranks`` processes; rank 0's timings."""
    epochs, minibatches = PPO_SETTINGS[setting]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={ranks}",
            "-m",
            "benchmarks.scaling",
            "torchrun-worker",
            "--updates",
            str(args.updates),
            "--episodes",
            str(args.episodes),
            "--num-envs",
            str(args.num_envs),
            "--out",
            str(out),
            "--epochs",
            str(epochs),
            "--minibatches",
            str(minibatches),
        ]
        subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        result = json.loads(out.read_text())
    update = [r + u for r, u in zip(result["rollout_s"], result["learn_s"])]
    return {
        "engine": setting,
        "workers": ranks,
        "update_s": statistics.median(update),
        "rollout_s": statistics.median(result["rollout_s"]),
        "learn_s": statistics.median(result["learn_s"]),
        "samples_per_s": args.episodes / statistics.median(update),
        "updates_timed": len(update),
        "allreduce_ms": 1e3 * result["allreduce_s"],
        "gradient_numel": result["gradient_numel"],
        "gradient_steps_per_update": result["gradient_steps_per_update"],
    }


# --- RLlib ---------------------------------------------------------------------------------------


def run_rllib(runners: int, args: argparse.Namespace) -> dict:
    """``algo.train()`` iterations of the RLlib recipe with ``runners`` env runners (own Ray instance)."""
    import ray

    from adagen_agents.rllib import ppo_config, start_shared_discriminator

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        discriminator = start_shared_discriminator()  # noqa: F841  (the actor lives while its handle does)
        config = ppo_config(ENV_ID, num_env_runners=runners, num_envs_per_env_runner=args.num_envs)
        # the same episodes per iteration as our PPO's update; RLlib's other PPO defaults
        algo = config.training(train_batch_size_per_learner=args.episodes * NUM_STEPS).build_algo()
        times, episodes = [], []
        for i in range(WARMUP + args.updates):
            start = time.perf_counter()
            result = algo.train()
            if i >= WARMUP:
                times.append(time.perf_counter() - start)
                episodes.append(result["env_runners"]["num_episodes"])
        algo.stop()
    finally:
        ray.shutdown()
    update = statistics.median(times)
    return {
        "engine": "rllib",
        "workers": runners,
        "update_s": update,
        "samples_per_s": sum(episodes) / sum(times),
        "updates_timed": len(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", default="all", choices=("all", "model", "torchrun-worker"))
    parser.add_argument("--updates", type=int, default=5, help="timed updates per case, after one untimed (default: 5)")
    parser.add_argument(
        "--episodes", type=int, default=256, help="episodes (samples) per update, all workers together (default: 256)"
    )
    parser.add_argument("--num-envs", type=int, default=64, help="samples generated together per worker (default: 64)")
    parser.add_argument("--skip-rllib", action="store_true", help="measure torchrun only")
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--minibatches", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.what == "torchrun-worker":
        return torchrun_worker(args)
    if args.episodes % (2 * args.num_envs):
        parser.error(f"--episodes ({args.episodes}) must be a multiple of 2 x --num-envs ({args.num_envs})")

    model = model_table()
    print("Model: update time of PPO at the reference method's scale (assumptions in MODEL, none measured)")
    print(
        format_table(
            model,
            (
                "gpus",
                "gradient_steps",
                "samples_per_gpu",
                "rollout_s",
                "learn_s",
                "allreduce_s",
                "update_s",
                "efficiency",
                "speedup_vs_1_gpu",
            ),
        )
    )
    if args.what == "model":
        return

    if args.skip_rllib is False:
        try:
            import ray  # noqa: F401
        except ImportError:
            parser.error("RLlib cases need Ray: pip install 'adagen[rllib]', or pass --skip-rllib")
    torch.set_num_threads(1)
    provenance = Provenance()  # with the load average before and after
    rows = []
    for setting in PPO_SETTINGS:
        for ranks in (1, 2):
            print(f"{setting}, {ranks} rank(s) ...", flush=True)
            rows.append(run_torchrun(ranks, setting, args))
    if not args.skip_rllib:
        for runners in (1, 2):
            print(f"RLlib, {runners} env runner(s) ...", flush=True)
            rows.append(run_rllib(runners, args))
    for r in rows:
        base = next(b for b in rows if b["engine"] == r["engine"] and b["workers"] == 1)
        r["speedup"] = base["update_s"] / r["update_s"]
    columns = ("engine", "workers", "samples_per_s", "update_s", "speedup", "rollout_s", "learn_s", "allreduce_ms")
    print(format_table([{k: r.get(k, "") for k in columns} for r in rows], columns))
    write(
        RESULTS / "scaling.json",
        {
            "settings": {
                "env": ENV_ID,
                "num_steps": NUM_STEPS,
                "episodes_per_update": args.episodes,
                "num_envs_per_worker": args.num_envs,
                "updates_timed": args.updates,
                "torch_threads": 1,
                "cores": os.cpu_count(),
            },
            "measured": rows,
            "model_assumptions": MODEL,
            "model": model,
        },
        provenance,
    )


if __name__ == "__main__":
    main()
