"""Differentiable augmentations of a discriminator's inputs (DiffAugment, Zhao et al. 2020; ADA, Karras et al. 2020).

A discriminator trained on few real images (1,297 digits) memorises them; augmenting both its
real and its fake inputs, the same way, lets it see many more distinct images without teaching
it that augmented images are real. Every augmentation here is differentiable in the images (the
R1 penalty differentiates through it) and scales with the image size: translation by up to 1/8
of the side (1 px on 8x8, zero padding), cutout of a square of half the side (4x4 on 8x8, set
to 0), brightness (+U(-0.5, 0.5)) and contrast (deviation from the image mean times U(0.5, 1.5)),
DiffAugment's ranges. ``probability`` applies each augmentation to each image independently with
that probability: 1 is DiffAugment, ADA adjusts it while training.
"""

from __future__ import annotations

import torch

TRANSLATION = 1 / 8  # largest shift, as a share of the side (DiffAugment's ratio)
CUTOUT = 1 / 2  # side of the cut-out square, as a share of the side (DiffAugment's ratio)
BRIGHTNESS = 0.5  # brightness offset in U(-0.5, 0.5)
CONTRAST = (0.5, 1.5)  # contrast factor range


def augment(images: torch.Tensor, probability: float, generator: torch.Generator) -> torch.Tensor:
    """``images`` (B, C, H, W) in [0, 1] translated, cut out, brightened and contrasted, each with
    ``probability`` per image; random draws come from the CPU ``generator`` (the scorer's own)."""
    b, _, h, w = images.shape

    def chosen() -> torch.Tensor:  # which images get the next augmentation, (B,) bool
        return torch.rand(b, generator=generator) < probability

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(b, generator=generator)

    # brightness and contrast, per image (an image not chosen is left exactly as it was)
    offset = torch.where(chosen(), uniform(-BRIGHTNESS, BRIGHTNESS), torch.zeros(b))
    images = images + offset.to(images.device)[:, None, None, None]
    contrasted, factor = chosen(), uniform(*CONTRAST)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    changed = (images - mean) * factor.to(images.device)[:, None, None, None] + mean
    images = torch.where(contrasted.to(images.device)[:, None, None, None], changed, images)
    # translation: shift by whole pixels, zeros coming in
    shift = max(1, round(TRANSLATION * h)), max(1, round(TRANSLATION * w))
    moved = chosen()
    dy = torch.where(moved, torch.randint(-shift[0], shift[0] + 1, (b,), generator=generator), 0)
    dx = torch.where(moved, torch.randint(-shift[1], shift[1] + 1, (b,), generator=generator), 0)
    padded = torch.nn.functional.pad(images, (shift[1], shift[1], shift[0], shift[0]))
    rows = (torch.arange(h)[None, :] + shift[0] - dy[:, None]).to(images.device)  # (B, H)
    cols = (torch.arange(w)[None, :] + shift[1] - dx[:, None]).to(images.device)  # (B, W)
    batch = torch.arange(b, device=images.device)[:, None, None]
    images = padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W)
    # cutout: a square of half the side at a random centre (it may stick out of the image)
    size = max(1, round(CUTOUT * h)), max(1, round(CUTOUT * w))
    cut = chosen()
    top = torch.randint(0, h + (1 - size[0] % 2), (b,), generator=generator) - size[0] // 2
    left = torch.randint(0, w + (1 - size[1] % 2), (b,), generator=generator) - size[1] // 2
    inside_rows = (torch.arange(h)[None, :] >= top[:, None]) & (torch.arange(h)[None, :] < top[:, None] + size[0])
    inside_cols = (torch.arange(w)[None, :] >= left[:, None]) & (torch.arange(w)[None, :] < left[:, None] + size[1])
    hole = cut[:, None, None] & inside_rows[:, :, None] & inside_cols[:, None, :]  # (B, H, W)
    return images * (~hole).to(images.device, images.dtype)[:, None]
