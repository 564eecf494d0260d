"""Text-to-image end to end on CPU, with CLI commands only: ``python -m adagen_agents.examples.text_to_image``.

It writes, under ``--out`` (default ``adagen-results/text-to-image-example``):

- ``sd/``: a tiny Stable Diffusion pipeline with random weights, saved with ``save_pretrained`` (a
  UNet2DConditionModel of 8x8 latents, a two-block VAE making 16x16 RGB images, a two-layer CLIP
  text encoder and a CLIP tokenizer whose tokens are single characters). It stands in for your own
  pipeline folder, which this example cannot download.
- ``captioned/``: 16x16 images of coloured shapes with a caption each ("a red circle") in a
  ``metadata.jsonl``, the layout of Hugging Face's ``imagefolder``: your own image-caption folder.

Then it runs the commands a practitioner runs on their own folders, and prints each with its time:
``adagen train`` (a schedule policy against a text-conditional discriminator of the training
captions' images), ``adagen eval`` (on the held-out captions), ``adagen sample --prompt`` (any text)
and ``adagen actions``. The random pipeline makes no recognisable images: the point is the path.
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from pathlib import Path

import numpy as np
import torch

from adagen_agents.cli import main as adagen

TOKENS = 16  # the tiny tokenizer's model_max_length
COLOURS = {"red": (210, 40, 40), "green": (40, 190, 60), "blue": (40, 60, 210), "yellow": (225, 215, 40)}
SHAPES = ("square", "circle", "stripe")
SIZE = 16


def byte_vocabulary() -> dict[str, int]:
    """CLIP's byte-to-unicode characters, each alone and ending a word, and the two special tokens: a
    vocabulary without merges, so that every character is a token."""
    codes = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = [chr(c) for c in codes] + [chr(256 + n) for n in range(256 - len(codes))]
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    return vocab | {"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1}


def tiny_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(byte_vocabulary()))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=TOKENS)


def tiny_text_encoder():
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(3)
    config = CLIPTextConfig(
        vocab_size=514,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=TOKENS,
        bos_token_id=512,
        eos_token_id=513,
        pad_token_id=513,
    )
    return CLIPTextModel(config).eval()


def tiny_text_unet(sample_size: int = 8, **config):
    import diffusers

    torch.manual_seed(4)
    return diffusers.UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=8,
        **config,
    ).eval()


def tiny_vae():
    import diffusers

    torch.manual_seed(1)
    return diffusers.AutoencoderKL(
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=SIZE,
    ).eval()


def tiny_sd_pipeline(folder: Path, scheduler=None, unet=None):
    """A tiny Stable Diffusion pipeline with random weights, making 16x16 RGB images; ``folder`` keeps
    its tokenizer's files."""
    import diffusers

    pipe = diffusers.StableDiffusionPipeline(
        vae=tiny_vae(),
        text_encoder=tiny_text_encoder(),
        tokenizer=tiny_tokenizer(folder / "tokenizer-files"),
        unet=unet or tiny_text_unet(),
        scheduler=scheduler or diffusers.DDIMScheduler(clip_sample=False, steps_offset=1),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def shape_image(colour: tuple[int, int, int], shape: str, rng: np.random.Generator) -> np.ndarray:
    """A (SIZE, SIZE, 3) uint8 image: a shape of ``colour`` on grey, at a random place, with noise."""
    y, x = np.mgrid[:SIZE, :SIZE]
    cy, cx = rng.integers(5, SIZE - 5, 2)
    if shape == "square":
        mask = (abs(y - cy) <= 3) & (abs(x - cx) <= 3)
    elif shape == "circle":
        mask = (y - cy) ** 2 + (x - cx) ** 2 <= 12
    else:
        mask = abs(x - cx) <= 1
    image = np.full((SIZE, SIZE, 3), 128.0)
    image[mask] = colour
    return np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)


def captioned_folder(folder: Path, per_caption: int = 4, seed: int = 0) -> Path:
    """Images of every colour and shape, ``per_caption`` each, captioned "a <colour> <shape>"."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for colour, rgb in COLOURS.items():
        for shape in SHAPES:
            for k in range(per_caption):
                name = f"{colour}-{shape}-{k}.png"
                Image.fromarray(shape_image(rgb, shape, rng)).save(folder / name)
                lines.append(json.dumps({"file_name": name, "text": f"a {colour} {shape}"}))
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def run(command: list[str]) -> float:
    """Run one adagen command as typed; its wall time in seconds."""
    print(f"\n$ adagen {shlex.join(command)}", flush=True)
    start = time.perf_counter()
    adagen(command)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default="adagen-results/text-to-image-example", help="where to write (default: %(default)s)"
    )
    parser.add_argument("--updates", type=int, default=20, help="PPO updates (default: %(default)s)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    pipeline, data = out / "sd", out / "captioned"
    tiny_sd_pipeline(out).save_pretrained(pipeline)
    captioned_folder(data)
    given = ["--pipeline", str(pipeline), "--data", str(data)]
    policy = str(out / "policy.pt")
    times = {
        "train": run(
            [
                "train",
                *given,
                "--steps",
                "4",
                "--updates",
                str(args.updates),
                "--num-envs",
                "16",
                "--final-samples",
                "64",
                "--out",
                policy,
                "--logdir",
                str(out / "logs"),
                "--overwrite",
            ]
        ),
        "eval": run(["eval", *given, "--policy", policy, "--samples", "64"]),
        "sample": run(
            [
                "sample",
                *given,
                "--policy",
                policy,
                "--prompt",
                "a purple circle",
                "--n",
                "16",
                "--out",
                str(out / "purple-circle.png"),
                "--overwrite",
            ]
        ),
        "actions": run(["actions", *given, "--policy", policy, "--out", str(out / "actions.png"), "--overwrite"]),
    }
    print("\n" + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in times.items()))
    return times


if __name__ == "__main__":
    main()
