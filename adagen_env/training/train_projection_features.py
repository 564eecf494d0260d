"""Reproduce ``adagen_env/weights/projection_features.pt``: the projected discriminator's frozen features.

Run ``python -m adagen_env.training.train_projection_features`` (under a minute on one core).
A digit classifier on the train split, deliberately unlike the metric's classifier (another
architecture, seed and augmentation: shifts plus random erasing), so that the reward and the
evaluation do not share a network.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from adagen_env.datasets import load_digits
from adagen_env.models.projection_features import WEIGHTS_PATH, ProjectionFeatures
from adagen_env.training.train_classifier import accuracy, random_shift

SEED = 7
EPOCHS = 60
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-4
ERASE = 3  # side of the square zeroed at a random place in every training image


def random_erase(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Zero an ERASE x ERASE square at its own random place in every image."""
    n, _, h, w = x.shape
    y, z = torch.randint(0, h - ERASE + 1, (n,), generator=generator), torch.randint(0, w - ERASE + 1, (n,), generator=generator)
    rows, cols = torch.arange(h), torch.arange(w)
    inside = ((rows[None, :, None] >= y[:, None, None]) & (rows[None, :, None] < y[:, None, None] + ERASE)
              & (cols[None, None, :] >= z[:, None, None]) & (cols[None, None, :] < z[:, None, None] + ERASE))
    return x * ~inside[:, None]


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    train, heldout = load_digits("train"), load_digits("heldout")
    x, y = train.to_float(), train.label_tensor()
    model = ProjectionFeatures(train.num_classes)
    optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    steps_per_epoch = -(-len(x) // BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, LEARNING_RATE, total_steps=EPOCHS * steps_per_epoch)
    for epoch in range(1, EPOCHS + 1):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), BATCH_SIZE):
            idx = order[i : i + BATCH_SIZE]
            loss = F.cross_entropy(model(random_erase(random_shift(x[idx], generator), generator)), y[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        if epoch % 10 == 0:
            print(f"epoch {epoch}: loss {loss.item():.4f}, train accuracy {accuracy(model, x, y):.4f}")
    print(f"held-out accuracy {accuracy(model, heldout.to_float(), heldout.label_tensor()):.4f}")
    torch.save(model.eval().state_dict(), WEIGHTS_PATH)
    print(f"wrote {WEIGHTS_PATH} ({WEIGHTS_PATH.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
