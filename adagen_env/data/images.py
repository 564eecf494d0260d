"""Image grids for people to look at: samples, and the sample grids logged while training."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from adagen_env.processes.base import to_rgb
from adagen_env.runtime.files import atomic_write


def image_grid(images: torch.Tensor, columns: int | None = None, scale: int = 8, padding: int = 2) -> np.ndarray:
    """Grey (B, 1, H, W) or RGB (B, 3, H, W) images in [0, 1] -> one uint8 (rows*H', columns*W', 3) RGB grid,
    enlarged ``scale`` times."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected grey or RGB images (B, 1 or 3, H, W), got shape {tuple(images.shape)}")
    b, _, h, w = images.shape
    columns = columns or math.ceil(math.sqrt(b))
    rows = math.ceil(b / columns)
    pixels = to_rgb(images).cpu().numpy()
    pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
    cell_h, cell_w = h * scale + padding, w * scale + padding
    grid = np.full((rows * cell_h + padding, columns * cell_w + padding, 3), 96, dtype=np.uint8)
    for i, image in enumerate(pixels):
        r, c = divmod(i, columns)
        grid[padding + r * cell_h : (r + 1) * cell_h, padding + c * cell_w : (c + 1) * cell_w] = image
    return grid


def save_grid(images: torch.Tensor, path: str | Path, columns: int | None = None, scale: int = 8) -> Path:
    grid = image_grid(images, columns, scale)
    picture = Image.fromarray(grid[..., 0] if images.shape[1] == 1 else grid)  # grey images stay a grey PNG
    return atomic_write(path, lambda file: picture.save(file, format="PNG"))
