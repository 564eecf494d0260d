"""The adversarial reward on a diffusers pipeline's VAE latents: no decode for the reward.

A latent diffusion pipeline's samples end as latents that its VAE decodes into images. The
latent discriminator (``--reward adversarial-latent``) scores those latents themselves: the real
side is the user's images encoded once through the same VAE (``vae.encode(2x - 1)``'s mean times
the VAE's ``scaling_factor``, the latents ``DiffusersProcess.decode`` divides by it), the fake
side the process's final latents (``state.x``). The env's core passes a scorer latents instead of
images when it declares ``scores = "latents"``, and decodes only where images are needed for
something else. The discriminator is the pixel one on latent inputs, its depth grown with the
latents' size (:func:`~adagen_env.models.discriminator.pixel_widths`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from adagen_env.data.datasets import ImageDataset
from adagen_env.rewards.adversarial import AdversarialScorer

ENCODE_CHUNK = 16  # images per VAE encoder call, unless micro_batch says fewer


@dataclass(frozen=True)
class LatentDataset:
    """Real images as a VAE's latents, in the form :class:`AdversarialScorer` reads its real images:
    ``to_float()`` the latents (N, C, h, w), ``label_tensor()`` the labels; ``image_shape`` and
    ``channels`` are those of the images they encode (what the env checks against the process)."""

    latents: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    image_shape: tuple[int, int]
    channels: int

    def __len__(self) -> int:
        return len(self.labels)

    def to_float(self) -> torch.Tensor:
        return self.latents

    def label_tensor(self) -> torch.Tensor:
        return self.labels


def vae_of(process: Any) -> torch.nn.Module:
    """The VAE of a diffusers pipeline's process; one line for a process without one."""
    if process is None or not hasattr(process, "latent_shape"):
        raise ValueError(
            "--reward adversarial-latent scores a diffusers pipeline's VAE latents; it needs a pipeline with a "
            "VAE (--pipeline DIR; in Python, latent_scorer(process, real)), not a generator of images"
        )
    if getattr(process, "vae", None) is None:
        raise ValueError(
            "--reward adversarial-latent scores VAE latents, but this pipeline has no VAE (its model makes the "
            "pixels); use --reward adversarial"
        )
    return process.vae


@torch.no_grad()
def encode_images(process: Any, images: torch.Tensor, chunk: int = ENCODE_CHUNK) -> torch.Tensor:
    """Latents (N, C, h, w) float32 of images (N, C, H, W) in [0, 1] through the process's VAE, ``chunk``
    images at a time: ``vae.encode(2x - 1).latent_dist.mean * scaling_factor`` (the distribution's mean,
    no sampling, so the real side is deterministic)."""
    vae = vae_of(process)
    dtype, scale = next(vae.parameters()).dtype, vae.config.scaling_factor
    out = []
    for i in range(0, len(images), chunk):
        x = images[i : i + chunk].to(process.device, dtype) * 2 - 1
        out.append((vae.encode(x).latent_dist.mean * scale).float())
    return torch.cat(out)


def encode_dataset(process: Any, data: ImageDataset, chunk: int = ENCODE_CHUNK) -> LatentDataset:
    """``data`` encoded through the process's VAE (:func:`encode_images`), with its labels."""
    latents = encode_images(process, data.to_float(), chunk)
    return LatentDataset(latents.cpu(), data.label_tensor(), data.num_classes, data.image_shape, data.channels)


def state_latents(process: Any, state: Any) -> torch.Tensor:
    """The latents of a process's state (``state.x`` of a :class:`DiffusersProcess`), float32."""
    vae_of(process)
    return state.x.float()


def check_latents_fit(scorer: Any, process: Any) -> None:
    """A latent scorer's latents must have the process's latent shape; one line otherwise."""
    vae_of(process)
    if tuple(scorer.latent_shape) != tuple(process.latent_shape):
        raise ValueError(
            f"the reward's latents are {'x'.join(map(str, scorer.latent_shape))}, but this pipeline's are "
            f"{'x'.join(map(str, process.latent_shape))}; encode the real images with this pipeline's VAE"
        )


def latent_scorer(
    process: Any = None,
    real: ImageDataset | None = None,
    validation: ImageDataset | None = None,
    device: str | torch.device | None = None,
    **options: Any,
) -> AdversarialScorer:
    """An :class:`AdversarialScorer` (``discriminator="latent"``) on ``process``'s VAE latents, its real
    side ``real`` encoded once (and ``validation``, if given); ``options`` as the scorer's (``micro_batch``
    also sets the encoder's chunk). ``device`` defaults to the process's. Named ``adversarial-latent``."""
    vae_of(process)
    if real is None:
        raise ValueError("--reward adversarial-latent needs your images (real=...): its discriminator trains on them")
    shape = (process.image_channels, *process.image_shape)
    if (real.channels, *real.image_shape) != shape:
        raise ValueError(
            f"the real images are {'x'.join(map(str, (real.channels, *real.image_shape)))}, but the pipeline "
            f"makes {'x'.join(map(str, shape))} images; resize them to the pipeline's size"
        )
    chunk = min(ENCODE_CHUNK, options.get("micro_batch") or ENCODE_CHUNK)
    encoded = encode_dataset(process, real, chunk)
    held = None if validation is None else encode_dataset(process, validation, chunk)
    device = process.device if device is None else device
    return AdversarialScorer(device=device, real=encoded, validation=held, discriminator="latent", **options)
