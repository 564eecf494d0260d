"""Write a small labelled RGB image folder to try the own-images path on: coloured, shifted digits.

Run ``python -m adagen_env.training.coloured_digits OUT [--size 16] [--classes 10]``. Each
embedded 8x8 digit is drawn in its class's colour at a random place on a black ``size`` x
``size`` canvas and saved as a PNG under ``OUT/<class>/``: the layout of a user's folder, with
colour, position and size the shipped 8x8 grey networks have never seen.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from adagen_env.data.datasets import load_digits

COLOURS = np.array(
    [  # one per class, distinct hues
        [255, 64, 32],
        [32, 200, 64],
        [64, 96, 255],
        [255, 200, 0],
        [200, 0, 200],
        [0, 200, 200],
        [255, 128, 128],
        [128, 255, 128],
        [160, 160, 255],
        [255, 255, 255],
    ]
)
DIGIT_SIZE = 8


def write_coloured_digits(
    folder: str | Path, size: int = 16, classes: int = 10, per_class: int | None = None, seed: int = 0
) -> Path:
    """``per_class`` digits of each of the first ``classes`` classes (all of them by default) as PNGs."""
    if not DIGIT_SIZE <= size or not 1 <= classes <= len(COLOURS):
        raise ValueError(f"need size >= {DIGIT_SIZE} and 1 <= classes <= {len(COLOURS)}, got {size}, {classes}")
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    digits = load_digits("all")
    for k in range(classes):
        (folder / f"class{k}").mkdir(parents=True, exist_ok=True)
        for i, digit in enumerate(digits.images[digits.labels == k][:per_class]):
            canvas = np.zeros((size, size, 3), np.uint8)
            y, x = rng.integers(0, size - DIGIT_SIZE + 1, 2)
            canvas[y : y + DIGIT_SIZE, x : x + DIGIT_SIZE] = (
                digit[..., None] / (digits.levels - 1) * COLOURS[k]
            ).astype(np.uint8)
            Image.fromarray(canvas).save(folder / f"class{k}" / f"{i}.png")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="the folder to write")
    parser.add_argument("--size", type=int, default=16, help="canvas height and width (default: %(default)s)")
    parser.add_argument("--classes", type=int, default=10, help="classes, 1 to 10 (default: %(default)s)")
    args = parser.parse_args()
    folder = write_coloured_digits(args.out, args.size, args.classes)
    print(f"wrote {sum(1 for _ in folder.glob('*/*.png'))} images to {folder}")


if __name__ == "__main__":
    main()
