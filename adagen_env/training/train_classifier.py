"""Train the digit classifier whose features all metrics use; writes ``adagen_env/weights/classifier.pt``.

Run ``python -m adagen_env.training.train_classifier`` (about a minute on one CPU core).
It trains on the train split only, so the held-out split stays unseen by the feature
extractor and the reported held-out accuracy is honest.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from adagen_env.data.datasets import ImageDataset, load_digits
from adagen_env.models.classifier import WEIGHTS_PATH, DigitClassifier

SEED = 0
EPOCHS = 40
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4
MAX_SHIFT = 1  # pixels; random translations make the features less brittle to generator jitter


def random_shift(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Translate every (C, H, W) image by its own random offset of up to MAX_SHIFT pixels, zero filled."""
    n, _, h, w = x.shape
    padded = F.pad(x, (MAX_SHIFT,) * 4)
    dy, dx = torch.randint(0, 2 * MAX_SHIFT + 1, (2, n), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, :]
    return padded.permute(0, 2, 3, 1)[torch.arange(n)[:, None, None], rows, cols].permute(0, 3, 1, 2)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return (model(x).argmax(1) == y).float().mean().item()


def train_classifier(train: ImageDataset, epochs: int = EPOCHS, seed: int = SEED, log: bool = True) -> DigitClassifier:
    """A classifier of ``train``'s classes (any size >= 4x4, grey or RGB), in eval mode."""
    return fit_classifier(
        lambda: DigitClassifier(num_classes=train.num_classes, channels=train.channels), train, epochs, seed, log=log
    )


def fit_classifier(
    make_model: Callable[[], nn.Module],
    train: ImageDataset,
    epochs: int,
    seed: int,
    learning_rate: float = LEARNING_RATE,
    weight_decay: float = WEIGHT_DECAY,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] = random_shift,
    log: bool = True,
) -> nn.Module:
    """Cross-entropy training of ``make_model()`` (built after seeding) on ``augment``ed batches of
    ``train``: AdamW with a one-cycle schedule. Returns the model in eval mode."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x, y = train.to_float(), train.label_tensor()
    model = make_model()
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    steps_per_epoch = -(-len(x) // BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, learning_rate, total_steps=epochs * steps_per_epoch)
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for i in range(0, len(x), BATCH_SIZE):
            idx = order[i : i + BATCH_SIZE]
            loss = F.cross_entropy(model(augment(x[idx], generator)), y[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(idx)
        if log and (epoch % 5 == 0 or epoch == epochs):
            print(f"epoch {epoch:3d}  loss {total / len(x):.4f}  train acc {accuracy(model, x, y):.4f}")
    return model.eval()


def main() -> None:
    torch.set_num_threads(1)
    train, heldout = load_digits("train"), load_digits("heldout")
    model = train_classifier(train)
    held = accuracy(model, heldout.to_float(), heldout.label_tensor())
    print(f"held-out accuracy {held:.4f} ({len(heldout)} images)")
    WEIGHTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), WEIGHTS_PATH)
    print(f"wrote {WEIGHTS_PATH} ({WEIGHTS_PATH.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
