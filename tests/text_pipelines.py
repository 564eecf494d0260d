"""Tiny random-weight text-to-image pipelines built from configs (nothing is downloaded): a Stable
Diffusion pipeline with a UNet2DConditionModel, a CLIP text encoder and a byte-level CLIP tokenizer
written here (every character its own token)."""

import json
from pathlib import Path

import torch

TOKENS = 16  # the tokenizer's model_max_length: prompt embeddings are (16, 32)


def byte_vocabulary() -> dict[str, int]:
    """CLIP's byte-to-unicode characters, each alone and ending a word, and the two special tokens."""
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


def tiny_text_unet(diffusers, sample_size: int = 8, **kwargs):
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
        **kwargs,
    ).eval()


def sd_pipeline(diffusers, folder: Path, scheduler=None, unet=None):
    """A tiny Stable Diffusion pipeline making 16x16 RGB images (8x8 latents, a VAE of two blocks)."""
    from test_diffusers_adapter import tiny_vae

    pipe = diffusers.StableDiffusionPipeline(
        vae=tiny_vae(diffusers),
        text_encoder=tiny_text_encoder(),
        tokenizer=tiny_tokenizer(folder / "tokenizer-files"),
        unet=unet or tiny_text_unet(diffusers),
        scheduler=scheduler or diffusers.DDIMScheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe
