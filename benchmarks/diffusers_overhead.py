"""Overhead of AdaGen/Diffusers-v0: the vector env at zero actions against the diffusers pipeline itself.

Both make the same images (tests/test_diffusers_adapter.py) from the same model, scheduler,
steps, guidance and seed: the env runs reset, ``--steps`` zero-action steps and the VAE decode
of the finished batch; the pipeline runs its ``__call__`` with ``output_type="np"``; the plain
sampler (``adagen_env.processes.sampling.sample``, the env's process without the env, decode included)
splits the adapter's cost from the env's. They alternate over ``--repeats`` in one process, and
the table reports medians and their ratios to the pipeline.
Models are built from configs with random weights (nothing is downloaded): the ``tiny`` DiT of
the tests, a ``small`` one as wide as DiT-S (384) on 16x16 latents, where the model's
share of the time is closer to a real one's, and an ``xl`` one of DiT-XL/2's size (28 layers,
width 1152, 32x32 latents: 256x256 images) for a GPU. ``--dtype bf16`` puts the pipeline (and so
the env's process) in bfloat16. Needs the ``diffusers`` extra.

    python -m benchmarks.diffusers_overhead [--batch 8] [--steps 20] [--repeats 5]
    python -m benchmarks.diffusers_overhead --device cuda --dtype bf16 --models xl --batch 64 256 1024 \
        --schedulers DDIMScheduler --out benchmarks/results/diffusers_overhead_gpu.json
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import adagen_env  # noqa: F401  (registers AdaGen/Diffusers-v0)
from adagen_env.processes.sampling import sample
from adagen_env.runtime.devices import check_device
from adagen_env.runtime.provenance import Provenance
from adagen_env.runtime.tables import format_table
from benchmarks.common import RESULTS, write

# DiT configs: (layers, heads, head width, latent size); learned sigma and 1000 classes + null as DiT-XL-2-256
MODELS = {"tiny": (2, 2, 8, 8), "small": (4, 6, 64, 16), "xl": (28, 16, 72, 32)}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
GUIDANCE_SCALE = 4.0  # DiTPipeline's default


def dit_pipeline(size: str, scheduler: str):
    import diffusers

    layers, heads, width, latent = MODELS[size]
    torch.manual_seed(0)
    transformer = diffusers.DiTTransformer2DModel(
        num_attention_heads=heads,
        attention_head_dim=width,
        in_channels=4,
        out_channels=8,
        num_layers=layers,
        sample_size=latent,
        patch_size=2,
        num_embeds_ada_norm=1000,
    ).eval()
    vae = diffusers.AutoencoderKL(
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=2 * latent,
    ).eval()
    pipe = diffusers.DiTPipeline(transformer, vae, getattr(diffusers, scheduler)())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def synchronise(device: torch.device) -> None:
    """Wait for the GPU's queued work, so that a timing ends when the work does."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_pipeline(pipe, labels: list[int], steps: int, seed: int) -> float:
    start = time.perf_counter()
    generator = torch.Generator(pipe.device).manual_seed(seed)
    pipe(labels, GUIDANCE_SCALE, generator, steps, output_type="np")
    synchronise(pipe.device)
    return time.perf_counter() - start


def time_sampler(process, labels: list[int], steps: int, seed: int) -> float:
    start = time.perf_counter()
    sample(process, labels, num_steps=steps, seed=seed).float().permute(0, 2, 3, 1).cpu().numpy()
    return time.perf_counter() - start


def time_env(env: gym.vector.VectorEnv, labels: list[int], steps: int, seed: int) -> float:
    """Reset, ``steps`` zero-action steps, and the decoded images, as numpy like the pipeline's."""
    zeros = np.zeros(env.action_space.shape, dtype=np.float32)
    start = time.perf_counter()
    env.reset(seed=seed, options={"labels": labels})
    for _ in range(steps):
        env.step(zeros)
    env.unwrapped.core.images().float().permute(0, 2, 3, 1).cpu().numpy()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[8])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=list(DTYPES), default="fp32")
    parser.add_argument("--out", default=str(RESULTS / "diffusers_overhead.json"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--schedulers", nargs="+", default=["DDIMScheduler", "DPMSolverMultistepScheduler"])
    args = parser.parse_args()

    device = check_device(args.device)
    provenance = Provenance(device=str(device))
    rows = []
    for size, scheduler, batch in itertools.product(args.models, args.schedulers, args.batch):
        labels = [int(c) for c in np.arange(batch) * 97 % 1000]
        pipe = dit_pipeline(size, scheduler).to(device, DTYPES[args.dtype])
        env = gym.make_vec(
            "AdaGen/Diffusers-v0",
            num_envs=batch,
            pipeline=pipe,
            num_steps=args.steps,
            guidance_scale=GUIDANCE_SCALE,
        )
        process = env.unwrapped.core.process
        time_pipeline(pipe, labels, args.steps, 0), time_env(env, labels, args.steps, 0)  # warm-up
        pipeline_s, env_s, sampler_s = [], [], []
        for r in range(args.repeats):
            pipeline_s.append(time_pipeline(pipe, labels, args.steps, r))
            env_s.append(time_env(env, labels, args.steps, r))
            sampler_s.append(time_sampler(process, labels, args.steps, r))
        pipeline_t, env_t, sampler_t = (statistics.median(s) for s in (pipeline_s, env_s, sampler_s))
        rows.append(
            {
                "model": size,
                "scheduler": scheduler,
                "batch": batch,
                "device": str(device),
                "dtype": args.dtype,
                "env_samples_per_s": batch / env_t,
                "pipeline_samples_per_s": batch / pipeline_t,
                "steps": args.steps,
                "pipeline_s": pipeline_t,
                "env_s": env_t,
                "sampler_s": sampler_t,
                "env_over_pipeline": env_t / pipeline_t,
                "sampler_over_pipeline": sampler_t / pipeline_t,
            }
        )
        print(format_table(rows[-1:], tuple(rows[-1])), flush=True)
    print()
    print(format_table(rows, tuple(rows[0])))
    print(
        f"\ntorch threads: {torch.get_num_threads()}; medians over {args.repeats} alternating repeats; "
        f"the load average is in the results' provenance"
    )
    write(
        Path(args.out),
        {"args": vars(args), "threads": torch.get_num_threads(), "rows": rows},
        provenance,
    )


if __name__ == "__main__":
    main()
