"""Reproduce ``adagen_env/weights/projection_features.pt``: the projected discriminator's frozen features.

Run ``python -m adagen_env.training.train_projection_features`` (under a minute on one core).
A digit classifier on the train split, deliberately unlike the metric's classifier (another
architecture, seed and augmentation: shifts plus random erasing), so that the reward and the
evaluation do not share a network.
"""

from __future__ import annotations

import torch

from adagen_env.data.datasets import load_digits
from adagen_env.models.projection_features import WEIGHTS_PATH, ProjectionFeatures
from adagen_env.training.train_classifier import accuracy, fit_classifier, random_shift

SEED = 7
EPOCHS = 60
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-4
ERASE = 3  # side of the square zeroed at a random place in every training image


def random_erase(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Zero an ERASE x ERASE square at its own random place in every image."""
    n, _, h, w = x.shape
    y, z = (
        torch.randint(0, h - ERASE + 1, (n,), generator=generator),
        torch.randint(0, w - ERASE + 1, (n,), generator=generator),
    )
    rows, cols = torch.arange(h), torch.arange(w)
    inside = (
        (rows[None, :, None] >= y[:, None, None])
        & (rows[None, :, None] < y[:, None, None] + ERASE)
        & (cols[None, None, :] >= z[:, None, None])
        & (cols[None, None, :] < z[:, None, None] + ERASE)
    )
    return x * ~inside[:, None]


def main() -> None:
    torch.set_num_threads(1)
    train, heldout = load_digits("train"), load_digits("heldout")
    model = fit_classifier(
        lambda: ProjectionFeatures(train.num_classes),
        train,
        EPOCHS,
        SEED,
        LEARNING_RATE,
        WEIGHT_DECAY,
        lambda x, g: random_erase(random_shift(x, g), g),
    )
    print(f"held-out accuracy {accuracy(model, heldout.to_float(), heldout.label_tensor()):.4f}")
    torch.save(model.state_dict(), WEIGHTS_PATH)
    print(f"wrote {WEIGHTS_PATH} ({WEIGHTS_PATH.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
