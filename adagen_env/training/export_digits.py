"""Reproduce ``adagen_env/data/digits.npz`` from scikit-learn's copy of the UCI digits.

Run ``pip install scikit-learn && python -m adagen_env.training.export_digits``.
scikit-learn is needed only here: the package reads the shipped ``.npz``.

The held-out split is fixed once, stratified (50 images of every class), so that every
script, metric and benchmark compares against the same real images.
"""

from pathlib import Path

import numpy as np

HELDOUT_PER_CLASS = 50
SPLIT_SEED = 0
OUT = Path(__file__).resolve().parent.parent / "data" / "digits.npz"


def main() -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.uint8)  # (1797, 8, 8), grey levels 0..16
    labels = digits.target.astype(np.int64)
    rng = np.random.default_rng(SPLIT_SEED)
    heldout = np.zeros(len(labels), dtype=bool)
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        heldout[rng.choice(idx, HELDOUT_PER_CLASS, replace=False)] = True
    np.savez_compressed(OUT, images=images, labels=labels, heldout=heldout)
    print(f"wrote {OUT}: {len(labels)} images, {heldout.sum()} held out")


if __name__ == "__main__":
    main()
