"""Reproduce the selection network (:mod:`adagen_env.models.selection`): ``adagen_env/weights/selection.pt``.

Run ``python -m adagen_env.training.train_selection_network`` (well under a minute on one CPU core).
It trains on the digits' train split only, with its own seed, to classify digits corrupted by
Gaussian noise, dropped pixels and shifts (label smoothing 0.1), and reports its held-out accuracy.
No evaluation space and no reward uses it: it exists so that searches and the best-static pick of
AdaGen-Bench's selection track choose in a space the evaluation does not score in.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from adagen_env.data.datasets import ImageDataset, load_digits
from adagen_env.models.checkpoints import save_model
from adagen_env.models.selection import SELECTION_WEIGHTS, SelectionNetwork, SelectionNetworkConfig
from adagen_env.training.train_classifier import BATCH_SIZE, accuracy, random_shift

SEED = 25  # none of the evaluation networks' seeds (0 to 3)
EPOCHS = 30
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 5e-4
LABEL_SMOOTHING = 0.1
NOISE_STD = 0.15
DROP_PIXELS = 0.1


def corrupt(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A shift of up to one pixel, Gaussian noise and a tenth of the pixels dropped, clipped to [0, 1]."""
    x = random_shift(x, generator)
    x = x + NOISE_STD * torch.randn(x.shape, generator=generator)
    keep = torch.rand(x.shape, generator=generator) >= DROP_PIXELS
    return (x * keep).clamp(0, 1)


def train_selection_network(train: ImageDataset, epochs: int = EPOCHS, seed: int = SEED) -> SelectionNetwork:
    """The selection network of ``train``'s classes, in eval mode (deterministic on one thread)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x, y = train.to_float(), train.label_tensor()
    model = SelectionNetwork(SelectionNetworkConfig(channels=train.channels, num_classes=train.num_classes))
    optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    steps_per_epoch = -(-len(x) // BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, LEARNING_RATE, total_steps=epochs * steps_per_epoch)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), BATCH_SIZE):
            idx = order[i : i + BATCH_SIZE]
            loss = F.cross_entropy(model(corrupt(x[idx], generator)), y[idx], label_smoothing=LABEL_SMOOTHING)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--out", default=str(SELECTION_WEIGHTS), help="where to write the weights (default: %(default)s)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)  # deterministic, and fastest for a network this small
    train, heldout = load_digits("train"), load_digits("heldout")
    start = time.time()
    model = train_selection_network(train)
    seconds = time.time() - start
    held = accuracy(model, heldout.to_float(), heldout.label_tensor())
    out = Path(args.out)
    save_model(model, out, metadata={"space": "selection", "seed": SEED, "epochs": EPOCHS})
    print(
        f"selection network: held-out accuracy {held:.4f}; "
        f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB) in {seconds:.0f} s"
    )


if __name__ == "__main__":
    main()
