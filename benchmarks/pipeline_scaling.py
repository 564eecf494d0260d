"""What the env and the reward cost against a diffusers pipeline's own sampling, at 32 to 256 px, in one run.

Two tiny random pipelines per size, built from configs (nothing is downloaded): a pixel
``DDIMPipeline`` (a ``UNet2DModel`` on the images themselves) and a latent ``DiTPipeline`` (a DiT on
the latents of an ``AutoencoderKL`` that downsamples 8x, as Stable Diffusion's and DiT's do), both
with DDIM at ``--steps`` steps and a batch of ``--batch``. For each it measures, in the same process:

- ``pipeline``: the pipeline's own ``__call__`` (decode included, ``output_type="np"``): the unit;
- ``env``: one episode of ``AdaGen/Diffusers-v0`` at zero actions (reset and every step, no
  reward), and ``decode``: the VAE decode of the finished batch that an image reward needs;
- the reward: one call of the scorer on the finished batch, which scores it and, with
  ``update_every`` = the batch, takes one discriminator update (5 Adam steps on the batch's
  fakes and as many reals, the shipped ``STEPS``): what training pays per batch, as the defaults'
  5 steps of 256 per 256 samples. ``pixel``: the pixel discriminator whose depth grows with the
  size; ``3-conv``: the pixel discriminator as it was (3 convolutions at every size); ``latent``:
  the latent discriminator on the DiT pipeline's latents (no decode).

Every time is the median of ``--repeats`` runs after a warm-up (a first run over 2 s counts as
one of them), and every ratio is to the
pipeline's own sampling time in the same run. ``--micro-batch N`` adds rows at the largest size
with the process's model calls and decodes and the discriminator in chunks of N (the memory
flag's time cost). Torch runs on ``--threads`` threads (default 1); the load average is in the
results' provenance. Needs the ``diffusers`` extra.

    python -m benchmarks.pipeline_scaling [--sizes 32 64 128 256] [--batch 8] [--steps 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

import adagen_env  # noqa: F401  (registers AdaGen/Diffusers-v0)
from adagen_env.data.datasets import ImageDataset
from adagen_env.rewards import AdversarialScorer
from adagen_env.rewards.adversarial import LEGACY_WIDTHS
from adagen_env.rewards.latent import latent_scorer
from adagen_env.runtime.provenance import Provenance
from adagen_env.runtime.tables import format_table
from benchmarks.common import RESULTS, write

CLASSES = 4  # the user's classes (the DiT's class ids 0..3); the pixel UNet is unconditional: one class
REAL_IMAGES = 64  # the reward's real side, in all (random pixels: this measures cost, not quality)
GUIDANCE_SCALE = 4.0  # DiTPipeline's default
WARM_UP_S = 2.0  # a first run longer than this is measured, not thrown away as a warm-up


def pixel_pipeline(size: int):
    """``DDIMPipeline`` of a 3-level ``UNet2DModel`` (8, 16, 32 channels, no attention) on size x size RGB."""
    import diffusers

    torch.manual_seed(0)
    unet = diffusers.UNet2DModel(
        sample_size=size,
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D",) * 3,
        up_block_types=("UpBlock2D",) * 3,
        norm_num_groups=4,
    ).eval()
    pipe = diffusers.DDIMPipeline(unet, diffusers.DDIMScheduler())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def latent_pipeline(size: int):
    """``DiTPipeline`` of a 4-layer DiT (width 128, patch 2, 1,000 classes) on the 4 x size/8 x size/8
    latents of an ``AutoencoderKL`` with 4 levels (8x down)."""
    import diffusers

    torch.manual_seed(0)
    transformer = diffusers.DiTTransformer2DModel(
        num_attention_heads=4,
        attention_head_dim=32,
        in_channels=4,
        out_channels=8,
        num_layers=4,
        sample_size=size // 8,
        patch_size=2,
        num_embeds_ada_norm=1000,
    ).eval()
    torch.manual_seed(1)
    vae = diffusers.AutoencoderKL(
        block_out_channels=(8, 16, 32, 32),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=size,
    ).eval()
    pipe = diffusers.DiTPipeline(transformer, vae, diffusers.DDIMScheduler())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def real_images(size: int, classes: int) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (REAL_IMAGES, size, size, 3), generator=g, dtype=torch.uint8)
    return ImageDataset(pixels.numpy(), (np.arange(REAL_IMAGES) % classes), 256, classes)


def median_time(run: Callable[[], object], repeats: int) -> float:
    """The median of ``repeats`` runs after a warm-up run; a warm-up over ``WARM_UP_S`` counts as the
    first run (what a warm-up saves, tens of milliseconds, is lost in it), so 256 px stays affordable."""
    start = time.perf_counter()
    run()
    first = time.perf_counter() - start
    times = [first] if first > WARM_UP_S else []
    while len(times) < repeats:
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(kind: str, size: int, args: argparse.Namespace, micro_batch: int | None = None) -> dict:
    latent = kind == "latent"
    pipe = latent_pipeline(size) if latent else pixel_pipeline(size)
    classes = CLASSES if latent else 1
    labels = [i % classes for i in range(args.batch)]
    generator = torch.Generator()
    if latent:
        sample = lambda: pipe(labels, GUIDANCE_SCALE, generator.manual_seed(0), args.steps, output_type="np")  # noqa: E731
    else:
        sample = lambda: pipe(args.batch, generator.manual_seed(0), 0.0, args.steps, output_type="np")  # noqa: E731
    options = {"class_ids": list(range(classes))} if latent else {}
    env = gym.make_vec(
        "AdaGen/Diffusers-v0",
        num_envs=args.batch,
        pipeline=pipe,
        num_steps=args.steps,
        micro_batch=micro_batch,
        **({"guidance_scale": GUIDANCE_SCALE} if latent else {}),
        **options,
    )
    core = env.unwrapped.core
    zeros = np.zeros(env.action_space.shape, dtype=np.float32)

    def episode() -> None:
        env.reset(seed=0, options={"labels": labels})
        for _ in range(args.steps):
            env.step(zeros)

    row = {"pipeline": "DiT + VAE (latent)" if latent else "UNet (pixel)", "size": size, "batch": args.batch}
    if micro_batch is not None:
        row["micro_batch"] = micro_batch
    pipeline_s = median_time(sample, args.repeats)
    env_s = median_time(episode, args.repeats)
    images = core.images()
    decode_s = median_time(core.images, args.repeats)
    label_tensor = torch.tensor(labels)
    real = real_images(size, classes)
    # score + one update per call: update_every is the batch
    scorers = {
        "pixel": lambda: AdversarialScorer(real=real, update_every=args.batch, micro_batch=micro_batch),
        "3-conv": lambda: AdversarialScorer(real=real, update_every=args.batch, widths=tuple(LEGACY_WIDTHS)),
    }
    if latent:
        start = time.perf_counter()
        made = latent_scorer(core.process, real, update_every=args.batch, micro_batch=micro_batch)
        encode_s = (time.perf_counter() - start) / len(real)  # the real images encoded once, per image
        scorers["latent"] = lambda: made
    if micro_batch is not None:
        del scorers["3-conv"]
    reward_s = {}
    for name, make in scorers.items():
        scorer = make()
        inputs = core.state.x.float() if name == "latent" else images
        reward_s[name] = median_time(lambda s=scorer, x=inputs: s(x, label_tensor), args.repeats)
    row.update(pipeline_s=pipeline_s, env_s=env_s, decode_s=decode_s)
    if latent:
        row["encode_s_per_real_image"] = encode_s
    row.update({f"{name}_reward_s": seconds for name, seconds in reward_s.items()})
    row["env_x"] = (env_s + decode_s) / pipeline_s
    for name, seconds in reward_s.items():
        row[f"{name}_x"] = seconds / pipeline_s
    if latent:
        widths = scorer.architecture["widths"]
        row["latent_widths"] = widths
    row["pixel_widths"] = AdversarialScorer(real=real).architecture["widths"]
    env.close()
    return row


COLUMNS = ("pipeline", "size", "pipeline_s", "env_x", "pixel_x", "3-conv_x", "latent_x", "pixel_reward_s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=int, default=[32, 64, 128, 256])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--micro-batch", type=int, default=2, help="rows at the largest size in chunks of N (0: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    provenance = Provenance()
    rows = []
    start = time.perf_counter()
    for size in args.sizes:
        for kind in ("pixel", "latent"):
            rows.append(measure(kind, size, args))
            print(format_table(rows[-1:], [c for c in COLUMNS if c in rows[-1]]), flush=True)
    if args.micro_batch:
        for kind in ("pixel", "latent"):
            rows.append(measure(kind, max(args.sizes), args, args.micro_batch))
            print(format_table(rows[-1:], [c for c in (*COLUMNS, "micro_batch") if c in rows[-1]]), flush=True)
    seconds = time.perf_counter() - start
    table = markdown_table(rows)
    print()
    print(table)
    print(f"\ntorch threads: {args.threads}; {seconds:.0f} s in all; the load average is in the provenance")
    markdown = (
        "# Reward and env cost against a pipeline's own sampling\n\n"
        f"`python -m benchmarks.pipeline_scaling` (batch {args.batch}, {args.steps} DDIM steps, "
        f"{args.threads} torch thread(s), medians of {args.repeats} after a warm-up; "
        f"{provenance_line(provenance)}). Each column after the pipeline's time is a multiple of it: "
        "the env's episode at zero actions with the decode, and one reward call (scoring and one "
        "5-step discriminator update) of the pixel discriminator that grows with the size, of the "
        "3-convolution one it replaces, and of the latent discriminator (no decode).\n\n" + table + "\n"
    )
    write(
        RESULTS / "pipeline_scaling.json",
        {"args": vars(args), "threads": args.threads, "seconds": seconds, "rows": rows},
        provenance,
        markdown,
    )


def provenance_line(provenance: Provenance) -> str:
    """The load average (1, 5, 15 min) before the run and now."""
    record = provenance.record()
    before, after = record["load_average_before"], record["load_average_after"]
    shown = lambda load: "?" if load is None else "/".join(f"{x:.1f}" for x in load)  # noqa: E731
    return f"load average {shown(before)} before, {shown(after)} after, on {record['cpus']} CPUs"


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table: seconds, then multiples of the pipeline's time."""
    head = "| pipeline | px | micro-batch | pipeline s | env + decode | pixel reward | 3-conv reward | latent reward |"
    lines = [head, "|" + "---|" * 8]
    for r in rows:

        def x(key: str, r: dict = r) -> str:
            return f"{r[key]:.2f}x" if key in r else "-"

        lines.append(
            f"| {r['pipeline']} | {r['size']} | {r.get('micro_batch', '-')} | {r['pipeline_s']:.2f} | "
            f"{x('env_x')} | {x('pixel_x')} | {x('3-conv_x')} | {x('latent_x')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
